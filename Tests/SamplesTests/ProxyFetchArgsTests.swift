import Samples
import XCTest

/// Arguments of the fetches that read the running proxies, checked as haproxy does at load.
final class ProxyFetchArgsTests: XCTestCase {
    func testDateUnits() throws {
        for ok in ["date", "date(3600)", "date(-10,ms)", "date(0,us)", "date(1,s)"] {
            XCTAssertNoThrow(try SampleExpression.parse(ok), ok)
        }
        XCTAssertThrowsError(try SampleExpression.parse("date(1,h)")) {
            XCTAssertEqual("\($0)", "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'h'")
        }
    }

    func testArity() {
        for ok in ["nbsrv", "nbsrv(be)", "srv_is_up(be/s1)", "srv_is_up(s1)", "be_conn", "fe_conn(fe)", "queue(be)",
                   "avg_queue", "connslots(be)", "http_auth_group(L)", "unique-id", "env(HOME)", "ssl_fc_sni"] {
            XCTAssertNoThrow(try SampleExpression.parse(ok), ok)
        }
        XCTAssertThrowsError(try SampleExpression.parse("http_auth_group"))
        XCTAssertThrowsError(try SampleExpression.parse("srv_is_up"))
    }
}

/// `ssl_fc_sni`: the host name of a ClientHello's server_name extension.
final class ClientHelloTests: XCTestCase {
    func hello(sni: String?) -> [UInt8] {
        var ext: [UInt8] = [0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]  // ec_point_formats first
        if let sni {
            let name = Array(sni.utf8)
            let entry: [UInt8] = [0x00, UInt8(name.count >> 8), UInt8(name.count & 0xff)] + name
            let list: [UInt8] = [UInt8(entry.count >> 8), UInt8(entry.count & 0xff)] + entry
            ext += [0x00, 0x00, UInt8(list.count >> 8), UInt8(list.count & 0xff)] + list
        }
        var body: [UInt8] = [0x03, 0x03] + Array(repeating: 7, count: 32) + [0x00] + [0x00, 0x02, 0x13, 0x01] + [0x01, 0x00]
        body += [UInt8(ext.count >> 8), UInt8(ext.count & 0xff)] + ext
        let handshake: [UInt8] = [0x01, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
        return [0x16, 0x03, 0x01, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xff)] + handshake
    }

    func testServerName() {
        XCTAssertEqual(ClientHello.serverName(hello(sni: "a.test")), "a.test")
        XCTAssertNil(ClientHello.serverName(hello(sni: nil)))
        XCTAssertNil(ClientHello.serverName(Array("GET / HTTP/1.1\r\n".utf8)))
        XCTAssertNil(ClientHello.serverName(Array(hello(sni: "a.test").prefix(20))))
    }
}
