import HAProxyConfig
import HTTP1
import HealthChecks
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Where state-change messages go (stderr now; the logging work adds syslog).
public protocol HealthEventSink: Sendable {
    func warning(_ message: String)
    func alert(_ message: String)
}

/// Runs the checks of every `check` server: one timer per server on an event loop, started
/// spread over the interval, probing with NIO and feeding HAProxy's health state machine.
final class HealthChecker: @unchecked Sendable {
    private var checks: [ServerCheck] = []

    init(backends: [BackendRuntime], group: any EventLoopGroup, global: GlobalSettings, sink: any HealthEventSink,
         loopContexts: [LoopContext] = []) {
        for backend in backends {
            for server in backend.servers where server.config.check.enabled && !server.config.disabled {
                let check = ServerCheck(backend: backend, server: server, loop: group.next(),
                                        spreadPercent: global.spreadChecks, sink: sink, loopContexts: loopContexts)
                if server.config.check.observe != nil {
                    server.trafficObserver = { [weak check] event in check?.observe(event) }
                }
                checks.append(check)
            }
        }
    }

    func start() {
        guard !checks.isEmpty else { return }
        // HAProxy starts the checks as far from each other as possible over the smallest
        // starting interval (fastinter while a server's health is not at its maximum).
        let mininter = checks.map(\.startInterval).min()!
        let delays = CheckSpread.initialDelays(count: checks.count, interval: mininter)
        for (check, delay) in zip(checks, delays) { check.start(after: delay.timeAmount) }
    }

    func stop() {
        for check in checks { check.stop() }
    }
}

/// The checks of one server.
final class ServerCheck: @unchecked Sendable {
    let backend: BackendRuntime
    let server: ServerRuntime
    let loop: any EventLoop
    let sink: any HealthEventSink
    let settings: CheckSettings
    let inter: Duration
    private var health: ServerHealth
    private var scheduled: Scheduled<Void>?
    private var stopped = false
    private let spreadPercent: Int
    private var generator = SystemRandomNumberGenerator()

    let loopContexts: [LoopContext]
    private var observer: TrafficObserver?
    private var probing = false
    private var nextRunAt: NIODeadline?

    init(backend: BackendRuntime, server: ServerRuntime, loop: any EventLoop, spreadPercent: Int, sink: any HealthEventSink,
         loopContexts: [LoopContext] = []) {
        self.loopContexts = loopContexts
        if let mode = server.config.check.observe {
            observer = TrafficObserver(mode: mode, limit: server.config.check.errorLimit, action: server.config.check.onError)
        }
        self.backend = backend
        self.server = server
        self.loop = loop
        self.sink = sink
        self.settings = server.config.check
        self.inter = server.config.check.inter
        self.spreadPercent = spreadPercent
        self.health = ServerHealth(rise: settings.rise, fall: settings.fall)
    }

    var startInterval: Duration {
        health.interval(inter: inter, fastinter: settings.fastinter, downinter: settings.downinter)
    }

    func start(after delay: TimeAmount) {
        loop.execute { self.schedule(in: delay) }
    }

    private func schedule(in delay: TimeAmount) {
        nextRunAt = .now() + delay
        scheduled = loop.scheduleTask(in: delay) { self.run() }
    }

    /// `observe`: a live traffic event (from any loop).
    func observe(_ event: TrafficEvent) {
        // The reporting session still holds its slot: count it now, as HAProxy's message does.
        let sessions = backend.servedCount(server.index)
        loop.execute { self.handleTraffic(event, sessions: sessions) }
    }

    private func handleTraffic(_ event: TrafficEvent, sessions: Int) {
        guard !stopped, observer != nil, let (action, info) = observer!.record(event) else { return }
        // HAProxy's health_adjust(): the action, then the next check no later than fastinter.
        let outcome = CheckOutcome(passed: false, status: .hana, info: info, durationMilliseconds: -1)
        if action != .fastinter {
            let transition = health.apply(action)
            if backend.config.logHealthChecks {
                say(.notice, HealthMessages.checkResult(backend: backend.name, server: server.name, isBackup: server.config.backup,
                                                        outcome: outcome, health: health))
            }
            lastStatus = .hana
            if transition == .wentDown { reportDown(outcome, sessions: sessions) }
        }
        if let fast = settings.fastinter, !probing, let nextRunAt, nextRunAt > .now() + fast.timeAmount {
            scheduled?.cancel()
            schedule(in: fast.timeAmount)
        }
    }

