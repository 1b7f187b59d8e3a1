import Foundation
import HAProxyConfig
import XCTest

/// The seeds are beside the repository (the root is three levels above this file), or where
/// $FULCRUM_SEEDS says.
let seedDirectory: String = {
    if let dir = ProcessInfo.processInfo.environment["FULCRUM_SEEDS"], !dir.isEmpty { return dir }
    let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // HAProxyConfigTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repo root
    return repoRoot.appendingPathComponent("../shared/seed-configs").standardized.path
}()

func loadSeed(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> LoadResult {
    let path = seedDirectory + "/" + name
    try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "seed \(path) not present")
    let result = ConfigLoader(environment: [:]).load(paths: [path])
    for d in result.diagnostics { print("  \(name): \(d)") }
    XCTAssertFalse(result.diagnostics.contains { $0.message.contains("unknown keyword") },
                   "no unknown keyword expected in \(name)", file: file, line: line)
    XCTAssertFalse(result.diagnostics.contains { $0.message.contains("unknown option") },
                   "no unknown option expected in \(name)", file: file, line: line)
    return result
}

extension LoadResult {
    var alerts: [Diagnostic] { diagnostics.filter { $0.severity == .alert } }
    var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
}

final class SeedConfigTests: XCTestCase {
    func testLegacyReqadd() throws {
        let r = try loadSeed("legacy-reqadd.cfg")
        XCTAssertNil(r.configuration)
        let reqadd = r.alerts.first { $0.message.contains("http-request add-header") }
        XCTAssertNotNil(reqadd)
        XCTAssertEqual(reqadd?.location?.line, 13)
        XCTAssertEqual(reqadd?.keyword, "reqadd")
        XCTAssertEqual(reqadd?.section, "frontend 'web'")
    }

    func testTTSGrpc() throws {
        let r = try loadSeed("tts-grpc.cfg")
        let htx = r.warnings.first { $0.message.contains("http-use-htx") }
        XCTAssertEqual(htx?.location?.line, 14)
        XCTAssertEqual(r.alerts.map(\.message), [])
        let c = try XCTUnwrap(r.configuration)
        XCTAssertEqual(c.proxies.first { $0.name == "tts_front" }?.binds.first?.proto, "h2")
        XCTAssertEqual(c.proxies.first { $0.name == "tts_servers" }?.servers.map(\.proto), ["h2", "h2"])
    }

    func testTTSGrpcSyslog() throws {
        let r = try loadSeed("tts-grpc-syslog.cfg")
        XCTAssertEqual(r.alerts.map(\.message), [])
        XCTAssertNotNil(r.configuration)
    }

    func testUnknownProtoIsRejectedWithHAProxysWording() throws {
        let text = "defaults\n mode http\nfrontend f\n bind :8999 proto h3x\n default_backend b\nbackend b\n server t 127.0.0.1:1 proto zz\n"
        let r = parse(text)
        XCTAssertEqual(r.alerts.map { $0.location?.line }, [4, 7])
        XCTAssertTrue(r.alerts.allSatisfy { $0.message.contains("unknown MUX protocol") })
    }

    func testTCPServiceStats() throws {
        let r = try loadSeed("tcp-service-stats.cfg")
        let bindWarnings = r.warnings.filter { $0.message.contains("please use the 'bind' keyword") }
        XCTAssertEqual(bindWarnings.map { $0.location?.line }, [16, 25])
        let stats = r.alerts.filter { $0.message.contains("'stats") && $0.message.contains("not yet supported") }
        XCTAssertEqual(stats.map { $0.location?.line }, [29, 30, 31])
        XCTAssertTrue(r.alerts.allSatisfy { $0.message.contains("not yet supported") })
        XCTAssertFalse(r.diagnostics.contains { $0.message.contains("check") }, "health checks are supported")
    }

    func testWebCookie() throws {
        let r = try loadSeed("web-cookie.cfg")
        // The whole seed loads: `cookie SERVERID rewrite` then `cookie JSESSIONID prefix` (the last
        // wins, as in haproxy) and `http-request set-header X-Forwarded-Port %[dst_port]`.
        XCTAssertEqual(r.alerts.map(\.message), [])
        let be = try XCTUnwrap(r.configuration?.proxy(named: "sample-be"))
        XCTAssertEqual(be.cookie?.name, "JSESSIONID")
        XCTAssertEqual(be.cookie?.mode, .prefix)
    }

