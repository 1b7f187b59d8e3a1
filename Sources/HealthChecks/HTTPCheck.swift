// `option httpchk` / `http-check send|expect`: the request HAProxy 2.6 sends and how it judges
// the response (status line, reason, body), with HAProxy's outcome texts.

import HAProxyConfig

public enum HTTPCheckEvaluation {
    /// The check request as haproxy 2.6 writes it: `METHOD URI VERSION`, the `http-check send hdr`
    /// headers with lower-case names, `content-length` when there is a body, `connection: close`
    /// for HTTP/1.1, then the body. (`host` is the server's address, unused: HAProxy adds no Host.)
    public static func request(_ settings: HTTPCheckSettings, host: String?) -> [UInt8] {
        var s = "\(settings.method) \(settings.uri) \(settings.version)\r\n"
        for h in settings.headers { s += h.name.lowercased() + ": " + h.value + "\r\n" }
        let body = settings.body ?? ""
        if !body.isEmpty { s += "content-length: \(body.utf8.count)\r\n" }
        if settings.version.uppercased() == "HTTP/1.1" { s += "connection: close\r\n" }
        s += "\r\n" + body
        return Array(s.utf8)
    }

    /// Whether the response body must be read before judging (a string/rstring expect).
    public static func needsBody(_ expects: [HTTPCheckExpect]) -> Bool {
        expects.contains { $0.kind == .string || $0.kind == .rstring }
    }

    /// Judges a complete response. Without `http-check expect`, a 2xx or 3xx status passes.
    public static func evaluate(status: Int, reason: String, body: [UInt8], expects: [HTTPCheckExpect]) -> CheckOutcome {
        let passed = CheckOutcome(passed: true, status: .l7ok, info: nil, code: status, durationMilliseconds: 0)
        let wrongStatus = CheckOutcome(passed: false, status: .l7sts, info: reason, code: status, durationMilliseconds: 0)
        guard !expects.isEmpty else {
            return (200..<400).contains(status) ? passed : wrongStatus
        }
        for expect in expects {
            switch expect.kind {
            case .status, .rstatus:
                let matched = expect.kind == .status
                    ? statusMatches(status, pattern: expect.pattern)
                    : regexMatches(String(status), pattern: expect.pattern)
                if matched == expect.negate { return wrongStatus }
            case .string, .rstring:
                let text = String(decoding: body, as: UTF8.self)
                let matched = expect.kind == .string
                    ? (expect.pattern.isEmpty || text.contains(expect.pattern))
                    : regexMatches(text, pattern: expect.pattern)
                if matched == expect.negate {
                    let info = expect.negate ? "HTTP check matched unwanted content" : "HTTP content check did not match"
                    return CheckOutcome(passed: false, status: .l7rsp, info: info, code: status, durationMilliseconds: 0)
                }
            }
        }
        return passed
    }

    /// `status` patterns: a code, a range `200-399`, or a comma-separated list of both.
    public static func statusMatches(_ status: Int, pattern: String) -> Bool {
        for part in pattern.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1)
            if bounds.count == 2, let lo = Int(bounds[0]), let hi = Int(bounds[1]) {
                if (lo...max(lo, hi)).contains(status) { return true }
            } else if let code = Int(part), code == status {
                return true
            }
        }
        return false
    }

    static func regexMatches(_ text: String, pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.firstMatch(in: text)) != nil
    }
}
