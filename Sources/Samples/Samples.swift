// HAProxy's sample expressions: `fetch(args),converter(args),...` as written in `%[...]` of log
// formats and rule arguments, parsed once and evaluated against whatever a session can show
// (`SampleSource`). Pure Swift: the runtime supplies the values of the fetches.

import Balancing

/// A value a fetch or converter produces.
public enum SampleValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)

    /// As a log or header shows it.
    public var text: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .bool(let b): b ? "1" : "0"
        }
    }

    var asInt: Int64? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        case .string(let s): Int64(s)
        }
    }
}

public struct SampleError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The fetches a session answers from its connection's facts, recognised once by `parse` so
/// that evaluating them skips the dispatch on the fetch's name.
public enum FetchID: UInt8, Sendable, Equatable {
    case other, src, srcPort, dst, dstPort, feName

    public init(_ name: String) {
        switch name {
        case "src": self = .src
        case "src_port": self = .srcPort
        case "dst": self = .dst
        case "dst_port": self = .dstPort
        case "fe_name": self = .feName
        default: self = .other
        }
    }
}

/// What a session can answer: the value of a fetch with its arguments, nil when it has none.
public protocol SampleSource {
    func fetch(_ name: String, _ args: [String]) -> SampleValue?
    /// The same, with the fetch's id known (`.other` for the rest); by default, by name.
    func fetch(_ id: FetchID, _ name: String, _ args: [String]) -> SampleValue?
    /// Every value of a fetch that has several (header occurrences, cookies): what ACLs test.
    func fetchAll(_ name: String, _ args: [String]) -> [SampleValue]
    /// The session's variables (`var()`, `set-var`, ...); nil by default (Variables.swift).
    var variables: VariableStore? { get }
}

extension SampleSource {
    public func fetch(_ id: FetchID, _ name: String, _ args: [String]) -> SampleValue? {
        fetch(name, args)
    }

    public func fetchAll(_ name: String, _ args: [String]) -> [SampleValue] {
        fetch(name, args).map { [$0] } ?? []
    }
}

/// One parsed expression.
public struct SampleExpression: Sendable, Equatable {
    public struct Call: Sendable, Equatable {
        public var name: String
        public var args: [String]
        /// Map files, regexes, variable names: compiled once by `parse` (Converters.swift).
        public var compiled: CompiledConverter? = nil
    }

    public var fetch: Call
    public var converters: [Call]
    /// Made once by `parse`: the value of a fetch that needs no session (`str(...)`, `int(...)`).
    var constantValue: SampleValue?
    /// Made once by `parse`: `var(...)`.
    var isVariable = false
    /// Made once by `parse`: the fetch has one value at most (an ACL tests it without a list).
    public internal(set) var singleValued = false
    /// Made once by `parse`: the connection fact the fetch reads, if it is one.
    public internal(set) var fetchID = FetchID.other

    /// The fetches that give one value at most, whatever the source: ACLs evaluate them without
    /// building a list.
    static let singleValuedFetches: Set<String> = [
        "src", "src_port", "dst", "dst_port", "fe_name", "be_name", "srv_name", "fe_id", "be_id", "srv_id",
        "method", "path", "query", "url", "uri", "base", "req.ver", "req_ver", "status", "res.ver",
        "ssl_fc", "req.proto_http", "str", "int", "bool", "always_true", "always_false",
    ]

    /// The fetches known here, with how many arguments they take (min...max).
    public static let fetches: [String: ClosedRange<Int>] = [
        "src": 0...0, "src_port": 0...0, "dst": 0...0, "dst_port": 0...0,
        "fe_name": 0...0, "be_name": 0...0, "srv_name": 0...0, "fe_id": 0...0, "be_id": 0...0, "srv_id": 0...0,
        "method": 0...0, "path": 0...0, "query": 0...0, "url": 0...0, "uri": 0...0, "base": 0...0,
        "req.ver": 0...0, "req_ver": 0...0,
        "req.hdr": 0...2, "hdr": 0...2, "req.fhdr": 1...2, "req.hdr_cnt": 0...1, "hdr_cnt": 0...1,
        "req.cook": 0...1, "cook": 0...1, "url_param": 1...2, "urlp": 1...2,
        "res.hdr": 0...2, "shdr": 0...2, "status": 0...0, "res.ver": 0...0,
        "unique-id": 0...0, "env": 1...1, "nbsrv": 0...1,
        "ssl_fc": 0...0, "ssl_fc_sni": 0...0, "fc_http_major": 0...0,
        "str": 1...1, "int": 1...1, "bool": 1...1, "always_true": 0...0, "always_false": 0...0,
        "req.cook_cnt": 0...1, "cook_cnt": 0...1, "req.proto_http": 0...0, "res.cook": 0...1, "scook": 0...1,
        "req.ssl_sni": 0...0, "srv_is_up": 1...1, "be_conn": 0...1, "fe_conn": 0...1, "queue": 0...1,
        "avg_queue": 0...1, "connslots": 0...1, "date": 0...2, "req.len": 0...0, "res.hdr_cnt": 0...1,
        "shdr_cnt": 0...1, "http_auth": 1...1, "http_auth_group": 1...1, "var": 1...2,
        "capture.req.hdr": 1...1, "capture.res.hdr": 1...1,
    ].merging(StickFetches.arity) { a, _ in a }.merging(PayloadFetches.arity) { a, _ in a }

