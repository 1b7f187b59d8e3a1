import NIOCore
import Samples

/// Sits before the TLS handler of a `bind ... ssl` connection and reads the server name the
/// client's ClientHello asks for (`ssl_fc_sni`); the bytes pass on untouched.
final class SNIPeekHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The name, once the first bytes came (nil without SNI).
    private(set) var serverName: String?
    private var seen = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !seen {
            seen = true
            let buffer = unwrapInboundIn(data)
            serverName = buffer.withUnsafeReadableBytes { ClientHello.serverName($0) }
        }
        context.fireChannelRead(data)
    }

    /// The peeker of a channel, if its connection is TLS.
    static func of(_ channel: any Channel) -> SNIPeekHandler? {
        try? channel.pipeline.syncOperations.handler(type: SNIPeekHandler.self)
    }
}
