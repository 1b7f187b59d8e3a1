import HAProxyConfig
import HealthChecks
import Logging
import NIOCore
import NIOPosix
import Samples
#if canImport(Glibc)
import Glibc
#endif

extension Channel {
    /// Closes with a reset (SO_LINGER 0), as haproxy closes a connection a rule rejects or kills.
    func closeWithReset() {
        if let provider = self as? SocketOptionProvider {
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in }
        }
        close(promise: nil)
    }
}

/// The server side of a `mode tcp` session: hands everything to the session.
final class TCPServerSide: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    /// Strong until the session ends (it clears it), so no weak-reference side table is needed.
    var session: TCPSession?
    var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { session?.serverRead(unwrapInboundIn(data)) }
    func channelReadComplete(context: ChannelHandlerContext) { session?.serverReadComplete() }
    func channelWritabilityChanged(context: ChannelHandlerContext) { session?.serverWritabilityChanged() }
    func channelInactive(context: ChannelHandlerContext) { session?.serverClosed() }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { session?.serverInputClosed() }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// One client connection in `mode tcp`: a server is chosen, then bytes flow both ways with
/// backpressure (a side is read only while the other can take writes) and half-closes are passed on.
final class TCPSession: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let frontend: FrontendRuntime
    /// The default backend, or the one `use_backend` chose.
    private(set) var backend: BackendRuntime?
    private var context: ChannelHandlerContext!
    private var server: ServerRuntime?
    private var serverSide: TCPServerSide?
    private var serverChannel: (any Channel)?
    private var waiter: QueueWaiter?
    private var pending: [ByteBuffer] = []
    private var attempts = 0
    private var closed = false
    private var clientInputClosed = false
    private var serverEOF = false
    private var clientPaused = false
    private var serverPaused = false
    private var pendingBytes = 0
    private var timer = LazyTimer()
    private var localPort: Int?

    let loopContext: LoopContext?
    var loopPosition = -1
    private let logger: ProxyLogger?
    private var xlog: ExchangeLog?
    private var termination: (Character, Character) = ("-", "-")
    /// Stick counters of the connection and the `stick` rules' decision (nil without stick tables).
    private var stickSession: StickSession?
    private var stickStream: StickStream?
    private var stickX: StickExchange?
    /// `tcp-request inspect-delay`: the first bytes held while content rules wait for them.
    private var inspection: TCPInspection?
    /// `tcp-response inspect-delay`/`content`: the server's first bytes held while the backend's rules wait for them.
    private var responseInspection: TCPResponseInspection?
    /// The session's variables (`set-var` of `tcp-request`/`tcp-response` rules); nil without such rules.
    private var variables: VariableStore?
    /// Rejected by a content rule before the client's first bytes were read (`rejectByContentRule`).
    private var drainingAfterReject = false

    init(frontend: FrontendRuntime, backend: BackendRuntime?, loopContext: LoopContext? = nil) {
        self.frontend = frontend
        self.backend = backend
        self.loopContext = loopContext
        self.logger = frontend.logger
    }

    /// `on-marked-down shutdown-sessions` / `on-marked-up shutdown-backup-sessions`.
    func shutdownIfUsing(_ globalIndex: Int) {
        guard let server, server.globalIndex == globalIndex else { return }
        closeAll()
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Breaks the handler/context cycle once the channel is gone.
    func handlerRemoved(context: ChannelHandlerContext) {
        loopContext?.removeTCPSession(self)
        if !closed {
            closed = true
            timer.cancel()
            if let waiter, let backend { _ = backend.cancel(waiter); waiter.onGrant = nil }
            if let server, let backend { self.server = nil; backend.release(server) }
            serverChannel?.close(promise: nil)
            serverSide?.session = nil
        }
        stickStream?.end()
        stickSession?.end()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if frontend.stick == nil, !frontend.switches.isEmpty, let be = TCPInspection.chooseBackend(frontend, TCPPayloadSource(
            counters: nil, base: rulesBase(context), data: [], probe: nil)) {
            backend = be
        }
        var contentRejected = false
        if let stick = frontend.stick {
            switch startStick(stick, context: context) {
            case .accepted: break
            case .connectionRejected:
                // Rejected by a `tcp-request connection|session` rule: reset without a word (and not logged).
                closed = true
                context.channel.closeWithReset()
                return
            case .contentRejected: contentRejected = true
            }
        }
        loopContext?.addTCPSession(self)
        localPort = context.channel.localAddress?.port
        if let logger {
            if logger.connectionOnly {
                logger.logConnect(client: context.channel.remoteAddress, local: context.channel.localAddress, frontend: frontend.name)
            } else {
                let now = NIODeadline.now()
                xlog = ExchangeLog(now: now)
                xlog!.requestStart = now
                xlog!.requestCounter = ProxyLogger.requestCounter.loadThenWrappingIncrement(ordering: .relaxed)
            }
        }
        if contentRejected {
            rejectByContentRule(beforeReading: true)
            return
        }
        guard backend != nil || inspection != nil else {
            context.close(promise: nil)
            return
        }
        touch()
        if inspection != nil {
            let delay = frontend.inspectDelay!
            context.eventLoop.scheduleTask(in: delay) { self.inspect(final: true) }
            // A first pass before any byte: rules that do not read them decide at once.
            inspect(final: false)
            return
        }
        assign(avoid: nil)
    }

    private func rulesBase(_ context: ChannelHandlerContext) -> LogRecord {
        LogRecord.forRules(client: context.channel.remoteAddress, local: context.channel.localAddress,
                           frontend: frontend.name, requestLine: nil)
    }

    /// The content rules on the bytes held so far (TCPInspection.swift); once they accept,
    /// `use_backend` and the stick rules read the same bytes and the server is chosen.
    private func inspect(final: Bool) {
        guard let ins = inspection, !closed, let stick = frontend.stick else { return }
        let base = rulesBase(context)
        let outcome = ins.run(stick.contentRules, stream: stickStream, tables: stick.tables, base: base, variables: variables,
                              final: final || ins.isFull)
        switch outcome {
        case .wait:
            return
        case .reject:
            inspection = nil
            rejectByContentRule(beforeReading: ins.data.isEmpty)
        case .accept:
            inspection = nil
            let source = ins.source(stream: stickStream, tables: stick.tables, base: base, variables: variables)
            if let be = TCPInspection.chooseBackend(frontend, source) { backend = be }
            guard let backend else { closeAll(); return }
            if let rules = backend.stick {
                var b = base
                b.backendName = backend.name
                let (server, stores) = rules.evaluate(ins.source(stream: stickStream, tables: stick.tables, base: b,
                                                                 variables: variables))
                stickX = StickExchange(server: server, stores: stores)
            }
            assign(avoid: nil)
        }
    }

    /// `tcp-request content reject`: closed, and logged as haproxy does (`PR`, no backend, no server).
    private func rejectByContentRule(beforeReading: Bool = false) {
        backend = nil
        termination = ("P", "R")
        guard beforeReading else {
            closeAll()
            return
        }
        // Rejected before reading anything: haproxy reads what has already arrived before it
        // closes (the client sees a close, not a reset). Logged and shut now, closed once the
        // bytes in flight are read (or soon after).
        logSession()
        context.close(mode: .output, promise: nil)
        drainingAfterReject = true
        context.eventLoop.scheduleTask(in: .milliseconds(50)) { self.closeAll() }
    }

    enum StickStart { case accepted, connectionRejected, contentRejected }

    /// `tcp-request connection|content` rules and `stick` rules.
    private func startStick(_ stick: FrontendStick, context: ChannelHandlerContext) -> StickStart {
        let session = StickSession(stick)
        stickSession = session
        if stick.usesVariables { variables = VariableStore() }
        guard session.accept(client: context.channel.remoteAddress, local: context.channel.localAddress,
                             variables: variables) else { return .connectionRejected }
        let stream = session.stream()
        stickStream = stream
        if frontend.inspectDelay != nil && !stick.contentRules.isEmpty {
            inspection = TCPInspection(limit: frontend.http.limits.maxHeadSize)
            return .accepted
        }
        var base = LogRecord.forRules(client: context.channel.remoteAddress, local: context.channel.localAddress,
                                      frontend: frontend.name, requestLine: nil)
        guard stream.runContentRules(base: base, variables: variables) else { return .contentRejected }
        // `use_backend` after the content rules (they may set the variables it reads).
        if !frontend.switches.isEmpty, let be = TCPInspection.chooseBackend(frontend, TCPPayloadSource(
            counters: StickRuleRunner.Source(base: base, slots: stream.slots, tables: stick.tables, variables: variables),
            base: base, data: [], probe: nil, variables: variables)) {
            backend = be
        }
        if let backend, let rules = backend.stick {
            base.backendName = backend.name
            let source = StickRuleRunner.Source(base: base, slots: stream.slots, tables: stick.tables)
            let (server, stores) = rules.evaluate(source)
            stickX = StickExchange(server: server, stores: stores)
        }
        return .accepted
    }

    private func assign(avoid: Int?) {
        guard let backend else { return }
        let key = backend.config.balance.isHashBased ? context.channel.remoteAddress.flatMap(addressBytes) : nil
        xlog?.assigned = true
        if avoid != nil { xlog?.redispatched = true }
        // `stick match|on`: the server the key stuck to, while it can serve.
        let stuck = avoid == nil ? stickX?.server.flatMap { backend.assign(server: $0, loop: context.eventLoop) } : nil
        switch stuck ?? backend.assign(key: key, avoid: avoid, loop: context.eventLoop) {
        case .server(let s):
            server = s
            connect()
        case .queued(let w):
            waiter = w
            if xlog != nil { xlog!.queueStart = .now() }
            w.onGrant = { s in
                guard !self.closed else { backend.release(s); return }
                if self.xlog != nil { self.xlog!.queueEnd = .now() }
                self.waiter = nil
                self.server = s
                self.connect()
            }
            let deadline = NIODeadline.now() + backend.queueTimeout
            context.eventLoop.scheduleTask(deadline: deadline) {
                guard let waiter = self.waiter else { return }
                if backend.cancel(waiter) { self.waiter = nil; self.termination = ("s", "Q"); self.closeAll() }
            }
        case .noServer:
            termination = ("S", "C")
            closeAll()
        }
    }

    private func connect() {
        guard let server, let backend, !closed else { return }
        attempts += 1
        if xlog != nil {
            xlog!.connectStart = .now()
            xlog!.retries = attempts - 1
            xlog!.serverName = server.name
            xlog!.serverText = server.addressText
        }
        let side = TCPServerSide()
        side.session = self
        Connector.connectRaw(server: server, loop: context.eventLoop, clientLocalPort: localPort,
                             timeout: backend.connectTimeout, handler: side)
            .hop(to: context.eventLoop)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    server.observe(.connected)
                    if self.xlog != nil {
                        self.xlog!.connectEnd = .now()
                        self.xlog!.backendSource = channel.localAddress.map { ($0.ipAddress ?? "-", $0.port ?? 0) }
                    }
                    guard !self.closed else { channel.close(promise: nil); return }
                    if let x = self.stickX, let stick = backend.stick {
                        stick.store(x.stores, server: server.index)
                        self.stickX = nil
                    }
                    self.serverSide = side
                    self.serverChannel = channel
                    for b in self.pending { channel.write(b, promise: nil) }
                    self.pending.removeAll()
                    channel.flush()
                    if self.clientInputClosed { channel.close(mode: .output, promise: nil) }
                    self.setClientReading(true)
                    if let rules = backend.tcpResponse { self.startResponseInspection(rules) }
                case .failure:
                    server.observe(.connectFailed)
                    self.connectFailed()
                }
            }
    }

    private func connectFailed() {
        guard let backend, let server, !closed else { return }
        if attempts > backend.config.retries {
            backend.release(server)
            self.server = nil
            termination = ("S", "C")
            closeAll()
            return
        }
        if backend.shouldRedispatch(afterAttempt: attempts) {
            backend.release(server)
            self.server = nil
            assign(avoid: server.index)
            return
        }
        let delay = min(backend.connectTimeout, .seconds(1))
        context.eventLoop.scheduleTask(in: delay) { self.connect() }
    }

    /// The backend's `tcp-response` rules from the connection's establishment on (TCPInspection.swift).
    private func startResponseInspection(_ rules: TCPResponseRules) {
        if rules.usesVariables && variables == nil { variables = VariableStore() }
        responseInspection = TCPResponseInspection(limit: frontend.http.limits.maxHeadSize)
        guard let delay = rules.delay else {
            // Without a delay the rules run once, on what is there (nothing yet).
            inspectResponse(final: true)
            return
        }
        context.eventLoop.scheduleTask(in: delay) { self.inspectResponse(final: true) }
        // Rules that do not read the response decide at once.
        inspectResponse(final: false)
    }

    private func inspectResponse(final: Bool) {
        guard let ins = responseInspection, !closed, let backend, let rules = backend.tcpResponse else { return }
        var base = rulesBase(context)
        base.backendName = backend.name
        if let server { base.serverName = server.name }
        let outcome = ins.run(rules, base: base, variables: variables, stream: stickStream, final: final || ins.isFull)
        switch outcome {
        case .wait:
            return
        case .reject:
            // Both sides aborted; haproxy logs it as a proxy condition during the data phase.
            responseInspection = nil
            termination = ("P", "D")
            closeAll()
        case .accept, .close:
            responseInspection = nil
            for b in ins.held { context.write(wrapOutboundOut(b), promise: nil) }
            context.flush()
            if !context.channel.isWritable { setServerReading(false) }
            guard case .close = outcome else {
                if serverEOF { context.close(mode: .output, promise: nil); if clientInputClosed { closeAll() } }
                return
            }
            // `close`: the server connection is reset at once, what was held is forwarded.
            serverChannel?.closeWithReset()
            closeAll()
        }
    }

    // Client side.

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if drainingAfterReject { closeAll(); return }
        touch()
        if xlog != nil { xlog!.bytesIn += Int64(buffer.readableBytes) }
        if inspection != nil {
            inspection!.append(buffer)
            pending.append(buffer)
            pendingBytes += buffer.readableBytes
            inspect(final: false)
            return
        }
        if let serverChannel { serverChannel.write(buffer, promise: nil) } else {
            pending.append(buffer)
            pendingBytes += buffer.readableBytes
            if pendingBytes > 65536 { setClientReading(false) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard let serverChannel else { return }
        serverChannel.flush()
        if !serverChannel.isWritable { setClientReading(false) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { setServerReading(true) }
    }

    private func setClientReading(_ on: Bool) {
        guard clientPaused == on, !closed else { return }
        clientPaused = !on
        context.channel.setOption(.autoRead, value: on).whenComplete { _ in }
    }

    private func setServerReading(_ on: Bool) {
        guard serverPaused == on, let serverChannel else { return }
        serverPaused = !on
        serverChannel.setOption(.autoRead, value: on).whenComplete { _ in }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return }
        clientInputClosed = true
        touch()
        if inspection != nil { inspect(final: true) }
        serverChannel?.close(mode: .output, promise: nil)
        if serverEOF { closeAll() }
    }

    func channelInactive(context: ChannelHandlerContext) { closeAll() }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { closeAll() }

    // Server side.

    func serverRead(_ buffer: ByteBuffer) {
        touch()
        if xlog != nil { xlog!.bytesOut += Int64(buffer.readableBytes) }
        if responseInspection != nil {
            responseInspection!.append(buffer)
            inspectResponse(final: false)
            return
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func serverReadComplete() {
        if responseInspection != nil { return }
        context.flush()
        if !context.channel.isWritable { setServerReading(false) }
    }

    func serverWritabilityChanged() {
        if let serverChannel, serverChannel.isWritable { setClientReading(true) }
    }

    func serverInputClosed() {
        serverEOF = true
        touch()
        if responseInspection != nil {
            // The server said all it will: the rules decide on what is held.
            inspectResponse(final: true)
            return
        }
        context.close(mode: .output, promise: nil)
        if clientInputClosed { closeAll() }
    }

    func serverClosed() {
        serverChannel = nil
        closeAll()
    }

    private func closeAll() {
        guard !closed else { return }
        logSession()
        closed = true
        timer.cancel()
        if let waiter, let backend { _ = backend.cancel(waiter); waiter.onGrant = nil }
        if let server, let backend { self.server = nil; backend.release(server) }
        serverChannel?.close(promise: nil)
        serverSide?.session = nil
        stickStream?.end()
        stickSession?.end()
        context.close(promise: nil)
    }

    /// The tcplog line, once, when the session ends.
    private func logSession() {
        guard let logger, var x = xlog else { return }
        xlog = nil
        if logger.dontLogNull && x.bytesIn == 0 && x.bytesOut == 0 { return }
        if logger.droppedWhileStalled(isError: termination.0 != "-") { return }
        let now = NIODeadline.now()
        x.status = 0  // haproxy prints %ST as 0 in TCP mode
        var r = x.httpRecord(now: now, termination: termination, client: context.channel.remoteAddress,
                             local: context.channel.localAddress, frontend: frontend, backend: backend, logAsap: false)
        r.tt = ExchangeLog.ms(x.accept, now)
        logger.fillCounters(&r, frontend: frontend, backend: backend, server: server, leaving: true)
        LogSampleSource.fill(&r, logger.sampleExpressions, variables: variables)
        stickStream?.fillLog(&r, logger.sampleExpressions)
        logger.log(r, isError: termination.0 != "-")
    }

    /// Inactivity: `timeout client`/`timeout server` (the shorter), or `timeout tunnel`. Once the
    /// proxy has shut its side toward the client (the server finished), waiting on the client is
    /// bounded by `timeout client-fin`; the mirror case by `timeout server-fin` (HAProxy's meaning).
    private func touch() {
        let t = backend?.config.timeouts
        let fe = frontend.config.timeouts
        var candidates = [fe.client, t?.server].compactMap { $0 }
        if let tunnel = t?.tunnel { candidates = [tunnel] }
        if serverEOF, let fin = fe.clientFin { candidates.append(fin) }
        if clientInputClosed, let fin = t?.serverFin { candidates.append(fin) }
        guard let shortest = candidates.min(), let context else { return }
        if timer.set(.now() + shortest.timeAmount) { timer.schedule(on: context.eventLoop) { self.timerFired() } }
    }

    private func timerFired() {
        guard timer.firedAndExpired(on: context.eventLoop, fire: { self.timerFired() }) else { return }
        if termination == ("-", "-") {
            // HAProxy blames the side it was waiting for: the client when it had nothing to send.
            termination = serverChannel == nil ? ("s", "C") : (clientInputClosed ? ("s", "D") : ("c", "D"))
        }
        closeAll()
    }
}
