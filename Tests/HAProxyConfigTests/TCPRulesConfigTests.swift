import HAProxyConfig
import XCTest

/// `tcp-response inspect-delay|content` and the variable actions of `tcp-request`/`tcp-response`.
final class TCPRulesConfigTests: XCTestCase {
    func testResponseRulesAndVariableActionsLoad() throws {
        let r = parse("""
        defaults
          mode tcp
        \(timeouts)frontend fe
          bind :80
          tcp-request connection set-var(sess.who) src
          tcp-request content set-var(txn.k) req.payload(0,3) if { req.len ge 3 }
          tcp-request content set-var-fmt(txn.f) "%[src]-%[var(txn.k)]"
          tcp-request content unset-var(txn.f) if FALSE
          tcp-request content set-var(txn.k,ifnotset,ifnotempty) str(x)
          use_backend %[var(txn.k)]
          default_backend be
        backend be
          tcp-response inspect-delay 2s
          tcp-response content reject if { res.payload(0,4) -m str BADX }
          tcp-response content set-var(txn.len) res.len
          tcp-response content close if { res.payload_lv(0,1) -m str ok }
          tcp-response content accept if { res.len gt 0 }
          tcp-response content sc-inc-gpc0(1) if { res.payload(0,3) -m str ERR }
          server s 127.0.0.1:80
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let fe = try XCTUnwrap(r.configuration?.proxy(named: "fe"))
        XCTAssertEqual(fe.tcpRequestRules.map(\.action), [
            .variable(.set(name: "sess.who", expression: "src")),
            .variable(.set(name: "txn.k", expression: "req.payload(0,3)")),
            .variable(.setFormat(name: "txn.f", format: "%[src]-%[var(txn.k)]")),
            .variable(.unset(name: "txn.f")),
            .variable(.set(name: "txn.k,ifnotset,ifnotempty", expression: "str(x)")),
        ])
        XCTAssertEqual(fe.tcpRequestRules[1].condition, ["if", "{", "req.len", "ge", "3", "}"])
        let be = try XCTUnwrap(r.configuration?.proxy(named: "be"))
        XCTAssertEqual(be.tcpResponseInspectDelay, .seconds(2))
        XCTAssertEqual(be.tcpResponseRules.map(\.action), [.reject, .variable(.set(name: "txn.len", expression: "res.len")), .close, .accept,
                                                            .counter(.incGPC(slot: 1, index: 0))])
        XCTAssertNil(be.tcpResponseRules[1].condition)
    }

    func testErrorsUseHAProxysWords() {
        for (section, line, message) in [
            ("frontend fe\n  bind :80\n  default_backend be\n", "tcp-response content reject",
             "tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name"),
            ("frontend fe\n  bind :80\n  default_backend be\n", "tcp-response inspect-delay 1s",
             "tcp-response inspect-delay is only allowed in 'backend' sections"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-response", "missing argument for 'tcp-response' in proxy 'l'"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-response inspect-delay",
             "'tcp-response inspect-delay' expects a positive delay in milliseconds, in proxy 'l'"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-response content foo",
             "'tcp-response content' expects 'accept', 'close', 'reject',"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request content set-var(txn.x) str(a) foo",
             "'tcp-request content set-var(txn.x)' only accepts 'if' or 'unless', in listen 'l' (got 'foo')"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request content set-var(txn.x)", "missing fetch method"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request content set-var(foo) str(a)",
             "A variable name must be start by its scope"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-response content set-var(txn.x) nosuch",
             "unknown fetch method 'nosuch'"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request content set-var(txn.x,bogus) str(a)",
             "unknown condition \"bogus\""),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request content unset-var(txn.x,ifnotset)",
             "unset-var does not expect parameters after the variable name. Only \"set-var\" and \"set-var-fmt\" manage conditions"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-response content set-var(txn.x) req.len",
             "fetch method 'set-var(txn.x)' extracts information from 'request buffer', none of which is available here"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request session set-var(sess.x) req.payload(0,1)",
             "fetch method 'set-var(sess.x)' extracts information from 'request buffer', none of which is available here"),
            ("listen l\n  bind :80\n  server s 127.0.0.1:1\n", "tcp-request content set-var(txn.x) res.len",
             "fetch method 'set-var(txn.x)' extracts information from 'response buffer', none of which is available here"),
        ] {
            let r = parse("defaults\n  mode tcp\n\(timeouts)\(section)  \(line)\n")
            XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert && "\($0)".contains(message) && "\($0)".contains("t.cfg:") },
                          "\(line): \(r.diagnostics)")
            XCTAssertNil(r.configuration, line)
        }
    }

    func testHTTPSetVarTakesConditions() {
        let ok = parse("defaults\n  mode http\n\(timeouts)frontend f\n  bind :80\n  http-request set-var(txn.x,ifnotset) str(a)\n")
        XCTAssertFalse(ok.hasAlerts, "\(ok.diagnostics)")
        XCTAssertEqual(ok.configuration?.proxy(named: "f")?.httpRequestRules.first?.name, "txn.x,ifnotset")
        for (line, message) in [
            ("http-request set-var(txn.x,bogus) str(a)",
             "error detected in frontend 'f' while parsing 'http-request set-var' rule : unknown condition \"bogus\"."),
            ("http-request unset-var(txn.x,ifset)", "unset-var does not expect parameters after the variable name."),
        ] {
            let r = parse("defaults\n  mode http\n\(timeouts)frontend f\n  bind :80\n  \(line)\n")
            XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert && $0.message.contains(message) }, "\(line): \(r.diagnostics)")
        }
    }

    func testRulesOnBuffersTheyCannotReadWarn() {
        for (line, message) in [
            ("tcp-request connection reject if { req.len gt 0 }",
             "anonymous acl will never match in 'tcp-request connection' because it uses keyword 'req.len' which is incompatible with 'frontend tcp-request connection rule'"),
            ("tcp-request content reject if { res.payload(0,1) -m str a }",
             "anonymous acl will never match in 'tcp-request content' because it uses keyword 'res.payload' which is incompatible with 'frontend tcp-request content rule'"),
            ("tcp-response content reject if { req.payload(0,1) -m str a }",
             "anonymous acl will never match in 'tcp-response content' because it uses keyword 'req.payload' which is incompatible with 'backend tcp-response content rule'"),
        ] {
            let r = parse("defaults\n  mode tcp\n\(timeouts)listen l\n  bind :80\n  server s 127.0.0.1:1\n  \(line)\n")
            XCTAssertFalse(r.hasAlerts, "\(line): \(r.diagnostics)")
            XCTAssertTrue(r.diagnostics.contains { $0.severity == .warning && $0.message.contains(message) && $0.location?.line == 9 },
                          "\(line): \(r.diagnostics)")
        }
    }

    func testResponseRulesInHTTPModeAreNotYetSupported() {
        let r = parse("defaults\n  mode http\n\(timeouts)backend b\n  tcp-response content reject\n  server s 127.0.0.1:1\n")
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert && $0.message.contains("not yet supported by Fulcrum") },
                      "\(r.diagnostics)")
    }
}
