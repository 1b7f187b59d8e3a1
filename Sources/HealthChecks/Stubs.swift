// TEMPORARY stand-ins with the agreed API; deleted when the real implementation is merged.
import HAProxyConfig

public enum HealthTransition: Sendable, Hashable { case wentUp, wentDown }

public struct ServerHealth: Sendable {
    public private(set) var health: Int
    public let rise: Int, fall: Int
    public private(set) var isUp: Bool
    public init(rise: Int, fall: Int, startsUp: Bool = true) {
        self.rise = rise; self.fall = fall; isUp = startsUp; health = startsUp ? rise : 0
    }
    public mutating func record(_ passed: Bool) -> HealthTransition? {
        if passed {
            if health < rise + fall - 1 { health += 1 }
            if !isUp && health >= rise { isUp = true; health = rise + fall - 1; return .wentUp }
        } else {
            if health > rise { health -= 1 } else { health = 0; if isUp { isUp = false; return .wentDown } }
        }
        return nil
    }
    public var isTransitioning: Bool { isUp ? health < rise + fall - 1 : health > 0 }
    public func interval(inter: Duration, fastinter: Duration?, downinter: Duration?) -> Duration {
        if isTransitioning { return fastinter ?? inter }
        return isUp ? inter : (downinter ?? inter)
    }
}

public enum HealthMessages {
    public static func serverDown(backend: String, server: String, isBackup: Bool, outcome: CheckOutcome, activeLeft: Int,
                                  backupLeft: Int, sessionsActive: Int, requeued: Int, remainingInQueue: Int) -> String {
        "Server \(backend)/\(server) is DOWN"
    }
    public static func serverUp(backend: String, server: String, isBackup: Bool, outcome: CheckOutcome, activeOnline: Int,
                                backupOnline: Int, requeued: Int, totalInQueue: Int) -> String {
        "Server \(backend)/\(server) is UP"
    }
    public static func noServerAvailable(backend: String) -> String { "backend '\(backend)' has no server available!" }
}

public enum HTTPCheckEvaluation {
    public static func request(_ settings: HTTPCheckSettings, host: String?) -> [UInt8] {
        Array("\(settings.method) \(settings.uri) \(settings.version)\r\n\r\n".utf8)
    }
    public static func evaluate(status: Int, reason: String, body: [UInt8], expects: [HTTPCheckExpect]) -> CheckOutcome {
        CheckOutcome(passed: (200..<400).contains(status), status: (200..<400).contains(status) ? .l7ok : .l7sts,
                     info: reason, code: status, durationMilliseconds: 0)
    }
}

public enum TCPCheckStep: Sendable { case connect(port: Int?), send([UInt8]), expect, done(CheckOutcome) }

public struct TCPCheckRunner: Sendable {
    public init(rules: [TCPCheckRule]) {}
    public mutating func next() -> TCPCheckStep { .done(CheckOutcome(passed: true, status: .l7ok, info: nil, durationMilliseconds: 0)) }
    public mutating func received(_ bytes: [UInt8], closed: Bool) -> TCPCheckStep? { nil }
    public static func script(for p: HealthCheckProtocol) -> [TCPCheckRule]? { nil }
}

public enum CheckSpread {
    public static func initialDelays(count: Int, interval: Duration) -> [Duration] {
        (0..<count).map { interval * Double($0) / Double(max(count, 1)) }
    }
}
