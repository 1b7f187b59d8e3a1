import NIOCore
import NIOHTTP2
import NIOPosix

/// One h2 (cleartext, prior knowledge) connection from the proxy to a `proto h2` server, shared
/// by the client streams of one event loop: HAProxy multiplexes many streams of many clients on
/// one server connection. Lives on its loop only.
final class H2ServerConnection: @unchecked Sendable {
    let server: ServerRuntime
    let pool: H2Pool
    /// The frame handler that keeps this connection's streams (set once established).
    private(set) var handler: H2ServerConnectionHandler?
    private(set) var channel: (any Channel)?
    /// Streams open or promised on this connection.
    var activeStreams = 0
    /// SETTINGS_MAX_CONCURRENT_STREAMS of the server (100 until its SETTINGS say otherwise).
    var maxStreams = 100
    /// Streams opened over the connection's life (`max-reuse`).
    var totalStreams = 0
    /// GOAWAY received, closed, or retired: no new stream goes here.
    var closing = false
    /// The last stream the server said it processes (GOAWAY): streams above were not processed.
    var goAwayLastStreamID: HTTP2StreamID?
    var ready: Bool { channel != nil && !closing }
    /// Streams waiting for the connection to be established.
    private var waiters: [(Result<H2ServerConnection, any Error>) -> Void] = []
    /// %bi/%bp of the connection, computed once.
    private(set) var localAddressText: (ip: String, port: Int)?
    private var idleTimer: Scheduled<Void>?

    init(server: ServerRuntime, pool: H2Pool) {
        self.server = server
        self.pool = pool
    }

    var hasRoom: Bool {
        guard !closing, activeStreams < maxStreams else { return false }
        if let maxReuse = server.config.maxReuse, maxReuse >= 0, totalStreams >= maxReuse { return false }
        return true
    }

    func reserve(_ done: @escaping (Result<H2ServerConnection, any Error>) -> Void) {
        activeStreams += 1
        totalStreams += 1
        idleTimer?.cancel()
        idleTimer = nil
        if channel != nil {
            done(.success(self))
        } else {
            waiters.append(done)
        }
    }

    func established(channel: any Channel, handler: H2ServerConnectionHandler) {
        self.channel = channel
        self.handler = handler
        if let a = channel.localAddress { localAddressText = (a.ipAddress ?? "-", a.port ?? 0) }
        let w = waiters
        waiters.removeAll()
        for done in w { done(.success(self)) }
        if activeStreams == 0 { becameIdle() }
    }

    func failed(_ error: any Error) {
        closing = true
        pool.remove(self)
        let w = waiters
        waiters.removeAll()
        for done in w { done(.failure(error)) }
    }

    /// A stream of this connection ended (or was never opened).
    func streamEnded() {
        activeStreams -= 1
        if activeStreams == 0 {
            if closing || !hasRoomForMore {
                retire()
            } else {
                becameIdle()
            }
        }
    }

    private var hasRoomForMore: Bool {
        if let maxReuse = server.config.maxReuse, maxReuse >= 0, totalStreams >= maxReuse { return false }
        return true
    }

    /// Idle connections stay for `pool-purge-delay` (HAProxy's default 5 s), then close.
    private func becameIdle() {
        guard channel != nil, idleTimer == nil else { return }
        let delay = server.config.poolPurgeDelay?.timeAmount ?? .seconds(5)
        idleTimer = pool.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self, self.activeStreams == 0 else { return }
            self.retire()
        }
    }

    /// No new streams; closes once the last one ends.
    func retire() {
        closing = true
        pool.remove(self)
        idleTimer?.cancel()
        idleTimer = nil
        if activeStreams == 0 { channel?.close(promise: nil) }
    }

    /// The connection went away (closed by the server, error, or us).
    func closed() {
        closing = true
        idleTimer?.cancel()
        idleTimer = nil
        pool.remove(self)
        if !waiters.isEmpty { failed(ConnectError.closed) }
    }

    /// A stream for `owner` on this connection (reserved with `acquire`); it gets its ID, in
    /// order, when its HEADERS are written. Nil when the connection is gone.
    func openStream(owner: any H2UpstreamOwner) -> H2Upstream? {
        guard let handler, handler.isActive else { return nil }
        return H2Upstream(owner: owner, connection: self, handler: handler)
    }

    /// GOAWAY from the server: finish the streams it accepted, open none.
    func goAway() {
        closing = true
        pool.remove(self)
        if activeStreams == 0 { channel?.close(promise: nil) }
    }
}

