// Capture slots of an exchange: `capture request|response header` values, and what
// `http-request capture` / `http-response capture` rules store (slots from `declare capture` or
// `capture ... len N`), truncated to the slot's length; logged in %hr/%hs and capture.*.hdr(N).
// Also `capture cookie NAME len N` (%CC, %CS).

import HAProxyConfig
import Logging
import Samples

/// What capture rules stored in this exchange, by slot (nil: nothing stored).
final class CaptureStore {
    private(set) var request: [String?]
    private(set) var response: [String?]
    private let requestLengths: [Int]
    private let responseLengths: [Int]

    init(_ logger: ProxyLogger) {
        requestLengths = logger.requestCaptures.map(\.length)
        responseLengths = logger.responseCaptures.map(\.length)
        request = Array(repeating: nil, count: requestLengths.count)
        response = Array(repeating: nil, count: responseLengths.count)
    }

    /// A slot the frontend does not have is ignored (haproxy: a backend rule naming a missing id).
    func store(_ value: String, slot: Int, response isResponse: Bool) {
        if isResponse {
            guard slot < response.count else { return }
            response[slot] = String(value.prefix(responseLengths[slot]))
        } else {
            guard slot < request.count else { return }
            request[slot] = String(value.prefix(requestLengths[slot]))
        }
    }

    /// The stored values over the header captures.
    func merge(into x: inout ExchangeLog) {
        func over(_ values: inout [String?], _ stored: [String?]) {
            if values.count < stored.count { values += Array(repeating: nil, count: stored.count - values.count) }
            for (i, v) in stored.enumerated() where v != nil { values[i] = v }
        }
        over(&x.requestCaptures, request)
        over(&x.responseCaptures, response)
    }
}

extension MessageView {
    var captures: CaptureStore? { nil }
}

extension RuleEngine {
    /// `http-request capture` / `http-response capture`.
    static func capture<V: MessageView>(_ action: CompiledRequestRule.Action, _ view: V, response: Bool) {
        guard case let .capture(expr, slot) = action, let store = view.captures, let v = expr.evaluate(view) else { return }
        store.store(v.text, slot: slot, response: response)
    }
}

/// `capture cookie NAME len N`: the first cookie whose name starts with NAME, as `name=value`
/// (up to the next `;`), at most N characters; from the request's Cookie lines or the
/// response's Set-Cookie lines.
func capturedCookie(_ capture: HeaderCapture, lines: [String], response: Bool) -> String? {
    for line in lines {
        let parts = response ? [Substring(line).prefix { $0 != ";" }] : line.split(separator: ";")
        for part in parts {
            let p = part.drop { $0 == " " || $0 == "\t" }
            if p.hasPrefix(capture.name), p.contains("=") {
                return String(p.prefix(capture.length))
            }
        }
    }
    return nil
}
