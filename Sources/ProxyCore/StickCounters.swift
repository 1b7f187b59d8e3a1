// Stick tables at run time: the process's tables, the stick counters a connection (session) and
// each of its requests (streams) track, the rules that track them (`tcp-request`, `http-request
// track-sc*`), the fetches that read them (`sc_*`, `scN_*`, `src_*`, `table_*`), and server
// persistence by key (`stick on|match|store-request`). Nothing here runs for a configuration
// without a stick table: the sessions then hold no `StickSession`.

import HAProxyConfig
import Logging
import NIOCore
import Samples
import Stickiness

/// The tables of the process, by the name of the proxy that declares them.
final class StickTables: Sendable {
    let byName: [String: StickTable]

    static let none = StickTables(byName: [:])

    private init(byName: [String: StickTable]) { self.byName = byName }

    convenience init(_ configuration: Configuration) {
        var m: [String: StickTable] = [:]
        for p in configuration.proxies {
            guard let t = p.stickTable else { continue }
            var store = t.store
            // `server_id` is enabled as soon as a `stick` rule uses the table.
            let used = configuration.proxies.contains { q in q.stickRules.contains { ($0.table ?? q.name) == p.name } }
            if used { store.insert(.serverID) }
            m[p.name] = StickTable(name: p.name, type: t.type, keyLength: t.keyLength, size: t.size, expire: t.expire,
                                   nopurge: t.nopurge, store: store)
        }
        self.init(byName: m)
    }

    var isEmpty: Bool { byName.isEmpty }
    subscript(_ name: String) -> StickTable? { byName[name] }
}

/// One tracked stick counter: an entry of a table, referenced until released.
struct TrackedCounter {
    let table: StickTable
    let entry: StickEntry
}

/// A compiled counter action (`track-scN`, `sc-inc-gpc0(N)`, `sc-set-gpt0(N)`).
enum CompiledCounterAction {
    case track(slot: Int, expression: SampleExpression, table: StickTable, http: Bool)
    case incGPC(slot: Int, index: Int)
    case setGPT0(slot: Int, value: Int64?, expression: SampleExpression?)

    init?(_ a: StickCounterAction, proxy: String, tables: StickTables, http: Bool) {
        switch a {
        case let .track(slot, text, table):
            guard let t = tables[table ?? proxy], let e = try? SampleExpression.parse(text) else { return nil }
            self = .track(slot: slot, expression: e, table: t, http: http)
        case let .incGPC(slot, index):
            self = .incGPC(slot: slot, index: index)
        case let .setGPT0(slot, value):
            if let n = Int64(value) {
                self = .setGPT0(slot: slot, value: n, expression: nil)
            } else {
                self = .setGPT0(slot: slot, value: nil, expression: try? SampleExpression.parse(value))
            }
        }
    }
}

/// `tcp-request connection|session|content` rules of a frontend, compiled.
struct CompiledTCPRule {
    enum Action { case accept, reject, counter(CompiledCounterAction), variable(CompiledVariableAction) }
    let action: Action
    let condition: CompiledCondition?
}

/// `set-var(NAME) EXPR`, `set-var-fmt(NAME) FMT`, `unset-var(NAME)` of `tcp-request`/`tcp-response` rules.
enum CompiledVariableAction: @unchecked Sendable {  // RuleFormat: immutable once made
    /// The name, the value, and the `set-var(NAME,COND...)` conditions.
    case set(VariableName, SampleExpression, [String])
    case setFormat(VariableName, RuleFormat, [String])
    case unset(VariableName)

    init?(_ a: VariableAction) {
        switch a {
        case let .set(name, text):
            guard let (n, c) = try? VariableName.parseSetting(name), let e = try? SampleExpression.parse(text) else { return nil }
            self = .set(n, e, c)
        case let .setFormat(name, text):
            guard let (n, c) = try? VariableName.parseSetting(name), let f = RuleFormat(text) else { return nil }
            self = .setFormat(n, f, c)
        case let .unset(name):
            guard let n = try? VariableName(parsing: name) else { return nil }
            self = .unset(n)
        }
    }

    var name: VariableName {
        switch self {
        case let .set(n, _, _), let .setFormat(n, _, _), let .unset(n): n
        }
    }

