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

    /// nil when the backend has no `use-server` rule.
    init?(_ proxy: Proxy) {
        guard !proxy.useServerRules.isEmpty else { return nil }
        let conditions = ConditionCompiler(proxy)
        rules = proxy.useServerRules.compactMap { r in
            guard let c = conditions.compile(r.condition) else { return nil }
            if BackendSwitchRule.isDynamic(r.server) {
                return RuleFormat(r.server).map { UseServer(server: nil, dynamicName: $0, condition: c) }
            }
            return proxy.servers.firstIndex { $0.name == r.server }.map { UseServer(server: $0, dynamicName: nil, condition: c) }
        }
    }

    /// The server the first matching rule designates (by index), and whether it is taken while
    /// down. A rule naming a server that is down is skipped unless persistence is forced
    /// (`force-persist`) or `option persist` is on; nil when no rule gives a server (the
    /// request is balanced as usual).
    func choose<V: RequestView>(_ view: V, backend: BackendRuntime, forced: Bool) -> (index: Int, force: Bool)? {
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
            if forced || backend.config.persist { return (index, true) }
        }
        return nil
    }
}

/// A backend's `force-persist` / `ignore-persist` rules, compiled; the first whose condition
/// holds decides (haproxy's SF_FORCE_PRST / SF_IGNORE_PRST).
struct PersistRules {
    enum Outcome { case none, force, ignore }
    let rules: [(PersistRule.Kind, CompiledCondition)]

    /// nil when the backend has none.
    init?(_ proxy: Proxy) {
        guard !proxy.persistRules.isEmpty else { return nil }
        let conditions = ConditionCompiler(proxy)
        rules = proxy.persistRules.compactMap { r in conditions.compile(r.condition).map { (r.kind, $0) } }
    }

    func evaluate<V: RequestView>(_ view: V) -> Outcome {
        for (kind, c) in rules where c.holds(view) { return kind == .force ? .force : .ignore }
        return .none
    }
}
