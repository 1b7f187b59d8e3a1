import HAProxyConfig
import NIOCore
import NIOHPACK
import NIOHTTP2
import Samples

/// A client connection on a `bind ... proto h2` listener (h2c with prior knowledge): HTTP/2 framing
/// by NIOHTTP2 without its stream multiplexer, and here the table of the connection's streams
/// (stream ID → `H2StreamSession`, a plain object: no channel per stream). This handler gives the
/// streams their frames, gives windows back (the connection's as it is used, a stream's as its
/// server side can take more), and keeps what HAProxy keeps per h2 connection: the idle timeout
/// (`timeout client` with no stream open) and the soft stop (GOAWAY, then close once the
/// accepted streams are done).
final class H2ClientConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let frontend: FrontendRuntime
    let loopContext: LoopContext
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: H2StreamSession] = [:]
    private var readList: [H2StreamSession] = []
    private var openStreams = 0
    private var lastStreamID = HTTP2StreamID(0)
    private var goingAway = false
    private var idleTimer = LazyTimer()
    var loopPosition = -1
    private(set) var remoteAddress: SocketAddress?
    private(set) var localAddress: SocketAddress?
    /// `bind ... ssl`: what the ClientHello said (`ssl_fc_sni`).
    private(set) var sniPeek: SNIPeekHandler?
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    private var peerInitialWindow = 65535
    /// Our receive window per stream (tune.h2.initial-window-size).
    private let streamWindow: Int
    private var connectionWindow: H2ConnectionWindow
    var needsFlush = false
    /// Stick counters of the connection (nil without stick tables); its streams start with them.
    private(set) var stickSession: StickSession?
    /// The connection's `sess.` variables, shared by its streams' stores (made by the first store).
    var sessionVariables: SessionVariables?

    /// A stream's variable store: its own transaction, the connection's `sess.` variables.
    func makeVariableStore() -> VariableStore {
        if sessionVariables == nil { sessionVariables = SessionVariables() }
        return VariableStore(session: sessionVariables)
    }

    init(frontend: FrontendRuntime, loopContext: LoopContext) {
        self.frontend = frontend
        self.loopContext = loopContext
        streamWindow = H2Settings.streamWindow(frontend.h2Tuning)
        connectionWindow = H2ConnectionWindow(target: H2Settings.clientSideConnection(frontend.h2Tuning).targetWindowSize)
    }

    /// Puts HTTP/2 on a freshly accepted client connection.
    static func configure(_ channel: any Channel, frontend: FrontendRuntime, loopContext: LoopContext) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(FlushCoalescer())
        try sync.addHandler(NIOHTTP2Handler(mode: .server, connectionConfiguration: H2Settings.clientSideConnection(frontend.h2Tuning),
                                            streamConfiguration: H2Settings.stream(frontend.h2Tuning)))
        try sync.addHandler(H2ClientConnection(frontend: frontend, loopContext: loopContext))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remoteAddress = context.channel.remoteAddress
        localAddress = context.channel.localAddress
        sniPeek = SNIPeekHandler.of(context.channel)
        if let stick = frontend.stick {
            let session = StickSession(stick)
            stickSession = session
            // `tcp-request connection reject`: reset without a word.
            guard session.accept(client: remoteAddress, local: localAddress,
                                 variables: stick.usesVariables ? makeVariableStore() : nil) else {
                context.channel.closeWithReset()
                return
            }
        }
        loopContext.addH2Connection(self)
        armIdle()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer.cancel()
        loopContext.removeH2Connection(self)
        closeAllStreams()
        stickSession?.end()
        self.context = nil
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func write(_ frame: HTTP2Frame) {
        context?.write(wrapOutboundOut(frame), promise: nil)
    }

    func flush() {
        needsFlush = false
        context?.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        if id == .rootStream {
            // SETTINGS, PING, GOAWAY are NIOHTTP2's business; the initial window is ours too.
            if case .settings(.settings(let settings)) = frame.payload {
                for s in settings where s.parameter == .initialWindowSize {
                    let delta = s.value - peerInitialWindow
                    peerInitialWindow = s.value
                    if delta != 0 {
                        for session in streams.values where session.flow.granted(delta) { session.writableAgain() }
                    }
                }
            }
            return
        }
        switch frame.payload {
        case .headers, .data, .rstStream:
            let session: H2StreamSession
            if let known = streams[id] {
                session = known
            } else {
                guard case .headers = frame.payload else { return }
                // A new stream (NIOHTTP2 checked it: ID, concurrency, state).
                session = H2StreamSession(frontend: frontend, loopContext: loopContext, connection: self, streamID: id,
                                          flow: H2StreamFlow(target: streamWindow, initialWindow: streamWindow, credit: peerInitialWindow))
                streams[id] = session
                openStreams += 1
                if id > lastStreamID { lastStreamID = id }
                idleTimer.disarm()
            }
            if !session.inReadList {
                session.inReadList = true
                readList.append(session)
            }
            session.received(frame.payload)
        case .windowUpdate(let increment):
            if let session = streams[id], session.flow.granted(increment) { session.writableAgain() }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !readList.isEmpty {
            let list = readList
            readList.removeAll(keepingCapacity: true)
            for session in list {
                session.inReadList = false
                session.readComplete()
            }
        }
        if needsFlush { flush() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? NIOHTTP2WindowUpdatedEvent {
            if e.streamID == .rootStream, let size = e.inboundWindowSize, let increment = connectionWindow.update(size) {
                write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment)))
                needsFlush = true
            }
            return
        }
        if let e = event as? StreamClosedEvent {
            if let session = streams.removeValue(forKey: e.streamID) {
                session.streamClosed(reason: e.reason)
                streamEnded()
            }
            return
        }
        if event is NIOHTTP2StreamCreatedEvent { return }
        // The listener allows half-closure (for HTTP/1 and TCP); an h2 client that closed its
        // side is gone: close ours too (its streams end with it).
        if let e = event as? ChannelEvent, e == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for session in streams.values where session.wantsWritable { session.writableAgain() }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeAllStreams()
        context.fireChannelInactive()
    }

    private func closeAllStreams() {
        guard !streams.isEmpty else { return }
        let open = streams.values
        streams.removeAll()
        for session in open { session.streamClosed(reason: .cancel) }
    }

    private func streamEnded() {
        openStreams -= 1
        if openStreams == 0 {
            if goingAway { goAwayAndClose() } else { armIdle() }
        }
    }

    /// GOAWAY, then close once it (and every frame written before it) reached the socket: a
    /// plain close would drop the last frames of the streams that just ended.
    private func goAwayAndClose() {
        guard let context else { return }
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(frame), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIOHTTP2 answers protocol errors itself: RST_STREAM for a stream's (the connection and
        // its other streams go on), GOAWAY and close for the connection's. I/O errors close it.
    }

    /// Soft stop: GOAWAY now, close once the streams already accepted end.
    func softStop() {
        guard let context, !goingAway else { return }
        goingAway = true
        if openStreams == 0 {
            goAwayAndClose()
        } else {
            let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
    }

    private func armIdle() {
        guard let context, let amount = frontend.http.timeouts.client else { return }
        if idleTimer.set(.now() + amount) { idleTimer.schedule(on: context.eventLoop) { self.idleFired() } }
    }

    private func idleFired() {
        guard let context, idleTimer.firedAndExpired(on: context.eventLoop, fire: { self.idleFired() }) else { return }
        guard openStreams == 0 else { return }
        goAwayAndClose()
    }
}

