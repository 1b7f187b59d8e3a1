import Foundation
import HAProxyConfig
import NIOCore
import NIOSSL
import NIOTLS

/// TLS on a `bind ... ssl crt ...` line, as HAProxy reads it: PEM files carrying the certificate
/// chain and the private key (or the key in FILE.key), a directory of such files, several `crt`,
/// the certificate chosen by SNI among their names (CN and DNS SANs, `*.` wildcards), the first as
/// default; `alpn`, `ssl-min-ver`/`ssl-max-ver`, `no-tlsv1x`, `force-tlsv1x`, `ciphers`, `ca-file` +
/// `verify none|optional|required`; `crt-base`/`ca-base` and the `ssl-default-bind-*` globals.
struct TLSBindContext {
    let context: NIOSSLContext
    let alpn: [String]

    struct Certified {
        let names: [String]
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
    }

    static func make(bind: Bind, global: GlobalSettings) throws -> TLSBindContext {
        let where_ = "\(bind.location)"
        // Options: the global defaults first, the bind line's own after (they win).
        var options: [(String, String?)] = []
        if let d = global.sslDefaults["ssl-default-bind-options"] {
            options += parseOptionWords(d.split(separator: " ").map(String.init))
        }
        options += parseOptionWords(bind.options)
        var ciphers = global.sslDefaults["ssl-default-bind-ciphers"]
        var minVersion: TLSVersion = .tlsv12  // haproxy 2.2+: ssl-min-ver defaults to TLSv1.2
        var maxVersion: TLSVersion? = nil
        var caFile: String?
        var verify = "none"
        var crts: [String] = []
        for (name, value) in options {
            switch (name, value) {
            case ("crt", let v?): crts.append(ServerTLSSettings.resolvePath(v, base: global.crtBase))
            case ("ca-file", let v?): caFile = ServerTLSSettings.resolvePath(v, base: global.caBase)
            case ("verify", let v?): verify = v
            case ("ciphers", let v?): ciphers = v
            case ("ssl-min-ver", let v?):
                guard let t = tlsVersion(v) else { throw RuntimeError("[ALERT] : \(where_) : 'ssl-min-ver' : unknown version '\(v)' (expected SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3).") }
                minVersion = t
            case ("ssl-max-ver", let v?):
                guard let t = tlsVersion(v) else { throw RuntimeError("[ALERT] : \(where_) : 'ssl-max-ver' : unknown version '\(v)' (expected SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3).") }
                maxVersion = t
            case ("no-tlsv10", nil): if rank(minVersion) < 1 { minVersion = .tlsv11 }
            case ("no-tlsv11", nil): if rank(minVersion) < 2 { minVersion = .tlsv12 }
            case ("no-tlsv12", nil): if rank(minVersion) < 3 { minVersion = .tlsv13 }
            case ("no-tlsv13", nil): maxVersion = .tlsv12
            case ("force-tlsv10", nil): minVersion = .tlsv1; maxVersion = .tlsv1
            case ("force-tlsv11", nil): minVersion = .tlsv11; maxVersion = .tlsv11
            case ("force-tlsv12", nil): minVersion = .tlsv12; maxVersion = .tlsv12
            case ("force-tlsv13", nil): minVersion = .tlsv13; maxVersion = .tlsv13
            default: break
            }
        }
        guard !crts.isEmpty else {
            throw RuntimeError("[ALERT] : \(where_) : 'bind' : no certificate: 'ssl' needs at least one 'crt'.")
        }
        var certified: [Certified] = []
        for path in crts {
            certified += try load(path, where: where_)
        }
        guard let first = certified.first else {
            throw RuntimeError("[ALERT] : \(where_) : 'crt' : no certificate found in '\(crts.joined(separator: "', '"))'.")
        }
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: first.chain.map { .certificate($0) }, privateKey: .privateKey(first.key))
        config.minimumTLSVersion = minVersion
        config.maximumTLSVersion = maxVersion
        if let ciphers { config.cipherSuites = ciphers }
        config.applicationProtocols = bind.alpn
        switch verify {
        case "none": config.certificateVerification = .none
        case "optional": config.certificateVerification = .optionalVerification
        case "required": config.certificateVerification = .noHostnameVerification
        default:
            throw RuntimeError("[ALERT] : \(where_) : 'verify' : unknown verify method '\(verify)', only 'none', 'optional', and 'required' are supported.")
        }
        if verify != "none" {
            guard let caFile else {
                throw RuntimeError("[ALERT] : \(where_) : verify is enabled but no CA file specified ('ca-file').")
            }
            config.trustRoots = .file(caFile)
        }
        if certified.count > 1 {
            let all = certified
            config.sslContextCallback = { values, promise in
                var override = NIOSSLContextConfigurationOverride()
                if let host = values.serverHostname?.lowercased(), let match = Self.choose(host, among: all) {
                    override.certificateChain = match.chain.map { .certificate($0) }
                    override.privateKey = .privateKey(match.key)
                }
                promise.succeed(override)
            }
        }
        do {
            return TLSBindContext(context: try NIOSSLContext(configuration: config), alpn: bind.alpn)
        } catch {
            throw RuntimeError("[ALERT] : \(where_) : 'bind' : unable to set up TLS (\(error)).")
        }
    }

    /// Exact name first, then a `*.domain` wildcard covering one label.
    static func choose(_ host: String, among all: [Certified]) -> Certified? {
        if let exact = all.first(where: { $0.names.contains(host) }) { return exact }
        guard let dot = host.firstIndex(of: ".") else { return nil }
        let wildcard = "*" + host[dot...]
        return all.first { $0.names.contains(wildcard) }
    }

    /// A PEM file (chain + key, or key in FILE.key), or every certificate file of a directory.
    static func load(_ path: String, where where_: String) throws -> [Certified] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw RuntimeError("[ALERT] : \(where_) : 'crt' : unable to stat SSL certificate from file '\(path)' : No such file or directory.")
        }
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let skipped = [".key", ".ocsp", ".issuer", ".sctl"]
            return try names.sorted().filter { n in !n.hasPrefix(".") && !skipped.contains { n.hasSuffix($0) } }
                .flatMap { try load(path + "/" + $0, where: where_) }
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw RuntimeError("[ALERT] : \(where_) : 'crt' : unable to load SSL certificate from PEM file '\(path)'.")
        }
        guard let leaf = chain.first else {
            throw RuntimeError("[ALERT] : \(where_) : 'crt' : no certificate in PEM file '\(path)'.")
        }
        let key: NIOSSLPrivateKey
        if let k = try? NIOSSLPrivateKey(file: path, format: .pem) {
            key = k
        } else if let k = try? NIOSSLPrivateKey(file: path + ".key", format: .pem) {
            key = k
        } else {
            throw RuntimeError("[ALERT] : \(where_) : 'crt' : unable to load SSL private key from PEM file '\(path)'.")
        }
        var names: [String] = leaf.subjectName.filter { $0.type == .commonName }.map { $0.value.lowercased() }
        for san in leaf._subjectAlternativeNames() where san.nameType == .dnsName {
            names.append(String(decoding: Array(san.contents), as: UTF8.self).lowercased())
        }
        return [Certified(names: names, chain: chain, key: key)]
    }


    static func rank(_ v: TLSVersion) -> Int {
        switch v {
        case .tlsv1: 0
        case .tlsv11: 1
        case .tlsv12: 2
        case .tlsv13: 3
        }
    }

    static func tlsVersion(_ v: String) -> TLSVersion? {
        switch v {
        case "TLSv1.0": .tlsv1
        case "TLSv1.1": .tlsv11
        case "TLSv1.2": .tlsv12
        case "TLSv1.3": .tlsv13
        default: nil
        }
    }

    /// Options as written (`crt X`, `no-tlsv10`, ...) into (name, value) pairs.
    static func parseOptionWords(_ words: [String]) -> [(String, String?)] {
        ServerTLSSettings.optionPairs(words, withValue: Keywords.bindOptionsWithValue)
    }
}

