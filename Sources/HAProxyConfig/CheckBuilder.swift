// Health-check lines of a proxy: `option httpchk|tcp-check|redis-check|mysql-check|pgsql-check|
// smtpchk`, `http-check send|expect|...`, `tcp-check connect|send|send-binary|expect|comment`.
// They accumulate in the proxy's state and resolve into `Proxy.healthCheck` at the end.

/// Which check option a proxy chose (the last one wins, as in HAProxy).
enum CheckChoice: Hashable {
    case layer4, http, tcpCheck, redis, mysql(user: String?), pgsql(user: String), smtp(command: String, domain: String)
}

struct CheckState {
    var choice: CheckChoice?
    var http = HTTPCheckSettings()
    var tcpRules: [TCPCheckRule] = []
    /// Rules inherited from a defaults section are replaced by the proxy's own, as in HAProxy 2.2+.
    var httpRulesInherited = false
    var tcpRulesInherited = false
}

extension ConfigParser {
    /// `option NAME` for the check options; returns false when NAME is not one of them.
    mutating func parseCheckOption(_ name: String, _ args: [String], negated: Bool) -> Bool {
        switch name {
        case "httpchk", "tcp-check", "redis-check", "mysql-check", "pgsql-check", "smtpchk":
            if negated {
                current!.checks.choice = nil
                return true
            }
        case "log-health-checks":
            current!.proxy.logHealthChecks = !negated
            return true
        case "allbackups":
            current!.proxy.allBackups = !negated
            return true
        default:
            return false
        }
        switch name {
        case "httpchk":
            var http = current!.checks.http
            switch args.count {
            case 0: break
            case 1: http.uri = args[0]
            default:
                http.method = args[0]
                http.uri = args[1]
                if args.count >= 3 {
                    let version = args[2...].joined(separator: " ")
                    if let cut = version.range(of: "\r\n") {
                        warning("'option httpchk' : hiding headers or body at the end of the version string is deprecated. "
                                + "Please, consider to use 'http-check send' directive instead.")
                        http.version = String(version[..<cut.lowerBound])
                        let rest = version[cut.upperBound...]
                        for line in rest.components(separatedBy: "\r\n") where !line.isEmpty {
                            guard let colon = line.firstIndex(of: ":") else { continue }
                            http.headers.append(HTTPHeaderPair(
                                name: String(line[..<colon]),
                                value: String(line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" }))))
                        }
                    } else {
                        http.version = version
                    }
                }
            }
            current!.checks.http = http
            current!.checks.choice = .http
        case "tcp-check":
            current!.checks.choice = .tcpCheck
        case "redis-check":
            current!.checks.choice = .redis
        case "mysql-check":
            var user: String?
            if !args.isEmpty {
                guard args[0] == "user", args.count >= 2 else {
                    alert("'option mysql-check' only supports optional values: 'user'" + Suggest.suffix(args[0], in: ["user"]))
                    return true
                }
                user = args[1]
                if args.count >= 3 && args[2] != "post-41" && args[2] != "pre-41" {
                    alert("'option mysql-check user <username>' only supports optional values: 'pre-41' and 'post-41' (got '\(args[2])').")
                    return true
                }
            }
            current!.checks.choice = .mysql(user: user)
        case "pgsql-check":
            guard args.count >= 2, args[0] == "user" else {
                alert("'option pgsql-check' expects 'user <username>' as argument (PostgreSQL needs a user name to answer).")
                return true
            }
            current!.checks.choice = .pgsql(user: args[1])
        case "smtpchk":
            var command = "HELO", domain = "localhost"
            if args.count >= 2 && (args[0] == "HELO" || args[0] == "EHLO") {
                command = args[0]
                domain = args[1]
            } else if !args.isEmpty {
                warning("'option smtpchk' expects 'HELO <domain>' or 'EHLO <domain>'; using 'HELO localhost'.")
            }
            current!.checks.choice = .smtp(command: command, domain: domain)
        default:
            break
        }
        return true
    }

    /// `http-check send|expect|comment|connect|disable-on-404|send-state|set-var|unset-var`.
    mutating func parseHTTPCheck(_ words: [String]) {
        let actions = ["comment", "connect", "disable-on-404", "expect", "send", "send-state", "set-var", "unset-var"]
        guard words.count >= 2 else {
            alert("'http-check' expects one of \(actions.map { "'\($0)'" }.joined(separator: ", ")).")
            return
        }
        currentKeyword = "http-check \(words[1])"
        if current!.checks.httpRulesInherited {
            current!.checks.http.expects = []
            current!.checks.httpRulesInherited = false
        }
        let args = Array(words.dropFirst(2))
        switch words[1] {
        case "comment":
            return
        case "send":
            var http = current!.checks.http
            var i = 0
            while i < args.count {
                let key = args[i]
                func value(_ n: Int = 1) -> [String]? {
                    guard i + n < args.count else { alert("'http-check send' : '\(key)' expects \(n == 1 ? "a value" : "\(n) values")."); return nil }
                    return Array(args[(i + 1)...(i + n)])
                }
                switch key {
                case "meth": guard let v = value() else { return }; http.method = v[0]; i += 2
                case "uri": guard let v = value() else { return }; http.uri = v[0]; i += 2
                case "ver": guard let v = value() else { return }; http.version = v[0]; i += 2
                case "hdr":
                    guard let v = value(2) else { return }
                    http.headers.append(HTTPHeaderPair(name: v[0], value: v[1])); i += 3
                case "body": guard let v = value() else { return }; http.body = v[0]; i += 2
                case "comment": guard value() != nil else { return }; i += 2
                case "uri-lf", "body-lf":
                    alert("'http-check send \(key)' (log-format) is not yet supported by Fulcrum (comes with the logging work).")
                    return
                default:
                    alert("'http-check send' : unknown argument '\(key)'"
                          + Suggest.suffix(key, in: ["meth", "uri", "uri-lf", "ver", "hdr", "body", "body-lf", "comment"]))
                    return
                }
            }
            current!.checks.http = http
        case "expect":
            var i = 0
            var negate = false
            while i < args.count {
                switch args[i] {
                case "min-recv", "comment", "ok-status", "error-status", "tout-status", "on-success", "on-error", "status-code":
                    guard i + 1 < args.count else { alert("'http-check expect' : '\(args[i])' expects a value."); return }
                    if ["on-success", "on-error", "status-code", "ok-status", "error-status", "tout-status"].contains(args[i]) {
                        warning("'http-check expect \(args[i])' is not yet supported by Fulcrum, ignored (HAProxy's default status and text are used).")
                    }
                    i += 2
                    continue
                case "!":
                    negate = true
                    i += 1
                    continue
                default:
                    break
                }
                break
            }
            guard i < args.count else { alert("'http-check expect' expects a match type and a pattern."); return }
            var kindWord = args[i]
            if kindWord.hasPrefix("!") && kindWord.count > 1 {
                negate = true
                kindWord.removeFirst()
            }
            guard let kind = HTTPCheckExpect.Kind(rawValue: kindWord) else {
                if ["hdr", "fhdr"].contains(kindWord) {
                    alert("'http-check expect \(kindWord)' is not yet supported by Fulcrum (comes with later work).")
                } else {
                    alert("'http-check expect' : unknown match '\(kindWord)'; expected 'status', 'rstatus', 'hdr', 'fhdr', 'string' or 'rstring'"
                          + Suggest.suffix(kindWord, in: ["status", "rstatus", "string", "rstring", "hdr", "fhdr"]))
                }
                return
            }
            guard i + 1 < args.count else { alert("'http-check expect \(kindWord)' expects a pattern."); return }
            let pattern = args[i + 1]
            if kind == .status && !Self.isStatusPattern(pattern) {
                alert("'http-check expect status' : invalid status pattern '\(pattern)'; expected codes or ranges such as '200', '200-399' or '200,301'.")
                return
            }
            if kind == .rstatus || kind == .rstring, (try? Regex(pattern)) == nil {
                alert("'http-check expect \(kindWord)' : invalid regular expression '\(pattern)'.")
                return
            }
            if i + 2 < args.count {
                alert("'http-check expect \(kindWord)' : unexpected argument '\(args[i + 2])' after the pattern.")
                return
            }
            current!.checks.http.expects.append(HTTPCheckExpect(kind: kind, negate: negate, pattern: pattern))
        case "disable-on-404", "send-state", "connect", "set-var", "unset-var":
            warning("'http-check \(words[1])' is not yet supported by Fulcrum, ignored.")
        default:
            alert("'http-check' : unknown action '\(words[1])'" + Suggest.suffix(words[1], in: actions))
        }
    }

    static func isStatusPattern(_ pattern: String) -> Bool {
        !pattern.isEmpty && pattern.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { part in
            let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            return !bounds.isEmpty && bounds.allSatisfy { Int($0) != nil }
        }
    }

    /// `tcp-check connect|send|send-binary|expect|comment|...`.
    mutating func parseTCPCheck(_ words: [String]) {
        let actions = ["comment", "connect", "expect", "send", "send-lf", "send-binary", "send-binary-lf", "set-var", "unset-var"]
        guard words.count >= 2 else {
            alert("'tcp-check' expects one of \(actions.map { "'\($0)'" }.joined(separator: ", ")).")
            return
        }
        currentKeyword = "tcp-check \(words[1])"
        if current!.checks.tcpRulesInherited {
            current!.checks.tcpRules = []
            current!.checks.tcpRulesInherited = false
        }
        let args = Array(words.dropFirst(2))
        func trailingComment(from i: Int) -> Bool {
            if i >= args.count { return true }
            if args[i] == "comment" && i + 1 < args.count && i + 2 == args.count { return true }
            alert("'tcp-check \(words[1])' : unexpected argument '\(args[i])'.")
            return false
        }
        switch words[1] {
        case "comment":
            guard let text = args.first else { alert("'tcp-check comment' expects a text."); return }
            current!.checks.tcpRules.append(.comment(text))
        case "connect":
            var port: Int?
            var i = 0
            while i < args.count {
                switch args[i] {
                case "port":
                    guard i + 1 < args.count, let p = Int(args[i + 1]), (1...65535).contains(p) else {
                        alert("'tcp-check connect' : 'port' expects a port number between 1 and 65535.")
                        return
                    }
                    port = p
                    i += 2
                case "default", "linger":
                    i += 1
                case "comment":
                    i += 2
                case "addr", "send-proxy", "via-socks4", "ssl", "sni", "alpn", "proto":
                    alert("'tcp-check connect \(args[i])' is not yet supported by Fulcrum (comes with later work).")
                    return
                default:
                    alert("'tcp-check connect' : unknown argument '\(args[i])'"
                          + Suggest.suffix(args[i], in: ["default", "port", "addr", "send-proxy", "via-socks4", "ssl", "sni", "alpn", "linger", "proto", "comment"]))
                    return
                }
            }
            current!.checks.tcpRules.append(.connect(port: port))
        case "send":
            guard let data = args.first else { alert("'tcp-check send' expects a string as argument."); return }
            guard trailingComment(from: 1) else { return }
            current!.checks.tcpRules.append(.send(Array(data.utf8)))
        case "send-binary":
            guard let hex = args.first else { alert("'tcp-check send-binary' expects a hexadecimal string as argument."); return }
            guard let bytes = Hex.bytes(hex) else {
                alert("'tcp-check send-binary' : invalid hexadecimal string '\(hex)' (an even number of 0-9a-f digits expected).")
                return
            }
            guard trailingComment(from: 1) else { return }
            current!.checks.tcpRules.append(.sendBinary(bytes))
        case "expect":
            var i = 0
            var negate = false
            while i < args.count {
                if ["min-recv", "comment", "ok-status", "error-status", "tout-status", "on-success", "on-error", "status-code"].contains(args[i]) {
                    guard i + 1 < args.count else { alert("'tcp-check expect' : '\(args[i])' expects a value."); return }
                    if ["on-success", "on-error", "status-code", "ok-status", "error-status", "tout-status"].contains(args[i]) {
                        warning("'tcp-check expect \(args[i])' is not yet supported by Fulcrum, ignored (HAProxy's default status and text are used).")
                    }
                    i += 2
                } else if args[i] == "!" {
                    negate = true
                    i += 1
                } else {
                    break
                }
            }
            guard i < args.count else { alert("'tcp-check expect' expects a match type and a pattern."); return }
            var kindWord = args[i]
            if kindWord.hasPrefix("!") && kindWord.count > 1 {
                negate = true
                kindWord.removeFirst()
            }
            guard let kind = TCPCheckExpectKind(rawValue: kindWord) else {
                if kindWord == "string-lf" || kindWord == "binary-lf" {
                    alert("'tcp-check expect \(kindWord)' (log-format) is not yet supported by Fulcrum (comes with the logging work).")
                } else {
                    alert("'tcp-check expect' : unknown match '\(kindWord)'; expected 'string', 'rstring', 'binary' or 'rbinary'"
                          + Suggest.suffix(kindWord, in: ["string", "rstring", "binary", "rbinary", "string-lf", "binary-lf"]))
                }
                return
            }
            guard i + 1 < args.count else { alert("'tcp-check expect \(kindWord)' expects a pattern."); return }
            let pattern = args[i + 1]
            switch kind {
            case .binary where Hex.bytes(pattern) == nil:
                alert("'tcp-check expect binary' : invalid hexadecimal string '\(pattern)'.")
                return
            case .rstring where (try? Regex(pattern)) == nil, .rbinary where (try? Regex(pattern)) == nil:
                alert("'tcp-check expect \(kindWord)' : invalid regular expression '\(pattern)'.")
                return
            default: break
            }
            guard trailingComment(from: i + 2) else { return }
            current!.checks.tcpRules.append(.expect(negate: negate, kind: kind, pattern: pattern))
        case "send-lf", "send-binary-lf":
            alert("'tcp-check \(words[1])' (log-format) is not yet supported by Fulcrum (comes with the logging work).")
        case "set-var", "unset-var":
            warning("'tcp-check \(words[1])' is not yet supported by Fulcrum, ignored.")
        default:
            alert("'tcp-check' : unknown action '\(words[1])'" + Suggest.suffix(words[1], in: actions))
        }
    }

    /// The check protocol the proxy's lines chose.
    static func resolveHealthCheck(_ checks: CheckState) -> HealthCheckProtocol {
        switch checks.choice {
        case nil, .layer4?: .layer4
        case .http?: .http(checks.http)
        case .tcpCheck?: .tcpScript(checks.tcpRules)
        case .redis?: .redis
        case .mysql(let user)?: .mysql(user: user)
        case .pgsql(let user)?: .pgsql(user: user)
        case let .smtp(command, domain)?: .smtp(command: command, domain: domain)
        }
    }
}

/// Hexadecimal text as in `tcp-check send-binary` / `expect binary` (an even number of digits).
public enum Hex {
    public static func bytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x41...0x46: c - 0x41 + 10
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = v(digits[i]), let lo = v(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
