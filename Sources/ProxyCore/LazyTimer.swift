import NIOCore

/// One timer per connection whose deadline moves without rescheduling: pushing the deadline later
/// (the common case, on every read) costs nothing; the scheduled task re-arms itself when it fires
/// early. Only moving the deadline earlier schedules a new task. Must be used on its event loop.
struct LazyTimer {
    private(set) var deadline: NIODeadline = .distantFuture
    private var scheduled: Scheduled<Void>?
    private var scheduledFor: NIODeadline = .distantFuture

    var isArmed: Bool { deadline != .distantFuture }

    /// Sets the deadline. Returns true when the caller must `schedule` a task (none is pending
    /// early enough): the closure is only built then, never on the common path.
    mutating func set(_ newDeadline: NIODeadline) -> Bool {
        deadline = newDeadline
        return scheduled == nil || newDeadline < scheduledFor
    }

    mutating func schedule(on loop: any EventLoop, fire: @escaping @Sendable () -> Void) {
        scheduled?.cancel()
        scheduledFor = deadline
        scheduled = loop.scheduleTask(deadline: deadline, fire)
    }

    mutating func disarm() {
        deadline = .distantFuture
    }

    mutating func cancel() {
        deadline = .distantFuture
        scheduled?.cancel()
        scheduled = nil
    }

    /// Call from `fire`. Returns true when the deadline really passed; otherwise re-arms.
    mutating func firedAndExpired(on loop: any EventLoop, fire: @escaping @Sendable () -> Void) -> Bool {
        scheduled = nil
        scheduledFor = .distantFuture
        if deadline == .distantFuture { return false }
        if NIODeadline.now() >= deadline { deadline = .distantFuture; return true }
        scheduledFor = deadline
        scheduled = loop.scheduleTask(deadline: deadline, fire)
        return false
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
