import HAProxyConfig
import NIOCore
import NIOHPACK
import NIOHTTP2

/// A client connection on a `bind ... proto h2` listener (h2c with prior knowledge): HTTP/2 framing
/// by NIOHTTP2, one `H2StreamSession` per stream. This handler sits on the connection itself and
/// keeps what HAProxy keeps per h2 connection: the idle timeout (`timeout client` with no stream
/// open) and the soft stop (GOAWAY, then close once the accepted streams are done).
final class H2ClientConnection: ChannelInboundHandler, NIOHTTP2StreamDelegate, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let frontend: FrontendRuntime
    let loopContext: LoopContext
    private var context: ChannelHandlerContext?
    private var openStreams = 0
    private var lastStreamID = HTTP2StreamID(0)
    private var goingAway = false
    private var idleTimer = LazyTimer()
    var loopPosition = -1

    init(frontend: FrontendRuntime, loopContext: LoopContext) {
        self.frontend = frontend
        self.loopContext = loopContext
    }

    /// Puts HTTP/2 on a freshly accepted client connection.
    static func configure(_ channel: any Channel, frontend: FrontendRuntime, loopContext: LoopContext) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(FlushCoalescer())
        let connection = H2ClientConnection(frontend: frontend, loopContext: loopContext)
        _ = try sync.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: H2Settings.clientSideConnection(frontend.h2Tuning),
            streamConfiguration: H2Settings.stream(frontend.h2Tuning),
            streamDelegate: connection,
            inboundStreamInitializer: { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(H2StreamSession(frontend: frontend, loopContext: loopContext))
                }
            })
        try sync.addHandler(connection)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loopContext.addH2Connection(self)
        armIdle()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer.cancel()
        loopContext.removeH2Connection(self)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Root-stream frames (SETTINGS, PING, GOAWAY) are NIOHTTP2's business.
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The listener allows half-closure (for HTTP/1 and TCP); an h2 client that closed its
        // side is gone: close ours too (its streams end with it).
        if let e = event as? ChannelEvent, e == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // NIOHTTP2StreamDelegate: the inline multiplexer reports streams here, not down the pipeline.
    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        openStreams += 1
        if id > lastStreamID { lastStreamID = id }
        idleTimer.disarm()
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
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
