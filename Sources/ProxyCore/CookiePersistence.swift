import Foundation
import HAProxyConfig
import HTTP1
import Samples
import NIOCore

/// HAProxy's cookie persistence (`cookie NAME insert|rewrite|prefix ...`, `server ... cookie V`),
/// for HTTP/1 exchanges: which server a request's cookie names, what the request forwards, and
/// what the response's Set-Cookie lines become; plus the two cookie characters of the log's
/// termination state (request: N none, I invalid, D server down, V valid; response: N none,
/// I inserted, R rewritten).
struct CookieExchange {
    /// The first server (index in the backend) whose cookie the request's names, if any; the
    /// server is taken at assignment (the first usable one with that cookie, or with `option
    /// persist` / `force-persist` the first one).
    var persistTo: Int?
    var requestFlag: Character = "N"
    var responseFlag: Character = "N"
    /// The server was chosen directly (cookie, use-server or stick match; haproxy's SF_DIRECT):
    /// insert mode then only re-sets the cookie when its dates need it. Cleared on redispatch.
    var direct = false
    /// `ignore-persist` matched: no persistence and nothing inserted.
    var ignored = false
    /// The dates the request's cookie carried (`VALUE|last|first`, 30-bit values in 4-second
    /// units; 0 = none): `lastDate`/`firstDate` in seconds wrap on 32 bits as haproxy's do.
    var lastDate: Int32 = 0
    var firstDate: Int32 = 0
    var firstRaw: UInt32 = 0

    /// The request side on a request's header edits: reads its Cookie lines (the received ones
    /// less what the rules did) and writes back the lines persistence leaves (HTTP/1 and h2 alike;
    /// `headerName` as the message spells it).
    mutating func request(_ ck: CookiePersistence, serverCookies: [String?], edits: inout HeaderEdits, headerName: String,
                          ignore: Bool, assigned: Bool, received: () -> [String]) {
        let lines = edits.lines("cookie", received: received)
        guard let rewritten = request(ck, serverCookies: serverCookies, cookieLines: lines, ignore: ignore, assigned: assigned) else { return }
        edits.apply(.del, name: headerName, lowercasedName: "cookie", value: nil)
        if !rewritten.isEmpty { edits.apply(.add, name: headerName, lowercasedName: "cookie", value: rewritten) }
    }

    /// Reads the request's cookies. Returns the rewritten `Cookie` value when the request must
    /// change (insert+indirect drops the cookie, prefix strips `SERVER~`): nil = unchanged,
    /// "" = no Cookie line left. `assigned`: a use-server rule already chose the server.
    mutating func request(_ ck: CookiePersistence, serverCookies: [String?], cookieLines: [String],
                          ignore: Bool, assigned: Bool) -> String? {
        ignored = ignore
        var pairs: [(String, String?)] = []
        for line in cookieLines {
            for part in line.split(separator: ";") {
                let p = part.trimmingCharacters(in: .whitespaces)
                if p.isEmpty { continue }
                if let eq = p.firstIndex(of: "=") {
                    pairs.append((String(p[..<eq]), String(p[p.index(after: eq)...])))
                } else {
                    pairs.append((p, nil))
                }
            }
        }
        guard let i = pairs.firstIndex(where: { $0.0 == ck.name }) else {
            requestFlag = "N"
            return nil
        }
        let value = pairs[i].1 ?? ""
        var changed = false
        var serverPart: Substring = Substring(value)
        if ck.mode == .prefix {
            if let tilde = value.firstIndex(of: "~") {
                serverPart = value[..<tilde]
                pairs[i].1 = String(value[value.index(after: tilde)...])
                changed = true
            } else {
                serverPart = ""
            }
        } else if let bar = value.utf8.firstIndex(of: UInt8(ascii: "|")) {
            serverPart = value[..<bar]
            readDates(value.utf8[value.utf8.index(after: bar)...])
        }
        if ck.mode == .insert && ck.indirect {
            pairs.remove(at: i)
            changed = true
        }
        var outdated: Character?
        if lastDate != 0 || firstDate != 0 {
            let now = Self.now()
            if firstDate != 0 && ck.maxLife > 0
                && (now &- firstDate > Int32(ck.maxLife) || firstDate &- now > 86400) {
                outdated = "O"
            } else if lastDate != 0 && ck.maxIdle > 0
                        && (now &- lastDate > Int32(ck.maxIdle) || lastDate &- now > 86400) {
                outdated = "E"
            }
            if outdated != nil { lastDate = 0; firstDate = 0; firstRaw = 0 }
        }
        if let outdated {
            requestFlag = outdated
        } else if !serverPart.isEmpty, !ignore, !assigned,
                  let s = serverCookies.firstIndex(where: { $0.map { $0 == serverPart } ?? false }) {
            persistTo = s
            requestFlag = "V"  // "D" when the server turns out unusable
        } else {
            requestFlag = ignore || assigned ? "U" : "I"
        }
        guard changed else { return nil }
        return pairs.map { pair in pair.1.map { "\(pair.0)=\($0)" } ?? pair.0 }.joined(separator: "; ")
    }

