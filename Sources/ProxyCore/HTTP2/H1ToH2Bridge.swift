import Glibc
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// HTTP/1 clients to a `proto h2` server. The HTTP/1 session talks to what looks like an ordinary
/// server connection: one end of a socketpair. The other end is read by this bridge as an
/// HTTP/1.1 server would (NIO's codec), and each request becomes a stream of the loop's shared h2
/// connection to the server; the response comes back as HTTP/1.1 (chunked when the server gives no
/// length). The HTTP/1 data path stays exactly as it is; this path costs a socketpair hop.
enum H1ToH2Bridge {
    /// A connected "server connection" for `session`'s loop whose far end speaks h2 to `server`.
    static func connect(server: ServerRuntime, loopContext: LoopContext, clientLocalPort: Int?,
                        timeout: TimeAmount) -> EventLoopFuture<ServerConnection> {
        let loop = loopContext.eventLoop
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            return loop.makeFailedFuture(ConnectError.closed)
        }
        let handler = ServerConnection(server: server, loopContext: loopContext)
        let bridge = BridgeHandler(server: server, pool: loopContext.h2Pool, clientLocalPort: clientLocalPort, connectTimeout: timeout)
        let far = ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(bridge)
                }
            }
            .withConnectedSocket(fds[1])
        let near = ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: true)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .withConnectedSocket(fds[0])
        return far.and(near).map { _ in handler }
    }
}

/// The far end of the socketpair: HTTP/1.1 requests in, h2 streams out.
final class BridgeHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let server: ServerRuntime
    let pool: H2Pool
    let clientLocalPort: Int?
    let connectTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    /// The request's frames until its stream is open.
    private var pending: [HTTP2Frame.FramePayload] = []
    private var stream: H2Upstream?
    /// The stream being obtained (its connection may still be connecting).
    private var opening: Opening?
    private final class Opening {}
    private var heldRead = HeldRead()
    private var responseStarted = false

    init(server: ServerRuntime, pool: H2Pool, clientLocalPort: Int?, connectTimeout: TimeAmount) {
        self.server = server
        self.pool = pool
        self.clientLocalPort = clientLocalPort
        self.connectTimeout = connectTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        stream?.cancel()
        stream = nil
        opening = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseStarted = false
            var block = HPACKHeaders()
            block.add(name: ":method", value: head.method.rawValue)
            block.add(name: ":scheme", value: "http")
            var path = head.uri
            var authority = head.headers.first(name: "host")
            if let schemeEnd = path.range(of: "://") {  // absolute form
                let rest = path[schemeEnd.upperBound...]
                let slash = rest.firstIndex(of: "/") ?? rest.endIndex
                authority = authority ?? String(rest[..<slash])
                path = slash == rest.endIndex ? "/" : String(rest[slash...])
            }
            block.add(name: ":path", value: path)
            if let authority { block.add(name: ":authority", value: authority) }
            for (name, value) in head.headers {
                let lowered = name.lowercased()
                if lowered == "host" || H1Upstream.hopByHop.contains(lowered) { continue }
                if lowered == "te" && value.lowercased() != "trailers" { continue }
                block.add(name: lowered, value: value)
            }
            send(.headers(.init(headers: block, endStream: false)))
            openStream()
        case .body(let buffer):
            send(.data(.init(data: .byteBuffer(buffer), endStream: false)))
        case .end(let trailers):
            if let trailers, !trailers.isEmpty {
                var block = HPACKHeaders()
                for (name, value) in trailers { block.add(name: name.lowercased(), value: value) }
                send(.headers(.init(headers: block, endStream: true)))
            } else {
                send(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        stream?.flush()
        context.fireChannelReadComplete()
    }

    private func send(_ payload: HTTP2Frame.FramePayload) {
        if let stream {
            stream.write(payload)
        } else {
            pending.append(payload)
        }
    }

    private func openStream() {
        let token = Opening()
        opening = token
        pool.acquire(server: server, clientLocalPort: clientLocalPort, connectTimeout: connectTimeout) { result, _ in
            switch result {
            case .success(let connection):
                guard self.opening === token else { connection.streamEnded(); return }
                self.opening = nil
                guard let s = connection.openStream(owner: self) else {
                    connection.streamEnded()
                    self.streamFailed()
                    return
                }
                self.stream = s
                for p in self.pending { s.write(p) }
                self.pending.removeAll()
                s.flush()
            case .failure:
                guard self.opening === token else { return }
                self.opening = nil
                self.streamFailed()
            }
        }
    }

    /// No stream, or it ended before its response: a 502 if nothing was answered yet, else the
    /// connection closes (the HTTP/1 session sees the server go away mid-response).
    func upstreamAborted(refused: Bool) { streamFailed() }

    private func streamFailed() {
        guard let context else { return }
        stream = nil
        pending.removeAll()
        if !responseStarted {
            var head = HTTPResponseHead(version: .http1_1, status: .badGateway)
            head.headers.add(name: "content-length", value: "0")
            head.headers.add(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    func upstreamRead(_ payload: HTTP2Frame.FramePayload) {
        guard let context else { return }
        switch payload {
        case .headers(let h) where !responseStarted:
            let code = h.headers.first(name: ":status").flatMap { Int($0) } ?? 502
            if code < 200 { return }  // informational: HTTP/1 gets the final answer only
            responseStarted = true
            // No reason phrase: h2 has none, and haproxy sends none either (`HTTP/1.1 200 `).
            var head = HTTPResponseHead(version: .http1_1, status: .custom(code: UInt(code), reasonPhrase: ""))
            for (name, value, _) in h.headers where !name.hasPrefix(":") { head.headers.add(name: name, value: value) }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if h.endStream { finish(trailers: nil) }
        case .headers(let h):
            var trailers = HTTPHeaders()
            for (name, value, _) in h.headers { trailers.add(name: name, value: value) }
            finish(trailers: trailers)
        case .data(let d):
            if case .byteBuffer(let b) = d.data, b.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil) }
            if d.endStream { finish(trailers: nil) }
        default:
            break
        }
    }

    private func finish(trailers: HTTPHeaders?) {
        stream = nil
        context?.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
    }

    func upstreamReadComplete() { context?.flush() }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func read(context: ChannelHandlerContext) {
        if heldRead.pass(allowed: stream?.isWritable ?? true) { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { stream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func resumeReading() {
        if heldRead.release(), let context { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stream?.cancel()
        stream = nil
        opening = nil
        context.fireChannelInactive()
    }
}

extension BridgeHandler: H2UpstreamOwner {}
