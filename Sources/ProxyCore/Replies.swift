// What rules answer by themselves: `return`, `redirect`, `auth`, deny/tarpit with a reply, built
// as HTTP/1 messages byte for byte as haproxy 2.6 sends them (the h2 side translates them);
// `userlist` credentials for `http_auth()`; the request-target edits of set-path & co.

#if canImport(Glibc)
import Glibc
#endif
import HAProxyConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Samples

/// The reason phrase haproxy writes for a status.
enum HTTPReason {
    /// haproxy's `http_get_reason()` (return, set-status).
    static func phrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 102: "Processing"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 207: "Multi-Status"
        case 210: "Content Different"
        case 226: "IM Used"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Moved Temporarily"
        case 303: "See Other"
        case 304: "Not Modified"
        case 305: "Use Proxy"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 310: "Too many Redirects"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Time-out"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Request Entity Too Large"
        case 414: "Request-URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Requested range unsatisfiable"
        case 417: "Expectation failed"
        case 418: "I'm a teapot"
        case 421: "Misdirected Request"
        case 422: "Unprocessable entity"
        case 423: "Locked"
        case 424: "Method failure"
        case 425: "Too Early"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 449: "Retry With"
        case 450: "Blocked by Windows Parental Controls"
        case 451: "Unavailable For Legal Reasons"
        case 456: "Unrecoverable Error"
        case 499: "client has closed connection"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway or Proxy Error"
        case 503: "Service Unavailable"
        case 504: "Gateway Time-out"
        case 505: "HTTP Version not supported"
        case 506: "Variant also negociate"
        case 507: "Insufficient storage"
        case 508: "Loop detected"
        case 509: "Bandwidth Limit Exceeded"
        case 510: "Not extended"
        case 511: "Network authentication required"
        case 520: "Web server is returning an unknown error"
        default:
            switch status / 100 {
            case 1: "Informational"
            case 2: "Success"
            case 3: "Redirection"
            case 4: "Client Error"
            case 5: "Server Error"
            default: "Other"
            }
        }
    }

    /// The reasons of haproxy's redirect responses.
    static func redirect(_ code: Int) -> String {
        switch code {
        case 301: "Moved Permanently"
        case 303: "See Other"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        default: "Found"
        }
    }
}

/// A compiled `return` (or deny/tarpit reply).
struct CompiledReply {
    enum Body {
        case none, errorMessage
        case message(ByteBuffer)
        case bytes(String)
        case format(RuleFormat)
    }
    let status: Int
    let contentType: String?
    let body: Body
    let headers: [(name: String, format: RuleFormat)]

    /// nil for deny/tarpit without a payload of their own (the error message path serves them).
    init?(_ spec: ReplySpec?, isReturn: Bool = false) {
        guard let spec else { return nil }
        status = spec.status
        contentType = spec.contentType
        switch spec.body {
        case .none, .errorFilesSection: body = .none
        case .errorMessage:
            // deny/tarpit: the error message path serves them; return: the proxy's message.
            guard isReturn else { return nil }
            body = .errorMessage
        case .message(let bytes): body = .message(Self.lowercasingNames(bytes))
        case .bytes(let bytes): body = .bytes(String(decoding: bytes, as: UTF8.self))
        case .format(let f): body = RuleFormat(f).map(Body.format) ?? .none
        }
        headers = spec.headers.compactMap { h in RuleFormat(h.format).map { (h.name.lowercased(), $0) } }
    }

    /// An errorfile as haproxy sends it: its header names in lowercase (its HTX layer).
    static func lowercasingNames(_ bytes: [UInt8]) -> ByteBuffer {
        let headEnd = bytes.withUnsafeBytes { HTTPSession.headLength($0) }
        let head = String(decoding: bytes[0..<headEnd], as: UTF8.self)
        var out = ""
        for (i, line) in head.components(separatedBy: "\r\n").enumerated() {
            if line.isEmpty { continue }
            if i > 0, let colon = line.firstIndex(of: ":") {
                out += line[..<colon].lowercased() + line[colon...] + "\r\n"
            } else {
                out += line + "\r\n"
            }
        }
        var b = ByteBuffer(string: out + "\r\n")
        b.writeBytes(bytes[headEnd...])
        return b
    }

    func render(_ base: LogRecord, _ source: some SampleSource, errors: ErrorResponses) -> ByteBuffer {
        if case .message(let m) = body { return m }
        if case .errorMessage = body { return errors.response(status) }
        var head = "HTTP/1.1 \(status) \(HTTPReason.phrase(status))\r\n"
        for (name, format) in headers { head += "\(name): \(format.render(base, source))\r\n" }
        let payload: String
        switch body {
        case .bytes(let s): payload = s
        case .format(let f): payload = f.render(base, source)
        default: payload = ""
        }
        if !(100..<200).contains(status) && status != 204 && status != 304 {
            head += "content-length: \(payload.utf8.count)\r\n"
        }
        if let contentType { head += "content-type: \(contentType)\r\n" }
        var b = ByteBuffer(string: head + "\r\n")
        b.writeString(payload)
        return b
    }
}

/// A compiled `redirect`.
struct CompiledRedirect {
    let spec: RedirectSpec
    let format: RuleFormat?

    init?(_ spec: RedirectSpec) {
        self.spec = spec
        if spec.isFormat {
            guard let f = RuleFormat(spec.value) else { return nil }
            format = f
        } else {
            format = nil
        }
    }

