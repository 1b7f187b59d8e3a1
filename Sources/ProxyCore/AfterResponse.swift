// `http-after-response` rules: run on every response, the server's (after the `http-response`
// rules) and the proxy's own (return, deny, redirect, auth, tarpit, errors such as 503), the
// backend's rules first, then the frontend's; `allow` ends one section's rules only (measured
// on haproxy 2.6). Request fetches (path, hdr) have no value there (haproxy's request is gone).

import HTTP1
import Logging
import NIOCore
import Samples

/// No request facts: `http-after-response` rules see none.
struct NoRequestSource: SampleSource {
    func fetch(_ name: String, _ args: [String]) -> SampleValue? { nil }
}

extension RuleEngine {
    static func hasAfterResponse(_ frontend: FrontendRuntime, _ backend: BackendRuntime?) -> Bool {
        !frontend.rules.afterResponse.isEmpty || !(backend?.rules.afterResponse.isEmpty ?? true)
    }

    /// The backend's `http-after-response` rules, then the frontend's (a `listen` runs its own once).
    static func afterRespond<V: ResponseView>(_ frontend: FrontendRuntime, _ backend: BackendRuntime?, _ view: inout V) {
        if let backend, !isOwnListen(frontend, backend), !backend.rules.afterResponse.isEmpty {
            _ = runResponse(backend.rules.afterResponse, on: &view, errors: backend.errors, request: NoRequestSource())
        }
        if !frontend.rules.afterResponse.isEmpty {
            _ = runResponse(frontend.rules.afterResponse, on: &view, errors: frontend.errors, request: NoRequestSource())
        }
    }

    /// A whole reply of the proxy's own (an HTTP/1 message) after the `http-after-response` rules:
    /// the message to send and its status (unchanged when the rules change nothing), and the
    /// log level a `set-log-level` rule chose.
    static func afterRespond(reply: ByteBuffer, status: Int, _ frontend: FrontendRuntime, _ backend: BackendRuntime?,
                             base: LogRecord, variables: VariableStore?, stick: StickStream?,
                             captures: CaptureStore?) -> (ByteBuffer, Int, LogLevelChoice?) {
        var head = MessageHead()
        let parsed = reply.withUnsafeReadableBytes { raw -> Bool in
            guard let outcome = try? HTTP1Parser.parseResponse(raw, into: &head, limits: ParseLimits(maxHeadSize: raw.count + 1)) else { return false }
            return outcome == .complete
        }
        guard parsed, let headBytes = reply.getSlice(at: reply.readerIndex, length: head.length) else { return (reply, status, nil) }
        var view = H1ResponseView(head: headBytes, response: head, base: base)
        view.variables = variables
        view.stick = stick
        view.captures = captures
        afterRespond(frontend, backend, &view)
        guard !view.edits.isEmpty || view.status != nil else { return (reply, status, view.edits.overrides.logLevel) }
        var out = ByteBuffer()
        out.reserveCapacity(reply.readableBytes + 64)
        let code = view.status?.code ?? status
        if let s = view.status {
            out.writeString("HTTP/1.\(head.minorVersion) \(s.code) \(s.reason)\r\n")
        } else {
            let lineEnd = headBytes.withUnsafeReadableBytes { raw in raw.firstIndex(of: 10).map { $0 + 1 } ?? 0 }
            out.writeImmutableBuffer(headBytes.getSlice(at: headBytes.readerIndex, length: lineEnd)!)
        }
        for field in head.headers {
            let deleted = headBytes.withUnsafeReadableBytes { raw in
                view.edits.deleted.contains { equalsLowercaseASCII(raw, Int(field.nameStart), Int(field.nameEnd), $0) }
            }
            if deleted { continue }
            out.writeImmutableBuffer(headBytes.getSlice(at: headBytes.readerIndex + Int(field.lineStart),
                                                        length: Int(field.lineEnd - field.lineStart))!)
        }
        for (name, value) in view.edits.added { out.writeString("\(name): \(value)\r\n") }
        out.writeString("\r\n")
        if let body = reply.getSlice(at: reply.readerIndex + head.length, length: reply.readableBytes - head.length) {
            out.writeImmutableBuffer(body)
        }
        return (out, code, view.edits.overrides.logLevel)
    }
}