    func stop() {
        loop.execute {
            self.stopped = true
            self.scheduled?.cancel()
            self.ramp?.cancel()
        }
    }

    /// Total time a check may take: `timeout check` bounds the reply once connected (with
    /// `timeout connect` for the connection); without it, `inter` bounds both (HAProxy's rule).
    private var connectTimeout: TimeAmount {
        if backend.config.timeouts.check != nil { return backend.connectTimeout }
        return min(backend.connectTimeout, inter.timeAmount)
    }

    private var replyTimeout: TimeAmount {
        (backend.config.timeouts.check ?? inter).timeAmount
    }

    private func run() {
        guard !stopped else { return }
        probing = true
        let started = NIODeadline.now()
        let proto = backend.config.healthCheck
        Probe.run(protocol: proto, server: server, checkPort: settings.port, checkAddress: settings.addr,
                  loop: loop, connectTimeout: connectTimeout, replyTimeout: replyTimeout)
            .whenSuccess { outcome in
                var outcome = outcome
                outcome.durationMilliseconds = Int((NIODeadline.now() - started).nanoseconds / 1_000_000)
                self.apply(outcome)
            }
    }

    private func apply(_ outcome: CheckOutcome) {
        probing = false
        guard !stopped else { return }
        let before = health
        let transition = health.record(outcome.passed)
        if backend.config.logHealthChecks && (health.health != before.health || outcome.status != lastStatus) {
            say(.notice, HealthMessages.checkResult(backend: backend.name, server: server.name, isBackup: server.config.backup,
                                                    outcome: outcome, health: health))
        }
        lastStatus = outcome.status
        if let transition {
            switch transition {
            case .wentDown: reportDown(outcome)
            case .wentUp: reportUp(outcome)
            }
        }
        var next = health.interval(inter: inter, fastinter: settings.fastinter, downinter: settings.downinter)
        // `spread-checks`: ±percent of random jitter, as HAProxy.
        next = CheckSpread.jittered(next, percent: spreadPercent, unit: Double.random(in: 0..<1, using: &generator))
        schedule(in: next.timeAmount)
    }

    private func reportDown(_ outcome: CheckOutcome, sessions: Int? = nil) {
        ramp?.cancel()
        rampStarted = nil
        let counts = backend.setServerUsable(server.index, false)
        say(.alert, HealthMessages.serverDown(
            backend: backend.name, server: server.name, isBackup: server.config.backup,
            outcome: backend.config.logHealthChecks ? nil : outcome, activeLeft: counts.active, backupLeft: counts.backup, sessionsActive: sessions ?? backend.servedCount(server.index),
            requeued: 0, remainingInQueue: backend.queueLength))
        if settings.shutdownSessionsOnDown { shutdownSessions(of: [server.globalIndex]) }
        if counts.active == 0 && counts.backup == 0 {
            let kind = backend.config.kind == .listen ? "proxy" : "backend"
            sink.alert(HealthMessages.noServerAvailable(backend: backend.name, kind: kind))
            // The syslog line has no quotes (HAProxy's send_log wording).
            backend.logger?.event("\(kind) \(backend.name) has no server available!", level: .emerg)
        }
    }

    private var lastStatus: CheckStatus?

    /// A state message: stderr (as haproxy's warnings) and the backend's log targets.
    private func say(_ level: SyslogLevel, _ message: String) {
        sink.warning(message)
        backend.logger?.event(message, level: level)
    }

    private func shutdownSessions(of servers: Set<Int>) {
        guard !servers.isEmpty else { return }
        for context in loopContexts {
            context.eventLoop.execute { context.shutdownSessions(servers: servers) }
        }
    }
    private var rampStarted: NIODeadline?
    private var ramp: Scheduled<Void>?

    /// `slowstart`: after coming back UP, the weight grows linearly over the period, recomputed
    /// every max(1 s, slowstart/20) as HAProxy does.
    private func startRamp() {
        guard let slowstart = settings.slowstart, slowstart > .zero else { return }
        rampStarted = .now()
        stepRamp(period: slowstart.timeAmount)
    }

    private func stepRamp(period: TimeAmount) {
        guard !stopped, health.isUp, let rampStarted else { return }
        let elapsed = NIODeadline.now() - rampStarted
        let fraction = Double(elapsed.nanoseconds) / Double(period.nanoseconds)
        guard backend.setWeightFraction(server.index, fraction), fraction < 1 else {
            self.rampStarted = nil
            return
        }
        let step = max(TimeAmount.seconds(1), TimeAmount.nanoseconds(period.nanoseconds / 20))
        ramp = loop.scheduleTask(in: step) { self.stepRamp(period: period) }
    }

