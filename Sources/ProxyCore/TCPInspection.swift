// `tcp-request inspect-delay T` with `tcp-request content` rules in `mode tcp`: the client's
// first bytes are held (up to one buffer) and the content rules run when the connection starts
// and again, from the first rule, on each arrival, as haproxy 2.6 does (the actions before a
// rule that waits run each time: an `sc-inc-gpc0` counts every pass): a rule whose condition
// does not hold on bytes that may still change
// (`req.len`, `req.payload` short of its length, an incomplete TLS ClientHello for
// `req.ssl_hello_type`/`req.ssl_sni`/`req.ssl_ver`) makes the rules wait; when the delay ends,
// the client stops sending or the buffer is full, they run a last time on what is there. Then
// `use_backend` picks the backend with the same bytes (`req.ssl_sni` routing).

import HAProxyConfig
import Logging
import NIOCore
import Samples

/// Set when a fetch of the request buffer returned a value that more bytes could change.
final class PayloadProbe {
    var mayChange = false
}

/// A `mode tcp` source: the request buffer's bytes, then the counters and the connection's facts.
struct TCPPayloadSource: SampleSource {
    let counters: StickRuleRunner.Source?
    let base: LogRecord
    let data: [UInt8]
    let probe: PayloadProbe?
    var variables: VariableStore? = nil

    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        if PayloadFetches.responseBufferFetches.contains(name) { return nil }
        if let (value, mayChange) = PayloadFetches.bufferValue(name, args, data) {
            if mayChange { probe?.mayChange = true }
            return value
        }
        if let counters { return counters.fetch(name, args) }
        return LogSampleSource.fetch(name, args, from: base, tls: false)
    }
}

/// The held bytes of a connection under inspection.
struct TCPInspection {
    enum Outcome { case accept, reject, wait }

    private(set) var data: [UInt8] = []
    let limit: Int

    init(limit: Int) { self.limit = limit }

    var isFull: Bool { data.count >= limit }

    mutating func append(_ buffer: ByteBuffer) {
        guard data.count < limit else { return }
        data += buffer.readableBytesView.prefix(limit - data.count)
    }

    /// The content rules, from the first (haproxy starts over on each pass).
    func run(_ rules: [CompiledTCPRule], stream: StickStream?, tables: StickTables, base: LogRecord,
             variables: VariableStore?, final: Bool) -> Outcome {
        for rule in rules {
            let probe = PayloadProbe()
            let source = source(stream: stream, tables: tables, base: base, variables: variables, probe: probe)
            if let c = rule.condition, !c.holds(source) {
                if probe.mayChange && !final { return .wait }
                continue
            }
            switch rule.action {
            case .accept: return .accept
            case .reject: return .reject
            case .counter(let a): stream?.perform(a, source: source)
            case .variable(let v): v.apply(variables, base: base, source: source)
            }
        }
        return .accept
    }

    func source(stream: StickStream?, tables: StickTables, base: LogRecord, variables: VariableStore?,
                probe: PayloadProbe? = nil) -> TCPPayloadSource {
        TCPPayloadSource(counters: stream.map { StickRuleRunner.Source(base: base, slots: $0.slots, tables: tables,
                                                                       variables: variables) },
                         base: base, data: data, probe: probe, variables: variables)
    }

    /// The frontend's `use_backend` choice on this source, nil for the default backend.
    static func chooseBackend(_ frontend: FrontendRuntime, _ source: some SampleSource) -> BackendRuntime? {
        for s in frontend.switches where s.condition?.holds(source) ?? true { return s.resolve(source) }
        return nil
    }
}

// `tcp-response inspect-delay T` with `tcp-response content` rules (backends of `mode tcp`): the
// server's first bytes are held from the moment the connection is established and the rules run
// then and again, from the first rule, on each arrival, as in haproxy 2.6 (actions before a rule
// that waits run each pass): `accept` (or no rule left) forwards what is held and stops
// the inspection; `reject` aborts both sides (termination `PD`); `close` forwards what is held
// and closes the server connection at once. A rule whose condition reads bytes that may still
// change (`res.len`, `res.payload` short of its length) waits; when the delay ends, the server
// closes its side or the buffer is full, the rules run a last time on what is there. Without
// inspect-delay they run once, on what has arrived when the connection is established.

