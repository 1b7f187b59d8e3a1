// Contract of the HealthChecks target (pure Swift, no NIO): the HAProxy server health state
// machine, check outcomes and HAProxy's state-change messages, and the evaluation of what a
// check read from a server. The NIO probes in ProxyCore feed it bytes and timings.

/// HAProxy's check status codes (the `%[check_status]` values) with their descriptions.
public enum CheckStatus: String, Sendable, Hashable {
    case l4ok = "L4OK"        // "Layer4 check passed"
    case l4tout = "L4TOUT"    // "Layer4 timeout"
    case l4con = "L4CON"      // "Layer4 connection problem"
    case l6ok = "L6OK", l6tout = "L6TOUT", l6rsp = "L6RSP"
    case l7ok = "L7OK"        // "Layer7 check passed"
    case l7okc = "L7OKC"      // "Layer7 check conditionally passed"
    case l7tout = "L7TOUT"    // "Layer7 timeout"
    case l7rsp = "L7RSP"      // "Layer7 invalid response"
    case l7sts = "L7STS"      // "Layer7 wrong status"
    case sockerr = "SOCKERR"  // "Socket error"
    case hana = "HANA"        // "Health analyze" (`observe` errors)
}

/// The outcome of one check.
public struct CheckOutcome: Sendable, Hashable {
    public var passed: Bool
    public var status: CheckStatus
    /// HAProxy's `info` text, e.g. "Connection refused", "HTTP status check returned code <500>".
    public var info: String?
    /// HTTP status or other code when there is one.
    public var code: Int?
    public var durationMilliseconds: Int
    public init(passed: Bool, status: CheckStatus, info: String?, code: Int? = nil, durationMilliseconds: Int) {
        self.passed = passed
        self.status = status
        self.info = info
        self.code = code
        self.durationMilliseconds = durationMilliseconds
    }
}
