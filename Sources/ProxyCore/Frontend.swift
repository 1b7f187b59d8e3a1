import Atomics
import HAProxyConfig
import Logging
import HTTP1
import NIOCore
import Samples

/// A frontend (or the frontend half of a `listen`) at run time.
public final class FrontendRuntime: @unchecked Sendable {
    public let config: Proxy
    public let name: String
    let defaultBackend: BackendRuntime?
    let errors: ErrorResponses
    let http: HTTPSettings
    let maxconn: Int
    let current = ManagedAtomic<Int>(0)
    /// The access log (nil: the frontend has no log target).
    var logger: ProxyLogger?
    /// The process-wide connection count (`actconn`).
    var limits: ConnectionLimits?
    /// `unique-id-format` (compiled) and `unique-id-header`.
    let uniqueIDFormat: LogFormat?
    let uniqueIDHeader: String?
    /// The sample expressions of `unique-id-format` (`%[req.hdr(x)]`), parsed once.
    let uniqueIDSamples: [(String, SampleExpression)]
    /// `tune.h2.*` (HTTP/2 settings announced to clients).
    let h2Tuning: [String: Int]
    /// The frontend's own `http-request` rules and `use_backend` conditions.
    let rules: ProxyRules
    /// `use_backend` targets, in order (the names are checked at load).
    let switches: [BackendSwitch]
    /// True when requests go through rules (or may change backend) before their server is chosen.
    let hasRequestRules: Bool
    /// `userlist` sections (for `http_auth()`), nil when there are none.
    let userlists: Userlists?
    /// Stick counters (nil when the configuration has no stick table).
    let stick: FrontendStick?
    /// `tcp-request inspect-delay` of a `mode tcp` frontend (TCPInspection.swift).
    let inspectDelay: TimeAmount?
    /// `option http-buffer-request` / `http-request wait-for-body` (nil: requests are not held).
    let bodyWait: BodyWaitPolicy?
    /// The HTTP settings with each backend `use_backend` can choose (the default's are `http`).
    private let httpByBackend: [ObjectIdentifier: HTTPSettings]

    /// What the HTTP path needs per request, computed once from the frontend and its backend.
    /// A class: a session takes it per request (with `use_backend`) for one retain, not a copy of its fields.
    final class HTTPSettings {
        let limits: ParseLimits
        let responseLimits: ParseLimits
        /// `option httpclose` on the frontend: close the client side after each response.
        let closeClientSide: Bool
        /// `option httpclose` or `http-server-close` on the frontend or the backend.
        let closeServerSide: Bool
        let forwardFor: ForwardFor?
        let forwardedForHeaderLowercased: String
        let forwardForExcept: Network?
        let timeouts: ClientTimeouts
        /// The most a head may weigh in haproxy's buffer once rules added to it (HeadRewriteLimit).
        let rewriteLimit: Int

        init(limits: ParseLimits, responseLimits: ParseLimits, closeClientSide: Bool, closeServerSide: Bool,
             forwardFor: ForwardFor?, forwardedForHeaderLowercased: String, forwardForExcept: Network?, timeouts: ClientTimeouts,
             rewriteLimit: Int = HeadRewriteLimit.limit(bufsize: 16384)) {
            self.rewriteLimit = rewriteLimit
            self.limits = limits
            self.responseLimits = responseLimits
            self.closeClientSide = closeClientSide
            self.closeServerSide = closeServerSide
            self.forwardFor = forwardFor
            self.forwardedForHeaderLowercased = forwardedForHeaderLowercased
            self.forwardForExcept = forwardForExcept
            self.timeouts = timeouts
        }
    }

    struct ClientTimeouts {
        var client: TimeAmount?
        var httpRequest: TimeAmount?
        var httpKeepAlive: TimeAmount?
    }

    init(config: Proxy, defaultBackend: BackendRuntime?, backends: [String: BackendRuntime], global: GlobalSettings,
         userlists: Userlists? = nil, tables: StickTables = .none) {
        self.userlists = userlists
        self.config = config
        self.name = config.name
        self.defaultBackend = defaultBackend
        self.errors = ErrorResponses(overrides: config.errorFiles)
        self.maxconn = config.maxconn ?? global.maxconn ?? ProxyRuntime.defaultMaxconn
        self.h2Tuning = global.h2
        uniqueIDFormat = config.uniqueIDFormat.flatMap { try? LogFormat.compile($0, httpMode: config.mode == .http) }
        uniqueIDHeader = uniqueIDFormat == nil ? nil : config.uniqueIDHeader
        uniqueIDSamples = uniqueIDFormat.map { RuleFormat.sampleExpressions($0) } ?? []
        http = Self.settings(config, defaultBackend?.config, global)
        rules = ProxyRules(config, tables: tables)
        // `tcp-request` rules run without stick tables too.
        stick = tables.isEmpty && config.tcpRequestRules.isEmpty ? nil : FrontendStick(config, tables: tables)
        inspectDelay = config.mode == .tcp ? config.tcpInspectDelay.flatMap { $0 > .zero ? $0.timeAmount : nil } : nil
        switches = BackendSwitch.compile(rules.switches, backends: backends)
        var byBackend: [ObjectIdentifier: HTTPSettings] = [:]
        // A dynamic `use_backend` may name any backend.
        let reachable = switches.contains { $0.dynamicName != nil } ? backends.values.sorted { $0.name < $1.name } : switches.compactMap(\.backend)
        for be in reachable where byBackend[ObjectIdentifier(be)] == nil {
            byBackend[ObjectIdentifier(be)] = Self.settings(config, be.config, global)
        }
        httpByBackend = byBackend
        bodyWait = BodyWaitPolicy(config, backends: [defaultBackend].compactMap { $0 } + reachable, global: global)
        hasRequestRules = !rules.request.isEmpty || !switches.isEmpty || !(defaultBackend?.rules.request.isEmpty ?? true)
            || rules.monitorURI != nil
    }