    /// Applies the action; before a stream exists (`tcp-request connection|session`) only the
    /// `sess.` and `proc.` scopes can be written, as in haproxy (the others are silently not set).
    func apply(_ vars: VariableStore?, base: LogRecord, source: some SampleSource, streamless: Bool = false) {
        guard let vars else { return }
        if streamless && name.scope != .sess && name.scope != .proc { return }
        switch self {
        case let .set(n, e, c): if let v = e.evaluate(source) { Self.set(vars, n, v, c) }
        case let .setFormat(n, f, c): Self.set(vars, n, .string(f.render(base, source)), c)
        case let .unset(n): vars.unset(n)
        }
    }

    static func set(_ vars: VariableStore, _ name: VariableName, _ value: SampleValue, _ conditions: [String]) {
        guard conditions.isEmpty || VariableName.conditionsHold(conditions, current: vars.get(name), new: value) else { return }
        vars.set(name, value)
    }
}

/// Compiles conditions with a proxy's ACLs (as `ProxyRules` does).
struct ConditionCompiler {
    private var acls: [String: [ACLTerm]] = [:]

    init(_ proxy: Proxy) {
        for a in proxy.acls {
            if let t = try? ACLTerm.parse(a.words, readFile: { path throws(SampleError) in try PatternFile.read(path) }).term {
                acls[a.name, default: []].append(t)
            }
        }
    }

    func compile(_ words: [String]?) -> CompiledCondition? {
        guard let words, let c = try? ACLCondition.parse(words, known: { acls[$0] != nil }) else { return nil }
        return try? CompiledCondition(c, named: { acls[$0] })
    }
}

/// What a frontend does with stick counters: its tables and `tcp-request` rules.
final class FrontendStick: Sendable {
    let name: String
    let tables: StickTables
    let connectionRules: [CompiledTCPRule]
    let contentRules: [CompiledTCPRule]
    /// Some rule sets a variable: the session makes its variable store before running them.
    let usesVariables: Bool

    init(_ proxy: Proxy, tables: StickTables) {
        name = proxy.name
        self.tables = tables
        let conditions = ConditionCompiler(proxy)
        func compile(_ r: TCPRequestRule) -> CompiledTCPRule? {
            let action: CompiledTCPRule.Action
            switch r.action {
            case .accept: action = .accept
            case .reject: action = .reject
            case .counter(let a):
                guard let c = CompiledCounterAction(a, proxy: proxy.name, tables: tables, http: false) else { return nil }
                action = .counter(c)
            case .variable(let v):
                guard let c = CompiledVariableAction(v) else { return nil }
                action = .variable(c)
            }
            return CompiledTCPRule(action: action, condition: conditions.compile(r.condition))
        }
        usesVariables = proxy.tcpRequestRules.contains { if case .variable = $0.action { true } else { false } }
        connectionRules = proxy.tcpRequestRules.filter { $0.phase != .content }.compactMap(compile)
        contentRules = proxy.tcpRequestRules.filter { $0.phase == .content }.compactMap(compile)
    }
}

/// Stick counters of a client connection (haproxy's session): those tracked by `tcp-request
/// connection|session` rules, released when the connection ends.
final class StickSession {
    let config: FrontendStick
    fileprivate(set) var slots: [TrackedCounter?] = [nil, nil, nil]
    private var ended = false

    init(_ config: FrontendStick) { self.config = config }

    /// Runs the `tcp-request connection|session` rules (rules that read `src`, `dst` and the
    /// counters). False: the connection is rejected (closed without a word).
    func accept(client: SocketAddress?, local: SocketAddress?, variables: VariableStore? = nil) -> Bool {
        guard !config.connectionRules.isEmpty else { return true }
        let base = LogRecord.forRules(client: client, local: local, frontend: config.name, requestLine: nil)
        var owned = [false, false, false], s = slots
        defer { slots = s }
        return StickRuleRunner.run(config.connectionRules, slots: &s, owned: &owned, base: base, config: config,
                                   variables: variables, streamless: true)
    }

    /// A stream (request) starts with the session's counters.
    func stream() -> StickStream { StickStream(session: self) }

    /// The connection ended: conn_cur of what it tracked goes down.
    func end() {
        guard !ended else { return }
        ended = true
        let now = StickClock.now()
        for case let t? in slots { StickCounting.stop(t, now: now) }
        slots = [nil, nil, nil]
    }

    deinit { end() }
}

/// Stick counters of one request (haproxy's stream): the session's, plus those its own rules
/// track (`tcp-request content`, `http-request track-sc*`), released when the request ends.
final class StickStream {
    let session: StickSession
    var slots: [TrackedCounter?]
    /// Slots tracked by this stream (not inherited from the session).
    var owned: [Bool] = [false, false, false]
    private var ended = false
    /// `stick store-request` keys waiting for the server (table, key).
    var pendingStores: [(StickTable, StickKey)] = []

