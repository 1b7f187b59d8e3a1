// `stick-table`, `tcp-request`, `http-request track-sc*|sc-inc-gpc0|sc-set-gpt0` and `stick`
// lines, parsed with haproxy 2.6's wording, and the checks of the tables they reference.

import Logging
import Samples
import Stickiness

extension ConfigParser {
    /// `stick-table type ip|ipv6|integer|string [len N]|binary [len N] size N [expire T] [nopurge]
    /// [store D,...]*`.
    mutating func parseStickTable(_ words: [String]) {
        if current!.isDefaults {
            alert("'stick-table' is not supported in 'defaults' section.")
            return
        }
        if let existing = current!.proxy.stickTable {
            let p = current!.proxy
            alert("stick-table name '\(p.name)' conflicts with table declared in \(p.kind.rawValue) '\(p.name)' at \(existing.location).")
            return
        }
        var type: StickKeyType?
        var keyLength = StickKeyType.defaultLength
        var size: Int?
        var expire: Int64?
        var nopurge = false
        var store = StickStore()
        var i = 1
        func next(_ kw: String) -> String? {
            guard i + 1 < words.count else {
                alert("stick-table: missing argument after '\(kw)'.")
                return nil
            }
            i += 1
            return words[i]
        }
        while i < words.count {
            let w = words[i]
            switch w {
            case "type":
                let t = i + 1 < words.count ? words[i + 1] : ""
                guard let k = StickKeyType(rawValue: t) else {
                    alert("stick-table: unknown type '\(t)'.")
                    return
                }
                type = k
                i += 1
                if (k == .string || k == .binary), i + 1 < words.count, words[i + 1] == "len" {
                    let v = i + 2 < words.count ? words[i + 2] : ""
                    guard let n = Int(v), n > 0 else {
                        alert("stick-table: unknown type '\(v)'.")
                        return
                    }
                    keyLength = n
                    i += 2
                }
            case "size":
                guard let v = next(w) else { return }
                switch Units.parseSize(v) {
                case .success(let n): size = n
                case .failure:
                    alert("stick-table: unexpected character '\(v.first { !($0.isASCII && $0.isNumber) } ?? " ")' in argument of 'size'.")
                    return
                }
            case "expire":
                guard let v = next(w) else { return }
                switch Units.parseTime(v) {
                case .success(let d):
                    expire = Self.milliseconds(d)
                case .failure:
                    alert("stick-table: unexpected character '\(v.first { !($0.isASCII && $0.isNumber) } ?? " ")' in argument of 'expire'.")
                    return
                }
            case "nopurge":
                nopurge = true
            case "peers", "srvkey", "write-to", "recv-only":
                alert("'stick-table ... \(w)' is not yet supported by Fulcrum (comes with later work).")
                return
            case "store":
                guard let v = next(w) else { return }
                for item in Self.splitStoreList(v) {
                    let name = String(item.prefix { $0 != "(" })
                    var arg: String?
                    if let open = item.firstIndex(of: "(") {
                        arg = String(item[item.index(after: open)...].prefix { $0 != ")" })
                    }
                    if StickDataType.notYetSupported.contains(name) {
                        alert("'stick-table ... store \(name)' is not yet supported by Fulcrum (comes with later work).")
                        return
                    }
                    guard let type = StickDataType(rawValue: name) else {
                        alert("stick-table: unknown store option '\(name)'.")
                        return
                    }
                    if type.isRate {
                        guard let arg, !arg.isEmpty else {
                            alert("stick-table: missing argument to store option '\(name)'.")
                            return
                        }
                        guard case .success(let d) = Units.parseTime(arg) else {
                            alert("stick-table: error when processing store option '\(name)'.")
                            return
                        }
                        store.insert(type, period: Self.milliseconds(d))
                    } else {
                        store.insert(type)
                    }
                }
            default:
                alert("stick-table: unknown argument '\(w)'.")
                return
            }
            i += 1
        }
        guard let type else {
            alert("stick-table: unknown type ''.")
            return
        }
        guard let size, size > 0 else {
            alert("stick-table: missing size.")
            return
        }
        current!.proxy.stickTable = StickTableConfig(type: type, keyLength: keyLength, size: size, expire: expire,
                                                     nopurge: nopurge, store: store, location: location)
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, atto) = d.components
        return seconds * 1000 + atto / 1_000_000_000_000_000
    }

    /// `a,b(10s),c` (commas inside parentheses stay).
    static func splitStoreList(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var depth = 0
        for c in s {
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if c == ",", depth == 0 { out.append(cur); cur = ""; continue }
            cur.append(c)
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// The stick counter action at `words[start]` (`track-scN <expr> [table T]`, `sc-inc-gpc0(N)`,
    /// `sc-set-gpt0(N) <value>`). Returns it and the index after its words, or nil after an alert.
    /// `context` is what haproxy names in its messages (`http-request`, `tcp-request connection`).
    mutating func parseCounterAction(_ words: [String], at start: Int, context: String) -> (StickCounterAction, Int)? {
        let kw = words[start]
        let kind = current!.proxy.kind.rawValue, proxyName = current!.proxy.name
        let prefix = "error detected in \(kind) '\(proxyName)' while parsing '\(context) \(kw)' rule : "
        if kw.hasPrefix("track-sc") {
            guard let slot = Int(kw.dropFirst(8)) else {
                alert("\(prefix)unknown action.")
                return nil
            }
            guard slot <= 2 else {
                alert("\(prefix)\(slot) track-sc number exceeding 2 (MAX_SESS_STKCTR-1) value.")
                return nil
            }
            var i = start + 1
            guard i < words.count, words[i] != "if", words[i] != "unless", words[i] != "table" else {
                alert("\(prefix)missing fetch method.")
                return nil
            }
            let expr = words[i]
            do throws(SampleError) {
                _ = try SampleExpression.parse(expr)
            } catch {
                alert("\(prefix)\(error.description).")
                return nil
            }
            i += 1
            var table: String?
            if i < words.count, words[i] == "table" {
                guard i + 1 < words.count else {
                    alert("\(prefix)missing table name.")
                    return nil
                }
                table = words[i + 1]
                i += 2
            }
            return (.track(slot: slot, expression: expr, table: table), i)
        }
        // sc-inc-gpc0(N), sc-inc-gpc1(N), sc-set-gpt0(N).
        let base = String(kw.prefix { $0 != "(" })
        var slot = 0
        if let open = kw.firstIndex(of: "(") {
            let inner = kw[kw.index(after: open)...].prefix { $0 != ")" }
            guard let n = Int(inner) else {
                alert("\(prefix)invalid stick table track ID '\(inner)'. The max allowed ID is 2.")
                return nil
            }
            guard n <= 2, n >= 0 else {
                alert("\(prefix)invalid stick table track ID. The max allowed ID is 2.")
                return nil
            }
            slot = n
        }
        switch base {
        case "sc-inc-gpc0": return (.incGPC(slot: slot, index: 0), start + 1)
        case "sc-inc-gpc1": return (.incGPC(slot: slot, index: 1), start + 1)
        case "sc-set-gpt0":
            guard start + 1 < words.count, words[start + 1] != "if", words[start + 1] != "unless" else {
                alert("\(prefix)expects an integer or a sample expression.")
                return nil
            }
            let v = words[start + 1]
            if Int(v) == nil {
                do throws(SampleError) {
                    _ = try SampleExpression.parse(v)
                } catch {
                    alert("\(prefix)\(error.description).")
                    return nil
                }
            }
            return (.setGPT0(slot: slot, value: v), start + 2)
        default:
            alert("\(prefix)unknown action.")
            return nil
        }
    }

    /// The words after an action: nothing, or `if|unless` and a condition. nil after an alert.
    mutating func parseTrailingCondition(_ words: [String], from i: Int, action: String) -> [String]?? {
        guard i < words.count else { return .some(nil) }
        guard words[i] == "if" || words[i] == "unless" else {
            alert("'\(action)' expects either 'if' or 'unless' followed by a condition but found '\(words[i])'.")
            return nil
        }
        guard let c = checkCondition(Array(words[i...]), what: "an '\(action)' condition") else { return nil }
        return .some(c)
    }

    /// `http-request track-scN ...`, `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-set-gpt0(N) V`.
    mutating func parseHTTPRequestCounterRule(_ words: [String]) {
        if current!.isDefaults {
            alert(current!.proxy.name.isEmpty ? "'http-request' not allowed in anonymous 'defaults' section."
                  : "'http-request' in a named 'defaults' section is not yet supported by Fulcrum (comes with the HTTP rules work).")
            return
        }
        guard let (action, next) = parseCounterAction(words, at: 1, context: "http-request") else { return }
        guard let condition = parseTrailingCondition(words, from: next, action: "http-request \(words[1])") else { return }
        var rule = HTTPRequestRule(action: .stickCounter, condition: condition, location: location)
        rule.counter = action
        current!.proxy.httpRequestRules.append(rule)
    }

    static let tcpRequestActions = "'accept', 'reject', 'capture', 'expect-proxy', 'expect-netscaler-cip', 'track-sc0' ... 'track-sc2', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-dst', 'set-dst-port', 'set-mark', 'set-src', 'set-src-port', 'set-tos', 'silent-drop'"

    /// `tcp-request inspect-delay T`, `tcp-request connection|session|content ACTION [if|unless cond]`.
    mutating func parseTCPRequest(_ words: [String]) {
        let p = current!.proxy
        let label = current!.isDefaults ? "defaults" : "\(p.kind.rawValue) '\(p.name)'"
        if current!.isDefaults {
            alert("'tcp-request' in a 'defaults' section is not yet supported by Fulcrum (comes with the TCP rules work).")
            return
        }
        guard words.count >= 2 else {
            alert("'tcp-request' expects 'inspect-delay', 'connection', or 'content' in \(label) (got '')")
            return
        }
        let what = words[1]
        if what == "inspect-delay" {
            guard words.count >= 3, case .success(let delay) = Units.parseTime(words[2]) else {
                alert("'tcp-request inspect-delay' expects a positive delay in milliseconds, in \(label)")
                return
            }
            // Content rules of `mode tcp` wait for the client's bytes this long (TCPInspection.swift).
            current!.proxy.tcpInspectDelay = delay
            return
        }
        guard let phase = TCPRequestRule.Phase(rawValue: what) else {
            alert("'tcp-request' expects 'inspect-delay', 'connection', or 'content' in \(label) (got '\(what)')")
            return
        }
        if phase != .content && !p.isFrontend {
            alert("tcp-request \(what) is not allowed because \(p.kind.rawValue) \(p.name) is not a frontend")
            return
        }
        if !p.isFrontend {
            alert("'tcp-request content' in a backend is not yet supported by Fulcrum (comes with the TCP rules work); it is in frontends and listens.")
            return
        }
        guard words.count >= 3 else {
            alert("'tcp-request \(what)' expects \(Self.tcpRequestActions) in \(label) (got '').")
            return
        }
        let kw = words[2]
        let action: TCPRequestRule.Action
        var next = 3
        switch kw {
        case "accept": action = .accept
        case "reject": action = .reject
        default:
            if kw.hasPrefix("track-sc") || kw.hasPrefix("sc-inc-gpc0") || kw.hasPrefix("sc-inc-gpc1") || kw.hasPrefix("sc-set-gpt0") {
                guard let (a, n) = parseCounterAction(words, at: 2, context: "tcp-request \(what)") else { return }
                action = .counter(a)
                next = n
            } else if ["set-var", "set-var-fmt", "unset-var"].contains(where: { kw.hasPrefix($0 + "(") }) {
                guard let (a, n) = parseVariableAction(words, at: 2, rule: "tcp-request \(what)", label: label) else { return }
                action = .variable(a)
                next = n
            } else if ["capture", "expect-proxy", "expect-netscaler-cip", "set-dst",
                       "set-dst-port", "set-mark", "set-src", "set-src-port", "set-tos", "silent-drop", "sc-inc-gpc",
                       "sc-set-gpt", "do-resolve", "set-priority-class", "set-priority-offset", "switch-mode",
                       "use-service", "set-nice", "set-log-level"].contains(where: { kw == $0 || kw.hasPrefix($0 + "(") }) {
                alert("'tcp-request \(what) \(kw)' is not yet supported by Fulcrum (comes with the TCP rules work).")
                return
            } else {
                alert("'tcp-request \(what)' expects \(Self.tcpRequestActions) in \(label) (got '\(kw)').")
                return
            }
        }
        guard let condition = tcpRuleCondition(words, at: next, rule: "tcp-request \(what)", kw: kw) else { return }
        current!.proxy.tcpRequestRules.append(TCPRequestRule(phase: phase, action: action, condition: condition, location: location))
    }

    /// The `if|unless COND` after a `tcp-request`/`tcp-response` rule's action at `words[next]`:
    /// `.some(nil)` without one, nil after an alert (`rule` as the messages name it).
    mutating func tcpRuleCondition(_ words: [String], at next: Int, rule: String, kw: String) -> [String]?? {
        guard next < words.count else { return .some(nil) }
        guard words[next] == "if" || words[next] == "unless" else {
            alert("'\(rule) \(kw)' expects 'if' or 'unless' followed by a condition but found '\(words[next])'.")
            return nil
        }
        guard let c = checkCondition(Array(words[next...]), what: "'\(rule) \(kw)' condition") else { return nil }
        warnUnavailableBuffers(c, rule: rule)
        return .some(c)
    }

    /// `set-var(NAME) EXPR`, `set-var-fmt(NAME) FMT` or `unset-var(NAME)` at `words[i]` of a
    /// `tcp-request`/`tcp-response` rule: the action and the index of what follows (`if`/`unless`).
    mutating func parseVariableAction(_ words: [String], at i: Int, rule: String, label: String) -> (VariableAction, Int)? {
        let kw = words[i]
        guard let open = kw.firstIndex(of: "("), kw.hasSuffix(")") else {
            alert("'\(rule) \(kw)' : missing closing ')' after the variable name.")
            return nil
        }
        let verb = String(kw[..<open])
        // The name, with the conditions of set-var/set-var-fmt after commas (`txn.x,ifnotset`).
        let name = String(kw[kw.index(after: open)..<kw.index(before: kw.endIndex)])
        let bare = String(name.prefix { $0 != "," })
        do throws(SampleError) { _ = try VariableName(parsing: bare) } catch {
            alert("'\(rule) \(kw)' : \(error.description).")
            return nil
        }
        if verb == "unset-var" && bare != name {
            alert("unset-var does not expect parameters after the variable name. Only \"set-var\" and \"set-var-fmt\" manage conditions")
            return nil
        }
        do throws(SampleError) { _ = try VariableName.parseSetting(name) } catch {
            alert(error.description)
            return nil
        }
        var next = i + 1
        let action: VariableAction
        if verb == "unset-var" {
            action = .unset(name: name)
        } else {
            guard next < words.count, words[next] != "if", words[next] != "unless" else {
                alert(verb == "set-var" ? "'\(rule) \(kw)' : missing fetch method."
                      : "'\(rule) \(kw)' expects a log-format string.")
                return nil
            }
            let value = words[next]
            next += 1
            if verb == "set-var" {
                let parsed: SampleExpression
                do throws(SampleError) { parsed = try SampleExpression.parse(value) } catch {
                    alert("'\(rule) \(kw)' : failed to parse sample expression <\(value)> : \(error.description).")
                    return nil
                }
                if let buffer = Self.unavailableBuffer(parsed.fetch.name, in: rule) {
                    alert("fetch method '\(kw)' extracts information from '\(buffer)', none of which is available here")
                    return nil
                }
                action = .set(name: name, expression: value)
            } else {
                let kind = current!.isDefaults ? "defaults" : current!.proxy.kind.rawValue
                guard checkRuleFormat(value, action: .setVarFmt, kind: kind, ruleSet: rule) else { return nil }
                action = .setFormat(name: name, format: value)
            }
        }
        if next < words.count && words[next] != "if" && words[next] != "unless" {
            alert("'\(rule) \(kw)' only accepts 'if' or 'unless', in \(label) (got '\(words[next])')")
            return nil
        }
        return (action, next)
    }

    /// The buffer a payload fetch reads when a `tcp-request`/`tcp-response` ruleset cannot see it
    /// (the request's before `content`, the response's outside `tcp-response`), as haproxy names it.
    static func unavailableBuffer(_ fetch: String, in rule: String) -> String? {
        if PayloadFetches.bufferFetches.contains(fetch) && rule != "tcp-request content" { return "request buffer" }
        if PayloadFetches.responseBufferFetches.contains(fetch) && rule != "tcp-response content" { return "response buffer" }
        return nil
    }

    /// haproxy's warning for an anonymous ACL on a buffer its ruleset cannot read.
    mutating func warnUnavailableBuffers(_ condition: [String], rule: String) {
        let context = rule.hasPrefix("tcp-response") ? "backend \(rule) rule" : "frontend \(rule) rule"
        for w in Self.anonymousACLFetches(condition) {
            guard let e = try? SampleExpression.parse(w), Self.unavailableBuffer(e.fetch.name, in: rule) != nil else { continue }
            warning("anonymous acl will never match in '\(rule)' because it uses keyword '\(e.fetch.name)' which is incompatible with '\(context)'")
        }
    }

    static let tcpResponseActions = "'accept', 'close', 'reject', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'set-log-level', 'set-mark', 'set-nice', 'set-tos', 'silent-drop', 'send-spoe-group'"

    /// `tcp-response inspect-delay T`, `tcp-response content ACTION [if|unless cond]` (backends and listens).
    mutating func parseTCPResponse(_ words: [String]) {
        let p = current!.proxy
        let label = "proxy '\(p.name)'"
        guard words.count >= 2 else {
            alert("missing argument for 'tcp-response' in \(label)")
            return
        }
        let what = words[1]
        guard what == "inspect-delay" || what == "content" else {
            alert("'tcp-response' expects 'inspect-delay' or 'content' in \(label) (got '\(what)')")
            return
        }
        if current!.isDefaults {
            alert(p.name.isEmpty ? "tcp-response \(what) is not allowed in anonymous 'defaults' section"
                  : "'tcp-response' in a named 'defaults' section is not yet supported by Fulcrum (comes with the TCP rules work).")
            return
        }
        if !p.isBackend {
            alert("tcp-response \(what) is only allowed in 'backend' sections or 'defaults' section with a name")
            return
        }
        if what == "inspect-delay" {
            guard words.count == 3, case .success(let delay) = Units.parseTime(words[2]) else {
                alert("'tcp-response inspect-delay' expects a positive delay in milliseconds, in \(label)")
                return
            }
            current!.proxy.tcpResponseInspectDelay = delay
            return
        }
        guard words.count >= 3 else {
            alert("'tcp-response content' expects \(Self.tcpResponseActions) in \(label) (got '').")
            return
        }
        let kw = words[2]
        let action: TCPResponseRule.Action
        var next = 3
        switch kw {
        case "accept": action = .accept
        case "reject": action = .reject
        case "close": action = .close
        default:
            if ["set-var", "set-var-fmt", "unset-var"].contains(where: { kw.hasPrefix($0 + "(") }) {
                guard let (a, n) = parseVariableAction(words, at: 2, rule: "tcp-response content", label: label) else { return }
                action = .variable(a)
                next = n
            } else if kw.hasPrefix("sc-inc-gpc0") || kw.hasPrefix("sc-inc-gpc1") || kw.hasPrefix("sc-set-gpt0") {
                guard let (a, n) = parseCounterAction(words, at: 2, context: "tcp-response content") else { return }
                action = .counter(a)
                next = n
            } else if ["sc-inc-gpc", "sc-set-gpt", "set-log-level", "set-mark",
                       "set-nice", "set-tos", "silent-drop", "send-spoe-group", "ot-group"]
                .contains(where: { kw == $0 || kw.hasPrefix($0 + "(") }) {
                alert("'tcp-response content \(kw)' is not yet supported by Fulcrum (comes with the TCP rules work).")
                return
            } else {
                alert("'tcp-response content' expects \(Self.tcpResponseActions) in \(label) (got '\(kw)').")
                return
            }
        }
        guard let condition = tcpRuleCondition(words, at: next, rule: "tcp-response content", kw: kw) else { return }
        current!.proxy.tcpResponseRules.append(TCPResponseRule(action: action, condition: condition, location: location))
    }

    /// `stick on|match|store-request <expr> [table T] [if|unless cond]`.
    mutating func parseStick(_ words: [String], backendCapability: Bool) {
        if current!.isDefaults {
            alert("'stick' is not supported in 'defaults' section.")
            return
        }
        if !backendCapability {
            warning("'stick' ignored because frontend '\(current!.proxy.name)' has no backend capability.")
            return
        }
        guard words.count >= 2 else {
            alert("'stick' expects 'on', 'match', or 'store'.")
            return
        }
        let kind: StickRule.Kind
        switch words[1] {
        case "on": kind = .on
        case "match": kind = .match
        case "store-request": kind = .storeRequest
        case "store-response": kind = .storeResponse
        default:
            alert("'stick' expects 'on', 'match', or 'store'.")
            return
        }
        guard words.count >= 3, words[2] != "if", words[2] != "unless", words[2] != "table" else {
            alert("'stick' expects a fetch method.")
            return
        }
        let expr = words[2]
        do throws(SampleError) {
            _ = try SampleExpression.parse(expr)
        } catch {
            if error.description.hasPrefix("unknown fetch method") {
                alert("'stick': unknown fetch method '\(expr.prefix { $0 != "(" && $0 != "," })'")
            } else {
                alert("'stick': \(error.description).")
            }
            return
        }
        var i = 3
        var table: String?
        if i < words.count, words[i] == "table" {
            guard i + 1 < words.count else {
                alert("'stick': missing table name.")
                return
            }
            table = words[i + 1]
            i += 2
        }
        var condition: [String]?
        if i < words.count {
            guard words[i] == "if" || words[i] == "unless" else {
                alert("'stick': unknown keyword '\(words[i])'.")
                return
            }
            guard let c = checkCondition(Array(words[i...]), what: "'stick \(words[1])' condition") else { return }
            condition = c
        }
        current!.proxy.stickRules.append(StickRule(kind: kind, expression: expr, table: table, condition: condition,
                                                   location: location))
    }

    // MARK: validation (after all sections)

    /// Tables referenced by rules and fetches must exist (haproxy's post-parse checks and wording).
    mutating func validateStickiness() {
        let tables = Set(proxies.compactMap { $0.proxy.stickTable == nil ? nil : $0.proxy.name })
        for st in proxies {
            let p = st.proxy
            func counterTable(_ a: StickCounterAction, at loc: SourceLocation) {
                guard case let .track(slot, _, table) = a else { return }
                let name = table ?? p.name
                if !tables.contains(name) {
                    diag(.alert, "Proxy '\(p.name)': unable to find table '\(name)' referenced by track-sc\(slot).",
                         at: loc, section: st.label)
                }
            }
            for r in p.httpRequestRules {
                if let a = r.counter { counterTable(a, at: r.location) }
                checkStickFetches(in: r.condition, proxy: p, tables: tables, at: r.location, label: st.label)
                if let v = r.value { checkStickFetches(inFormat: v, proxy: p, tables: tables, at: r.location, label: st.label) }
            }
            for r in p.tcpRequestRules {
                if case .counter(let a) = r.action { counterTable(a, at: r.location) }
                checkStickFetches(in: r.condition, proxy: p, tables: tables, at: r.location, label: st.label)
            }
            for r in p.tcpResponseRules {
                checkStickFetches(in: r.condition, proxy: p, tables: tables, at: r.location, label: st.label)
            }
            for r in p.stickRules {
                let name = r.table ?? p.name
                if !tables.contains(name) {
                    diag(.alert, "Proxy '\(p.name)': unable to find stick-table '\(name)'.", at: r.location, section: st.label)
                }
                checkStickFetches(in: r.condition, proxy: p, tables: tables, at: r.location, label: st.label)
            }
            if p.mode == .http, let first = p.tcpResponseRules.first {
                diag(.alert, "'tcp-response content' in a 'mode http' proxy is not yet supported by Fulcrum (comes with the TCP rules work); it is in 'mode tcp'.",
                     at: first.location, section: st.label)
            }
            for a in p.acls {
                if let first = a.words.first { checkStickFetch(first, proxy: p, tables: tables, at: a.location, label: st.label, acl: true) }
            }
            for s in p.backendSwitches {
                checkStickFetches(in: s.condition, proxy: p, tables: tables, at: s.location, label: st.label)
            }
        }
    }

    private mutating func checkStickFetches(in condition: [String]?, proxy p: Proxy, tables: Set<String>, at loc: SourceLocation,
                                            label: String) {
        for w in Self.anonymousACLFetches(condition) {
            checkStickFetch(w, proxy: p, tables: tables, at: loc, label: label, acl: true)
        }
    }

    private mutating func checkStickFetches(inFormat value: String, proxy p: Proxy, tables: Set<String>, at loc: SourceLocation,
                                            label: String) {
        for expr in Self.formatSamples(value) {
            checkStickFetch(expr, proxy: p, tables: tables, at: loc, label: label, acl: false)
        }
    }

    private mutating func checkStickFetch(_ text: String, proxy p: Proxy, tables: Set<String>, at loc: SourceLocation,
                                          label: String, acl: Bool) {
        guard let expr = try? SampleExpression.parse(text),
              let (ref, _) = StickFetches.parse(expr.fetch.name, expr.fetch.args) else { return }
        let name: String?
        switch ref {
        case .counter(_, let t): name = t
        case .source(let t), .table(let t): name = t ?? p.name
        }
        guard let name, !tables.contains(name) else { return }
        let kw = expr.fetch.name
        let argIndex = StickFetches.tableArgument(kw)
        let what = acl ? "ACL keyword '\(kw)'" : "sample fetch keyword '\(kw)' in http-request expression"
        diag(.alert, "unable to find table '\(name)' referenced in arg \(argIndex) of \(what) in proxy '\(p.name)'.",
             at: loc, section: label)
    }
}
