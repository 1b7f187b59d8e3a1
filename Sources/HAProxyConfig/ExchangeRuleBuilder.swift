// `http-request|http-response|http-after-response set-log-level LEVEL|silent` and
// `http-request set-timeout server|tunnel TIME|EXPR`, with haproxy 2.6's wording for errors.

import Samples

extension ConfigParser {
    /// The level (name, nil value), or what is wrong: a syslog level (`ConfigParser.levels`) or `silent`.
    static func parseLogLevelRule(_ words: [String], argc: Int) -> Result<(String, String?), RuleWordsError> {
        guard argc == 3, words[2] == "silent" || levels.contains(words[2]) else {
            return .failure(RuleWordsError("expects exactly 1 argument (log level name or 'silent')."))
        }
        return .success((words[2], nil))
    }

    /// `server|tunnel` and the time or sample expression, or what is wrong.
    mutating func parseTimeoutRule(_ words: [String], argc: Int) -> Result<(String, String?), RuleWordsError> {
        guard argc >= 4 else { return .failure(RuleWordsError("expects exactly 2 arguments.")) }
        guard current!.proxy.kind != .frontend else {
            return .failure(RuleWordsError("proxy '\(current!.proxy.name)' has no backend capability."))
        }
        let kind = words[2]
        guard kind == "server" || kind == "tunnel" else {
            return .failure(RuleWordsError("'set-timeout' rule supports 'server'/'tunnel' (got '\(kind)')."))
        }
        let value = words[3]
        switch Units.parseTime(value) {
        case .success(let d):
            guard d > .zero else { return .failure(RuleWordsError("null value is not valid for a 'set-timeout \(kind)' rule.")) }
        case .failure(let e):
            if (try? SampleExpression.parse(value)) == nil {
                let c: Character = { if case .unexpectedCharacter(let c) = e { return c }; return value.first ?? " " }()
                return .failure(RuleWordsError("unexpected character '\(c)' in rule 'set-timeout \(kind)'."))
            }
        }
        return .success((kind, value))
    }
}

extension ConfigParser {
    /// `normalize-uri NAME [full|strict]`: the name, the option, and where the condition starts.
    /// haproxy 2.6.12 (measured): a normalizer that takes an option, written without it and
    /// followed by `if`/`unless`, runs as `path-merge-slashes`; Fulcrum does the same.
    mutating func parseNormalizeRule(_ words: [String], argc: Int) -> Result<(String, String?, Int), RuleWordsError> {
        guard config.global.exposeExperimentalDirectives else {
            return .failure(RuleWordsError("'normalize-uri' action is experimental, must be allowed via a global 'expose-experimental-directives'",
                                           plain: true))
        }
        guard argc >= 3 else { return .failure(RuleWordsError("missing argument <normalizer>.")) }
        let name = words[2]
        guard URINormalizer.names.contains(name) else { return .failure(RuleWordsError("unknown normalizer '\(name)'.")) }
        guard let option = URINormalizer.option(of: name) else { return .success((name, nil, 3)) }
        if words.count > 3, words[3] == "if" || words[3] == "unless" {
            return .success(("path-merge-slashes", nil, 3))
        }
        guard argc > 3 else { return .success((name, nil, 3)) }
        guard words[3] == option else {
            return .failure(RuleWordsError("unknown argument '\(words[3])' for '\(name)' normalizer."))
        }
        return .success((name, option, 4))
    }
}

extension ConfigParser {
    /// `return|deny|tarpit ... errorfiles NAME`: the section's file for the reply's status, else
    /// an empty reply (measured on haproxy 2.6); an unknown section is an error.
    mutating func resolveReplyErrorFiles(_ p: inout Proxy, label: String) {
        func resolve(_ rules: inout [HTTPRequestRule]) {
            for i in rules.indices {
                guard let reply = rules[i].reply, case .errorFilesSection(let name) = reply.body else { continue }
                guard let sec = config.httpErrors.first(where: { $0.name == name }) else {
                    diag(.alert, "Proxy '\(p.name)': unknown http-errors section '\(name)' referenced by an http reply .",
                         at: nil, section: label)
                    continue
                }
                rules[i].reply!.body = sec.errorFiles[reply.status].map(ReplySpec.Body.message) ?? .none
            }
        }
        resolve(&p.httpRequestRules)
        resolve(&p.httpResponseRules)
    }

    /// `monitor fail if|unless COND` (frontends and listens).
    mutating func parseMonitor(_ words: [String], frontendCapability: Bool) {
        guard frontendCapability, !current!.isDefaults else {
            if current!.isDefaults {
                alert("'monitor' not allowed in 'defaults' section.")
            } else {
                warning("'monitor' ignored because backend '\(current!.proxy.name)' has no frontend capability.")
            }
            return
        }
        guard words.count >= 2, words[1] == "fail" else {
            alert("'monitor' only supports 'fail'.")
            return
        }
        guard words.count >= 4, words[2] == "if" || words[2] == "unless" else {
            alert("'monitor fail' requires either 'if' or 'unless' followed by a condition.")
            return
        }
        guard let condition = checkCondition(Array(words[2...]), what: "'monitor fail' condition") else { return }
        current!.proxy.monitorFail.append(condition)
    }
}
