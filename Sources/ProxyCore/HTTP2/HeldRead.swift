/// The read of one side of a proxied exchange, held back while the other side cannot take more
/// (its HTTP/2 window or socket buffer is full) and let go once it can: backpressure end to end.
///
/// The methods only decide; the caller issues `context.read()` after they return, because a read
/// can re-enter the handler (and this value) before it returns.
struct HeldRead {
    private var pending = false

    /// The outbound `read` of a handler: true when it should pass now, else it is remembered.
    mutating func pass(allowed: Bool) -> Bool {
        if !allowed { pending = true }
        return allowed
    }

    /// The other side became writable: true when a remembered read should go out now.
    mutating func release() -> Bool {
        defer { pending = false }
        return pending
    }
}