/// TLS toward a `server ... ssl` line: `verify none|required` (required by default, unless global
/// `ssl-server-verify none`), `ca-file`, `sni str(NAME)`, `verifyhost`, `alpn`, `ciphers`,
/// `ssl-min-ver`/`ssl-max-ver`, `crt` (client certificate), and `ssl-default-server-*`.
struct TLSServerSide: Sendable {
    let context: NIOSSLContext
    /// Sent as SNI and checked against the certificate's names.
    let hostname: String?
    let alpn: [String]

    static func make(server: Server, global: GlobalSettings) throws -> TLSServerSide {
        let where_ = "[\(server.location)] : 'server \(server.name)'"
        let s: ServerTLSSettings
        switch ServerTLSSettings.resolve(server, global: global) {
        case .success(let v): s = v
        case .failure(let m): throw RuntimeError("[ALERT] : config : \(where_) : \(m)")
        }
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = s.minVersion.flatMap(TLSBindContext.tlsVersion) ?? .tlsv12
        config.maximumTLSVersion = s.maxVersion.flatMap(TLSBindContext.tlsVersion)
        if let ciphers = s.ciphers { config.cipherSuites = ciphers }
        config.applicationProtocols = s.alpn
        let hostname = s.sni ?? s.verifyHost
        if s.verify, let caFile = s.caFile {
            config.trustRoots = .file(caFile)
            // Without a name to check, haproxy checks the chain only.
            config.certificateVerification = hostname == nil ? .noHostnameVerification : .fullVerification
        } else {
            config.certificateVerification = .none
        }
        if let clientCrt = s.clientCertificate {
            let c = try TLSBindContext.load(clientCrt, where: where_)
            if let first = c.first {
                config.certificateChain = first.chain.map { .certificate($0) }
                config.privateKey = .privateKey(first.key)
            }
        }
        do {
            return TLSServerSide(context: try NIOSSLContext(configuration: config), hostname: hostname, alpn: s.alpn)
        } catch {
            throw RuntimeError("[ALERT] : config : \(where_) : unable to set up TLS (\(error)).")
        }
    }

