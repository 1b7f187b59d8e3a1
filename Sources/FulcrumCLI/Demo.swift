import HTTP1
import NIOCore
import NIOPosix

/// `fulcrum --demo`: three tiny HTTP servers on loopback and an example configuration that
/// balances over them, so a newcomer can see Fulcrum work with nothing else installed.
final class DemoOrigins {
    static let frontendPort = 8080
    static let ports = [9101, 9102, 9103]
    static let configuration = """
        # The configuration `fulcrum --demo` runs (also in examples/demo.cfg).
        global
            maxconn 1000
        defaults
            mode http
            timeout connect 2s
            timeout client 30s
            timeout server 30s
            option forwardfor
        frontend demo
            bind 127.0.0.1:8080
            default_backend demo_servers
        backend demo_servers
            balance roundrobin
            server demo1 127.0.0.1:9101 weight 1
            server demo2 127.0.0.1:9102 weight 2
            server demo3 127.0.0.1:9103 weight 3
        """

    let group: MultiThreadedEventLoopGroup
    let channels: [any Channel]

    private init(group: MultiThreadedEventLoopGroup, channels: [any Channel]) {
        self.group = group
        self.channels = channels
    }

    static func start() throws -> DemoOrigins {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var channels: [any Channel] = []
        for (i, port) in ports.enumerated() {
            let name = "demo\(i + 1)"
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(DemoOriginHandler(name: name))
                    }
                }
                .bind(host: "127.0.0.1", port: port).wait()
            channels.append(channel)
        }
        return DemoOrigins(group: group, channels: channels)
    }

    func stop() {
        for c in channels { try? c.close().wait() }
        try? group.syncShutdownGracefully()
    }
}

/// Answers every request with a small text naming the server (keep-alive, pipelining, bodies skipped).
final class DemoOriginHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let name: String
    var input = ByteBuffer()
    var head = MessageHead()
    var skip: Int64 = 0

    init(name: String) { self.name = name }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        input.writeBuffer(&buffer)
        while true {
            if skip > 0 {
                let n = Int(min(skip, Int64(input.readableBytes)))
                input.moveReaderIndex(forwardBy: n)
                skip -= Int64(n)
                if skip > 0 { return }
            }
            let outcome = input.withUnsafeReadableBytes { raw -> Result<ParseOutcome, ParseError> in
                do throws(ParseError) { return .success(try HTTP1Parser.parseRequest(raw, into: &head, limits: ParseLimits())) } catch { return .failure(error) }
            }
            guard case .success(.complete) = outcome else {
                if case .failure = outcome { context.close(promise: nil) }
                return
            }
            input.moveReaderIndex(forwardBy: head.length)
            if case .contentLength(let n) = HTTP1Parser.requestFraming(head) { skip = n }
            let body = "Hello from \(name)\n"
            let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nX-Served-By: \(name)\r\n\r\n\(body)"
            context.write(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
            if !HTTP1Parser.requestWantsKeepAlive(head) {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: nil)
                context.close(promise: nil)
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        input.discardReadBytes()
    }
}
