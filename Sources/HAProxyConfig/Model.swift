// The typed, validated model of a haproxy.cfg. This file is the contract between the
// configuration parser (which fills it) and the runtime (ProxyCore), which only reads it.
// Everything here is a Sendable value type; nothing imports NIO.

/// Where a line came from.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
    public var description: String { "\(file):\(line)" }
}

/// One alert or warning, worded like HAProxy's:
/// `[ALERT]    (config) : parsing [file:line] : 'keyword' in section 'name': message`
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: Sendable, Hashable { case alert, warning, notice }
    public var severity: Severity
    public var location: SourceLocation?
    /// e.g. `frontend 'web'`, `global`, `defaults`.
    public var section: String?
    public var keyword: String?
    public var message: String

    public init(_ severity: Severity, _ message: String, location: SourceLocation? = nil,
                section: String? = nil, keyword: String? = nil) {
        self.severity = severity
        self.location = location
        self.section = section
        self.keyword = keyword
        self.message = message
    }

    public var description: String {
        let tag: String
        switch severity {
        case .alert: tag = "[ALERT]    (config) : "
        case .warning: tag = "[WARNING]  (config) : "
        case .notice: tag = "[NOTICE]   (config) : "
        }
        var s = tag
        if let location { s += "parsing [\(location.file):\(location.line)] : " }
        if let keyword {
            s += "'\(keyword)'"
            if let section { s += " in \(section)" }
            s += ": "
        } else if let section {
            s += "\(section): "
        }
        s += message
        return s
    }
}

public enum ProxyMode: String, Sendable, Hashable { case http, tcp }

/// One listening address of a `bind` line.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// `host` is nil for `*` / empty (all IPv4 addresses); `::` for all IPv6; a name is resolved at start.
    case inet(host: String?, port: Int)
    case unix(path: String)
    /// `fd@N`: an inherited, already-listening socket.
    case fd(Int32)

    public var description: String {
        switch self {
        case let .inet(host, port):
            guard let host else { return "*:\(port)" }
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): return "unix@\(path)"
        case let .fd(n): return "fd@\(n)"
        }
    }
}

public struct Bind: Sendable, Hashable {
    public var addresses: [ListenAddress]
    public var location: SourceLocation
    /// `proto h2` etc. (HTTP/2 arrives with a later issue; the validator rejects it for now).
    public var proto: String?
    public var ssl: Bool = false
    public var certificates: [String] = []
    public var alpn: [String] = []
    public var name: String?
    public var acceptProxy: Bool = false
    /// Every `bind` option as written, for later issues.
    public var options: [String] = []

    public init(addresses: [ListenAddress], location: SourceLocation) {
        self.addresses = addresses
        self.location = location
    }
}

/// Health-check settings of a `server` / `default-server` line (used by the health-check issue).
public struct CheckSettings: Sendable, Hashable {
    public var enabled: Bool = false
    public var inter: Duration = .seconds(2)
    public var fastinter: Duration?
    public var downinter: Duration?
    public var rise: Int = 2
    public var fall: Int = 3
    public var port: Int?
    public var addr: String?
    public var slowstart: Duration?
    /// `observe layer4|layer7`: live traffic errors count against the server.
    public var observe: ObserveMode?
    /// `error-limit N` (default 10): consecutive live errors before `on-error` applies.
    public var errorLimit: Int = 10
    /// `on-error` (default fail-check).
    public var onError: OnErrorAction = .failCheck
    /// `on-marked-down shutdown-sessions`.
    public var shutdownSessionsOnDown: Bool = false
    /// `on-marked-up shutdown-backup-sessions`.
    public var shutdownBackupSessionsOnUp: Bool = false
    public init() {}
}

public enum ObserveMode: String, Sendable, Hashable { case layer4, layer7 }

public enum OnErrorAction: String, Sendable, Hashable {
    case fastinter, failCheck = "fail-check", suddenDeath = "sudden-death", markDown = "mark-down"
}

