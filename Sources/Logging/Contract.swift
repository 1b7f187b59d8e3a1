// Contract of the Logging target (pure Swift, no NIO): HAProxy's log-format compiler and
// renderer, the syslog headers, and the termination state. The runtime (ProxyCore) fills a
// `LogRecord` per session/request and hands the rendered line to its senders.

/// A wall-clock instant (for %t, %tr, %T, %Ts, syslog timestamps).
public struct LogTime: Sendable, Hashable {
    public var seconds: Int        // since the epoch, UTC
    public var microseconds: Int   // 0..<1_000_000
    public init(seconds: Int, microseconds: Int) {
        self.seconds = seconds
        self.microseconds = microseconds
    }
}

/// What one log line reports. Timers are milliseconds, -1 when the step was not reached (HAProxy).
public struct LogRecord: Sendable {
    public var clientIP = "-", clientPort = 0
    public var frontendIP = "-", frontendPort = 0
    /// The proxy's source address toward the server (%bi/%bp).
    public var backendSourceIP = "-", backendSourcePort = 0
    public var serverIP = "-", serverPort = 0
    public var frontendName = "-"
    /// The frontend was reached over TLS (%ft gets a `~`).
    public var frontendTLS = false
    public var backendName = "-"
    /// "<NOSRV>" when no server was chosen.
    public var serverName = "<NOSRV>"
    /// Accept date (%t, %T, %Ts) and request date (%tr, %trg, %trl).
    public var acceptDate = LogTime(seconds: 0, microseconds: 0)
    public var requestDate = LogTime(seconds: 0, microseconds: 0)
    /// Th (handshake), Ti (idle before the request), TR (request head), Tw (queues), Tc (connect),
    /// Tr (response head), Ta (active: request to end), Tt (total from accept).
    public var th = 0, ti = 0, tR = -1, tw = -1, tc = -1, tr = -1, ta = -1, tt = -1
    /// HTTP status (%ST), -1 when none. haproxy prints 0 for TCP sessions: set 0 there.
    public var status = -1
    /// Bytes sent to the client (%B) and received from it (%U).
    public var bytesRead: Int64 = 0, bytesUploaded: Int64 = 0
    /// `option logasap`: the line is emitted before the end; Ta/Tt/B get a `+` prefix.
    public var logAsap = false
    /// Termination state: the first two characters (`--`, `CD`, `sH`, ...) and the cookie pair (`--`).
    public var terminationState: (Character, Character) = ("-", "-")
    public var cookieState: (Character, Character) = ("-", "-")
    /// Captured cookies (%CC %CS), nil = "-".
    public var requestCookie: String?, responseCookie: String?
    /// actconn, feconn, beconn, srv_conn, retries (retries with `+` when redispatched).
    public var actconn = 0, feconn = 0, beconn = 0, srvConn = 0, retries = 0
    public var redispatched = false
    /// srv_queue, backend_queue.
    public var serverQueue = 0, backendQueue = 0
    /// `capture request/response header` values in declaration order (nil: absent).
    public var capturedRequestHeaders: [String?] = []
    public var capturedResponseHeaders: [String?] = []
    /// The request line as received, without CRLF (%r); method, URI, version. Logged with
    /// '"', '#' and bytes outside 32..126 as #XX; a byte that is not UTF-8 cannot be carried by a
    /// String (haproxy would print a lone latin-1 byte E9 as #E9).
    public var requestLine: String?
    /// `unique-id-format` value (%ID).
    public var uniqueID: String?
    /// The server name the client's TLS ClientHello asked for (`ssl_fc_sni`), nil on clear connections.
    public var sni: String?
    public var pid = 0
    /// The system host name (%H). haproxy 2.6 prints the machine's name here even when
    /// `log-send-hostname <name>` sets another one for the syslog header.
    public var hostname = ""
    /// %rt: the request counter (HTTP request or TCP session, from 0), %lc: the frontend's log counter.
    public var requestCounter = 0, logCounter = 0
    /// %sslv / %sslc: the client-side TLS version and cipher, nil ("-") on clear connections.
    public var sslVersion: String?, sslCipher: String?
    /// Values of `%[sample,conv]` expressions, keyed by the expression as written between the
    /// brackets (e.g. "ssl_fc_err,hex"); a missing key renders "-" like a failed fetch.
    public var samples: [String: String] = [:]
    /// Rule values (`http-request set-header X %[...]`): a sample with no value renders nothing,
    /// where a log line shows `-` (haproxy's behaviour for both).
    public var emptySamples = false
    @inlinable public init() {}

}

/// A `log-format` string compiled once: literals and variables.
public struct LogFormat: Sendable, Hashable {
    public enum Token: Sendable, Hashable {
        case literal([UInt8])
        /// `%{+Q,-X}name`: a variable with its flags.
        case variable(name: String, quote: Bool, hex: Bool)
        /// `%[sample,converter]`: kept as written; rendered from `LogRecord.samples[expr]`, "-" when absent.
        case sample(String)
    }
    public var tokens: [Token] { didSet { relower() } }
    /// Indices in `tokens` of `.variable`/`.sample` tokens carrying the `E` flag (escape `"`, `\`
    /// and `]` with a backslash, for RFC5424 structured data); the token cases have no slot for it.
    public var escapedTokens: Set<Int> = [] { didSet { relower() } }
    /// Indices in `tokens` of `.sample` tokens carrying the `Q` flag.
    public var quotedSamples: Set<Int> = [] { didSet { relower() } }
    /// `log-format`/`log-format-sd` semantics (HAProxy's LOG_OPT_MERGE_SPACES): a `.literal([0x20])`
    /// token is a separator, emitted only when the previous output was not already a separator.
    /// `compile` emits one such token per run of spaces. False for e.g. `unique-id-format`.
    public var mergeSpaces = true { didSet { relower() } }
    /// The tokens lowered once for `render` (variable names resolved).
    var program: [LogOp] = []
    public init(tokens: [Token]) {
        self.tokens = tokens
        relower()
    }
    public init(tokens: [Token], escapedTokens: Set<Int>, quotedSamples: Set<Int>, mergeSpaces: Bool) {
        self.tokens = tokens
        self.escapedTokens = escapedTokens
        self.quotedSamples = quotedSamples
        self.mergeSpaces = mergeSpaces
        relower()
    }
}

/// An error in a log-format string, with HAProxy's wording where it has one.
public struct LogFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// HAProxy's syslog header formats (`log ... format NAME`).
public enum SyslogFormat: String, Sendable, Hashable {
    case rfc3164, rfc5424, short, raw, local, priority, timed, iso
}

/// Syslog facilities and levels by HAProxy's names.
public enum SyslogFacility: String, Sendable, Hashable, CaseIterable {
    case kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, auth2, ftp, ntp, audit, alert, cron2,
         local0, local1, local2, local3, local4, local5, local6, local7
    public var code: Int { Self.allCases.firstIndex(of: self)! }
}

public enum SyslogLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    case emerg, alert, crit, err, warning, notice, info, debug
    public var code: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: SyslogLevel, b: SyslogLevel) -> Bool { a.code < b.code }
}