    /// Puts the TLS client handler first in a server connection's pipeline; `handshake` (when
    /// given) completes with the handshake, so a refused certificate counts as a failed connect
    /// (503 and retries, `SC--`), as in HAProxy, not as a server gone mid-response.
    func addHandler(to channel: any Channel, handshake: EventLoopPromise<Void>? = nil) throws {
        let handler = try NIOSSLClientHandler(context: context, serverHostname: hostname.flatMap { $0.isIPAddress ? nil : $0 })
        try channel.pipeline.syncOperations.addHandler(handler)
        if let handshake { try channel.pipeline.syncOperations.addHandler(HandshakeGate(promise: handshake)) }
    }

    /// Connect, then (for TLS) the handshake: what a server connection's future waits for.
    static func connected<T: Sendable>(_ connect: EventLoopFuture<T>, handshake: EventLoopPromise<Void>?) -> EventLoopFuture<T> {
        guard let handshake else { return connect }
        return connect.flatMap { value in
            handshake.futureResult.map { value }
        }.flatMapErrorThrowing { error in
            handshake.fail(error)  // no-op once completed
            throw error
        }
    }
}

/// Completes a promise when the TLS handshake ends (either way), then steps aside.
final class HandshakeGate: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    let promise: EventLoopPromise<Void>
    private var done = false
    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSUserEvent, case .handshakeCompleted = e, !done {
            done = true
            promise.succeed(())
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ConnectError.closed)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !done { done = true; promise.fail(ConnectError.closed) }
    }
}

extension String {
    var isIPAddress: Bool { (try? SocketAddress(ipAddress: self, port: 0)) != nil }
}
