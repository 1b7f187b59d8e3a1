/// HTTP/2 flow control of one stream as the proxy keeps it when NIOHTTP2 runs without its stream
/// multiplexer (frames in, frames out, no per-stream channel): what the peer may still send us
/// (our receive window, given back with WINDOW_UPDATE) and what we may still send the peer.
///
/// End-to-end backpressure: the receive window is given back only while the other side of the
/// proxied exchange can take more (`held` otherwise), so a slow reader holds the peer's window
/// instead of filling the proxy's memory. Pure value type; the owner writes the frames.
public struct H2StreamFlow: Equatable, Sendable {
    /// The receive window we keep the peer at (tune.h2.initial-window-size toward clients).
    public let target: Int
    /// Our receive window as the peer sees it: the initial window, less what it sent, plus what
    /// we gave back.
    public private(set) var window: Int
    /// The other side cannot take more: the window is not given back until `release()`.
    public private(set) var held = false
    /// What we may still send: the peer's window for this stream, less what we sent.
    public private(set) var credit: Int

    public init(target: Int, initialWindow: Int, credit: Int) {
        self.target = target
        self.window = initialWindow
        self.credit = credit
    }

    // MARK: receiving

    /// The peer sent `length` flow-controlled bytes (DATA payload and padding). `canForward`: the
    /// other side can take more now. Returns the WINDOW_UPDATE increment to send now, if any.
    public mutating func received(_ length: Int, canForward: Bool) -> Int? {
        window -= length
        if !canForward {
            held = true
            return nil
        }
        held = false
        return giveBack()
    }

    /// The other side cannot take more: keep the window where it is.
    public mutating func hold() { held = true }

    /// The other side can take more again: the increment to send now, if any.
    public mutating func release() -> Int? {
        guard held else { return nil }
        held = false
        return giveBack()
    }

    /// NIOHTTP2's rule (InboundWindowManager): back to `target` once the window is at half of it
    /// or below; a window pushed negative (a smaller SETTINGS_INITIAL_WINDOW_SIZE) goes back too.
    private mutating func giveBack() -> Int? {
        guard let increment = H2StreamFlow.increment(window: window, target: target) else { return nil }
        window += increment
        return increment
    }

    public static func increment(window: Int, target: Int) -> Int? {
        if window >= target { return nil }
        if window >= 0 {
            let increment = target - window
            return increment >= window ? increment : nil
        }
        return min(-window + target, Int(Int32.max))
    }

    // MARK: sending

    public var canSend: Bool { credit > 0 }

    /// We wrote `length` flow-controlled bytes.
    public mutating func sent(_ length: Int) { credit -= length }

    /// WINDOW_UPDATE from the peer (or a change of its SETTINGS_INITIAL_WINDOW_SIZE, possibly
    /// negative). True when sending became possible again.
    public mutating func granted(_ increment: Int) -> Bool {
        let before = credit
        credit += increment
        return before <= 0 && credit > 0
    }
}

/// The connection's receive window (stream 0): given back as it is used, without backpressure
/// (each stream's window does that), as NIOHTTP2's multiplexer does.
public struct H2ConnectionWindow: Sendable {
    public let target: Int
    public private(set) var window: Int?

    public init(target: Int) { self.target = target }

    /// The window as NIOHTTP2 last reported it; the increment to send now, if any.
    public mutating func update(_ size: Int) -> Int? {
        guard let increment = H2StreamFlow.increment(window: size, target: target) else {
            window = size
            return nil
        }
        window = size + increment
        return increment
    }
}
