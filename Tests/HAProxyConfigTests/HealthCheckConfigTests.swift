import HAProxyConfig
import XCTest

final class HealthCheckConfigTests: XCTestCase {
    func backend(_ body: String, defaults: String = "") -> (Proxy?, LoadResult) {
        let r = parse("defaults\n\(timeouts)\(defaults)backend be\n\(body)\n server s 127.0.0.1:80 check\n")
        return (r.configuration?.proxy(named: "be"), r)
    }

    func testHTTPCheckForms() {
        XCTAssertEqual(backend(" option httpchk").0?.healthCheck, .http(HTTPCheckSettings()))
        var uriOnly = HTTPCheckSettings()
        uriOnly.uri = "/ping"
        XCTAssertEqual(backend(" option httpchk /ping").0?.healthCheck, .http(uriOnly))
        var full = HTTPCheckSettings()
        full.method = "HEAD"
        full.uri = "/h"
        full.version = "HTTP/1.1"
        full.headers = [HTTPHeaderPair(name: "Host", value: "www")]
        full.body = "x"
        full.expects = [HTTPCheckExpect(kind: .status, negate: false, pattern: "200-299"),
                        HTTPCheckExpect(kind: .string, negate: true, pattern: "maintenance")]
        let (p, r) = backend("""
         option httpchk
         http-check send meth HEAD uri /h ver HTTP/1.1 hdr Host www body x
         http-check expect status 200-299
         http-check expect ! string maintenance
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        XCTAssertEqual(p?.healthCheck, .http(full))
    }

    func testHiddenHeadersInTheVersionWarnAsHAProxy() {
        let (p, r) = backend(" option httpchk GET /x HTTP/1.1\\r\\nHost:\\ foo")
        guard case .http(let s)? = p?.healthCheck else { return XCTFail("\(r.diagnostics)") }
        XCTAssertEqual(s.version, "HTTP/1.1")
        XCTAssertEqual(s.headers, [HTTPHeaderPair(name: "Host", value: "foo")])
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .warning && $0.message.contains("hiding headers or body at the end of the version string is deprecated") })
    }

    func testTCPCheckRules() {
        let (p, r) = backend("""
         mode tcp
         option tcp-check
         tcp-check comment ping
         tcp-check connect port 6379
         tcp-check send PING\\r\\n
         tcp-check send-binary 0d0a
         tcp-check expect ! rstring ^-ERR
         tcp-check expect string +PONG
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        XCTAssertEqual(p?.healthCheck, .tcpScript([
            .comment("ping"), .connect(port: 6379), .send(Array("PING\r\n".utf8)), .sendBinary([13, 10]),
            .expect(negate: true, kind: .rstring, pattern: "^-ERR"), .expect(negate: false, kind: .string, pattern: "+PONG"),
        ]))
    }

    func testProtocolChecks() {
        XCTAssertEqual(backend(" option redis-check").0?.healthCheck, .redis)
        XCTAssertEqual(backend(" option mysql-check").0?.healthCheck, .mysql(user: nil))
        XCTAssertEqual(backend(" option mysql-check user haproxy post-41").0?.healthCheck, .mysql(user: "haproxy"))
        XCTAssertEqual(backend(" option pgsql-check user pg").0?.healthCheck, .pgsql(user: "pg"))
        XCTAssertEqual(backend(" option smtpchk").0?.healthCheck, .smtp(command: "HELO", domain: "localhost"))
        XCTAssertEqual(backend(" option smtpchk EHLO mx.example.com").0?.healthCheck, .smtp(command: "EHLO", domain: "mx.example.com"))
        XCTAssertEqual(backend(" option redis-check\n option httpchk").0?.healthCheck, .http(HTTPCheckSettings()), "the last one wins")
        XCTAssertTrue(backend(" option httpchk\n no option httpchk").1.diagnostics.contains {
            $0.severity == .alert && $0.message == "negation/default is not supported for option 'httpchk'."
        }, "as haproxy 2.6")
    }

    func testInheritedFromDefaults() {
        let (p, _) = backend("", defaults: " option httpchk GET /d\n http-check expect status 204\n")
        var s = HTTPCheckSettings()
        s.method = "GET"
        s.uri = "/d"
        s.expects = [HTTPCheckExpect(kind: .status, negate: false, pattern: "204")]
        XCTAssertEqual(p?.healthCheck, .http(s))
        // A proxy's own rules replace the inherited ones (HAProxy 2.2+).
        let (q, _) = backend(" http-check expect status 200", defaults: " option httpchk GET /d\n http-check expect status 204\n")
        s.expects = [HTTPCheckExpect(kind: .status, negate: false, pattern: "200")]
        XCTAssertEqual(q?.healthCheck, .http(s))
    }

    func testServerCheckOptionsAndBackupsAndLogging() {
        let (p, r) = backend("""
         option allbackups
         option log-health-checks
         default-server inter 3s fastinter 1s downinter 5s rise 3 fall 2 slowstart 60s port 9200 observe layer7 error-limit 5 on-error mark-down on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        XCTAssertFalse(r.diagnostics.contains { $0.message.contains("not yet supported") }, "\(r.diagnostics)")
        XCTAssertEqual(p?.allBackups, true)
        XCTAssertEqual(p?.logHealthChecks, true)
        let c = p?.servers.first?.check
        XCTAssertEqual(c?.fastinter, .seconds(1))
        XCTAssertEqual(c?.downinter, .seconds(5))
        XCTAssertEqual(c?.port, 9200)
        XCTAssertEqual(c?.slowstart, .seconds(60))
        XCTAssertEqual(c?.observe, .layer7)
        XCTAssertEqual(c?.errorLimit, 5)
        XCTAssertEqual(c?.onError, .markDown)
        XCTAssertEqual(c?.shutdownSessionsOnDown, true)
        XCTAssertEqual(c?.shutdownBackupSessionsOnUp, true)
    }

    func testErrorsNameTheKeywordAndSuggest() {
        let (_, r1) = backend(" http-check expect stauts 200")
        XCTAssertTrue(r1.diagnostics.contains { $0.severity == .alert && $0.message.contains("unknown match 'stauts'") && $0.message.contains("did you mean 'status'") }, "\(r1.diagnostics)")
        let (_, r2) = backend(" tcp-check sned PING")
        XCTAssertTrue(r2.diagnostics.contains { $0.severity == .alert && $0.message.contains("did you mean 'send'") }, "\(r2.diagnostics)")
        let (_, r3) = backend(" tcp-check send-binary 0g")
        XCTAssertTrue(r3.diagnostics.contains { $0.severity == .alert && $0.message.contains("invalid hexadecimal string '0g'") }, "\(r3.diagnostics)")
        let (_, r4) = backend(" http-check expect status 2xx")
        XCTAssertTrue(r4.diagnostics.contains { $0.severity == .alert && $0.message.contains("invalid status pattern '2xx'") })
        let (_, r5) = backend(" option pgsql-check")
        XCTAssertTrue(r5.hasAlerts)
        let bad = parse("defaults\n\(timeouts)backend be\n server s 127.0.0.1:80 check on-error explode\n")
        XCTAssertTrue(bad.diagnostics.contains { $0.severity == .alert && $0.message.contains("'on-error' expects one of") && $0.location?.line == 6 },
                      "\(bad.diagnostics)")
    }

    func testUnsupportedCheckProtocolsFallBackToConnectWithAWarning() {
        let (p, r) = backend(" option ssl-hello-chk")
        XCTAssertFalse(r.hasAlerts)
        XCTAssertEqual(p?.healthCheck, .layer4)
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .warning && $0.message.contains("plain TCP connect check") })
    }
}

final class LoggingConfigTests: XCTestCase {
    func testLogStylesCapturesAndOptions() {
        let r = parse("""
        global
         log 127.0.0.1:514 local0
         log-tag fulcrum
        defaults
         mode http
         log global
         option httplog
         option dontlognull
        \(timeouts)frontend f
         bind :80
         option logasap
         option log-separate-errors
         capture request header Host len 20
         capture response header Server len 30
         capture cookie SRV len 12
         unique-id-format %{+X}o\\ %ci
         unique-id-header X-Unique-ID
         default_backend b
        frontend t
         bind :81
         mode tcp
         option tcplog
         default_backend b
        frontend c
         bind :82
         log-format "%ci:%cp %ST"
         log-tag web
         default_backend b
        backend b
         server s 127.0.0.1:80
        """)
        XCTAssertFalse(r.hasAlerts, "\(r.diagnostics)")
        XCTAssertTrue(r.diagnostics.isEmpty, "\(r.diagnostics)")
        let f = r.configuration?.proxy(named: "f")
        XCTAssertEqual(f?.logStyle, .http)
        XCTAssertEqual(f?.dontLogNull, true)
        XCTAssertEqual(f?.logAsap, true)
        XCTAssertEqual(f?.logSeparateErrors, true)
        XCTAssertEqual(f?.requestCaptures, [HeaderCapture(name: "Host", length: 20)])
        XCTAssertEqual(f?.responseCaptures, [HeaderCapture(name: "Server", length: 30)])
        XCTAssertEqual(f?.cookieCapture, HeaderCapture(name: "SRV", length: 12))
        XCTAssertEqual(f?.uniqueIDFormat, "%{+X}o %ci")
        XCTAssertEqual(f?.uniqueIDHeader, "X-Unique-ID")
        XCTAssertEqual(r.configuration?.proxy(named: "t")?.logStyle, .tcp)
        XCTAssertEqual(r.configuration?.proxy(named: "c")?.logStyle, .custom("%ci:%cp %ST"))
        XCTAssertEqual(r.configuration?.proxy(named: "c")?.logTag, "web")
        XCTAssertEqual(r.configuration?.global.logTag, "fulcrum")
    }

    func testHAProxysWordingForMisplacedLogLines() {
        let r = parse("""
        defaults
         capture request header Host len 20
        \(timeouts)frontend f
         bind :80
         option httplog
         capture request header Host
         default_backend b
        backend b
         option httplog
         capture request header Host len 20
        """)
        let messages = r.diagnostics.map(\.message)
        XCTAssertTrue(messages.contains("'capture request' not allowed in 'defaults' section."), "\(messages)")
        XCTAssertTrue(messages.contains("'capture request' expects 'header' <header_name> 'len' <len>."), "\(messages)")
        XCTAssertTrue(messages.contains("backend 'b' : 'option httplog' directive is ignored in backends."), "\(messages)")
        XCTAssertTrue(messages.contains("'capture' ignored because backend 'b' has no frontend capability."), "\(messages)")
        XCTAssertTrue(messages.contains("log format ignored for frontend 'f' since it has no log address."), "\(messages)")
    }
}
