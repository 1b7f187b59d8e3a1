import HAProxyConfig
import HTTP1
import Logging
import NIOCore
import NIOHPACK
import Samples

/// A rule's log-format argument (`%[req.hdr(host)]`, `%ci`, literals), compiled once.
final class RuleFormat {
    /// How a value is made, cheapest first.
    enum Kind {
        /// Literals only: the text, made once.
        case constant(String)
        /// One `%[...]` and nothing else: its value's text (`single`).
        case single
        /// Literals and samples (no log variables): built without a `LogRecord`.
        case pieces([Piece])
        /// With log variables: rendered from a `LogRecord`.
        case record
    }
    enum Piece {
        case literal(String)
        case separator
        case sample(SampleExpression?)
    }

    let format: LogFormat
    let samples: [(String, SampleExpression)]
    let kind: Kind
    /// The expression of a `.single` format (read in place: a copy of it costs a retain per part).
    let single: SampleExpression?

    init?(_ text: String?) {
        guard let text, let format = try? LogFormat.compile(text, httpMode: true) else { return nil }
        self.format = format
        samples = Self.sampleExpressions(format)
        if let parts = format.samplePieces {
            let pieces: [Piece] = parts.map {
                switch $0 {
                case .literal(let l): .literal(l)
                case .separator: .separator
                case .sample(let t): .sample(try? SampleExpression.parse(t))
                }
            }
            if !pieces.contains(where: { if case .sample = $0 { true } else { false } }) {
                kind = .constant(String(decoding: format.render(LogRecord()), as: UTF8.self))
                single = nil
            } else if pieces.count == 1, case .sample(let e) = pieces[0] {
                kind = .single
                single = e
            } else {
                kind = .pieces(pieces)
                single = nil
            }
        } else {
            kind = .record
            single = nil
        }
    }

    /// The text, with `base` for the log variables and `source` for the samples (a sample with no
    /// value is empty here, where a log line shows `-`).
    func render(_ base: LogRecord, _ source: some SampleSource) -> String {
        if case .record = kind { return renderRecord(base, source) }
        return renderWithoutRecord(source)
    }

    /// The text for a message's rules: its `base` is read only when the format has log variables.
    func render<V: MessageView>(_ view: V) -> String {
        if case .record = kind { return renderRecord(view.base, view) }
        return renderWithoutRecord(view)
    }

    /// The text of a format without log variables.
    private func renderWithoutRecord(_ source: some SampleSource) -> String {
        switch kind {
        case .constant(let text):
            return text
        case .single:
            return single?.evaluate(source)?.text ?? ""
        case .pieces(let pieces):
            // As the log renderer does with `emptySamples`: a separator prints one space, not
            // first nor after another; an absent sample prints nothing.
            var out = ""
            var lastWasSeparator = true
            for p in pieces {
                switch p {
                case .literal(let l): out += l; lastWasSeparator = false
                case .separator: if !lastWasSeparator { out += " "; lastWasSeparator = true }
                case .sample(let e):
                    if let v = e?.evaluate(source) { out += v.text }
                    lastWasSeparator = false
                }
            }
            return out
        case .record:
            return renderRecord(LogRecord(), source)
        }
    }

    private func renderRecord(_ base: LogRecord, _ source: some SampleSource) -> String {
        var r = base
        r.fillRuleSamples(samples, source)
        return String(decoding: format.render(r), as: UTF8.self)
    }
}

/// One `http-request`/`http-response`/`redirect` rule, compiled: its action and its condition.
/// A class: running the rules walks them without copying their parts.
final class CompiledRequestRule {
    enum Action {
        case header(HeaderRule)
        /// replace-header (whole lines) / replace-value (each comma-separated value).
        case replace(ReplaceRule)
        /// set-path/-pathq/-query/-uri/-method, replace-path/-pathq/-uri (with a regex).
        case requestLine(RequestLineRule)
        case setStatus(Int, reason: String?)
        case allow
        /// deny, with the proxy's error message (nil reply) or its own reply.
        case deny(Int, CompiledReply?)
        case tarpit(Int, CompiledReply?)
        case reply(CompiledReply)
        case redirect(CompiledRedirect)
        case auth(realm: String)
        /// With the `set-var(NAME,COND...)` conditions.
        case setVar(VariableName, SampleExpression, [String])
        case setVarFmt(VariableName, RuleFormat, [String])
        case unsetVar(VariableName)
        /// `track-scN`, `sc-inc-gpc0(N)`, `sc-set-gpt0(N)` (StickCounters.swift).
        case counter(CompiledCounterAction?)
        /// `capture SAMPLE len N|id N`: into the frontend's capture slot (Captures.swift).
        case capture(SampleExpression, slot: Int)
        /// `set-log-level`, `set-timeout` (ExchangeOverrides.swift).
        case override(CompiledOverride)
        /// `normalize-uri` (Samples/URINormalizer.swift).
        case normalizeURI(URINormalizer)
    }

