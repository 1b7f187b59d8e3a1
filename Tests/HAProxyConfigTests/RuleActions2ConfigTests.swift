import HAProxyConfig
import XCTest

/// Capture slots, set-timeout / set-log-level, normalize-uri, monitor fail and reply errorfiles
/// as the parser records them.
final class RuleActions2ConfigTests: XCTestCase {
    func testCaptureSlotsFollowDeclarationOrder() throws {
        let r = parse("""
        frontend f
         mode http
         bind :80
        \(timeouts) capture request header Host len 6
         http-request capture req.hdr(x-a) len 5
         declare capture request len 8
         http-request capture path id 2
         declare capture response len 6
         http-response capture res.hdr(x-app) id 0
        """)
        let p = try XCTUnwrap(r.configuration?.proxies.first, "\(r.diagnostics)")
        XCTAssertEqual(p.requestCaptures, [HeaderCapture(name: "Host", length: 6), HeaderCapture(name: "", length: 5),
                                           HeaderCapture(name: "", length: 8)])
        XCTAssertEqual(p.responseCaptures, [HeaderCapture(name: "", length: 6)])
        XCTAssertEqual(p.httpRequestRules.map(\.captureSlot), [1, 2])
        XCTAssertEqual(p.httpResponseRules.first?.captureSlot, 0)
    }

    func testMissingCaptureID() {
        let r = parse("frontend f\n mode http\n bind :80\n\(timeouts) http-request capture path id 3\n")
        XCTAssertNil(r.configuration)
        XCTAssertTrue(r.diagnostics.contains { $0.message == "Proxy 'f': unable to find capture id '3' referenced by http-request capture rule." },
                      "\(r.diagnostics)")
    }

    func testTimeoutsLevelsAndNormalizers() throws {
        let r = parse("""
        global
         expose-experimental-directives
        listen l
         mode http
         bind :80
        \(timeouts) http-request set-timeout server 2s
         http-request set-timeout tunnel req.hdr(x-t)
         http-request set-log-level silent if TRUE
         http-request normalize-uri path-strip-dotdot full
         http-request normalize-uri percent-to-uppercase if TRUE
         monitor fail if { nbsrv(l) lt 1 }
        """)
        let p = try XCTUnwrap(r.configuration?.proxies.first, "\(r.diagnostics)")
        let rules = p.httpRequestRules
        XCTAssertEqual(rules.map(\.action), [.setTimeout, .setTimeout, .setLogLevel, .normalizeURI, .normalizeURI])
        XCTAssertEqual(rules.map(\.name), ["server", "tunnel", "silent", "path-strip-dotdot", "path-merge-slashes"])
        XCTAssertEqual(rules[3].value, "full")
        XCTAssertEqual(rules[2].condition, ["if", "TRUE"])
        XCTAssertEqual(p.monitorFail, [["if", "{", "nbsrv(l)", "lt", "1", "}"]])
    }

    func testReplyErrorfilesResolveToTheSectionsFileOrAnEmptyReply() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ra2-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("403.http")
        try Data("HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n".utf8).write(to: file)
        let r = parse("""
        http-errors E
         errorfile 403 \(file.path)
        frontend f
         mode http
         bind :80
        \(timeouts) http-request deny errorfiles E if { path /a }
         http-request deny deny_status 429 errorfiles E
        """)
        let p = try XCTUnwrap(r.configuration?.proxies.first, "\(r.diagnostics)")
        guard case .message(let bytes)? = p.httpRequestRules[0].reply?.body else { return XCTFail("\(p.httpRequestRules)") }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self).hasSuffix("no\n"), true)
        XCTAssertEqual(p.httpRequestRules[1].reply?.body, ReplySpec.Body.none)
    }

    func testCaptureFetchesOnlyInLogFormats() {
        let ok = parse("frontend f\n mode http\n bind :80\n\(timeouts) log-format \"%[capture.req.hdr(0)]\"\n capture request header Host len 4\n")
        XCTAssertFalse(ok.diagnostics.contains { $0.severity == .alert }, "\(ok.diagnostics)")
        let bad = parse("frontend f\n mode http\n bind :80\n\(timeouts) http-request set-header X %[capture.res.hdr(0)]\n")
        XCTAssertNil(bad.configuration)
        XCTAssertTrue(bad.diagnostics.contains { $0.message.contains("'capture.res.hdr' outside log formats is not yet supported by Fulcrum") })
    }
}
