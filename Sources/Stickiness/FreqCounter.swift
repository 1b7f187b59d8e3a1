// HAProxy's period-based frequency counter (the `*_rate(<period>)` data of stick tables): the
// events of the current period plus those of the previous period weighted by the part of the
// current period still to come. Pure Swift; times are milliseconds of a monotonic clock.

/// An event rate over a sliding period.
///
/// `tick` is the start of the current period. An event in the current period adds to `curr`; the
/// first event after it ends rotates (`prev` = `curr`) and starts the next period right after the
/// last one, or now when more than a whole period passed without event (then `prev` is zero).
/// The value read is `curr + prev × remaining / period`, `remaining` being the milliseconds left
/// in the current period (as seen from now: a period over with no event since reads as if
/// rotated).
public struct FreqCounter: Sendable, Equatable {
    public var tick: Int64 = 0
    public var curr: UInt32 = 0
    public var prev: UInt32 = 0

    public init() {}

    /// Counts `inc` events at `now`; returns the count of the current period.
    @discardableResult
    public mutating func add(_ inc: UInt32 = 1, now: Int64, period: Int64) -> UInt32 {
        guard period > 0 else { return 0 }
        if now - tick < period {
            curr &+= inc
            return curr
        }
        // Rotate: the period that ended becomes the previous one.
        prev = curr
        curr = inc
        var start = tick + period
        if now - start >= period {
            // More than one period went by: the previous one saw nothing.
            prev = 0
            start = now
        }
        // haproxy keeps the lowest bit of the tick for its own locking: its periods start on even ms.
        tick = start & ~1
        return inc
    }

    /// The rate at `now` over `period` ms.
    public func read(now: Int64, period: Int64) -> UInt32 {
        guard period > 0 else { return 0 }
        var current = UInt64(curr)
        var past = UInt64(prev)
        var remain = tick + period - now
        if remain < 0 {
            // The period is over: what was current is now the past, if still within one period.
            remain += period
            past = remain >= 0 ? current : 0
            current = 0
        }
        let weighted = remain > 0 ? past * UInt64(remain) : 0
        return UInt32(truncatingIfNeeded: (weighted + current * UInt64(period)) / UInt64(period))
    }
}