public struct Server: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation
    /// Host name or IP literal as written (`[v6]` brackets removed).
    public var host: String
    /// nil: use the port the client connected to (HAProxy's "no port" form).
    public var port: Int?
    /// `+N`/`-N` port forms: the client's destination port plus this offset.
    public var portOffset: Int?
    public var weight: Int = 1
    /// 0 = unlimited.
    public var maxconn: Int = 0
    public var minconn: Int = 0
    /// 0 = unlimited.
    public var maxqueue: Int = 0
    public var backup: Bool = false
    public var disabled: Bool = false
    public var check = CheckSettings()
    public var proto: String?
    public var ssl: Bool = false
    public var cookie: String?
    public var sendProxy: Bool = false
    public var id: Int?
    /// `max-reuse N`: streams a server connection carries before it is retired (-1: no limit).
    public var maxReuse: Int?
    /// `pool-purge-delay T`: how long idle server connections are kept (HAProxy: 5 s).
    public var poolPurgeDelay: Duration?
    /// Every option as written, for later issues.
    public var options: [String] = []

    public init(name: String, location: SourceLocation, host: String, port: Int?) {
        self.name = name
        self.location = location
        self.host = host
        self.port = port
    }
}

public enum HashFunction: String, Sendable, Hashable { case sdbm, djb2, wt6, crc32, none }

public enum HashType: Sendable, Hashable {
    case mapBased
    case consistent
}

public struct HashSettings: Sendable, Hashable {
    public var type: HashType = .mapBased
    public var function: HashFunction = .sdbm
    public var avalanche: Bool = false
    public init() {}
}

public enum BalanceAlgorithm: Sendable, Hashable {
    case roundRobin
    case staticRoundRobin
    case leastConn
    case first
    case source
    /// `uri [whole] [len N] [depth N] [path-only]`
    case uri(whole: Bool, length: Int?, depth: Int?, pathOnly: Bool)
    /// `url_param NAME [check_post]`
    case urlParam(name: String, checkPost: Bool)
    /// `hdr(NAME) [use_domain_only]`
    case header(name: String, useDomainOnly: Bool)
    /// `random[(draws)]`, default 2 draws.
    case random(draws: Int)
    /// `rdp-cookie[(NAME)]`, default name `mstshash`.
    case rdpCookie(name: String)

    /// Whether HAProxy picks the server by hashing a key (these honour `hash-type`).
    public var isHashBased: Bool {
        switch self {
        case .source, .uri, .urlParam, .header, .rdpCookie: return true
        default: return false
        }
    }
}

public struct Timeouts: Sendable, Hashable {
    public var connect: Duration?
    public var client: Duration?
    public var server: Duration?
    public var queue: Duration?
    public var httpRequest: Duration?
    public var httpKeepAlive: Duration?
    public var tunnel: Duration?
    public var clientFin: Duration?
    public var serverFin: Duration?
    public var check: Duration?
    public var tarpit: Duration?
    public init() {}
}

/// `option forwardfor [except NET] [header NAME] [if-none]`
public struct ForwardFor: Sendable, Hashable {
    public var header: String = "X-Forwarded-For"
    /// `except` network as written (`127.0.0.0/8`, `::1`).
    public var except: String?
    public var ifNone: Bool = false
    public init() {}
}

/// How HAProxy treats connections in `mode http`.
public enum HTTPConnectionMode: Sendable, Hashable {
    /// `option http-keep-alive` (default)
    case keepAlive
    /// `option http-server-close`
    case serverClose
    /// `option httpclose`
    case close
}

/// The access-log line of a proxy.
public enum LogStyle: Sendable, Hashable {
    /// No `option httplog/tcplog` nor `log-format`: HAProxy's default.
    case connection
    case http, httpCLF, https, tcp
    case custom(String)
}

/// `capture request|response header NAME len N` / `capture cookie NAME len N`; a slot with an
/// empty name is one `declare capture` or `http-request capture ... len N` made for rules.
public struct HeaderCapture: Sendable, Hashable {
    public var name: String
    public var length: Int
    public init(name: String, length: Int) {
        self.name = name
        self.length = length
    }
}

