import HAProxyConfig
import Logging
import Samples

/// One `use_backend` rule at run time: a backend named in the configuration, or a log-format
/// name (`use_backend be_%[req.hdr(x-tier)]`) resolved per request.
struct BackendSwitch {
    let backend: BackendRuntime?
    let dynamicName: RuleFormat?
    let condition: CompiledCondition?

    /// The rules of a frontend: static names are checked at load; a dynamic one is kept when its
    /// format compiles.
    static func compile(_ rules: [(backend: String, condition: CompiledCondition?)],
                        backends: [String: BackendRuntime]) -> [BackendSwitch] {
        rules.compactMap { s in
            if BackendSwitchRule.isDynamic(s.backend) {
                return RuleFormat(s.backend).map { BackendSwitch(backend: nil, dynamicName: $0, condition: s.condition) }
            }
            return backends[s.backend].map { BackendSwitch(backend: $0, dynamicName: nil, condition: s.condition) }
        }
    }

    /// The backend of a rule whose condition held. A dynamic name that names no backend gives nil:
    /// haproxy then evaluates no other rule and uses the default backend.
    func resolve<V: RequestView>(_ view: V) -> BackendRuntime? {
        if let backend { return backend }
        guard let dynamicName else { return nil }
        return ProxyDirectory.shared.backend(dynamicName.render(view))
    }

    /// The same for a TCP stream's content rules (a name made of samples; no log variables there).
    func resolve(_ source: some SampleSource) -> BackendRuntime? {
        if let backend { return backend }
        guard let dynamicName else { return nil }
        return ProxyDirectory.shared.backend(dynamicName.render(LogRecord(), source))
    }
}

extension RuleFormat {
    /// The sample expressions of a compiled format, parsed once.
    static func sampleExpressions(_ format: LogFormat) -> [(String, SampleExpression)] {
        format.tokens.compactMap { token in
            guard case .sample(let t) = token, let e = try? SampleExpression.parse(t) else { return nil }
            return (t, e)
        }
    }
}

extension LogRecord {
    /// Samples of a rule-like format (`unique-id-format`): read from the request, empty when absent.
    mutating func fillRuleSamples(_ samples: [(String, SampleExpression)], _ source: some SampleSource) {
        emptySamples = true
        for (text, expr) in samples {
            if let v = expr.evaluate(source) { self.samples[text] = v.text }
        }
    }
}