    func testOpenstackVIP() throws {
        let r = try loadSeed("openstack-vip.cfg")
        XCTAssertNil(r.configuration)
        XCTAssertFalse(r.alerts.contains { $0.message.contains("'http-request'") }, "add-header X-Forwarded-Proto loads")
        XCTAssertFalse(r.alerts.contains { $0.keyword == "cookie" }, "cookie SERVERUSED insert indirect nocache loads")
        // TLS is supported; the seed's certificate is not on this machine (haproxy says the same).
        XCTAssertTrue(r.alerts.contains { $0.message.contains("unable to stat SSL certificate from file '/etc/wglee.pem'") })
        XCTAssertTrue(r.alerts.allSatisfy { $0.message.contains("not yet supported") || $0.message.contains("/etc/wglee.pem") }, "\(r.alerts)")
    }
}

final class SeedRobustnessTests: XCTestCase {
    /// Truncating every line of every seed at every position must never crash the parser.
    func testTruncatedLinesNeverCrash() throws {
        let names = ["legacy-reqadd.cfg", "openstack-vip.cfg", "tcp-service-stats.cfg", "tts-grpc.cfg",
                     "tts-grpc-syslog.cfg", "web-cookie.cfg"]
        var parsed = 0
        for name in names {
            let path = seedDirectory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (i, line) in lines.enumerated() {
                for cut in stride(from: 0, through: line.count, by: 3) {
                    var copy = lines
                    copy[i] = String(line.prefix(cut))
                    _ = ConfigLoader(environment: [:]).parse(text: copy.joined(separator: "\n"), file: name)
                    parsed += 1
                }
            }
        }
        try XCTSkipIf(parsed == 0, "no seeds")
    }
}

final class HTTP2ConfigTests: XCTestCase {
    func testHTTP1ClientsToH2ServersLoad() {
        let text = "defaults\n mode http\n" + timeouts + "frontend f\n bind :8999\n default_backend b\nbackend b\n server t 127.0.0.1:1 proto h2\n"
        XCTAssertEqual(parse(text).alerts.map(\.message), [])
    }

    func testH2ClientsToEitherKindOfServerAreFine() {
        let text = "defaults\n mode http\n" + timeouts + "frontend f\n bind :8999 proto h2\n default_backend b\nbackend b\n server t 127.0.0.1:1 proto h2\n server u 127.0.0.1:2\n"
        XCTAssertEqual(parse(text).alerts.map(\.message), [])
    }
}

final class HeaderRuleConfigTests: XCTestCase {
    func testHeaderRulesParseAndTheirErrorsAreHAProxys() throws {
        let ok = parse("defaults\n mode http\n" + timeouts + "frontend f\n bind :80\n http-request set-header X-P %[dst_port]\n http-request del-header X-S\n default_backend b\nbackend b\n http-request add-header X-B %[be_name]\n server s 127.0.0.1:1\n")
        XCTAssertEqual(ok.alerts.map(\.message), [])
        let c = try XCTUnwrap(ok.configuration)
        XCTAssertEqual(c.proxies.first { $0.name == "f" }?.httpRequestRules.map(\.action), [.set, .del])
        let bad = parse("defaults\n mode http\n" + timeouts + " http-request set-header X-A 1\nfrontend f\n bind :80\n http-request set-header X-B %[nosuch]\n http-request set-header X-C %[be_name]\n http-request set-header X-D 1 if NOSUCH\n http-request set-header X-E\n default_backend b\nbackend b\n server s 127.0.0.1:1\n")
        let messages = bad.alerts.map(\.message)
        XCTAssertTrue(messages.contains("'http-request' not allowed in anonymous 'defaults' section."), "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("failed to parse sample expression <nosuch> : unknown fetch method 'nosuch'") })
        XCTAssertTrue(messages.contains { $0.contains("<be_name]> may not be reliably used here because it needs 'backend'") })
        XCTAssertTrue(messages.contains { $0.contains("while parsing an 'http-request set-header' condition : no such ACL : 'NOSUCH'.") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("expects exactly 2 arguments") })
        XCTAssertEqual(bad.alerts.compactMap { $0.location?.line }, [6, 9, 10, 11, 12])
    }
}