    /// What a fetch reads that a log line no longer has ("HTTP request headers" / "HTTP response
    /// headers", haproxy's words), nil when it is available at log time.
    public static func needsMessage(_ fetch: String) -> String? {
        switch fetch {
        case "path", "query", "url", "uri", "req.ver", "req_ver", "req.hdr", "hdr", "req.fhdr", "req.hdr_cnt", "hdr_cnt",
             "req.cook", "cook", "urlp", "url_param", "base", "http_auth", "http_auth_group":
            return "HTTP request headers"
        case "res.hdr", "shdr", "res.ver":
            return "HTTP response headers"
        default:
            return nil
        }
    }

    /// The converters known here, with their argument counts.
    public static let converterArity: [String: ClosedRange<Int>] = [
        "lower": 0...0, "upper": 0...0, "length": 0...0, "hex": 0...0, "base64": 0...0, "b64dec": 0...0,
        "bytes": 1...2, "field": 2...3, "word": 2...3, "add": 1...1, "sub": 1...1, "mul": 1...1, "div": 1...1,
        "mod": 1...1, "and": 1...1, "or": 1...1, "xor": 1...1, "neg": 0...0, "not": 0...0, "bool": 0...0,
        "json": 0...1, "sdbm": 0...1, "djb2": 0...1, "wt6": 0...1, "crc32": 0...1, "ipmask": 1...2,
        "url_dec": 0...1, "ltrim": 1...1, "rtrim": 1...1, "even": 0...0, "odd": 0...0,
    ].merging(Converters.arity) { old, _ in old }

    /// Parses `fetch(args),conv(args),...` with HAProxy's error wording.
    public static func parse(_ text: String) throws(SampleError) -> SampleExpression {
        var calls: [Call] = []
        var i = text.startIndex
        while i < text.endIndex {
            let nameStart = i
            while i < text.endIndex, text[i] != "(", text[i] != "," { i = text.index(after: i) }
            let name = String(text[nameStart..<i])
            var args: [String] = []
            if i < text.endIndex, text[i] == "(" {
                i = text.index(after: i)
                var current = ""
                var closed = false
                var quote: Character?
                while i < text.endIndex {
                    let c = text[i]
                    // haproxy 2.6: '...' is literal, "..." and bare text unescape \\, \' and \"
                    // (any other backslash stays); `,` and `)` only count outside quotes.
                    if c == "\\", quote != "'", text.index(after: i) < text.endIndex,
                       ["\\", "'", "\""].contains(text[text.index(after: i)]) {
                        i = text.index(after: i)
                        current.append(text[i])
                    } else if let q = quote {
                        if c == q { quote = nil } else { current.append(c) }
                    } else if c == "'" || c == "\"" {
                        quote = c
                    } else if c == ")" {
                        closed = true
                        break
                    } else if c == "," {
                        args.append(current)
                        current = ""
                    } else {
                        current.append(c)
                    }
                    i = text.index(after: i)
                }
                guard closed else { throw SampleError("missing closing ')' after arguments to '\(name)'") }
                args.append(current)
                i = text.index(after: i)
            }
            if name.isEmpty { throw SampleError(calls.isEmpty ? "missing fetch method" : "missing converter name") }
            calls.append(Call(name: name, args: args))
            if i < text.endIndex {
                guard text[i] == "," else { throw SampleError("unexpected character '\(text[i])' after '\(name)'") }
                i = text.index(after: i)
                if i == text.endIndex { throw SampleError("missing converter name") }
            }
        }
        guard let fetch = calls.first else { throw SampleError("missing fetch method") }
        guard let arity = fetches[fetch.name] else {
            throw SampleError("unknown fetch method '\(fetch.name)'")
        }
        guard arity.contains(fetch.args.count) else {
            throw SampleError("fetch method '\(fetch.name)' : expects \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") argument(s), got \(fetch.args.count)")
        }
        if fetch.name == "var" {
            do throws(SampleError) { _ = try VariableName(parsing: fetch.args[0]) } catch {
                throw SampleError("invalid args in fetch method 'var' : \(error.description)")
            }
        }
        if fetch.name == "date", fetch.args.count == 2, !["s", "ms", "us"].contains(fetch.args[1]) {
            throw SampleError("invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got '\(fetch.args[1])'")
        }
        var converters = Array(calls.dropFirst())
        for k in converters.indices {
            let conv = converters[k]
            guard let a = converterArity[conv.name] else { throw SampleError("unknown converter '\(conv.name)'") }
            guard a.contains(conv.args.count) else {
                throw SampleError("converter '\(conv.name)' : expects \(a.lowerBound == a.upperBound ? "\(a.lowerBound)" : "\(a.lowerBound) to \(a.upperBound)") argument(s), got \(conv.args.count)")
            }
            converters[k].compiled = try CompiledConverter.compile(conv)
        }
        var e = SampleExpression(fetch: fetch, converters: converters)
        e.constantValue = e.constant
        e.isVariable = fetch.name == "var"
        e.singleValued = singleValuedFetches.contains(fetch.name)
        e.fetchID = FetchID(fetch.name)
        return e
    }