/// A `log` line.
public struct LogTarget: Sendable, Hashable {
    /// `global` for `log global`; otherwise the address/path as written.
    public var address: String
    public var facility: String?
    public var level: String?
    public var minLevel: String?
    public var arguments: [String]
    public var location: SourceLocation
    public init(address: String, facility: String?, level: String?, minLevel: String?,
                arguments: [String], location: SourceLocation) {
        self.address = address
        self.facility = facility
        self.level = level
        self.minLevel = minLevel
        self.arguments = arguments
        self.location = location
    }
}

/// A configuration line as written, after quoting/escapes/env expansion: `words[0]` is the keyword.
public struct Directive: Sendable, Hashable {
    public var words: [String]
    public var location: SourceLocation
    public init(words: [String], location: SourceLocation) {
        self.words = words
        self.location = location
    }
    public var keyword: String { words.first ?? "" }
}

public enum ProxyKind: String, Sendable, Hashable { case frontend, backend, listen }

/// A frontend, backend or listen section with its `defaults` already applied.
public struct Proxy: Sendable, Hashable {
    public var name: String
    public var kind: ProxyKind
    public var location: SourceLocation
    public var mode: ProxyMode = .tcp
    public var binds: [Bind] = []
    /// Frontend `maxconn`; nil = the global default.
    public var maxconn: Int?
    /// `fullconn` (backend).
    public var fullconn: Int?
    public var defaultBackend: String?
    public var servers: [Server] = []
    public var defaultServer: Server?
    public var balance: BalanceAlgorithm = .roundRobin
    public var hash = HashSettings()
    public var timeouts = Timeouts()
    public var retries: Int = 3
    /// `option redispatch [interval]`: nil = off; the interval (default 1: redispatch on every retry).
    public var redispatch: Int?
    public var forwardFor: ForwardFor?
    public var httpConnectionMode: HTTPConnectionMode = .keepAlive
    public var acceptInvalidHTTPRequest: Bool = false
    public var acceptInvalidHTTPResponse: Bool = false
    /// `errorfile CODE FILE`: the file's contents (a whole HTTP response), loaded and checked at parse time.
    public var errorFiles: [Int: [UInt8]] = [:]
    /// `errorfiles NAME` referencing an `http-errors` section, resolved into `errorFiles` by validation.
    public var logs: [LogTarget] = []
    /// `option NAME` / `no option NAME` flags that have no typed field yet (httplog, tcplog, dontlognull, logasap, ...).
    public var options: [String: Bool] = [:]
    /// Every line of the section (and the ones inherited from defaults), as written, for later issues.
    public var directives: [Directive] = []
    /// `description TEXT`.
    public var descriptionText: String?
    /// `id N`.
    public var proxyID: Int?
    /// `disabled` (the proxy is declared but not started); `enabled` resets it.
    public var disabled: Bool = false
    /// `errorfiles NAME [CODE...]` references, in order (resolved into `errorFiles` by validation).
    public var errorFilesReferences: [ErrorFilesReference] = []
    /// What this backend's server checks do (`check` on a server turns them on).
    public var healthCheck: HealthCheckProtocol = .layer4
    /// `option log-health-checks`.
    public var logHealthChecks: Bool = false
    /// `option allbackups`: with no active server up, balance over every backup server, not only the first.
    public var allBackups: Bool = false
    /// Which access-log line this proxy writes (`option httplog [clf]`, `option httpslog`,
    /// `option tcplog`, `log-format`; the last one wins, as in HAProxy).
    public var logStyle: LogStyle = .connection
    /// Where `logStyle` was set (for log-format errors).
    public var logStyleLocation: SourceLocation?
    public var logFormatSD: String?
    public var errorLogFormat: String?
    public var dontLogNull: Bool = false
    public var dontLogNormal: Bool = false
    public var logAsap: Bool = false
    public var logSeparateErrors: Bool = false
    /// `capture request header NAME len N`, `capture response header NAME len N`, `capture cookie NAME len N`.
    public var requestCaptures: [HeaderCapture] = []
    public var responseCaptures: [HeaderCapture] = []
    public var cookieCapture: HeaderCapture?
    /// Proxy `log-tag`.
    public var logTag: String?
    public var uniqueIDFormat: String?
    public var uniqueIDHeader: String?
    /// `http-request` rules, in order.
    public var httpRequestRules: [HTTPRequestRule] = []
    /// `redirect` lines (run after the proxy's http-request rules).
    public var redirectRules: [HTTPRequestRule] = []
    /// `http-response` and `http-after-response` rules, in order.
    public var httpResponseRules: [HTTPRequestRule] = []
    public var httpAfterResponseRules: [HTTPRequestRule] = []
    /// `monitor-uri PATH`: answered 200 by the proxy itself.
    public var monitorURI: String?
    /// `monitor fail if|unless COND`: the condition words (from `if`/`unless`), in order.
    public var monitorFail: [[String]] = []
    /// `acl` lines, in order (same-named lines are ORed).
    public var acls: [ACLDefinition] = []
    /// `use_backend` rules, in order.
    public var backendSwitches: [BackendSwitchRule] = []
    /// `use-server` rules, in order, and the `force-persist` conditions (ServerRuleBuilder.swift).
    public var useServerRules: [UseServerRule] = []
    /// `force-persist` and `ignore-persist` rules, in order.
    public var persistRules: [PersistRule] = []
    /// The `force-persist` conditions.
    public var forcePersist: [[String]] { persistRules.filter { $0.kind == .force }.map(\.condition) }
    /// `dynamic-cookie-key KEY`.
    public var dynamicCookieKey: String?
    /// `option persist`: a cookie (or use-server, stick) naming a server that is down still sends the request there.
    public var persist: Bool { options["persist"] == true }
    /// `cookie NAME ...` persistence.
    public var cookie: CookiePersistence?
    /// `stick-table ...`, `tcp-request ...` and `stick ...` lines (StickModel.swift).
    public var stickTable: StickTableConfig?
    public var tcpRequestRules: [TCPRequestRule] = []
    /// `tcp-request inspect-delay T`: how long content rules may wait for the client's bytes.
    public var tcpInspectDelay: Duration?
    /// `tcp-response content ...` rules and `tcp-response inspect-delay T` (backends and listens).
    public var tcpResponseRules: [TCPResponseRule] = []
    public var tcpResponseInspectDelay: Duration?
    public var stickRules: [StickRule] = []
    /// Enabled capabilities derived from `kind`.
    public var isFrontend: Bool { kind != .backend }
    public var isBackend: Bool { kind != .frontend }

