import HAProxyConfig
import Samples

/// A backend's `use-server` rules and `force-persist` conditions, compiled with its ACLs.
struct ServerRules {
    struct UseServer {
        let server: Int?
        let dynamicName: RuleFormat?
        let condition: CompiledCondition
    }

    let rules: [UseServer]
    let forcePersist: [CompiledCondition]

    /// nil when the backend has no `use-server` rule.
    init?(_ proxy: Proxy) {
        guard !proxy.useServerRules.isEmpty else { return nil }
        var acls: [String: [ACLTerm]] = [:]
        for a in proxy.acls {
            if let t = try? ACLTerm.parse(a.words, readFile: { path throws(SampleError) in try PatternFile.read(path) }).term {
                acls[a.name, default: []].append(t)
            }
        }
        func condition(_ words: [String]) -> CompiledCondition? {
            guard let c = try? ACLCondition.parse(words, known: { acls[$0] != nil }) else { return nil }
            return try? CompiledCondition(c, named: { acls[$0] })
        }
        rules = proxy.useServerRules.compactMap { r in
            guard let c = condition(r.condition) else { return nil }
            if BackendSwitchRule.isDynamic(r.server) {
                return RuleFormat(r.server).map { UseServer(server: nil, dynamicName: $0, condition: c) }
            }
            return proxy.servers.firstIndex { $0.name == r.server }.map { UseServer(server: $0, dynamicName: nil, condition: c) }
        }
        forcePersist = proxy.forcePersist.compactMap(condition)
    }

    /// The server the first matching rule designates (by index), and whether `force-persist`
    /// holds. A rule naming a server that is down is skipped unless persistence is forced;
    /// nil when no rule gives a server (the request is balanced as usual).
    func choose<V: RequestView>(_ view: V, backend: BackendRuntime) -> (index: Int, force: Bool)? {
        var forced: Bool?
        for rule in rules where rule.condition.holds(view) {
            let index: Int
            if let s = rule.server {
                index = s
            } else if let format = rule.dynamicName {
                let name = format.render(view.base, view)
                guard let s = backend.servers.first(where: { $0.name == name }) else { continue }
                index = s.index
            } else {
                continue
            }
            if backend.isServerUsable(index) { return (index, false) }
            if forced == nil { forced = forcePersist.contains { $0.holds(view) } }
            if forced! { return (index, true) }
        }
        return nil
    }
}
