// HTTP/1.x message-head parsing over raw bytes, with HAProxy's acceptance rules.
//
// The parser never copies: it records offsets into the caller's bytes, so the proxy can forward
// the original head unchanged (or with a few header lines left out / added) instead of
// re-encoding it. Header storage is reused from one message to the next.

/// One header line: offsets relative to the start of the head.
public struct HeaderField: Sendable, Hashable {
    public var nameStart: Int32
    public var nameEnd: Int32
    public var valueStart: Int32
    public var valueEnd: Int32
    /// The whole line including its line ending, for leaving it out when forwarding.
    public var lineStart: Int32
    public var lineEnd: Int32
}

public enum HTTPMethod: Sendable, Hashable {
    case get, head, post, put, delete, options, connect, trace, patch, other
}

/// Why a message was refused; the proxy answers `status` as HAProxy does.
public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var reason: String
    /// Offset of the offending byte, when known.
    public var offset: Int
    public init(status: Int, reason: String, offset: Int) {
        self.status = status
        self.reason = reason
        self.offset = offset
    }
    public var description: String { "\(status) \(reason) at byte \(offset)" }
}

public struct ParseLimits: Sendable, Hashable {
    /// Largest head accepted (HAProxy: tune.bufsize - tune.maxrewrite).
    public var maxHeadSize: Int
    /// tune.http.maxhdr
    public var maxHeaders: Int
    /// `option accept-invalid-http-request/response`: relaxes character checks.
    public var acceptInvalid: Bool
    public init(maxHeadSize: Int = 16384 - 1024, maxHeaders: Int = 101, acceptInvalid: Bool = false) {
        self.maxHeadSize = maxHeadSize
        self.maxHeaders = maxHeaders
        self.acceptInvalid = acceptInvalid
    }
}

/// How the body of a message is delimited.
public enum BodyFraming: Sendable, Hashable {
    case none
    case contentLength(Int64)
    case chunked
    /// Response body ending when the server closes.
    case untilClose
}

/// What a parsed head says about the connection (`Connection:` tokens and version defaults).
public struct ConnectionTokens: Sendable, Hashable {
    public var close = false
    public var keepAlive = false
    public var upgrade = false
    public init() {}
}

/// A parsed request or response head. Reuse one value per connection: `headers` keeps its capacity.
public struct MessageHead: Sendable {
    /// Bytes from the start of the message to the end of the empty line.
    public var length: Int = 0
    /// Request: method; response: unused.
    public var method: HTTPMethod = .other
    public var methodEnd: Int = 0
    public var targetStart: Int = 0
    public var targetEnd: Int = 0
    /// Response status code.
    public var status: Int = 0
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int = 1
    public var headers: [HeaderField] = []
    public var contentLength: Int64?
    /// Number of Content-Length header lines (they are all left out when Transfer-Encoding wins).
    public var contentLengthLines: Int = 0
    public var chunked = false
    public var hasTransferEncoding = false
    public var connection = ConnectionTokens()
    public var hasUpgradeHeader = false
    public var expectContinue = false
    /// Offset where the header lines end (start of the final empty line).
    public var headersEnd: Int = 0
    /// Length of the final empty line (2 for CRLF, 1 for LF).
    public var finalLineLength: Int = 2

    public init() {
        headers.reserveCapacity(32)
    }

    mutating func reset() {
        length = 0
        method = .other
        methodEnd = 0
        targetStart = 0
        targetEnd = 0
        status = 0
        minorVersion = 1
        headers.removeAll(keepingCapacity: true)
        contentLength = nil
        contentLengthLines = 0
        chunked = false
        hasTransferEncoding = false
        connection = ConnectionTokens()
        hasUpgradeHeader = false
        expectContinue = false
        headersEnd = 0
        finalLineLength = 2
    }
}

public enum ParseOutcome: Sendable, Hashable {
    /// More bytes are needed.
    case incomplete
    /// The head is `head.length` bytes long.
    case complete
}

