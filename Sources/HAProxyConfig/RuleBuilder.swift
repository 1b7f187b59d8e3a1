// `acl`, `use_backend` and `http-request` lines: parsed and checked here with haproxy's wording
// (the ACLs and sample expressions compile with the Samples target), run by ProxyCore.

import Foundation
import Logging
import Samples

extension ConfigParser {
    /// `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly]
    /// [secure] [domain D]* [attr A]* [maxidle T] [maxlife T] [dynamic]`.
    mutating func parseCookie(_ words: [String], backendCapability: Bool) {
        if !backendCapability {
            warning("'cookie' ignored because frontend '\(current!.proxy.name)' has no backend capability.")
            return
        }
        guard words.count >= 2, !words[1].isEmpty else {
            alert("'cookie' expects <cookie_name> as argument.")
            return
        }
        var c = CookiePersistence(name: words[1])
        var modes = 0
        var i = 2
        while i < words.count {
            let w = words[i]
            switch w {
            case "rewrite", "insert", "prefix":
                c.mode = CookiePersistence.Mode(rawValue: w)!
                modes += 1
            case "indirect": c.indirect = true
            case "nocache": c.nocache = true
            case "postonly": c.postonly = true
            case "preserve": c.preserve = true
            case "httponly": c.httponly = true
            case "secure": c.secure = true
            case "domain", "attr":
                guard i + 1 < words.count else {
                    alert("'cookie' : '\(w)' expects \(w == "domain" ? "<domain>" : "<value>") as argument.")
                    return
                }
                if w == "domain" { c.domains.append(words[i + 1]) } else { c.attrs.append(words[i + 1]) }
                i += 1
            case "maxidle", "maxlife":
                guard i + 1 < words.count, !words[i + 1].isEmpty else {
                    alert("'\(w)' expects <\(w == "maxidle" ? "idletime" : "lifetime")> in seconds as argument.")
                    return
                }
                switch Self.parseSeconds(words[i + 1]) {
                case let .success(v):
                    if w == "maxidle" { c.maxIdle = v } else { c.maxLife = v }
                case .failure(.overflow):
                    alert("timer overflow in argument <\(words[i + 1])> to <\(w)>, maximum value is 2147483647 s (~68 years).")
                    return
                case let .failure(e):
                    alert("\(e) in argument to <\(w)>.")
                    return
                }
                i += 1
            case "dynamic": c.dynamic = true
            default:
                alert("'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'httponly', 'secure', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.")
                return
            }
            i += 1
        }
        if modes > 1 {
            alert("'cookie' : 'rewrite', 'insert' and 'prefix' options are incompatible.")
            return
        }
        if (c.nocache || c.postonly) && c.mode != .insert {
            alert("'cookie' : 'nocache' and 'postonly' options can only be used with 'insert'.")
            return
        }
        current!.proxy.cookie = c
    }

    /// A time in seconds (no unit = seconds; `us`, `ms`, `s`, `m`, `h`, `d`), as haproxy reads
    /// `maxidle`/`maxlife`: smaller units are truncated, more than 2^31-1 s is an overflow.
    static func parseSeconds(_ text: String) -> Result<Int, UnitError> {
        let (digits, unit) = Units.splitNumber(text)
        guard !digits.isEmpty, let value = Int64(digits) else {
            if let c = text.first { return .failure(.unexpectedCharacter(c)) }
            return .failure(.empty)
        }
        var seconds: Int64
        switch unit {
        case "", "s": seconds = value
        case "us": seconds = value / 1_000_000
        case "ms": seconds = value / 1000
        case "m": seconds = value.multipliedReportingOverflow(by: 60).overflow ? .max : value * 60
        case "h": seconds = value.multipliedReportingOverflow(by: 3600).overflow ? .max : value * 3600
        case "d": seconds = value.multipliedReportingOverflow(by: 86400).overflow ? .max : value * 86400
        default: return .failure(.unexpectedCharacter(unit.first!))
        }
        guard seconds <= Int64(Int32.max) else { return .failure(.overflow) }
        return .success(Int(seconds))
    }

