// `option http-buffer-request` and `http-request wait-for-body time T [at-least N]`: the request
// body is held (up to what one buffer takes) before the rules run, so `req.body`, `req.body_len`,
// `req.body_size` and `req.body_param()` see it. Measured on haproxy 2.6:
//  - the wait ends when the whole body is there, when `at-least` bytes are, or when the buffer
//    is full; the body beyond it is forwarded afterwards;
//  - the buffer holds tune.bufsize - tune.maxrewrite less the request head as HTX stores it
//    (70 bytes, the start line's three parts, 8 + name + value per header, 8 more when chunked):
//    a 40000-byte body after a 4-header POST shows req.body_len 15211 with the default 16384;
//  - a body that does not come in time is answered 408 (after `timeout http-request`, else
//    `timeout client`, for the option; after the rule's time for wait-for-body);
//  - an HTTP/1.1 `Expect: 100-continue` is answered `100 Continue` by the proxy and the Expect
//    line is not forwarded;
//  - the option on a backend holds the body before that backend's rules only (the frontend's
//    rules run first): Fulcrum holds it before all rules when any backend the frontend can
//    choose has it (the frontend's rules then see the body too).

import HAProxyConfig
import HTTP1
import NIOCore
import NIOHPACK
import Samples

/// A request body as the rules see it: what fits in the buffer, decoded (chunks joined).
struct BufferedBody {
    var bytes: [UInt8]
    /// `req.body_size`: the announced Content-Length, or what arrived of a chunked body.
    var size: Int64
}

/// A frontend's body-wait settings, nil when no rule or option asks for it.
struct BodyWaitPolicy {
    struct Rule {
        let condition: CompiledCondition?
        let time: TimeAmount
        let atLeast: Int
    }
    /// `option http-buffer-request` (frontend or a backend it can choose), and its wait.
    let option: Bool
    let optionTimeout: TimeAmount?
    /// The frontend's `http-request wait-for-body` rules (the first whose condition holds applies).
    let rules: [Rule]
    let bufferRoom: Int
    /// The frontend's own option or rules hold bodies (false: only a backend's option does; the
    /// wait is then that backend's, whose errorfile answers its 408 and whose name is logged).
    let frontendHolds: Bool

    init?(_ config: Proxy, backends: [BackendRuntime], global: GlobalSettings) {
        let reachable = backends.map(\.config)
        option = ([config] + reachable).contains { $0.options["http-buffer-request"] == true }
        let waits = config.httpRequestRules.filter { $0.action == .waitForBody }
        guard option || !waits.isEmpty else { return nil }
        let conditions = ConditionCompiler(config)
        rules = waits.map { Rule(condition: conditions.compile($0.condition), time: ($0.waitTime ?? .zero).timeAmount,
                                 atLeast: $0.waitAtLeast) }
        let t = reachable.first { $0.options["http-buffer-request"] == true }?.timeouts ?? config.timeouts
        optionTimeout = (config.timeouts.httpRequest ?? t.httpRequest ?? config.timeouts.client)?.timeAmount
        bufferRoom = global.bufsize - min(global.maxrewrite, global.bufsize / 2)
        frontendHolds = config.options["http-buffer-request"] == true || !waits.isEmpty
    }

    /// haproxy's 408 when the wait ends: its HTTP layer's message (lowercase names), closing.
    static let timeoutReply: ByteBuffer = {
        let (reason, text) = ErrorResponses.texts[408]!
        let body = "<html><body><h1>408 \(reason)</h1>\n\(text)\n</body></html>\n"
        let bytes = Array(("HTTP/1.1 408 \(reason)\r\ncontent-length: \(body.utf8.count)\r\ncache-control: no-cache\r\n"
                       + "content-type: text/html\r\nconnection: close\r\n\r\n" + body).utf8)
        return ByteBuffer(bytes: bytes)
    }()

    /// How long to hold this request and how many bytes end the wait early (0: the whole body),
    /// nil when it goes on at once.
    func wait(for view: some SampleSource) -> (time: TimeAmount?, atLeast: Int)? {
        for r in rules where r.condition?.holds(view) ?? true { return (r.time, r.atLeast) }
        return option ? (optionTimeout, 0) : nil
    }

    /// What of the body the buffer can hold after this head (haproxy's HTX accounting).
    func room(head: ByteBuffer, request: MessageHead) -> Int {
        let used = HeadRewriteLimit.requestSize(head, request, HeaderEdits()) + (request.chunked ? 8 : 0)
        return max(0, bufferRoom - used)
    }

