import HAProxyConfig
import XCTest

/// `use-server`, `force-persist` and dynamic `use_backend` names: what the parser keeps and
/// haproxy's wording for what it refuses.
final class ServerRuleConfigTests: XCTestCase {
    private func listen(_ lines: String) -> LoadResult {
        parse("defaults\n mode http\n\(timeouts)listen l\n bind :80\n\(lines) server a 127.0.0.1:81\n server b 127.0.0.1:82\nbackend be_x\n server x 127.0.0.1:83\n")
    }

    func testUseServerAndForcePersistAreKept() {
        let r = listen(" use-server b if { path_beg /b }\n use-server %[req.hdr(x-srv)] unless TRUE\n force-persist if { src 10.0.0.0/8 }\n")
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let p = r.configuration?.proxy(named: "l")
        XCTAssertEqual(p?.useServerRules.map(\.server), ["b", "%[req.hdr(x-srv)]"])
        XCTAssertEqual(p?.useServerRules.first?.condition, ["if", "{", "path_beg", "/b", "}"])
        XCTAssertEqual(p?.forcePersist, [["if", "{", "src", "10.0.0.0/8", "}"]])
    }

    func testPersistRulesKeepTheirOrder() {
        let r = listen(" ignore-persist if { path_beg /static }\n force-persist unless TRUE\n option persist\n")
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let p = r.configuration?.proxy(named: "l")
        XCTAssertEqual(p?.persistRules.map(\.kind), [.ignore, .force])
        XCTAssertEqual(p?.persistRules.first?.condition, ["if", "{", "path_beg", "/static", "}"])
        XCTAssertEqual(p?.forcePersist, [["unless", "TRUE"]])
        XCTAssertEqual(p?.persist, true)
    }

    func testCookieDatesAndDynamicKey() {
        let r = listen(" cookie SRV insert indirect maxidle 30m maxlife 8h dynamic\n dynamic-cookie-key s3cr3t\n")
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let p = r.configuration?.proxy(named: "l")
        XCTAssertEqual(p?.cookie?.maxIdle, 1800)
        XCTAssertEqual(p?.cookie?.maxLife, 28800)
        XCTAssertEqual(p?.cookie?.dynamic, true)
        XCTAssertEqual(p?.dynamicCookieKey, "s3cr3t")
        XCTAssertEqual(listen(" cookie SRV insert maxidle 10ms\n").configuration?.proxy(named: "l")?.cookie?.maxIdle, 0)
        for (line, message) in [
            ("cookie SRV insert maxidle", "'maxidle' expects <idletime> in seconds as argument."),
            ("cookie SRV insert maxlife", "'maxlife' expects <lifetime> in seconds as argument."),
            ("cookie SRV insert maxidle 10x", "unexpected character 'x' in argument to <maxidle>."),
            ("cookie SRV insert maxlife -1", "unexpected character '-' in argument to <maxlife>."),
            ("cookie SRV insert maxidle 5000000000", "timer overflow in argument <5000000000> to <maxidle>, maximum value is 2147483647 s (~68 years)."),
            ("dynamic-cookie-key", "'dynamic-cookie-key' expects <secret_key> as argument."),
            ("ignore-persist TRUE", "'ignore-persist' requires either 'if' or 'unless' followed by a condition."),
            ("option persist x", "'option persist' cannot handle unexpected argument 'x'."),
        ] {
            let r = listen(" \(line)\n")
            XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert && $0.message.contains(message) && $0.location?.line == 8 },
                          "\(line): \(r.diagnostics)")
        }
        let d = parse("defaults\n mode http\n ignore-persist if TRUE\n\(timeouts)")
        XCTAssertTrue(d.diagnostics.contains { $0.message.contains("'ignore-persist' not allowed in 'defaults' section.") }, "\(d.diagnostics)")
        let f = parse("defaults\n mode http\n\(timeouts)frontend f\n bind :80\n ignore-persist if TRUE\n dynamic-cookie-key k\n")
        XCTAssertTrue(f.diagnostics.contains { $0.severity == .warning && $0.message.contains("'ignore-persist' ignored because frontend 'f' has no backend capability.") }, "\(f.diagnostics)")
        XCTAssertTrue(f.diagnostics.contains { $0.severity == .warning && $0.message.contains("'dynamic-cookie-key' ignored because frontend 'f' has no backend capability.") }, "\(f.diagnostics)")
    }

    func testUseServerErrors() {
        for (line, message) in [
            ("use-server b", "'use-server' requires either 'if' or 'unless' followed by a condition."),
            ("use-server b when TRUE", "'use-server' requires either 'if' or 'unless' followed by a condition."),
            ("force-persist TRUE", "'force-persist' requires either 'if' or 'unless' followed by a condition."),
            ("use-server b if nosuch", "error detected while parsing switching rule : no such ACL : 'nosuch'."),
            ("use-server zz if TRUE", "listen 'l' : unable to find server 'zz' referenced in a 'use-server' rule."),
        ] {
            let r = listen(" \(line)\n")
            XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert && $0.message.contains(message) }, "\(line): \(r.diagnostics)")
        }
    }

    func testDynamicUseBackend() {
        let ok = listen(" use_backend be_%[req.hdr(x-tier)] if { req.hdr(x-tier) -m found }\n")
        XCTAssertFalse(ok.hasAlerts, "\(ok.diagnostics)")
        XCTAssertEqual(ok.configuration?.proxy(named: "l")?.backendSwitches.first?.backend, "be_%[req.hdr(x-tier)]")
        XCTAssertTrue(BackendSwitchRule.isDynamic("be_%[req.hdr(x-tier)]"))
        XCTAssertFalse(BackendSwitchRule.isDynamic("be_x"))
        let bad = listen(" use_backend be_%[req.hdr(x)\n")
        XCTAssertTrue(bad.diagnostics.contains { $0.message.contains("failed to parse use_backend rule 'be_%[req.hdr(x)' : missing ']' after 'req.hdr(x)'.") },
                      "\(bad.diagnostics)")
        let unknown = listen(" use_backend %[nosuchfetch]\n")
        XCTAssertTrue(unknown.hasAlerts, "\(unknown.diagnostics)")
    }

    func testBackendFetchWithoutBackendInAFrontend() {
        let r = parse("defaults\n mode http\n\(timeouts)frontend f\n bind :80\n http-request set-header X %[queue]\n default_backend be_x\nbackend be_x\n server x 127.0.0.1:83\n")
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("proxy 'f', referenced in arg 1 of sample fetch keyword 'queue' in http-request expression in proxy 'f', has not backend capability.") },
                      "\(r.diagnostics)")
        XCTAssertFalse(parse("defaults\n mode http\n\(timeouts)frontend f\n bind :80\n http-request set-header X %[queue(be_x)]\n default_backend be_x\nbackend be_x\n server x 127.0.0.1:83\n").hasAlerts)
    }
}
