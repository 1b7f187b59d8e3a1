// `set-log-level LEVEL|silent` and `set-timeout server|tunnel TIME|EXPR`: what rules change for
// the rest of one exchange (the last matching rule wins).

import HAProxyConfig
import Logging
import NIOCore
import Samples

struct ExchangeOverrides {
    /// nil: the logger's choice; `.silent`: no line.
    var logLevel: LogLevelChoice?
    var serverTimeout: TimeAmount?
    var tunnelTimeout: TimeAmount?
    /// A rule found the request invalid (normalize-uri ... strict): haproxy logs TR as -1.
    var requestInvalid = false
}

extension RuleEngine {
    /// `normalize-uri`: the new target, or haproxy's 400 for an invalid one under `strict`.
    static func normalize<V: RequestView>(_ n: URINormalizer, _ view: inout V, errors: ErrorResponses) -> Verdict? {
        let target = view.target
        guard let r = n.apply(target) else {
            view.edits.overrides.requestInvalid = true
            return .reply(errors.response(400), status: 400, termination: ("P", "R"))
        }
        if r != target { view.edits.uri = r }
        return nil
    }
}

enum LogLevelChoice: Equatable {
    case silent
    case level(SyslogLevel)
}

enum CompiledOverride {
    case logLevel(LogLevelChoice)
    case timeout(tunnel: Bool, TimeAmount?, SampleExpression?)

    init?(_ r: HTTPRequestRule) {
        switch r.action {
        case .setLogLevel:
            if r.name == "silent" {
                self = .logLevel(.silent)
            } else {
                guard let l = SyslogLevel(rawValue: r.name) else { return nil }
                self = .logLevel(.level(l))
            }
        case .setTimeout:
            guard let v = r.value else { return nil }
            let tunnel = r.name == "tunnel"
            if case .success(let d) = Units.parseTime(v) {
                self = .timeout(tunnel: tunnel, d.timeAmount, nil)
            } else {
                guard let e = try? SampleExpression.parse(v) else { return nil }
                self = .timeout(tunnel: tunnel, nil, e)
            }
        default:
            return nil
        }
    }

    func apply(to o: inout ExchangeOverrides, _ source: some SampleSource) {
        switch self {
        case .logLevel(let l):
            o.logLevel = l
        case let .timeout(tunnel, fixed, expr):
            // An expression gives milliseconds; no value or zero leaves the timeout alone.
            var amount = fixed
            if let expr, let ms = expr.evaluate(source).flatMap({ Int64($0.text) }), ms > 0 { amount = .milliseconds(ms) }
            guard let amount else { return }
            if tunnel { o.tunnelTimeout = amount } else { o.serverTimeout = amount }
        }
    }
}

extension RuleEngine {
    /// `monitor-uri`'s answer: 200, or the proxy's 503 when a `monitor fail` condition holds.
    static func monitorReply(_ frontend: FrontendRuntime, _ view: some RequestView) -> ByteBuffer {
        for c in frontend.rules.monitorFail where c.holds(view) { return frontend.errors.response(503) }
        return monitorResponse
    }
}