/// tchar from RFC 9110 (token characters).
@usableFromInline
let tokenTable: [Bool] = {
    var t = [Bool](repeating: false, count: 256)
    for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
    for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
    for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
    for c in "!#$%&'*+-.^_`|~".utf8 { t[Int(c)] = true }
    return t
}()

@inline(__always) func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }

/// Case-insensitive comparison of bytes with a lowercase ASCII literal.
@inline(__always)
func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
    let n = literal.utf8CodeUnitCount
    guard end - start == n else { return false }
    let p = literal.utf8Start
    for i in 0..<n where lower(bytes[start + i]) != p[i] { return false }
    return true
}

public enum HTTP1Parser {
    /// Parses a request head at the start of `bytes`.
    public static func parseRequest(_ bytes: UnsafeRawBufferPointer, into head: inout MessageHead,
                                    limits: ParseLimits) throws(ParseError) -> ParseOutcome {
        head.reset()
        let n = bytes.count
        var i = 0
        // HAProxy skips empty lines before a request (RFC 9112 §2.2 robustness).
        while i < n, bytes[i] == 13 || bytes[i] == 10 { i += 1 }
        if i == n { return try checkSize(n, limits) }
        let lineStart = i
        // Method: a token.
        while i < n, tokenTable[Int(bytes[i])] { i += 1 }
        if i == n { return try checkSize(n, limits) }
        if i == lineStart || bytes[i] != 32 {
            throw ParseError(status: 400, reason: "invalid character in method", offset: i)
        }
        head.methodEnd = i
        head.method = methodOf(bytes, lineStart, i)
        i += 1
        // Request target: visible ASCII.
        head.targetStart = i
        while i < n {
            let c = bytes[i]
            if c == 32 || c == 13 || c == 10 { break }
            if c < 33 || c == 127 || (c >= 128 && !limits.acceptInvalid) {
                throw ParseError(status: 400, reason: "invalid character in URI", offset: i)
            }
            i += 1
        }
        if i == n { return try checkSize(n, limits) }
        head.targetEnd = i
        if head.targetEnd == head.targetStart || bytes[i] != 32 {
            // HTTP/0.9 style request lines (no version) are refused, as HAProxy does.
            throw ParseError(status: 400, reason: "missing HTTP version", offset: i)
        }
        i += 1
        // Version.
        if n - i < 8 { return try checkSize(n, limits) }
        guard bytes[i] == 72, bytes[i + 1] == 84, bytes[i + 2] == 84, bytes[i + 3] == 80, bytes[i + 4] == 47,
              bytes[i + 5] >= 48, bytes[i + 5] <= 57, bytes[i + 6] == 46, bytes[i + 7] >= 48, bytes[i + 7] <= 57
        else { throw ParseError(status: 400, reason: "invalid HTTP version", offset: i) }
        let major = Int(bytes[i + 5] - 48), minor = Int(bytes[i + 7] - 48)
        guard major == 1 else { throw ParseError(status: 400, reason: "unsupported HTTP version", offset: i) }
        head.minorVersion = minor == 0 ? 0 : 1
        i += 8
        guard let afterLine = lineEnd(bytes, i) else { return try checkSize(n, limits) }
        if afterLine.contentEnd != i {
            throw ParseError(status: 400, reason: "invalid request line", offset: i)
        }
        i = afterLine.next
        let outcome = try parseHeaderLines(bytes, from: i, into: &head, limits: limits, isRequest: true)
        if outcome == .complete { try finishRequest(bytes, &head) }
        return outcome
    }

