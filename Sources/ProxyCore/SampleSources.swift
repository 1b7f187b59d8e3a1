import Foundation
import Logging
import Samples

/// The fetches a log line can use (haproxy 2.6 refuses header fetches in a log-format: the request
/// is gone when the line is built): addresses, names, method and status, from the log record.
/// Rules (a later issue) bring the fetches that read messages.
struct LogSampleSource: SampleSource {
    let record: LogRecord
    let tls: Bool
    /// The session's variables, for `%[var(...)]`.
    var variables: VariableStore? = nil

    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        Self.fetch(name, args, from: record, tls: tls)
    }

    func fetch(_ id: FetchID, _ name: String, _ args: [String]) -> SampleValue? {
        if let v = Self.fact(id, from: record) { return v }
        return fetch(name, args)
    }

    /// A connection fact by the id its fetch got at parse time (`.none`: not one): no dispatch
    /// on the fetch's name.
    static func fact(_ id: FetchID, from r: LogRecord) -> SampleValue?? {
        switch id {
        case .other: return .none
        case .src: return .some(r.clientIP == "-" ? nil : .string(r.clientIP))
        case .srcPort: return .some(.int(Int64(r.clientPort)))
        case .dst: return .some(r.frontendIP == "-" ? nil : .string(r.frontendIP))
        case .dstPort: return .some(.int(Int64(r.frontendPort)))
        case .feName: return .some(.string(r.frontendName))
        }
    }

    /// The value of a fetch from a record's facts (the record is borrowed, not copied).
    static func fetch(_ name: String, _ args: [String], from r: LogRecord, tls: Bool) -> SampleValue? {
        if let v = fact(FetchID(name), from: r) { return v }
        switch name {
        case "be_name": return .string(r.backendName)
        case "srv_name": return r.serverName == "<NOSRV>" ? nil : .string(r.serverName)
        case "srv_id": return r.serverName == "<NOSRV>" ? nil : ProxyDirectory.shared.serverID(backend: r.backendName, server: r.serverName)
        case "method": return r.requestLine?.split(separator: " ", maxSplits: 1).first.map { .string(String($0)) }
        case "status": return r.status < 0 ? nil : .int(Int64(r.status))
        case "unique-id": return r.uniqueID.map(SampleValue.string)
        case "env": return ProcessInfo.processInfo.environment[args[0]].map(SampleValue.string)
        case "ssl_fc": return .bool(tls)
        case "ssl_fc_sni": return r.sni.map(SampleValue.string)
        case "capture.req.hdr", "capture.res.hdr":
            let slots = name == "capture.req.hdr" ? r.capturedRequestHeaders : r.capturedResponseHeaders
            guard let n = args.first.flatMap({ Int($0) }), n >= 0, n < slots.count, let v = slots[n] else { return nil }
            return .string(v)
        default: return ProxyDirectory.shared.fetch(name, args, frontend: r.frontendName, backend: r.backendName)
        }
    }

    /// Fills `record.samples` for the expressions of a log format.
    static func fill(_ record: inout LogRecord, _ expressions: [(String, SampleExpression)], tls: Bool = false,
                     variables: VariableStore? = nil) {
        guard !expressions.isEmpty else { return }
        let source = LogSampleSource(record: record, tls: tls, variables: variables)
        for (text, expr) in expressions {
            if let v = expr.evaluate(source) { record.samples[text] = v.text }
        }
    }
}
