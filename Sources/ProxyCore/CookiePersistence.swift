import HAProxyConfig
import HTTP1
import NIOCore

/// HAProxy's cookie persistence (`cookie NAME insert|rewrite|prefix ...`, `server ... cookie V`),
/// for HTTP/1 exchanges: which server a request's cookie names, what the request forwards, and
/// what the response's Set-Cookie lines become; plus the two cookie characters of the log's
/// termination state (request: N none, I invalid, D server down, V valid; response: N none,
/// I inserted, R rewritten).
struct CookieExchange {
    /// The server the request's cookie names (index in the backend), if any.
    var persistTo: Int?
    var requestFlag: Character = "N"
    var responseFlag: Character = "N"

    /// Reads the request's cookies. Returns the rewritten `Cookie` value when the request must
    /// change (insert+indirect drops the cookie, prefix strips `SERVER~`): nil = unchanged,
    /// "" = no Cookie line left.
    mutating func request(_ ck: CookiePersistence, servers: [ServerRuntime], cookieLines: [String]) -> String? {
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
        var serverPart: String? = value
        if ck.mode == .prefix {
            if let tilde = value.firstIndex(of: "~") {
                serverPart = String(value[..<tilde])
                pairs[i].1 = String(value[value.index(after: tilde)...])
                changed = true
            } else {
                serverPart = nil
            }
        }
        if ck.mode == .insert && ck.indirect {
            pairs.remove(at: i)
            changed = true
        }
        if let serverPart, let s = servers.first(where: { $0.config.cookie == serverPart }) {
            persistTo = s.index
            requestFlag = "V"  // "D" when the server turns out unusable
        } else {
            requestFlag = "I"
        }
        guard changed else { return nil }
        return pairs.map { pair in pair.1.map { "\(pair.0)=\($0)" } ?? pair.0 }.joined(separator: "; ")
    }

    /// The response's edits: the header lines (indexes in `response.headers`) to drop and the
    /// lines to add at the end of the head.
    mutating func response(_ ck: CookiePersistence, server: ServerRuntime, insertLine: String?, requestMethod: HTTPMethod,
                           head: ByteBuffer, response: MessageHead) -> (drop: [Int], add: [String]) {
        var drop: [Int] = []
        var add: [String] = []
        var serverSetsIt = false
        var cacheable: Bool
        switch response.status {
        case 200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501: cacheable = requestMethod == .get || requestMethod == .head
        default: cacheable = false
        }
        var fresh = false
        for (k, f) in response.headers.enumerated() {
            // Names compared in place: only the lines that matter are read as text.
            let kind = head.withUnsafeReadableBytes { raw -> Int in
                let s = Int(f.nameStart), e = Int(f.nameEnd)
                if equalsLowercaseASCII(raw, s, e, "set-cookie") { return 1 }
                if equalsLowercaseASCII(raw, s, e, "cache-control") { return 2 }
                if equalsLowercaseASCII(raw, s, e, "expires") || equalsLowercaseASCII(raw, s, e, "last-modified")
                    || equalsLowercaseASCII(raw, s, e, "etag") { return 3 }
                return 0
            }
            if kind == 0 { continue }
            if kind == 3 { fresh = true; continue }
            let value = head.getString(at: head.readerIndex + Int(f.valueStart), length: Int(f.valueEnd - f.valueStart)) ?? ""
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
                    guard let mine = server.config.cookie else { continue }
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
        if ck.mode == .insert, let line = insertLine, !(serverSetsIt && ck.preserve) {
            let clientHasIt = requestFlag == "V" && persistTo == server.index
            if !clientHasIt && (!ck.postonly || requestMethod == .post) {
                add.append(line)
                responseFlag = "I"
                if ck.nocache && cacheable && fresh { add.append("Cache-control: private") }
            }
        }
        return (drop, add)
    }

    /// The `Set-Cookie` line `insert` adds for a server (nil for a server without `cookie`):
    /// the same for every response, so made once.
    static func insertLine(_ ck: CookiePersistence, serverCookie: String?) -> String? {
        guard ck.mode == .insert, let mine = serverCookie else { return nil }
        var line = "Set-Cookie: \(ck.name)=\(mine); path=/"
        for d in ck.domains { line += "; domain=\(d)" }
        if ck.httponly { line += "; HttpOnly" }
        if ck.secure { line += "; Secure" }
        for a in ck.attrs { line += "; \(a)" }
        return line
    }
}
