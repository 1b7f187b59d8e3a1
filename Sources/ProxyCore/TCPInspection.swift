// `tcp-request inspect-delay T` with `tcp-request content` rules in `mode tcp`: the client's
// first bytes are held (up to one buffer) and the content rules run again on each arrival, as
// haproxy 2.6 does: a rule whose condition does not hold on bytes that may still change
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

    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        if let (value, mayChange) = PayloadFetches.bufferValue(name, args, data) {
            if mayChange { probe?.mayChange = true }
            return value
        }
        if let counters { return counters.fetch(name, args) }
        return LogSampleSource(record: base, tls: false).fetch(name, args)
    }
}

/// The held bytes of a connection under inspection and the next content rule to run.
struct TCPInspection {
    enum Outcome { case accept, reject, wait }

    private(set) var data: [UInt8] = []
    private var nextRule = 0
    let limit: Int

    init(limit: Int) { self.limit = limit }

    var isFull: Bool { data.count >= limit }

    mutating func append(_ buffer: ByteBuffer) {
        guard data.count < limit else { return }
        data += buffer.readableBytesView.prefix(limit - data.count)
    }

    /// The content rules from where they stopped (a counter action runs once).
    mutating func run(_ rules: [CompiledTCPRule], stream: StickStream?, tables: StickTables, base: LogRecord,
                      final: Bool) -> Outcome {
        while nextRule < rules.count {
            let rule = rules[nextRule]
            let probe = PayloadProbe()
            let source = source(stream: stream, tables: tables, base: base, probe: probe)
            if let c = rule.condition, !c.holds(source) {
                if probe.mayChange && !final { return .wait }
                nextRule += 1
                continue
            }
            nextRule += 1
            switch rule.action {
            case .accept: return .accept
            case .reject: return .reject
            case .counter(let a): stream?.perform(a, source: source)
            }
        }
        return .accept
    }

    func source(stream: StickStream?, tables: StickTables, base: LogRecord, probe: PayloadProbe? = nil) -> TCPPayloadSource {
        TCPPayloadSource(counters: stream.map { StickRuleRunner.Source(base: base, slots: $0.slots, tables: tables) },
                         base: base, data: data, probe: probe)
    }

    /// The frontend's `use_backend` choice on this source, nil for the default backend.
    static func chooseBackend(_ frontend: FrontendRuntime, _ source: some SampleSource) -> BackendRuntime? {
        for s in frontend.switches where s.condition?.holds(source) ?? true { return s.resolve(source) }
        return nil
    }
}
