import NIOCore
import NIOPosix

enum ConnectError: Error { case noAddress, closed }

/// Opens server-side connections on the caller's event loop.
enum Connector {
    static func address(of server: ServerRuntime, clientLocalPort: Int?) -> SocketAddress? {
        guard var address = server.address else { return nil }
        if server.config.port == nil {
            guard var port = clientLocalPort else { return nil }
            if let offset = server.config.portOffset { port += offset }
            address = (try? SocketAddress(ipAddress: address.ipAddress ?? "", port: port)) ?? address
        }
        return address
    }

    static func connectHTTP(server: ServerRuntime, loopContext: LoopContext, clientLocalPort: Int?,
                            timeout: TimeAmount) -> EventLoopFuture<ServerConnection> {
        let loop = loopContext.eventLoop
        if server.config.proto == "h2" {
            return H1ToH2Bridge.connect(server: server, loopContext: loopContext, clientLocalPort: clientLocalPort, timeout: timeout)
        }
        guard let address = address(of: server, clientLocalPort: clientLocalPort) else {
            return loop.makeFailedFuture(ConnectError.noAddress)
        }
        let handler = ServerConnection(server: server, loopContext: loopContext)
        let handshake = server.tls != nil ? loop.makePromise(of: Void.self) : nil
        let connect = ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: true)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try server.tls?.addHandler(to: channel, handshake: handshake)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(to: address)
            .map { _ in handler }
        return TLSServerSide.connected(connect, handshake: handshake)
    }

    static func connectRaw(server: ServerRuntime, loop: any EventLoop, clientLocalPort: Int?, timeout: TimeAmount,
                           handler: any ChannelHandler & Sendable) -> EventLoopFuture<any Channel> {
        guard let address = address(of: server, clientLocalPort: clientLocalPort) else {
            return loop.makeFailedFuture(ConnectError.noAddress)
        }
        let handshake = server.tls != nil ? loop.makePromise(of: Void.self) : nil
        let connect = ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: true)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try server.tls?.addHandler(to: channel, handshake: handshake)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(to: address)
        return TLSServerSide.connected(connect, handshake: handshake)
    }
}
