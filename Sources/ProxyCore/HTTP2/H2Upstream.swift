import NIOCore
import NIOHTTP2

/// What a stream to an h2 server reports to: the client's stream (`H2StreamSession`) or an
/// HTTP/1 client's request (`BridgeHandler`).
protocol H2UpstreamOwner: AnyObject {
    /// A response frame (headers, data, trailers).
    func upstreamRead(_ payload: HTTP2Frame.FramePayload)
    /// The end of a read of the server connection that carried frames of this stream.
    func upstreamReadComplete()
    /// The stream closed before its response ended; `refused`: the server did not process it.
    func upstreamAborted(refused: Bool)
    /// The server stream can take more request data again.
    func resumeReading()
    /// The owner's side can take more response data (else the server's window is held).
    var isWritable: Bool { get }
}

/// The server half of a proxied stream: one stream of a shared `H2ServerConnection`, kept by the
/// connection's `H2ServerConnectionHandler` (no stream channel): frames are written with the
/// stream's ID, response frames come back through `owner`.
final class H2Upstream: StreamUpstream, @unchecked Sendable {
    private(set) weak var owner: (any H2UpstreamOwner)?
    let connection: H2ServerConnection
    private let handler: H2ServerConnectionHandler
    /// Given when the HEADERS are written (stream IDs must go out in order).
    private(set) var streamID: HTTP2StreamID?
    var flow: H2StreamFlow
    /// The response ended (END_STREAM from the server).
    var ended = false
    /// The stream is closed (or never opened and given up).
    var closed = false
    /// The server did not process the stream (it may be sent again).
    var refused = false
    /// The connection's stream count was given back.
    private var counted = false
    /// Read in the current read of the connection (owner gets `upstreamReadComplete`).
    var inReadList = false
    /// `isWritable` said no: tell the owner when it can write again.
    var wantsWritable = false
    private var needsFlush = false

    init(owner: any H2UpstreamOwner, connection: H2ServerConnection, handler: H2ServerConnectionHandler) {
        self.owner = owner
        self.connection = connection
        self.handler = handler
        self.flow = H2StreamFlow(target: H2Settings.serverSideWindow, initialWindow: H2Settings.serverSideWindow,
                                 credit: handler.peerInitialWindow)
    }

    var isWritable: Bool {
        if !closed, flow.canSend, handler.isWritable { return true }
        wantsWritable = true
        return false
    }

    func write(_ payload: HTTP2Frame.FramePayload) {
        guard !closed else { return }
        let id: HTTP2StreamID
        if let streamID {
            id = streamID
        } else {
            id = handler.register(self)
            streamID = id
        }
        if case .data(let d) = payload { flow.sent(d.data.readableBytes) }
        handler.write(HTTP2Frame(streamID: id, payload: payload))
        needsFlush = true
    }

    func flush() {
        if needsFlush {
            needsFlush = false
            handler.flush()
        }
    }

    /// The client side is gone: reset the server's stream (RST_STREAM CANCEL) if it is open.
    func cancel() {
        owner = nil
        guard !closed else { return }
        if let streamID {
            if !ended {
                handler.write(HTTP2Frame(streamID: streamID, payload: .rstStream(.cancel)))
                handler.flush()
            }
        } else {
            // Never opened: nothing was sent, the reservation is given back.
            closed = true
            release()
        }
    }

    /// The owner's side can take more: the server's window for this stream is given back.
    func resumeReading() {
        guard !closed, let streamID, let increment = flow.release() else { return }
        handler.write(HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: increment)))
        handler.flush()
    }

    // MARK: from the connection handler

    func received(_ payload: HTTP2Frame.FramePayload) {
        switch payload {
        case .headers(let h):
            if h.endStream { ended = true }
            owner?.upstreamRead(payload)
        case .data(let d):
            if d.endStream { ended = true }
            owner?.upstreamRead(payload)
            let length = d.data.readableBytes + (d.paddingBytes.map { $0 + 1 } ?? 0)
            let canForward = owner?.isWritable ?? true
            if !ended, let streamID, let increment = flow.received(length, canForward: canForward) {
                handler.write(HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: increment)))
                handler.needsFlush = true
            }
        case .rstStream(let code):
            // The stream closes next (StreamClosedEvent).
            if code == .refusedStream { refused = true }
        default:
            break
        }
    }

    func writableAgain() {
        guard wantsWritable else { return }
        wantsWritable = false
        owner?.resumeReading()
    }

    /// The stream closed (END_STREAM both ways, a reset either way, GOAWAY, connection lost).
    func streamClosed(reason: HTTP2ErrorCode?) {
        guard !closed else { return }
        closed = true
        release()
        if reason == .refusedStream { refused = true }
        // Above the last stream ID of a GOAWAY: not processed, whatever code closed it.
        if let last = connection.goAwayLastStreamID, let streamID, streamID > last { refused = true }
        if !ended, let owner {
            self.owner = nil
            owner.upstreamAborted(refused: refused)
        }
    }

    private func release() {
        if !counted { counted = true; connection.streamEnded() }
    }
}