    /// Takes the server the cookie names: the first with that value that is up, or with
    /// `persist` the first one (`D` in the log when it is down); nil when none can be taken.
    mutating func assign(_ backend: BackendRuntime, persist: Bool, loop: any EventLoop) -> Assignment? {
        guard let first = persistTo, let value = backend.serverCookies[first] else { return nil }
        for j in first..<backend.servers.count where backend.serverCookies[j] == value {
            let up = backend.isServerUsable(j)
            guard up || persist else { continue }
            if let a = backend.assign(server: j, force: persist, loop: loop) {
                requestFlag = up ? "V" : "D"
                return a
            }
        }
        requestFlag = "D"
        return nil
    }

    /// `|last[|first]` after the server's value: five characters each, read as haproxy does
    /// (a date that does not decode, or decodes to 0, is absent).
    private mutating func readDates(_ rest: Substring.UTF8View) {
        let bytes = Array(rest)
        if bytes.count >= 5, let v = Self.decode30(bytes[0..<5]), v > 0 {
            lastDate = Int32(truncatingIfNeeded: v << 2)
        }
        if let bar = bytes.firstIndex(of: UInt8(ascii: "|")), bytes.count - bar > 5,
           let v = Self.decode30(bytes[(bar + 1)..<(bar + 6)]), v > 0 {
            firstDate = Int32(truncatingIfNeeded: v << 2)
            firstRaw = v
        }
    }

