import Foundation
import HAProxyConfig
import XCTest

final class ModelTests: XCTestCase {
    static let fullConfig = """
    global
        maxconn 20000
        nbthread 4
        daemon
        pidfile /run/fulcrum.pid
        user haproxy
        group haproxy
        chroot /var/empty
        log 127.0.0.1:514 local0 notice
        stats timeout 30s
        tune.bufsize 32k
        tune.maxrewrite 2048
        tune.http.maxhdr 64
        tune.ssl.default-dh-param 2048
        hard-stop-after 30s
        ulimit-n 65536
        setenv BACKEND_PORT 9000

    defaults
        mode http
        timeout connect 5s
        timeout client 30s
        timeout server 1m
        timeout http-keep-alive 500ms
        timeout queue 100us
        retries 5
        option redispatch
        option forwardfor except 127.0.0.0/8 header X-Real-IP if-none
        option http-server-close
        maxconn 3000
        balance leastconn
        default-server maxconn 50 weight 10

    frontend web
        bind *:80,:::8080
        bind 127.0.0.1:8443 name local alpn h2,http/1.1 accept-proxy
        bind [::1]:81
        bind ipv4@0.0.0.0:82
        bind ipv6@:::83
        bind unix@/run/fulcrum.sock
        bind /run/other.sock
        bind fd@3
        bind localhost:9000-9002
        option httpclose
        default_backend app

    backend app
        balance uri whole len 20 depth 3 path-only
        hash-type map-based sdbm
        option redispatch 3
        server a1 10.0.0.1:${BACKEND_PORT} weight 3 maxconn 100
        server a2 [fd00::2]:8080 backup minconn 5 maxqueue 10
        server a3 app3.example.com disabled
        server a4 10.0.0.4:+1000
        server a5 10.0.0.5:-1 weight 0 id 42 send-proxy

    defaults tcpdefs
        mode tcp
        timeout connect 1s
        timeout client 2h
        timeout server 2h
        balance source
        hash-type consistent djb2 avalanche

    defaults tcpmore from tcpdefs
        retries 1

    backend hdr
        balance hdr(Host) use_domain_only
        server h 127.0.0.1:1

    backend param
        balance url_param userid check_post
        server h 127.0.0.1:1

    backend rnd
        balance random(3)
        server h 127.0.0.1:1

    backend rdp
        balance rdp-cookie(session)
        server h 127.0.0.1:1

    backend first
        balance first
        server h 127.0.0.1:1

    listen db from tcpdefs
        bind :3306
        server db1 10.0.0.10:3306

    listen plain from tcpdefs
        bind :3307
        no option redispatch
        server db1 10.0.0.10:3306
    """

