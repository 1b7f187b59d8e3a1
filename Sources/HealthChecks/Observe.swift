// `observe layer4|layer7` with `error-limit` and `on-error`: live traffic judges servers between
// checks (HAProxy's health_adjust()).

import HAProxyConfig

/// What live traffic saw of a server (HAProxy's HANA_STATUS_*).
public enum TrafficEvent: Sendable, Hashable {
    case connected, connectFailed
    case httpOK, httpWrongStatus, httpInvalidHeaders, httpInvalid, readError, readTimeout, closedByServer

    /// HAProxy's analyze status text.
    public var text: String {
        switch self {
        case .connected: "L4 successful connection"
        case .connectFailed: "L4 unsuccessful connection"
        case .httpOK: "Correct http response"
        case .httpWrongStatus: "Wrong http response"
        case .httpInvalidHeaders: "Invalid http response (headers)"
        case .httpInvalid: "Invalid http response"
        case .readError: "Read error (http)"
        case .readTimeout: "Read timeout (http)"
        case .closedByServer: "Close from server (http)"
        }
    }

    /// HAProxy's classification of a response status: 5xx other than 501 and 505 is an error.
    public static func forStatus(_ status: Int) -> TrafficEvent {
        status >= 100 && (status < 500 || status == 501 || status == 505) ? .httpOK : .httpWrongStatus
    }

    enum Verdict { case failure, success, ignored }

    func verdict(_ mode: ObserveMode) -> Verdict {
        switch (self, mode) {
        case (.connectFailed, _): .failure
        case (.connected, .layer4): .success
        case (.connected, .layer7): .ignored
        case (_, .layer4): .ignored
        case (.httpOK, .layer7): .success
        default: .failure
        }
    }
}

/// Counts consecutive live errors of one server; at `error-limit` it says what to do.
public struct TrafficObserver: Sendable, Hashable {
    public let mode: ObserveMode
    public let limit: Int
    public let action: OnErrorAction
    public private(set) var consecutiveErrors = 0

    public init(mode: ObserveMode, limit: Int, action: OnErrorAction) {
        self.mode = mode
        self.limit = max(1, limit)
        self.action = action
    }

    /// Records an event; at the limit returns the action and HAProxy's info text
    /// ("Detected 10 consecutive errors, last one was: L4 unsuccessful connection"), and starts over.
    public mutating func record(_ event: TrafficEvent) -> (action: OnErrorAction, info: String)? {
        switch event.verdict(mode) {
        case .ignored: return nil
        case .success:
            consecutiveErrors = 0
            return nil
        case .failure:
            consecutiveErrors += 1
            guard consecutiveErrors >= limit else { return nil }
            let info = "Detected \(consecutiveErrors) consecutive errors, last one was: \(event.text)"
            consecutiveErrors = 0
            return (action, info)
        }
    }
}

extension ServerHealth {
    /// Applies an `on-error` action as HAProxy: `fail-check` counts as a failed check,
    /// `sudden-death` leaves one check before DOWN, `mark-down` marks it DOWN now, `fastinter`
    /// only hastens the next check.
    public mutating func apply(_ action: OnErrorAction) -> HealthTransition? {
        switch action {
        case .fastinter:
            return nil
        case .failCheck:
            return record(false)
        case .suddenDeath:
            if health > rise + 1 { setHealth(rise + 1) }
            return record(false)
        case .markDown:
            setHealth(min(health, rise))
            return record(false)
        }
    }
}
