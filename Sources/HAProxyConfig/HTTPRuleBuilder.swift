// `http-request`, `http-response`, `http-after-response`, `redirect`, `monitor-uri` lines and
// `userlist` sections: parsed and checked here with haproxy 2.6's wording; ProxyCore runs them.

import Foundation
import Logging
import Samples

/// Which rule set a line belongs to.
enum HTTPRuleSet: String {
    case request = "http-request", response = "http-response", afterResponse = "http-after-response"

    /// The actions Fulcrum runs in this set.
    var supported: [HTTPRequestRule.Action] {
        switch self {
        case .request:
            [.add, .allow, .auth, .del, .deny, .redirect, .replaceHeader, .replaceValue, .return, .set, .setMethod,
             .setPath, .setPathQ, .setQuery, .setURI, .tarpit, .replacePath, .replacePathQ, .replaceURI,
             .setVar, .setVarFmt, .unsetVar, .waitForBody, .capture, .setLogLevel, .setTimeout, .normalizeURI]
        case .response:
            [.add, .allow, .del, .deny, .redirect, .replaceHeader, .replaceValue, .return, .set, .setStatus,
             .setVar, .setVarFmt, .unsetVar, .capture, .setLogLevel]
        case .afterResponse:
            // Run on every response including the proxy's own (ProxyCore/AfterResponse.swift).
            [.add, .allow, .del, .replaceHeader, .replaceValue, .set, .setStatus, .setVar, .setVarFmt, .unsetVar, .capture]
        }
    }

    /// Every action haproxy 2.6 knows in this set, as its error message lists them.
    var haproxyActions: [String] {
        switch self {
        case .request:
            ["wait-for-handshake", "ot-group", "set-log-level", "set-nice", "use-service", "sc-inc-gpc(*)", "sc-inc-gpc0(*)",
             "sc-inc-gpc1(*)", "sc-set-gpt(*)", "sc-set-gpt0(*)", "send-spoe-group", "do-resolve(*)", "cache-use", "add-acl(*)",
             "add-header", "allow", "auth", "capture", "del-acl(*)", "del-header", "del-map(*)", "deny", "disable-l7-retry",
             "early-hint", "normalize-uri", "redirect", "reject", "replace-header", "replace-path", "replace-pathq",
             "replace-uri", "replace-value", "return", "set-header", "set-map(*)", "set-method", "set-path", "set-pathq",
             "set-query", "set-uri", "strict-mode", "tarpit", "track-sc(*)", "set-timeout", "wait-for-body", "set-var-fmt(*)",
             "set-var(*)", "unset-var(*)", "set-dst", "set-dst-port", "set-mark", "set-src", "set-src-port", "set-tos",
             "silent-drop", "set-priority-class", "set-priority-offset"]
        case .response:
            ["ot-group", "set-log-level", "set-nice", "sc-inc-gpc(*)", "sc-inc-gpc0(*)", "sc-inc-gpc1(*)", "sc-set-gpt(*)",
             "sc-set-gpt0(*)", "send-spoe-group", "cache-store", "add-acl(*)", "add-header", "allow", "capture", "del-acl(*)",
             "del-header", "del-map(*)", "deny", "redirect", "replace-header", "replace-value", "return", "set-header",
             "set-map(*)", "set-status", "strict-mode", "track-sc(*)", "wait-for-body", "set-var-fmt(*)", "set-var(*)",
             "unset-var(*)", "set-mark", "set-tos", "silent-drop"]
        case .afterResponse:
            // haproxy 2.6.12's list, measured.
            ["ot-group", "add-header", "allow", "capture", "del-header", "replace-header", "replace-value", "set-header",
             "set-status", "strict-mode", "set-var-fmt(*)", "set-var(*)", "unset-var(*)"]
        }
    }
}

/// A rule's words are wrong: the message (prefixed with the rule's place unless `plain`).
struct RuleWordsError: Error {
    var message: String
    var plain = false
    init(_ message: String, plain: Bool = false) {
        self.message = message
        self.plain = plain
    }
}

