import HAProxyConfig
import HTTP1
import Logging
import NIOCore
import NIOHPACK
import Samples

/// One `http-request` rule, compiled: its action and its condition.
struct CompiledRequestRule {
    enum Action {
        case header(HTTPRequestRule.Action, name: String, lowercasedName: String, format: LogFormat?,
                    samples: [(String, SampleExpression)])
        case allow
        case deny(Int)
        /// `track-scN`, `sc-inc-gpc0(N)`, `sc-set-gpt0(N)` (StickCounters.swift).
        case counter(CompiledCounterAction?)
    }

    let action: Action
    let condition: CompiledCondition?
}

/// What a proxy's rules need at run time: its `http-request` rules and `use_backend` conditions,
/// compiled with its ACLs (same-named `acl` lines are ORed; predefined names when not declared).
struct ProxyRules {
    let request: [CompiledRequestRule]
    /// `use_backend` in order: the backend's name and the condition (nil = always).
    let switches: [(backend: String, condition: CompiledCondition?)]

    init(_ proxy: Proxy, tables: StickTables = .none) {
        var acls: [String: [ACLTerm]] = [:]
        for a in proxy.acls {
            // Parsed once at load already (errors there stop the start); failures cannot happen here.
            if let t = try? ACLTerm.parse(a.words, readFile: { path throws(SampleError) in try PatternFile.read(path) }).term {
                acls[a.name, default: []].append(t)
            }
        }
        func condition(_ words: [String]?) -> CompiledCondition? {
            guard let words, let c = try? ACLCondition.parse(words, known: { acls[$0] != nil }) else { return nil }
            return try? CompiledCondition(c, named: { acls[$0] })
        }
        request = proxy.httpRequestRules.map { r in
            let action: CompiledRequestRule.Action
            switch r.action {
            case .allow: action = .allow
            case .deny: action = .deny(r.status ?? 403)
            case .stickCounter: action = .counter(r.counter.flatMap { CompiledCounterAction($0, proxy: proxy.name, tables: tables, http: true) })
            case .set, .add, .del:
                let format = r.value.flatMap { try? LogFormat.compile($0, httpMode: true) }
                let samples: [(String, SampleExpression)] = format?.tokens.compactMap { token in
                    guard case .sample(let text) = token, let e = try? SampleExpression.parse(text) else { return nil }
                    return (text, e)
                } ?? []
                action = .header(r.action, name: r.name, lowercasedName: r.name.lowercased(), format: format, samples: samples)
            }
            return CompiledRequestRule(action: action, condition: condition(r.condition))
        }
        switches = proxy.backendSwitches.map { ($0.backend, condition($0.condition)) }
    }

    var isEmpty: Bool { request.isEmpty && switches.isEmpty }
}

/// What the header rules did to a request so far: the received header names whose lines go, and
/// the lines added at the end of the head (set-header = del-header + add-header).
struct HeaderEdits {
    var deleted: [String] = []
    var added: [(name: String, value: String)] = []

    var isEmpty: Bool { deleted.isEmpty && added.isEmpty }

    mutating func apply(_ action: HTTPRequestRule.Action, name: String, lowercasedName: String, value: String?) {
        if action != .add {
            if !deleted.contains(lowercasedName) { deleted.append(lowercasedName) }
            added.removeAll { $0.name.lowercased() == lowercasedName }
        }
        if action != .del, let value { added.append((name, value)) }
    }

    /// The added values of a header (lowercased name).
    func addedValues(_ lowercasedName: String) -> [String] {
        added.compactMap { $0.name.lowercased() == lowercasedName ? $0.value : nil }
    }
}

/// A request as rules see it, for HTTP/1 and HTTP/2 alike: the header lines (after the edits of
/// the rules run so far), the request line's parts, and the connection's facts.
protocol RequestView: SampleSource {
    var base: LogRecord { get set }
    var edits: HeaderEdits { get set }
    /// The request's stick counters (nil without stick tables).
    var stick: StickStream? { get }
    var method: String { get }
    /// The request target as received (origin form, or absolute for h2's `:scheme://:authority:path`).
    var target: String { get }
    var version: String { get }
    /// The received header lines with this (lowercased) name, in order, before edits.
    func receivedValues(_ lowercasedName: String) -> [String]
    /// Every received header line (name, value), in order, before edits.
    func receivedLines() -> [(String, String)]
}

extension RequestView {
    /// Header lines after the rules' edits.
    func lines(_ lowercasedName: String) -> [String] {
        (edits.deleted.contains(lowercasedName) ? [] : receivedValues(lowercasedName)) + edits.addedValues(lowercasedName)
    }

