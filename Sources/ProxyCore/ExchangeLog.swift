// What one HTTP exchange (or TCP session) needs for its log line: HAProxy's timers, counters,
// captures and termination state, filled by the session as events happen. Only kept when the
// frontend logs.

import HAProxyConfig
import Logging
import NIOCore

struct ExchangeLog {
    /// Connection accept (monotonic and wall clock).
    let accept: NIODeadline
    let acceptWall: LogTime
    /// End of the previous exchange on this connection (keep-alive idle time starts there).
    var idleSince: NIODeadline
    var requestStart: NIODeadline?
    var headDone: NIODeadline?
    var queueStart: NIODeadline?
    var queueEnd: NIODeadline?
    var connectStart: NIODeadline?
    var connectEnd: NIODeadline?
    var responseHead: NIODeadline?
    var status = -1
    var bytesOut: Int64 = 0
    var bytesIn: Int64 = 0
    var requestLine: String?
    /// Rejected by a `tcp-request content` rule before the HTTP layer took the request: %r is <BADREQ>.
    var rejectedBeforeHTTP = false
    /// The HTTP/1 request head as received: %U's head part and %r come from it at log time.
    var requestHead: ByteBuffer?
    var requestCaptures: [String?] = []
    var responseCaptures: [String?] = []
    /// `capture cookie` (%CC, %CS).
    var requestCookie: String?, responseCookie: String?
    var logged = false
    var serverName: String?
    /// The cookie characters of the termination state (`--` without cookie persistence).
    var cookieState: (Character, Character) = ("-", "-")
    var serverText: (ip: String, port: Int)?
    var retries = 0
    var redispatched = false
    /// A server was looked for (Tw is then 0 without queueing, -1 before).
    var assigned = false
    var requestCounter = 0
    /// `unique-id-format` value of the current request (%ID).
    var uniqueID: String?
    /// The proxy's address toward the server (%bi/%bp), as text (computed once per server connection).
    var backendSource: (ip: String, port: Int)?
    /// The connection's addresses as text, computed once (inet_ntop allocates).
    private var clientText: (ip: String, port: Int)?
    private var localText: (ip: String, port: Int)?

    init(now: NIODeadline) {
        accept = now
        acceptWall = LogTime.now()
        idleSince = now
    }

    mutating func startExchange(at now: NIODeadline) {
        requestStart = requestStart ?? now
        headDone = nil
        queueStart = nil; queueEnd = nil
        connectStart = nil; connectEnd = nil
        responseHead = nil
        status = -1
        bytesOut = 0; bytesIn = 0
        requestLine = nil
        rejectedBeforeHTTP = false
        requestHead = nil
        requestCaptures = []; responseCaptures = []
        requestCookie = nil; responseCookie = nil
        logged = false
        serverName = nil; serverText = nil; backendSource = nil
        cookieState = ("-", "-")
        retries = 0; redispatched = false
        assigned = false
        uniqueID = nil
    }

    mutating func endExchange(at now: NIODeadline) {
        idleSince = now
        requestStart = nil
    }

    /// What haproxy 2.6 counts in %B for a message head: its internal (HTX) size, not the wire's —
    /// the start line's three parts plus 20 bytes, each header's name and value, 1 for the end of
    /// headers (measured: 55 for `HTTP/1.1 200 OK` + `content-length: 6` + 6 body bytes); a
    /// chunked body counts its payload plus 1 for the end of trailers.
    /// `countingConnection`: the proxy's own messages (error pages, replies) keep their
    /// `Connection` lines in haproxy's count (measured: 206 for a `deny_status 400`).
    static func htxHeadSize(_ head: UnsafeRawBufferPointer, countingConnection: Bool = false) -> Int {
        var size = 21  // struct htx_sl + the end-of-headers block
        var lineStart = 0
        var first = true
        var i = 0
        let n = head.count
        while i < n {
            guard head[i] == 10 else { i += 1; continue }
            var end = i
            if end > lineStart && head[end - 1] == 13 { end -= 1 }
            if end > lineStart {
                if first {
                    size += max(0, end - lineStart - 2)  // minus the two spaces
                } else {
                    var colon = lineStart
                    while colon < end && head[colon] != 58 { colon += 1 }
                    var valueStart = colon + 1
                    while valueStart < end && (head[valueStart] == 32 || head[valueStart] == 9) { valueStart += 1 }
                    var valueEnd = end
                    while valueEnd > valueStart && (head[valueEnd - 1] == 32 || head[valueEnd - 1] == 9) { valueEnd -= 1 }
                    // The H1 layer consumes `Connection` headers: they never reach the count.
                    if countingConnection || !equalsLowercaseASCII(head, lineStart, colon, "connection") {
                        size += (colon - lineStart) + (valueEnd - valueStart)
                    }
                }
            }
            first = false
            lineStart = i + 1
            i += 1
        }
        return size
    }