    private func reportUp(_ outcome: CheckOutcome) {
        if settings.slowstart != nil {
            backend.setWeightFraction(server.index, 0)
            startRamp()
        }
        let counts = backend.setServerUsable(server.index, true)
        if settings.shutdownBackupSessionsOnUp && !server.config.backup {
            shutdownSessions(of: Set(backend.servers.filter(\.config.backup).map(\.globalIndex)))
        }
        say(.notice, HealthMessages.serverUp(
            backend: backend.name, server: server.name, isBackup: server.config.backup,
            outcome: backend.config.logHealthChecks ? nil : outcome, activeOnline: counts.active, backupOnline: counts.backup, requeued: 0, totalInQueue: backend.queueLength))
    }
}

/// One check connection: connects, then speaks the check protocol, and always ends in an outcome.
enum Probe {
    static func run(protocol proto: HealthCheckProtocol, server: ServerRuntime, checkPort: Int?, checkAddress: String?,
                    loop: any EventLoop, connectTimeout: TimeAmount, replyTimeout: TimeAmount) -> EventLoopFuture<CheckOutcome> {
        guard var address = server.address else {
            return loop.makeSucceededFuture(CheckOutcome(passed: false, status: .sockerr, info: "no address", durationMilliseconds: 0))
        }
        if let checkAddress, let a = try? SocketAddress.makeAddressResolvingHost(checkAddress, port: checkPort ?? server.config.port ?? 0) {
            address = a
        } else if let port = checkPort ?? server.config.port, let ip = address.ipAddress,
                  let a = try? SocketAddress(ipAddress: ip, port: port) {
            address = a
        }
        let runner: TCPCheckRunner? = {
            switch proto {
            case .layer4, .http: return nil
            default: return TCPCheckRunner(protocol: proto)
            }
        }()
        if let port = runner?.initialConnectPort, let ip = address.ipAddress, let a = try? SocketAddress(ipAddress: ip, port: port) {
            address = a
        }
        let context = runner?.errorContext ?? ""
        let promise = loop.makePromise(of: CheckOutcome.self)
        let handler = ProbeHandler(protocol: proto, runner: runner, host: server.config.host, promise: promise)
        // Checks of an `ssl` server are made over TLS unless they go to another port or address
        // (`check-ssl` forces it, `no-check-ssl` prevents it), as HAProxy.
        let options = server.config.options
        let checkTLS = server.tls != nil && !options.contains("no-check-ssl")
            && (options.contains("check-ssl") || (checkPort == nil && checkAddress == nil))
        let tls = checkTLS ? server.tls : nil
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandler(to: channel)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // The reply must come within the check timeout.
                    let timer = loop.scheduleTask(in: replyTimeout) { handler.timedOut(channel) }
                    promise.futureResult.whenComplete { _ in timer.cancel(); channel.close(promise: nil) }
                case .failure(let error):
                    var outcome = connectFailure(error)
                    if !context.isEmpty { outcome.info = (outcome.info ?? "") + context }
                    promise.succeed(outcome)
                }
            }
        return promise.futureResult
    }

    static func connectFailure(_ error: any Error) -> CheckOutcome {
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return CheckOutcome(passed: false, status: .l4tout, info: nil, durationMilliseconds: 0)
        }
        if let io = error as? IOError {
            return CheckOutcome(passed: false, status: .l4con, info: String(cString: strerror(io.errnoCode)), durationMilliseconds: 0)
        }
        return CheckOutcome(passed: false, status: .l4con, info: "\(error)", durationMilliseconds: 0)
    }
}