    let action: Action
    let condition: CompiledCondition?

    init(action: Action, condition: CompiledCondition?) {
        self.action = action
        self.condition = condition
    }
}

// The payloads of the actions that run per request, as classes: reading one is one retain.

/// set-header/add-header/del-header.
final class HeaderRule {
    let action: HTTPRequestRule.Action
    let name: String
    let lowercasedName: String
    let format: RuleFormat?

    init(_ action: HTTPRequestRule.Action, name: String, format: RuleFormat?) {
        self.action = action
        self.name = name
        lowercasedName = name.lowercased()
        self.format = format
    }
}

/// replace-header/replace-value.
final class ReplaceRule {
    let name: String
    let lowercasedName: String
    let regex: ACLRegex
    let format: RuleFormat
    let perValue: Bool

    init(name: String, regex: ACLRegex, format: RuleFormat, perValue: Bool) {
        self.name = name
        lowercasedName = name.lowercased()
        self.regex = regex
        self.format = format
        self.perValue = perValue
    }
}

/// set-path/-pathq/-query/-uri/-method, replace-path/-pathq/-uri.
final class RequestLineRule {
    let action: HTTPRequestRule.Action
    let regex: ACLRegex?
    let format: RuleFormat

    init(_ action: HTTPRequestRule.Action, regex: ACLRegex?, format: RuleFormat) {
        self.action = action
        self.regex = regex
        self.format = format
    }
}

/// What a proxy's rules need at run time: its `http-request` rules and `use_backend` conditions,
/// compiled with its ACLs (same-named `acl` lines are ORed; predefined names when not declared).
struct ProxyRules {
    /// http-request rules, then the `redirect` lines (haproxy runs them in this order).
    let request: [CompiledRequestRule]
    let response: [CompiledRequestRule]
    let afterResponse: [CompiledRequestRule]
    /// `use_backend` in order: the backend's name and the condition (nil = always).
    let switches: [(backend: String, condition: CompiledCondition?)]
    /// `monitor-uri`.
    let monitorURI: String?
    /// `monitor fail` conditions: when one holds, monitor requests get a 503.
    let monitorFail: [CompiledCondition]

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
        func compile(_ r: HTTPRequestRule) -> CompiledRequestRule? {
            let action: CompiledRequestRule.Action
            func regex() -> ACLRegex? { r.pattern.flatMap { try? ACLRegex($0, ignoreCase: false) } }
            switch r.action {
            case .allow: action = .allow
            case .deny: action = .deny(r.status ?? 403, CompiledReply(r.reply))
            case .tarpit: action = .tarpit(r.status ?? 500, CompiledReply(r.reply))
            case .return:
                guard let reply = CompiledReply(r.reply, isReturn: true) else { return nil }
                action = .reply(reply)
            case .stickCounter: action = .counter(r.counter.flatMap { CompiledCounterAction($0, proxy: proxy.name, tables: tables, http: true) })
            case .set, .add, .del:
                action = .header(HeaderRule(r.action, name: r.name, format: RuleFormat(r.value)))
            case .replaceHeader, .replaceValue:
                guard let re = regex(), let f = RuleFormat(r.value) else { return nil }
                action = .replace(ReplaceRule(name: r.name, regex: re, format: f, perValue: r.action == .replaceValue))
            case .setPath, .setPathQ, .setQuery, .setURI, .setMethod:
                guard let f = RuleFormat(r.value) else { return nil }
                action = .requestLine(RequestLineRule(r.action, regex: nil, format: f))
            case .replacePath, .replacePathQ, .replaceURI:
                guard let re = regex(), let f = RuleFormat(r.value) else { return nil }
                action = .requestLine(RequestLineRule(r.action, regex: re, format: f))
            case .setStatus: action = .setStatus(r.status ?? 200, reason: r.reason)
            case .waitForBody: return nil  // held before the rules run (RequestBuffering.swift)
            case .capture:
                guard let text = r.value, let e = try? SampleExpression.parse(text), let slot = r.captureSlot else { return nil }
                action = .capture(e, slot: slot)
            case .setLogLevel, .setTimeout:
                guard let o = CompiledOverride(r) else { return nil }
                action = .override(o)
            case .normalizeURI:
                guard let n = URINormalizer(name: r.name, option: r.value) else { return nil }
                action = .normalizeURI(n)
            case .redirect:
                guard let spec = r.redirect, let c = CompiledRedirect(spec) else { return nil }
                action = .redirect(c)
            case .auth: action = .auth(realm: r.reason ?? proxy.name)
            case .setVar, .setVarFmt, .unsetVar:
                guard let (name, conditions) = try? VariableName.parseSetting(r.name) else { return nil }
                if r.action == .unsetVar {
                    action = .unsetVar(name)
                } else if r.action == .setVarFmt {
                    guard let f = RuleFormat(r.value) else { return nil }
                    action = .setVarFmt(name, f, conditions)
                } else {
                    guard let text = r.value, let e = try? SampleExpression.parse(text) else { return nil }
                    action = .setVar(name, e, conditions)
                }
            }
            return CompiledRequestRule(action: action, condition: condition(r.condition))
        }
        request = (proxy.httpRequestRules + proxy.redirectRules).compactMap(compile)
        response = proxy.httpResponseRules.compactMap(compile)
        afterResponse = proxy.httpAfterResponseRules.compactMap(compile)
        switches = proxy.backendSwitches.map { ($0.backend, condition($0.condition)) }
        monitorURI = proxy.monitorURI
        monitorFail = proxy.monitorFail.compactMap(condition)
    }
}