    init(session: StickSession) {
        self.session = session
        slots = session.slots
    }

    var config: FrontendStick { session.config }

    /// A request starts: `tcp-request content` rules, then every tracked counter counts an HTTP
    /// request (haproxy's order). False: the connection is rejected.
    func beginHTTPRequest(base: LogRecord, variables: VariableStore? = nil, message: (any SampleSource)? = nil) -> Bool {
        if !config.contentRules.isEmpty {
            guard runContentRules(base: base, variables: variables, message: message) else { return false }
        }
        StickCounting.httpRequest(slots, now: StickClock.now())
        return true
    }

    /// `tcp-request content` rules of a `mode tcp` connection (they run once).
    func runContentRules(base: LogRecord, variables: VariableStore? = nil, message: (any SampleSource)? = nil) -> Bool {
        guard !config.contentRules.isEmpty else { return true }
        // On copies: the rules' fetches read this stream's counters meanwhile.
        var s = slots, o = owned
        defer { slots = s; owned = o }
        return StickRuleRunner.run(config.contentRules, slots: &s, owned: &o, base: base, config: config, variables: variables,
                                   message: message)
    }

    /// An `http-request` counter action.
    func perform(_ action: CompiledCounterAction, source: some SampleSource) {
        // On copies: the action's expression reads this stream's counters through `source`.
        var s = slots, o = owned
        StickRuleRunner.perform(action, slots: &s, owned: &o, source: source)
        slots = s
        owned = o
    }

    /// The response status: 4xx counts as an HTTP error on every tracked counter.
    func response(status: Int) {
        guard status >= 400 && status < 500 else { return }
        StickCounting.httpError(slots, now: StickClock.now())
    }

    /// The request ended: what it tracked itself is released.
    func end() {
        guard !ended else { return }
        ended = true
        let now = StickClock.now()
        for i in 0..<slots.count where owned[i] {
            if let t = slots[i] { StickCounting.stop(t, now: now) }
        }
        slots = [nil, nil, nil]
    }

    deinit { end() }

    /// The stick fetches of a log format, as the request's counters are when the line is built.
    func fillLog(_ record: inout LogRecord, _ expressions: [(String, SampleExpression)]) {
        guard !expressions.isEmpty else { return }
        var source: StickRuleRunner.Source?
        for (text, expr) in expressions where StickFetches.arity[expr.fetch.name] != nil {
            if source == nil { source = StickRuleRunner.Source(base: record, slots: slots, tables: config.tables) }
            if let v = expr.evaluate(source!) { record.samples[text] = v.text }
        }
    }

    /// A stick fetch (`sc*_`, `src_*`, `table_*`) for a rule of `proxy`; nil when not one (or no value).
    func fetch(_ name: String, _ args: [String], client: String?, proxy: String) -> SampleValue?? {
        StickFetching.fetch(name, args, slots: slots, tables: config.tables, client: client, proxy: proxy)
    }
}

/// What a rule source answers about stick counters.
enum StickFetching {
    /// `.none`: not a stick fetch; `.some(nil)`: a stick fetch without value.
    static func fetch(_ name: String, _ args: [String], slots: [TrackedCounter?], tables: StickTables, client: String?,
                      proxy: String) -> SampleValue?? {
        guard name.hasPrefix("s") || name.hasPrefix("t"), let (ref, counter) = StickFetches.parse(name, args) else { return .none }
        let now = StickClock.now()
        switch ref {
        case .table(let t):
            guard let table = tables[t ?? proxy] else { return .some(nil) }
            return .some(.int(Int64(counter == "table_cnt" ? table.count(now: now) : table.available(now: now))))
        case let .counter(n, alt):
            guard n >= 0, n < slots.count, let tracked = slots[n] else {
                return .some(counter == "tracked" ? .bool(false) : nil)
            }
            if counter == "tracked" { return .some(.bool(true)) }
            let modifies = counter.hasPrefix("inc_") || counter.hasPrefix("clr_")
            guard let alt else {
                return .some(value(counter, table: tracked.table, now: now) { body in
                    tracked.table.update(tracked.entry, now: now, touch: modifies, body)
                })
            }
            guard let table = tables[alt] else { return .some(nil) }
            return .some(value(counter, table: table, now: now) { body in
                table.modify(tracked.entry.key, now: now, create: false, touch: modifies, body)
            })
        case .source(let t):
            guard let table = tables[t ?? proxy], let client, let key = table.key(client) else { return .some(nil) }
            let creates = counter.hasPrefix("inc_")
            return .some(value(counter, table: table, now: now) { body in
                table.modify(key, now: now, create: creates, touch: creates, body)
            })
        }
    }