    /// `acl NAME criterion [flags] [patterns]`.
    mutating func parseACL(_ words: [String]) {
        if current!.isDefaults {
            alert(current!.proxy.name.isEmpty ? "'acl' not allowed in anonymous 'defaults' section."
                                              : "'acl' in a named 'defaults' section is not yet supported by Fulcrum (comes with the HTTP rules work).")
            return
        }
        guard words.count >= 3 else {
            alert("'acl' expects an ACL name and a criterion (e.g. 'acl is_api path_beg /api').")
            return
        }
        let name = words[1]
        if let bad = name.first(where: { !($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) {
            alert("character '\(bad)' is not permitted in acl name '\(name)'.")
            return
        }
        do throws(SampleError) {
            let (_, warn) = try ACLTerm.parse(Array(words.dropFirst(2)), readFile: { path throws(SampleError) in
                try PatternFile.read(path)
            })
            if let warn { warning("parsing acl keyword '\(words[2])' :\n  \(warn)\n") }
        } catch {
            alert("error detected while parsing ACL '\(name)' : \(error.description)")
            return
        }
        current!.proxy.acls.append(ACLDefinition(name: name, words: Array(words.dropFirst(2)), location: location))
    }

    /// Checks the words of a condition (`if ...`/`unless ...`) against the ACLs declared so far.
    /// Returns the words, or nil after an alert.
    mutating func checkCondition(_ words: [String], what: String) -> [String]? {
        let declared = Set(current!.proxy.acls.map(\.name))
        do throws(SampleError) {
            let c = try ACLCondition.parse(words, known: { declared.contains($0) })
            for group in c.alternatives {
                for case .anonymous(let inner) in group.map(\.ref) {
                    _ = try ACLTerm.parse(inner, readFile: { _ throws(SampleError) in
                        throw SampleError("'-f' is not supported in anonymous ACLs.")
                    })
                }
            }
        } catch {
            alert("error detected while parsing \(what) : \(error.description)")
            return nil
        }
        return words
    }

    /// `use_backend NAME [if|unless cond]`.
    mutating func parseUseBackend(_ words: [String], frontendCapability: Bool) {
        if current!.isDefaults {
            alert("'use_backend' not allowed in 'defaults' section.")
            return
        }
        if !frontendCapability {
            warning("'use_backend' ignored because backend '\(current!.proxy.name)' has no frontend capability.")
            return
        }
        guard words.count >= 2 else {
            alert("'use_backend' expects a backend name.")
            return
        }
        if BackendSwitchRule.isDynamic(words[1]), let message = checkDynamicName(words[1]) {
            alert("failed to parse use_backend rule '\(words[1])' : \(message).")
            return
        }
        var condition: [String]?
        if words.count > 2 {
            guard words[2] == "if" || words[2] == "unless" else {
                alert("unexpected keyword '\(words[2])' after switching rule, only 'if' and 'unless' are allowed.")
                return
            }
            guard let c = checkCondition(Array(words.dropFirst(2)), what: "switching rule") else { return }
            condition = c
        }
        current!.proxy.backendSwitches.append(BackendSwitchRule(backend: words[1], condition: condition, location: location))
    }

    /// A rule's log-format value: its syntax and its samples (haproxy refuses backend fetches in
    /// a frontend rule).
    mutating func checkRuleFormat(_ value: String, action: HTTPRequestRule.Action, kind: String,
                                  ruleSet: String = "http-request") -> Bool {
        let proxyName = current!.proxy.name
        let rule = "'\(ruleSet) \(action.rawValue)' rule"
        do throws(LogFormatError) {
            let format = try LogFormat.compile(value, httpMode: true)
            for case .sample(let expr) in format.tokens {
                do throws(SampleError) {
                    let parsed = try SampleExpression.parse(expr)
                    let name = parsed.fetch.name
                    // What the fetch needs that this rule set does not have (the name sets are
                    // disjoint): no server in any http-request rule, no backend in a frontend's, no
                    // request headers after the response, no response in http-request rules.
                    let needs: String?
                    switch ruleSet {
                    case "http-request":
                        needs = ["srv_name", "srv_id"].contains(name) ? "server"
                            : current!.proxy.kind == .frontend && ["be_name", "be_id"].contains(name) ? "backend"
                            : Self.responseNeeds(name)
                    case "http-after-response":
                        needs = Self.requestHeaderFetches.contains(name) ? "HTTP request headers" : nil
                    default:
                        needs = nil
                    }
                    if let needs {
                        // haproxy shows the rest of the format from the fetch on.
                        let shown = value.range(of: "%[" + expr).map { String(value[value.index($0.lowerBound, offsetBy: 2)...]) } ?? expr
                        alert("error detected in \(kind) '\(proxyName)' while parsing \(rule) : sample fetch <\(shown)> may not be reliably used here because it needs '\(needs)' which is not available here.")
                        return false
                    }
                    if current!.proxy.kind == .frontend && parsed.fetch.args.isEmpty && Self.backendArgFetches.contains(name) {
                        alert("proxy '\(proxyName)', referenced in arg 1 of sample fetch keyword '\(name)' in \(ruleSet) expression in proxy '\(proxyName)', has not backend capability.")
                        return false
                    }
                } catch {
                    alert("error detected in \(kind) '\(proxyName)' while parsing \(rule) : failed to parse sample expression <\(expr)> : \(error.description).")
                    return false
                }
            }
        } catch {
            alert("error detected in \(kind) '\(proxyName)' while parsing \(rule) : \(error.description).")
            return false
        }
        return true
    }
}

extension ConfigParser {
    /// What a response fetch needs in haproxy's words (`status` needs the response, the others
    /// its headers), nil for other fetches: refused in `http-request` rules.
    static func responseNeeds(_ fetch: String) -> String? {
        switch fetch {
        case "status": return "HTTP response"
        case "res.hdr", "shdr", "res.ver", "res.cook", "scook", "res.hdr_cnt", "shdr_cnt": return "HTTP response headers"
        default: return nil
        }
    }

    /// Fetches that read the request's head: refused in `http-after-response` formats.
    static let requestHeaderFetches: Set<String> = [
        "path", "url", "uri", "method", "query", "base", "req.hdr", "hdr", "req.fhdr", "req.hdr_cnt", "hdr_cnt",
        "req.cook", "cook", "req.cook_cnt", "cook_cnt", "url_param", "urlp", "req.ver", "req_ver", "http_auth", "pathq",
    ]
}

/// The statuses haproxy accepts for `deny_status` (those it has an error page for).
public enum ErrorStatus {
    public static let deniable: Set<Int> = [200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504]
    public static func canDeny(_ n: Int) -> Bool { deniable.contains(n) }
}

/// The patterns of `acl ... -f FILE`: one per line, blank lines and `#` comments skipped.
public enum PatternFile {
    public static func read(_ path: String) throws(SampleError) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SampleError("failed to open pattern file <\(path)>.")
        }
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.isEmpty || t.hasPrefix("#") ? nil : t
        }
    }
}