/// What the header rules did to a request so far: the received header names whose lines go, and
/// the lines added at the end of the head (set-header = del-header + add-header).
struct HeaderEdits {
    /// An upper bound of what the added lines weigh in haproxy's buffer (HeadRewriteLimit): the
    /// lines added, each counted once even if a later rule removed it.
    var addedWeight = 0
    var deleted: [String] = []
    var added: [(name: String, value: String)] = []
    /// A new method / request target (set-method, set-path, set-uri, ...).
    var method: String?
    var uri: String?
    /// set-log-level, set-timeout: not header edits, but kept with them for the session.
    var overrides = ExchangeOverrides()
    /// How many lines the frontend's rules had added when the backend's began (HeadRewriteLimit
    /// tells whose rules overflowed the buffer); nil when the backend ran none.
    var backendRulesStart: Int?

    var isEmpty: Bool { deleted.isEmpty && added.isEmpty && method == nil && uri == nil }

    /// Empty again, keeping the lists' storage for the next request.
    mutating func reset() {
        addedWeight = 0
        deleted.removeAll(keepingCapacity: true)
        added.removeAll(keepingCapacity: true)
        method = nil
        uri = nil
        overrides = ExchangeOverrides()
        backendRulesStart = nil
    }

    mutating func apply(_ action: HTTPRequestRule.Action, name: String, lowercasedName: String, value: String?) {
        if action != .add {
            if !deleted.contains(lowercasedName) { deleted.append(lowercasedName) }
            added.removeAll { equalsLowercasedASCII($0.name, lowercasedName) }
        }
        if action != .del, let value {
            added.append((name, value))
            addedWeight += 8 + name.utf8.count + value.utf8.count
        }
    }

    /// A header's lines after the edits: the `received` ones unless deleted, then the added ones.
    func lines(_ lowercasedName: String, received: () -> [String]) -> [String] {
        (deleted.contains(lowercasedName) ? [] : received()) + addedValues(lowercasedName)
    }

    /// The added values of a header (lowercased name).
    func addedValues(_ lowercasedName: String) -> [String] {
        added.compactMap { equalsLowercasedASCII($0.name, lowercasedName) ? $0.value : nil }
    }
}

/// `name` compared with an already lowercased name, ASCII case-insensitively (no copy made).
@inline(__always)
func equalsLowercasedASCII(_ name: String, _ lowercased: String) -> Bool {
    var a = name.utf8.makeIterator(), b = lowercased.utf8.makeIterator()
    while true {
        switch (a.next(), b.next()) {
        case (nil, nil): return true
        case let (x?, y?):
            let lx = x &- 65 < 26 ? x | 0x20 : x
            if lx != y { return false }
        default: return false
        }
    }
}

/// Where the path is in a request target's bytes: up to `?`, after `scheme://authority` in the
/// absolute form (a `://` after the first `/` or `?` belongs to the path or the query).
func targetPathRange(_ u: UnsafeRawBufferPointer) -> Range<Int> {
    var start = 0
    var i = 0
    while i < u.count {
        let c = u[i]
        if c == UInt8(ascii: "/") || c == UInt8(ascii: "?") { break }
        if c == UInt8(ascii: ":") {
            if i + 2 < u.count, u[i + 1] == UInt8(ascii: "/"), u[i + 2] == UInt8(ascii: "/") {
                start = i + 3
                while start < u.count, u[start] != UInt8(ascii: "/") { start += 1 }
            }
            break
        }
        i += 1
    }
    var end = start
    while end < u.count, u[end] != UInt8(ascii: "?") { end += 1 }
    return start..<end
}

