import NIOCore

/// Sits under NIOHTTP2's handler (toward the socket) and turns the many flushes of one event-loop
/// tick into one. Frames of a proxied stream are written to a connection while another connection
/// is being read, so each stream's flush would otherwise go to the socket alone: one `writev` and
/// one TCP segment per stream. Here the frames of every stream handled in the tick leave together,
/// at the end of the tick; a close flushes what is pending first.
final class FlushCoalescer: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var scheduled = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard !scheduled else { return }
        scheduled = true
        context.eventLoop.execute {
            guard self.scheduled else { return }
            self.scheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if scheduled {
            scheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
