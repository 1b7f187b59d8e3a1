// HAProxy's ACLs: `acl NAME fetch[,conv...] [-i] [-m method] [-f file] [--] patterns...`, the derived
// keywords (`path_beg`, `hdr_sub(host)`, ...), the matching methods of section 7.1 and the
// predefined ACLs of section 7.4. Parsed once (with haproxy's error wording), evaluated against a
// `SampleSource`. Pure Swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a sample is compared with the patterns (configuration.txt 7.1).
public enum MatchMethod: String, Sendable, CaseIterable {
    case found, bool, int, ip, bin, len, str, sub, reg, beg, end, dir, dom
}

/// The type a fetch (or its last converter) returns, which decides the default matching method.
enum SampleType { case bool, int, ip, string }

/// An address block: `10.0.0.0/8`, `::1`, `192.168.0.1/255.255.0.0`.
public struct IPNetwork: Sendable, Equatable {
    public var bytes: [UInt8]
    public var prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let b = IPNetwork.parseAddress(String(first)) else { return nil }
        bytes = b
        if parts.count == 2 {
            if let n = Int(parts[1]), n >= 0, n <= b.count * 8 {
                prefix = n
            } else if let m = IPNetwork.parseAddress(String(parts[1])), m.count == b.count {
                prefix = m.reduce(0) { $0 + $1.nonzeroBitCount }
            } else {
                return nil
            }
        } else {
            prefix = b.count * 8
        }
    }

    /// 4 or 16 bytes, or nil.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        if text.contains(":") {
            var a = in6_addr()
            guard text.withCString({ inet_pton(AF_INET6, $0, &a) }) == 1 else { return nil }
            return withUnsafeBytes(of: &a) { Array($0) }
        }
        var a = in_addr()
        guard text.withCString({ inet_pton(AF_INET, $0, &a) }) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }

    public func contains(_ address: [UInt8]) -> Bool {
        var addr = address
        // An IPv4-mapped IPv6 address matches IPv4 blocks, and an IPv4 one matches mapped blocks.
        if addr.count == 16, bytes.count == 4, addr[0..<10].allSatisfy({ $0 == 0 }), addr[10] == 0xFF, addr[11] == 0xFF {
            addr = Array(addr[12...])
        } else if addr.count == 4, bytes.count == 16 {
            addr = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + addr
        }
        guard addr.count == bytes.count else { return false }
        var remaining = prefix
        for i in 0..<addr.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if addr[i] & mask != bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// A compiled regular expression (haproxy uses PCRE; Swift's regex syntax is PCRE-like).
public struct ACLRegex: @unchecked Sendable {
    public let source: String
    let regex: Regex<AnyRegexOutput>

    public init(_ source: String, ignoreCase: Bool) throws(SampleError) {
        do {
            var r = try Regex(source)
            if ignoreCase { r = r.ignoresCase() }
            regex = r
        } catch {
            throw SampleError("regex '\(source)' is invalid (\(error)).")
        }
        self.source = source
    }

    public func matches(_ text: String) -> Bool {
        (try? regex.firstMatch(in: text)) != nil
    }

    /// The groups of the first match (0 = the whole match; nil for a group that did not take
    /// part), nil without a match.
    public func firstMatchGroups(_ text: String) -> [Substring?]? {
        guard let m = try? regex.firstMatch(in: text) else { return nil }
        return (0..<m.output.count).map { m.output[$0].substring }
    }

    /// haproxy's replace-header/-value/-path/-uri: the whole `text` becomes `template` with
    /// `\0`...`\9` replaced by the match's groups, nil when the regex does not match.
    public func replacingWhole(_ text: String, with template: String) -> String? {
        guard let groups = firstMatchGroups(text) else { return nil }
        var out = ""
        var it = template.makeIterator()
        while let c = it.next() {
            guard c == "\\" else { out.append(c); continue }
            guard let d = it.next() else { out.append(c); break }
            if let n = d.wholeNumberValue, d.isASCII {
                if n < groups.count, let g = groups[n] { out += g }
            } else {
                out.append(d)
            }
        }
        return out
    }
}

/// One pattern of an ACL line.
public enum ACLPattern: Sendable {
    case string(String)
    /// Inclusive bounds; nil = open.
    case range(Int64?, Int64?)
    case network(IPNetwork)
    case regex(ACLRegex)
    case bytes([UInt8])
}

/// One `acl` line (or the inside of `{ ... }`): a sample expression, a method and patterns.
public struct ACLTerm: Sendable {
    public var expression: SampleExpression
    public var method: MatchMethod
    public var ignoreCase: Bool
    public var patterns: [ACLPattern]

    /// Derived keywords: `path_beg` = `path` matched with `beg`, etc.
    static let derived: [String: (fetch: String, method: MatchMethod)] = {
        var d: [String: (String, MatchMethod)] = [:]
        let families: [(String, String)] = [
            ("path", "path"), ("url", "url"), ("base", "base"), ("hdr", "req.hdr"), ("cook", "req.cook"),
            ("urlp", "url_param"), ("shdr", "res.hdr"), ("scook", "res.cook"), ("ssl_fc_sni", "ssl_fc_sni"),
            ("req.ssl_sni", "req.ssl_sni"), ("req_ssl_sni", "req.ssl_sni"),
        ]
        let methods: [(String, MatchMethod)] = [
            ("beg", .beg), ("end", .end), ("sub", .sub), ("dir", .dir), ("dom", .dom), ("reg", .reg), ("len", .len),
        ]
        for (prefix, fetch) in families {
            for (suffix, m) in methods { d["\(prefix)_\(suffix)"] = (fetch, m) }
        }
        d["hdr_val"] = ("req.hdr", .int)
        d["hdr_ip"] = ("req.hdr", .ip)
        d["shdr_val"] = ("res.hdr", .int)
        d["shdr_ip"] = ("res.hdr", .ip)
        d["cook_val"] = ("req.cook", .int)
        d["scook_val"] = ("res.cook", .int)
        d["urlp_val"] = ("url_param", .int)
        d["url_param_val"] = ("url_param", .int)
        d["cook_cnt"] = ("req.cook_cnt", .int)
        d["req.hdr_val"] = ("req.hdr", .int)
        d["req.hdr_ip"] = ("req.hdr", .ip)
        return d
    }()

    /// The fetch names whose values are integers, addresses or booleans (the rest are strings).
    static func type(ofFetch name: String) -> SampleType {
        if StickFetches.arity[name] != nil { return StickFetches.isBoolean(name) ? .bool : .int }
        if PayloadFetches.integers.contains(name) { return .int }
        switch name {
        case "src", "dst": return .ip
        case "src_port", "dst_port", "status", "nbsrv", "hdr_cnt", "req.hdr_cnt", "req.cook_cnt", "cook_cnt", "fe_id",
             "be_id", "srv_id", "be_conn", "fe_conn", "queue", "avg_queue", "connslots", "date", "int", "req.len",
             "res.hdr_cnt", "shdr_cnt", "fc_http_major", "srv_is_up":
            return name == "srv_is_up" ? .bool : .int
        case "ssl_fc", "always_true", "always_false", "bool", "req.proto_http", "http_auth":
            return .bool
        default:
            return .string
        }
    }

    static func type(ofConverter name: String) -> SampleType {
        if let (_, output) = MapFile.kind(ofConverter: name) { return output == .int ? .int : output == .ip ? .ip : .string }
        switch name {
        case "length", "add", "sub", "mul", "div", "mod", "and", "or", "xor", "neg", "sdbm", "djb2", "wt6", "crc32",
             "xxh3", "xxh32", "xxh64", "strcmp":
            return .int
        case "not", "bool", "even", "odd", "secure_memcmp":
            return .bool
        case "ipmask":
            return .ip
        default:
            return .string
        }
    }

    /// The warning haproxy prints for an ACL with no pattern (it never matches).
    public static let noPatternWarning = """
        no pattern to match against were provided, so this ACL will never match.
          If this is what you intended, please add '--' to get rid of this warning.
          If you intended to match only for existence, please use '-m found'.
          If you wanted to force an int to match as a bool, please use '-m bool'.
        """

    /// Parses the words after the ACL name (`path_beg /a /b`, `hdr(host) -i -m dom example.com`).
    /// `readFile` returns the patterns of a `-f` file (one per line, `#` comments and blanks skipped).
    /// The warning, when there is one, is haproxy's "no pattern" warning.
    public static func parse(_ words: [String], readFile: (String) throws(SampleError) -> [String])
        throws(SampleError) -> (term: ACLTerm, warning: String?)
    {
        guard let keyword = words.first else { throw SampleError("missing ACL expression") }
        // The fetch, possibly a derived keyword, with arguments and converters.
        var exprText = keyword
        var derivedMethod: MatchMethod?
        let callName = String(keyword.prefix { $0 != "(" && $0 != "," })
        if let (fetch, m) = derived[callName] {
            exprText = fetch + keyword.dropFirst(callName.count)
            derivedMethod = m
        }
        let expression: SampleExpression
        do throws(SampleError) {
            expression = try SampleExpression.parse(exprText)
        } catch {
            if error.description.hasPrefix("unknown fetch method") {
                throw SampleError("unknown fetch method '\(callName)' in ACL expression '\(keyword)'.")
            }
            throw SampleError("\(error.description) in ACL expression '\(keyword)'.")
        }
        // The derived method only holds without converters (then the converter's type decides).
        var method = expression.converters.isEmpty ? derivedMethod : nil
        var outputType = type(ofFetch: expression.fetch.name)
        for c in expression.converters { outputType = type(ofConverter: c.name) }
        var ignoreCase = false
        var fileWords: [String] = []
        var i = 1
        var explicitEnd = false
        while i < words.count, words[i].hasPrefix("-") {
            let flag = words[i]
            switch flag {
            case "-i": ignoreCase = true
            case "-n", "-u": break
            case "--": explicitEnd = true
            case "-m":
                guard i + 1 < words.count else { throw SampleError("missing matching method when parsing ACL expression.") }
                guard let m = MatchMethod(rawValue: words[i + 1]) else {
                    throw SampleError("unknown matching method '\(words[i + 1])' when parsing ACL expression.")
                }
                method = m
                i += 1
            case "-f":
                guard i + 1 < words.count else { throw SampleError("missing filename when parsing ACL expression.") }
                fileWords += try readFile(words[i + 1])
                i += 1
            default:
                throw SampleError("'\(flag)' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'.")
            }
            i += 1
            if explicitEnd { break }
        }
        let m = method ?? {
            switch outputType {
            case .bool: .bool
            case .int: .int
            case .ip: .ip
            case .string: .str
            }
        }()
        let words = fileWords + words[i...]
        var patterns: [ACLPattern] = []
        var j = words.startIndex
        while j < words.endIndex {
            let w = words[j]
            switch m {
            case .found, .bool:
                throw SampleError("'\(w)' : the '\(m.rawValue)' matching method takes no pattern.")
            case .int, .len:
                // `eq|ge|gt|le|lt N` or `A:B`, `:B`, `A:`, `N`.
                if ["eq", "ge", "gt", "le", "lt"].contains(w) {
                    guard j + 1 < words.endIndex else { throw SampleError("missing value after '\(w)'.") }
                    let v = words[j + 1]
                    guard let n = Int64(v) else { throw SampleError("'\(v)' is not a number.") }
                    switch w {
                    case "eq": patterns.append(.range(n, n))
                    case "ge": patterns.append(.range(n, nil))
                    case "gt": patterns.append(.range(n &+ 1, nil))
                    case "le": patterns.append(.range(nil, n))
                    default: patterns.append(.range(nil, n &- 1))
                    }
                    j += 1
                } else if let colon = w.firstIndex(of: ":") {
                    let lo = w[..<colon], hi = w[w.index(after: colon)...]
                    let l = lo.isEmpty ? nil : Int64(lo), h = hi.isEmpty ? nil : Int64(hi)
                    guard lo.isEmpty || l != nil, hi.isEmpty || h != nil else { throw SampleError("'\(w)' is not a number.") }
                    patterns.append(.range(l, h))
                } else {
                    guard let n = Int64(w) else { throw SampleError("'\(w)' is not a number.") }
                    patterns.append(.range(n, n))
                }
            case .ip:
                guard let n = IPNetwork(w) else { throw SampleError("'\(w)' is not a valid IPv4 or IPv6 address.") }
                patterns.append(.network(n))
            case .reg:
                patterns.append(.regex(try ACLRegex(w, ignoreCase: ignoreCase)))
            case .bin:
                guard let b = hexBytes(w) else { throw SampleError("'\(w)' is not a valid hexadecimal binary string.") }
                patterns.append(.bytes(b))
            case .str, .sub, .beg, .end, .dir, .dom:
                patterns.append(.string(ignoreCase ? w.lowercased() : w))
            }
            j += 1
        }
        let warning = patterns.isEmpty && !explicitEnd && m != .found && m != .bool ? noPatternWarning : nil
        return (ACLTerm(expression: expression, method: m, ignoreCase: ignoreCase, patterns: patterns), warning)
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let c = Array(s.utf8)
        guard c.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < c.count {
            guard let h = UInt8(String(decoding: c[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(h)
            i += 2
        }
        return out
    }

    /// True when one of the fetched values matches one of the patterns.
    public func matches(_ source: some SampleSource) -> Bool {
        if expression.singleValued {
            guard let value = expression.evaluate(source) else { return false }
            return matches(value)
        }
        for value in expression.evaluateAll(source) where matches(value) { return true }
        return false
    }

    /// haproxy compares bytes (String's hasPrefix/hasSuffix compare characters, and slowly).
    static func bytesHavePrefix(_ text: String, _ prefix: String) -> Bool {
        let t = text.utf8, p = prefix.utf8
        guard p.count <= t.count else { return false }
        return t.withContiguousStorageIfAvailable { tb in
            p.withContiguousStorageIfAvailable { pb in tb.prefix(pb.count).elementsEqual(pb) }
        }.flatMap { $0 } ?? t.starts(with: p)
    }

    static func bytesHaveSuffix(_ text: String, _ suffix: String) -> Bool {
        let t = text.utf8, s = suffix.utf8
        guard s.count <= t.count else { return false }
        return t.withContiguousStorageIfAvailable { tb in
            s.withContiguousStorageIfAvailable { sb in tb.suffix(sb.count).elementsEqual(sb) }
        }.flatMap { $0 } ?? t.reversed().starts(with: s.reversed())
    }

    func matches(_ value: SampleValue) -> Bool {
        switch method {
        case .found: return true
        case .bool: return (value.asInt ?? (value.text.isEmpty ? 0 : 1)) != 0
        case .int:
            guard let n = value.asInt ?? Self.leadingInt(value.text) else { return false }
            return inRange(n)
        case .len:
            return inRange(Int64(value.text.utf8.count))
        case .ip:
            guard let a = IPNetwork.parseAddress(value.text) else { return false }
            return patterns.contains { if case .network(let n) = $0 { n.contains(a) } else { false } }
        case .reg:
            let text = value.text
            return patterns.contains { if case .regex(let r) = $0 { r.matches(text) } else { false } }
        case .bin:
            let b = Array(value.text.utf8)
            return patterns.contains { if case .bytes(let p) = $0 { p == b } else { false } }
        case .str, .sub, .beg, .end, .dir, .dom:
            let text = ignoreCase ? value.text.lowercased() : value.text
            for case .string(let p) in patterns {
                switch method {
                case .str: if text == p { return true }
                case .sub: if p.isEmpty || text.contains(p) { return true }
                case .beg: if Self.bytesHavePrefix(text, p) { return true }
                case .end: if Self.bytesHaveSuffix(text, p) { return true }
                case .dir: if Self.matchWord(text, p, delimiters: [UInt8(ascii: "/"), UInt8(ascii: "?")]) { return true }
                default:
                    if Self.matchWord(text, p, delimiters: [UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "."), UInt8(ascii: ":")]) { return true }
                }
            }
            return false
        }
    }

    func inRange(_ n: Int64) -> Bool {
        for case .range(let lo, let hi) in patterns where (lo.map { n >= $0 } ?? true) && (hi.map { n <= $0 } ?? true) {
            return true
        }
        return false
    }

    /// haproxy reads an integer from the start of a string (`strtol`); nothing numeric = no match.
    static func leadingInt(_ s: String) -> Int64? {
        var digits = Substring(s)
        var sign: Int64 = 1
        if digits.first == "-" { sign = -1; digits = digits.dropFirst() }
        let d = digits.prefix { $0.isASCII && $0.isNumber }
        return Int64(d).map { $0 * sign }
    }

    /// `dir`/`dom`: the pattern (its own leading/trailing delimiters ignored) appears in the text
    /// between delimiters or the ends of the text.
    static func matchWord(_ text: String, _ pattern: String, delimiters: Set<UInt8>) -> Bool {
        var p = Array(pattern.utf8)
        while let f = p.first, delimiters.contains(f) { p.removeFirst() }
        while let l = p.last, delimiters.contains(l) { p.removeLast() }
        let t = Array(text.utf8)
        guard !p.isEmpty else { return t.isEmpty || t.contains { delimiters.contains($0) } }
        guard p.count <= t.count else { return false }
        var start = 0
        while start + p.count <= t.count {
            let beforeOK = start == 0 || delimiters.contains(t[start - 1])
            let after = start + p.count
            if beforeOK, t[start..<after].elementsEqual(p), after == t.count || delimiters.contains(t[after]) { return true }
            start += 1
        }
        return false
    }
}

/// The ACLs haproxy predefines (configuration.txt 7.4), as the words of an `acl` line.
public enum PredefinedACLs {
    public static let words: [String: [String]] = [
        "FALSE": ["always_false"],
        "TRUE": ["always_true"],
        "HTTP": ["req.proto_http"],
        "HTTP_1.0": ["req.ver", "1.0"],
        "HTTP_1.1": ["req.ver", "1.1"],
        "HTTP_2.0": ["req.ver", "2.0"],
        "HTTP_CONTENT": ["req.hdr_val(content-length)", "gt", "0"],
        "HTTP_URL_ABS": ["url_reg", "^[^/:]*://"],
        "HTTP_URL_SLASH": ["url_beg", "/"],
        "HTTP_URL_STAR": ["url", "*"],
        "LOCALHOST": ["src", "127.0.0.1/8", "::1"],
        "METH_CONNECT": ["method", "CONNECT"],
        "METH_DELETE": ["method", "DELETE"],
        "METH_GET": ["method", "GET", "HEAD"],
        "METH_HEAD": ["method", "HEAD"],
        "METH_OPTIONS": ["method", "OPTIONS"],
        "METH_POST": ["method", "POST"],
        "METH_PUT": ["method", "PUT"],
        "METH_TRACE": ["method", "TRACE"],
    ]
}

/// `if|unless` followed by ACL names (`!` negates, `||`/`or` separates alternatives, juxtaposition
/// is AND) and anonymous ACLs in braces.
public struct ACLCondition: Sendable {
    public enum Ref: Sendable, Equatable {
        case named(String)
        case anonymous([String])
    }

    public struct Term: Sendable, Equatable {
        public var negated: Bool
        public var ref: Ref
    }

    public var unless: Bool
    /// OR of ANDs.
    public var alternatives: [[Term]]

    /// Parses the words from `if`/`unless` on. `known` tells whether an ACL name is declared
    /// (predefined names are always known).
    public static func parse(_ words: [String], known: (String) -> Bool) throws(SampleError) -> ACLCondition {
        guard let first = words.first, first == "if" || first == "unless" else {
            throw SampleError("expects 'if' or 'unless'")
        }
        var alternatives: [[Term]] = [[]]
        var i = 1
        var negate = false
        while i < words.count {
            var w = words[i]
            if w == "||" || w == "or" {
                alternatives.append([])
                i += 1
                continue
            }
            while w.hasPrefix("!") {
                negate.toggle()
                w.removeFirst()
            }
            if w.isEmpty { i += 1; continue }
            if w == "{" {
                guard let close = words[(i + 1)...].firstIndex(of: "}") else {
                    throw SampleError("missing closing '}' in condition.")
                }
                let inner = Array(words[(i + 1)..<close])
                guard !inner.isEmpty else { throw SampleError("empty anonymous ACL in condition.") }
                alternatives[alternatives.count - 1].append(Term(negated: negate, ref: .anonymous(inner)))
                i = close + 1
            } else {
                guard known(w) || PredefinedACLs.words[w] != nil else { throw SampleError("no such ACL : '\(w)'.") }
                alternatives[alternatives.count - 1].append(Term(negated: negate, ref: .named(w)))
                i += 1
            }
            negate = false
        }
        alternatives.removeAll { $0.isEmpty }
        return ACLCondition(unless: first == "unless", alternatives: alternatives)
    }
}

/// A condition with its ACLs compiled: what runs per request.
public struct CompiledCondition: Sendable {
    /// A class: evaluating walks the terms without copying their parts.
    final class Term: Sendable {
        let negated: Bool
        /// The lines of the ACL (same-named lines are ORed).
        let acl: [Line]

        init(negated: Bool, acl: [ACLTerm]) {
            self.negated = negated
            self.acl = acl.map(Line.init)
        }
    }

    final class Line: Sendable {
        let term: ACLTerm
        /// For `-m str|beg|end` without `-i`: the patterns' bytes, compared with a value's bytes
        /// in place (nil: the term's general matching).
        let bytePatterns: [[UInt8]]?

        init(_ term: ACLTerm) {
            self.term = term
            switch term.method {
            // (`where` binds to the last pattern only: each case says it.)
            case .str where !term.ignoreCase, .beg where !term.ignoreCase, .end where !term.ignoreCase:
                bytePatterns = term.patterns.compactMap { if case .string(let p) = $0 { Array(p.utf8) } else { nil } }
            default:
                bytePatterns = nil
            }
        }

        func matches(_ source: some SampleSource) -> Bool {
            guard bytePatterns != nil, term.expression.singleValued else { return term.matches(source) }
            guard let value = term.expression.evaluate(source) else { return false }
            guard case .string(var text) = value else { return term.matches(value) }
            let method = term.method
            return text.withUTF8 { t in
                // The patterns' arrays are the line's own (a `let`): read in place, not retained each.
                bytePatterns.unsafelyUnwrapped.withUnsafeBufferPointer { patterns in
                    for i in patterns.indices {
                        let hit: Bool = patterns[i].withUnsafeBufferPointer { pb in
                            let n = pb.count
                            guard n <= t.count else { return false }
                            if n == 0 { return method != .str || t.isEmpty }
                            if method == .str && n != t.count { return false }
                            let offset = method == .end ? t.count - n : 0
                            return memcmp(t.baseAddress! + offset, pb.baseAddress!, n) == 0
                        }
                        if hit { return true }
                    }
                    return false
                }
            }
        }
    }

    let unless: Bool
    let alternatives: [[Term]]

    /// `named` gives the terms of a declared ACL (nil for an unknown name: predefined then).
    public init(_ c: ACLCondition, named: (String) -> [ACLTerm]?) throws(SampleError) {
        unless = c.unless
        var alts: [[Term]] = []
        for group in c.alternatives {
            var terms: [Term] = []
            for t in group {
                switch t.ref {
                case .named(let name):
                    if let declared = named(name) {
                        terms.append(Term(negated: t.negated, acl: declared))
                    } else if let w = PredefinedACLs.words[name] {
                        terms.append(Term(negated: t.negated, acl: [try ACLTerm.parse(w, readFile: { _ in [] }).term]))
                    } else {
                        throw SampleError("no such ACL : '\(name)'.")
                    }
                case .anonymous(let words):
                    terms.append(Term(negated: t.negated, acl: [try ACLTerm.parse(words, readFile: { _ throws(SampleError) in
                        throw SampleError("'-f' is not supported in anonymous ACLs.")
                    }).term]))
                }
            }
            alts.append(terms)
        }
        alternatives = alts
    }

    /// An empty `if` matches (haproxy: a condition with no term is true).
    public func holds(_ source: some SampleSource) -> Bool {
        var result = alternatives.isEmpty
        for group in alternatives {
            var all = true
            for t in group where t.acl.contains(where: { $0.matches(source) }) == t.negated {
                all = false
                break
            }
            if all { result = true; break }
        }
        return unless ? !result : result
    }
}

/// For unit tests: the word matches of `dir` and `dom`.
public enum ACLTermTestHooks {
    public static func dom(_ text: String, _ pattern: String) -> Bool {
        ACLTerm.matchWord(text, pattern, delimiters: [UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "."), UInt8(ascii: ":")])
    }
    public static func dir(_ text: String, _ pattern: String) -> Bool {
        ACLTerm.matchWord(text, pattern, delimiters: [UInt8(ascii: "/"), UInt8(ascii: "?")])
    }
}
