import Balancing
import HAProxyConfig
import HTTP1
import HealthChecks
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import Samples

/// One client HTTP/2 stream (`bind ... proto h2`): a request balanced on its own (round robin per
/// request even on one client connection, as HAProxy), carried to an h2 server on a stream of a
/// shared server connection, with frames passed through as they come — headers, data and trailers
/// (gRPC's status lives there) — and flow control end to end: the client's window for the stream
/// is given back only while the server side can take more (and the server's only while the client
/// stream can), so a slow reader holds the peer's HTTP/2 window instead of filling the proxy's
/// memory. A plain object kept by its `H2ClientConnection` (no stream channel).
final class H2StreamSession: @unchecked Sendable {
    enum Phase { case waitingHeaders, assigning, queued, connecting, exchanging, tarpit, done }

    let frontend: FrontendRuntime
    let loopContext: LoopContext
    let connection: H2ClientConnection
    let streamID: HTTP2StreamID
    private let eventLoop: any EventLoop
    private let logger: ProxyLogger?
    private var phase = Phase.waitingHeaders
    /// The client's stream is closed (or its connection gone): nothing more is written to it.
    private var closed = false

    private var backend: BackendRuntime?
    private var server: ServerRuntime?
    private var waiter: QueueWaiter?
    private var connectAttempts = 0
    private var serverConnection: H2ServerConnection?
    private var upstream: (any StreamUpstream)?

    /// Request frames received before the server stream was open.
    private var pending: [HTTP2Frame.FramePayload] = []
    /// Request frames already sent, kept (up to `replayLimit` bytes of DATA) until the response
    /// starts: a stream the server refused unprocessed (GOAWAY, REFUSED_STREAM) is sent again.
    private var sent: [HTTP2Frame.FramePayload] = []
    private var sentBytes = 0
    private var replayable = true
    private static let replayLimit = 64 * 1024
    private var requestHeaders = HPACKHeaders()
    private var requestEnded = false
    private var responseStarted = false
    private var responseEnded = false
    /// What the `http-request` header rules did to the request.
    private var edits = HeaderEdits()
    /// The request's stick counters and the `stick` rules' decision (nil without stick tables).
    private var stickStream: StickStream?
    private var stickX: StickExchange?
    /// `use-server`: the server a rule chose, and whether it is forced.
    private var useServerX: (index: Int, force: Bool)?
    /// `force-persist` matched (no redispatch) / `ignore-persist` matched.
    private var forcedPersist = false
    private var ignorePersist = false
    /// Cookie persistence of the exchange (backends with `cookie`).
    private var cookieX: CookieExchange?
    private var clientNeedsFlush = false
    private var timer = LazyTimer()
    /// The stream's variables (set-var), made when rules run.
    private var variables: VariableStore?
    /// set-log-level / set-timeout of this stream's rules (ExchangeOverrides.swift).
    private var overrides = ExchangeOverrides()
    /// This stream's capture slots, when the frontend has some (Captures.swift).
    private var captureStore: CaptureStore?
    /// What a tarpitted request answers when `timeout tarpit` ends.
    private var tarpitEnd: (() -> Void)?
    /// `option http-buffer-request` / `wait-for-body`: the wait, and the body held for the rules
    /// (its DATA frames wait in `pending` for the server).
    private var bodyWait: BodyWaitState?
    private var heldBody: BufferedBody?
    private var xlog: ExchangeLog?
    /// Flow control of the client's stream.
    var flow: H2StreamFlow
    /// Read in the current read of the client connection (gets `readComplete`).
    var inReadList = false
    /// `isWritable` said no: tell the upstream when the stream can take more.
    var wantsWritable = false

    init(frontend: FrontendRuntime, loopContext: LoopContext, connection: H2ClientConnection, streamID: HTTP2StreamID,
         flow: H2StreamFlow) {
        self.frontend = frontend
        self.loopContext = loopContext
        self.connection = connection
        self.streamID = streamID
        self.eventLoop = loopContext.eventLoop
        self.logger = frontend.logger
        self.flow = flow
        if logger != nil { xlog = ExchangeLog(now: .now()) }
    }

    // MARK: client stream events (from the connection)