/// The path of a request target (see `targetPathRange`).
func targetPath(_ target: String) -> String {
    var t = target
    return t.withUTF8 { u in
        let r = targetPathRange(UnsafeRawBufferPointer(u))
        if r == 0..<u.count { return target }
        return String(decoding: UnsafeBufferPointer(rebasing: u[r]), as: UTF8.self)
    }
}

/// A message's header lines as rules see them (after the edits of the rules run so far).
protocol MessageView: SampleSource {
    var base: LogRecord { get set }
    var edits: HeaderEdits { get set }
    /// The request's stick counters (nil without stick tables).
    var stick: StickStream? { get }
    /// The exchange's capture slots (nil without captures; Captures.swift).
    var captures: CaptureStore? { get }
    /// The received header lines with this (lowercased) name, in order, before edits.
    func receivedValues(_ lowercasedName: String) -> [String]
    /// The values of the fetches the message answers itself that may have several (all
    /// occurrences or the one a sample takes), nil for the others.
    func multiValues(_ name: String, _ args: [String], all: Bool) -> [SampleValue]?
    /// The value of a fetch the message answers itself that has one value at most (the outer nil:
    /// not such a fetch): no list made.
    func single(_ name: String, _ args: [String]) -> SampleValue??
}

extension MessageView {
    /// Header lines after the rules' edits.
    func lines(_ lowercasedName: String) -> [String] {
        edits.lines(lowercasedName) { receivedValues(lowercasedName) }
    }

    /// The values of the fetches the message answers itself, nil for the others.
    func values(_ name: String, _ args: [String], all: Bool) -> [SampleValue]? {
        if let v = single(name, args) { return v.map { [$0] } ?? [] }
        return multiValues(name, args, all: all)
    }

    /// The connection's facts straight from the record (no dispatch on the name), else by name.
    func fetch(_ id: FetchID, _ name: String, _ args: [String]) -> SampleValue? {
        if let v = LogSampleSource.fact(id, from: base) { return v }
        return fetch(name, args)
    }

    /// The message's own fetches, then the stick counters, then the connection's facts.
    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        if let v = single(name, args) { return v }
        if let v = multiValues(name, args, all: false) { return v.first }
        if let stick, let v = stick.fetch(name, args, client: base.clientIP, proxy: base.backendName) { return v }
        return LogSampleSource.fetch(name, args, from: base, tls: false)
    }

    func fetchAll(_ name: String, _ args: [String]) -> [SampleValue] {
        if let v = values(name, args, all: true) { return v }
        if let stick, let v = stick.fetch(name, args, client: base.clientIP, proxy: base.backendName) { return v.map { [$0] } ?? [] }
        return LogSampleSource.fetch(name, args, from: base, tls: false).map { [$0] } ?? []
    }
}

/// The values of an HTTP/1 head's header lines with this (lowercased) name, in order.
func headerValues(_ head: ByteBuffer, _ fields: [HeaderField], _ lowercasedName: String) -> [String] {
    head.withUnsafeReadableBytes { raw in
        var out: [String] = []
        for field in fields where equalsLowercaseASCII(raw, Int(field.nameStart), Int(field.nameEnd), lowercasedName) {
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)]), as: UTF8.self))
        }
        return out
    }
}

/// haproxy's `hdr()`: values split at commas (outside quotes), spaces trimmed.
func commaSplitValues(_ lines: [String]) -> [String] {
    lines.flatMap { splitHeaderValues($0).map { $0.trimmingCharacters(in: .whitespaces) } }
}

/// `occ`: 0/absent = all (ACLs) or the last (samples), N>0 = the Nth, N<0 = from the end.
func pickOccurrence(_ values: [String], _ occ: String?, all: Bool) -> [String] {
    guard let occ, let n = Int(occ), n != 0 else { return all ? values : values.last.map { [$0] } ?? [] }
    let i = n > 0 ? n - 1 : values.count + n
    return values.indices.contains(i) ? [values[i]] : []
}

/// A request as rules see it, for HTTP/1 and HTTP/2 alike: the header lines (after the edits of
/// the rules run so far), the request line's parts, and the connection's facts.
protocol RequestView: MessageView {
    var receivedMethod: String { get }
    /// The request target as received (origin form, or absolute for h2's `:scheme://:authority:path`).
    var receivedTarget: String { get }
    /// `userlist` sections, for `http_auth()`.
    var userlists: Userlists? { get }
    var version: String { get }
    /// Every received header line (name, value), in order, before edits.
    func receivedLines() -> [(String, String)]
    /// The buffered body (`option http-buffer-request`, `wait-for-body`: RequestBuffering.swift).
    var body: BufferedBody? { get }
    /// The path (after the rules' edits).
    var path: String { get }
}

