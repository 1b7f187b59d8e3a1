import HAProxyConfig
import XCTest

final class BufferingConfigTests: XCTestCase {
    func testWaitForBodyAndInspectDelayLoad() throws {
        let r = parse("""
        defaults
          mode http
        \(timeouts)frontend fe
          bind :80
          option http-buffer-request
          http-request wait-for-body time 1s at-least 1k if { method POST }
          default_backend be
        backend be
          server s 127.0.0.1:80
        listen t
          mode tcp
          bind :81
          tcp-request inspect-delay 5s
          tcp-request content accept if { req.ssl_hello_type 1 }
          server s 127.0.0.1:443
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let fe = try XCTUnwrap(r.configuration?.proxy(named: "fe"))
        XCTAssertEqual(fe.options["http-buffer-request"], true)
        let rule = try XCTUnwrap(fe.httpRequestRules.first)
        XCTAssertEqual(rule.action, .waitForBody)
        XCTAssertEqual(rule.waitTime, .seconds(1))
        XCTAssertEqual(rule.waitAtLeast, 1024)
        XCTAssertEqual(r.configuration?.proxy(named: "t")?.tcpInspectDelay, .seconds(5))
    }

    func testWaitForBodyErrorsUseHAProxysWords() {
        for (line, message) in [
            ("http-request wait-for-body", "expects time <time> [ at-least <bytes> ]."),
            ("http-request wait-for-body time", "missing argument for 'time'."),
            ("http-request wait-for-body time abc", "unexpected character 'a'."),
            ("http-request wait-for-body time 1s at-least zz", "unexpected character 'z'."),
            ("http-request wait-for-body time 1s foo", "expects either 'if' or 'unless' followed by a condition but found 'foo'."),
        ] {
            let r = parse("defaults\n  mode http\n\(timeouts)frontend fe\n  bind :80\n  \(line)\n")
            XCTAssertTrue(r.diagnostics.contains { "\($0)".contains(message) && "\($0)".contains("t.cfg:8]") }, "\(line): \(r.diagnostics)")
        }
    }
}