    /// haproxy's `hdr()`: values split at commas (outside quotes), spaces trimmed.
    static func commaValues(_ lines: [String]) -> [String] {
        var out: [String] = []
        for line in lines {
            var current = ""
            var quoted = false
            for c in line {
                if c == "\"" { quoted.toggle() }
                if c == "," && !quoted {
                    out.append(current.trimmingCharacters(in: .whitespaces))
                    current = ""
                } else {
                    current.append(c)
                }
            }
            out.append(current.trimmingCharacters(in: .whitespaces))
        }
        return out
    }

    /// `occ`: 0/absent = all (ACLs) or the last (samples), N>0 = the Nth, N<0 = from the end.
    static func pick(_ values: [String], _ occ: String?, all: Bool) -> [String] {
        guard let occ, let n = Int(occ), n != 0 else { return all ? values : values.last.map { [$0] } ?? [] }
        let i = n > 0 ? n - 1 : values.count + n
        return values.indices.contains(i) ? [values[i]] : []
    }

    var path: String {
        var t = Substring(target)
        if let scheme = t.range(of: "://") {
            t = t[scheme.upperBound...]
            t = t.firstIndex(of: "/").map { t[$0...] } ?? ""
        }
        return String(t.prefix { $0 != "?" })
    }

    var query: String? {
        target.firstIndex(of: "?").map { String(target[target.index(after: $0)...]) }
    }

    var host: String? { lines("host").first }

    func cookies() -> [(String, String)] {
        lines("cookie").flatMap { line in
            line.split(separator: ";").compactMap { part -> (String, String)? in
                let p = part.trimmingCharacters(in: .whitespaces)
                guard let eq = p.firstIndex(of: "=") else { return p.isEmpty ? nil : (p, "") }
                return (String(p[..<eq]), String(p[p.index(after: eq)...]))
            }
        }
    }

    func urlParams(_ name: String) -> [String] {
        guard let q = query else { return [] }
        return q.split(separator: "&").compactMap { p in
            let kv = p.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return kv.first.map(String.init) == name ? (kv.count > 1 ? String(kv[1]) : "") : nil
        }
    }

    func values(_ name: String, _ args: [String], all: Bool) -> [SampleValue]? {
        switch name {
        case "method": return [.string(method)]
        case "path": return [.string(path)]
        case "query": return query.map { [.string($0)] } ?? []
        case "url", "uri": return [.string(target)]
        case "base": return host.map { [.string($0 + path)] } ?? []
        case "req.ver", "req_ver": return [.string(version)]
        case "req.proto_http": return [.bool(true)]
        case "req.hdr", "hdr":
            guard let n = args.first, !n.isEmpty else { return [] }
            return Self.pick(Self.commaValues(lines(n.lowercased())), args.count > 1 ? args[1] : nil, all: all).map(SampleValue.string)
        case "req.fhdr":
            return Self.pick(lines(args[0].lowercased()), args.count > 1 ? args[1] : nil, all: all).map(SampleValue.string)
        case "req.hdr_cnt", "hdr_cnt":
            if let n = args.first, !n.isEmpty { return [.int(Int64(Self.commaValues(lines(n.lowercased())).count))] }
            let received = receivedLines().filter { !edits.deleted.contains($0.0.lowercased()) }.count
            return [.int(Int64(received + edits.added.count))]
        case "req.cook", "cook":
            let name = args.first ?? ""
            let matching = cookies().filter { name.isEmpty || $0.0 == name }.map { SampleValue.string($0.1) }
            return all ? matching : Array(matching.prefix(1))
        case "req.cook_cnt", "cook_cnt":
            let name = args.first ?? ""
            return [.int(Int64(cookies().filter { name.isEmpty || $0.0 == name }.count))]
        case "url_param", "urlp":
            let v = urlParams(args[0]).map(SampleValue.string)
            return all ? v : Array(v.prefix(1))
        default:
            return nil
        }
    }

    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        if let v = values(name, args, all: false) { return v.first }
        if let stick, let v = stick.fetch(name, args, client: base.clientIP, proxy: base.backendName) { return v }
        return LogSampleSource(record: base, tls: false).fetch(name, args)
    }

    func fetchAll(_ name: String, _ args: [String]) -> [SampleValue] {
        if let v = values(name, args, all: true) { return v }
        if let stick, let v = stick.fetch(name, args, client: base.clientIP, proxy: base.backendName) { return v.map { [$0] } ?? [] }
        return LogSampleSource(record: base, tls: false).fetch(name, args).map { [$0] } ?? []
    }
}

/// An HTTP/1 request: its head as received and the parser's fields.
struct H1RequestView: RequestView {
    let head: ByteBuffer
    let request: MessageHead
    var base: LogRecord
    var edits = HeaderEdits()
    var stick: StickStream?

