// HAProxy 2.6's server state-change messages (srv_append_status / srv_update_status), byte for byte.

extension CheckStatus {
    /// HAProxy's `get_check_status_description()`.
    public var description: String {
        switch self {
        case .l4ok: "Layer4 check passed"
        case .l4tout: "Layer4 timeout"
        case .l4con: "Layer4 connection problem"
        case .l6ok: "Layer6 check passed"
        case .l6tout: "Layer6 timeout"
        case .l6rsp: "Layer6 invalid response"
        case .l7ok: "Layer7 check passed"
        case .l7okc: "Layer7 check conditionally passed"
        case .l7tout: "Layer7 timeout"
        case .l7rsp: "Layer7 invalid response"
        case .l7sts: "Layer7 wrong status"
        case .sockerr: "Socket error"
        case .hana: "Health analyze"
        }
    }

    /// Statuses at or above HAProxy's HCHK_STATUS_L57DATA carry a `code`.
    public var carriesCode: Bool {
        switch self {
        case .l7ok, .l7okc, .l7sts: true
        default: false
        }
    }
}

public enum HealthMessages {
    /// `chunk_asciiencode(.., '"')`: non-printable bytes, `<`, `>` and `"` become `<XX>`.
    public static func asciiEncode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            if b < 0x20 || b >= 0x7F || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "\"") {
                let hex = String(b, radix: 16, uppercase: true)
                out += "<" + (hex.count == 1 ? "0" + hex : hex) + ">"
            } else {
                out.unicodeScalars.append(Unicode.Scalar(b))
            }
        }
        return out
    }

    /// `, reason: ..., code: N, info: "...", check duration: Nms`
    public static func checkPart(_ outcome: CheckOutcome) -> String {
        var s = ", reason: " + outcome.status.description
        if outcome.status.carriesCode { s += ", code: \(outcome.code ?? 0)" }
        if let info = outcome.info, !info.isEmpty { s += ", info: \"" + asciiEncode(info) + "\"" }
        // A negative duration means none (HAProxy's `observe` results carry none).
        if outcome.durationMilliseconds >= 0 { s += ", check duration: \(outcome.durationMilliseconds)ms" }
        return s
    }

    /// `[Backup ]Server be/s is DOWN, <check>. A active and B backup servers left.[ Running on backup.] ...`
    /// Without an outcome (`option log-health-checks` logged it already) the check part is left out.
    public static func serverDown(backend: String, server: String, isBackup: Bool, outcome: CheckOutcome?, activeLeft: Int,
                                  backupLeft: Int, sessionsActive: Int, requeued: Int, remainingInQueue: Int) -> String {
        serverDown(backend: backend, server: server, isBackup: isBackup, cause: outcome.map(checkPart) ?? "", activeLeft: activeLeft,
                   backupLeft: backupLeft, sessionsActive: sessionsActive, requeued: requeued, remainingInQueue: remainingInQueue)
    }

    /// The same with any cause text (`, reason: ...` of a check, or e.g. ` for maintenance`).
    public static func serverDown(backend: String, server: String, isBackup: Bool, cause: String, activeLeft: Int,
                                  backupLeft: Int, sessionsActive: Int, requeued: Int, remainingInQueue: Int) -> String {
        let onBackup = backupLeft > 0 && activeLeft == 0 ? " Running on backup." : ""
        return "\(isBackup ? "Backup " : "")Server \(backend)/\(server) is DOWN\(cause). \(activeLeft) active and "
            + "\(backupLeft) backup servers left.\(onBackup) \(sessionsActive) sessions active, \(requeued) requeued, "
            + "\(remainingInQueue) remaining in queue."
    }

    public static func serverUp(backend: String, server: String, isBackup: Bool, outcome: CheckOutcome?, activeOnline: Int,
                                backupOnline: Int, requeued: Int, totalInQueue: Int) -> String {
        let onBackup = backupOnline > 0 && activeOnline == 0 ? " Running on backup." : ""
        return "\(isBackup ? "Backup " : "")Server \(backend)/\(server) is UP\(outcome.map(checkPart) ?? ""). \(activeOnline) active and "
            + "\(backupOnline) backup servers online.\(onBackup) \(requeued) sessions requeued, \(totalInQueue) total in queue."
    }

    /// `backend 'be' has no server available!` (`proxy 'be' ...` for a `listen` section).
    public static func noServerAvailable(backend: String, kind: String = "backend") -> String {
        "\(kind) '\(backend)' has no server available!"
    }

    /// `option log-health-checks`: one line per check result that changes the health counter,
    /// as HAProxy's "Health check for server be/s succeeded/failed, reason: ..., status: H/R UP".
    public static func checkResult(backend: String, server: String, isBackup: Bool, outcome: CheckOutcome,
                                   health: ServerHealth) -> String {
        let verdict = outcome.passed ? "succeeded" : "failed"
        let state: String
        let shown: String
        if health.isUp {
            state = "UP"
            shown = "\(health.health - health.rise + 1)/\(health.fall)"
        } else {
            state = "DOWN"
            shown = "\(health.health)/\(health.rise)"
        }
        return "Health check for \(isBackup ? "backup " : "")server \(backend)/\(server) \(verdict)\(checkPart(outcome)), "
            + "status: \(shown) \(state)."
    }
}