    public init(name: String, kind: ProxyKind, location: SourceLocation) {
        self.name = name
        self.kind = kind
        self.location = location
    }
}

public struct GlobalSettings: Sendable, Hashable {
    /// nil = HAProxy's computed default; Fulcrum uses 4096 unless the limit of open files says less.
    public var maxconn: Int?
    /// nil = one event loop per core.
    public var nbthread: Int?
    public var daemon: Bool = false
    public var pidfile: String?
    public var user: String?
    public var group: String?
    public var uid: Int?
    public var gid: Int?
    public var chroot: String?
    public var logs: [LogTarget] = []
    public var statsSockets: [Directive] = []
    /// `tune.*` keywords: name -> value as written.
    public var tune: [String: String] = [:]
    /// `spread-checks PERCENT` (0..50): random jitter applied to check intervals.
    public var spreadChecks: Int = 0
    /// `tune.bufsize` (default 16384): the largest request/response head accepted.
    public var bufsize: Int = 16384
    /// `tune.maxrewrite` (default 1024): the part of bufsize reserved for header rewrites.
    public var maxrewrite: Int = 1024
    /// `tune.http.maxhdr` (default 101).
    public var maxHeaders: Int = 101
    /// `tune.h2.max-concurrent-streams|initial-window-size|header-table-size|max-frame-size`.
    public var h2: [String: Int] = [:]
    public var directives: [Directive] = []
    /// `stats timeout` (default 10s).
    public var statsTimeout: Duration?
    public var hardStopAfter: Duration?
    public var ulimitN: Int?
    public var masterWorker: Bool = false
    public var caBase: String?
    public var crtBase: String?
    public var logTag: String?
    public var logSendHostname: String?
    public var node: String?
    public var descriptionText: String?
    public var localpeer: String?
    public var exposeExperimentalDirectives: Bool = false
    /// `ssl-default-bind-*` / `ssl-default-server-*`: keyword -> value as written.
    public var sslDefaults: [String: String] = [:]
    /// `cpu-map` lines as written.
    public var cpuMap: [Directive] = []
    public init() {}
}