/// Drives one check conversation on a connected channel.
final class ProbeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let proto: HealthCheckProtocol
    let host: String
    let promise: EventLoopPromise<CheckOutcome>
    private var received: [UInt8] = []
    private var script: TCPCheckRunner?
    private let initialRunner: TCPCheckRunner?
    private var finished = false

    init(protocol proto: HealthCheckProtocol, runner: TCPCheckRunner?, host: String, promise: EventLoopPromise<CheckOutcome>) {
        self.proto = proto
        self.initialRunner = runner
        self.host = host
        self.promise = promise
    }

    private func finish(_ outcome: CheckOutcome) {
        guard !finished else { return }
        finished = true
        promise.succeed(outcome)
    }

    func channelActive(context: ChannelHandlerContext) {
        switch proto {
        case .layer4:
            finish(CheckOutcome(passed: true, status: .l4ok, info: nil, durationMilliseconds: 0))
        case .http(let settings):
            let request = HTTPCheckEvaluation.request(settings, host: host)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: request)), promise: nil)
        default:
            script = initialRunner ?? TCPCheckRunner(protocol: proto)
            advance(context: context, step: script!.next())
        }
    }

    /// Runs script steps until one needs bytes from the server.
    private func advance(context: ChannelHandlerContext, step: TCPCheckStep?) {
        var step = step
        while let current = step {
            switch current {
            case .connect:
                // Already connected (a connect rule to another port is not supported yet: treated as this one).
                step = script!.next()
            case .send(let bytes):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
                step = script!.next()
            case .expect:
                if !received.isEmpty {
                    let pending = received
                    received = []
                    step = script!.received(pending, closed: false)
                } else {
                    step = nil
                }
            case .done(let outcome):
                finish(outcome)
                step = nil
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.append(contentsOf: buffer.readableBytesView)
        if script != nil {
            let pending = received
            received = []
            advance(context: context, step: script!.received(pending, closed: false))
        } else if case .http = proto {
            evaluateHTTP(closed: false)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { serverClosed(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        serverClosed(context: context)
    }

    private func serverClosed(context: ChannelHandlerContext) {
        guard !finished else { return }
        if script != nil {
            let pending = received
            received = []
            advance(context: context, step: script!.received(pending, closed: true))
            if !finished {
                finish(CheckOutcome(passed: false, status: .l7rsp, info: "TCPCHK got an empty response\(script!.errorContext)",
                                    durationMilliseconds: 0))
            }
        } else if case .http = proto {
            evaluateHTTP(closed: true)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        var info = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
        if let script { info += script.errorContext }
        finish(CheckOutcome(passed: false, status: .sockerr, info: info, durationMilliseconds: 0))
        context.close(promise: nil)
    }

    func timedOut(_ channel: any Channel) {
        let status: CheckStatus = { if case .layer4 = proto { return .l4tout } else { return .l7tout } }()
        let context = script?.errorContext ?? ""
        finish(CheckOutcome(passed: false, status: status, info: context.isEmpty ? nil : String(context.dropFirst()),
                            durationMilliseconds: 0))
    }

    /// An HTTP check completes at the end of the response (or when the server closes).
    private func evaluateHTTP(closed: Bool) {
        guard case .http(let settings) = proto else { return }
        var head = MessageHead()
        let outcome: Result<ParseOutcome, ParseError> = received.withUnsafeBytes { raw in
            do throws(ParseError) { return .success(try HTTP1Parser.parseResponse(raw, into: &head, limits: ParseLimits())) } catch { return .failure(error) }
        }
        switch outcome {
        case .failure:
            finish(CheckOutcome(passed: false, status: .l7rsp, info: nil, durationMilliseconds: 0))
        case .success(.incomplete):
            if closed { finish(CheckOutcome(passed: false, status: .l7rsp, info: nil, durationMilliseconds: 0)) }
        case .success(.complete):
            let bodyAvailable = received.count - head.length
            let needsBody = settings.expects.contains { $0.kind == .string || $0.kind == .rstring }
            if needsBody && !closed {
                if let length = head.contentLength, bodyAvailable < Int(length) { return }
                if head.contentLength == nil { return }  // wait for the close
            }
            let reasonStart = min(received.count, 13)
            let lineEnd = received[reasonStart...].firstIndex(of: 13) ?? reasonStart
            let reason = String(decoding: received[reasonStart..<lineEnd], as: UTF8.self)
            let body = Array(received[head.length...])
            finish(HTTPCheckEvaluation.evaluate(status: head.status, reason: reason, body: body, expects: settings.expects))
        }
    }
}

/// Drops the messages (`-q`).
public struct SilentHealthSink: HealthEventSink {
    public init() {}
    public func warning(_ message: String) {}
    public func alert(_ message: String) {}
}

/// Writes state changes the way haproxy does on stderr: `[WARNING]  (pid) : Server be/s1 is DOWN, ...`.
public struct StderrHealthSink: HealthEventSink {
    public init() {}
    public func warning(_ message: String) { write("[WARNING]  (\(getpid())) : \(message)\n") }
    public func alert(_ message: String) { write("[ALERT]    (\(getpid())) : \(message)\n") }
    private func write(_ s: String) {
        var s = s
        s.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
    }
}