    /// The value, or nil when the fetch has none here or a converter fails (HAProxy then logs `-`
    /// and rules see "not found").
    public func evaluate(_ source: some SampleSource) -> SampleValue? {
        // The variables are looked up only when something reads them (a retain otherwise).
        guard var v = constantValue ?? (isVariable ? Converters.fetchVariable(fetch.args, source.variables)
                                                   : source.fetch(fetchID, fetch.name, fetch.args))
        else { return nil }
        if converters.isEmpty { return v }
        let vars = source.variables
        for c in converters {
            guard let next = Self.convert(v, c, vars) else { return nil }
            v = next
        }
        return v
    }

    /// Every value (each header occurrence, each cookie of that name), converted: what an ACL tests.
    public func evaluateAll(_ source: some SampleSource) -> [SampleValue] {
        let vars = source.variables
        let values = constantValue.map { [$0] }
            ?? (isVariable ? Converters.fetchVariable(fetch.args, vars).map { [$0] } ?? [] : source.fetchAll(fetch.name, fetch.args))
        guard !converters.isEmpty else { return values }
        return values.compactMap { value in
            var v = value
            for c in converters {
                guard let next = Self.convert(v, c, vars) else { return nil }
                v = next
            }
            return v
        }
    }

    /// The fetches that need no session.
    var constant: SampleValue? {
        switch fetch.name {
        case "str": .string(fetch.args[0])
        case "int": Int64(fetch.args[0]).map(SampleValue.int)
        case "bool": .bool(fetch.args[0] == "1" || fetch.args[0] == "true")
        case "always_true": .bool(true)
        case "always_false": .bool(false)
        default: nil
        }
    }

