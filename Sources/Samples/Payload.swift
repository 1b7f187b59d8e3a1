// Fetches that read the bytes of a message rather than its head: the buffered HTTP request body
// (`req.body`, `req.body_len`, `req.body_size`, `req.body_param`) and the raw request buffer of a
// TCP stream (`req.len`, `req.payload`, and the TLS ClientHello fetches `req.ssl_hello_type`,
// `req.ssl_ver`, `req.ssl_sni`). Pure: the runtime hands the bytes in.

public enum PayloadFetches {
    /// Argument counts, merged into `SampleExpression.fetches`.
    public static let arity: [String: ClosedRange<Int>] = [
        "req.body": 0...0, "req.body_len": 0...0, "req.body_size": 0...0, "req.body_param": 0...1,
        "req.payload": 2...2, "req.ssl_hello_type": 0...0, "req_ssl_hello_type": 0...0,
        "req.ssl_ver": 0...0, "req_ssl_ver": 0...0, "req_ssl_sni": 0...0, "req_len": 0...0,
        "req.payload_lv": 2...3, "res.len": 0...0, "res.payload": 2...2, "res.payload_lv": 2...3,
    ]

    /// The fetches whose values are integers.
    public static let integers: Set<String> = [
        "req.body_len", "req.body_size", "req.ssl_hello_type", "req_ssl_hello_type", "req.ssl_ver", "req_ssl_ver", "req_len", "res.len",
    ]

    /// The fetches that read the raw request buffer of a stream (their value may change while
    /// more bytes arrive: `tcp-request content` rules wait for them within `inspect-delay`).
    public static let bufferFetches: Set<String> = [
        "req.len", "req_len", "req.payload", "req.ssl_hello_type", "req_ssl_hello_type", "req.ssl_ver", "req_ssl_ver",
        "req.ssl_sni", "req_ssl_sni", "req.payload_lv",
    ]

    /// The fetches that read the raw response buffer (`tcp-response content` rules).
    public static let responseBufferFetches: Set<String> = ["res.len", "res.payload", "res.payload_lv"]

    /// `req.body_param([name])`: the values of the url-encoded body's parameters called `name`
    /// (any parameter without a name), as written (no decoding); haproxy's fetch takes the first.
    public static func bodyParams(_ body: [UInt8], name: String?) -> [String] {
        var out: [String] = []
        for part in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let eq = part.firstIndex(of: UInt8(ascii: "="))
            let key = eq.map { part[part.startIndex..<$0] } ?? part[...]
            if let name, !name.isEmpty, !key.elementsEqual(name.utf8) { continue }
            out.append(eq.map { String(decoding: part[part.index(after: $0)...], as: UTF8.self) } ?? "")
        }
        return out
    }

    /// The value of a buffer fetch on `data` (what arrived so far), and whether it may still
    /// change with more bytes (haproxy's SMP_F_MAY_CHANGE); nil when the fetch is not one of these.
    public static func bufferValue(_ name: String, _ args: [String], _ data: [UInt8]) -> (SampleValue?, mayChange: Bool)? {
        switch name {
        case "req.len", "req_len", "res.len":
            return (.int(Int64(data.count)), true)
        case "req.payload_lv", "res.payload_lv":
            return lengthValue(args, data)
        case "req.payload", "res.payload":
            guard let off = Int(args[0]), let len = Int(args[1]), off >= 0, len >= 0 else { return (nil, false) }
            if len == 0 { return data.count >= off ? (.string(ByteRegex.latin1(data[off...])), true) : (nil, true) }
            guard data.count >= off + len else { return (nil, true) }
            return (.string(ByteRegex.latin1(data[off..<(off + len)])), false)
        case "req.ssl_hello_type", "req_ssl_hello_type":
            guard let hello = ClientHello(data) else { return (nil, ClientHello.mayBe(data)) }
            return (.int(Int64(hello.handshakeType)), false)
        case "req.ssl_ver", "req_ssl_ver":
            guard let v = ClientHello.recordVersion(data) else { return (nil, ClientHello.mayBe(data)) }
            return (.int(Int64(v)), false)
        case "req.ssl_sni", "req_ssl_sni":
            guard let hello = ClientHello(data) else { return (nil, ClientHello.mayBe(data)) }
            return (hello.serverName.map(SampleValue.string), false)
        default:
            return nil
        }
    }

    /// `payload_lv(off1,len[,off2])`: a block whose size is the `len`-byte big-endian number at
    /// `off1`; it starts right after that number, or at `off2`: from the end of the number when
    /// signed. An unsigned `off2` is read as haproxy 2.6 reads it (measured): its half, from the
    /// start of the buffer when even, from the end of the number when odd (its encoding of
    /// "relative" in the low bit applies to the value as written).
    static func lengthValue(_ args: [String], _ data: [UInt8]) -> (SampleValue?, mayChange: Bool) {
        guard let off1 = Int(args[0]), let size = Int(args[1]), off1 >= 0, size > 0, size <= 4 else { return (nil, false) }
        guard data.count >= off1 + size else { return (nil, true) }
        let n = data[off1..<(off1 + size)].reduce(0) { $0 << 8 | Int($1) }
        var start = off1 + size
        if args.count == 3 {
            let text = args[2]
            guard let o = Int(text.hasPrefix("+") ? String(text.dropFirst()) : text) else { return (nil, false) }
            if text.hasPrefix("+") || text.hasPrefix("-") {
                start += o
            } else {
                start = o & 1 == 1 ? start + (o >> 1) : o >> 1
            }
        }
        guard start >= 0 else { return (nil, false) }
        guard data.count >= start + n else { return (nil, true) }
        return (.string(ByteRegex.latin1(data[start..<(start + n)])), false)
    }
}

