import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// The server half of a client HTTP/2 stream whose server speaks HTTP/1.1 (no `proto h2`):
/// the stream's header block becomes an HTTP/1.1 request (`:authority` → `Host`), the response
/// becomes a header block, DATA frames and trailers; connections are kept alive and reused by
/// the streams of the same event loop.
protocol StreamUpstream: AnyObject {
    var isWritable: Bool { get }
    func write(_ payload: HTTP2Frame.FramePayload)
    func flush()
    func resumeReading()
    func cancel()
}

final class H1Upstream: ChannelDuplexHandler, StreamUpstream, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private weak var session: H2StreamSession?
    let server: ServerRuntime
    let pool: H2Pool
    private var context: ChannelHandlerContext?
    private var heldRead = HeldRead()
    private var needsFlush = false
    private var requestEnded = false
    private var responseEnded = false
    private var keepAlive = true
    private var finalHeadSeen = false
    private var chunked = false
    private(set) var localAddressText: (ip: String, port: Int)?

    init(server: ServerRuntime, pool: H2Pool) {
        self.server = server
        self.pool = pool
    }

    func attach(_ session: H2StreamSession) {
        self.session = session
        requestEnded = false
        responseEnded = false
        finalHeadSeen = false
        keepAlive = true
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let a = context.channel.localAddress { localAddressText = (a.ipAddress ?? "-", a.port ?? 0) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    var isOpen: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: request (from the client stream)

    func write(_ payload: HTTP2Frame.FramePayload) {
        guard let context else { return }
        switch payload {
        case .headers(let h):
            if let method = h.headers.first(name: ":method") {
                var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method),
                                           uri: h.headers.first(name: ":path") ?? "/")
                var headers = HTTPHeaders()
                if !h.headers.contains(name: "host"), let authority = h.headers.first(name: ":authority") {
                    headers.add(name: "host", value: authority)
                }
                for (name, value, _) in h.headers where !name.hasPrefix(":") {
                    headers.add(name: name, value: value)
                }
                if h.endStream && !headers.contains(name: "content-length") && head.method.hasRequestBody {
                    headers.add(name: "content-length", value: "0")
                }
                head.headers = headers
                context.write(wrapOutboundOut(.head(head)), promise: nil)
            } else {
                // Request trailers.
                var trailers = HTTPHeaders()
                for (name, value, _) in h.headers { trailers.add(name: name, value: value) }
                context.write(wrapOutboundOut(.end(trailers)), promise: nil)
                requestEnded = true
                needsFlush = true
                return
            }
            if h.endStream {
                context.write(wrapOutboundOut(.end(nil)), promise: nil)
                requestEnded = true
            }
        case .data(let d):
            if d.data.readableBytes > 0 { context.write(wrapOutboundOut(.body(d.data)), promise: nil) }
            if d.endStream {
                context.write(wrapOutboundOut(.end(nil)), promise: nil)
                requestEnded = true
            }
        default:
            return
        }
        needsFlush = true
    }

    func flush() {
        if needsFlush {
            needsFlush = false
            context?.flush()
        }
    }

    // MARK: response (to the client stream)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code >= 200 { finalHeadSeen = true; keepAlive = head.isKeepAlive }
            // haproxy's %B counts the HTTP/1 head as it parsed it: the reason phrase and every
            // header but Connection; a chunked body counts one more byte at its end.
            chunked = head.headers["transfer-encoding"].contains { $0.lowercased().contains("chunked") }
            var size = 21 + 8 + 3 + head.status.reasonPhrase.utf8.count
            for (name, value) in head.headers where name.lowercased() != "connection" {
                size += name.utf8.count + value.utf8.count
            }
            session.upstreamHeadSize = size
            var block = HPACKHeaders()
            block.add(name: ":status", value: String(head.status.code))
            for (name, value) in head.headers {
                let lowered = name.lowercased()
                if H1Upstream.hopByHop.contains(lowered) { continue }
                block.add(name: lowered, value: value)
            }
            session.upstreamRead(.headers(.init(headers: block, endStream: false)))
        case .body(let buffer):
            session.upstreamRead(.data(.init(data: .byteBuffer(buffer), endStream: false)))
        case .end(let trailers):
            responseEnded = true
            self.session = nil
            if chunked { session.countResponseBytes(1) }
            if let trailers, !trailers.isEmpty {
                var block = HPACKHeaders()
                for (name, value) in trailers { block.add(name: name.lowercased(), value: value) }
                session.upstreamRead(.headers(.init(headers: block, endStream: true)))
            } else {
                session.upstreamRead(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
            }
            session.upstreamReadComplete()
            if keepAlive && requestEnded { pool.addIdle(self) } else { context.close(promise: nil) }
        }
    }

    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool.removeIdle(self)
        if let session, !responseEnded {
            self.session = nil
            session.upstreamAborted()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if heldRead.pass(allowed: session?.isWritable ?? true) { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func resumeReading() {
        if heldRead.release(), let context { context.read() }
    }

    /// The client stream is gone: the HTTP/1 exchange cannot be finished, the connection closes.
    func cancel() {
        guard session != nil else { return }
        session = nil
        context?.close(promise: nil)
    }

    /// Opens a connection to an HTTP/1.1 server on `loop`.
    static func connect(server: ServerRuntime, pool: H2Pool, clientLocalPort: Int?,
                        timeout: TimeAmount) -> EventLoopFuture<H1Upstream> {
        let loop = pool.eventLoop
        guard let address = Connector.address(of: server, clientLocalPort: clientLocalPort) else {
            return loop.makeFailedFuture(ConnectError.noAddress)
        }
        let handler = H1Upstream(server: server, pool: pool)
        let handshake = server.tls != nil ? loop.makePromise(of: Void.self) : nil
        let connect = ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try server.tls?.addHandler(to: channel, handshake: handshake)
                    let sync = channel.pipeline.syncOperations
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(handler)
                }
            }
            .connect(to: address)
            .map { _ in handler }
        return TLSServerSide.connected(connect, handshake: handshake)
    }
}

extension HTTPMethod {
    /// Methods whose request normally has a body (an empty one is then announced as length 0).
    var hasRequestBody: Bool {
        switch self {
        case .POST, .PUT, .PATCH: true
        default: false
        }
    }
}