    /// Parses a response head at the start of `bytes`.
    public static func parseResponse(_ bytes: UnsafeRawBufferPointer, into head: inout MessageHead,
                                     limits: ParseLimits) throws(ParseError) -> ParseOutcome {
        head.reset()
        let n = bytes.count
        var i = 0
        if n < 12 {
            // Check what we have so far is a plausible status line.
            let prefix: StaticString = "HTTP/1."
            let p = prefix.utf8Start
            for k in 0..<min(n, 7) where bytes[k] != p[k] {
                throw ParseError(status: 502, reason: "invalid status line", offset: k)
            }
            return .incomplete
        }
        guard bytes[0] == 72, bytes[1] == 84, bytes[2] == 84, bytes[3] == 80, bytes[4] == 47, bytes[5] == 49,
              bytes[6] == 46, bytes[7] >= 48, bytes[7] <= 57, bytes[8] == 32
        else { throw ParseError(status: 502, reason: "invalid status line", offset: 0) }
        head.minorVersion = bytes[7] == 48 ? 0 : 1
        i = 9
        var status = 0
        for k in 0..<3 {
            let c = bytes[i + k]
            guard c >= 48, c <= 57 else { throw ParseError(status: 502, reason: "invalid status code", offset: i + k) }
            status = status * 10 + Int(c - 48)
        }
        guard status >= 100 else { throw ParseError(status: 502, reason: "invalid status code", offset: i) }
        head.status = status
        i += 3
        guard let line = lineEnd(bytes, i) else { return try checkSize(n, limits) }
        if line.contentEnd > i, bytes[i] != 32 {
            throw ParseError(status: 502, reason: "invalid status line", offset: i)
        }
        i = line.next
        let outcome = try parseHeaderLines(bytes, from: i, into: &head, limits: limits, isRequest: false)
        if outcome == .complete { try finishResponse(&head) }
        return outcome
    }

    @inline(__always)
    static func checkSize(_ n: Int, _ limits: ParseLimits) throws(ParseError) -> ParseOutcome {
        if n >= limits.maxHeadSize { throw ParseError(status: 400, reason: "header block too large", offset: n) }
        return .incomplete
    }

    /// Finds the end of the line starting at or after `from`: returns where its content ends
    /// (before CR LF or LF) and where the next line starts.
    @inline(__always)
    static func lineEnd(_ bytes: UnsafeRawBufferPointer, _ from: Int) -> (contentEnd: Int, next: Int)? {
        var i = from
        let n = bytes.count
        while i < n {
            if bytes[i] == 10 {
                let end = (i > from && bytes[i - 1] == 13) ? i - 1 : i
                return (end, i + 1)
            }
            i += 1
        }
        return nil
    }

