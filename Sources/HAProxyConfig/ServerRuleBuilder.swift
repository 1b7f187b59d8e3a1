// `use-server NAME if|unless COND`, `force-persist if|unless COND`, and the log-format names of
// `use_backend`/`use-server`, checked with haproxy's wording.

import Logging
import Samples

/// `use-server NAME|log-format if|unless COND`.
public struct UseServerRule: Sendable, Hashable {
    /// A server of the backend, or a log-format string giving it per request.
    public var server: String
    public var condition: [String]
    public var location: SourceLocation
}

extension ConfigParser {
    mutating func parseUseServer(_ words: [String], backendCapability: Bool) {
        if current!.isDefaults {
            alert("'use-server' not allowed in 'defaults' section.")
            return
        }
        if !backendCapability {
            warning("'use-server' ignored because frontend '\(current!.proxy.name)' has no backend capability.")
            return
        }
        guard words.count >= 2, !words[1].isEmpty else {
            alert("'use-server' expects a server name.")
            return
        }
        guard words.count > 3, words[2] == "if" || words[2] == "unless" else {
            alert("'use-server' requires either 'if' or 'unless' followed by a condition.")
            return
        }
        if BackendSwitchRule.isDynamic(words[1]), let message = checkDynamicName(words[1]) {
            alert("failed to parse use-server rule '\(words[1])' : \(message).")
            return
        }
        guard let c = checkCondition(Array(words.dropFirst(2)), what: "switching rule") else { return }
        current!.proxy.useServerRules.append(UseServerRule(server: words[1], condition: c, location: location))
    }

    /// `force-persist if|unless COND` and `ignore-persist if|unless COND`.
    mutating func parsePersistRule(_ words: [String], kind: PersistRule.Kind, backendCapability: Bool) {
        let kw = words[0]
        if current!.isDefaults {
            alert("'\(kw)' not allowed in 'defaults' section.")
            return
        }
        if !backendCapability {
            warning("'\(kw)' ignored because frontend '\(current!.proxy.name)' has no backend capability.")
            return
        }
        guard words.count > 2, words[1] == "if" || words[1] == "unless" else {
            alert("'\(kw)' requires either 'if' or 'unless' followed by a condition.")
            return
        }
        guard let c = checkCondition(Array(words.dropFirst(1)), what: "condition") else { return }
        current!.proxy.persistRules.append(PersistRule(kind: kind, condition: c))
    }

    /// `dynamic-cookie-key KEY`.
    mutating func parseDynamicCookieKey(_ words: [String], backendCapability: Bool) {
        if !backendCapability {
            warning("'dynamic-cookie-key' ignored because frontend '\(current!.proxy.name)' has no backend capability.")
            return
        }
        guard words.count >= 2, !words[1].isEmpty else {
            alert("'dynamic-cookie-key' expects <secret_key> as argument.")
            return
        }
        current!.proxy.dynamicCookieKey = words[1]
    }

    /// A log-format name: nil when it compiles and its samples parse, else haproxy's message.
    func checkDynamicName(_ text: String) -> String? {
        do throws(LogFormatError) {
            let format = try LogFormat.compile(text, httpMode: true)
            for case .sample(let expr) in format.tokens {
                do throws(SampleError) { _ = try SampleExpression.parse(expr) } catch {
                    return "failed to parse sample expression <\(expr)> : \(error.description)"
                }
            }
        } catch {
            return error.description
        }
        return nil
    }
}
