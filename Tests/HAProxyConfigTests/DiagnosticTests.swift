import HAProxyConfig
import XCTest

func parse(_ text: String, env: [String: String] = [:]) -> LoadResult {
    ConfigLoader(environment: env).parse(text: text, file: "t.cfg")
}

let timeouts = " timeout client 1s\n timeout server 1s\n timeout connect 1s\n"

final class RemovedKeywordTests: XCTestCase {
    func assertRemoved(_ line: String, _ replacement: String, file: StaticString = #filePath, lineNo: UInt = #line) {
        let r = parse("frontend f\n bind :80\n\(line)\n")
        XCTAssertNil(r.configuration, file: file, line: lineNo)
        let a = r.diagnostics.first { $0.severity == .alert }
        XCTAssertEqual(a?.location?.line, 3, line, file: file, line: lineNo)
        XCTAssertEqual(a?.location?.file, "t.cfg", file: file, line: lineNo)
        XCTAssertEqual(a?.section, "frontend 'f'", file: file, line: lineNo)
        XCTAssertTrue(a?.message.contains(replacement) ?? false, "\(line): \(String(describing: a))", file: file, line: lineNo)
        XCTAssertFalse(a?.message.contains("unknown") ?? true, file: file, line: lineNo)
    }

    func testReqRsp() {
        assertRemoved(" reqadd X-Foo:\\ bar", "Use 'http-request add-header' instead.")
        XCTAssertEqual(parse("frontend f\n reqadd X\n").diagnostics.first?.message,
                       "The 'reqadd' directive is not supported anymore since HAProxy 2.1. Use 'http-request add-header' instead.")
        assertRemoved(" reqrep a b", "http-request replace-header")
        assertRemoved(" reqirep a b", "http-request replace-header")
        assertRemoved(" reqdel a", "http-request del-header")
        assertRemoved(" reqidel a", "http-request del-header")
        assertRemoved(" reqdeny a", "http-request deny")
        assertRemoved(" reqideny a", "http-request deny")
        assertRemoved(" reqallow a", "http-request allow")
        assertRemoved(" reqiallow a", "http-request allow")
        assertRemoved(" reqpass a", "since HAProxy 2.1")
        assertRemoved(" reqipass a", "since HAProxy 2.1")
        assertRemoved(" reqtarpit a", "http-request tarpit")
        assertRemoved(" reqitarpit a", "http-request tarpit")
        assertRemoved(" reqsetbe a b", "use_backend")
        assertRemoved(" reqisetbe a b", "use_backend")
        assertRemoved(" rspadd a", "http-response add-header")
        assertRemoved(" rsprep a b", "http-response replace-header")
        assertRemoved(" rspirep a b", "http-response replace-header")
        assertRemoved(" rspdel a", "http-response del-header")
        assertRemoved(" rspidel a", "http-response del-header")
        assertRemoved(" rspdeny a", "http-response deny")
        assertRemoved(" rspideny a", "http-response deny")
    }

    func testOthers() {
        assertRemoved(" block if TRUE", "http-request deny")
        assertRemoved(" redispatch", "option redispatch")
        assertRemoved(" contimeout 5s", "timeout connect")
        assertRemoved(" clitimeout 5s", "timeout client")
        assertRemoved(" srvtimeout 5s", "timeout server")
        assertRemoved(" monitor-net 10.0.0.0/8", "http-request return")
        assertRemoved(" option forceclose", "option httpclose")
        let r = parse("global\n nbproc 4\n")
        XCTAssertNil(r.configuration)
        XCTAssertEqual(r.diagnostics.first?.location?.line, 2)
        XCTAssertTrue(r.diagnostics.first?.message.contains("nbthread") ?? false)
        XCTAssertTrue(r.diagnostics.first?.message.contains("2.5") ?? false)
    }

    func testObsoleteButUnambiguous() {
        let r = parse("defaults\n mode http\n option http-use-htx\n option independant-streams\n\(timeouts)listen old 127.0.0.1:8000\n server s 127.0.0.1:8001\n")
        let c = r.configuration
        XCTAssertNotNil(c, "\(r.diagnostics)")
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .warning }.map { $0.location?.line }, [3, 4, 8])
        XCTAssertEqual(c?.proxy(named: "old")?.binds.first?.addresses, [.inet(host: "127.0.0.1", port: 8000)])
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("please use the 'bind' keyword for listening addresses") })
    }
}

final class DidYouMeanTests: XCTestCase {
    func testProxyKeyword() {
        let r = parse("backend b\n balnce roundrobin\n")
        let a = r.diagnostics.first
        XCTAssertEqual(a?.message, "unknown keyword 'balnce' in 'backend' section; did you mean 'balance' maybe ?")
        XCTAssertEqual(a?.location?.line, 2)
        XCTAssertEqual(a?.section, "backend 'b'")
        XCTAssertEqual(a?.keyword, "balnce")
        XCTAssertNil(r.configuration)
    }