    /// The counter's value through `access` (which runs the body on the entry's counters under the
    /// table's lock, or returns nil when there is no entry: the value is then 0). nil when the
    /// table does not store it.
    private static func value(_ counter: String, table: StickTable, now: Int64,
                              access: ((inout StickCounters) -> Int64) -> Int64?) -> SampleValue? {
        let s = table.store
        let body: (inout StickCounters) -> Int64
        switch counter {
        case "conn_cnt": guard s.contains(.connCnt) else { return nil }; body = { Int64($0.connCnt) }
        case "conn_cur": guard s.contains(.connCur) else { return nil }; body = { Int64($0.connCur) }
        case "conn_rate":
            guard s.contains(.connRate) else { return nil }
            let p = s.period(.connRate); body = { Int64($0.connRate.read(now: now, period: p)) }
        case "http_req_cnt": guard s.contains(.httpReqCnt) else { return nil }; body = { Int64($0.httpReqCnt) }
        case "http_req_rate":
            guard s.contains(.httpReqRate) else { return nil }
            let p = s.period(.httpReqRate); body = { Int64($0.httpReqRate.read(now: now, period: p)) }
        case "http_err_cnt": guard s.contains(.httpErrCnt) else { return nil }; body = { Int64($0.httpErrCnt) }
        case "http_err_rate":
            guard s.contains(.httpErrRate) else { return nil }
            let p = s.period(.httpErrRate); body = { Int64($0.httpErrRate.read(now: now, period: p)) }
        case "get_gpc0": guard s.contains(.gpc0) else { return nil }; body = { Int64($0.gpc0) }
        case "get_gpc1": guard s.contains(.gpc1) else { return nil }; body = { Int64($0.gpc1) }
        case "get_gpt0": guard s.contains(.gpt0) else { return nil }; body = { Int64($0.gpt0) }
        case "gpc0_rate":
            guard s.contains(.gpc0Rate) else { return nil }
            let p = s.period(.gpc0Rate); body = { Int64($0.gpc0Rate.read(now: now, period: p)) }
        case "gpc1_rate":
            guard s.contains(.gpc1Rate) else { return nil }
            let p = s.period(.gpc1Rate); body = { Int64($0.gpc1Rate.read(now: now, period: p)) }
        case "inc_gpc0", "inc_gpc1":
            let first = counter == "inc_gpc0"
            let (cnt, rt): (StickDataType, StickDataType) = first ? (.gpc0, .gpc0Rate) : (.gpc1, .gpc1Rate)
            guard s.contains(cnt) || s.contains(rt) else { return nil }
            let p = s.period(rt), hasCount = s.contains(cnt), hasRate = s.contains(rt)
            body = { c in
                if hasRate { if first { c.gpc0Rate.add(now: now, period: p) } else { c.gpc1Rate.add(now: now, period: p) } }
                guard hasCount else { return 0 }
                if first { c.gpc0 &+= 1; return Int64(c.gpc0) }
                c.gpc1 &+= 1
                return Int64(c.gpc1)
            }
        case "clr_gpc0", "clr_gpc1":
            let first = counter == "clr_gpc0"
            guard s.contains(first ? .gpc0 : .gpc1) else { return nil }
            body = { c in
                let old = first ? c.gpc0 : c.gpc1
                if first { c.gpc0 = 0 } else { c.gpc1 = 0 }
                return Int64(old)
            }
        default:
            return nil
        }
        return .int(access(body) ?? 0)
    }
}

/// The counter updates haproxy makes, each under the table's lock once.
enum StickCounting {
    /// Tracking starts (haproxy's stream_start_counters): conn_cur, conn_cnt, conn_rate.
    static func start(_ c: inout StickCounters, store: StickStore, now: Int64) {
        if store.contains(.connCur) { c.connCur &+= 1 }
        if store.contains(.connCnt) { c.connCnt &+= 1 }
        if store.contains(.connRate) { c.connRate.add(now: now, period: store.period(.connRate)) }
    }

    static func countRequest(_ c: inout StickCounters, store: StickStore, now: Int64) {
        if store.contains(.httpReqCnt) { c.httpReqCnt &+= 1 }
        if store.contains(.httpReqRate) { c.httpReqRate.add(now: now, period: store.period(.httpReqRate)) }
    }