extension ConfigParser {
    /// `http-request|http-response|http-after-response ACTION ... [if|unless cond]`.
    mutating func parseHTTPRule(_ words: [String], set: HTTPRuleSet) {
        let kind = current!.isDefaults ? "defaults" : current!.proxy.kind.rawValue
        let proxyName = current!.proxy.name
        guard words.count >= 2 else {
            alert("'\(set.rawValue)' expects \(set.haproxyActions.map { "'\($0)'" }.joined(separator: ", ")), but got ''.")
            return
        }
        var name = words[1]
        // `set-var(NAME)`: the action, and the variable's name in parentheses.
        var variable: String?
        if let open = name.firstIndex(of: "("), ["set-var", "set-var-fmt", "unset-var"].contains(String(name[..<open])) {
            guard name.hasSuffix(")") else {
                alert("'\(set.rawValue) \(name)' : missing closing ')' after the variable name.")
                return
            }
            variable = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
            name = String(name[..<open])
        }
        guard let action = HTTPRequestRule.Action(rawValue: name), set.supported.contains(action),
              variable != nil || ![.setVar, .setVarFmt, .unsetVar].contains(action) else {
            let known = set.haproxyActions
            let bare = known.map { $0.replacingOccurrences(of: "(*)", with: "") }
            if bare.contains(where: { name == $0 || name.hasPrefix($0 + "(") || ($0 == "track-sc" && name.hasPrefix("track-sc")) }) {
                alert("'\(set.rawValue) \(name)' is not yet supported by Fulcrum (comes with the HTTP rules work).")
            } else {
                let hint = Suggest.best(name, in: bare).map { " Did you mean '\($0)' maybe ?" } ?? ""
                alert("'\(set.rawValue)' expects \(known.map { "'\($0)'" }.joined(separator: ", ")), but got '\(name)'.\(hint)")
            }
            return
        }
        if current!.isDefaults {
            if current!.proxy.name.isEmpty {
                alert("'\(set.rawValue)' not allowed in anonymous 'defaults' section.")
            } else {
                alert("'\(set.rawValue)' in a named 'defaults' section is not yet supported by Fulcrum (comes with the HTTP rules work).")
            }
            return
        }
        let ruleText = "'\(set.rawValue) \(action.rawValue)' rule"
        func fail(_ message: String) { alert("error detected in \(kind) '\(proxyName)' while parsing \(ruleText) : \(message)") }
        func format(_ value: String) -> Bool { checkRuleFormat(value, action: action, kind: kind, ruleSet: set.rawValue) }

        var rule = HTTPRequestRule(action: action, location: location)
        // The words before `if`/`unless`.
        let argc = words.prefix { $0 != "if" && $0 != "unless" }.count
        var rest: ArraySlice<String> = words[argc...]
        /// An optional `KEYWORD VALUE` pair at `i`: its value (nil when absent) and the index after it.
        func optionalValue(_ keyword: String, at i: Int, missing: String) -> (String?, Int)? {
            guard i < argc, words[i] == keyword else { return (nil, i) }
            guard i + 1 < argc else {
                fail(missing)
                return nil
            }
            return (words[i + 1], i + 2)
        }
        func exactly(_ n: Int, _ what: String) -> Bool {
            guard argc - 2 >= n else {
                fail("expects exactly \(n) argument\(n == 1 ? "" : "s")\(what).")
                return false
            }
            if argc - 2 > n {
                fail("expects exactly \(n) argument\(n == 1 ? "" : "s")\(what), got '\(words[n + 2])'.")
                return false
            }
            return true
        }

        switch action {
        case .stickCounter:
            return  // `http-request track-sc*` & co go to parseHTTPRequestCounterRule (StickBuilder.swift)
        case .allow:
            if argc > 2 { rest = words[2...] }
        case .waitForBody:
            // haproxy 2.6: `time <time>` first (mandatory), then an optional `at-least <bytes>`.
            let usage = "expects time <time> [ at-least <bytes> ]."
            var i = 2
            while i < argc {
                let key = words[i]
                guard key == "time" || key == "at-least" else { break }
                guard i + 1 < argc else { fail("missing argument for '\(key)'."); return }
                if key == "time" {
                    switch Units.parseTime(words[i + 1]) {
                    case .success(let d): rule.waitTime = d
                    case .failure(let e): fail("\(e.description)."); return
                    }
                } else {
                    switch Units.parseSize(words[i + 1]) {
                    case .success(let n): rule.waitAtLeast = n
                    case .failure(let e): fail("\(e.description)."); return
                    }
                }
                i += 2
            }
            guard rule.waitTime != nil else { fail(usage); return }
            rest = words[i...]
        case .set, .add, .del:
            let n = action == .del ? 1 : 2
            guard exactly(n, "") else { return }
            rule.name = words[2]
            if action != .del {
                rule.value = words[3]
                guard format(words[3]) else { return }
            }
        case .replaceHeader, .replaceValue, .replacePath, .replacePathQ, .replaceURI:
            // [NAME] REGEX FMT (the header actions name their header first).
            let named = action == .replaceHeader || action == .replaceValue
            guard exactly(named ? 3 : 2, "") else { return }
            let at = named ? 3 : 2
            if named { rule.name = words[2] }
            rule.pattern = words[at]
            do throws(RuleWordsError) { try Self.checkRegex(words[at]) } catch { fail(error.message); return }
            rule.value = words[at + 1]
            guard format(words[at + 1]) else { return }
        case .setPath, .setPathQ, .setQuery, .setURI, .setMethod:
            guard exactly(1, " <format>") else { return }
            rule.value = words[2]
            guard format(words[2]) else { return }
        case .setVar, .setVarFmt, .unsetVar:
            // set-var/set-var-fmt take conditions after the name (`txn.x,ifnotset`).
            if action == .unsetVar && variable!.contains(",") {
                fail("unset-var does not expect parameters after the variable name. Only \"set-var\" and \"set-var-fmt\" manage conditions.")
                return
            }
            do throws(SampleError) { _ = try VariableName.parseSetting(variable!) } catch {
                fail("\(error.description).")
                return
            }
            rule.name = variable!
            if action == .unsetVar {
                guard exactly(0, "") else { return }
            } else {
                guard exactly(1, action == .setVar ? " <expr>" : " <format>") else { return }
                rule.value = words[2]
                if action == .setVarFmt {
                    guard format(words[2]) else { return }
                } else {
                    do throws(SampleError) {
                        let parsed = try SampleExpression.parse(words[2])
                        if set == .request, let needs = Self.responseNeeds(parsed.fetch.name) {
                            alert("error detected in \(kind) '\(proxyName)' while parsing '\(set.rawValue) \(words[1])' rule : fetch method '\(words[1])' extracts information from '\(needs)', none of which is available here.")
                            return
                        }
                    } catch {
                        fail("failed to parse sample expression <\(words[2])> : \(error.description).")
                        return
                    }
                }
            }
        case .normalizeURI:
            switch parseNormalizeRule(words, argc: argc) {
            case .success(let (name, option, next)): rule.name = name; rule.value = option; rest = words[next...]
            case .failure(let e):
                if e.plain { alert(e.message) } else { fail(e.message) }
                return
            }
        case .setLogLevel, .setTimeout:
            let parsed = action == .setLogLevel ? Self.parseLogLevelRule(words, argc: argc)
                : parseTimeoutRule(words, argc: argc)
            switch parsed {
            case .success(let (name, value)): rule.name = name; rule.value = value
            case .failure(let e): fail(e.message); return
            }
            rest = words[(action == .setLogLevel ? 3 : 4)...]
        case .capture:
            switch parseCaptureRule(words, argc: argc, set: set) {
            case .success(let slot): rule.captureSlot = slot
            case .failure(let e): fail(e.message); return
            }
            rule.value = words[2]
        case .setStatus:
            guard argc >= 3, let code = Int(words[2]), (100...999).contains(code) else {
                fail("expects an integer status code between 100 and 999.")
                return
            }
            rule.status = code
            guard let (reason, next) = optionalValue("reason", at: 3, missing: "'reason' expects a string.") else { return }
            rule.reason = reason
            rest = words[next...]
        case .auth:
            guard let (realm, next) = optionalValue("realm", at: 2, missing: "missing realm value.") else { return }
            rule.reason = realm
            rest = words[next...]
        case .redirect:
            do throws(RuleWordsError) {
                let spec = try Self.parseRedirect(Array(words[2..<argc]), isFormat: true)
                if !format(spec.value) { return }
                rule.redirect = spec
            } catch {
                fail(error.message)
                return
            }
        case .deny, .tarpit, .return:
            var warnings: [String] = []
            let parsed: (ReplySpec, Int)
            do throws(RuleWordsError) {
                parsed = try Self.parseReply(Array(words[2..<argc]), action: action, set: set, warnings: &warnings)
            } catch {
                if error.plain { alert(error.message) } else { fail(error.message) }
                return
            }
            for w in warnings { warning(w) }
            let (reply, used) = parsed
            for h in reply.headers where !format(h.format) { return }
            if case .format(let f) = reply.body, !format(f) { return }
            rule.reply = reply
            rule.status = reply.status
            rest = words[(2 + used)...]
        }
        if let w = rest.first {
            guard w == "if" || w == "unless" else {
                alert("'\(set.rawValue) \(action.rawValue)' expects either 'if' or 'unless' followed by a condition but found '\(w)'.")
                return
            }
            guard let c = checkCondition(Array(rest), what: "an '\(set.rawValue) \(action.rawValue)' condition") else { return }
            rule.condition = c
        }
        switch set {
        case .request: current!.proxy.httpRequestRules.append(rule)
        case .response: current!.proxy.httpResponseRules.append(rule)
        case .afterResponse: current!.proxy.httpAfterResponseRules.append(rule)
        }
    }