    static func ms(_ from: NIODeadline?, _ to: NIODeadline?) -> Int {
        guard let from, let to else { return -1 }
        return max(0, Int((to.uptimeNanoseconds &- from.uptimeNanoseconds) / 1_000_000))
    }

    func wall(_ t: NIODeadline) -> LogTime {
        let delta = Int((t.uptimeNanoseconds &- accept.uptimeNanoseconds) / 1000)
        var us = acceptWall.microseconds + delta
        let s = acceptWall.seconds + us / 1_000_000
        us %= 1_000_000
        return LogTime(seconds: s, microseconds: us)
    }

    /// The record for an HTTP exchange ending now.
    mutating func httpRecord(now: NIODeadline, termination: (Character, Character), client: SocketAddress?, local: SocketAddress?,
                    frontend: FrontendRuntime, backend: BackendRuntime?, logAsap: Bool) -> LogRecord {
        var r = LogRecord()
        fillAddresses(&r, client: client, local: local)
        r.frontendName = frontend.name
        r.backendName = backend?.name ?? frontend.name
        r.serverName = serverName ?? "<NOSRV>"
        r.cookieState = cookieState
        if let serverText { r.serverIP = serverText.ip; r.serverPort = serverText.port }
        if let a = backendSource { r.backendSourceIP = a.ip; r.backendSourcePort = a.port }
        let start = requestStart ?? now
        r.acceptDate = acceptWall
        r.requestDate = wall(start)
        r.th = 0
        r.ti = Self.ms(idleSince, start)
        r.tR = Self.ms(start, headDone)
        r.tw = queueStart != nil ? Self.ms(queueStart, queueEnd ?? now) : (assigned ? 0 : -1)
        r.tc = Self.ms(connectStart, connectEnd)
        r.tr = Self.ms(connectEnd ?? headDone, responseHead)
        r.ta = Self.ms(start, now)
        r.tt = r.ta < 0 ? -1 : r.th + r.ti + r.ta
        r.status = status
        r.bytesRead = bytesOut
        r.bytesUploaded = bytesIn
        if let head = requestHead {
            r.bytesUploaded += Int64(head.withUnsafeReadableBytes { Self.htxHeadSize($0) })
            if requestLine == nil {
                let lineEnd = head.withUnsafeReadableBytes { raw in raw.firstIndex(of: 13) ?? raw.firstIndex(of: 10) ?? raw.count }
                requestLine = head.getString(at: head.readerIndex, length: lineEnd)
            }
        }
        r.logAsap = logAsap
        r.terminationState = termination
        r.retries = retries
        r.redispatched = redispatched
        r.capturedRequestHeaders = requestCaptures
        r.capturedResponseHeaders = responseCaptures
        r.requestCookie = requestCookie; r.responseCookie = responseCookie
        r.requestLine = rejectedBeforeHTTP ? nil : requestLine
        r.requestCounter = requestCounter
        r.uniqueID = uniqueID
        return r
    }

    mutating func fillAddresses(_ r: inout LogRecord, client: SocketAddress?, local: SocketAddress?) {
        if clientText == nil, let client { clientText = (client.ipAddress ?? "-", client.port ?? 0) }
        if localText == nil, let local { localText = (local.ipAddress ?? "-", local.port ?? 0) }
        if let clientText { r.clientIP = clientText.ip; r.clientPort = clientText.port }
        if let localText { r.frontendIP = localText.ip; r.frontendPort = localText.port }
    }
}