/// Sits after NIOHTTP2's handler (no multiplexer) on a server connection: the table of its streams
/// (stream ID → `H2Upstream`), frames dispatched to them, stream windows given back as their
/// owners can take more, the connection window as it is used; SETTINGS, GOAWAY and close for the
/// connection.
final class H2ServerConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let connection: H2ServerConnection
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: H2Upstream] = [:]
    private var nextStreamID = HTTP2StreamID(1)
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE.
    private(set) var peerInitialWindow = 65535
    private var connectionWindow = H2ConnectionWindow(target: H2Settings.serverSideWindow)
    private var readList: [H2Upstream] = []
    var needsFlush = false
    private(set) var isActive = false

    init(connection: H2ServerConnection) { self.connection = connection }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        isActive = context.channel.isActive
    }

    func channelActive(context: ChannelHandlerContext) {
        isActive = true
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// The next stream ID, for a stream about to write its HEADERS.
    func register(_ up: H2Upstream) -> HTTP2StreamID {
        let id = nextStreamID
        nextStreamID = HTTP2StreamID(Int32(id) + 2)
        streams[id] = up
        return id
    }

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
            switch frame.payload {
            case .settings(.settings(let settings)):
                for s in settings {
                    switch s.parameter {
                    case .maxConcurrentStreams:
                        connection.maxStreams = max(1, s.value)
                    case .initialWindowSize:
                        let delta = s.value - peerInitialWindow
                        peerInitialWindow = s.value
                        if delta != 0 {
                            for up in streams.values where up.flow.granted(delta) { up.writableAgain() }
                        }
                    default:
                        break
                    }
                }
            case .goAway(let last, _, _):
                connection.goAwayLastStreamID = last
                connection.goAway()
            default:
                break
            }
            return
        }
        guard let up = streams[id] else { return }
        switch frame.payload {
        case .windowUpdate(let increment):
            if up.flow.granted(increment) { up.writableAgain() }
        case .headers, .data, .rstStream:
            if !up.inReadList {
                up.inReadList = true
                readList.append(up)
            }
            up.received(frame.payload)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !readList.isEmpty {
            let list = readList
            readList.removeAll(keepingCapacity: true)
            for up in list {
                up.inReadList = false
                up.owner?.upstreamReadComplete()
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
            if let up = streams.removeValue(forKey: e.streamID) { up.streamClosed(reason: e.reason) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for up in streams.values where up.wantsWritable { up.writableAgain() }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        connection.closed()
        let open = streams.values
        streams.removeAll()
        for up in open { up.streamClosed(reason: .cancel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let e = error as? NIOHTTP2Errors.StreamError {
            // A frame of ours for this stream was refused: a stream opened after the server's
            // GOAWAY was not processed (sent again elsewhere); anything else fails it.
            if let up = streams.removeValue(forKey: e.streamID) {
                let refused = Self.isAfterGoAway(e.baseError)
                if up.refused || refused {
                    up.refused = true
                } else {
                    write(HTTP2Frame(streamID: e.streamID, payload: .rstStream(.internalError)))
                    flush()
                }
                up.streamClosed(reason: refused ? .refusedStream : .internalError)
            }
            return
        }
        // Connection-level protocol errors close the connection; stream errors are the streams'.
        if error is NIOHTTP2Errors.StreamClosed { return }
        context.close(promise: nil)
    }

    private static func isAfterGoAway(_ error: any Error) -> Bool {
        if error is NIOHTTP2Errors.CreatedStreamAfterGoaway { return true }
        if let e = error as? NIOHTTP2Errors.StreamError { return isAfterGoAway(e.baseError) }
        return false
    }
}