    /// The standalone `redirect location|prefix|scheme VALUE [options] [if|unless cond]`.
    mutating func parseRedirectLine(_ words: [String]) {
        if current!.isDefaults {
            alert("'redirect' not allowed in 'defaults' section.")
            return
        }
        let kind = current!.proxy.kind.rawValue
        let proxyName = current!.proxy.name
        func fail(_ message: String) { alert("error detected in \(kind) '\(proxyName)' while parsing redirect rule : \(message)") }
        let argc = words.prefix { $0 != "if" && $0 != "unless" }.count
        let spec: RedirectSpec
        do throws(RuleWordsError) { spec = try Self.parseRedirect(Array(words[1..<argc]), isFormat: false) } catch {
            fail(error.message)
            return
        }
        var rule = HTTPRequestRule(action: .redirect, location: location)
        rule.redirect = spec
        if argc < words.count {
            guard let c = checkCondition(Array(words[argc...]), what: "a redirect rule condition") else { return }
            rule.condition = c
        }
        current!.proxy.redirectRules.append(rule)
    }

    static func checkRegex(_ pattern: String) throws(RuleWordsError) {
        do throws(SampleError) {
            _ = try ACLRegex(pattern, ignoreCase: false)
        } catch {
            throw RuleWordsError("regex '\(pattern)' is invalid (\(error.description)).")
        }
    }

