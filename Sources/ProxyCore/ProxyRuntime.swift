import Atomics
import HAProxyConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#endif

public struct RuntimeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The running proxy: event loops, backends, frontends and their listeners, built from a
/// validated configuration.
public final class ProxyRuntime: @unchecked Sendable {
    public static let defaultMaxconn = 4096

    public let configuration: Configuration
    public let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private var backends: [String: BackendRuntime] = [:]
    private(set) var frontends: [FrontendRuntime] = []
    private var loopContexts: [ObjectIdentifier: LoopContext] = [:]
    private var listeners: [(channel: any Channel, frontend: FrontendRuntime)] = []
    private let limits: ConnectionLimits
    private let listenersLock = NIOLock()

    private let healthSink: any HealthEventSink
    private var healthChecker: HealthChecker?

    /// Builds the runtime: resolves server addresses; binds nothing yet.
    public init(configuration: Configuration, group: MultiThreadedEventLoopGroup? = nil,
                healthSink: any HealthEventSink = StderrHealthSink()) throws {
        self.configuration = configuration
        self.healthSink = healthSink
        let threads = configuration.global.nbthread ?? System.coreCount
        if let group {
            self.group = group
            ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
            ownsGroup = true
        }
        limits = ConnectionLimits(globalMaxconn: configuration.global.maxconn ?? Self.defaultMaxconn)
        var globalIndex = 0
        let tables = StickTables(configuration)
        for proxy in configuration.proxies where proxy.isBackend {
            var servers: [ServerRuntime] = []
            for (i, s) in proxy.servers.enumerated() {
                let address: SocketAddress
                do {
                    address = try SocketAddress.makeAddressResolvingHost(s.host, port: s.port ?? 0)
                } catch {
                    throw RuntimeError("[ALERT] : config : backend '\(proxy.name)': could not resolve address '\(s.host)' of server '\(s.name)' (\(s.location)).")
                }
                let tls = s.ssl ? try TLSServerSide.make(server: s, global: configuration.global) : nil
                servers.append(ServerRuntime(config: s, index: i, globalIndex: globalIndex, address: address, tls: tls))
                globalIndex += 1
            }
            let backend = BackendRuntime(config: proxy, servers: servers, tables: tables)
            let sendHostname = configuration.global.logSendHostname != nil
            backend.logger = ProxyLogger(proxy: proxy, global: configuration.global, senders: { LogTargetSender($0, sendHostname: sendHostname) })
            backends[proxy.name] = backend
        }
        let userlists = configuration.userlists.isEmpty ? nil : Userlists(configuration.userlists)
        for proxy in configuration.proxies where proxy.isFrontend {
            let backendName = proxy.kind == .listen ? (proxy.defaultBackend ?? proxy.name) : proxy.defaultBackend
            let backend = backendName.flatMap { backends[$0] }
            let frontend = FrontendRuntime(config: proxy, defaultBackend: backend, backends: backends, global: configuration.global,
                                           userlists: userlists, tables: tables)
            let sendHostname = configuration.global.logSendHostname != nil
            frontend.logger = ProxyLogger(proxy: proxy, global: configuration.global, senders: { LogTargetSender($0, sendHostname: sendHostname) })
            frontend.limits = limits
            frontends.append(frontend)
        }
        ProxyDirectory.shared.register(backends: backends, frontends: frontends)
        for loop in self.group.makeIterator() {
            loopContexts[ObjectIdentifier(loop)] = LoopContext(eventLoop: loop, serverCount: globalIndex)
        }
    }

    public func backend(named name: String) -> BackendRuntime? { backends[name] }

    /// Binds every listener and starts the health checks. Throws with HAProxy-like wording when
    /// an address cannot be bound.
    public func start() throws {
        // The checker hooks `observe` into the servers before any traffic flows.
        let checker = HealthChecker(backends: Array(backends.values).sorted { $0.name < $1.name }, group: group,
                                    global: configuration.global, sink: healthSink, loopContexts: Array(loopContexts.values))
        healthChecker = checker
        try bindAll()
        checker.start()
    }

    private func bindAll() throws {
        for frontend in frontends {
            for bind in frontend.config.binds {
                for address in bind.addresses {
                    let channel = try bindListener(address, frontend: frontend, bind: bind)
                    listenersLock.withLock { listeners.append((channel, frontend)) }
                }
            }
        }
    }

    /// The addresses actually bound (useful with port 0).
    public var boundAddresses: [SocketAddress] { listenersSnapshot.compactMap { $0.channel.localAddress } }