    func testOptionsAndOthers() {
        XCTAssertTrue(parse("defaults\n option forwardfro\n").diagnostics.first?.message
            .contains("unknown option 'forwardfro'; did you mean 'forwardfor' maybe ?") ?? false)
        XCTAssertTrue(parse("global\n maxcon 10\n").diagnostics.first?.message
            .contains("unknown keyword 'maxcon' in 'global' section; did you mean 'maxconn' maybe ?") ?? false)
        XCTAssertTrue(parse("backend b\n server s 1.2.3.4:80 wieght 3\n").diagnostics.first?.message
            .contains("unknown keyword 'wieght'; did you mean 'weight' maybe ?") ?? false)
        XCTAssertTrue(parse("frontend f\n bind :80 acept-proxy\n").diagnostics.first?.message
            .contains("did you mean 'accept-proxy' maybe ?") ?? false)
        XCTAssertTrue(parse("defaults\n timeout clinet 5s\n").diagnostics.first?.message
            .contains("did you mean 'client' maybe ?") ?? false)
        XCTAssertTrue(parse("backend b\n balance roundrobbin\n").diagnostics.first?.message
            .contains("did you mean 'roundrobin' maybe ?") ?? false)
        XCTAssertEqual(parse("backend b\n zzzzzzzz\n").diagnostics.first?.message, "unknown keyword 'zzzzzzzz' in 'backend' section.")
        XCTAssertTrue(parse("frobnicate\n").diagnostics.first?.message.contains("out of section") ?? false)
    }
}

final class NotYetSupportedTests: XCTestCase {
    func testAlerts() {
        for line in ["persist rdp-cookie", "http-request set-nice 10", "http-request early-hint Link x",
                     "tcp-response content set-tos 1", "tcp-request content set-dst-port int(1)", "option prefer-last-server",
                     "stick-table type ip size 1m peers p", "stats enable", "stats uri /s", "compression algo gzip",
                     "filter trace",
                     "http-reuse always", "server-template s 3 a.b:80", "dispatch 1.2.3.4:80", "source 1.2.3.4",
                     "http-send-name-header X-Srv"] {
            let r = parse("listen l\n bind :80\n \(line)\n")
            XCTAssertNil(r.configuration, line)
            let a = r.diagnostics.first { $0.severity == .alert }
            XCTAssertTrue(a?.message.contains("is not yet supported by Fulcrum (comes with") ?? false, "\(line): \(r.diagnostics)")
            XCTAssertEqual(a?.location?.line, 3)
        }
        XCTAssertFalse(parse("listen l\n bind :80\n http-reuse safe\n\(timeouts)").hasAlerts)
    }