/// The first TLS handshake record of a stream, when it is complete: its handshake type and the
/// Server Name extension of a ClientHello (RFC 8446 section 4.1.2, RFC 6066 section 3).
public struct ClientHello: Sendable, Equatable {
    public var handshakeType: Int
    public var serverName: String?

    /// nil until a whole handshake record is there (or when the bytes are not TLS).
    public init?(_ data: [UInt8]) {
        // Record: type 22 (handshake), version 3.x, length; then the handshake message.
        guard data.count >= 5, data[0] == 22, data[1] == 3 else { return nil }
        let recordLength = Int(data[3]) << 8 | Int(data[4])
        guard data.count >= 5 + recordLength, recordLength >= 4 else { return nil }
        let body = Array(data[5..<(5 + recordLength)])
        handshakeType = Int(body[0])
        let length = Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
        guard handshakeType == 1, body.count >= 4 + length else { serverName = nil; return }
        serverName = Self.sni(Array(body[4..<(4 + length)]))
    }

    /// The server name a connection's first bytes ask for (`ssl_fc_sni`), nil when they are not a
    /// whole ClientHello or it names no host.
    public static func serverName(_ bytes: some RandomAccessCollection<UInt8>) -> String? {
        ClientHello(Array(bytes))?.serverName
    }

    /// True while the bytes may still become a TLS record (nothing yet, or a record type first):
    /// other bytes are final at once (haproxy's "not an SSL hello").
    public static func mayBe(_ data: [UInt8]) -> Bool {
        guard let first = data.first else { return true }
        return (20...23).contains(first) || first == 0xFF
    }

    /// haproxy's `req.ssl_ver`: major * 65536 + minor of the record layer (SSLv3 and later).
    public static func recordVersion(_ data: [UInt8]) -> Int? {
        guard data.count >= 5, (20...23).contains(data[0]), data[1] == 3 else { return nil }
        return Int(data[1]) << 16 | Int(data[2])
    }

    /// The host_name of the server_name extension in a ClientHello body.
    static func sni(_ h: [UInt8]) -> String? {
        var i = 2 + 32  // client_version, random
        func u8() -> Int? { i < h.count ? Int(h[i]) : nil }
        func u16(_ at: Int) -> Int? { at + 1 < h.count ? Int(h[at]) << 8 | Int(h[at + 1]) : nil }
        guard let sidLen = u8() else { return nil }
        i += 1 + sidLen
        guard let suites = u16(i) else { return nil }
        i += 2 + suites
        guard let comps = u8() else { return nil }
        i += 1 + comps
        guard let extTotal = u16(i) else { return nil }
        i += 2
        let end = min(h.count, i + extTotal)
        while i + 4 <= end {
            guard let type = u16(i), let len = u16(i + 2) else { return nil }
            let start = i + 4
            if type == 0 {
                // server_name_list: length, then entries (type 0 = host_name, length, name).
                var j = start + 2
                while j + 3 <= start + len {
                    guard let nameLen = u16(j + 1) else { return nil }
                    if h[j] == 0, j + 3 + nameLen <= h.count {
                        return String(decoding: h[(j + 3)..<(j + 3 + nameLen)], as: UTF8.self)
                    }
                    j += 3 + nameLen
                }
                return nil
            }
            i = start + len
        }
        return nil
    }
}
