import HAProxyConfig
import Stickiness
import XCTest

final class StickConfigTests: XCTestCase {
    func testTablesRulesAndStickRulesLoad() throws {
        let r = parse("""
        defaults
          mode http
        \(timeouts)frontend fe
          bind :80
          stick-table type string len 16 size 100k expire 30s nopurge store http_req_rate(10s),conn_cur store gpc0
          tcp-request connection track-sc1 src table be
          tcp-request connection reject if { sc1_conn_cur gt 20 }
          http-request track-sc0 req.hdr(x-user)
          http-request sc-inc-gpc0(0) if { path_beg /login }
          http-request deny deny_status 429 if { sc_http_req_rate(0) gt 10 }
          default_backend be
        backend be
          stick-table type ip size 1m
          stick on src
          server s 127.0.0.1:80
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let fe = try XCTUnwrap(r.configuration?.proxy(named: "fe"))
        let t = try XCTUnwrap(fe.stickTable)
        XCTAssertEqual(t.type, .string)
        XCTAssertEqual(t.keyLength, 16)
        XCTAssertEqual(t.size, 100 * 1024)
        XCTAssertEqual(t.expire, 30_000)
        XCTAssertTrue(t.nopurge)
        XCTAssertEqual(t.store.period(.httpReqRate), 10_000)
        XCTAssertTrue(t.store.contains(.connCur) && t.store.contains(.gpc0))
        XCTAssertEqual(fe.tcpRequestRules.count, 2)
        XCTAssertEqual(fe.tcpRequestRules[0].action, .counter(.track(slot: 1, expression: "src", table: "be")))
        XCTAssertEqual(fe.httpRequestRules.map(\.counter), [.track(slot: 0, expression: "req.hdr(x-user)", table: nil),
                                                           .incGPC(slot: 0, index: 0), nil])
        let be = try XCTUnwrap(r.configuration?.proxy(named: "be"))
        XCTAssertEqual(be.stickRules.map(\.kind), [.on])
    }

    func testMissingTablesAreReported() {
        let r = parse("frontend fe\n bind :80\n http-request track-sc0 src table nosuch\n\(timeouts)")
        XCTAssertTrue(r.diagnostics.contains { $0.message == "Proxy 'fe': unable to find table 'nosuch' referenced by track-sc0." },
                      "\(r.diagnostics)")
    }
}