    /// The settings of an exchange with `backend` (the client side's are the frontend's in all).
    func http(with backend: BackendRuntime?) -> HTTPSettings {
        guard let backend, backend !== defaultBackend else { return http }
        return httpByBackend[ObjectIdentifier(backend)] ?? http
    }

    /// True when requests go through rules (or may change backend) before their server is chosen.

    private static func settings(_ config: Proxy, _ be: Proxy?, _ global: GlobalSettings) -> HTTPSettings {
        let feMode = config.httpConnectionMode, beMode = be?.httpConnectionMode ?? .keepAlive
        let forwardFor = config.forwardFor ?? be?.forwardFor
        let headLimit = max(1024, global.bufsize - global.maxrewrite)
        return HTTPSettings(
            limits: ParseLimits(maxHeadSize: headLimit, maxHeaders: global.maxHeaders,
                                acceptInvalid: config.acceptInvalidHTTPRequest),
            responseLimits: ParseLimits(maxHeadSize: headLimit, maxHeaders: global.maxHeaders,
                                        acceptInvalid: be?.acceptInvalidHTTPResponse ?? false),
            closeClientSide: feMode == .close,
            closeServerSide: feMode != .keepAlive || beMode != .keepAlive,
            forwardFor: forwardFor,
            forwardedForHeaderLowercased: (forwardFor?.header ?? "x-forwarded-for").lowercased(),
            forwardForExcept: forwardFor?.except.flatMap(Network.init),
            timeouts: ClientTimeouts(client: config.timeouts.client?.timeAmount,
                                     httpRequest: config.timeouts.httpRequest?.timeAmount,
                                     httpKeepAlive: config.timeouts.httpKeepAlive?.timeAmount),
            rewriteLimit: HeadRewriteLimit.limit(bufsize: global.bufsize))
    }
}

extension BackendRuntime {
    var connectTimeout: TimeAmount { config.timeouts.connect?.timeAmount ?? .seconds(10) }
    var serverTimeout: TimeAmount? { config.timeouts.server?.timeAmount }
    /// `timeout queue`, or `timeout connect` when unset (HAProxy's rule).
    var queueTimeout: TimeAmount { config.timeouts.queue?.timeAmount ?? connectTimeout }
    var tunnelTimeout: TimeAmount? { config.timeouts.tunnel?.timeAmount ?? config.timeouts.server?.timeAmount }

    /// `option redispatch [interval]`: positive P → every Pth retry; negative N → the Nth retry
    /// before the last (default -1: the last retry).
    func shouldRedispatch(afterAttempt attempt: Int) -> Bool {
        guard let interval = config.redispatch, interval != 0 else { return false }
        let retry = attempt  // retries done so far after this failure
        if interval > 0 { return retry % interval == 0 }
        return retry == config.retries + 1 + interval
    }

    /// haproxy also redispatches (with `option redispatch`) on any retry when the server is down,
    /// as when `option persist` sent the request there.
    func redispatchesFromDown(_ index: Int) -> Bool {
        guard let interval = config.redispatch, interval != 0 else { return false }
        return !isServerUsable(index)
    }
}

/// An address/prefix for `except` matching.
struct Network {
    var bytes: [UInt8]
    var prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first else { return nil }
        guard let address = try? SocketAddress(ipAddress: String(first), port: 0), let b = addressBytes(address) else { return nil }
        bytes = b
        if parts.count == 2 {
            if let n = Int(parts[1]) { prefix = n } else if let mask = try? SocketAddress(ipAddress: String(parts[1]), port: 0),
                let mb = addressBytes(mask) {
                prefix = mb.reduce(0) { $0 + $1.nonzeroBitCount }
            } else { return nil }
        } else {
            prefix = b.count * 8
        }
    }

    func contains(_ address: SocketAddress) -> Bool {
        guard let b = addressBytes(address), b.count == bytes.count else { return false }
        var remaining = prefix
        for i in 0..<b.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if b[i] & mask != bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// `retry-on`: which failures replay a request (HAProxy's keywords; the default is conn-failure).
struct RetryPolicy {
    var connFailure = true
    var emptyResponse = false
    var junkResponse = false
    var responseTimeout = false
    var statuses: Set<Int> = []

    enum Reason { case emptyResponse, junkResponse, responseTimeout, status(Int) }

    /// Anything beyond conn-failure needs the request kept until a response starts.
    var keepsRequest: Bool { emptyResponse || junkResponse || responseTimeout || !statuses.isEmpty }

    init() {}

    /// The last `retry-on` line of the proxy (defaults' lines come first in `directives`).
    init(directives: [Directive]) {
        guard let line = directives.last(where: { $0.keyword == "retry-on" }) else { return }
        connFailure = false
        for word in line.words.dropFirst() {
            switch word {
            case "none": break
            case "conn-failure": connFailure = true
            case "empty-response": emptyResponse = true
            case "junk-response": junkResponse = true
            case "response-timeout": responseTimeout = true
            case "0rtt-rejected": break  // no early data without TLS
            case "all-retryable-errors":
                connFailure = true; emptyResponse = true; junkResponse = true; responseTimeout = true
                statuses.formUnion([500, 502, 503, 504])
            default:
                if let code = Int(word) { statuses.insert(code) }
            }
        }
    }

    func allows(_ reason: Reason) -> Bool {
        switch reason {
        case .emptyResponse: return emptyResponse
        case .junkResponse: return junkResponse
        case .responseTimeout: return responseTimeout
        case .status(let code): return statuses.contains(code)
        }
    }
}