    func testWarnings() {
        let r = parse("""
        defaults
          log global
          option httplog
          option dontlognull
          option splice-auto
        \(timeouts)backend b
          option httpchk GET /health
          http-check expect status 200
          server s 127.0.0.1:80 check inter 5s fall 2 rise 4
        backend c
          server s 127.0.0.1:80 check
        backend d
          server s 127.0.0.1:80
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        let c = r.configuration
        XCTAssertEqual(c?.proxy(named: "b")?.servers.first?.check.enabled, true)
        XCTAssertEqual(c?.proxy(named: "b")?.servers.first?.check.inter, .seconds(5))
        XCTAssertEqual(c?.proxy(named: "b")?.servers.first?.check.rise, 4)
        XCTAssertEqual(c?.proxy(named: "b")?.options["httpchk"], true)
        XCTAssertFalse(r.diagnostics.contains { $0.message.contains("check") }, "health checks are supported: \(r.diagnostics)")
        var expected = HTTPCheckSettings()
        expected.method = "GET"
        expected.uri = "/health"
        expected.expects = [HTTPCheckExpect(kind: .status, negate: false, pattern: "200")]
        XCTAssertEqual(c?.proxy(named: "b")?.healthCheck, .http(expected))
        XCTAssertEqual(c?.proxy(named: "c")?.healthCheck, .layer4)
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .warning && $0.message.contains("'option splice-auto'") && $0.message.contains("ignored") })
        for kw in ["'log'", "'option httplog'", "'option dontlognull'"] {
            XCTAssertFalse(r.diagnostics.contains { $0.message.contains(kw) }, "logging is supported: \(kw)")
        }
    }

    func testTableIsPublic() {
        XCTAssertNil(Keywords.fulcrumStatus["tcp-response"])
        XCTAssertEqual(Keywords.fulcrumStatus["compression"], .notYet(work: "compression"))
        XCTAssertNil(Keywords.fulcrumStatus["monitor fail"])
        XCTAssertNil(Keywords.fulcrumStatus["use-server"])
        XCTAssertNil(Keywords.fulcrumStatus["acl"])
        XCTAssertEqual(Keywords.fulcrumStatus["option splice-auto"], .ignoredWarning)
        XCTAssertNil(Keywords.fulcrumStatus["option httplog"])
        XCTAssertNil(Keywords.fulcrumStatus["option httpchk"])
        XCTAssertEqual(Keywords.fulcrumStatus["option ssl-hello-chk"], .connectCheckInstead)
    }

    func testSkippedSections() {
        let r = parse("peers p\n peer a 1.2.3.4:1024\nresolvers dns\n nameserver n 1.1.1.1:53\nbackend b\n\(timeouts)")
        XCTAssertFalse(r.hasAlerts)
        XCTAssertEqual(r.diagnostics.filter { $0.message.contains("not yet supported by Fulcrum") }.map { $0.location?.line }, [1, 3])
        XCTAssertEqual(r.configuration?.proxies.map(\.name), ["b"])
    }
}

final class ValidationTests: XCTestCase {
    func testDefaultBackend() {
        let r = parse("defaults\n mode http\n\(timeouts)frontend f\n bind :80\n default_backend ap\nbackend app\n")
        XCTAssertNil(r.configuration)
        let a = r.diagnostics.first { $0.severity == .alert }
        XCTAssertEqual(a?.message, "Proxy 'f': unable to find required default_backend: 'ap'; did you mean 'app' maybe ?")
        XCTAssertEqual(a?.location?.line, 8)
    }

    func testModeMismatch() {
        let r = parse("defaults\n\(timeouts)frontend f\n mode http\n bind :80\n default_backend b\nbackend b\n mode tcp\n")
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert && $0.message.contains("http frontend 'f'") && $0.message.contains("incompatible tcp backend 'b'") })
        // tcp frontend -> http backend is allowed
        XCTAssertFalse(parse("defaults\n\(timeouts)frontend f\n mode tcp\n bind :80\n default_backend b\nbackend b\n mode http\n").hasAlerts)
    }

    func testNoBind() {
        let r = parse("defaults\n\(timeouts)frontend f\n")
        XCTAssertTrue(r.diagnostics.contains { $0.message == "frontend 'f' has no 'bind' directive. Please declare it as a backend if this was intended." })
    }

    func testDuplicates() {
        let r = parse("defaults\n\(timeouts)backend b\n server s 1.1.1.1:1\n server s 1.1.1.2:1\nbackend b\nfrontend b\n bind :80\n")
        XCTAssertNil(r.configuration)
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("backend 'b' has the same name as backend 'b' declared at t.cfg:5") && $0.location?.line == 8 })
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("server 's' already exists") && $0.location?.line == 7 })
        XCTAssertFalse(r.diagnostics.contains { $0.message.contains("frontend 'b' has the same name") })
    }

    func testMissingTimeouts() {
        let r = parse("frontend f\n bind :80\n timeout client 5s\nbackend b\n timeout connect 1s\n")
        let w = r.diagnostics.filter { $0.message.hasPrefix("missing timeouts for") }
        XCTAssertEqual(w.count, 1)
        XCTAssertTrue(w.first?.message.contains("missing timeouts for backend 'b'.") ?? false)
        XCTAssertTrue(w.first?.message.contains("While not properly invalid, you will certainly encounter various problems") ?? false)
        XCTAssertNotNil(r.configuration)
    }

    func testRanges() {
        let r = parse("frontend f\n bind :80\n maxconn -1\nbackend b\n server s 1.1.1.1:80 weight 257\n server t 1.1.1.1:80 weight -1\n server u 1.1.1.1:99999\n")
        XCTAssertNil(r.configuration)
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .alert }.compactMap { $0.location?.line }, [3, 5, 6, 7])
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("weight of server s is not within 0 and 256 (257)") })
    }

    func testBadBindAddresses() {
        let r = parse("frontend f\n bind 1.2.3.4\n bind :0\n bind fd@x\n bind :80 ssl\n")
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .alert }.compactMap { $0.location?.line }, [2, 3, 4, 5])
    }

    func testOptionNegationAndCapabilities() {
        let r = parse("defaults\n option forwardfor\n\(timeouts)backend b\n no option forwardfor\n option logasap\nfrontend f\n bind :80\n option redispatch\n no option httpclose\n")
        XCTAssertEqual(r.diagnostics.first { $0.severity == .alert }?.message, "negation/default is not supported for option 'forwardfor'.")
        XCTAssertTrue(r.diagnostics.contains { $0.message == "'logasap' ignored because backend 'b' has no frontend capability." })
        XCTAssertTrue(r.diagnostics.contains { $0.message == "'redispatch' ignored because frontend 'f' has no backend capability." })
    }

    func testDefaultsAmbiguity() {
        let r = parse("defaults d1\n\(timeouts)backend a from d1\nbackend b\n")
        XCTAssertNil(r.configuration)
        XCTAssertTrue(r.diagnostics.contains { $0.location?.line == 6 && $0.message.contains("defaults section 'd1' (declared at t.cfg:1) is explicitly referenced by another proxy and implicitly used here") })
        XCTAssertNotNil(parse("defaults d1\n\(timeouts)backend a from d1\ndefaults\n\(timeouts)backend b\n").configuration)
        let missing = parse("backend a from nope\n")
        XCTAssertTrue(missing.diagnostics.contains { $0.severity == .alert && $0.message.contains("defaults section 'nope' not found") })
    }

    func testKeepsGoingAfterErrors() {
        let r = parse("frontend f\n bind :80\n balnce x\n reqadd y\n option nope\nbackend b\n server\n")
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .alert }.compactMap { $0.location?.line }, [3, 4, 5, 7])
    }
}
