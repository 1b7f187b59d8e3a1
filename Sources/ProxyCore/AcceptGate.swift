import DequeModule
import NIOConcurrencyHelpers
import NIOCore

/// Frontend and global `maxconn` on a listener, enforced where connections are accepted: this
/// handler sits on the listening channel before NIO's acceptor and sees every accepted socket
/// synchronously. Within the limits it passes the socket on; beyond them it holds it (nothing is
/// read from it, as if it were still in the kernel backlog) and stops accepting until a slot
/// frees. Connections wait; none is refused or dropped.
final class AcceptGate: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    let frontend: FrontendRuntime
    private unowned let limits: ConnectionLimits
    private var context: ChannelHandlerContext?
    private var held = Deque<any Channel>()
    private var accepting = true

    init(frontend: FrontendRuntime, limits: ConnectionLimits) {
        self.frontend = frontend
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        for child in held { child.close(promise: nil) }
        held.removeAll()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        if held.isEmpty && limits.tryAcquire(frontend) {
            admit(child, context: context)
        } else {
            held.append(child)
            setAccepting(false, context: context)
        }
    }

    private func admit(_ child: any Channel, context: ChannelHandlerContext) {
        let limits = self.limits, frontend = self.frontend
        child.closeFuture.whenComplete { _ in limits.release(frontend) }
        context.fireChannelRead(wrapInboundOut(child))
    }

    /// Called on this listener's loop when a connection somewhere ended.
    func slotFreed() {
        guard let context else { return }
        while let child = held.first, limits.tryAcquire(frontend) {
            held.removeFirst()
            admit(child, context: context)
        }
        if held.isEmpty { setAccepting(true, context: context) }
    }

    private func setAccepting(_ on: Bool, context: ChannelHandlerContext) {
        guard on != accepting else { return }
        accepting = on
        context.channel.setOption(.autoRead, value: on).whenComplete { _ in }
        if on { context.read() }
    }
}

/// The counters behind frontend and global `maxconn`.
final class ConnectionLimits: @unchecked Sendable {
    let globalMaxconn: Int
    private let lock = NIOLock()
    private var global = 0
    private var perFrontend: [ObjectIdentifier: Int] = [:]
    /// Some gate holds or refused a connection: wake the gates when a slot frees.
    private var waiting = false
    private var gates: [(gate: AcceptGate, loop: any EventLoop)] = []

    init(globalMaxconn: Int) { self.globalMaxconn = globalMaxconn }

    func register(_ gate: AcceptGate, on loop: any EventLoop) {
        lock.withLock { gates.append((gate, loop)) }
    }

    var current: Int { lock.withLock { global } }

    func tryAcquire(_ frontend: FrontendRuntime) -> Bool {
        lock.withLock {
            let id = ObjectIdentifier(frontend)
            let fe = perFrontend[id, default: 0]
            guard fe < frontend.maxconn, global < globalMaxconn else {
                waiting = true
                return false
            }
            perFrontend[id] = fe + 1
            global += 1
            frontend.current.wrappingIncrement(ordering: .relaxed)
            return true
        }
    }

    func release(_ frontend: FrontendRuntime) {
        let toWake: [(gate: AcceptGate, loop: any EventLoop)] = lock.withLock {
            perFrontend[ObjectIdentifier(frontend), default: 1] -= 1
            global -= 1
            frontend.current.wrappingDecrement(ordering: .relaxed)
            guard waiting else { return [] }
            waiting = false
            return gates
        }
        for (gate, loop) in toWake { loop.execute { gate.slotFreed() } }
    }
}