    func load() throws -> Configuration {
        let r = ConfigLoader(environment: [:]).parse(text: Self.fullConfig, file: "full.cfg")
        for d in r.diagnostics { print(d) }
        XCTAssertFalse(r.hasAlerts)
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .warning }.count, 0)
        return try XCTUnwrap(r.configuration)
    }

    func testGlobal() throws {
        let g = try load().global
        XCTAssertEqual(g.maxconn, 20000)
        XCTAssertEqual(g.nbthread, 4)
        XCTAssertTrue(g.daemon)
        XCTAssertEqual(g.pidfile, "/run/fulcrum.pid")
        XCTAssertEqual(g.user, "haproxy")
        XCTAssertEqual(g.group, "haproxy")
        XCTAssertEqual(g.chroot, "/var/empty")
        XCTAssertEqual(g.logs.first?.address, "127.0.0.1:514")
        XCTAssertEqual(g.logs.first?.facility, "local0")
        XCTAssertEqual(g.logs.first?.level, "notice")
        XCTAssertEqual(g.statsTimeout, .seconds(30))
        XCTAssertEqual(g.bufsize, 32768)
        XCTAssertEqual(g.maxrewrite, 2048)
        XCTAssertEqual(g.maxHeaders, 64)
        XCTAssertEqual(g.tune["tune.ssl.default-dh-param"], "2048")
        XCTAssertEqual(g.hardStopAfter, .seconds(30))
        XCTAssertEqual(g.ulimitN, 65536)
    }

    func testBinds() throws {
        let web = try XCTUnwrap(try load().proxy(named: "web"))
        XCTAssertEqual(web.kind, .frontend)
        XCTAssertEqual(web.mode, .http)
        XCTAssertEqual(web.maxconn, 3000)
        let all = web.binds.flatMap(\.addresses)
        XCTAssertEqual(all, [
            .inet(host: nil, port: 80), .inet(host: "::", port: 8080),
            .inet(host: "127.0.0.1", port: 8443),
            .inet(host: "::1", port: 81),
            .inet(host: "0.0.0.0", port: 82),
            .inet(host: "::", port: 83),
            .unix(path: "/run/fulcrum.sock"), .unix(path: "/run/other.sock"),
            .fd(3),
            .inet(host: "localhost", port: 9000), .inet(host: "localhost", port: 9001), .inet(host: "localhost", port: 9002),
        ])
        let named = web.binds[1]
        XCTAssertEqual(named.name, "local")
        XCTAssertEqual(named.alpn, ["h2", "http/1.1"])
        XCTAssertTrue(named.acceptProxy)
        XCTAssertEqual(named.options, ["name", "local", "alpn", "h2,http/1.1", "accept-proxy"])
        XCTAssertEqual(named.location.line, 36)
        XCTAssertEqual(web.defaultBackend, "app")
        XCTAssertEqual(web.httpConnectionMode, .close)
    }

    func testDefaultsInheritance() throws {
        let c = try load()
        let web = try XCTUnwrap(c.proxy(named: "web"))
        XCTAssertEqual(web.timeouts.connect, .seconds(5))
        XCTAssertEqual(web.timeouts.client, .seconds(30))
        XCTAssertEqual(web.timeouts.server, .seconds(60))
        XCTAssertEqual(web.timeouts.httpKeepAlive, .milliseconds(500))
        XCTAssertEqual(web.timeouts.queue, .microseconds(100))
        XCTAssertEqual(web.retries, 5)
        XCTAssertEqual(web.redispatch, 1)
        XCTAssertEqual(web.forwardFor?.except, "127.0.0.0/8")
        XCTAssertEqual(web.forwardFor?.header, "X-Real-IP")
        XCTAssertEqual(web.forwardFor?.ifNone, true)
        XCTAssertEqual(web.options["redispatch"], true)
        XCTAssertEqual(web.options["httpclose"], true)
        // defaults' lines come first in directives
        XCTAssertEqual(web.directives.first?.keyword, "mode")
        XCTAssertEqual(web.directives.first?.location.line, 20)
        XCTAssertEqual(web.directives.last?.keyword, "default_backend")

        // The named defaults after the anonymous one start from scratch: backends after
        // `defaults tcpdefs` inherit it (last defaults section).
        let hdr = try XCTUnwrap(c.proxy(named: "hdr"))
        XCTAssertEqual(hdr.mode, .tcp)
        XCTAssertEqual(hdr.timeouts.client, .seconds(7200))
        XCTAssertNil(hdr.forwardFor)
        XCTAssertEqual(hdr.retries, 1, "the last defaults section is 'tcpmore' (retries 1, from tcpdefs)")
        XCTAssertEqual(hdr.hash.type, .consistent)
        XCTAssertEqual(hdr.hash.function, .djb2)
        XCTAssertTrue(hdr.hash.avalanche)

        let db = try XCTUnwrap(c.proxy(named: "db"))
        XCTAssertEqual(db.mode, .tcp)
        XCTAssertEqual(db.retries, 3, "tcpdefs does not set retries")
        XCTAssertEqual(db.balance, .source)
        XCTAssertEqual(db.timeouts.connect, .seconds(1))
        let plain = try XCTUnwrap(c.proxy(named: "plain"))
        XCTAssertEqual(plain.retries, 3)
        XCTAssertNil(plain.redispatch)
        XCTAssertEqual(plain.options["redispatch"], false)
    }

    func testServersAndBalance() throws {
        let c = try load()
        let app = try XCTUnwrap(c.proxy(named: "app"))
        XCTAssertEqual(app.balance, .uri(whole: true, length: 20, depth: 3, pathOnly: true))
        XCTAssertEqual(app.hash.type, .mapBased)
        XCTAssertEqual(app.hash.function, .sdbm)
        XCTAssertEqual(app.redispatch, 3)
        XCTAssertEqual(app.forwardFor?.header, "X-Real-IP")
        XCTAssertEqual(app.httpConnectionMode, .serverClose)
        XCTAssertEqual(app.servers.map(\.name), ["a1", "a2", "a3", "a4", "a5"])
        let a1 = app.servers[0], a2 = app.servers[1], a3 = app.servers[2], a4 = app.servers[3], a5 = app.servers[4]
        XCTAssertEqual(a1.host, "10.0.0.1")
        XCTAssertEqual(a1.port, 9000, "setenv in global applies to later expansion")
        XCTAssertEqual(a1.weight, 3)
        XCTAssertEqual(a1.maxconn, 100)
        XCTAssertEqual(a2.host, "fd00::2")
        XCTAssertEqual(a2.port, 8080)
        XCTAssertTrue(a2.backup)
        XCTAssertEqual(a2.weight, 10, "default-server weight")
        XCTAssertEqual(a2.maxconn, 50, "default-server maxconn")
        XCTAssertEqual(a2.minconn, 5)
        XCTAssertEqual(a2.maxqueue, 10)
        XCTAssertEqual(a3.host, "app3.example.com")
        XCTAssertNil(a3.port)
        XCTAssertTrue(a3.disabled)
        XCTAssertNil(a4.port)
        XCTAssertEqual(a4.portOffset, 1000)
        XCTAssertEqual(a5.portOffset, -1)
        XCTAssertEqual(a5.weight, 0)
        XCTAssertEqual(a5.id, 42)
        XCTAssertTrue(a5.sendProxy)
        XCTAssertEqual(app.defaultServer?.maxconn, 50)

        XCTAssertEqual(c.proxy(named: "hdr")?.balance, .header(name: "Host", useDomainOnly: true))
        XCTAssertEqual(c.proxy(named: "param")?.balance, .urlParam(name: "userid", checkPost: true))
        XCTAssertEqual(c.proxy(named: "rnd")?.balance, .random(draws: 3))
        XCTAssertEqual(c.proxy(named: "rdp")?.balance, .rdpCookie(name: "session"))
        XCTAssertEqual(c.proxy(named: "first")?.balance, .first)
        XCTAssertEqual(c.frontends.map(\.name), ["web", "db", "plain"])
        XCTAssertEqual(c.backends.count, 8)
    }

    func testBalanceDefaults() {
        let text = "backend a\n balance random\n server s 1.1.1.1:1\nbackend b\n balance rdp-cookie\n server s 1.1.1.1:1\nbackend c\n balance static-rr\n"
        let c = ConfigLoader(environment: [:]).parse(text: text, file: "b.cfg").configuration
        XCTAssertEqual(c?.proxy(named: "a")?.balance, .random(draws: 2))
        XCTAssertEqual(c?.proxy(named: "b")?.balance, .rdpCookie(name: "mstshash"))
        XCTAssertEqual(c?.proxy(named: "c")?.balance, .staticRoundRobin)
    }

    func testErrorFilesAndHTTPErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fulcrum-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ok = dir.appendingPathComponent("503.http")
        try Data("HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\nbusy".utf8).write(to: ok)
        let ok2 = dir.appendingPathComponent("404.http")
        try Data("HTTP/1.1 404 Not Found\r\n\r\n".utf8).write(to: ok2)
        let bad = dir.appendingPathComponent("bad.http")
        try Data("<html>oops</html>".utf8).write(to: bad)
        let text = """
        http-errors site
            errorfile 404 \(ok2.path)
            errorfile 503 \(ok.path)
        defaults
            errorfile 503 \(ok.path)
            timeout client 1s
            timeout server 1s
            timeout connect 1s
        backend b
            errorfiles site 404
        backend c
            errorfiles site
        """
        let r = ConfigLoader(environment: [:]).parse(text: text, file: "e.cfg")
        let c = try XCTUnwrap(r.configuration, "\(r.diagnostics)")
        XCTAssertEqual(c.httpErrors.first?.name, "site")
        XCTAssertEqual(c.httpErrors.first?.errorFiles.keys.sorted(), [404, 503])
        XCTAssertEqual(c.proxy(named: "b")?.errorFiles.keys.sorted(), [404, 503])
        XCTAssertEqual(c.proxy(named: "b")?.errorFiles[503].map { String(decoding: $0, as: UTF8.self) }.map { $0.hasSuffix("busy") }, true)
        XCTAssertEqual(c.proxy(named: "c")?.errorFiles.keys.sorted(), [404, 503])

        let r2 = ConfigLoader(environment: [:]).parse(text: "defaults\n errorfile 503 \(bad.path)\n errorfile 503 /nonexistent/x.http\nbackend b\n errorfiles nope\n", file: "e.cfg")
        XCTAssertNil(r2.configuration)
        XCTAssertTrue(r2.diagnostics.contains { $0.location?.line == 2 && $0.message.contains("unable to parse headers") })
        XCTAssertTrue(r2.diagnostics.contains { $0.location?.line == 3 && $0.message.contains("error opening file '/nonexistent/x.http'") })
        XCTAssertTrue(r2.diagnostics.contains { $0.location?.line == 5 && $0.message.contains("http-errors section 'nope'") })
    }

    func testLoadFilesAndDirectories() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fulcrum-cfgdir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "backend b\n server s 127.0.0.1:1\n".write(to: dir.appendingPathComponent("20-backend.cfg"), atomically: true, encoding: .utf8)
        try "defaults\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n".write(to: dir.appendingPathComponent("10-defaults.cfg"), atomically: true, encoding: .utf8)
        try "this is not a config".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let front = dir.appendingPathComponent("front.conf")
        try "frontend f\n bind :8080\n default_backend b\n".write(to: front, atomically: true, encoding: .utf8)
        let r = ConfigLoader(environment: [:]).load(paths: [dir.path, front.path])
        XCTAssertEqual(r.diagnostics, [])
        let c = try XCTUnwrap(r.configuration)
        XCTAssertEqual(c.proxies.map(\.name), ["b", "f"])
        XCTAssertEqual(c.proxy(named: "b")?.timeouts.server, .seconds(1))
        XCTAssertEqual(c.proxy(named: "b")?.location.file, dir.path + "/20-backend.cfg")

        let missing = ConfigLoader(environment: [:]).load(paths: ["/nonexistent/haproxy.cfg"])
        XCTAssertNil(missing.configuration)
        XCTAssertTrue(missing.diagnostics.contains { $0.severity == .alert && $0.message.contains("/nonexistent/haproxy.cfg") })
    }

    func testGlobalEnvironmentDirectives() throws {
        let text = """
        global
            setenv A one
            presetenv B two
            presetenv HOME ignored
            unsetenv C
        backend "${A}-${B}-${HOME}-${C-gone}"
        """
        let r = ConfigLoader(environment: ["HOME": "/root", "C": "c"]).parse(text: text, file: "env.cfg")
        XCTAssertEqual(r.configuration?.proxies.first?.name, "one-two-/root-gone")
    }
}