extension RequestView {
    var method: String { edits.method ?? receivedMethod }
    var target: String { edits.uri ?? receivedTarget }

    var path: String { targetPath(target) }

    var query: String? {
        let t = target
        return t.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(t[t.utf8.index(after: $0)...]) }
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

    func single(_ name: String, _ args: [String]) -> SampleValue?? {
        switch name {
        // haproxy's `method` stays the received one after set-method.
        case "method": return .some(.string(receivedMethod))
        case "path": return .some(.string(path))
        case "query": return .some(query.map(SampleValue.string))
        case "url", "uri": return .some(.string(target))
        case "base": return .some(host.map { .string($0 + path) })
        case "req.ver", "req_ver": return .some(.string(version))
        case "req.proto_http": return .some(.bool(true))
        case "http_auth":
            return .some(.bool(userlists?.check(args.first ?? "", authorization: lines("authorization").first) ?? false))
        default: return nil
        }
    }

    func multiValues(_ name: String, _ args: [String], all: Bool) -> [SampleValue]? {
        switch name {
        case "req.hdr", "hdr":
            guard let n = args.first, !n.isEmpty else { return [] }
            return pickOccurrence(commaSplitValues(lines(n.lowercased())), args.count > 1 ? args[1] : nil, all: all).map(SampleValue.string)
        case "req.fhdr":
            return pickOccurrence(lines(args[0].lowercased()), args.count > 1 ? args[1] : nil, all: all).map(SampleValue.string)
        case "req.hdr_cnt", "hdr_cnt":
            if let n = args.first, !n.isEmpty { return [.int(Int64(commaSplitValues(lines(n.lowercased())).count))] }
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
        case "http_auth_group":
            // The user's name as a sample; an ACL matches its patterns against the user's groups.
            guard let user = userlists?.authenticatedUser(args.first ?? "", authorization: lines("authorization").first) else { return [] }
            return all ? user.groups.map(SampleValue.string) : [.string(user.name)]
        case "req.body", "req.body_len", "req.body_size", "req.body_param":
            return bodyValues(name, args, all: all)
        default:
            return nil
        }
    }
}

/// An HTTP/1 request: its head as received and the parser's fields.
struct H1RequestView: RequestView {
    let head: ByteBuffer
    let request: MessageHead
    var base: LogRecord
    var edits = HeaderEdits()
    var variables: VariableStore?
    var userlists: Userlists?
    var stick: StickStream?
    var body: BufferedBody?
    var captures: CaptureStore?

    var receivedMethod: String {
        head.getString(at: head.readerIndex, length: request.methodEnd) ?? ""
    }
    var receivedTarget: String {
        head.getString(at: head.readerIndex + request.targetStart, length: request.targetEnd - request.targetStart) ?? ""
    }
    /// Read from the head's bytes while no rule changed the target (no target string made).
    var path: String {
        if edits.uri != nil { return targetPath(target) }
        return head.withUnsafeReadableBytes { raw in
            let t = UnsafeRawBufferPointer(rebasing: raw[request.targetStart..<request.targetEnd])
            return String(decoding: UnsafeRawBufferPointer(rebasing: t[targetPathRange(t)]), as: UTF8.self)
        }
    }
    var version: String { "1.\(request.minorVersion)" }

    func receivedValues(_ lowercasedName: String) -> [String] { headerValues(head, request.headers, lowercasedName) }

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
    var variables: VariableStore?
    var userlists: Userlists?
    var stick: StickStream?
    var captures: CaptureStore?
    var body: BufferedBody?

    var receivedMethod: String { headers.first(name: ":method") ?? "" }
    var receivedTarget: String { headers.first(name: ":path") ?? "/" }
    var version: String { "2.0" }

    func receivedValues(_ lowercasedName: String) -> [String] {
        if lowercasedName == "host", !headers.contains(name: "host"), let a = headers.first(name: ":authority") { return [a] }
        return headers[lowercasedName]
    }

    func receivedLines() -> [(String, String)] {
        headers.compactMap { $0.name.hasPrefix(":") ? nil : ($0.name, $0.value) }
    }
}

/// A connection's addresses as text, made once for all its requests' rules.
struct ConnectionFacts {
    var clientIP = "-", clientPort = 0
    var localIP = "-", localPort = 0

    init(client: SocketAddress?, local: SocketAddress?) {
        if let client { clientIP = client.ipAddress ?? "-"; clientPort = client.port ?? 0 }
        if let local { localIP = local.ipAddress ?? "-"; localPort = local.port ?? 0 }
    }