extension H2ClientConnection: Slotted {}

/// Between HTTP/1 messages and HTTP/2 header blocks, and HAProxy's internal (HTX) sizes for %B/%U.
enum H2Translate {
    /// The first value of a header (names are lowercase in HTTP/2); `host` falls back to `:authority`.
    static func value(_ headers: HPACKHeaders, _ name: String) -> String? {
        let lowered = name.lowercased()
        if lowered == "host" { return authority(headers) }
        return headers.first(name: lowered)
    }

    static func authority(_ headers: HPACKHeaders) -> String? {
        headers.first(name: ":authority") ?? headers.first(name: "host")
    }

    /// haproxy's %B/%U count for a message head: 20 + the start line's parts + each regular
    /// header's name and value + 1 for the end of headers.
    static func htxSize(_ headers: HPACKHeaders, startLine: Int) -> Int {
        var size = 21 + startLine
        for (name, value, _) in headers where !name.hasPrefix(":") {
            size += name.utf8.count + value.utf8.count
        }
        return size
    }

    /// An HTTP/1 response (HAProxy's error messages) as an HTTP/2 header block and body.
    static func response(fromHTTP1 message: ByteBuffer) -> (HPACKHeaders, ByteBuffer) {
        var message = message
        let text = message.readableBytesView
        let headEnd = text.withUnsafeBytes { HTTPSession.headLength($0) }
        let head = message.readString(length: headEnd) ?? ""
        var headers = HPACKHeaders()
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: true).makeIterator()
        let statusLine = lines.next() ?? "HTTP/1.1 500"
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        headers.add(name: ":status", value: parts.count > 1 ? String(parts[1]) : "500")
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
            if ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].contains(name) { continue }
            headers.add(name: name, value: value)
        }
        return (headers, message)
    }
}
