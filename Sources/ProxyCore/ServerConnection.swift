import NIOCore
import NIOPosix

/// Receives what happens on a server-side connection. The HTTP session that owns the connection
/// for the current exchange implements it; an idle connection has no owner.
protocol ServerConnectionOwner: AnyObject {
    func serverRead(_ connection: ServerConnection, _ buffer: ByteBuffer)
    func serverReadComplete(_ connection: ServerConnection)
    func serverWritabilityChanged(_ connection: ServerConnection)
    func serverClosed(_ connection: ServerConnection)
}

/// The handler on a server-side channel (HTTP mode). Forwards events to its owner, or keeps
/// the connection in its loop's idle pool between exchanges.
final class ServerConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let server: ServerRuntime
    let loopContext: LoopContext
    private(set) var context: ChannelHandlerContext!
    /// The session of the current exchange. Strong; every path that ends an exchange clears it
    /// (a weak reference would give each session a refcount side table: slower on the hot path).
    var owner: (any ServerConnectionOwner)?
    var isClosed = false
    /// Position in the idle pool while idle, -1 otherwise.
    var poolPosition = -1
    /// Number of exchanges done on this connection.
    var uses = 0
    private var idleTimer = LazyTimer()

    init(server: ServerRuntime, loopContext: LoopContext) {
        self.server = server
        self.loopContext = loopContext
    }

    var channel: (any Channel)? { context?.channel }
    /// The local address as text for logs (%bi/%bp), computed once per connection.
    lazy var localAddressText: (ip: String, port: Int)? = channel?.localAddress.map { ($0.ipAddress ?? "-", $0.port ?? 0) }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Breaks the handler/context cycle once the channel is gone.
    func handlerRemoved(context: ChannelHandlerContext) {
        isClosed = true
        idleTimer.cancel()
        owner = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let owner { owner.serverRead(self, buffer) } else {
            // Bytes from an idle server: nothing can be framed with them any more.
            close()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        owner?.serverReadComplete(self)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.serverWritabilityChanged(self)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        idleTimer.cancel()
        if poolPosition >= 0 { loopContext.removeIdle(self) }
        owner?.serverClosed(self)
        owner = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    func write(_ buffer: ByteBuffer) { context?.write(wrapOutboundOut(buffer), promise: nil) }
    func flush() { context?.flush() }
    private var paused = false
    /// Backpressure: stop reading while the client cannot take more.
    func setReading(_ on: Bool) {
        guard paused == on, !isClosed, let context else { return }
        paused = !on
        context.channel.setOption(.autoRead, value: on).whenComplete { _ in }
    }
    func close() {
        guard !isClosed else { return }
        isClosed = true
        context?.close(promise: nil)
    }

    /// Idle connections are closed after this long (HAProxy's pool-purge-delay).
    static let idleLifetime = TimeAmount.seconds(5)

    func becameIdle() {
        owner = nil
        guard let context else { return }
        let loop = context.eventLoop
        if idleTimer.set(.now() + Self.idleLifetime) { idleTimer.schedule(on: loop) { self.idleTimerFired() } }
        setReading(true)  // notice when the server closes it
    }

    func leftIdle() { idleTimer.disarm() }

    private func idleTimerFired() {
        guard !isClosed, let context else { return }
        guard idleTimer.firedAndExpired(on: context.eventLoop, fire: { self.idleTimerFired() }) else { return }
        if owner == nil { close() }
    }
}

/// Per event loop state: idle server connections, reachable without locks from that loop only.
final class LoopContext: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Idle connections per server, by the server's global index.
    private var idle: [[ServerConnection]]
    /// Client sessions on this loop that may send a further request (keep-alive, past their first
    /// one): under `http-reuse safe` only they can use an idle connection, so the pool of each
    /// server is kept at most this large; beyond it a finished connection is closed.
    var possibleReusers = 0

    /// Open HTTP sessions on this loop (for soft stop and `shutdown-sessions`).
    private var sessions = SlotList<HTTPSession>()

    func addSession(_ session: HTTPSession) { sessions.add(session) }
    func removeSession(_ session: HTTPSession) { sessions.remove(session) }

    /// HTTP/2 client connections on this loop, and the loop's h2 server connections.
    private var h2Connections = SlotList<H2ClientConnection>()
    let h2Pool: H2Pool

    func addH2Connection(_ c: H2ClientConnection) { h2Connections.add(c) }
    func removeH2Connection(_ c: H2ClientConnection) { h2Connections.remove(c) }

    /// Soft stop: idle sessions close now, busy ones after their current response; h2 connections
    /// get a GOAWAY and close after their streams.
    func softStop() {
        for session in sessions.items { session.softStop() }
        for c in h2Connections.items { c.softStop() }
    }

    /// Open TCP sessions on this loop (for `on-marked-down shutdown-sessions`).
    private var tcpSessions = SlotList<TCPSession>()

    func addTCPSession(_ session: TCPSession) { tcpSessions.add(session) }
    func removeTCPSession(_ session: TCPSession) { tcpSessions.remove(session) }

    /// Cuts every session using one of these servers (by global index), HTTP and TCP.
    func shutdownSessions(servers: Set<Int>) {
        for session in sessions.items { for g in servers { session.shutdownIfUsing(g) } }
        for session in tcpSessions.items { for g in servers { session.shutdownIfUsing(g) } }
        h2Pool.closeAll(servers: servers)
    }

    init(eventLoop: any EventLoop, serverCount: Int) {
        self.eventLoop = eventLoop
        self.idle = Array(repeating: [], count: serverCount)
        self.h2Pool = H2Pool(eventLoop: eventLoop)
    }

    // MARK: flushes at the end of the loop's turn

    /// Sessions whose writes wait for the end of this turn of the loop: the loop handles every
    /// ready socket first (reads, rules, writes), then flushes them all. A peer woken by the first
    /// flush then finds the others' bytes too, where flushing each as it comes wakes it again and
    /// again (a reschedule interrupt on its CPU each time): haproxy's order (receive all, then send).
    private var deferredFlushes: [HTTPSession] = []
    private var spareFlushes: [HTTPSession] = []
    private var flushTaskQueued = false
    /// Made once: queueing it costs no allocation.
    private lazy var flushTask: @Sendable () -> Void = { [unowned self] in self.runDeferredFlushes() }

    func deferFlush(_ session: HTTPSession) {
        deferredFlushes.append(session)
        guard !flushTaskQueued else { return }
        flushTaskQueued = true
        // Tasks run after the loop has handled all the I/O events of its turn.
        eventLoop.execute(flushTask)
    }

    private func runDeferredFlushes() {
        flushTaskQueued = false
        swap(&deferredFlushes, &spareFlushes)
        for session in spareFlushes { session.runDeferredFlush() }
        spareFlushes.removeAll(keepingCapacity: true)
    }

    /// Pools the connection if someone may use it; otherwise closes it. Returns whether it was kept.
    @discardableResult
    func addIdle(_ connection: ServerConnection) -> Bool {
        let g = connection.server.globalIndex
        guard idle[g].count < possibleReusers else {
            connection.close()
            return false
        }
        connection.poolPosition = idle[g].count
        idle[g].append(connection)
        connection.becameIdle()
        return true
    }

    func removeIdle(_ connection: ServerConnection) {
        let g = connection.server.globalIndex
        let p = connection.poolPosition
        guard p >= 0, p < idle[g].count, idle[g][p] === connection else { return }
        let last = idle[g].removeLast()
        if p < idle[g].count {
            idle[g][p] = last
            last.poolPosition = p
        }
        connection.poolPosition = -1
        connection.leftIdle()
    }

    /// Takes `preferred` if it is idle for this server, else the most recently used idle one.
    func takeIdle(server: ServerRuntime, preferred: ServerConnection?) -> ServerConnection? {
        if let preferred, preferred.server === server, preferred.poolPosition >= 0, !preferred.isClosed {
            removeIdle(preferred)
            return preferred
        }
        let g = server.globalIndex
        while let c = idle[g].last {
            removeIdle(c)
            if !c.isClosed { return c }
        }
        return nil
    }
}

/// An object that remembers its position in a `SlotList`.
protocol Slotted: AnyObject {
    var loopPosition: Int { get set }
}

/// A list with O(1) removal: each element knows its index (the last one fills the hole).
struct SlotList<Element: Slotted> {
    private(set) var items: [Element] = []

    mutating func add(_ x: Element) {
        x.loopPosition = items.count
        items.append(x)
    }

    mutating func remove(_ x: Element) {
        let p = x.loopPosition
        guard p >= 0, p < items.count, items[p] === x else { return }
        let last = items.removeLast()
        if p < items.count {
            items[p] = last
            last.loopPosition = p
        }
        x.loopPosition = -1
    }
}

extension HTTPSession: Slotted {}
extension TCPSession: Slotted {}