    /// Writes the facts as the fetches of rules read them (before any backend is chosen) into a
    /// record, in place: a record returned by value costs a copy.
    func fill(_ r: inout LogRecord, frontend: String) {
        r.clientIP = clientIP
        r.clientPort = clientPort
        r.frontendIP = localIP
        r.frontendPort = localPort
        r.frontendName = frontend
        r.backendName = frontend
    }
}

extension LogRecord {
    /// The connection's facts as the fetches of rules read them (before any backend is chosen).
    static func forRules(client: SocketAddress?, local: SocketAddress?, frontend: String, requestLine: String?) -> LogRecord {
        var r = LogRecord()
        ConnectionFacts(client: client, local: local).fill(&r, frontend: frontend)
        r.requestLine = requestLine
        return r
    }
}

/// A header line's comma-separated parts as written (spaces kept; commas inside quotes do not split).
func splitHeaderValues(_ line: String) -> [String] {
    var out: [String] = []
    var current = ""
    var quoted = false
    for c in line {
        if c == "\"" { quoted.toggle() }
        if c == "," && !quoted {
            out.append(current)
            current = ""
        } else {
            current.append(c)
        }
    }
    out.append(current)
    return out
}

/// How a rule set ends a request before any server sees it.
enum Verdict {
    /// `deny`: the proxy's error message for the status.
    case deny(Int)
    /// A whole response of the rules' own (return, redirect, auth, deny with a payload).
    case reply(ByteBuffer, status: Int, termination: (Character, Character))
    /// `tarpit`: wait `timeout tarpit` (else `timeout connect`), then answer the status (or this reply).
    case tarpit(Int, ByteBuffer?, TimeAmount?)
    /// `monitor-uri`: answered and not logged.
    case silent(ByteBuffer)
}

enum RuleEngine {
    /// set/add/del-header, replace-header/-value on a request or a response.
    /// set-header/add-header/del-header.
    @inline(__always)
    static func applyHeader<V: MessageView>(_ h: HeaderRule, to view: inout V) {
        let value = h.format?.render(view)
        view.edits.apply(h.action, name: h.name, lowercasedName: h.lowercasedName, value: value)
    }

    static func applyHeaderRule<V: MessageView>(_ action: CompiledRequestRule.Action, to view: inout V) {
        switch action {
        case .header(let h):
            applyHeader(h, to: &view)
        case .replace(let rule):
            let name = rule.name, lowercasedName = rule.lowercasedName, regex = rule.regex, format = rule.format
            let perValue = rule.perValue
            let current = view.lines(lowercasedName)
            guard !current.isEmpty else { return }
            let template = format.render(view)
            var changed = false
            let replaced = current.map { line -> String in
                if perValue {
                    // Each comma-separated value; one that is replaced loses the spaces before it.
                    return splitHeaderValues(line).map { raw in
                        let v = raw.trimmingCharacters(in: .whitespaces)
                        if let r = regex.replacingWhole(v, with: template) { changed = true; return r }
                        return raw
                    }.joined(separator: ",")
                }
                if let r = regex.replacingWhole(line, with: template) { changed = true; return r }
                return line
            }
            guard changed else { return }
            view.edits.apply(.del, name: name, lowercasedName: lowercasedName, value: nil)
            for v in replaced { view.edits.apply(.add, name: name, lowercasedName: lowercasedName, value: v) }
        default:
            return
        }
    }

    /// set-var/set-var-fmt/unset-var.
    static func applyVariableRule<V: MessageView>(_ action: CompiledRequestRule.Action, to view: V) {
        guard let vars = view.variables else { return }
        switch action {
        case let .setVar(name, expr, conditions):
            if let v = expr.evaluate(view) { CompiledVariableAction.set(vars, name, v, conditions) }
        case let .setVarFmt(name, format, conditions):
            CompiledVariableAction.set(vars, name, .string(format.render(view)), conditions)
        case let .unsetVar(name):
            vars.unset(name)
        default:
            return
        }
    }

