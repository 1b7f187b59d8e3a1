// `http-request|http-response|http-after-response set-log-level LEVEL|silent` and
// `http-request set-timeout server|tunnel TIME|EXPR`, with haproxy 2.6's wording for errors.

import Samples

extension ConfigParser {
    static let logLevels = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "silent"]

    /// The level (name, nil value), or what is wrong.
    static func parseLogLevelRule(_ words: [String], argc: Int) -> Result<(String, String?), RuleWordsError> {
        guard argc == 3, logLevels.contains(words[2]) else {
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