    static func convert(_ v: SampleValue, _ c: Call, _ vars: VariableStore? = nil) -> SampleValue? {
        func intArg(_ k: Int) -> Int64? { k < c.args.count ? Int64(c.args[k]) : nil }
        switch c.name {
        // haproxy changes ASCII letters only (tolower/toupper on each byte).
        case "lower": return .string(String(decoding: v.text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self))
        case "upper": return .string(String(decoding: v.text.utf8.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }, as: UTF8.self))
        case "length": return .int(Int64(v.text.utf8.count))
        case "hex": return .string(v.text.utf8.map { String(format2: $0) }.joined())
        case "base64": return .string(Base64.encode(Array(v.text.utf8)))
        case "b64dec": return Base64.decode(v.text).map { .string(String(decoding: $0, as: UTF8.self)) }
        case "bytes":
            let bytes = Array(v.text.utf8)
            guard let off = intArg(0), off >= 0 else { return nil }
            let start = min(Int(off), bytes.count)
            let len = intArg(1).map { Int($0) } ?? (bytes.count - start)
            return .string(String(decoding: bytes[start..<min(bytes.count, start + max(0, len))], as: UTF8.self))
        case "field", "word":
            guard let idx = intArg(0), idx != 0, c.args.count >= 2 else { return nil }
            let delims = Set(c.args[1])
            var parts = v.text.split(omittingEmptySubsequences: c.name == "word") { delims.contains($0) }.map(String.init)
            if c.name == "field" && v.text.isEmpty { parts = [""] }
            let count = intArg(2).map(Int.init) ?? 1
            let n = Int(idx)
            let first = n > 0 ? n - 1 : parts.count + n
            guard first >= 0, first < parts.count else { return c.name == "field" ? .string("") : nil }
            let last = count == 0 ? parts.count : min(parts.count, first + count)
            let sep = String(c.args[1].first ?? " ")
            return .string(parts[first..<last].joined(separator: sep))
        case "add", "sub", "mul", "div", "mod", "and", "or", "xor":
            guard let a = v.asInt, let b = intArg(0) ?? Converters.variableOperand(c, vars) else { return nil }
            switch c.name {
            case "add": return .int(a &+ b)
            case "sub": return .int(a &- b)
            case "mul": return .int(a &* b)
            case "div": return b == 0 ? .int(Int64.max) : .int(a / b)
            case "mod": return b == 0 ? .int(0) : .int(a % b)
            case "and": return .int(a & b)
            case "or": return .int(a | b)
            default: return .int(a ^ b)
            }
        case "neg": return v.asInt.map { .int(-$0) }
        case "not": return v.asInt.map { .bool($0 == 0) }
        case "bool": return v.asInt.map { .bool($0 != 0) }
        case "even": return v.asInt.map { .bool($0 % 2 == 0) }
        case "odd": return v.asInt.map { .bool($0 % 2 != 0) }
        case "ltrim": return .string(String(v.text.drop { c.args[0].contains($0) }))
        case "rtrim": return .string(String(v.text.reversed().drop { c.args[0].contains($0) }.reversed()))
        case "json":
            // `ascii` (the default) escapes every byte above 0x7E as \u00XX, as haproxy does; the
            // utf8 modes keep valid UTF-8 (a String always is).
            let ascii = c.args.first.map { $0.isEmpty || $0 == "ascii" } ?? true
            var out = ""
            for u in v.text.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "/": out += "\\/"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if u.value < 0x20 {
                        out += "\\u" + String(format4: UInt16(u.value))
                    } else if ascii && u.value > 0x7E {
                        for b in String(u).utf8 { out += "\\u" + String(format4: UInt16(b)) }
                    } else {
                        out.unicodeScalars.append(u)
                    }
                }
            }
            return .string(out)
        case "sdbm", "djb2", "wt6", "crc32":
            // The same functions as `hash-type` (Balancing); `1` as argument adds the avalanche.
            let kind: HashFunctionKind = c.name == "sdbm" ? .sdbm : c.name == "djb2" ? .djb2 : c.name == "wt6" ? .wt6 : .crc32
            var h = Hashing.hash(v.text, function: kind)
            if c.args.first == "1" { h = Hashing.avalanche(h) }
            return .int(Int64(h))
        case "ipmask":
            let parts = v.text.split(separator: ".").compactMap { UInt32($0) }
            guard parts.count == 4, let bits = Int(c.args[0]) ?? maskBits(c.args[0]), (0...32).contains(bits) else { return nil }
            let ip = parts.reduce(UInt32(0)) { ($0 << 8) | $1 }
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            let m = ip & mask
            return .string("\(m >> 24).\((m >> 16) & 255).\((m >> 8) & 255).\(m & 255)")
        case "url_dec":
            return .string(URLDecoding.decode(v.text, plusIsSpace: c.args.first.map { $0 == "1" } ?? false))
        case "regsub": return Converters.regsub(v, c)
        case "concat": return Converters.concat(v, c, vars)
        case "set-var": return Converters.setVar(v, c, vars)
        case "unset-var": return Converters.unsetVar(v, c, vars)
        case "strcmp": return Converters.strcmp(v, c, vars)
        case "secure_memcmp": return Converters.secureMemcmp(v, c, vars)
        case "xxh3", "xxh32", "xxh64": return Converters.xxhash(v, c)
        case "http_date": return Converters.httpDate(v, c)
        case "utime", "ltime": return Converters.formatTime(v, c)
        case "url_enc": return Converters.urlEncode(v)
        case _ where c.name.hasPrefix("map"): return Converters.map(v, c)
        default:
            return nil
        }
    }

    static func maskBits(_ dotted: String) -> Int? {
        let parts = dotted.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4 else { return nil }
        let m = parts.reduce(UInt32(0)) { ($0 << 8) | $1 }
        return m.nonzeroBitCount
    }
}

extension String {
    init(format2 byte: UInt8) {
        let digits = Array("0123456789ABCDEF")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    init(format4 value: UInt16) {
        let digits = Array("0123456789abcdef")
        self = String((0..<4).reversed().map { digits[Int((value >> (UInt16($0) * 4)) & 15)] })
    }
}

/// Standard base64 (the `base64`/`b64dec` converters, Basic credentials).
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for c in text.utf8 where c != UInt8(ascii: "=") {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(v))
        }
        var out: [UInt8] = []
        var i = 0
        while i + 1 < values.count {
            out.append(values[i] << 2 | values[i + 1] >> 4)
            if i + 2 < values.count { out.append((values[i + 1] & 15) << 4 | values[i + 2] >> 2) }
            if i + 3 < values.count { out.append((values[i + 2] & 3) << 6 | values[i + 3]) }
            i += 4
        }
        return out
    }
}

enum URLDecoding {
    static func decode(_ s: String, plusIsSpace: Bool) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let h = URINormalizer.hexValue(b[i + 1]),
               let l = URINormalizer.hexValue(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(plusIsSpace && b[i] == UInt8(ascii: "+") ? 32 : b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