    /// The wall clock in seconds, on 32 bits as haproxy compares cookie dates.
    static func now() -> Int32 {
        Int32(truncatingIfNeeded: Int64(Date().timeIntervalSince1970))
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Five base64 characters → a 30-bit value (nil if one is not base64).
    static func decode30(_ chars: ArraySlice<UInt8>) -> UInt32? {
        var out: UInt32 = 0
        for c in chars {
            let d: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): d = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): d = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): d = 62
            case UInt8(ascii: "/"): d = 63
            default: return nil
            }
            out = out << 6 | UInt32(d)
        }
        return out
    }

    /// A 30-bit value → five base64 characters.
    static func encode30(_ v: UInt32) -> String {
        var s = ""
        for k in (0..<5).reversed() { s.unicodeScalars.append(UnicodeScalar(alphabet[Int((v >> (6 * UInt32(k))) & 63)])) }
        return s
    }

    /// The cookie value with its dates: `|last` (now, rounded up to 4 seconds), and with
    /// `maxlife` `|first` (the request's, else now).
    func datedValue(_ ck: CookiePersistence, _ value: String) -> String {
        let stamp = UInt32(truncatingIfNeeded: (Int64(Self.now()) + 3) >> 2)
        var v = value + "|" + Self.encode30(stamp)
        if ck.maxLife > 0 { v += "|" + Self.encode30(firstDate != 0 ? firstRaw : stamp) }
        return v
    }

    /// The response's edits: the header lines (indexes in `response.headers`) to drop and the
    /// lines to add at the end of the head.
    mutating func response(_ ck: CookiePersistence, server: ServerRuntime, serverCookie: String?, insertLine: String,
                           requestMethod: HTTPMethod, head: ByteBuffer, response: MessageHead) -> (drop: [Int], add: [String]) {
        let fields = response.headers
        return self.response(ck, serverCookie: serverCookie, insertLine: insertLine, requestMethod: requestMethod,
                             status: response.status, count: fields.count,
                             kind: { k in
                                 // Names compared in place: only the lines that matter are read as text.
                                 let f = fields[k]
                                 return head.withUnsafeReadableBytes { raw -> Int in
                                     let s = Int(f.nameStart), e = Int(f.nameEnd)
                                     if equalsLowercaseASCII(raw, s, e, "set-cookie") { return 1 }
                                     if equalsLowercaseASCII(raw, s, e, "cache-control") { return 2 }
                                     if equalsLowercaseASCII(raw, s, e, "expires") || equalsLowercaseASCII(raw, s, e, "last-modified")
                                         || equalsLowercaseASCII(raw, s, e, "etag") { return 3 }
                                     return 0
                                 }
                             },
                             value: { k in
                                 let f = fields[k]
                                 return head.getString(at: head.readerIndex + Int(f.valueStart), length: Int(f.valueEnd - f.valueStart)) ?? ""
                             })
    }

    /// The same for an HTTP/2 response's header list (names lowercase): the edited list, or nil
    /// when nothing changes.
    mutating func response(_ ck: CookiePersistence, serverCookie: String?, insertLine: String, requestMethod: HTTPMethod,
                           status: Int, headers: [(name: String, value: String)]) -> [(name: String, value: String)]? {
        let e = response(ck, serverCookie: serverCookie, insertLine: insertLine, requestMethod: requestMethod,
                         status: status, count: headers.count,
                         kind: { k in
                             switch headers[k].name {
                             case "set-cookie": return 1
                             case "cache-control": return 2
                             case "expires", "last-modified", "etag": return 3
                             default: return 0
                             }
                         },
                         value: { k in headers[k].value })
        guard !e.drop.isEmpty || !e.add.isEmpty else { return nil }
        var out: [(name: String, value: String)] = []
        for (k, h) in headers.enumerated() where !e.drop.contains(k) { out.append(h) }
        for line in e.add {
            guard let colon = line.firstIndex(of: ":") else { continue }
            out.append((line[..<colon].lowercased(), String(line[line.index(colon, offsetBy: 2)...])))
        }
        return out
    }

    /// The response's edits from its header fields: `kind(k)` 1 set-cookie, 2 cache-control,
    /// 3 a freshness header, 0 other; `value(k)` the field's value.
    private mutating func response(_ ck: CookiePersistence, serverCookie: String?, insertLine: String, requestMethod: HTTPMethod,
                                   status: Int, count: Int, kind kindOf: (Int) -> Int,
                                   value valueOf: (Int) -> String) -> (drop: [Int], add: [String]) {
        var drop: [Int] = []
        var add: [String] = []
        var serverSetsIt = false
        var cacheable: Bool
        switch status {
        case 200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501: cacheable = requestMethod == .get || requestMethod == .head
        default: cacheable = false
        }
        var fresh = false
        for k in 0..<count {
            let kind = kindOf(k)
            if kind == 0 { continue }
            if kind == 3 { fresh = true; continue }
            let value = valueOf(k)
            switch kind {
            case 2:
                let v = value.lowercased()
                if v.contains("private") || v.contains("no-cache") || v.contains("no-store") { cacheable = false }
                if v.contains("max-age") || v.contains("s-maxage") || v.contains("public") { fresh = true }
            case 1:
                guard let eq = value.firstIndex(of: "="),
                      value[..<eq].trimmingCharacters(in: .whitespaces) == ck.name else { continue }
                serverSetsIt = true
                switch ck.mode {
                case .insert:
                    if !ck.preserve { drop.append(k) }
                case .rewrite, .prefix:
                    guard let mine = serverCookie else { continue }
                    let afterName = value[value.index(after: eq)...]
                    let old = afterName.prefix { $0 != ";" }
                    let attributes = afterName.dropFirst(old.count)
                    let newValue = ck.mode == .rewrite ? mine : "\(mine)~\(old)"
                    drop.append(k)
                    add.append("Set-Cookie: \(ck.name)=\(newValue)\(attributes)")
                    responseFlag = "R"
                }
            default:
                break
            }
        }
        if ck.mode == .insert, !(serverSetsIt && ck.preserve), !ignored, !ck.postonly || requestMethod == .post {
            // haproxy's rule: a server not chosen directly, or a cookie whose dates need a change
            // (the last-seen one older than now, a first-seen one to add or to drop).
            let stale = (ck.maxIdle > 0 || lastDate != 0) && (lastDate == 0 || Int64(lastDate) < Int64(Self.now()))
            let dates = stale || (ck.maxLife > 0 && firstDate == 0) || (ck.maxLife == 0 && firstDate != 0)
            if !direct || dates {
                if let mine = serverCookie, ck.dated {
                    add.append(Self.insertLine(ck, serverCookie: datedValue(ck, mine)))
                } else {
                    add.append(insertLine)
                }
                responseFlag = serverCookie != nil && direct ? "U" : "I"
                if ck.nocache && cacheable && fresh { add.append("Cache-control: private") }
            }
        }
        return (drop, add)
    }

    /// The `Set-Cookie` line `insert` adds for a server (without dates, made once); a server
    /// without a cookie gets a line that deletes the client's.
    static func insertLine(_ ck: CookiePersistence, serverCookie: String?) -> String {
        var line = serverCookie.map { "Set-Cookie: \(ck.name)=\($0); path=/" }
            ?? "Set-Cookie: \(ck.name)=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"
        for d in ck.domains { line += "; domain=\(d)" }
        if ck.httponly { line += "; HttpOnly" }
        if ck.secure { line += "; Secure" }
        for a in ck.attrs { line += "; \(a)" }
        return line
    }

    /// `cookie ... dynamic`: the server's cookie, XXH64 of the backend's key, the server's
    /// address bytes and its port (32 bits, network order), in 16 hex digits.
    static func dynamicCookie(key: String, address: SocketAddress?) -> String? {
        guard let address, let port = address.port else { return nil }
        var bytes = Array(key.utf8)
        switch address {
        case .v4(let a):
            withUnsafeBytes(of: a.address.sin_addr) { bytes += $0 }
        case .v6(let a):
            withUnsafeBytes(of: a.address.sin6_addr) { bytes += $0 }
        default:
            return nil
        }
        let p = UInt32(port)
        bytes += [UInt8(p >> 24), UInt8(p >> 16 & 0xff), UInt8(p >> 8 & 0xff), UInt8(p & 0xff)]
        let h = XXHash.xxh64(bytes, seed: 0)
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
