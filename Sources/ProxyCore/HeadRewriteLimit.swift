import HTTP1
import NIOCore

/// A head that rules made larger than haproxy's buffer: haproxy 2.6 cannot add the header and
/// answers 500 (`PR` for `http-request` rules, `PH` for `http-response` ones), keeping the
/// client's connection. Measured: the head as haproxy stores it (HTX: 70 bytes and the
/// request/status line's parts for the start line, 8 bytes and the name and value per header,
/// 8 bytes and the bytes of a body part already received) may reach `tune.bufsize - 15`; the
/// reserve of `tune.maxrewrite` is for rules, so it does not lower this limit.
/// Only computed when a rule added a header or rewrote the request line.
enum HeadRewriteLimit {
    static func limit(bufsize: Int) -> Int { bufsize - 15 }

    /// True when the request head may be past `limit` after `edits`: a bound from the head's
    /// length first (every start-line part and header is within it), the exact weight only when
    /// the bound is over (most requests are far below and cost no scan).
    static func requestMayExceed(_ head: ByteBuffer, _ request: MessageHead, _ edits: HeaderEdits, limit: Int) -> Bool {
        let bound = 78 + head.readableBytes + 8 * request.headers.count + edits.addedWeight
            + (edits.method?.utf8.count ?? 0) + (edits.uri?.utf8.count ?? 0)
        return bound > limit && requestSize(head, request, edits) > limit
    }

    /// The same for a response head with `bodyBytes` of body already in.
    static func responseMayExceed(_ head: ByteBuffer, _ response: MessageHead, _ edits: HeaderEdits, bodyBytes: Int, limit: Int) -> Bool {
        let bound = 81 + 8 + bodyBytes + head.readableBytes + 8 * response.headers.count + edits.addedWeight
        return bound > limit && responseSize(head, response, edits, bodyBytes: bodyBytes) > limit
    }

    /// The request head's weight after `edits` (deleted headers out, added ones in).
    /// `addedPrefix`: only that many added lines (the frontend's, before the backend's rules).
    static func requestSize(_ head: ByteBuffer, _ request: MessageHead, _ edits: HeaderEdits, addedPrefix: Int? = nil) -> Int {
        let method: Int = edits.method?.utf8.count ?? request.methodEnd
        let target: Int = edits.uri?.utf8.count ?? (request.targetEnd - request.targetStart)
        var used = 70 + 8 + method + target
        head.withUnsafeReadableBytes { raw in
            for f in request.headers {
                let s = Int(f.nameStart), e = Int(f.nameEnd)
                if !edits.deleted.isEmpty, edits.deleted.contains(where: { equalsLowercaseASCII(raw, s, e, $0) }) { continue }
                used += 8 + (e - s) + (Int(f.valueEnd) - Int(f.valueStart))
            }
        }
        for (name, value) in edits.added.prefix(addedPrefix ?? edits.added.count) { used += 8 + name.utf8.count + value.utf8.count }
        return used
    }

    /// The response head's weight after the rules' `edits`, with `bodyBytes` of body already in.
    static func responseSize(_ head: ByteBuffer, _ response: MessageHead, _ edits: HeaderEdits, bodyBytes: Int) -> Int {
        // "HTTP/1.x" (8), the status (3) and the reason.
        var used: Int = 70 + 8 + 3
        if bodyBytes > 0 { used += 8 + bodyBytes }
        head.withUnsafeReadableBytes { raw in
            let lineEnd = raw.firstIndex(of: 10) ?? raw.count
            let lineLength = lineEnd > 0 && raw[lineEnd - 1] == 13 ? lineEnd - 1 : lineEnd
            used += max(0, lineLength - 13)
            for f in response.headers {
                let s = Int(f.nameStart), e = Int(f.nameEnd)
                if !edits.deleted.isEmpty, edits.deleted.contains(where: { equalsLowercaseASCII(raw, s, e, $0) }) { continue }
                used += 8 + (e - s) + (Int(f.valueEnd) - Int(f.valueStart))
            }
        }
        for (name, value) in edits.added { used += 8 + name.utf8.count + value.utf8.count }
        return used
    }
}