    /// The words after `redirect` (up to the condition).
    static func parseRedirect(_ words: [String], isFormat: Bool) throws(RuleWordsError) -> RedirectSpec {
        var spec: RedirectSpec?
        var code = 302
        var options: [String] = []
        var setCookie: String?, clearCookie: String?
        var i = 0
        while i < words.count {
            let w = words[i]
            switch w {
            case "location", "prefix", "scheme":
                guard i + 1 < words.count else {
                    throw RuleWordsError("missing argument for '\(w)'.")
                }
                spec = RedirectSpec(kind: RedirectSpec.Kind(rawValue: w)!, value: words[i + 1], isFormat: isFormat)
                i += 2
            case "code":
                guard i + 1 < words.count else {
                    throw RuleWordsError("missing HTTP code.")
                }
                guard let c = Int(words[i + 1]), [301, 302, 303, 307, 308].contains(c) else {
                    throw RuleWordsError("'code': unsupported HTTP code '\(words[i + 1])' (must be one of 301, 302, 303, 307 or 308).")
                }
                code = c
                i += 2
            case "set-cookie", "clear-cookie":
                guard i + 1 < words.count else {
                    throw RuleWordsError("missing cookie name for '\(w)'.")
                }
                if w == "set-cookie" { setCookie = words[i + 1] } else { clearCookie = words[i + 1] }
                i += 2
            case "drop-query", "append-slash", "ignore-empty":
                options.append(w)
                i += 1
            default:
                throw RuleWordsError("expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '\(w)').")
            }
        }
        guard var s = spec else { throw RuleWordsError("redirection type expected ('prefix', 'location', or 'scheme').") }
        s.code = code
        s.dropQuery = options.contains("drop-query")
        s.appendSlash = options.contains("append-slash")
        s.ignoreEmpty = options.contains("ignore-empty")
        s.setCookie = setCookie
        s.clearCookie = clearCookie
        return s
    }