/// The h2 server connections of one event loop, by server.
final class H2Pool: @unchecked Sendable {
    let eventLoop: any EventLoop
    private var byServer: [Int: [H2ServerConnection]] = [:]

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// A connection with a stream reserved for the caller: an established one with room, one
    /// being established with room, or a new one. `reused` tells whether no connect was needed.
    func acquire(server: ServerRuntime, clientLocalPort: Int?, connectTimeout: TimeAmount,
                 _ done: @escaping (Result<H2ServerConnection, any Error>, _ reused: Bool) -> Void) {
        let g = server.globalIndex
        if let list = byServer[g] {
            for c in list where c.hasRoom {
                let reused = c.channel != nil
                c.reserve { done($0, reused) }
                return
            }
        }
        let c = H2ServerConnection(server: server, pool: self)
        byServer[g, default: []].append(c)
        c.reserve { done($0, false) }
        connect(c, clientLocalPort: clientLocalPort, timeout: connectTimeout)
    }

    /// Idle HTTP/1.1 connections of streams whose server is not `proto h2`, by server.
    private var h1Idle: [Int: [H1Upstream]] = [:]

    func addIdle(_ c: H1Upstream) {
        h1Idle[c.server.globalIndex, default: []].append(c)
    }

    func removeIdle(_ c: H1Upstream) {
        h1Idle[c.server.globalIndex]?.removeAll { $0 === c }
    }

    func takeIdle(server: ServerRuntime) -> H1Upstream? {
        while let c = h1Idle[server.globalIndex]?.popLast() {
            if c.isOpen { return c }
        }
        return nil
    }

    func remove(_ c: H2ServerConnection) {
        let g = c.server.globalIndex
        byServer[g]?.removeAll { $0 === c }
    }

    /// Every connection to these servers (by global index) closes (`shutdown-sessions`).
    func closeAll(servers: Set<Int>) {
        for g in servers {
            for c in byServer[g] ?? [] { c.retire(); c.channel?.close(promise: nil) }
        }
    }

    private func connect(_ c: H2ServerConnection, clientLocalPort: Int?, timeout: TimeAmount) {
        guard let address = Connector.address(of: c.server, clientLocalPort: clientLocalPort) else {
            c.failed(ConnectError.noAddress)
            return
        }
        let loop = eventLoop
        let handshake = c.server.tls != nil ? loop.makePromise(of: Void.self) : nil
        let frames = H2ServerConnectionHandler(connection: c)
        let connect = ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try c.server.tls?.addHandler(to: channel, handshake: handshake)
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(FlushCoalescer())
                    // No stream multiplexer: frames in and out, streams kept by `frames`.
                    try sync.addHandler(NIOHTTP2Handler(mode: .client, connectionConfiguration: H2Settings.serverSideConnection,
                                                        streamConfiguration: H2Settings.serverSideStream))
                    try sync.addHandler(frames)
                }
            }
            .connect(to: address)
        TLSServerSide.connected(connect, handshake: handshake)
            .hop(to: loop)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // The connect promise completes just before channelActive, which sends the
                    // preface: streams go out from the next tick.
                    loop.execute {
                        guard !c.closing, frames.isActive else {
                            channel.close(promise: nil)
                            c.failed(ConnectError.closed)
                            return
                        }
                        c.established(channel: channel, handler: frames)
                    }
                case .failure(let error):
                    c.failed(error)
                }
            }
    }
}

enum H2Settings {
    /// Toward clients: `tune.h2.*`, HAProxy's defaults otherwise (100 concurrent streams, initial
    /// window 65535, header table 4096, frames up to 16384 bytes).
    static func clientSideConnection(_ tune: [String: Int]) -> NIOHTTP2Handler.ConnectionConfiguration {
        var c = NIOHTTP2Handler.ConnectionConfiguration()
        let window = tune["tune.h2.initial-window-size"] ?? 65535
        c.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: tune["tune.h2.max-concurrent-streams"] ?? 100),
            HTTP2Setting(parameter: .initialWindowSize, value: window),
            HTTP2Setting(parameter: .headerTableSize, value: tune["tune.h2.header-table-size"] ?? 4096),
            HTTP2Setting(parameter: .maxFrameSize, value: tune["tune.h2.max-frame-size"] ?? 16384),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16384),
        ]
        c.targetWindowSize = max(65535, window)
        return c
    }

    /// Our receive window per client stream.
    static func streamWindow(_ tune: [String: Int]) -> Int { tune["tune.h2.initial-window-size"] ?? 65535 }

    static func stream(_ tune: [String: Int]) -> NIOHTTP2Handler.StreamConfiguration {
        var s = NIOHTTP2Handler.StreamConfiguration()
        s.targetWindowSize = tune["tune.h2.initial-window-size"] ?? 65535
        return s
    }

    /// Our receive window toward servers, per stream and for the connection.
    static let serverSideWindow = 65535

    static var serverSideConnection: NIOHTTP2Handler.ConnectionConfiguration {
        var c = NIOHTTP2Handler.ConnectionConfiguration()
        c.initialSettings = [
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .initialWindowSize, value: 65535),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16384),
        ]
        c.targetWindowSize = 65535
        return c
    }

    static var serverSideStream: NIOHTTP2Handler.StreamConfiguration {
        var s = NIOHTTP2Handler.StreamConfiguration()
        s.targetWindowSize = 65535
        return s
    }
}