    private func bindListener(_ address: ListenAddress, frontend: FrontendRuntime, bind: Bind) throws -> any Channel {
        let location = bind.location
        let h2 = bind.proto == "h2" && frontend.config.mode == .http
        let tls = bind.ssl ? try TLSBindContext.make(bind: bind, global: configuration.global) : nil
        let contexts = loopContexts
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.autoRead, value: true)
        if case .inet = address {
            // SO_REUSEPORT lets a new process bind next to the old one during `-sf` reloads.
            bootstrap = bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.socketOption(.init(rawValue: SO_REUSEPORT)), value: 1)
        }
        let limits = self.limits
        bootstrap = bootstrap
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let gate = AcceptGate(frontend: frontend, limits: limits)
                    limits.register(gate, on: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(gate)
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                guard let loopContext = contexts[ObjectIdentifier(channel.eventLoop)] else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(SNIPeekHandler())
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
                        if frontend.config.mode == .http && !tls.alpn.isEmpty && !h2 {
                            // HTTP/2 or HTTP/1.1 on the same port, as the client's ALPN says.
                            let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
                                channel.eventLoop.makeCompletedFuture {
                                    if case .negotiated("h2") = result {
                                        try H2ClientConnection.configure(channel, frontend: frontend, loopContext: loopContext)
                                    } else {
                                        try channel.pipeline.syncOperations.addHandler(HTTPSession(frontend: frontend, loopContext: loopContext))
                                    }
                                }
                            }
                            try channel.pipeline.syncOperations.addHandler(negotiation)
                            return
                        }
                    }
                    if h2 {
                        try H2ClientConnection.configure(channel, frontend: frontend, loopContext: loopContext)
                    } else if frontend.config.mode == .tcp {
                        try channel.pipeline.syncOperations.addHandler(TCPSession(frontend: frontend, backend: frontend.defaultBackend,
                                                                                  loopContext: loopContext))
                    } else {
                        try channel.pipeline.syncOperations.addHandler(HTTPSession(frontend: frontend, loopContext: loopContext))
                    }
                }
            }
        do {
            switch address {
            case let .inet(host, port):
                let socketAddress = try SocketAddress.makeAddressResolvingHost(host ?? "0.0.0.0", port: port)
                return try bootstrap.bind(to: socketAddress).wait()
            case let .unix(path):
                unlink(path)
                return try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
            case let .fd(fd):
                return try bootstrap.withBoundSocket(fd).wait()
            }
        } catch {
            throw RuntimeError("[ALERT]    (\(getpid())) : Starting frontend \(frontend.name): cannot bind socket (\(error)) for [\(address)] (\(location))")
        }
    }

    private var listenersSnapshot: [(channel: any Channel, frontend: FrontendRuntime)] {
        listenersLock.withLock { listeners }
    }

    /// Number of client connections open now.
    public var currentConnections: Int { limits.current }

    /// Soft stop: listeners close, idle HTTP connections close, busy ones close after their
    /// current response; TCP sessions run to their end.
    public func softStop() {
        stopListening()
        for context in loopContexts.values {
            context.eventLoop.execute { context.softStop() }
        }
    }

    /// Stops accepting: listeners close; established connections go on.
    public func stopListening() {
        let all = listenersLock.withLock {
            let l = listeners
            listeners.removeAll()
            return l
        }
        for (channel, _) in all { try? channel.close().wait() }
    }

    /// Waits until every client connection has ended or `deadline` passes.
    public func waitForConnectionsToEnd(deadline: NIODeadline) {
        while limits.current > 0 && NIODeadline.now() < deadline {
            usleep(20_000)
        }
    }

    public func shutdown() {
        healthChecker?.stop()
        stopListening()
        if ownsGroup { try? group.syncShutdownGracefully() }
        reportLogDrops()
    }

    /// Lines each log target could not take (receiver absent or not reading), by address.
    public var logDrops: [(target: String, dropped: Int)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Int)] = []
        let loggers = frontends.compactMap(\.logger) + backends.values.compactMap(\.logger)
        for logger in loggers {
            for t in logger.targets where seen.insert(ObjectIdentifier(t)).inserted {
                out.append((t.label, t.dropped.load(ordering: .relaxed)))
            }
        }
        return out
    }

    /// Makes dropped log lines visible: one notice per target that dropped some, at exit.
    private func reportLogDrops() {
        for (target, dropped) in logDrops where dropped > 0 {
            var line = "[NOTICE]   (\(getpid())) : log target \(target): \(dropped) lines dropped (receiver absent or not reading).\n"
            line.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
        }
    }
}