    static func httpRequest(_ slots: [TrackedCounter?], now: Int64) {
        for case let t? in slots {
            let store = t.table.store
            guard store.contains(.httpReqCnt) || store.contains(.httpReqRate) else { continue }
            t.table.update(t.entry, now: now) { countRequest(&$0, store: store, now: now) }
        }
    }

    static func httpError(_ slots: [TrackedCounter?], now: Int64) {
        for case let t? in slots {
            let store = t.table.store
            guard store.contains(.httpErrCnt) || store.contains(.httpErrRate) else { continue }
            t.table.update(t.entry, now: now) { c in
                if store.contains(.httpErrCnt) { c.httpErrCnt &+= 1 }
                if store.contains(.httpErrRate) { c.httpErrRate.add(now: now, period: store.period(.httpErrRate)) }
            }
        }
    }

    /// Tracking stops: conn_cur goes down, the entry is touched and released.
    static func stop(_ t: TrackedCounter, now: Int64) {
        let hasCur = t.table.store.contains(.connCur)
        t.table.release(t.entry, now: now) { c in if hasCur && c.connCur > 0 { c.connCur -= 1 } }
    }
}

/// Runs `tcp-request` rules and counter actions.
enum StickRuleRunner {
    /// A source for `tcp-request` rules: the connection's facts and the counters.
    struct Source: SampleSource {
        let base: LogRecord
        let slots: [TrackedCounter?]
        let tables: StickTables
        var variables: VariableStore? = nil
        /// The HTTP request, for the other fetches of `tcp-request content` rules in mode http.
        var message: (any SampleSource)? = nil

        func fetch(_ name: String, _ args: [String]) -> SampleValue? {
            let client = base.clientIP == "-" ? nil : base.clientIP
            if let v = StickFetching.fetch(name, args, slots: slots, tables: tables, client: client, proxy: base.frontendName) {
                return v
            }
            if let message { return message.fetch(name, args) }
            return LogSampleSource.fetch(name, args, from: base, tls: false)
        }

        func fetchAll(_ name: String, _ args: [String]) -> [SampleValue] {
            if let message, StickFetches.arity[name] == nil { return message.fetchAll(name, args) }
            return fetch(name, args).map { [$0] } ?? []
        }
    }

    /// The rules in order; false when one rejects (`accept` ends them).
    static func run(_ rules: [CompiledTCPRule], slots: inout [TrackedCounter?], owned: inout [Bool],
                    base: LogRecord, config: FrontendStick, variables: VariableStore? = nil, streamless: Bool = false,
                    message: (any SampleSource)? = nil) -> Bool {
        for rule in rules {
            let source = Source(base: base, slots: slots, tables: config.tables, variables: variables, message: message)
            if let c = rule.condition, !c.holds(source) { continue }
            switch rule.action {
            case .accept: return true
            case .reject: return false
            case .counter(let a): perform(a, slots: &slots, owned: &owned, source: source)
            case .variable(let v): v.apply(variables, base: base, source: source, streamless: streamless)
            }
        }
        return true
    }

    /// One counter action: tracking (only the first valid tracking of a counter applies),
    /// gpc0/gpc1 increments, gpt0.
    static func perform(_ action: CompiledCounterAction, slots: inout [TrackedCounter?], owned: inout [Bool],
                        source: some SampleSource) {
        let now = StickClock.now()
        switch action {
        case let .track(slot, expression, table, http):
            guard slots[slot] == nil, let v = expression.evaluate(source), let key = table.key(v.text) else { return }
            let store = table.store
            guard let entry = table.track(key, now: now, { c in
                StickCounting.start(&c, store: store, now: now)
                // An HTTP rule counts the request it tracks at once.
                if http { StickCounting.countRequest(&c, store: store, now: now) }
            }) else { return }
            slots[slot] = TrackedCounter(table: table, entry: entry)
            owned[slot] = true
        case let .incGPC(slot, index):
            guard let t = slots[slot] else { return }
            let store = t.table.store
            let (cnt, rt): (StickDataType, StickDataType) = index == 0 ? (.gpc0, .gpc0Rate) : (.gpc1, .gpc1Rate)
            guard store.contains(cnt) || store.contains(rt) else { return }
            t.table.update(t.entry, now: now) { c in
                if store.contains(rt) {
                    if index == 0 { c.gpc0Rate.add(now: now, period: store.period(rt)) } else { c.gpc1Rate.add(now: now, period: store.period(rt)) }
                }
                if store.contains(cnt) { if index == 0 { c.gpc0 &+= 1 } else { c.gpc1 &+= 1 } }
            }
        case let .setGPT0(slot, value, expression):
            guard let t = slots[slot], t.table.store.contains(.gpt0) else { return }
            guard let n = value ?? expression?.evaluate(source).flatMap({ Int64($0.text) }) else { return }
            t.table.update(t.entry, now: now) { $0.gpt0 = UInt32(truncatingIfNeeded: n) }
        }
    }
}