    static func methodOf(_ b: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> HTTPMethod {
        switch e - s {
        case 3:
            if b[s] == 71, b[s + 1] == 69, b[s + 2] == 84 { return .get }
            if b[s] == 80, b[s + 1] == 85, b[s + 2] == 84 { return .put }
        case 4:
            if b[s] == 72, b[s + 1] == 69, b[s + 2] == 65, b[s + 3] == 68 { return .head }
            if b[s] == 80, b[s + 1] == 79, b[s + 2] == 83, b[s + 3] == 84 { return .post }
        case 5:
            if b[s] == 84, b[s + 1] == 82, b[s + 2] == 65, b[s + 3] == 67, b[s + 4] == 69 { return .trace }
            if b[s] == 80, b[s + 1] == 65, b[s + 2] == 84, b[s + 3] == 67, b[s + 4] == 72 { return .patch }
        case 6:
            if b[s] == 68, b[s + 1] == 69, b[s + 2] == 76 { return .delete }
        case 7:
            if b[s] == 79, b[s + 1] == 80, b[s + 2] == 84 { return .options }
            if b[s] == 67, b[s + 1] == 79, b[s + 2] == 78 { return .connect }
        default: break
        }
        return .other
    }

    static func parseHeaderLines(_ bytes: UnsafeRawBufferPointer, from start: Int, into head: inout MessageHead,
                                 limits: ParseLimits, isRequest: Bool) throws(ParseError) -> ParseOutcome {
        let n = bytes.count
        let failStatus = isRequest ? 400 : 502
        var i = start
        while true {
            if i >= n { return try checkSize(n, limits) }
            let c = bytes[i]
            // The empty line ends the head.
            if c == 10 || (c == 13 && i + 1 < n && bytes[i + 1] == 10) {
                head.headersEnd = i
                head.finalLineLength = c == 10 ? 1 : 2
                head.length = i + head.finalLineLength
                if head.length > limits.maxHeadSize {
                    throw ParseError(status: 400, reason: "header block too large", offset: i)
                }
                return .complete
            }
            if c == 13 { return try checkSize(n, limits) }  // CR at the end of what we have
            if c == 32 || c == 9 {
                // Obsolete line folding: refused.
                throw ParseError(status: failStatus, reason: "obsolete line folding", offset: i)
            }
            let lineStart = i
            while i < n, tokenTable[Int(bytes[i])] { i += 1 }
            if i == n { return try checkSize(n, limits) }
            let nameEnd = i
            if bytes[i] != 58 {  // ':'
                throw ParseError(status: failStatus, reason: "invalid character in header name", offset: i)
            }
            if nameEnd == lineStart {
                throw ParseError(status: failStatus, reason: "empty header name", offset: i)
            }
            i += 1
            while i < n, bytes[i] == 32 || bytes[i] == 9 { i += 1 }
            let valueStart = i
            var lastNonSpace = i
            while i < n {
                let v = bytes[i]
                if v == 10 || v == 13 { break }
                if v == 0 {
                    throw ParseError(status: failStatus, reason: "NUL character in header value", offset: i)
                }
                if v != 32 && v != 9 { lastNonSpace = i + 1 }
                i += 1
            }
            if i == n { return try checkSize(n, limits) }
            var next: Int
            if bytes[i] == 13 {
                if i + 1 >= n { return try checkSize(n, limits) }
                guard bytes[i + 1] == 10 else {
                    throw ParseError(status: failStatus, reason: "CR not followed by LF", offset: i)
                }
                next = i + 2
            } else {
                next = i + 1
            }
            if head.headers.count >= limits.maxHeaders {
                throw ParseError(status: failStatus, reason: "too many headers", offset: lineStart)
            }
            let field = HeaderField(nameStart: Int32(lineStart), nameEnd: Int32(nameEnd),
                                    valueStart: Int32(valueStart), valueEnd: Int32(max(valueStart, lastNonSpace)),
                                    lineStart: Int32(lineStart), lineEnd: Int32(next))
            head.headers.append(field)
            try interpret(bytes, field, &head, failStatus: failStatus)
            i = next
        }
    }

    /// Reads the headers that frame the message or drive the connection.
    @inline(__always)
    static func interpret(_ b: UnsafeRawBufferPointer, _ f: HeaderField, _ head: inout MessageHead,
                          failStatus: Int) throws(ParseError) {
        let ns = Int(f.nameStart), ne = Int(f.nameEnd)
        let len = ne - ns
        // Quick filter on length and first letter.
        let first = lower(b[ns])
        switch (len, first) {
        case (14, 99) where equalsLowercase(b, ns, ne, "content-length"):
            head.contentLengthLines += 1
            try parseContentLength(b, Int(f.valueStart), Int(f.valueEnd), &head, failStatus: failStatus)
        case (17, 116) where equalsLowercase(b, ns, ne, "transfer-encoding"):
            try parseTransferEncoding(b, Int(f.valueStart), Int(f.valueEnd), &head, failStatus: failStatus)
        case (10, 99) where equalsLowercase(b, ns, ne, "connection"):
            forEachToken(b, Int(f.valueStart), Int(f.valueEnd)) { s, e in
                if equalsLowercase(b, s, e, "close") { head.connection.close = true }
                else if equalsLowercase(b, s, e, "keep-alive") { head.connection.keepAlive = true }
                else if equalsLowercase(b, s, e, "upgrade") { head.connection.upgrade = true }
            }
        case (7, 117) where equalsLowercase(b, ns, ne, "upgrade"):
            head.hasUpgradeHeader = true
        case (6, 101) where equalsLowercase(b, ns, ne, "expect"):
            if equalsLowercase(b, Int(f.valueStart), Int(f.valueEnd), "100-continue") { head.expectContinue = true }
        default:
            break
        }
    }

    static func parseContentLength(_ b: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ head: inout MessageHead,
                                   failStatus: Int) throws(ParseError) {
        // A comma-separated list of identical values is accepted (RFC 9110 §8.6), anything else refused.
        var i = s
        var sawValue = false
        while i < e {
            while i < e, b[i] == 32 || b[i] == 9 { i += 1 }
            var value: Int64 = 0
            var digits = 0
            while i < e, b[i] >= 48, b[i] <= 57 {
                if digits >= 18 { throw ParseError(status: failStatus, reason: "Content-Length too large", offset: i) }
                value = value * 10 + Int64(b[i] - 48)
                digits += 1
                i += 1
            }
            if digits == 0 { throw ParseError(status: failStatus, reason: "invalid Content-Length", offset: i) }
            while i < e, b[i] == 32 || b[i] == 9 { i += 1 }
            if i < e {
                guard b[i] == 44 else { throw ParseError(status: failStatus, reason: "invalid Content-Length", offset: i) }
                i += 1
            }
            if let existing = head.contentLength, existing != value {
                throw ParseError(status: failStatus, reason: "conflicting Content-Length values", offset: s)
            }
            head.contentLength = value
            sawValue = true
        }
        if !sawValue { throw ParseError(status: failStatus, reason: "empty Content-Length", offset: s) }
    }

    static func parseTransferEncoding(_ b: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ head: inout MessageHead,
                                      failStatus: Int) throws(ParseError) {
        head.hasTransferEncoding = true
        var error: ParseError?
        forEachToken(b, s, e) { ts, te in
            if error != nil { return }
            if head.chunked {
                // Something after "chunked": the message cannot be framed.
                error = ParseError(status: failStatus, reason: "chunked is not the last transfer-coding", offset: ts)
                return
            }
            if equalsLowercase(b, ts, te, "chunked") { head.chunked = true }
        }
        if let error { throw error }
    }

    /// Calls `body` for each comma-separated token of a header value (trimmed, parameters left on).
    @inline(__always)
    static func forEachToken(_ b: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ body: (Int, Int) -> Void) {
        var i = s
        while i < e {
            while i < e, b[i] == 32 || b[i] == 9 || b[i] == 44 { i += 1 }
            let ts = i
            while i < e, b[i] != 44 { i += 1 }
            var te = i
            while te > ts, b[te - 1] == 32 || b[te - 1] == 9 { te -= 1 }
            if te > ts { body(ts, te) }
        }
    }

    static func finishRequest(_ b: UnsafeRawBufferPointer, _ head: inout MessageHead) throws(ParseError) {
        if head.hasTransferEncoding {
            // HTTP/1.0 does not know Transfer-Encoding, and a request body must end with chunked.
            if head.minorVersion == 0 {
                throw ParseError(status: 400, reason: "Transfer-Encoding in an HTTP/1.0 request", offset: 0)
            }
            if !head.chunked {
                throw ParseError(status: 400, reason: "Transfer-Encoding without chunked", offset: 0)
            }
            // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); the proxy drops Content-Length.
            head.contentLength = nil
        }
    }

    static func finishResponse(_ head: inout MessageHead) throws(ParseError) {
        if head.hasTransferEncoding {
            if head.chunked { head.contentLength = nil }
        }
    }

    /// The body framing of a request whose head was parsed.
    public static func requestFraming(_ head: MessageHead) -> BodyFraming {
        if head.chunked { return .chunked }
        if let cl = head.contentLength { return cl == 0 ? .none : .contentLength(cl) }
        return .none
    }

    /// The body framing of a response to a request with method `method`.
    public static func responseFraming(_ head: MessageHead, requestMethod: HTTPMethod) -> BodyFraming {
        if requestMethod == .head || head.status < 200 || head.status == 204 || head.status == 304 { return .none }
        if requestMethod == .connect && head.status < 300 { return .none }
        if head.chunked { return .chunked }
        if head.hasTransferEncoding { return .untilClose }
        if let cl = head.contentLength { return cl == 0 ? .none : .contentLength(cl) }
        return .untilClose
    }

    /// Whether the client side may stay open after this exchange, from the request alone.
    public static func requestWantsKeepAlive(_ head: MessageHead) -> Bool {
        if head.connection.close { return false }
        if head.minorVersion == 0 { return head.connection.keepAlive }
        return true
    }

    /// Whether the server keeps its connection open after this response.
    public static func responseAllowsReuse(_ head: MessageHead) -> Bool {
        if head.connection.close { return false }
        if head.minorVersion == 0 { return head.connection.keepAlive }
        return true
    }
}

/// Tracks the end of a chunked body while its bytes are forwarded unchanged.
public struct ChunkedTracker: Sendable {
    enum State: Sendable {
        case size, sizeExtension, sizeLF, data, dataCR, dataLF, trailerStart, trailerLine, trailerLF, finalLF, done
    }
    var state: State = .size
    var remaining: Int64 = 0
    var sizeDigits = 0
    var lastChunk = false
    /// Payload bytes seen so far (chunk framing excluded).
    public private(set) var dataBytes: Int64 = 0

