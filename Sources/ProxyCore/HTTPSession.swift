import Balancing
import HAProxyConfig
import HealthChecks
import Logging
import HTTP1
import NIOCore
import Samples
import NIOPosix

/// One client connection in `mode http`: parses requests, picks a server, forwards the request
/// head (original bytes, with only the changes the configuration asks for) and streams both
/// bodies with backpressure, then loops for the next request (keep-alive, pipelining).
final class HTTPSession: ChannelInboundHandler, ServerConnectionOwner, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case waitingRequest
        case connecting
        case queued
        case exchanging
        case tunnel
        /// `http-request tarpit`: held until `timeout tarpit` ends.
        case tarpit
        case closed
    }

    enum TimeoutKind { case request, keepAlive, client, queue, server, tunnel, tarpit }

    let frontend: FrontendRuntime
    let loopContext: LoopContext
    private var context: ChannelHandlerContext!
    private var phase = Phase.waitingRequest

    // Client input not consumed yet (a partial head, body bytes, pipelined requests).
    private var input: ByteBuffer?
    private var request = MessageHead()
    private var requestFraming = BodyFraming.none
    private var requestRemaining: Int64 = 0
    private var requestChunks = ChunkedTracker()
    private var requestBodyDone = true
    private var requestMethod = HTTPMethod.get
    private var requestCount = 0
    private var clientKeepAlive = true
    /// The head as it goes to the server, kept until a server connection is ready.
    private var outgoingHead: [ByteBuffer] = []
    /// The header edits' lists of the previous request, kept for their storage.
    private var spareEdits = HeaderEdits()
    /// The head last sent, kept for a retry on a fresh connection when a reused one was closed.
    private var sentHead: [ByteBuffer] = []
    /// The request head as the client sent it.
    private var currentHead: ByteBuffer?
    /// The storage of the last rebuilt request / response head: once written and dropped by the
    /// channel it serves the next one (no allocation per request; `clear()` makes a new one when
    /// it is still held).
    private var requestHeadScratch = ByteBuffer()
    private var responseHeadScratch = ByteBuffer()
    /// `retry-on` beyond conn-failure: the request body kept (up to tune.bufsize) for a replay.
    private var keptBody: [ByteBuffer] = []
    private var keptBodyBytes = 0
    private var bodyTooLargeToReplay = false
    private var replayBody = false

    private var backend: BackendRuntime?
    private var server: ServerRuntime?
    private var connection: ServerConnection?
    private var lastConnection: ServerConnection?
    private var waiter: QueueWaiter?
    private var connectAttempts = 0
    private var connectionWasReused = false

    private var response = MessageHead()
    private var responseInput: ByteBuffer?
    private var responseStarted = false  // bytes of a final response went to the client
    private var responseHeadDone = false
    private var responseFraming = BodyFraming.none
    private var responseRemaining: Int64 = 0
    private var responseChunks = ChunkedTracker()
    private var responseDone = false
    private var serverReusable = true
    /// Cookie persistence of the current exchange (backends with `cookie`).
    private var cookieX: CookieExchange?
    /// A tarpitted request's answer, sent when `timeout tarpit` ends.
    private var tarpitReply: (Int, ByteBuffer?)?
    private var responseEdits: (drop: [Int], add: [String])?
    /// The session's and current transaction's variables (set-var), made by the first rule run.
    private var variables: VariableStore?
    /// This exchange's capture slots, when the frontend has some (Captures.swift).
    private var captureStore: CaptureStore?
    /// set-log-level / set-timeout of this exchange's rules (ExchangeOverrides.swift).
    private var overrides = ExchangeOverrides()
    /// `http-response set-status`: the new status line.
    private var responseStatusLine: ByteBuffer?
    /// Stick counters of the connection and of the current request, and the stick rules'
    /// decision for it (nil without stick tables / `stick` rules: StickCounters.swift).
    private var stickSession: StickSession?
    private var stickStream: StickStream?
    private var stickX: StickExchange?
    /// `use-server`: the server a rule chose for the current request, and whether it is forced.
    private var useServerX: (index: Int, force: Bool)?
    /// `force-persist` matched: a down server named by use-server, cookie or stick is used, and
    /// never redispatched from.
    private var forcedPersist = false

    private var clientNeedsFlush = false
    private var serverNeedsFlush = false
    /// Reading is on (autoRead) except while the other side cannot take more or enough is buffered.
    private var clientPaused = false
    /// Queued in `loopContext` for a flush at the end of the loop's turn.
    private var flushQueued = false
    /// Server reads of this exchange that streamed a response body; whether the last exchange did.
    private var streamedReads = 0
    private var lastExchangeStreamed = false
    /// The client channel's writability, as its `channelWritabilityChanged` events tell it (reading
    /// `context.channel.isWritable` per request costs a walk to the channel and its retains).
    private var clientWritable = true
    /// The client channel's allocator, taken once.
    private var allocator = ByteBufferAllocator()
    private var clientEOF = false
    /// Counted in `loopContext.possibleReusers`.
    private var countedAsReuser = false
    /// Position in `loopContext`'s session list (-1 when not in it).
    var loopPosition = -1
    private var stopping = false
    private var timer = LazyTimer()
    private var timeoutKind = TimeoutKind.request
    private var clientAddress: SocketAddress?
    /// The connection's addresses for rules, made on the first request that runs rules.
    private var connectionFacts: ConnectionFacts?
    /// `bind ... ssl`: what the ClientHello said (`ssl_fc_sni`).
    private var sniPeek: SNIPeekHandler?
    private var localPort: Int?
    private var forwardedForLine: ByteBuffer?
    /// The access log of the frontend (nil: no log target) and this exchange's log state.
    private let logger: ProxyLogger?
    private var xlog: ExchangeLog?
    private var asapPending = false
    /// The body wait of the request being held (RequestBuffering.swift).
    private var bodyWait: BodyWaitState?

    init(frontend: FrontendRuntime, loopContext: LoopContext) {
        self.frontend = frontend
        self.loopContext = loopContext
        self.logger = frontend.logger
        self.settings = frontend.http
    }

    /// The frontend's settings with the backend of the current exchange.
    private var settings: FrontendRuntime.HTTPSettings

    // MARK: client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        clientWritable = context.channel.isWritable
        // Added after the connection became active (TLS: once ALPN chose HTTP/1.1).
        if context.channel.isActive { start(context: context) }
    }

    /// The handler and its context hold each other: drop the context when the channel is torn
    /// down, or both (and the channel) would never be freed. Nothing uses it once closed.
    func handlerRemoved(context: ChannelHandlerContext) {
        if phase != .closed {
            phase = .closed
            setReuser(false)
            abortServerSide()
        }
        timer.cancel()
        lastConnection = nil
        loopContext.removeSession(self)
        stickStream?.end()
        stickSession?.end()
        self.context = nil
    }

    /// Soft stop (SIGUSR1), as HAProxy: an idle keep-alive connection closes now; one with an
    /// exchange in progress closes once its response is complete.
    /// `on-marked-down shutdown-sessions` / `on-marked-up shutdown-backup-sessions`: an exchange
    /// in progress on the server is cut (the client connection closes, as HAProxy kills the stream).
    func shutdownIfUsing(_ globalIndex: Int) {
        guard let server, server.globalIndex == globalIndex, phase != .closed else { return }
        abortServerSide()
        closeClient()
    }

    func softStop() {
        stopping = true
        clientKeepAlive = false
        if phase == .waitingRequest && (input?.readableBytes ?? 0) == 0 { closeClient() }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
    }

    private var started = false

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let stick = frontend.stick {
            // `tcp-request connection` rules: a rejected connection is reset without a word (as haproxy does).
            let session = StickSession(stick)
            stickSession = session
            if stick.usesVariables { variables = VariableStore() }
            guard session.accept(client: context.channel.remoteAddress, local: context.channel.localAddress,
                                 variables: variables) else {
                phase = .closed
                context.channel.closeWithReset()
                return
            }
        }
        loopContext.addSession(self)
        clientAddress = context.channel.remoteAddress
        localPort = context.channel.localAddress?.port
        sniPeek = SNIPeekHandler.of(context.channel)
        if let logger, logger.connectionOnly {
            logger.logConnect(client: clientAddress, local: context.channel.localAddress, frontend: frontend.name)
        }
        if (logger != nil && !logger!.connectionOnly) || frontend.uniqueIDFormat != nil { xlog = ExchangeLog(now: .now()) }
        armTimeout(.request)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch phase {
        case .waitingRequest:
            if xlog != nil && xlog!.requestStart == nil { xlog!.requestStart = .now() }
            appendInput(buffer)
            parseRequest()
        case .exchanging where !requestBodyDone:
            appendInput(buffer)
            forwardRequestBody()
        case .tunnel:
            if let connection { connection.write(buffer); serverNeedsFlush = true }
            armTimeout(.tunnel)
        case .closed:
            break
        default:
            // Pipelined bytes or body bytes read before a server was ready: keep them, up to a point.
            appendInput(buffer)
            if input!.readableBytes >= settings.limits.maxHeadSize { pauseClient() }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A request body on its way streams at once; otherwise the flush waits for the loop's turn.
        if !requestBodyDone { flushAll() } else { deferFlush() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clientWritable = context.channel.isWritable
        if clientWritable, let connection { connection.setReading(true) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return }
        // The client shut its sending side: an exchange under way still completes (HAProxy does
        // not abort without `option abortonclose`), then the connection closes.
        clientKeepAlive = false
        clientEOF = true
        if phase == .waitingRequest || phase == .tunnel {
            if phase == .tunnel { connection?.channel?.close(mode: .output, promise: nil) } else { closeClient() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        clientClosed()
    }

    private func clientClosed() {
        guard phase != .closed else { return }
        if xlog != nil && !xlog!.logged && xlog!.requestStart != nil {
            switch phase {
            case .waitingRequest: logExchange(("C", "R"))
            case .queued: logExchange(("C", "Q"))
            case .connecting: logExchange(("C", "C"))
            case .exchanging: logExchange(responseStarted ? ("C", "D") : ("C", "H"))
            case .tunnel: logExchange(("-", "-"))
            case .tarpit: logExchange(("C", "T"))
            case .closed: break
            }
        }
        phase = .closed
        setReuser(false)
        abortServerSide()
        timer.cancel()
        context.close(promise: nil)
    }

    // MARK: request head

    private func appendInput(_ buffer: ByteBuffer) {
        if input == nil || input!.readableBytes == 0 {
            input = buffer
        } else {
            var b = buffer
            input!.writeBuffer(&b)
        }
    }

    private func resumeClient() {
        guard clientPaused, phase != .closed else { return }
        clientPaused = false
        context.channel.setOption(.autoRead, value: true).whenComplete { _ in }
    }

    private func pauseClient() {
        guard !clientPaused else { return }
        clientPaused = true
        context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
    }

    private func parseRequest() {
        guard let bytes = input, bytes.readableBytes > 0 else {
            resumeClient()
            return
        }
        let outcome: Result<ParseOutcome, ParseError> = bytes.withUnsafeReadableBytes { raw in
            do throws(ParseError) {
                return .success(try HTTP1Parser.parseRequest(raw, into: &request, limits: settings.limits))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .failure(let error):
            sendErrorAndClose(error.status == 400 ? 400 : error.status)
        case .success(.incomplete):
            armTimeout(.request)
            resumeClient()
        case .success(.complete):
            if let policy = frontend.bodyWait, holdForBody(policy) { return }
            startRequest()
        }
    }

    /// `option http-buffer-request` / `wait-for-body`: true while the request waits for its body
    /// (a `100 Continue` goes out once; the wait ends in a 408 at its deadline).
    private func holdForBody(_ policy: BodyWaitPolicy) -> Bool {
        guard let bytes = input else { return false }
        if bodyWait == nil {
            let head = bytes.getSlice(at: bytes.readerIndex, length: request.length)!
            guard let (time, atLeast) = policy.wait(for: H1RequestView(head: head, request: request, base: ruleRecord(head))) else {
                return false
            }
            bodyWait = BodyWaitState(deadline: time.map { .now() + $0 }, atLeast: atLeast, room: policy.room(head: head, request: request))
            if request.expectContinue && request.minorVersion == 1 {
                bodyWait!.continueSent = true
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            }
        }
        let w = bodyWait!
        let rest = bytes.getSlice(at: bytes.readerIndex + request.length, length: bytes.readableBytes - request.length)
        let (body, complete) = BodyWaitPolicy.body(rest, request: request, room: w.room)
        if complete || body.bytes.count >= w.room || (w.atLeast > 0 && body.bytes.count >= w.atLeast) { return false }
        timeoutKind = .request
        if let deadline = w.deadline, timer.set(deadline) { timer.schedule(on: context.eventLoop) { self.timerFired() } }
        resumeClient()
        return true
    }

    private func startRequest() {
        guard var bytes = input else { return }
        requestCount += 1
        requestMethod = request.method
        requestFraming = HTTP1Parser.requestFraming(request)
        switch requestFraming {
        case .contentLength(let n): requestRemaining = n; requestBodyDone = false
        case .chunked: requestChunks = ChunkedTracker(); requestBodyDone = false
        default: requestBodyDone = true
        }
        clientKeepAlive = HTTP1Parser.requestWantsKeepAlive(request) && !settings.closeClientSide && !clientEOF && !stopping
        // A request with both Transfer-Encoding and Content-Length is served, then the connection
        // closes (HAProxy's answer to this smuggling vector).
        if request.hasTransferEncoding && request.contentLengthLines > 0 { clientKeepAlive = false }
        // Leading empty lines the parser skipped are not forwarded.
        let headBuffer = bytes.readSlice(length: request.length)!
        input = bytes
        currentHead = headBuffer
        if xlog != nil {
            noteRequestHead(headBuffer)
            if frontend.uniqueIDFormat != nil { makeUniqueID() }
        }
        responseStarted = false
        responseHeadDone = false
        responseDone = false
        responseInput = nil
        connectAttempts = 0
        keptBody.removeAll(keepingCapacity: true)
        keptBodyBytes = 0
        bodyTooLargeToReplay = false
        replayBody = false
        timer.disarm()
        let waited = bodyWait
        bodyWait = nil
        var chosen = frontend.defaultBackend
        // The previous request's lists, emptied: their storage serves again.
        var edits = HeaderEdits()
        swap(&edits, &spareEdits)
        edits.reset()
        overrides = ExchangeOverrides()
        if let session = stickSession {
            stickStream?.end()
            let stream = session.stream()
            stickStream = stream
            var vars: VariableStore?
            if session.config.usesVariables {
                if variables == nil { variables = VariableStore() }
                variables!.beginTransaction()
                vars = variables
            }
            let base = ruleRecord(headBuffer)
            let message = session.config.contentRules.isEmpty ? nil
                : H1RequestView(head: headBuffer, request: request, base: base, userlists: frontend.userlists)
            guard stream.beginHTTPRequest(base: base, variables: vars, message: message) else {
                // `tcp-request content reject`: the connection closes without a response; logged
                // as haproxy does (`PR`, status -1, no backend).
                backend = nil
                xlog?.rejectedBeforeHTTP = true
                logExchange(("P", "R"))
                closeClient()
                return
            }
        }
        if frontend.hasRequestRules {
            if variables == nil { variables = VariableStore() }
            if !(stickSession?.config.usesVariables ?? false) { variables!.beginTransaction() }
            var view = H1RequestView(head: headBuffer, request: request, base: LogRecord(), userlists: frontend.userlists,
                                     stick: stickStream)
            fillRuleRecord(&view.base, headBuffer)
            view.variables = variables
            swap(&view.edits, &edits)
            if let policy = frontend.bodyWait {
                view.body = BodyWaitPolicy.body(input, request: request, room: waited?.room ?? policy.room(head: headBuffer, request: request)).0
                if waited?.continueSent == true { view.edits.dropExpect() }
            }
            view.captures = captureStore
            let route = RuleEngine.route(frontend, &view)
            overrides = view.edits.overrides
            if overrides.requestInvalid, xlog != nil { xlog!.headDone = nil }
            switch route {
            case let .stop(verdict, be):
                backend = be
                answer(verdict)
                return
            case let .proceed(be):
                if !view.edits.added.isEmpty || view.edits.uri != nil || view.edits.method != nil,
                   HeadRewriteLimit.requestMayExceed(headBuffer, request, view.edits, limit: settings.rewriteLimit) {
                    // A rule grew the head past haproxy's buffer: its 500, logged PR (HeadRewriteLimit).
                    // The backend's, when its rules did it (haproxy logs the backend then); no TR.
                    let inFrontend = view.edits.backendRulesStart.map {
                        HeadRewriteLimit.requestSize(headBuffer, request, view.edits, addedPrefix: $0) > settings.rewriteLimit
                    } ?? true
                    backend = inFrontend ? nil : be
                    if xlog != nil { xlog!.headDone = nil }
                    answer(.deny(500))
                    return
                }
                chosen = be
                swap(&edits, &view.edits)
            }
        }
        // force-persist / ignore-persist, then use-server (before the cookie, as in haproxy).
        useServerX = nil
        forcedPersist = false
        var ignorePersist = false
        if let be = chosen, be.persistRules != nil || be.serverRules != nil {
            var base = ruleRecord(headBuffer)
            base.backendName = be.name
            var view = H1RequestView(head: headBuffer, request: request, base: base, userlists: frontend.userlists, stick: stickStream)
            view.variables = variables
            swap(&view.edits, &edits)
            switch be.persistRules?.evaluate(view) ?? .none {
            case .force: forcedPersist = true
            case .ignore: ignorePersist = true
            case .none: break
            }
            if let rules = be.serverRules { useServerX = rules.choose(view, backend: be, forced: forcedPersist) }
            swap(&view.edits, &edits)
        }
        cookieX = nil
        if let be = chosen, let ck = be.cookieRuntime {
            var x = CookieExchange()
            x.request(ck.config, serverCookies: ck.serverCookies, edits: &edits, headerName: "Cookie",
                      ignore: ignorePersist, assigned: useServerX != nil) { headerValues(headBuffer, request.headers, "cookie") }
            cookieX = x
        }
        if waited?.continueSent == true && !frontend.hasRequestRules { edits.dropExpect() }
        stickX = nil
        if let be = chosen, let stick = be.stick {
            var base = ruleRecord(headBuffer)
            base.backendName = be.name
            var view = H1RequestView(head: headBuffer, request: request, base: base, stick: stickStream)
            swap(&view.edits, &edits)
            let (server, stores) = stick.evaluate(view)
            swap(&view.edits, &edits)
            stickX = StickExchange(server: server, stores: stores)
        }
        if !frontend.switches.isEmpty { settings = frontend.http(with: chosen) }
        serverReusable = !settings.closeServerSide
        buildOutgoingHead(headBuffer, edits)
        swap(&spareEdits, &edits)
        guard let backend = chosen else {
            sendError(503)
            return
        }
        self.backend = backend
        assignServer(avoid: nil)
    }

    /// The exchange's facts for `http-response` rules (the backend and server are known).
    private func responseRuleRecord() -> LogRecord {
        var r = currentHead.map { ruleRecord($0) } ?? LogRecord()
        r.backendName = backend?.name ?? frontend.name
        r.serverName = server?.name ?? "<NOSRV>"
        return r
    }

    /// The connection's facts, as the fetches of rules read them.
    private func ruleRecord(_ head: ByteBuffer) -> LogRecord {
        var base = LogRecord()
        fillRuleRecord(&base, head)
        return base
    }

    /// Fills a record in place (a record returned by value was copied once more).
    private func fillRuleRecord(_ base: inout LogRecord, _ head: ByteBuffer) {
        let lineEnd = head.withUnsafeReadableBytes { raw in raw.firstIndex(of: 13) ?? raw.firstIndex(of: 10) ?? raw.count }
        // The addresses as text are made once per connection (a formatting each).
        if connectionFacts == nil { connectionFacts = ConnectionFacts(client: clientAddress, local: context.channel.localAddress) }
        connectionFacts.unsafelyUnwrapped.fill(&base, frontend: frontend.name)
        base.requestLine = head.getString(at: head.readerIndex, length: lineEnd)
        base.uniqueID = xlog?.uniqueID
        base.sni = sniPeek?.serverName
    }

    /// The request head for the server: the client's bytes, less the lines we must not forward
    /// and plus the lines the configuration adds.
    private func buildOutgoingHead(_ head: ByteBuffer, _ edits: HeaderEdits) {
        outgoingHead.removeAll(keepingCapacity: true)
        let settings = self.settings
        let dropContentLength = request.hasTransferEncoding && request.contentLengthLines > 0
        let closeServerSide = settings.closeServerSide
        // The server connection's fate is ours to decide: a client's `Connection: close` is not forwarded.
        let dropClientClose = !closeServerSide && request.connection.close && request.minorVersion == 1
        let addForwardedFor = settings.forwardFor != nil && forwardedForApplies(head)
        // HTTP/1.0 requests keep the server connection alive only when asked to, as HAProxy does.
        let addKeepAlive = !closeServerSide && request.minorVersion == 0 && !request.connection.keepAlive
            && !request.connection.close
        let uniqueIDLine = frontend.uniqueIDHeader != nil ? xlog?.uniqueID.map { ByteBuffer(string: "\(frontend.uniqueIDHeader!): \($0)\r\n") } : nil
        if !dropContentLength && !closeServerSide && !addForwardedFor && !addKeepAlive && !dropClientClose && uniqueIDLine == nil
            && edits.isEmpty {
            outgoingHead.append(head)
            return
        }
        // The head for the server is built as one buffer: the kept parts of the client's head
        // copied from its bytes in one pass (no slice, no retain per part), then the lines added.
        // The previous request's head is no longer needed for a retry: its storage serves again.
        sentHead.removeAll(keepingCapacity: true)
        var out = ByteBuffer()
        swap(&out, &requestHeadScratch)
        out.clear(minimumCapacity: head.readableBytes + 64 + edits.added.count * 48)
        let request = self.request
        head.withUnsafeReadableBytes { raw in
            var segmentStart = 0
            if edits.method != nil || edits.uri != nil {
                // A rule rewrote the request line: the new one, then the head from its second line.
                let lineEnd = raw.firstIndex(of: 10).map { $0 + 1 } ?? raw.count
                if let method = edits.method { out.writeString(method) } else {
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[0..<request.methodEnd]))
                }
                out.writeStaticString(" ")
                if let uri = edits.uri { out.writeString(uri) } else {
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[request.targetStart..<request.targetEnd]))
                }
                out.writeStaticString(request.minorVersion == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n")
                segmentStart = lineEnd
            }
            for field in request.headers {
                let s = Int(field.nameStart), e = Int(field.nameEnd)
                let drop = (dropContentLength && equalsLowercaseASCII(raw, s, e, "content-length"))
                    || ((closeServerSide || dropClientClose) && equalsLowercaseASCII(raw, s, e, "connection"))
                    || edits.deleted.contains { equalsLowercaseASCII(raw, s, e, $0) }
                guard drop else { continue }
                if Int(field.lineStart) > segmentStart {
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[segmentStart..<Int(field.lineStart)]))
                }
                segmentStart = Int(field.lineEnd)
            }
            if request.headersEnd > segmentStart {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[segmentStart..<request.headersEnd]))
            }
        }
        for (name, value) in edits.added {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if let uniqueIDLine { out.writeImmutableBuffer(uniqueIDLine) }
        if addForwardedFor, let line = forwardedFor() { out.writeImmutableBuffer(line) }
        if closeServerSide { out.writeStaticString("Connection: close\r\n") }
        if addKeepAlive { out.writeStaticString("Connection: keep-alive\r\n") }
        out.writeStaticString("\r\n")
        requestHeadScratch = out
        outgoingHead.append(out)
    }

    /// `option forwardfor`: not for clients in `except`, nor (with `if-none`) when the header is there.
    private func forwardedForApplies(_ head: ByteBuffer) -> Bool {
        guard settings.forwardFor != nil else { return false }
        if let except = settings.forwardForExcept, let client = clientAddress, except.contains(client) { return false }
        if settings.forwardFor!.ifNone, headerValue(head, settings.forwardedForHeaderLowercased) != nil { return false }
        return true
    }

    private func forwardedFor() -> ByteBuffer? {
        if let forwardedForLine { return forwardedForLine }
        guard let ip = clientAddress?.ipAddress else { return nil }
        var b = ByteBuffer()
        b.writeString("\(settings.forwardFor!.header): \(ip)\r\n")
        forwardedForLine = b
        return b
    }

    // MARK: server choice and connection

    private func assignServer(avoid: Int?) {
        guard let backend else { return }
        if avoid != nil { xlog?.redispatched = true; cookieX?.direct = false }
        var assignment: Assignment?
        if avoid == nil, let chosen = useServerX {
            assignment = backend.assign(server: chosen.index, force: chosen.force, loop: context.eventLoop)
        }
        if assignment == nil, avoid == nil, cookieX?.persistTo != nil {
            // The first server with the cookie's value that can serve (any, with option persist
            // or force-persist; the log then says `D`); else balanced, and the log says `D`.
            assignment = cookieX!.assign(backend, persist: forcedPersist || backend.config.persist, loop: context.eventLoop)
        }
        if assignment == nil, avoid == nil, let i = stickX?.server {
            // `stick match|on`: the server the key stuck to, while it can serve (or is forced to).
            assignment = backend.assign(server: i, force: forcedPersist || backend.config.persist, loop: context.eventLoop)
        }
        if assignment != nil { cookieX?.direct = true }
        if assignment == nil {
            let key = backend.config.balance.isHashBased ? hashKey(backend.config.balance) : nil
            assignment = backend.assign(key: key, avoid: avoid, loop: context.eventLoop)
        }
        switch assignment! {
        case .server(let s):
            xlog?.assigned = true
            server = s
            obtainConnection()
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
                self.obtainConnection()
            }
            armTimeout(.queue)
        case .noServer:
            sendError(503)
        }
    }

    private func hashKey(_ balance: BalanceAlgorithm) -> [UInt8]? {
        guard let head = currentHead else { return nil }
        return balance.hashKey(client: clientAddress,
                               target: { head.getString(at: head.readerIndex + self.request.targetStart,
                                                        length: self.request.targetEnd - self.request.targetStart) },
                               header: { self.headerValue(head, $0) })
    }

    private func headerValue(_ head: ByteBuffer, _ name: String) -> String? {
        Self.headerValue(head, name, fields: request.headers)
    }

    /// The first value of header `name` in a head parsed into `fields`.
    static func headerValue(_ head: ByteBuffer, _ name: String, fields: [HeaderField]) -> String? {
        let lowered = name.lowercased()
        for field in fields {
            let matches = head.withUnsafeReadableBytes { equalsLowercaseASCII($0, Int(field.nameStart), Int(field.nameEnd), lowered) }
            if matches {
                return head.getString(at: head.readerIndex + Int(field.valueStart), length: Int(field.valueEnd - field.valueStart))
            }
        }
        return nil
    }

    private func obtainConnection() {
        guard let server else { return }
        if xlog != nil { xlog!.serverName = server.name; xlog!.serverText = server.addressText }
        phase = .connecting
        // http-reuse safe: the first request of a session gets its own connection.
        if requestCount > 1, let idle = loopContext.takeIdle(server: server, preferred: lastConnection) {
            if xlog != nil { let now = NIODeadline.now(); xlog!.connectStart = now; xlog!.connectEnd = now }
            connectionWasReused = true
            attach(idle)
            return
        }
        connectFresh()
    }

    /// Opens a new connection to the chosen server (a retry counts as an attempt).
    private func connectFresh() {
        guard let server, let backend else { return }
        phase = .connecting
        connectionWasReused = false
        connectAttempts += 1
        if xlog != nil { xlog!.connectStart = .now(); xlog!.retries = connectAttempts - 1 }
        Connector.connectHTTP(server: server, loopContext: loopContext, clientLocalPort: localPort,
                              timeout: backend.connectTimeout)
            .hop(to: context.eventLoop)
            .whenComplete { result in
                switch result {
                case .success(let c):
                    server.observe(.connected)
                    if self.xlog != nil { self.xlog!.connectEnd = .now() }
                    guard self.phase == .connecting else { c.close(); return }
                    self.attach(c)
                case .failure:
                    server.observe(.connectFailed)
                    guard self.phase == .connecting else { return }
                    self.connectFailed()
                }
            }
    }

    private func connectFailed() {
        guard let backend, let server else { return }
        if connectAttempts > backend.config.retries {
            backend.release(server)
            self.server = nil
            sendError(503)
            return
        }
        // Redispatch to another server on the retry HAProxy would (default: the last one);
        // never when force-persist sent the request to a server that is down.
        if backend.shouldRedispatch(afterAttempt: connectAttempts) || backend.redispatchesFromDown(server.index),
           !forcedPersist {
            backend.release(server)
            self.server = nil
            let failed = server.index
            let saved = connectAttempts
            assignServer(avoid: failed)
            connectAttempts = saved
            return
        }
        // HAProxy waits min(timeout connect, 1s) before retrying the same server.
        let delay = min(backend.connectTimeout, .seconds(1))
        context.eventLoop.scheduleTask(in: delay) {
            guard self.phase == .connecting else { return }
            self.obtainConnection()
        }
    }

    private func keepForReplay(_ slice: ByteBuffer) {
        guard let backend, backend.retryPolicy.keepsRequest, !bodyTooLargeToReplay else { return }
        keptBodyBytes += slice.readableBytes
        if keptBodyBytes > settings.limits.maxHeadSize + 1024 {
            // HAProxy only retries requests that fit in one buffer.
            bodyTooLargeToReplay = true
            keptBody.removeAll()
        } else {
            keptBody.append(slice)
        }
    }

    /// `retry-on`: replays the request on a new connection (or, on the retry where HAProxy
    /// redispatches, another server) when nothing was sent to the client yet. Returns false when
    /// the failure must reach the client.
    private func retryRequest(_ reason: RetryPolicy.Reason) -> Bool {
        guard let backend, let server, !responseStarted, requestBodyDone, !bodyTooLargeToReplay,
              backend.retryPolicy.allows(reason), connectAttempts <= backend.config.retries else { return false }
        if let connection {
            self.connection = nil
            connection.owner = nil
            connection.close()
        }
        responseInput = nil
        responseHeadDone = false
        serverReusable = !settings.closeServerSide
        swap(&outgoingHead, &sentHead)
        replayBody = true
        if backend.shouldRedispatch(afterAttempt: connectAttempts) {
            backend.release(server)
            self.server = nil
            let attempts = connectAttempts
            assignServer(avoid: server.index)
            connectAttempts = max(connectAttempts, attempts)
        } else {
            connectFresh()
        }
        return true
    }

    private func attach(_ c: ServerConnection) {
        connection = c
        lastConnection = c
        if xlog != nil { xlog!.backendSource = c.localAddressText }
        c.owner = self
        c.uses += 1
        phase = .exchanging
        for segment in outgoingHead { c.write(segment) }
        swap(&outgoingHead, &sentHead)
        outgoingHead.removeAll(keepingCapacity: true)
        serverNeedsFlush = true
        if replayBody {
            for segment in keptBody { c.write(segment) }
        } else if !requestBodyDone {
            forwardRequestBody()
        }
        armTimeout(.server)
        // The request waits for the loop's turn like the other writes (one wake-up of the server
        // for the turn's requests), unless this client's last response streamed: then the turn is
        // a long one (big bodies copied) and the server should not wait for its end.
        if lastExchangeStreamed { flushAll() } else { deferFlush() }
        c.setReading(clientWritable)
    }

    // MARK: request body

    private func forwardRequestBody() {
        guard let connection, var bytes = input, bytes.readableBytes > 0 else {
            if !requestBodyDone { resumeClient() }
            return
        }
        switch requestFraming {
        case .contentLength:
            let n = Int(min(Int64(bytes.readableBytes), requestRemaining))
            let slice = bytes.readSlice(length: n)!
            connection.write(slice)
            keepForReplay(slice)
            if xlog != nil { xlog!.bytesIn += Int64(n) }
            requestRemaining -= Int64(n)
            if requestRemaining == 0 { requestBodyDone = true }
        case .chunked:
            let consumed: Result<Int, ParseError> = bytes.withUnsafeReadableBytes { raw in
                do throws(ParseError) { return .success(try requestChunks.consume(raw)) } catch { return .failure(error) }
            }
            switch consumed {
            case .failure:
                // A malformed chunk: HAProxy aborts the exchange.
                abortServerSide()
                if !responseStarted { sendErrorAndClose(400) } else { closeClient() }
                return
            case .success(let n):
                let slice = bytes.readSlice(length: n)!
                connection.write(slice)
                keepForReplay(slice)
                if xlog != nil { xlog!.bytesIn += Int64(n) }
                if requestChunks.isDone { requestBodyDone = true }
            }
        default:
            requestBodyDone = true
        }
        serverNeedsFlush = true
        input = bytes.readableBytes > 0 ? bytes : nil
        armTimeout(responseHeadDone ? .client : .server)
        if requestBodyDone {
            if responseDone { finishExchange() }
        } else if connection.isWritable {
            resumeClient()
        } else {
            pauseClient()
        }
    }

    // MARK: server events

    func serverRead(_ c: ServerConnection, _ buffer: ByteBuffer) {
        guard c === connection else { return }
        if phase == .tunnel {
            context.write(wrapOutboundOut(buffer), promise: nil)
            clientNeedsFlush = true
            armTimeout(.tunnel)
            return
        }
        if responseDone {
            // Bytes after the end of the response: the connection cannot be reused.
            serverReusable = false
            return
        }
        if !responseHeadDone {
            if responseInput == nil || responseInput!.readableBytes == 0 { responseInput = buffer } else {
                var b = buffer
                responseInput!.writeBuffer(&b)
            }
            parseResponse()
        } else {
            forwardResponseBody(buffer)
        }
    }

    func serverReadComplete(_ c: ServerConnection) {
        // A response body on its way streams at once (its writes also tell the writability that
        // pauses the server); a whole response waits for the loop's turn.
        if responseStarted && !responseDone {
            streamedReads += 1
            flushAll()
        } else {
            deferFlush()
        }
        guard c === connection else { return }
        if !clientWritable { c.setReading(false) }
    }

    func serverWritabilityChanged(_ c: ServerConnection) {
        guard c === connection else { return }
        if c.isWritable { resumeClient() }
    }

    func serverClosed(_ c: ServerConnection) {
        guard c === connection else { return }
        connection = nil
        switch phase {
        case .tunnel:
            logExchange(("-", "-"))
            flushAll()
            releaseServer()
            closeClient()
        case .exchanging:
            if !responseHeadDone {
                let nothingReceived = (responseInput?.readableBytes ?? 0) == 0
                server?.observe(.closedByServer)
                if retryRequest(nothingReceived ? .emptyResponse : .junkResponse) { return }
                if nothingReceived, connectionWasReused, requestBodyDone, requestFraming == .none {
                    // The server closed an idle connection as we reused it: try a fresh one.
                    rebuildHeadForRetry()
                    connectFresh()
                    return
                }
                releaseServer()
                if responseStarted { closeClient() } else { sendErrorAndClose(502) }
            } else if responseFraming == .untilClose {
                responseDone = true
                clientKeepAlive = false
                logExchange(("-", "-"))
                flushAll()
                releaseServer()
                closeClient()
            } else if !responseDone {
                // Truncated response: the client sees the connection end.
                logExchange(("S", "D"))
                releaseServer()
                flushAll()
                closeClient()
            }
        default:
            break
        }
    }

    private func rebuildHeadForRetry() {
        swap(&outgoingHead, &sentHead)
    }

    private func parseResponse() {
        guard var bytes = responseInput else { return }
        let outcome: Result<ParseOutcome, ParseError> = bytes.withUnsafeReadableBytes { raw in
            do throws(ParseError) {
                return .success(try HTTP1Parser.parseResponse(raw, into: &response, limits: settings.responseLimits))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .failure:
            serverReusable = false
            server?.observe(.httpInvalidHeaders)
            if retryRequest(.junkResponse) { return }
            abortServerSide()
            if !responseStarted { sendErrorAndClose(502, termination: ("P", "H")) } else { logExchange(("P", "D")); closeClient() }
        case .success(.incomplete):
            armTimeout(.server)
        case .success(.complete):
            responseInput = nil
            if response.status >= 200 { server?.observe(TrafficEvent.forStatus(response.status)) }
            if response.status >= 200, retryRequest(.status(response.status)) { return }
            if response.status < 200 {
                // Interim response: forward it and wait for the next head.
                let head = bytes.readSlice(length: response.length)!
                context.write(wrapOutboundOut(head), promise: nil)
                clientNeedsFlush = true
                if response.status == 101 {
                    startTunnel(leftover: bytes)
                    return
                }
                if bytes.readableBytes > 0 {
                    responseInput = bytes
                    parseResponse()
                }
                return
            }
            var ruleEdits: (HeaderEdits, (code: Int, reason: String)?)?
            if let backend, !backend.rules.response.isEmpty || !frontend.rules.response.isEmpty
                || RuleEngine.hasAfterResponse(frontend, backend) {
                var view = H1ResponseView(head: bytes.getSlice(at: bytes.readerIndex, length: response.length)!, response: response,
                                          base: responseRuleRecord())
                if variables == nil { variables = VariableStore() }
                variables?.endRequest()
                view.variables = variables
                view.stick = stickStream
                view.captures = captureStore
                let requestView = H1RequestView(head: currentHead!, request: request, base: view.base)
                var verdict = RuleEngine.respond(frontend, backend, &view, request: requestView)
                if verdict == nil, !view.edits.added.isEmpty,
                   HeadRewriteLimit.responseMayExceed(view.head, response, view.edits,
                                                      bodyBytes: min(bytes.readableBytes - response.length,
                                                                     Int(response.contentLength ?? Int64.max)),
                                                      limit: settings.rewriteLimit) {
                    // A rule grew the head past haproxy's buffer: its 500, logged PH (HeadRewriteLimit).
                    verdict = .deny(500)
                }
                if let verdict {
                    serverReusable = false
                    // haproxy's %B counts the server's head and the body bytes it had received, then the reply.
                    if xlog != nil {
                        var received = bytes.readableBytes - response.length
                        if let n = response.contentLength { received = min(received, Int(n)) }
                        xlog!.bytesOut += Int64(view.head.withUnsafeReadableBytes { ExchangeLog.htxHeadSize($0) } + max(0, received))
                    }
                    server?.observe(.httpInvalidHeaders)
                    switch verdict {
                    case .deny(let status): sendError(status, termination: ("P", "H"))
                    case let .reply(b, status, termination): sendReply(b, status: status, termination: termination)
                    default: sendError(502, termination: ("P", "H"))
                    }
                    return
                }
                RuleEngine.afterRespond(frontend, backend, &view)
                if let l = view.edits.overrides.logLevel { overrides.logLevel = l }
                if !view.edits.isEmpty || view.status != nil { ruleEdits = (view.edits, view.status) }
            }
            responseHeadDone = true
            responseStarted = true
            if let stream = stickStream {
                stream.response(status: response.status)
                if let x = stickX, let server, let stick = backend?.stick { stick.store(x.stores, server: server.index) }
                stickX = nil
            }
            if let stick = backend?.stick, stick.hasResponseRules, let server {
                // `stick store-response`: the response's keys point to the server that answered.
                stick.storeResponse(H1ResponseView(head: bytes.getSlice(at: bytes.readerIndex, length: response.length)!,
                                                   response: response, base: responseRuleRecord()), server: server.index)
            }
            if xlog != nil { noteResponseHead(bytes) }
            responseFraming = HTTP1Parser.responseFraming(response, requestMethod: requestMethod)
            if !HTTP1Parser.responseAllowsReuse(response) || responseFraming == .untilClose { serverReusable = false }
            if responseFraming == .untilClose { clientKeepAlive = false }
            responseEdits = nil
            responseStatusLine = nil
            if let ck = backend?.cookieRuntime, let server, cookieX != nil {
                let e = cookieX!.response(ck.config, server: server, serverCookie: ck.serverCookies[server.index],
                                          insertLine: ck.config.mode == .insert ? ck.insertLines[server.index] : "",
                                          requestMethod: requestMethod, head: bytes, response: response)
                if !e.drop.isEmpty || !e.add.isEmpty { responseEdits = e }
                if xlog != nil { xlog!.cookieState = (cookieX!.requestFlag, cookieX!.responseFlag) }
            }
            if let (edits, status) = ruleEdits {
                var e = responseEdits ?? (drop: [], add: [])
                for (k, field) in response.headers.enumerated() where !e.drop.contains(k) {
                    let deleted = bytes.withUnsafeReadableBytes { raw in
                        edits.deleted.contains { equalsLowercaseASCII(raw, Int(field.nameStart), Int(field.nameEnd), $0) }
                    }
                    if deleted { e.drop.append(k) }
                }
                e.add += edits.added.map { "\($0.name): \($0.value)" }
                responseEdits = e
                if let status {
                    responseStatusLine = ByteBuffer(string: "HTTP/1.\(response.minorVersion) \(status.code) \(status.reason)\r\n")
                    if xlog != nil { xlog!.status = status.code }
                }
            }
            // Common case: a whole sized body in this read goes out with the head in one write: a
            // slice of what the server sent when the head is unchanged, else a copy when small.
            if case .contentLength(let n) = responseFraming, n <= Int64(bytes.readableBytes - response.length),
               !responseHeadNeedsChange() || n <= 4096 {
                if xlog != nil { xlog!.bytesOut += n }
                if responseHeadNeedsChange() {
                    var out = changedResponseHead(bytes.readSlice(length: response.length)!, bodyRoom: Int(n))
                    var body = bytes.readSlice(length: Int(n))!
                    out.writeBuffer(&body)
                    responseHeadScratch = out
                    context.write(wrapOutboundOut(out), promise: nil)
                } else {
                    context.write(wrapOutboundOut(bytes.readSlice(length: response.length + Int(n))!), promise: nil)
                }
                clientNeedsFlush = true
                responseDone = true
                if bytes.readableBytes > 0 { serverReusable = false }
                logAsapIfPending()
                finishIfComplete()
                return
            }
            let head = bytes.readSlice(length: response.length)!
            writeResponseHead(head)
            switch responseFraming {
            case .contentLength(let n): responseRemaining = n
            case .chunked: responseChunks = ChunkedTracker()
            case .none: responseDone = true
            case .untilClose: break
            }
            if responseDone {
                if bytes.readableBytes > 0 { serverReusable = false }
                logAsapIfPending()
                finishIfComplete()
            } else if bytes.readableBytes > 0 {
                forwardResponseBody(bytes)
            } else {
                logAsapIfPending()
                armTimeout(.server)
            }
        }
    }

    /// Sends the response head, adjusting `Connection` when the client side will close or is
    /// HTTP/1.0 with keep-alive.
    private func responseHeadNeedsChange() -> Bool {
        let closing = !clientKeepAlive
        return (closing && response.minorVersion == 1 && !response.connection.close)
            || (!closing && request.minorVersion == 0 && !response.connection.keepAlive)
            || responseEdits != nil
    }

    private func writeResponseHead(_ head: ByteBuffer) {
        if responseHeadNeedsChange() {
            let out = changedResponseHead(head)
            responseHeadScratch = out
            context.write(wrapOutboundOut(out), promise: nil)
        } else {
            context.write(wrapOutboundOut(head), promise: nil)
        }
        clientNeedsFlush = true
    }

    /// The head, changed as the exchange needs: less its Connection lines when the client side's
    /// fate differs (and the lines cookie persistence and rules drop), plus the Connection line
    /// and the lines cookie persistence and rules add; as one buffer with room for `bodyRoom`
    /// more bytes (a small body then goes out in the same write).
    private func changedResponseHead(_ head: ByteBuffer, bodyRoom: Int = 0) -> ByteBuffer {
        let closing = !clientKeepAlive
        let line: ByteBuffer?
        if closing && response.minorVersion == 1 && !response.connection.close {
            line = StaticBuffers.connectionClose
        } else if !closing && request.minorVersion == 0 && !response.connection.keepAlive {
            line = StaticBuffers.connectionKeepAlive
        } else {
            line = nil
        }
        var out = ByteBuffer()
        swap(&out, &responseHeadScratch)
        out.clear(minimumCapacity: head.readableBytes + 64 + (responseEdits?.add.count ?? 0) * 64 + bodyRoom)
        if let statusLine = responseStatusLine { out.writeImmutableBuffer(statusLine) }
        // The kept parts of the server's head copied from its bytes in one pass (no slice per part).
        let response = self.response
        let hasStatusLine = responseStatusLine != nil
        head.withUnsafeReadableBytes { raw in
            var segmentStart = hasStatusLine ? (raw.firstIndex(of: 10).map { $0 + 1 } ?? 0) : 0
            for (k, field) in response.headers.enumerated() {
                let isConnection = line != nil && equalsLowercaseASCII(raw, Int(field.nameStart), Int(field.nameEnd), "connection")
                guard isConnection || responseEdits?.drop.contains(k) == true else { continue }
                if Int(field.lineStart) > segmentStart {
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[segmentStart..<Int(field.lineStart)]))
                }
                segmentStart = Int(field.lineEnd)
            }
            if response.headersEnd > segmentStart {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[segmentStart..<response.headersEnd]))
            }
        }
        if let added = responseEdits?.add {
            for extra in added {
                out.writeString(extra)
                out.writeStaticString("\r\n")
            }
        }
        if let line { out.writeImmutableBuffer(line) }
        out.writeStaticString("\r\n")
        return out
    }

    private func forwardResponseBody(_ buffer: ByteBuffer) {
        var bytes = buffer
        switch responseFraming {
        case .contentLength:
            let n = Int(min(Int64(bytes.readableBytes), responseRemaining))
            if xlog != nil { xlog!.bytesOut += Int64(n) }
            context.write(wrapOutboundOut(bytes.readSlice(length: n)!), promise: nil)
            responseRemaining -= Int64(n)
            if responseRemaining == 0 { responseDone = true }
        case .chunked:
            let consumed: Result<Int, ParseError> = bytes.withUnsafeReadableBytes { raw in
                do throws(ParseError) { return .success(try responseChunks.consume(raw)) } catch { return .failure(error) }
            }
            switch consumed {
            case .failure:
                serverReusable = false
                flushAll()
                abortServerSide()
                closeClient()
                return
            case .success(let n):
                // %B counts the chunks' payload (added when the exchange is logged).
                context.write(wrapOutboundOut(bytes.readSlice(length: n)!), promise: nil)
                if responseChunks.isDone { responseDone = true }
            }
        case .untilClose:
            if xlog != nil { xlog!.bytesOut += Int64(bytes.readableBytes) }
            context.write(wrapOutboundOut(bytes), promise: nil)
            bytes.moveReaderIndex(to: bytes.writerIndex)
        case .none:
            responseDone = true
        }
        clientNeedsFlush = true
        if bytes.readableBytes > 0 { serverReusable = false }
        logAsapIfPending()
        if responseDone { finishIfComplete() } else { armTimeout(.server) }
    }

    private func finishIfComplete() {
        if requestBodyDone {
            finishExchange()
        } else {
            // The server answered before the whole request body came: HAProxy closes afterwards.
            clientKeepAlive = false
            serverReusable = false
            finishExchange()
        }
    }

    private func startTunnel(leftover: ByteBuffer) {
        phase = .tunnel
        if leftover.readableBytes > 0 {
            context.write(wrapOutboundOut(leftover), promise: nil)
        }
        clientNeedsFlush = true
        if let pending = input, pending.readableBytes > 0, let connection {
            connection.write(pending)
            serverNeedsFlush = true
            input = nil
        }
        armTimeout(.tunnel)
        flushAll()
        resumeClient()
    }

    // MARK: end of an exchange

    private func finishExchange() {
        logExchange(("-", "-"))
        overrides = ExchangeOverrides()
        if stickStream != nil { stickStream!.end(); stickStream = nil }
        lastExchangeStreamed = streamedReads > 0
        streamedReads = 0
        deferFlush()
        setReuser(clientKeepAlive)
        if let connection {
            self.connection = nil
            connection.owner = nil
            if serverReusable && !connection.isClosed {
                loopContext.addIdle(connection)
            } else {
                connection.close()
            }
        }
        releaseServer()
        if !clientKeepAlive {
            closeClient()
            return
        }
        phase = .waitingRequest
        armTimeout(.keepAlive)
        if let pending = input, pending.readableBytes > 0 {
            parseRequest()
        } else {
            resumeClient()
        }
    }

    private func setReuser(_ on: Bool) {
        guard on != countedAsReuser else { return }
        countedAsReuser = on
        loopContext.possibleReusers += on ? 1 : -1
    }

    private func releaseServer() {
        if let server, let backend {
            self.server = nil
            backend.release(server)
        }
    }

    /// Drops the server side of the current exchange (client went away, or an error).
    private func abortServerSide() {
        if let waiter, let backend {
            self.waiter = nil
            if !backend.cancel(waiter) { waiter.onGrant = nil }
        }
        if let connection {
            self.connection = nil
            connection.owner = nil
            connection.close()
        }
        releaseServer()
    }

    private func closeClient() {
        guard phase != .closed else { return }
        phase = .closed
        setReuser(false)
        timer.cancel()
        flushAll()
        context.close(promise: nil)
    }

    /// Answers with HAProxy's response for `status`; the connection stays open when the request
    /// was read whole and the client allows it.
    private func sendError(_ status: Int, termination: (Character, Character)? = nil) {
        let errors = backend?.errors ?? frontend.errors
        sendReply(errors.response(status), status: status, termination: termination ?? Self.termination(forError: status),
                  // haproxy's %B: nothing for the errors its HTTP parser answers (400, 408).
                  countBytes: status != 400 && status != 408)
    }

    /// How the request rules ended a request.
    private func answer(_ verdict: Verdict) {
        switch verdict {
        case .deny(let status):
            // A rule's deny, whatever its status (400 and 408 too): counted and logged PR (measured).
            sendReply((backend?.errors ?? frontend.errors).response(status), status: status, termination: ("P", "R"))
        case let .reply(bytes, status, termination):
            sendReply(bytes, status: status, termination: termination)
        case .silent(let bytes):
            sendReply(bytes, status: 200, termination: nil)
        case let .tarpit(status, bytes, delay):
            tarpitReply = (status, bytes)
            phase = .tarpit
            // haproxy logs a tarpitted request with TR -1 and the time held as Tw.
            if xlog != nil { xlog!.headDone = nil; xlog!.queueStart = .now() }
            if let delay {
                timeoutKind = .tarpit
                if timer.set(.now() + delay) { timer.schedule(on: context.eventLoop) { self.timerFired() } }
            } else {
                endTarpit()
            }
        }
    }

    private func endTarpit() {
        guard let (status, bytes) = tarpitReply else { return }
        tarpitReply = nil
        if let bytes {
            sendReply(bytes, status: status, termination: ("P", "T"))
        } else {
            sendError(status, termination: ("P", "T"))
        }
    }

    /// Sends a whole response of our own (an error, a rule's reply) and logs it (unless
    /// `termination` is nil); the connection stays open when the request was read whole and the
    /// client allows it.
    private func sendReply(_ body: ByteBuffer, status: Int, termination: (Character, Character)?, countBytes: Bool = true,
                           sayClose: Bool = false) {
        var body = body, status = status
        if countBytes, RuleEngine.hasAfterResponse(frontend, backend) {
            if variables == nil { variables = VariableStore() }
            let level: LogLevelChoice?
            (body, status, level) = RuleEngine.afterRespond(reply: body, status: status, frontend, backend, base: responseRuleRecord(),
                                                            variables: variables, stick: stickStream, captures: captureStore)
            if let level { overrides.logLevel = level }
        }
        abortServerSide()
        stickStream?.response(status: status)
        if xlog != nil, let termination {
            xlog!.status = status
            // haproxy's %B for the messages its HTTP layer generates: their internal size.
            if countBytes {
                xlog!.bytesOut += Int64(body.withUnsafeReadableBytes { raw in
                    let headEnd = Self.headLength(raw)
                    return ExchangeLog.htxHeadSize(UnsafeRawBufferPointer(rebasing: raw[0..<headEnd]), countingConnection: true) + (raw.count - headEnd)
                })
            }
            logExchange(termination)
        }
        overrides = ExchangeOverrides()
        if stickStream != nil { stickStream!.end(); stickStream = nil }
        // The rest of the request body cannot be told apart from a next request: close.
        if !requestBodyDone { clientKeepAlive = false }
        let closing = status == 400 || status == 408 || !clientKeepAlive
        if closing && (sayClose || (status != 400 && status != 408 && request.connection.close && request.minorVersion == 1)) {
            // haproxy's HTTP/1 layer answers a client's `Connection: close` in its own responses too.
            context.write(wrapOutboundOut(body.insertingHeaderLine(StaticBuffers.connectionCloseLower)), promise: nil)
        } else {
            context.write(wrapOutboundOut(body), promise: nil)
        }
        clientNeedsFlush = true
        responseStarted = true
        if closing {
            closeClient()
            return
        }
        flushAll()
        phase = .waitingRequest
        armTimeout(.keepAlive)
        if let pending = input, pending.readableBytes > 0 { parseRequest() } else { resumeClient() }
    }

    private func sendErrorAndClose(_ status: Int, termination: (Character, Character)? = nil) {
        clientKeepAlive = false
        sendError(status, termination: termination)
    }

    // MARK: access log

    private func noteRequestHead(_ head: ByteBuffer) {
        let now = NIODeadline.now()
        xlog!.startExchange(at: now)
        asapPending = false
        xlog!.headDone = now
        // The head (a slice the session keeps anyway): its size and request line are read only
        // when a line is really written (not for lines a stalled sink drops).
        xlog!.requestHead = head
        xlog!.requestCounter = ProxyLogger.requestCounter.loadThenWrappingIncrement(ordering: .relaxed)
        if let captures = logger?.requestCaptures, !captures.isEmpty {
            xlog!.requestCaptures = captures.map { c in headerValue(head, c.name).map { String($0.prefix(c.length)) } }
        }
        captureStore = logger.flatMap { $0.hasCaptureSlots ? CaptureStore($0) : nil }
        if let c = logger?.cookieCapture {
            xlog!.requestCookie = capturedCookie(c, lines: headerValues(head, request.headers, "cookie"), response: false)
        }
    }

    /// `unique-id-format`, rendered once per request (for `unique-id-header` and %ID).
    private func makeUniqueID() {
        guard let format = frontend.uniqueIDFormat else { return }
        let now = NIODeadline.now()
        var r = xlog!.httpRecord(now: now, termination: ("-", "-"), client: clientAddress, local: context.channel.localAddress,
                                 frontend: frontend, backend: frontend.defaultBackend, logAsap: false)
        r.pid = Int(getpid())
        if !frontend.uniqueIDSamples.isEmpty, let head = currentHead {
            r.fillRuleSamples(frontend.uniqueIDSamples, H1RequestView(head: head, request: request, base: r, userlists: frontend.userlists))
        }
        xlog!.uniqueID = String(decoding: format.render(r), as: UTF8.self)
    }

    /// Length of a head (through the blank line) in a whole message.
    static func headLength(_ raw: UnsafeRawBufferPointer) -> Int {
        var i = 0
        while i + 3 < raw.count {
            if raw[i] == 13 && raw[i + 1] == 10 && raw[i + 2] == 13 && raw[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return raw.count
    }

    private func noteResponseHead(_ bytes: ByteBuffer) {
        xlog!.responseHead = .now()
        xlog!.status = response.status
        let length = response.length
        xlog!.bytesOut += Int64(bytes.withUnsafeReadableBytes { ExchangeLog.htxHeadSize(UnsafeRawBufferPointer(rebasing: $0[0..<length])) })
        if let captures = logger?.responseCaptures, !captures.isEmpty {
            let head = bytes.getSlice(at: bytes.readerIndex, length: response.length)!
            xlog!.responseCaptures = captures.map { c in Self.headerValue(head, c.name, fields: response.headers).map { String($0.prefix(c.length)) } }
        }
        if let c = logger?.cookieCapture, xlog != nil {
            let head = bytes.getSlice(at: bytes.readerIndex, length: response.length)!
            xlog!.responseCookie = capturedCookie(c, lines: headerValues(head, response.headers, "set-cookie"), response: true)
        }
        asapPending = logger?.logAsap ?? false
    }

    /// `option logasap`: the line goes out once the response head and the body bytes that came
    /// with it are forwarded (haproxy's timing), with `+` on Ta/Tt/B.
    private func logAsapIfPending() {
        guard asapPending else { return }
        asapPending = false
        logExchange(("-", "-"), asap: true)
    }

    /// HAProxy's termination state for an error it answers itself.
    static func termination(forError status: Int) -> (Character, Character) {
        switch status {
        case 400: ("P", "R")
        case 408: ("c", "R")
        case 502: ("S", "H")
        case 503: ("S", "C")
        case 504: ("s", "H")
        default: ("P", "R")
        }
    }

    /// Emits the exchange's line once (at its end, or at the response head with `logasap`).
    private func logExchange(_ termination: (Character, Character), asap: Bool = false) {
        guard let logger, !logger.connectionOnly, xlog != nil, !xlog!.logged else { return }
        let now = NIODeadline.now()
        if xlog!.requestStart == nil {
            // Nothing was received: `option dontlognull` skips such connections.
            if logger.dontLogNull { return }
            xlog!.requestStart = now
        }
        xlog!.logged = true
        if overrides.logLevel == .silent || logger.droppedWhileStalled(isError: termination.0 != "-" || xlog!.status >= 500) {
            if !asap { xlog!.endExchange(at: now) }
            return
        }
        if responseFraming == .chunked && responseHeadDone {
            xlog!.bytesOut += responseChunks.dataBytes + (responseChunks.isDone ? 1 : 0)
        }
        if let captureStore { captureStore.merge(into: &xlog!) }
        var record = xlog!.httpRecord(now: now, termination: termination, client: clientAddress,
                                      local: context?.channel.localAddress, frontend: frontend, backend: backend, logAsap: asap)
        logger.fillCounters(&record, frontend: frontend, backend: backend, server: server, leaving: !asap)
        LogSampleSource.fill(&record, logger.sampleExpressions, variables: variables)
        stickStream?.fillLog(&record, logger.sampleExpressions)
        let isError = termination.0 != "-" || record.status >= 500
        var level: SyslogLevel?
        if case .level(let l)? = overrides.logLevel { level = l }
        logger.log(record, isError: isError, level: level)
        if !asap { xlog!.endExchange(at: now) }
    }


    /// Flushes at the end of the loop's turn (LoopContext.deferFlush); paths that close a
    /// channel call `flushAll` first, which flushes now.
    private func deferFlush() {
        guard clientNeedsFlush || serverNeedsFlush, !flushQueued else { return }
        flushQueued = true
        loopContext.deferFlush(self)
    }

    func runDeferredFlush() {
        flushQueued = false
        guard phase != .closed else { return }
        flushAll()
    }

    private func flushAll() {
        if clientNeedsFlush {
            clientNeedsFlush = false
            context.flush()
        }
        if serverNeedsFlush {
            serverNeedsFlush = false
            connection?.flush()
        }
    }

    // MARK: timeouts

    private func armTimeout(_ kind: TimeoutKind) {
        let t = settings.timeouts
        let amount: TimeAmount?
        switch kind {
        case .request: amount = t.httpRequest ?? t.client
        case .keepAlive: amount = t.httpKeepAlive ?? t.httpRequest ?? t.client
        case .client: amount = t.client
        case .queue: amount = backend?.queueTimeout
        case .server: amount = overrides.serverTimeout ?? backend?.serverTimeout
        case .tunnel: amount = overrides.tunnelTimeout ?? backend?.tunnelTimeout ?? t.client
        case .tarpit: amount = nil
        }
        timeoutKind = kind
        guard let amount else {
            timer.disarm()
            return
        }
        let loop = context.eventLoop
        if timer.set(.now() + amount) { timer.schedule(on: loop) { self.timerFired() } }
    }

    private func timerFired() {
        guard timer.firedAndExpired(on: context.eventLoop, fire: { self.timerFired() }) else { return }
        switch timeoutKind {
        case .keepAlive:
            if (input?.readableBytes ?? 0) == 0 { closeClient() } else { sendErrorAndClose(408) }
        case .request:
            if bodyWait != nil {
                // The body did not come in time: the HTTP layer's 408 (RequestBuffering.swift),
                // or the proxy's errorfile for 408 (measured: haproxy sends it).
                bodyWait = nil
                clientKeepAlive = false
                if let policy = frontend.bodyWait, !policy.frontendHolds, let be = frontend.defaultBackend,
                   be.config.options["http-buffer-request"] == true {
                    backend = be
                }
                // The request line is logged (its head was parsed), with no TR.
                if xlog != nil, let bytes = input, let head = bytes.getSlice(at: bytes.readerIndex, length: request.length) {
                    noteRequestHead(head)
                    xlog!.headDone = nil
                }
                if let custom = (backend?.errors ?? frontend.errors).custom(408) {
                    // haproxy's HTTP layer says the connection closes in an HTTP/1.1 message
                    // (a line the log's byte count leaves out).
                    sendReply(custom, status: 408, termination: ("c", "R"),
                              sayClose: custom.readableBytesView.starts(with: "HTTP/1.1".utf8))
                    return
                }
                sendReply(BodyWaitPolicy.timeoutReply, status: 408, termination: ("c", "R"))
                return
            }
            // HAProxy answers 408 even when nothing came on a new connection.
            sendErrorAndClose(408)
        case .client:
            logExchange(phase == .tunnel ? ("c", "D") : (responseStarted ? ("c", "D") : ("c", "H")))
            abortServerSide()
            closeClient()
        case .queue:
            if let waiter, let backend {
                if backend.cancel(waiter) {
                    self.waiter = nil
                    sendError(503, termination: ("s", "Q"))
                }
            }
        case .server:
            if responseStarted {
                logExchange(("s", "D"))
                abortServerSide()
                closeClient()
            } else {
                serverReusable = false
                server?.observe(.readTimeout)
                if retryRequest(.responseTimeout) { return }
                abortServerSide()
                sendError(504)
            }
        case .tunnel:
            logExchange(("-", "-"))
            abortServerSide()
            closeClient()
        case .tarpit:
            endTarpit()
        }
    }
}

enum StaticBuffers {
    static let crlf = ByteBuffer(string: "\r\n")
    static let connectionClose = ByteBuffer(string: "Connection: close\r\n")
    static let connectionKeepAlive = ByteBuffer(string: "Connection: keep-alive\r\n")
    static let connectionCloseLower = ByteBuffer(string: "connection: close\r\n")
}

extension ByteBuffer {
    /// A whole HTTP/1 message with `line` added at the end of its head.
    func insertingHeaderLine(_ line: ByteBuffer) -> ByteBuffer {
        let headEnd = withUnsafeReadableBytes { HTTPSession.headLength($0) }
        guard headEnd >= 2 else { return self }
        var b = getSlice(at: readerIndex, length: headEnd - 2)!
        b.writeImmutableBuffer(line)
        b.writeString("\r\n")
        b.writeImmutableBuffer(getSlice(at: readerIndex + headEnd, length: readableBytes - headEnd)!)
        return b
    }
}

@inline(__always)
func equalsLowercaseASCII(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ literal: String) -> Bool {
    var literal = literal
    return literal.withUTF8 { p in
        guard end - start == p.count else { return false }
        for i in 0..<p.count {
            var c = bytes[start + i]
            if c >= 65 && c <= 90 { c |= 0x20 }
            if c != p[i] { return false }
        }
        return true
    }
}

func addressBytes(_ address: SocketAddress) -> [UInt8]? {
    switch address {
    case .v4(let a):
        return withUnsafeBytes(of: a.address.sin_addr) { Array($0) }
    case .v6(let a):
        return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
    default:
        return nil
    }
}