/// A backend's `tcp-response` rules, compiled.
final class TCPResponseRules: Sendable {
    enum Action: @unchecked Sendable {
        case accept, reject, close, variable(CompiledVariableAction), counter(CompiledCounterAction)
    }
    struct Rule: @unchecked Sendable {
        let action: Action
        let condition: CompiledCondition?
    }
    let rules: [Rule]
    let delay: TimeAmount?
    let usesVariables: Bool

    init?(_ proxy: Proxy, tables: StickTables) {
        guard proxy.mode == .tcp, !proxy.tcpResponseRules.isEmpty else { return nil }
        let conditions = ConditionCompiler(proxy)
        rules = proxy.tcpResponseRules.compactMap { r in
            let action: Action
            switch r.action {
            case .accept: action = .accept
            case .reject: action = .reject
            case .close: action = .close
            case .variable(let v):
                guard let c = CompiledVariableAction(v) else { return nil }
                action = .variable(c)
            case .counter(let a):
                guard let c = CompiledCounterAction(a, proxy: proxy.name, tables: tables, http: false) else { return nil }
                action = .counter(c)
            }
            return Rule(action: action, condition: conditions.compile(r.condition))
        }
        delay = proxy.tcpResponseInspectDelay.flatMap { $0 > .zero ? $0.timeAmount : nil }
        usesVariables = proxy.tcpResponseRules.contains { if case .variable = $0.action { true } else { false } }
    }
}

/// A `tcp-response` rule source: the response buffer's bytes for `res.len`/`res.payload*`, the
/// variables, and the connection's facts (the request buffer is not readable here).
struct TCPResponseSource: SampleSource {
    let base: LogRecord
    let data: [UInt8]
    let probe: PayloadProbe?
    let variables: VariableStore?
    /// The stream's stick counters (`sc0_get_gpc0`, ...), when the frontend tracks some.
    let counters: StickRuleRunner.Source?

    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        if PayloadFetches.responseBufferFetches.contains(name) {
            guard let (value, mayChange) = PayloadFetches.bufferValue(name, args, data) else { return nil }
            if mayChange { probe?.mayChange = true }
            return value
        }
        if PayloadFetches.bufferFetches.contains(name) { return nil }
        if let counters { return counters.fetch(name, args) }
        return LogSampleSource.fetch(name, args, from: base, tls: false)
    }
}

/// The held server bytes of a connection under response inspection.
struct TCPResponseInspection {
    enum Outcome { case accept, reject, close, wait }

    private(set) var data: [UInt8] = []
    private(set) var held: [ByteBuffer] = []
    let limit: Int

    init(limit: Int) { self.limit = limit }

    var isFull: Bool { data.count >= limit }

    mutating func append(_ buffer: ByteBuffer) {
        held.append(buffer)
        guard data.count < limit else { return }
        data += buffer.readableBytesView.prefix(limit - data.count)
    }

    /// The rules, from the first (haproxy starts over on each pass).
    func run(_ rules: TCPResponseRules, base: LogRecord, variables: VariableStore?, stream: StickStream?,
             final: Bool) -> Outcome {
        for rule in rules.rules {
            let probe = PayloadProbe()
            let counters = stream.map { StickRuleRunner.Source(base: base, slots: $0.slots, tables: $0.config.tables, variables: variables) }
            let source = TCPResponseSource(base: base, data: data, probe: probe, variables: variables, counters: counters)
            if let c = rule.condition, !c.holds(source) {
                if probe.mayChange && !final { return .wait }
                continue
            }
            switch rule.action {
            case .accept: return .accept
            case .reject: return .reject
            case .close: return .close
            case .variable(let v): v.apply(variables, base: base, source: source)
            case .counter(let a): stream?.perform(a, source: source)
            }
        }
        return .accept
    }
}
