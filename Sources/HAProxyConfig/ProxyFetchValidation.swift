import Foundation
import Logging
import Samples

// The fetches that name a proxy or a server in their argument (`nbsrv(be)`, `be_conn(be)`,
// `queue(be)`, `avg_queue(be)`, `connslots(be)`, `fe_conn(fe)`, `srv_is_up([be/]srv)`): haproxy
// resolves the name once all sections are read and refuses the configuration when it names
// nothing. Same checks and wording here, so a typo fails at load rather than yielding an empty
// value at run time.

extension ConfigParser {
    static let backendArgFetches: Set<String> = ["nbsrv", "be_conn", "queue", "avg_queue", "connslots"]

    /// Where a sample sits, in haproxy's words: `ACL keyword 'K'` or `sample fetch keyword 'K' in <context>`.
    enum FetchSite {
        case acl
        case sample(String)

        func describe(_ keyword: String) -> String {
            switch self {
            case .acl: return "ACL keyword '\(keyword)'"
            case .sample(let context): return "sample fetch keyword '\(keyword)' in \(context)"
            }
        }
    }

    /// The fetch expressions of a condition's anonymous ACLs (the word after each `{`).
    static func anonymousACLFetches(_ condition: [String]?) -> [String] {
        guard let words = condition else { return [] }
        return words.indices.compactMap { i in i > 0 && words[i - 1] == "{" ? words[i] : nil }
    }

    /// The `%[...]` sample expressions of a log-format value (none when it does not compile).
    static func formatSamples(_ value: String?) -> [String] {
        guard let value, value.contains("%["), let format = try? LogFormat.compile(value, httpMode: true) else { return [] }
        var out: [String] = []
        for case .sample(let expr) in format.tokens { out.append(expr) }
        return out
    }

    mutating func validateProxyFetches() {
        var backends: [String: Proxy] = [:]
        var frontends: Set<String> = []
        for st in proxies where !st.proxy.name.isEmpty {
            if st.proxy.isBackend, backends[st.proxy.name] == nil { backends[st.proxy.name] = st.proxy }
            if st.proxy.isFrontend { frontends.insert(st.proxy.name) }
        }
        for st in proxies {
            let p = st.proxy
            func check(_ text: String, _ site: FetchSite, _ loc: SourceLocation, _ keyword: String,
                       _ me: inout ConfigParser) {
                me.checkProxyFetch(text, site: site, proxy: p, backends: backends, frontends: frontends, at: loc,
                                   label: st.label, keyword: keyword)
            }
            func condition(_ words: [String]?, _ loc: SourceLocation, _ keyword: String, _ me: inout ConfigParser) {
                for w in Self.anonymousACLFetches(words) { check(w, .acl, loc, keyword, &me) }
            }
            func format(_ value: String?, _ context: String, _ loc: SourceLocation, _ keyword: String, _ me: inout ConfigParser) {
                for expr in Self.formatSamples(value) { check(expr, .sample(context), loc, keyword, &me) }
            }
            for a in p.acls {
                if let first = a.words.first { check(first, .acl, a.location, "acl", &self) }
            }
            let ruleSets: [(String, [HTTPRequestRule], String)] = [
                ("http-request", p.httpRequestRules, "http-request expression"),
                ("http-response", p.httpResponseRules, "http-response response"),
                ("http-after-response", p.httpAfterResponseRules, "http-response response"),
                ("redirect", p.redirectRules, "redirect format string"),
            ]
            for (keyword, rules, context) in ruleSets {
                for r in rules {
                    condition(r.condition, r.location, keyword, &self)
                    switch r.action {
                    case .capture:
                        if let v = r.value { check(v, .acl, r.location, keyword, &self) }
                    case .setVar:
                        if let v = r.value { check(v, .sample(context), r.location, keyword, &self) }
                    default:
                        format(r.value, context, r.location, keyword, &self)
                    }
                    if let rd = r.redirect, rd.isFormat { format(rd.value, "redirect format string", r.location, keyword, &self) }
                }
            }
            for r in p.tcpRequestRules { condition(r.condition, r.location, "tcp-request", &self) }
            for r in p.stickRules where p.isBackend { condition(r.condition, r.location, "stick", &self) }
            for s in p.backendSwitches {
                condition(s.condition, s.location, "use_backend", &self)
                if BackendSwitchRule.isDynamic(s.backend) { format(s.backend, "use_backend expression", s.location, "use_backend", &self) }
            }
            if p.isFrontend {
                if case .custom(let f) = p.logStyle {
                    format(f, "log-format string", p.logStyleLocation ?? p.location, "log-format", &self)
                }
                format(p.uniqueIDFormat, "unique-id-format string", p.location, "unique-id-format", &self)
            }
        }
    }

    private mutating func checkProxyFetch(_ text: String, site: FetchSite, proxy p: Proxy, backends: [String: Proxy],
                                          frontends: Set<String>, at loc: SourceLocation, label: String, keyword: String) {
        guard let expr = try? SampleExpression.parse(text) else { return }
        let name = expr.fetch.name
        let arg = expr.fetch.args.first ?? ""
        let what = site.describe(name)
        func refuse(_ message: String) {
            diag(.alert, message, at: loc, section: label, keyword: keyword)
        }
        if Self.backendArgFetches.contains(name) {
            if arg.isEmpty {
                // Formats of http rules are refused at parse time (RuleBuilder); conditions here.
                if case .acl = site, !p.isBackend {
                    refuse("proxy '\(p.name)', referenced in arg 1 of \(what) in proxy '\(p.name)', has not backend capability.")
                }
            } else if backends[arg] == nil {
                refuse("unable to find backend '\(arg)' referenced in arg 1 of \(what) in proxy '\(p.name)'.")
            }
        } else if name == "fe_conn" {
            if !arg.isEmpty && !frontends.contains(arg) {
                refuse("unable to find frontend '\(arg)' referenced in arg 1 of \(what) in proxy '\(p.name)'.")
            }
        } else if name == "srv_is_up", !arg.isEmpty {
            let parts = arg.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let target: Proxy?
            let server: String
            if parts.count == 2 {
                guard let be = backends[parts[0]] else {
                    refuse("unable to find proxy '\(parts[0])' referenced in arg 1 of \(what) in proxy '\(p.name)'.")
                    return
                }
                target = be
                server = parts[1]
            } else {
                target = p
                server = arg
            }
            if let target, !target.servers.contains(where: { $0.name == server }) {
                refuse("unable to find server '\(server)' in proxy '\(target.name)', referenced in arg 1 of \(what) in proxy '\(p.name)'.")
            }
        }
    }
}