/// An `errorfiles NAME [CODE...]` line of a proxy.
public struct ErrorFilesReference: Sendable, Hashable {
    public var section: String
    /// Empty = every code of the section.
    public var codes: [Int]
    public var location: SourceLocation
    public init(section: String, codes: [Int], location: SourceLocation) {
        self.section = section
        self.codes = codes
        self.location = location
    }
}

/// An `http-errors NAME` section.
public struct HTTPErrorsSection: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation
    public var errorFiles: [Int: [UInt8]] = [:]
    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
    }
}

/// The whole, validated configuration.
public struct Configuration: Sendable, Hashable {
    public var global = GlobalSettings()
    /// Frontends, backends and listens in file order.
    public var proxies: [Proxy] = []
    public var httpErrors: [HTTPErrorsSection] = []
    public var userlists: [Userlist] = []
    public init() {}

    public func proxy(named name: String) -> Proxy? { proxies.first { $0.name == name } }
    public var frontends: [Proxy] { proxies.filter(\.isFrontend) }
    public var backends: [Proxy] { proxies.filter(\.isBackend) }
}

// MARK: - Health checks (issue: health checks, server states and failure handling)

/// `http-check expect [!] status|rstatus|string|rstring PATTERN`
public struct HTTPCheckExpect: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case status, rstatus, string, rstring }
    public var kind: Kind
    public var negate: Bool
    /// For `status`: one or more codes or ranges as written (`200`, `200-399`, `200,301`).
    public var pattern: String
    public init(kind: Kind, negate: Bool, pattern: String) {
        self.kind = kind
        self.negate = negate
        self.pattern = pattern
    }
}

public struct HTTPHeaderPair: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `option httpchk [METHOD] [URI] [VERSION]` and the 2.x `http-check send meth|uri|ver|hdr|body`.
public struct HTTPCheckSettings: Sendable, Hashable {
    public var method = "OPTIONS"
    public var uri = "/"
    public var version = "HTTP/1.0"
    public var headers: [HTTPHeaderPair] = []
    public var body: String?
    /// Empty: HAProxy's default, a 2xx or 3xx status passes.
    public var expects: [HTTPCheckExpect] = []
    public init() {}
}

public enum TCPCheckExpectKind: String, Sendable, Hashable { case string, rstring, binary, rbinary }

/// One `tcp-check` rule, in order.
public enum TCPCheckRule: Sendable, Hashable {
    /// `tcp-check connect [port N]` (nil: the server's check port).
    case connect(port: Int?)
    /// `tcp-check send STRING` (escapes such as `\r\n` already applied by the lexer).
    case send([UInt8])
    /// `tcp-check send-binary HEX`.
    case sendBinary([UInt8])
    /// `tcp-check expect [!] string|rstring|binary|rbinary PATTERN` (binary patterns as hex text).
    case expect(negate: Bool, kind: TCPCheckExpectKind, pattern: String)
    case comment(String)
}

/// What a backend's checks do.
public enum HealthCheckProtocol: Sendable, Hashable {
    /// Plain TCP connect (`check` with no option).
    case layer4
    case http(HTTPCheckSettings)
    /// `option tcp-check` with its rules (empty: connect only).
    case tcpScript([TCPCheckRule])
    /// `option redis-check`: PING, expects +PONG.
    case redis
    /// `option mysql-check [user NAME [post-41]]`
    case mysql(user: String?)
    /// `option pgsql-check user NAME`
    case pgsql(user: String)
    /// `option smtpchk [HELO|EHLO domain]`
    case smtp(command: String, domain: String)
}


