// HAProxy's per-server health counter (src/check.c semantics), pure and unit-tested.
//
// `health` runs from 0 to rise+fall-1. A server is UP at start with health = rise ("up, but
// will go down at the first failure"). A passed check increments it; once it reaches `rise` the
// server is UP and health jumps to its maximum. A failed check decrements it while it is above
// `rise`; at `rise` or below, the server goes DOWN at once and health drops to 0. So from fully
// UP, `fall` failures in a row mark it DOWN; from DOWN, `rise` passes in a row mark it UP.

public enum HealthTransition: Sendable, Hashable { case wentUp, wentDown }

public struct ServerHealth: Sendable, Hashable {
    public private(set) var health: Int
    public let rise: Int
    public let fall: Int
    public private(set) var isUp: Bool

    public init(rise: Int, fall: Int, startsUp: Bool = true) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        isUp = startsUp
        health = startsUp ? self.rise : 0
    }

    public var maximum: Int { rise + fall - 1 }

    /// Records one check result; returns the state change it causes, if any.
    public mutating func record(_ passed: Bool) -> HealthTransition? {
        if passed {
            guard health < maximum else { return nil }
            health += 1
            if health >= rise {
                health = maximum
                if !isUp {
                    isUp = true
                    return .wentUp
                }
            }
            return nil
        }
        if health > rise {
            health -= 1
            return nil
        }
        health = 0
        if isUp {
            isUp = false
            return .wentDown
        }
        return nil
    }

    mutating func setHealth(_ value: Int) { health = max(0, min(maximum, value)) }

    /// Forces the state (e.g. `observe` marking a server down): health to 0 or to its maximum.
    public mutating func force(up: Bool) -> HealthTransition? {
        let was = isUp
        isUp = up
        health = up ? maximum : 0
        if was == up { return nil }
        return up ? .wentUp : .wentDown
    }

    /// HAProxy's `srv_getinter()`: `inter` when fully UP, `downinter` when fully DOWN,
    /// `fastinter` in between (each defaulting to `inter`).
    public func interval(inter: Duration, fastinter: Duration?, downinter: Duration?) -> Duration {
        if health == maximum && isUp { return inter }
        if !isUp && health == 0 { return downinter ?? inter }
        return fastinter ?? inter
    }
}

/// Spreading checks as HAProxy's `start_checks()`: server k of n first runs after
/// min-interval × k / n, and `spread-checks P` adds ±P% random jitter to every interval.
public enum CheckSpread {
    public static func initialDelays(count: Int, interval: Duration) -> [Duration] {
        (0..<count).map { interval * Double($0) / Double(max(count, 1)) }
    }

    /// `spread-checks`: the interval plus a random offset in [-P%, +P%] of it (`unit` in [0, 1)).
    public static func jittered(_ interval: Duration, percent: Int, unit: Double) -> Duration {
        guard percent > 0 else { return interval }
        let span = interval * (Double(min(percent, 50)) / 100.0)
        return interval + span - span * (2 * unit)
    }
}