    /// The reply arguments of `return`, `deny` and `tarpit` (haproxy's http-reply syntax). Returns
    /// the reply and how many words it used (the rest starts the condition).
    static func parseReply(_ words: [String], action: HTTPRequestRule.Action, set: HTTPRuleSet,
                           warnings: inout [String]) throws(RuleWordsError) -> (ReplySpec, Int) {
        var reply = ReplySpec()
        reply.status = action == .return ? 200 : action == .tarpit ? 500 : (set == .request ? 403 : 502)
        var explicitBody = false
        var errorfileBody = false
        var i = 0
        func value(_ w: String) throws(RuleWordsError) -> String {
            guard i + 1 < words.count else {
                throw RuleWordsError("'\(w)' expects <\(w == "content-type" ? "type" : w == "status" || w == "deny_status" ? "status_code" : w == "errorfiles" ? "name" : "value")> as argument.")
            }
            return words[i + 1]
        }
        loop: while i < words.count {
            let w = words[i]
            switch w {
            case "status", "deny_status":
                if w == "deny_status" && action == .return { break loop }
                guard let n = Int(try value("status")) else { throw RuleWordsError("'status' expects <status_code> as argument.") }
                let ok = action == .return ? (200...599).contains(n) : ErrorStatus.canDeny(n)
                guard ok else {
                    throw RuleWordsError("Unexpected status code '\(n)'.")
                }
                reply.status = n
                i += 2
            case "content-type":
                let v = try value(w)
                reply.contentType = v
                i += 2
            case "default-errorfiles":
                reply.body = .errorMessage
                errorfileBody = true
                i += 1
            case "errorfile":
                let path = try value(w)
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw RuleWordsError("error opening file '\(path)'.")
                }
                reply.body = .message([UInt8](data))
                errorfileBody = true
                i += 2
            case "errorfiles":
                reply.body = .errorFilesSection(try value(w))
                errorfileBody = true
                i += 2
            case "file", "lf-file":
                let path = try value(w)
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw RuleWordsError("error opening file '\(path)'.")
                }
                reply.body = w == "file" ? .bytes([UInt8](data)) : .format(String(decoding: data, as: UTF8.self))
                explicitBody = true
                i += 2
            case "string", "lf-string":
                let v = try value(w)
                reply.body = w == "string" ? .bytes(Array(v.utf8)) : .format(v)
                explicitBody = true
                i += 2
            case "hdr":
                guard i + 2 < words.count else {
                    throw RuleWordsError("'hdr' expects <name> and <value> as arguments.")
                }
                reply.headers.append((words[i + 1], words[i + 2]))
                i += 3
            default:
                break loop
            }
        }
        if errorfileBody && (reply.contentType != nil || !reply.headers.isEmpty) {
            throw RuleWordsError("'content-type' and 'hdr' may not be used with 'errorfile', 'errorfiles' or 'default-errorfiles'.")
        }
        if action != .return && !explicitBody && !errorfileBody {
            // deny/tarpit without a payload: the proxy's error message for the status.
            reply.body = .errorMessage
        }
        if explicitBody && reply.contentType == nil {
            var nonEmpty = false
            switch reply.body {
            case .bytes(let b): nonEmpty = !b.isEmpty
            case .format(let f): nonEmpty = !f.isEmpty
            default: break
            }
            if nonEmpty { throw RuleWordsError("a content type must be defined when non-empty payload is configured.") }
        }
        if reply.contentType != nil && !explicitBody {
            warnings.append("content-type '\(reply.contentType!)' ignored by the http reply because neither errorfile nor payload defined.")
            reply.contentType = nil
        }
        return (reply, i)
    }

    /// `monitor-uri PATH`.
    mutating func parseMonitorURI(_ words: [String], frontendCapability: Bool) {
        guard words.count >= 2, !words[1].isEmpty else {
            alert("'monitor-uri' expects an URI.")
            return
        }
        if !frontendCapability {
            warning("'monitor-uri' ignored because backend '\(current!.proxy.name)' has no frontend capability.")
            return
        }
        current!.proxy.monitorURI = words[1]
    }

    // MARK: userlist

    /// `user NAME [password HASH | insecure-password PW] [groups G,...]`, `group NAME [users U,...]`.
    mutating func userlistLine(_ words: [String]) {
        guard currentUserlist != nil else { return }
        switch words[0] {
        case "user":
            guard words.count >= 2 else {
                alert("'user' expects <username> as an argument.")
                return
            }
            var user = Userlist.User(name: words[1], password: "", insecure: true, groups: [])
            var i = 2
            while i < words.count {
                guard i + 1 < words.count else {
                    alert("'\(words[i])' expects an argument.")
                    return
                }
                switch words[i] {
                case "password":
                    user.password = words[i + 1]
                    user.insecure = false
                case "insecure-password":
                    user.password = words[i + 1]
                    user.insecure = true
                case "groups":
                    user.groups = words[i + 1].split(separator: ",").map(String.init)
                default:
                    alert("'user' only supports 'password', 'insecure-password' and 'groups' options (got '\(words[i])').")
                    return
                }
                i += 2
            }
            if currentUserlist!.users.contains(where: { $0.name == user.name }) {
                alert("userlist '\(currentUserlist!.name)': duplicate user '\(user.name)'.")
                return
            }
            currentUserlist!.users.append(user)
        case "group":
            guard words.count >= 2 else {
                alert("'group' expects <groupname> as an argument.")
                return
            }
            var members: [String] = []
            if words.count >= 4, words[2] == "users" { members = words[3].split(separator: ",").map(String.init) }
            currentUserlist!.groups[words[1], default: []].append(contentsOf: members)
        default:
            alert("unknown keyword '\(words[0])' in 'userlist' section" + Suggest.suffix(words[0], in: ["user", "group"]))
        }
    }
}