    /// The same for an HTTP/2 request (measured on haproxy 2.6: the :authority counts twice, as
    /// the URI's and the Host line's, the :scheme not at all, 120 bytes besides).
    func room(h2 headers: HPACKHeaders) -> Int {
        var used = 120
        for (name, value, _) in headers {
            switch name {
            case ":method", ":path": used += value.utf8.count
            case ":authority": used += 2 * value.utf8.count
            case ":scheme", ":protocol": break
            default: used += 8 + name.utf8.count + value.utf8.count
            }
        }
        return max(0, bufferRoom - used)
    }

    /// The body that arrived after the head (`rest`), cut at `room`, and whether it is all there.
    static func body(_ rest: ByteBuffer?, request: MessageHead, room: Int) -> (BufferedBody, complete: Bool) {
        if request.chunked {
            let (data, done) = decodeChunks(rest.map { Array($0.readableBytesView) } ?? [], limit: room)
            return (BufferedBody(bytes: data, size: Int64(data.count)), done)
        }
        let count = rest?.readableBytes ?? 0
        let length = request.contentLength ?? 0
        let n = Int(min(Int64(count), length, Int64(room)))
        return (BufferedBody(bytes: rest.map { Array($0.readableBytesView.prefix(n)) } ?? [], size: length), Int64(count) >= length)
    }

    /// Chunked data joined, up to `limit` bytes; `done` once the last chunk (and trailers) came.
    /// A malformed chunk ends the wait (the forwarding answers it).
    static func decodeChunks(_ b: [UInt8], limit: Int) -> ([UInt8], done: Bool) {
        var out: [UInt8] = []
        var i = 0
        func lineEnd(_ from: Int) -> Int? {
            var j = from
            while j + 1 < b.count { if b[j] == 13 && b[j + 1] == 10 { return j }; j += 1 }
            return nil
        }
        while true {
            guard let le = lineEnd(i) else { return (out, false) }
            var size = 0
            var digits = 0
            for c in b[i..<le] {
                guard let v = hexValue(c) else { break }
                size = size &* 16 &+ v
                digits += 1
            }
            guard digits > 0, size >= 0 else { return (out, true) }
            i = le + 2
            if size == 0 {
                // Trailers up to the empty line.
                while let e = lineEnd(i) {
                    if e == i { return (out, true) }
                    i = e + 2
                }
                return (out, false)
            }
            let available = min(size, b.count - i)
            out.append(contentsOf: b[i..<(i + min(available, max(0, limit - out.count)))])
            if out.count >= limit { return (out, false) }
            guard available == size, i + size + 2 <= b.count else { return (out, false) }
            i += size + 2
        }
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: Int(c - 48)
        case 65...70: Int(c - 55)
        case 97...102: Int(c - 87)
        default: nil
        }
    }
}

extension BufferedBody {
    /// An HTTP/2 DATA frame's bytes, as far as `room` allows.
    mutating func take(_ data: IOData, room: Int) {
        guard case .byteBuffer(let b) = data, bytes.count < room else { return }
        bytes += b.readableBytesView.prefix(room - bytes.count)
    }
}

/// The per-request state of a body wait.
struct BodyWaitState {
    var deadline: NIODeadline?
    var atLeast: Int
    var room: Int
    var continueSent = false
}

extension RequestView {
    var body: BufferedBody? { nil }

    /// `req.body`, `req.body_len`, `req.body_size`, `req.body_param([name])`.
    func bodyValues(_ name: String, _ args: [String], all: Bool) -> [SampleValue] {
        let b = body
        switch name {
        case "req.body": return [.string(String(decoding: b?.bytes ?? [], as: UTF8.self))]
        case "req.body_len": return [.int(Int64(b?.bytes.count ?? 0))]
        case "req.body_size": return [.int(b?.size ?? 0)]
        default:
            let values = PayloadFetches.bodyParams(b?.bytes ?? [], name: args.first).map(SampleValue.string)
            return all ? values : Array(values.prefix(1))
        }
    }
}

extension HeaderEdits {
    /// The proxy answered `100 Continue` itself: the server must not see the Expect line.
    mutating func dropExpect() {
        apply(.del, name: "Expect", lowercasedName: "expect", value: nil)
    }
}