    var method: String {
        head.getString(at: head.readerIndex, length: request.methodEnd) ?? ""
    }
    var target: String {
        head.getString(at: head.readerIndex + request.targetStart, length: request.targetEnd - request.targetStart) ?? ""
    }
    var version: String { "1.\(request.minorVersion)" }

    func receivedValues(_ lowercasedName: String) -> [String] {
        var out: [String] = []
        for field in request.headers {
            let matches = head.withUnsafeReadableBytes { equalsLowercaseASCII($0, Int(field.nameStart), Int(field.nameEnd), lowercasedName) }
            if matches, let v = head.getString(at: head.readerIndex + Int(field.valueStart), length: Int(field.valueEnd - field.valueStart)) {
                out.append(v)
            }
        }
        return out
    }

    func receivedLines() -> [(String, String)] {
        request.headers.map { f in
            (head.getString(at: head.readerIndex + Int(f.nameStart), length: Int(f.nameEnd - f.nameStart)) ?? "",
             head.getString(at: head.readerIndex + Int(f.valueStart), length: Int(f.valueEnd - f.valueStart)) ?? "")
        }
    }
}

/// An HTTP/2 request: its decoded header block (pseudo-headers included).
struct H2RequestView: RequestView {
    let headers: HPACKHeaders
    var base: LogRecord
    var edits = HeaderEdits()
    var stick: StickStream?

    var method: String { headers.first(name: ":method") ?? "" }
    var target: String { headers.first(name: ":path") ?? "/" }
    var version: String { "2.0" }

    func receivedValues(_ lowercasedName: String) -> [String] {
        if lowercasedName == "host", !headers.contains(name: "host"), let a = headers.first(name: ":authority") { return [a] }
        return headers[lowercasedName]
    }

    func receivedLines() -> [(String, String)] {
        headers.compactMap { $0.name.hasPrefix(":") ? nil : ($0.name, $0.value) }
    }
}

extension LogRecord {
    /// The connection's facts as the fetches of rules read them (before any backend is chosen).
    static func forRules(client: SocketAddress?, local: SocketAddress?, frontend: String, requestLine: String?) -> LogRecord {
        var r = LogRecord()
        if let client { r.clientIP = client.ipAddress ?? "-"; r.clientPort = client.port ?? 0 }
        if let local { r.frontendIP = local.ipAddress ?? "-"; r.frontendPort = local.port ?? 0 }
        r.frontendName = frontend
        r.backendName = frontend
        r.requestLine = requestLine
        return r
    }
}

enum RuleEngine {
    /// Runs `rules` in order against `view` (header rules edit it). Returns a deny status, or nil
    /// when the request goes on (an `allow` ends this rule set).
    static func run<V: RequestView>(_ rules: [CompiledRequestRule], on view: inout V) -> Int? {
        for rule in rules {
            if let c = rule.condition, !c.holds(view) { continue }
            switch rule.action {
            case .allow:
                return nil
            case .deny(let status):
                return status
            case .counter(let action):
                if let action, let stick = view.stick { stick.perform(action, source: view) }
            case let .header(action, name, lowercasedName, format, samples):
                var value: String?
                if let format {
                    var r = view.base
                    // A sample with no value is empty in a header (a log line shows `-`).
                    r.emptySamples = true
                    for (text, expr) in samples {
                        if let v = expr.evaluate(view) { r.samples[text] = v.text }
                    }
                    value = String(decoding: format.render(r), as: UTF8.self)
                }
                view.edits.apply(action, name: name, lowercasedName: lowercasedName, value: value)
            }
        }
        return nil
    }

    enum Route {
        /// Go on with this backend (nil: none, a 503) and these header edits.
        case proceed(BackendRuntime?, HeaderEdits)
        /// A `deny`: answer this status; the backend chosen by then, if any.
        case deny(Int, BackendRuntime?)
    }

    /// The frontend's rules, `use_backend` (else the default backend), then the backend's rules
    /// (a `listen` runs its rules once): haproxy's order.
    static func route<V: RequestView>(_ frontend: FrontendRuntime, _ view: inout V) -> Route {
        if let status = run(frontend.rules.request, on: &view) { return .deny(status, nil) }
        let chosen = chooseBackend(frontend.switches, view) ?? frontend.defaultBackend
        if let be = chosen, be.name != frontend.name || be.config.kind != .listen,
           !be.rules.request.isEmpty {
            view.base.backendName = be.name
            if let status = run(be.rules.request, on: &view) { return .deny(status, be) }
        }
        return .proceed(chosen, view.edits)
    }

    /// The backend of the first `use_backend` whose condition holds, nil for the default.
    static func chooseBackend<V: RequestView>(_ switches: [(backend: BackendRuntime, condition: CompiledCondition?)], _ view: V) -> BackendRuntime? {
        for s in switches where s.condition?.holds(view) ?? true { return s.backend }
        return nil
    }
}