    /// The response, nil when `ignore-empty` skips the rule.
    func render(target: String, host: String?, _ base: LogRecord, _ source: some SampleSource) -> ByteBuffer? {
        let value = format?.render(base, source) ?? spec.value
        var location: String
        switch spec.kind {
        case .location:
            if spec.ignoreEmpty && value.isEmpty { return nil }
            location = value
        case .prefix, .scheme:
            if spec.ignoreEmpty && value.isEmpty { return nil }
            var path = RequestTarget.pathAndQuery(target)
            if path.isEmpty || path == "*" { path = "/" }
            if spec.dropQuery, let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
            if spec.kind == .prefix {
                // A literal prefix of exactly "/" adds nothing (a self-redirection).
                location = (!spec.isFormat && value == "/") ? path : value + path
            } else {
                location = value + "://" + (host ?? "") + path
            }
            if spec.appendSlash, let last = location.last, last != "/" { location += "/" }
        }
        var head = "HTTP/1.1 \(spec.code) \(HTTPReason.redirect(spec.code))\r\ncontent-length: 0\r\nlocation: \(location)\r\n"
        if [302, 303, 307].contains(spec.code) { head += "cache-control: no-cache\r\n" }
        if let c = spec.setCookie { head += "set-cookie: \(c); path=/;\r\n" }
        if let c = spec.clearCookie { head += "set-cookie: \(c); path=/; Max-Age=0;\r\n" }
        return ByteBuffer(string: head + "\r\n")
    }
}

/// The parts of a request target the set-path family rewrites.
enum RequestTarget {
    /// `scheme://authority` of an absolute target ("" for origin form).
    static func authorityPrefix(_ t: String) -> Substring {
        guard let r = t.range(of: "://"), !t.hasPrefix("/") else { return "" }
        let rest = t[r.upperBound...]
        return t[..<(rest.firstIndex(of: "/") ?? rest.firstIndex(of: "?") ?? t.endIndex)]
    }

    static func pathAndQuery(_ t: String) -> String {
        String(t.dropFirst(authorityPrefix(t).count))
    }

    static func path(_ t: String) -> String {
        let pq = pathAndQuery(t)
        return String(pq.prefix { $0 != "?" })
    }

    /// The new target after `action` with `value`.
    static func apply(_ action: HTTPRequestRule.Action, _ value: String, to t: String) -> String {
        let prefix = authorityPrefix(t)
        let pq = t.dropFirst(prefix.count)
        let query = pq.firstIndex(of: "?").map { pq[$0...] } ?? ""
        switch action {
        case .setPath, .replacePath: return prefix + value + query
        case .setPathQ, .replacePathQ: return prefix + value
        case .setQuery:
            if !query.isEmpty { return prefix + pq.prefix { $0 != "?" } + "?" + value }
            return value.isEmpty ? t : t + "?" + value
        default: return value
        }
    }

    /// What replace-path/-pathq/-uri match against.
    static func subject(_ action: HTTPRequestRule.Action, _ t: String) -> String {
        switch action {
        case .replacePath: path(t)
        case .replacePathQ: pathAndQuery(t)
        default: t
        }
    }
}

/// The `userlist` sections, for `http_auth(NAME)`: Basic credentials checked against plain
/// (`insecure-password`) or crypt(3) (`password`) entries.
final class Userlists: @unchecked Sendable {
    private let lists: [String: [String: Userlist.User]]
    /// Per list and user, the groups the user belongs to (`user ... groups` and `group ... users`).
    private let groups: [String: [String: [String]]]

    init(_ lists: [Userlist]) {
        var m: [String: [String: Userlist.User]] = [:]
        var g: [String: [String: [String]]] = [:]
        for l in lists {
            m[l.name] = Dictionary(l.users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var byUser: [String: [String]] = [:]
            for u in l.users { byUser[u.name, default: []] += u.groups }
            for (group, members) in l.groups.sorted(by: { $0.key < $1.key }) {
                for member in members where !(byUser[member]?.contains(group) ?? false) { byUser[member, default: []].append(group) }
            }
            g[l.name] = byUser
        }
        self.lists = m
        self.groups = g
    }

    var isEmpty: Bool { lists.isEmpty }

    /// `http_auth_group(list)`: the authenticated user's name and groups, nil when the credentials
    /// are missing or wrong.
    func authenticatedUser(_ list: String, authorization: String?) -> (name: String, groups: [String])? {
        guard check(list, authorization: authorization), let authorization else { return nil }
        let encoded = authorization.split(separator: " ", maxSplits: 1)[1]
        let text = String(decoding: Base64.decode(String(encoded).trimmingCharacters(in: .whitespaces)) ?? [], as: UTF8.self)
        let name = String(text.prefix { $0 != ":" })
        return (name, groups[list]?[name] ?? [])
    }

    func check(_ list: String, authorization: String?) -> Bool {
        guard let users = lists[list], let authorization else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Base64.decode(String(parts[1]).trimmingCharacters(in: .whitespaces)) else { return false }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return false }
        let name = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        guard let user = users[name] else { return false }
        if user.insecure { return user.password == password }
        return Crypt.matches(password, hash: user.password)
    }
}

/// crypt(3) from libcrypt, looked up at run time (haproxy links it for `password` entries).
enum Crypt {
    typealias Function = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static let function: Function? = {
        for lib in ["libcrypt.so.1", "libcrypt.so.2", "libcrypt.so"] {
            if let h = dlopen(lib, RTLD_NOW), let sym = dlsym(h, "crypt") { return unsafeBitCast(sym, to: Function.self) }
        }
        return nil
    }()
    private static let lock = NIOLock()

    static func matches(_ password: String, hash: String) -> Bool {
        guard let f = function else { return false }
        // crypt(3) returns a static buffer: one caller at a time.
        return lock.withLock {
            guard let out = f(password, hash) else { return false }
            return String(cString: out) == hash
        }
    }
}