// MARK: - server persistence (`stick on|match|store-request`)

/// A backend's `stick` rules, compiled.
final class BackendStick: Sendable {
    struct Rule: Sendable {
        let expression: SampleExpression
        let table: StickTable
        let condition: CompiledCondition?
        let matches: Bool
        let stores: Bool
        /// `stick store-response`: evaluated on the response.
        let atResponse: Bool
    }

    let rules: [Rule]
    /// True when `stick store-response` rules read the responses.
    let hasResponseRules: Bool
    /// Server position by haproxy's server id (`id N`, else the next free number from 1).
    let serverByID: [Int32: Int]
    let idOfServer: [Int32]

    init?(_ proxy: Proxy, tables: StickTables) {
        guard !proxy.stickRules.isEmpty else { return nil }
        let conditions = ConditionCompiler(proxy)
        rules = proxy.stickRules.compactMap { r in
            guard let t = tables[r.table ?? proxy.name], let e = try? SampleExpression.parse(r.expression) else { return nil }
            return Rule(expression: e, table: t, condition: conditions.compile(r.condition), matches: r.matches, stores: r.stores,
                        atResponse: r.kind == .storeResponse)
        }
        hasResponseRules = rules.contains { $0.atResponse }
        let ids = proxy.serverIDs
        idOfServer = ids
        var byID: [Int32: Int] = [:]
        for (i, id) in ids.enumerated() { byID[id] = i }
        serverByID = byID
    }

    /// What the rules decide for a request or connection: the server its key stuck to (first
    /// matching rule with an entry), and the keys to store once a server is known.
    func evaluate(_ source: some SampleSource) -> (server: Int?, stores: [(StickTable, StickKey)]) {
        var server: Int?
        var stores: [(StickTable, StickKey)] = []
        let now = StickClock.now()
        for r in rules where !r.atResponse {
            if let c = r.condition, !c.holds(source) { continue }
            guard let v = r.expression.evaluate(source), let key = r.table.key(v.text) else { continue }
            if r.matches && server == nil {
                // A match refreshes the entry's expiry.
                if let id = r.table.modify(key, now: now, create: false, touch: true, { $0.serverID }), let id,
                   let index = serverByID[id] {
                    server = index
                }
            }
            if r.stores, !stores.contains(where: { $0.0 === r.table }) { stores.append((r.table, key)) }
        }
        return (server, stores)
    }

    /// The server is known: the keys now point to it.
    func store(_ stores: [(StickTable, StickKey)], server index: Int) {
        guard !stores.isEmpty else { return }
        let id = idOfServer[index]
        let now = StickClock.now()
        for (table, key) in stores {
            _ = table.modify(key, now: now, create: true, touch: true) { $0.serverID = id }
        }
    }
}

/// The stick state of one exchange in a backend with `stick` rules.
struct StickExchange {
    var server: Int?
    var stores: [(StickTable, StickKey)]
}

extension Proxy {
    /// haproxy's server ids, in declaration order: a server's `id N`, else the next number from 1
    /// that no server of the proxy takes.
    var serverIDs: [Int32] {
        var used = Set(servers.compactMap { $0.id.map(Int32.init) })
        var ids: [Int32] = []
        var next: Int32 = 1
        for s in servers {
            if let id = s.id { ids.append(Int32(id)); continue }
            while used.contains(next) { next += 1 }
            ids.append(next)
            used.insert(next)
        }
        return ids
    }
}

extension BackendStick {
    /// `stick store-response <expr>`: the keys the response gives (one per table, the first
    /// matching rule's) now point to the server that answered.
    func storeResponse(_ source: some SampleSource, server index: Int) {
        var stores: [(StickTable, StickKey)] = []
        for r in rules where r.atResponse {
            if let c = r.condition, !c.holds(source) { continue }
            guard let v = r.expression.evaluate(source), let key = r.table.key(v.text) else { continue }
            if !stores.contains(where: { $0.0 === r.table }) { stores.append((r.table, key)) }
        }
        store(stores, server: index)
    }
}