    public init() {}

    public var isDone: Bool { if case .done = state { return true } else { return false } }

    /// Consumes bytes of the body; returns how many belong to it (fewer than `bytes.count` only when
    /// the body ended inside this buffer). Throws on a malformed chunk.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> Int {
        var i = 0
        let n = bytes.count
        while i < n {
            switch state {
            case .data:
                let take = Int(min(remaining, Int64(n - i)))
                remaining -= Int64(take)
                dataBytes += Int64(take)
                i += take
                if remaining == 0 { state = .dataCR }
                continue
            case .size:
                let c = bytes[i]
                let d: Int64
                switch c {
                case 48...57: d = Int64(c - 48)
                case 97...102: d = Int64(c - 87)
                case 65...70: d = Int64(c - 55)
                case 59 where sizeDigits > 0: state = .sizeExtension; i += 1; continue  // ';'
                case 32 where sizeDigits > 0, 9 where sizeDigits > 0: state = .sizeExtension; i += 1; continue
                case 13 where sizeDigits > 0: state = .sizeLF; i += 1; continue
                case 10 where sizeDigits > 0: chunkSizeDone(); i += 1; continue
                default: throw ParseError(status: 400, reason: "invalid chunk size", offset: i)
                }
                if sizeDigits >= 15 { throw ParseError(status: 400, reason: "chunk size too large", offset: i) }
                remaining = remaining * 16 + d
                sizeDigits += 1
            case .sizeExtension:
                let c = bytes[i]
                if c == 13 { state = .sizeLF } else if c == 10 { chunkSizeDone() }
                else if c == 0 { throw ParseError(status: 400, reason: "invalid chunk extension", offset: i) }
            case .sizeLF:
                guard bytes[i] == 10 else { throw ParseError(status: 400, reason: "invalid chunk size line", offset: i) }
                chunkSizeDone()
            case .dataCR:
                if bytes[i] == 13 { state = .dataLF }
                else if bytes[i] == 10 { startNextSize() }
                else { throw ParseError(status: 400, reason: "missing CRLF after chunk data", offset: i) }
            case .dataLF:
                guard bytes[i] == 10 else { throw ParseError(status: 400, reason: "missing LF after chunk data", offset: i) }
                startNextSize()
            case .trailerStart:
                let c = bytes[i]
                if c == 13 { state = .finalLF }
                else if c == 10 { state = .done; return i + 1 }
                else { state = .trailerLine }
            case .trailerLine:
                let c = bytes[i]
                if c == 13 { state = .trailerLF } else if c == 10 { state = .trailerStart }
            case .trailerLF:
                guard bytes[i] == 10 else { throw ParseError(status: 400, reason: "invalid trailer", offset: i) }
                state = .trailerStart
            case .finalLF:
                guard bytes[i] == 10 else { throw ParseError(status: 400, reason: "invalid end of chunked body", offset: i) }
                state = .done
                return i + 1
            case .done:
                return i
            }
            i += 1
        }
        return n
    }

    @inline(__always) mutating func chunkSizeDone() {
        if remaining == 0 { state = .trailerStart } else { state = .data }
    }

    @inline(__always) mutating func startNextSize() {
        state = .size
        remaining = 0
        sizeDigits = 0
    }
}