    /// The stream closed: both ends done, reset either way, or the connection gone (`reason`
    /// nil: closed cleanly, which happens while our END_STREAM is being written, before `finish`).
    func streamClosed(reason: HTTP2ErrorCode?) {
        guard !closed else { return }
        closed = true
        if phase != .done && !(reason == nil && responseEnded) {
            abort(clientAbortTermination)
            timer.cancel()
        }
    }

    func received(_ payload: HTTP2Frame.FramePayload) {
        switch payload {
        case .headers(let h):
            if phase == .waitingHeaders && bodyWait == nil {
                requestHeaders = h.headers
                requestEnded = h.endStream
                if !requestEnded, let policy = frontend.bodyWait, holdForBody(policy) { return }
                startRequest()
            } else if bodyWait != nil {
                // Trailers end the body being waited for.
                if h.endStream { requestEnded = true }
                pending.append(payload)
                bodyArrived()
            } else {
                if h.endStream { requestEnded = true }
                forwardToServer(payload)
            }
        case .data(let d):
            let length = d.data.readableBytes
            if xlog != nil { xlog!.bytesIn += Int64(length) }
            if d.endStream { requestEnded = true }
            if bodyWait != nil {
                heldBody!.take(d.data, room: bodyWait!.room)
                pending.append(payload)
            } else {
                forwardToServer(payload)
            }
            // The client's window comes back once the server side took the data.
            let canForward = phase == .done || (upstream?.isWritable ?? false)
            if let increment = flow.received(length + (d.paddingBytes.map { $0 + 1 } ?? 0), canForward: canForward),
               !requestEnded, !closed {
                connection.write(HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: increment)))
                connection.needsFlush = true
            }
            if bodyWait != nil { bodyArrived() }
        case .rstStream:
            // The client cancelled: the server's stream is cancelled too.
            abort(clientAbortTermination)
        default:
            break
        }
    }

    func readComplete() {
        upstream?.flush()
    }

    /// The client stream can take more (its window or the connection's socket).
    func writableAgain() {
        guard wantsWritable else { return }
        wantsWritable = false
        upstream?.resumeReading()
    }

    var isWritable: Bool {
        if !closed, flow.canSend, connection.isWritable { return true }
        wantsWritable = true
        return false
    }

    private func write(_ payload: HTTP2Frame.FramePayload) {
        guard !closed else { return }
        if case .data(let d) = payload { flow.sent(d.data.readableBytes) }
        connection.write(HTTP2Frame(streamID: streamID, payload: payload))
    }

    private func flush() {
        connection.flush()
    }

    /// HAProxy's termination state when the client goes away: C and where the stream was.
    private var clientAbortTermination: (Character, Character) {
        switch phase {
        case .waitingHeaders, .assigning: ("C", "R")
        case .queued: ("C", "Q")
        case .connecting: ("C", "C")
        case .tarpit: ("C", "T")
        case .exchanging, .done: responseStarted ? ("C", "D") : ("C", "H")
        }
    }

    /// The server side can take more: the client's window for the stream is given back.
    func resumeReading() {
        guard !closed, let increment = flow.release() else { return }
        connection.write(HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: increment)))
        connection.flush()
    }

    // MARK: request

    /// `option http-buffer-request` / `wait-for-body` (RequestBuffering.swift): true while the
    /// request waits for its body; the wait ends with the whole body, `at-least` bytes or a full
    /// buffer (then the rules run), or at its deadline (408).
    private func holdForBody(_ policy: BodyWaitPolicy) -> Bool {
        guard let (time, atLeast) = policy.wait(for: H2RequestView(headers: requestHeaders, base: ruleRecord())) else { return false }
        let length = requestHeaders.first(name: "content-length").flatMap { Int64($0) }
        bodyWait = BodyWaitState(deadline: time.map { .now() + $0 }, atLeast: atLeast, room: policy.room(h2: requestHeaders))
        heldBody = BufferedBody(bytes: [], size: length ?? -1)
        // A body announced empty is all there.
        if length == 0 { bodyWait = nil; return false }
        if let time { armTimeout(time, queue: false) }
        return true
    }

    private func bodyArrived() {
        guard let w = bodyWait, let body = heldBody, !closed else { return }
        let n = body.bytes.count
        // Done with the stream's end, the announced length, a full buffer or `at-least` bytes.
        guard requestEnded || (body.size >= 0 && n >= body.size) || n >= w.room || (w.atLeast > 0 && n >= w.atLeast) else { return }
        bodyWait = nil
        timer.disarm()
        startRequest()
    }

    private func startRequest() {
        phase = .assigning
        let method = requestHeaders.first(name: ":method") ?? "-"
        let path = requestHeaders.first(name: ":path") ?? "/"
        if xlog != nil {
            let now = NIODeadline.now()
            xlog!.startExchange(at: now)
            xlog!.headDone = now
            xlog!.requestCounter = ProxyLogger.requestCounter.loadThenWrappingIncrement(ordering: .relaxed)
            // haproxy 2.6 logs an h2 request's URI in absolute form when :authority is there.
            let uri = H2Translate.authority(requestHeaders).map { "\(requestHeaders.first(name: ":scheme") ?? "http")://\($0)\(path)" } ?? path
            xlog!.requestLine = "\(method) \(uri) HTTP/2.0"
            xlog!.bytesIn = Int64(H2Translate.htxSize(requestHeaders, startLine: method.utf8.count + path.utf8.count + 8))
            if let captures = logger?.requestCaptures, !captures.isEmpty {
                xlog!.requestCaptures = captures.map { c in
                    H2Translate.value(requestHeaders, c.name).map { String($0.prefix(c.length)) }
                }
            }
            captureStore = logger.flatMap { $0.hasCaptureSlots ? CaptureStore($0) : nil }
            if let c = logger?.cookieCapture {
                xlog!.requestCookie = capturedCookie(c, lines: requestHeaders["cookie"], response: false)
            }
        }
        var chosen = frontend.defaultBackend
        if let session = connection.stickSession {
            let stream = session.stream()
            stickStream = stream
            if session.config.usesVariables { variables = connection.makeVariableStore() }
            let base = ruleRecord()
            let message = session.config.contentRules.isEmpty ? nil
                : H2RequestView(headers: requestHeaders, base: base, userlists: frontend.userlists)
            guard stream.beginHTTPRequest(base: base, variables: variables, message: message) else {
                // `tcp-request content reject`: the stream is reset without a response (haproxy's
                // ENHANCE_YOUR_CALM) and logged `PR`, status -1, no backend, <BADREQ>.
                xlog?.rejectedBeforeHTTP = true
                logExchange(("P", "R"))
                resetClient(.enhanceYourCalm)
                return
            }
        }
        if frontend.hasRequestRules {
            if variables == nil { variables = connection.makeVariableStore() }
            var view = H2RequestView(headers: requestHeaders, base: ruleRecord(), userlists: frontend.userlists, stick: stickStream)
            view.variables = variables
            view.captures = captureStore
            if let b = heldBody { view.body = BufferedBody(bytes: b.bytes, size: b.size >= 0 ? b.size : Int64(b.bytes.count)) }
            let route = RuleEngine.route(frontend, &view)
            overrides = view.edits.overrides
            if overrides.requestInvalid, xlog != nil { xlog!.headDone = nil }
            switch route {
            case let .stop(verdict, be):
                backend = be
                answer(verdict)
                return
            case let .proceed(be):
                chosen = be
                swap(&edits, &view.edits)
            }
        }
        guard let backend = chosen else {
            sendError(503)
            return
        }
        self.backend = backend
        if let stick = backend.stick {
            var base = ruleRecord()
            base.backendName = backend.name
            let (server, stores) = stick.evaluate(H2RequestView(headers: requestHeaders, base: base, edits: edits, stick: stickStream))
            stickX = StickExchange(server: server, stores: stores)
        }
        if backend.serverRules != nil || backend.persistRules != nil {
            var base = ruleRecord()
            base.backendName = backend.name
            var view = H2RequestView(headers: requestHeaders, base: base, edits: edits, userlists: frontend.userlists, stick: stickStream)
            view.variables = variables
            switch backend.persistRules?.evaluate(view) ?? .none {
            case .force: forcedPersist = true
            case .ignore: ignorePersist = true
            case .none: break
            }
            if let rules = backend.serverRules { useServerX = rules.choose(view, backend: backend, forced: forcedPersist) }
        }
        if let ck = backend.cookie {
            // Cookie persistence, as for HTTP/1 (the crumbs of an h2 Cookie are read together).
            var x = CookieExchange()
            x.request(ck, serverCookies: backend.serverCookies, edits: &edits, headerName: "cookie",
                      ignore: ignorePersist, assigned: useServerX != nil) { requestHeaders["cookie"] }
            cookieX = x
        }
        assignServer(avoid: nil)
    }

    /// The connection's facts, as the fetches of rules read them.
    private func ruleRecord() -> LogRecord {
        var r = LogRecord.forRules(client: connection.remoteAddress, local: connection.localAddress, frontend: frontend.name,
                                   requestLine: "\(requestHeaders.first(name: ":method") ?? "-") \(requestHeaders.first(name: ":path") ?? "/") HTTP/2.0")
        r.sni = connection.sniPeek?.serverName
        return r
    }

    private func assignServer(avoid: Int?) {
        guard let backend else { return }
        if avoid != nil { xlog?.redispatched = true; cookieX?.direct = false }
        let key = backend.config.balance.isHashBased ? hashKey(backend.config.balance) : nil
        let persist = forcedPersist || backend.config.persist
        var direct = avoid == nil ? useServerX.flatMap { backend.assign(server: $0.index, force: $0.force, loop: eventLoop) } : nil
        if direct == nil, avoid == nil, cookieX?.persistTo != nil {
            direct = cookieX!.assign(backend, persist: persist, loop: eventLoop)
        }
        // `stick match|on`: the server the key stuck to, while it can serve (or is forced to).
        if direct == nil, avoid == nil, let i = stickX?.server {
            direct = backend.assign(server: i, force: persist, loop: eventLoop)
        }
        if direct != nil { cookieX?.direct = true }
        switch direct ?? backend.assign(key: key, avoid: avoid, loop: eventLoop) {
        case .server(let s):
            xlog?.assigned = true
            server = s
            obtainStream()
        case .queued(let w):
            waiter = w
            phase = .queued
            if xlog != nil { xlog!.queueStart = .now(); xlog!.assigned = true }
            w.onGrant = { server in
                guard self.phase == .queued else {
                    backend.release(server)
                    return
                }
                if self.xlog != nil { self.xlog!.queueEnd = .now() }
                self.waiter = nil
                self.server = server
                self.obtainStream()
            }
            armTimeout(backend.queueTimeout, queue: true)
        case .noServer:
            sendError(503)
        }
    }

    private func hashKey(_ balance: BalanceAlgorithm) -> [UInt8]? {
        balance.hashKey(client: connection.remoteAddress,
                        target: { self.requestHeaders.first(name: ":path") ?? "/" },
                        header: { H2Translate.value(self.requestHeaders, $0) })
    }

    private func obtainStream() {
        guard let server, let backend else { return }
        if xlog != nil { xlog!.serverName = server.name; xlog!.serverText = server.addressText }
        phase = .connecting
        connectAttempts += 1
        if xlog != nil { xlog!.connectStart = .now(); xlog!.retries = connectAttempts - 1 }
        let localPort = connection.localAddress?.port
        if server.config.proto != "h2" {
            obtainHTTP1(server: server, backend: backend, localPort: localPort)
            return
        }
        loopContext.h2Pool.acquire(server: server, clientLocalPort: localPort, connectTimeout: backend.connectTimeout) { result, reused in
            switch result {
            case .success(let connection):
                if !reused { server.observe(.connected) }
                guard self.phase == .connecting, !self.closed else {
                    connection.streamEnded()
                    return
                }
                self.openStream(on: connection)
            case .failure:
                server.observe(.connectFailed)
                guard self.phase == .connecting else { return }
                self.connectFailed()
            }
        }
    }

    /// A server without `proto h2`: the stream goes over an HTTP/1.1 connection of its own.
    private func obtainHTTP1(server: ServerRuntime, backend: BackendRuntime, localPort: Int?) {
        let pool = loopContext.h2Pool
        if let idle = pool.takeIdle(server: server) {
            if xlog != nil { xlog!.connectEnd = .now() }
            attachHTTP1(idle)
            return
        }
        H1Upstream.connect(server: server, pool: pool, clientLocalPort: localPort, timeout: backend.connectTimeout)
            .whenComplete { result in
                switch result {
                case .success(let up):
                    server.observe(.connected)
                    guard self.phase == .connecting, !self.closed else {
                        pool.addIdle(up)
                        return
                    }
                    self.attachHTTP1(up)
                case .failure:
                    server.observe(.connectFailed)
                    guard self.phase == .connecting else { return }
                    self.connectFailed()
                }
            }
    }

    private func attachHTTP1(_ up: H1Upstream) {
        up.attach(self)
        upstream = up
        sendRequest(up, backendSource: up.localAddressText)
    }

    private func openStream(on connection: H2ServerConnection) {
        guard let up = connection.openStream(owner: self) else {
            connection.streamEnded()
            connectFailed()
            return
        }
        serverConnection = connection
        upstream = up
        sendRequest(up, backendSource: connection.localAddressText)
    }

    private func sendRequest(_ up: any StreamUpstream, backendSource: (ip: String, port: Int)?) {
        phase = .exchanging
        if xlog != nil {
            if xlog!.connectEnd == nil { xlog!.connectEnd = .now() }
            xlog!.backendSource = backendSource
        }
        let headers = outgoingRequestHeaders()
        if !sent.isEmpty {
            // A replay: the frames sent before, then what arrived since.
            pending = sent + pending
            sent.removeAll()
            sentBytes = 0
        }
        up.write(.headers(.init(headers: headers, endStream: requestEnded && pending.isEmpty)))
        for p in pending { up.write(p); keep(p) }
        pending.removeAll()
        up.flush()
        armTimeout(overrides.serverTimeout ?? backend?.serverTimeout, queue: false)
        if up.isWritable { resumeReading() }
    }

    /// The block with these pseudo-headers set, the pseudo-headers kept first (HTTP/2 requires it).
    static func settingPseudoHeaders(_ headers: HPACKHeaders, _ values: [String: String]) -> HPACKHeaders {
        var out = HPACKHeaders()
        var pending = values
        for (name, value, indexing) in headers where name.hasPrefix(":") {
            out.add(name: name, value: pending.removeValue(forKey: name) ?? value, indexing: indexing)
        }
        for (name, value) in pending.sorted(by: { $0.key < $1.key }) { out.add(name: name, value: value) }
        for (name, value, indexing) in headers where !name.hasPrefix(":") { out.add(name: name, value: value, indexing: indexing) }
        return out
    }

    private func outgoingRequestHeaders() -> HPACKHeaders {
        var headers = requestHeaders
        for name in edits.deleted { headers.remove(name: name) }
        for (name, value) in edits.added { headers.add(name: name.lowercased(), value: value) }
        if edits.method != nil || edits.uri != nil {
            var pseudo: [String: String] = [:]
            if let m = edits.method { pseudo[":method"] = m }
            if let u = edits.uri {
                let prefix = RequestTarget.authorityPrefix(u)
                if let r = prefix.range(of: "://") {
                    pseudo[":scheme"] = String(prefix[..<r.lowerBound])
                    pseudo[":authority"] = String(prefix[r.upperBound...])
                }
                let pq = RequestTarget.pathAndQuery(u)
                pseudo[":path"] = pq.isEmpty ? "/" : pq
            }
            headers = Self.settingPseudoHeaders(headers, pseudo)
        }
        let http = frontend.http(with: backend)
        if let ff = http.forwardFor, let client = connection.remoteAddress,
           !(http.forwardForExcept?.contains(client) ?? false) {
            let name = http.forwardedForHeaderLowercased
            if !(ff.ifNone && headers.contains(name: name)) {
                headers.add(name: name, value: client.ipAddress ?? "")
            }
        }
        return headers
    }

    private func connectFailed() {
        guard let backend, let server else { return }
        if connectAttempts > backend.config.retries {
            backend.release(server)
            self.server = nil
            sendError(503)
            return
        }
        if backend.shouldRedispatch(afterAttempt: connectAttempts) || backend.redispatchesFromDown(server.index),
           !forcedPersist {
            backend.release(server)
            self.server = nil
            let saved = connectAttempts
            assignServer(avoid: server.index)
            connectAttempts = saved
            return
        }
        let delay = min(backend.connectTimeout, .seconds(1))
        eventLoop.scheduleTask(in: delay) {
            guard self.phase == .connecting, !self.closed else { return }
            self.obtainStream()
        }
    }

    private func keep(_ payload: HTTP2Frame.FramePayload) {
        guard replayable, !responseStarted else { return }
        if case .data(let d) = payload { sentBytes += d.data.readableBytes }
        if sentBytes > Self.replayLimit {
            replayable = false
            sent.removeAll()
        } else {
            sent.append(payload)
        }
    }

    private func forwardToServer(_ payload: HTTP2Frame.FramePayload) {
        switch phase {
        case .exchanging:
            upstream?.write(payload)
            keep(payload)
        case .assigning, .queued, .connecting:
            pending.append(payload)
        default:
            break
        }
    }

    // MARK: response (called by the upstream stream)

    func upstreamRead(_ payload: HTTP2Frame.FramePayload) {
        guard phase == .exchanging else { return }
        var payload = payload
        armTimeout(overrides.serverTimeout ?? backend?.serverTimeout, queue: false)
        switch payload {
        case .headers(var h):
            if !responseStarted {
                var status = h.headers.first(name: ":status").flatMap { Int($0) } ?? 0
                if status >= 200, let backend, !backend.rules.response.isEmpty || !frontend.rules.response.isEmpty
                    || RuleEngine.hasAfterResponse(frontend, backend) {
                    var view = H2ResponseView(headers: h.headers, base: ruleRecord())
                    if variables == nil { variables = connection.makeVariableStore() }
                    variables?.endRequest()
                    view.variables = variables
                    view.captures = captureStore
                    view.stick = stickStream
                    view.base.backendName = backend.name
                    view.base.serverName = server?.name ?? "<NOSRV>"
                    let requestView = H2RequestView(headers: requestHeaders, base: view.base)
                    if let verdict = RuleEngine.respond(frontend, backend, &view, request: requestView) {
                        switch verdict {
                        case .deny(let s): sendError(s, termination: ("P", "H"))
                        case let .reply(b, s, termination): sendReply(b, status: s, termination: termination)
                        default: sendError(502, termination: ("P", "H"))
                        }
                        return
                    }
                    RuleEngine.afterRespond(frontend, backend, &view)
                    if let l = view.edits.overrides.logLevel { overrides.logLevel = l }
                    if !view.edits.isEmpty || view.status != nil {
                        h.headers = view.edited()
                        status = view.status?.code ?? status
                        payload = .headers(h)
                    }
                }
                if status >= 200, cookieX != nil, let backend, let ck = backend.cookie, let server {
                    let method: HTTPMethod
                    switch requestHeaders.first(name: ":method") {
                    case "GET": method = .get
                    case "HEAD": method = .head
                    case "POST": method = .post
                    default: method = .other
                    }
                    if let edited = cookieX!.response(ck, serverCookie: backend.serverCookies[server.index],
                                                      insertLine: ck.mode == .insert ? backend.cookieInsertLines[server.index] : "",
                                                      requestMethod: method, status: status,
                                                      headers: h.headers.map { ($0.name, $0.value) }) {
                        h.headers = HPACKHeaders(edited.map { ($0.name, $0.value) })
                        payload = .headers(h)
                    }
                    if xlog != nil { xlog!.cookieState = (cookieX!.requestFlag, cookieX!.responseFlag) }
                }
                if status >= 200 || status == 101 {
                    responseStarted = true
                    noteResponseHead(h.headers, status: status)
                }
            } else if xlog != nil {
                xlog!.bytesOut += Int64(H2Translate.htxSize(h.headers, startLine: 0)) - 20  // trailers: no start line
            }
            if h.endStream { responseEnded = true }
        case .data(let d):
            if xlog != nil { xlog!.bytesOut += Int64(d.data.readableBytes) }
            if d.endStream { responseEnded = true }
        case .rstStream:
            upstreamAborted()
            return
        default:
            return
        }
        write(payload)
        clientNeedsFlush = true
        if responseEnded { finish() }
    }

    func upstreamReadComplete() {
        if clientNeedsFlush {
            clientNeedsFlush = false
            flush()
            logAsapIfPending()
        }
    }

    /// The server stream closed before the response ended (server gone, reset, connection lost).
    /// `refused`: the server did not process it (GOAWAY below its ID, REFUSED_STREAM, or opened
    /// after a GOAWAY): it is sent again on another connection, as HAProxy does.
    func upstreamAborted(refused: Bool = false) {
        guard phase == .exchanging || phase == .connecting else { return }
        if refused && !responseStarted && replayable && refusals < 3 {
            refusals += 1
            upstream = nil
            serverConnection = nil
            connectAttempts = max(0, connectAttempts - 1)
            obtainStream()
            return
        }
        server?.observe(.readError)
        if responseStarted {
            logExchange(("S", "D"))
            resetClient(.internalError)
        } else {
            sendError(502)
        }
    }

    private var asapPending = false
    /// The response head's size as haproxy counts it, when the server spoke HTTP/1 (set by H1Upstream).
    var upstreamHeadSize: Int?

    func countResponseBytes(_ n: Int) {
        if xlog != nil { xlog!.bytesOut += Int64(n) }
    }
    private var refusals = 0

    private func noteResponseHead(_ headers: HPACKHeaders, status: Int) {
        server?.observe(TrafficEvent.forStatus(status))
        if let stream = stickStream {
            stream.response(status: status)
            if let x = stickX, let server, let stick = backend?.stick { stick.store(x.stores, server: server.index) }
            stickX = nil
        }
        if let backend, let stick = backend.stick, stick.hasResponseRules, let server {
            // `stick store-response`: the response's keys point to the server that answered.
            var base = ruleRecord()
            base.backendName = backend.name
            base.serverName = server.name
            stick.storeResponse(H2ResponseView(headers: headers, base: base), server: server.index)
        }
        guard xlog != nil else { return }
        xlog!.responseHead = .now()
        xlog!.status = status
        xlog!.bytesOut += Int64(upstreamHeadSize ?? H2Translate.htxSize(headers, startLine: 8 + 3))
        if let captures = logger?.responseCaptures, !captures.isEmpty {
            xlog!.responseCaptures = captures.map { c in H2Translate.value(headers, c.name).map { String($0.prefix(c.length)) } }
        }
        if let c = logger?.cookieCapture, xlog != nil {
            xlog!.responseCookie = capturedCookie(c, lines: headers["set-cookie"], response: true)
        }
        asapPending = logger?.logAsap ?? false
    }

    private func logAsapIfPending() {
        guard asapPending else { return }
        asapPending = false
        logExchange(("-", "-"), asap: true)
    }

    // MARK: end

    private func finish() {
        // logasap: haproxy logs once the response head is forwarded, even when the whole
        // response came with it (then the server is already released: srv_conn excludes it).
        if asapPending {
            asapPending = false
            logExchange(("-", "-"), asap: true, serverReleased: true)
        }
        logExchange(("-", "-"))
        timer.cancel()
        phase = .done
        upstream = nil
        releaseServer()
        stickStream?.end()
        flush()
    }

    private func releaseServer() {
        if let server, let backend {
            self.server = nil
            backend.release(server)
        }
    }

    /// Ends everything: client gone or reset, or an error already answered.
    private func abort(_ termination: (Character, Character)) {
        guard phase != .done else { return }
        if phase != .waitingHeaders { logExchange(termination) }
        phase = .done
        stickStream?.end()
        timer.cancel()
        if let waiter, let backend {
            self.waiter = nil
            if !backend.cancel(waiter) { waiter.onGrant = nil }
        }
        upstream?.cancel()
        upstream = nil
        releaseServer()
    }

    private func resetClient(_ code: HTTP2ErrorCode) {
        phase = .done
        stickStream?.end()
        timer.cancel()
        upstream?.cancel()
        upstream = nil
        releaseServer()
        write(.rstStream(code))
        flush()
    }

    /// HAProxy's error response, as h2 frames.
    private func sendError(_ status: Int, termination: (Character, Character)? = nil) {
        let errors = backend?.errors ?? frontend.errors
        sendReply(errors.response(status), status: status, termination: termination ?? HTTPSession.termination(forError: status))
    }

    /// How the request rules ended a request.
    private func answer(_ verdict: Verdict) {
        switch verdict {
        case .deny(let status):
            sendError(status)
        case let .reply(bytes, status, termination):
            sendReply(bytes, status: status, termination: termination)
        case .silent(let bytes):
            sendReply(bytes, status: 200, termination: nil)
        case let .tarpit(status, bytes, delay):
            let end = { [self] in
                if let bytes { sendReply(bytes, status: status, termination: ("P", "T")) } else { sendError(status, termination: ("P", "T")) }
            }
            guard let delay else { return end() }
            phase = .tarpit
            tarpitEnd = end
            if xlog != nil { xlog!.headDone = nil; xlog!.queueStart = .now() }
            armTimeout(delay, queue: false)
        }
    }

    /// A whole response of our own (an error, a rule's reply, given as an HTTP/1 message), as h2
    /// frames; logged unless `termination` is nil.
    private func sendReply(_ message: ByteBuffer, status: Int, termination: (Character, Character)?) {
        var message = message, status = status
        if RuleEngine.hasAfterResponse(frontend, backend) {
            if variables == nil { variables = connection.makeVariableStore() }
            var base = ruleRecord()
            base.backendName = backend?.name ?? frontend.name
            base.serverName = server?.name ?? "<NOSRV>"
            let level: LogLevelChoice?
            (message, status, level) = RuleEngine.afterRespond(reply: message, status: status, frontend, backend, base: base,
                                                           variables: variables, stick: stickStream, captures: captureStore)
            if let level { overrides.logLevel = level }
        }
        let (headers, body) = H2Translate.response(fromHTTP1: message)
        stickStream?.response(status: status)
        if xlog != nil, let termination {
            xlog!.status = status
            xlog!.bytesOut += Int64(H2Translate.htxSize(headers, startLine: 8 + 3) + body.readableBytes)
            logExchange(termination)
        }
        stickStream?.end()
        phase = .done
        timer.cancel()
        upstream?.cancel()
        upstream = nil
        if let waiter, let backend {
            self.waiter = nil
            if !backend.cancel(waiter) { waiter.onGrant = nil }
        }
        releaseServer()
        let empty = body.readableBytes == 0
        write(.headers(.init(headers: headers, endStream: empty)))
        if !empty { write(.data(.init(data: .byteBuffer(body), endStream: true))) }
        // The rest of the request is not wanted: HAProxy resets the client stream if it goes on.
        // The reply is flushed first: a reset written with it would drop its DATA still buffered.
        if !requestEnded {
            flush()
            write(.rstStream(.cancel))
        }
        flush()
    }

    private func logExchange(_ termination: (Character, Character), asap: Bool = false, serverReleased: Bool = false) {
        guard let logger, !logger.connectionOnly, xlog != nil, !xlog!.logged else { return }
        let now = NIODeadline.now()
        if xlog!.requestStart == nil { xlog!.requestStart = now }
        xlog!.logged = true
        if overrides.logLevel == .silent || logger.droppedWhileStalled(isError: termination.0 != "-" || xlog!.status >= 500) { return }
        if let captureStore { captureStore.merge(into: &xlog!) }
        var record = xlog!.httpRecord(now: now, termination: termination, client: connection.remoteAddress,
                                      local: connection.localAddress, frontend: frontend, backend: backend, logAsap: asap)
        logger.fillCounters(&record, frontend: frontend, backend: backend, server: server, leaving: !asap)
        if serverReleased { record.srvConn = max(0, record.srvConn - 1) }
        LogSampleSource.fill(&record, logger.sampleExpressions, variables: variables)
        stickStream?.fillLog(&record, logger.sampleExpressions)
        let isError = termination.0 != "-" || record.status >= 500
        var level: SyslogLevel?
        if case .level(let l)? = overrides.logLevel { level = l }
        logger.log(record, isError: isError, level: level)
    }

    // MARK: timeouts

    private var timeoutIsQueue = false

    private func armTimeout(_ amount: TimeAmount?, queue: Bool) {
        timeoutIsQueue = queue
        guard let amount else { timer.disarm(); return }
        if timer.set(.now() + amount) { timer.schedule(on: eventLoop) { self.timerFired() } }
    }

    private func timerFired() {
        guard !closed, timer.firedAndExpired(on: eventLoop, fire: { self.timerFired() }) else { return }
        if bodyWait != nil {
            // The body did not come in time: the HTTP layer's 408.
            bodyWait = nil
            sendReply(BodyWaitPolicy.timeoutReply, status: 408, termination: ("c", "R"))
            return
        }
        if phase == .tarpit, let end = tarpitEnd {
            tarpitEnd = nil
            end()
            return
        }
        if timeoutIsQueue {
            if phase == .queued, let waiter, let backend, backend.cancel(waiter) {
                self.waiter = nil
                sendError(503, termination: ("s", "Q"))
            }
            return
        }
        guard phase == .exchanging || phase == .connecting else { return }
        server?.observe(.readTimeout)
        if responseStarted {
            logExchange(("s", "D"))
            resetClient(.cancel)
        } else {
            sendError(504)
        }
    }
}

extension H2StreamSession: H2UpstreamOwner {}