    /// Runs `http-response`/`http-after-response` rules on a response. Returns how the response is
    /// replaced (deny: the proxy's 502 or the status given; return/redirect: their reply), nil when
    /// it goes on with `view.edits` and `view.status`.
    static func runResponse<V: ResponseView>(_ rules: [CompiledRequestRule], on view: inout V, errors: ErrorResponses,
                                             request: some SampleSource) -> Verdict? {
        for rule in rules {
            if let c = rule.condition, !c.holds(view) { continue }
            switch rule.action {
            case .allow:
                return nil
            case .deny(let status, let reply):
                if let reply { return .reply(reply.render(view.base, view, errors: errors), status: status, termination: ("P", "H")) }
                return .deny(status)
            case .reply(let reply):
                return .reply(reply.render(view.base, view, errors: errors), status: reply.status, termination: ("L", "H"))
            case .redirect(let r):
                let target = request.fetch("url", [])?.text ?? "/"
                let host = request.fetch("req.hdr", ["host"])?.text
                guard let bytes = r.render(target: target, host: host, view.base, view) else { continue }
                return .reply(bytes, status: r.spec.code, termination: ("L", "H"))
            case let .setStatus(code, reason):
                view.status = (code, reason ?? HTTPReason.phrase(code))
            case .header, .replace:
                applyHeaderRule(rule.action, to: &view)
            case .setVar, .setVarFmt, .unsetVar:
                applyVariableRule(rule.action, to: view)
            case .capture:
                capture(rule.action, view, response: true)
            case .override(let o):
                o.apply(to: &view.edits.overrides, view)
            case .normalizeURI:
                continue
            case .tarpit, .auth, .requestLine, .counter:
                continue
            }
        }
        return nil
    }

    /// Runs `rules` in order against `view` (header and request-line rules edit it). Returns how
    /// the request ends here, or nil when it goes on (an `allow` ends this rule set).
    static func run<V: RequestView>(_ rules: [CompiledRequestRule], on view: inout V, errors: ErrorResponses,
                                    tarpit: TimeAmount? = nil) -> Verdict? {
        for rule in rules {
            if let c = rule.condition, !c.holds(view) { continue }
            switch rule.action {
            case .allow:
                return nil
            case .deny(let status, let reply):
                if let reply { return .reply(reply.render(view.base, view, errors: errors), status: status, termination: ("P", "R")) }
                return .deny(status)
            case .tarpit(let status, let reply):
                return .tarpit(status, reply?.render(view.base, view, errors: errors), tarpit)
            case .reply(let reply):
                return .reply(reply.render(view.base, view, errors: errors), status: reply.status, termination: ("L", "R"))
            case .redirect(let r):
                guard let bytes = r.render(target: view.target, host: view.host, view.base, view) else { continue }
                return .reply(bytes, status: r.spec.code, termination: ("L", "R"))
            case .auth(let realm):
                return .reply(errors.response(401, extraHeader: "www-authenticate: Basic realm=\"\(realm)\""),
                              status: 401, termination: ("L", "R"))
            case .counter(let action):
                if let action, let stick = view.stick { stick.perform(action, source: view) }
            case .header(let h):
                applyHeader(h, to: &view)
            case .replace:
                applyHeaderRule(rule.action, to: &view)
            case .setVar, .setVarFmt, .unsetVar:
                applyVariableRule(rule.action, to: view)
            case .capture:
                capture(rule.action, view, response: false)
            case .override(let o):
                o.apply(to: &view.edits.overrides, view)
            case .normalizeURI(let n):
                if let v = normalize(n, &view, errors: errors) { return v }
            case .requestLine(let rule):
                let action = rule.action, regex = rule.regex, format = rule.format
                let value = format.render(view)
                if action == .setMethod {
                    view.edits.method = value
                } else if let regex {
                    guard let r = regex.replacingWhole(RequestTarget.subject(action, view.target), with: value) else { continue }
                    view.edits.uri = RequestTarget.apply(action, r, to: view.target)
                } else {
                    view.edits.uri = RequestTarget.apply(action, value, to: view.target)
                }
            case .setStatus:
                continue
            }
        }
        return nil
    }

    enum Route {
        /// Go on with this backend (nil: none, a 503); the header edits stay in the view
        /// (the caller swaps them out: no copy of the lists).
        case proceed(BackendRuntime?)
        /// The rules answered: how, and the backend chosen by then, if any.
        case stop(Verdict, BackendRuntime?)
    }

    /// The frontend's rules, `use_backend` (else the default backend), then the backend's rules
    /// (a `listen` runs its rules once): haproxy's order.
    static func route<V: RequestView>(_ frontend: FrontendRuntime, _ view: inout V) -> Route {
        if let monitor = frontend.rules.monitorURI, (monitor.hasPrefix("/") ? RequestTarget.pathAndQuery(view.receivedTarget) : view.receivedTarget) == monitor {
            return .stop(.silent(monitorReply(frontend, view)), nil)
        }
        if let v = run(frontend.rules.request, on: &view, errors: frontend.errors, tarpit: tarpitTimeout(frontend.config)) {
            return .stop(v, nil)
        }
        let chosen = chooseBackend(frontend.switches, view) ?? frontend.defaultBackend
        if let be = chosen, !isOwnListen(frontend, be), !be.rules.request.isEmpty {
            view.base.backendName = be.name
            view.edits.backendRulesStart = view.edits.added.count
            if let v = run(be.rules.request, on: &view, errors: be.errors, tarpit: tarpitTimeout(be.config)) { return .stop(v, be) }
        }
        return .proceed(chosen)
    }

