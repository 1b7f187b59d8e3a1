import Samples
import XCTest

final class PayloadTests: XCTestCase {
    func testBodyParamsTakeTheValuesAsWritten() {
        let body = Array("user=bob&x=alpha&user=2&flag&e=a%20b".utf8)
        XCTAssertEqual(PayloadFetches.bodyParams(body, name: "user"), ["bob", "2"])
        XCTAssertEqual(PayloadFetches.bodyParams(body, name: nil).first, "bob")
        XCTAssertEqual(PayloadFetches.bodyParams(body, name: "flag"), [""])
        XCTAssertEqual(PayloadFetches.bodyParams(body, name: "e"), ["a%20b"])
        XCTAssertEqual(PayloadFetches.bodyParams(body, name: "User"), [])
    }

    /// A TLS 1.2 ClientHello with a server_name extension for "a.test".
    func hello(_ name: String) -> [UInt8] {
        let host = Array(name.utf8)
        let sniList: [UInt8] = [0] + [UInt8(host.count >> 8), UInt8(host.count & 0xFF)] + host
        let sniExt: [UInt8] = [0, 0, 0, UInt8(sniList.count + 2), 0, UInt8(sniList.count)] + sniList
        var body: [UInt8] = [3, 3] + Array(repeating: 7, count: 32) + [0] + [0, 2, 0x13, 0x01] + [1, 0]
        body += [0, UInt8(sniExt.count)] + sniExt
        let handshake: [UInt8] = [1, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        return [22, 3, 1, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xFF)] + handshake
    }

    func testClientHelloGivesTypeSNIAndVersion() throws {
        let bytes = hello("a.test")
        let h = try XCTUnwrap(ClientHello(bytes))
        XCTAssertEqual(h.handshakeType, 1)
        XCTAssertEqual(h.serverName, "a.test")
        XCTAssertEqual(PayloadFetches.bufferValue("req.ssl_ver", [], bytes)?.0, .int(0x30001))
        XCTAssertEqual(PayloadFetches.bufferValue("req.ssl_sni", [], bytes)?.0, .string("a.test"))
    }

    func testIncompleteDataMayChangeAndOtherBytesAreFinal() {
        let bytes = hello("b.test")
        let partial = PayloadFetches.bufferValue("req.ssl_hello_type", [], Array(bytes.prefix(20)))
        XCTAssertNil(partial?.0)
        XCTAssertEqual(partial?.mayChange, true)
        let plain = PayloadFetches.bufferValue("req.ssl_hello_type", [], Array("hello".utf8))
        XCTAssertEqual(plain?.mayChange, false)
        XCTAssertEqual(PayloadFetches.bufferValue("req.len", [], [1, 2, 3])?.0, .int(3))
        XCTAssertEqual(PayloadFetches.bufferValue("req.payload", ["1", "2"], Array("abcd".utf8))?.0, .string("bc"))
        XCTAssertEqual(PayloadFetches.bufferValue("req.payload", ["2", "4"], Array("abcd".utf8))?.mayChange, true)
    }

    func testResponseBufferAndLengthValueFetches() {
        XCTAssertEqual(PayloadFetches.bufferValue("res.len", [], [1, 2])?.0, .int(2))
        XCTAssertEqual(PayloadFetches.bufferValue("res.len", [], [1, 2])?.mayChange, true)
        XCTAssertEqual(PayloadFetches.bufferValue("res.payload", ["0", "2"], Array("OK bye".utf8))?.0, .string("OK"))
        // payload_lv(off,len[,off2]): a big-endian length at `off`, the block after it (or at off2).
        let lv = [0, 3] + Array("abcdef".utf8)
        XCTAssertEqual(PayloadFetches.bufferValue("res.payload_lv", ["0", "2"], lv)?.0, .string("abc"))
        XCTAssertEqual(PayloadFetches.bufferValue("req.payload_lv", ["0", "2", "+1"], lv)?.0, .string("bcd"))
        // An unsigned off2 as haproxy 2.6 reads it: 10 is 5 from the start, 7 is 3 after the length.
        XCTAssertEqual(PayloadFetches.bufferValue("req.payload_lv", ["0", "2", "10"], lv)?.0, .string("def"))
        XCTAssertEqual(PayloadFetches.bufferValue("req.payload_lv", ["0", "2", "7"], lv)?.0, .string("def"))
        let short = PayloadFetches.bufferValue("res.payload_lv", ["0", "2"], [0, 3, 97])
        XCTAssertNil(short?.0)
        XCTAssertEqual(short?.mayChange, true)
        XCTAssertEqual(PayloadFetches.bufferValue("res.payload_lv", ["0", "1"], [0])?.0, .string(""))
        XCTAssertTrue(PayloadFetches.responseBufferFetches.contains("res.payload"))
        XCTAssertFalse(PayloadFetches.bufferFetches.contains("res.len"))
    }
}