/// An `http-request` rule: `set-header NAME FMT`, `add-header NAME FMT`, `del-header NAME`,
/// `allow`, `deny [deny_status N]`, each with an optional `if|unless` condition.
public struct HTTPRequestRule: Sendable, Hashable {
    /// The actions of `http-request`, `http-response`, `http-after-response` and `redirect` lines.
    public enum Action: String, Sendable, Hashable {
        case set = "set-header", add = "add-header", del = "del-header", allow, deny
        case replaceHeader = "replace-header", replaceValue = "replace-value"
        case setPath = "set-path", setPathQ = "set-pathq", setQuery = "set-query", setURI = "set-uri"
        case setMethod = "set-method", setStatus = "set-status"
        case replacePath = "replace-path", replacePathQ = "replace-pathq", replaceURI = "replace-uri"
        case redirect, `return`, auth, tarpit
        /// `set-var(NAME) EXPR`, `set-var-fmt(NAME) FMT`, `unset-var(NAME)` (the name in `name`).
        case setVar = "set-var", setVarFmt = "set-var-fmt", unsetVar = "unset-var"
        /// `track-scN`, `sc-inc-gpc0(N)`, `sc-set-gpt0(N)`: the action is in `counter`.
        case stickCounter = "track-sc"
        /// `wait-for-body time T [at-least N]` (RequestBuffering.swift runs it).
        case waitForBody = "wait-for-body"
        /// `capture SAMPLE len N|id N`: the sample in `value`, the slot in `captureSlot`.
        case capture
        /// `set-log-level LEVEL|silent` (in `name`), `set-timeout server|tunnel TIME|EXPR` (kind in
        /// `name`, the value in `value`).
        case setLogLevel = "set-log-level", setTimeout = "set-timeout"
        /// `normalize-uri NAME [full|strict]`: the normalizer in `name`, its option in `value`.
        case normalizeURI = "normalize-uri"
    }
    /// `wait-for-body`: the longest wait and the bytes that end it early (0: the whole body).
    public var waitTime: Duration?
    public var waitAtLeast: Int = 0
    /// `capture`: the frontend's capture slot (request or response) the value goes to.
    public var captureSlot: Int?
    /// The stick counter action of a `.stickCounter` rule.
    public var counter: StickCounterAction?
    public var action: Action
    /// The header name (header actions).
    public var name: String
    /// A log-format string (`%[dst_port]`, `%ci`, literals) for set-header/add-header, the
    /// replacement of replace-*, the new value of set-path/-query/-uri/-method.
    public var value: String?
    /// `deny_status` (403 by default), the status of `set-status`.
    public var status: Int?
    /// The regex of replace-header/replace-value.
    public var pattern: String?
    /// `set-status N reason TEXT`, `auth realm TEXT`.
    public var reason: String?
    public var redirect: RedirectSpec?
    public var reply: ReplySpec?
    /// The words from `if`/`unless` on, nil without condition.
    public var condition: [String]?
    public var location: SourceLocation
    public init(action: Action, name: String = "", value: String? = nil, status: Int? = nil, condition: [String]? = nil,
                location: SourceLocation) {
        self.action = action
        self.name = name
        self.value = value
        self.status = status
        self.condition = condition
        self.location = location
    }
}

/// `redirect location|prefix|scheme VALUE [code N] [drop-query] [append-slash] [ignore-empty]
/// [set-cookie NAME[=V]] [clear-cookie NAME[=]]`.
public struct RedirectSpec: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case location, prefix, scheme }
    public var kind: Kind
    /// A log-format string in http-request/http-response rules, a literal in `redirect` lines.
    public var value: String
    public var isFormat: Bool
    public var code: Int = 302
    public var dropQuery = false
    public var appendSlash = false
    public var ignoreEmpty = false
    public var setCookie: String?
    public var clearCookie: String?
    public init(kind: Kind, value: String, isFormat: Bool) {
        self.kind = kind
        self.value = value
        self.isFormat = isFormat
    }
}