    /// `http-response` rules: the backend's, then the frontend's (a `listen` runs its rules once).
    static func respond<V: ResponseView>(_ frontend: FrontendRuntime, _ backend: BackendRuntime, _ view: inout V,
                                         request: some SampleSource) -> Verdict? {
        if let v = runResponse(backend.rules.response, on: &view, errors: backend.errors, request: request) { return v }
        guard !isOwnListen(frontend, backend) else { return nil }
        return runResponse(frontend.rules.response, on: &view, errors: frontend.errors, request: request)
    }

    /// The backend half of the frontend's own `listen` section (its rules are the frontend's).
    static func isOwnListen(_ frontend: FrontendRuntime, _ backend: BackendRuntime) -> Bool {
        backend.name == frontend.name && backend.config.kind == .listen
    }

    static func tarpitTimeout(_ p: Proxy) -> TimeAmount? {
        (p.timeouts.tarpit ?? p.timeouts.connect)?.timeAmount
    }

    /// haproxy's answer to `monitor-uri`.
    static let monitorResponse = ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n")

    /// The backend of the first `use_backend` whose condition holds, nil for the default.
    static func chooseBackend<V: RequestView>(_ switches: [BackendSwitch], _ view: V) -> BackendRuntime? {
        for s in switches where s.condition?.holds(view) ?? true { return s.resolve(view) }
        return nil
    }
}

/// A response as `http-response` rules see it: its status and header lines (after the edits of
/// the rules run so far), and the exchange's facts.
protocol ResponseView: MessageView {
    var receivedStatus: Int { get }
    var version: String { get }
    /// set-status: the new code and reason.
    var status: (code: Int, reason: String)? { get set }
}

extension ResponseView {
    func cookies() -> [(String, String)] {
        lines("set-cookie").compactMap { line in
            let first = line.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let eq = first.firstIndex(of: "=") else { return nil }
            return (String(first[..<eq]), String(first[first.index(after: eq)...]))
        }
    }

    func single(_ name: String, _ args: [String]) -> SampleValue?? {
        switch name {
        case "status": return .some(.int(Int64(status?.code ?? receivedStatus)))
        case "res.ver": return .some(.string(version))
        default: return nil
        }
    }

    func multiValues(_ name: String, _ args: [String], all: Bool) -> [SampleValue]? {
        switch name {
        case "res.hdr", "shdr":
            guard let n = args.first, !n.isEmpty else { return [] }
            return pickOccurrence(commaSplitValues(lines(n.lowercased())), args.count > 1 ? args[1] : nil, all: all).map(SampleValue.string)
        case "res.fhdr":
            return pickOccurrence(lines(args[0].lowercased()), args.count > 1 ? args[1] : nil, all: all).map(SampleValue.string)
        case "res.hdr_cnt", "shdr_cnt":
            return [.int(Int64(commaSplitValues(lines((args.first ?? "").lowercased())).count))]
        case "res.cook", "scook":
            let name = args.first ?? ""
            let matching = cookies().filter { name.isEmpty || $0.0 == name }.map { SampleValue.string($0.1) }
            return all ? matching : Array(matching.prefix(1))
        default:
            return nil
        }
    }
}

/// An HTTP/1 response head as the parser found it.
struct H1ResponseView: ResponseView {
    let head: ByteBuffer
    let response: MessageHead
    var base: LogRecord
    var edits = HeaderEdits()
    var variables: VariableStore?
    var stick: StickStream?
    var captures: CaptureStore?
    var status: (code: Int, reason: String)?

    var receivedStatus: Int { response.status }
    var version: String { "1.\(response.minorVersion)" }

    func receivedValues(_ lowercasedName: String) -> [String] { headerValues(head, response.headers, lowercasedName) }
}

/// An HTTP/2 response header block.
struct H2ResponseView: ResponseView {
    let headers: HPACKHeaders
    var base: LogRecord
    var edits = HeaderEdits()
    var variables: VariableStore?
    var stick: StickStream?
    var captures: CaptureStore?
    var status: (code: Int, reason: String)?

    var receivedStatus: Int { headers.first(name: ":status").flatMap { Int($0) } ?? 0 }
    var version: String { "2.0" }

    func receivedValues(_ lowercasedName: String) -> [String] { headers[lowercasedName] }

    /// The block after the rules' edits.
    func edited() -> HPACKHeaders {
        var h = headers
        for name in edits.deleted { h.remove(name: name) }
        for (name, value) in edits.added { h.add(name: name.lowercased(), value: value) }
        if let status { h = H2StreamSession.settingPseudoHeaders(h, [":status": String(status.code)]) }
        return h
    }
}