/// `return [status N] [content-type T] [default-errorfiles | errorfile F | errorfiles NAME |
/// file F | lf-file F | string S | lf-string S] [hdr NAME FMT]*` (also deny/tarpit's reply).
public struct ReplySpec: Sendable, Hashable {
    public enum Body: Sendable, Hashable {
        case none
        /// The proxy's error message for the status.
        case errorMessage
        /// A whole HTTP response (errorfile / errorfiles).
        case message([UInt8])
        case bytes([UInt8])
        /// A log-format string (lf-string, lf-file's contents).
        case format(String)
        /// `errorfiles NAME`: resolved by validation into the section's file for the status
        /// (`message`), else an empty reply (`none`), as haproxy 2.6 does.
        case errorFilesSection(String)
    }
    public var status: Int = 200
    public var contentType: String?
    public var body: Body = .none
    public var headers: [(name: String, format: String)] = []
    public init() {}

    public static func == (a: ReplySpec, b: ReplySpec) -> Bool {
        a.status == b.status && a.contentType == b.contentType && a.body == b.body
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.format) == b.headers.map(\.format)
    }
    public func hash(into h: inout Hasher) {
        h.combine(status); h.combine(contentType); h.combine(body)
        for x in headers { h.combine(x.name); h.combine(x.format) }
    }
}

/// A `userlist NAME` section: users (`insecure-password` or a crypt(3) `password`) and groups.
public struct Userlist: Sendable, Hashable {
    public struct User: Sendable, Hashable {
        public var name: String
        public var password: String
        public var insecure: Bool
        public var groups: [String]
        public init(name: String, password: String, insecure: Bool, groups: [String]) {
            self.name = name
            self.password = password
            self.insecure = insecure
            self.groups = groups
        }
    }
    public var name: String
    public var users: [User] = []
    /// `group NAME [users a,b]`: the group's members.
    public var groups: [String: [String]] = [:]
    public var location: SourceLocation
    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
    }
}

/// `acl NAME criterion [flags] [patterns]`: the words after the name.
public struct ACLDefinition: Sendable, Hashable {
    public var name: String
    public var words: [String]
    public var location: SourceLocation
}

/// `use_backend NAME [if|unless cond]`.
public struct BackendSwitchRule: Sendable, Hashable {
    /// A backend's name, or a log-format string giving it per request (see `isDynamic`).
    public var backend: String
    public var condition: [String]?
    public var location: SourceLocation

    /// haproxy reads the name as a log-format string when it has a `%`.
    public static func isDynamic(_ name: String) -> Bool { name.contains("%") }
}

/// `cookie NAME rewrite|insert|prefix [indirect] [nocache] [postonly] [preserve] [httponly] [secure]
/// [domain D]* [attr A]*`.
public struct CookiePersistence: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable { case rewrite, insert, prefix }
    public var name: String
    public var mode: Mode = .rewrite
    public var indirect = false
    public var nocache = false
    public var postonly = false
    public var preserve = false
    public var httponly = false
    public var secure = false
    public var domains: [String] = []
    public var attrs: [String] = []
    /// `maxidle <time>` / `maxlife <time>` in seconds (0 = off): insert mode stamps the cookie
    /// with its last-seen and first-seen dates and ignores it once too idle or too old.
    public var maxIdle: Int = 0
    public var maxLife: Int = 0
    /// `dynamic`: servers without `cookie` get one made of the backend's `dynamic-cookie-key`,
    /// their IP address and port.
    public var dynamic = false
    public init(name: String) { self.name = name }
    /// Whether cookie values carry dates (`SRV|last|first`).
    public var dated: Bool { maxIdle > 0 || maxLife > 0 }
}

/// `force-persist if|unless COND` / `ignore-persist if|unless COND`: one ordered list, the first
/// rule whose condition holds decides.
public struct PersistRule: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case force, ignore }
    public var kind: Kind
    public var condition: [String]
    public init(kind: Kind, condition: [String]) { self.kind = kind; self.condition = condition }
}
