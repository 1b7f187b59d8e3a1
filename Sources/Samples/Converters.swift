// The converters of configuration.txt 7.3.1 that need more than their input: map files, regular
// expressions, variables, hashes with a seed, dates. Their arguments are checked and compiled once,
// when the configuration is read (`CompiledConverter`), with haproxy's error wording.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular expression over bytes, as haproxy's PCRE (no UTF mode) sees its input: every byte is
/// one character, `\w`, `\d`, `\s` and `[:classes:]` are ASCII.
struct ByteRegex: @unchecked Sendable {
    let source: String
    let regex: Regex<AnyRegexOutput>

    init(_ source: String, ignoreCase: Bool) throws(SampleError) {
        do {
            var r = try Regex(ByteRegex.latin1(Array(source.utf8)))
            r = r.matchingSemantics(.unicodeScalar).asciiOnlyCharacterClasses()
            if ignoreCase { r = r.ignoresCase() }
            regex = r
        } catch {
            throw SampleError("regex '\(source)' is invalid (\(error))")
        }
        self.source = source
    }

    /// Each byte as the scalar of the same value.
    static func latin1(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b)) }
        return String(s)
    }

    /// The byte ranges of the first match and its groups (nil: a group that did not take part).
    func firstMatch(_ bytes: [UInt8]) -> [Range<Int>?]? {
        let s = ByteRegex.latin1(bytes)
        guard let m = try? regex.firstMatch(in: s) else { return nil }
        return ByteRegex.groups(m, in: s)
    }

    /// Every match, left to right, as `sed s///g` finds them.
    func allMatches(_ bytes: [UInt8]) -> [[Range<Int>?]] {
        let s = ByteRegex.latin1(bytes)
        return s.matches(of: regex).map { ByteRegex.groups($0, in: s) }
    }

    static func groups(_ m: Regex<AnyRegexOutput>.Match, in s: String) -> [Range<Int>?] {
        let scalars = s.unicodeScalars
        func offset(_ i: String.Index) -> Int { scalars.distance(from: scalars.startIndex, to: i) }
        return m.output.map { group in group.range.map { offset($0.lowerBound)..<offset($0.upperBound) } }
    }
}

/// What a converter's arguments compile to.
public final class CompiledConverter: @unchecked Sendable, Equatable {
    enum Kind {
        case map(MapFile, defaultValue: SampleValue?)
        case regsub(ByteRegex, substitution: [UInt8], global: Bool)
        case concat(start: String, variable: VariableName?, end: String)
        case setVar(VariableName, conditions: [String])
        /// `unset-var`, `strcmp`, `secure_memcmp`, and the arithmetic converters given a variable.
        case variable(VariableName)
        case seed(UInt64)
        case httpDate(offset: Int64, unit: Int64)
        case time(format: String, offset: Int64)
    }

    let name: String
    let args: [String]
    let kind: Kind

    init(_ call: SampleExpression.Call, _ kind: Kind) {
        name = call.name
        args = call.args
        self.kind = kind
    }

    /// The same converter written the same way.
    public static func == (a: CompiledConverter, b: CompiledConverter) -> Bool { a.name == b.name && a.args == b.args }

    /// Checks and compiles the arguments of the converters that have some to compile (nil for the
    /// others). Errors are haproxy's: "invalid args in converter 'X' : ..." without the final period.
    public static func compile(_ call: SampleExpression.Call) throws(SampleError) -> CompiledConverter? {
        let name = call.name, args = call.args
        func invalid(_ message: String) -> SampleError { SampleError("invalid args in converter '\(name)' : \(message)") }
        func integer(_ k: Int) throws(SampleError) -> Int64? {
            guard k < args.count else { return nil }
            guard let n = Int64(args[k]) else {
                throw SampleError("invalid arg \(k + 1) in converter '\(name)' : failed to parse '\(args[k])' as type 'integer' at position \(k + 1)")
            }
            return n
        }
        func variable(_ text: String, register: Bool) throws(SampleError) -> VariableName {
            do throws(SampleError) {
                return try VariableName(parsing: text)
            } catch {
                throw invalid(register ? "failed to register variable name '\(text)'" : error.description)
            }
        }
        if let (match, output) = MapFile.kind(ofConverter: name) {
            let file: MapFile
            do throws(SampleError) {
                file = try MapFile(path: args.first ?? "", match: match, output: output)
            } catch {
                throw invalid(error.description)
            }
            var defaultValue: SampleValue?
            if args.count > 1 {
                guard let d = MapFile.parseValue(args[1], output) else {
                    throw SampleError("invalid arg 2 in converter '\(name)' : failed to parse '\(args[1])' as type '\(output == .int ? "integer" : "ip")' at position 2")
                }
                defaultValue = d
            }
            return CompiledConverter(call, .map(file, defaultValue: defaultValue))
        }
        switch name {
        case "regsub":
            guard !args[0].isEmpty else { throw SampleError("missing regex in arg 1 of conversion keyword 'regsub'") }
            var global = false, ignoreCase = false
            for f in args.count > 2 ? args[2] : "" {
                switch f {
                case "g": global = true
                case "i": ignoreCase = true
                default: throw invalid("invalid regex flag '\(f)', only 'i' and 'g' are supported")
                }
            }
            let regex: ByteRegex
            do throws(SampleError) {
                regex = try ByteRegex(args[0], ignoreCase: ignoreCase)
            } catch {
                throw SampleError("error in regex '\(args[0])' in arg 1 of conversion keyword 'regsub' : \(error.description)")
            }
            return CompiledConverter(call, .regsub(regex, substitution: Array(args[1].utf8), global: global))
        case "concat":
            let v = args.count > 1 && !args[1].isEmpty ? try variable(args[1], register: true) : nil
            return CompiledConverter(call, .concat(start: args.first ?? "", variable: v, end: args.count > 2 ? args[2] : ""))
        case "set-var":
            let v = try variable(args[0], register: false)
            for c in args.dropFirst() where !VariableName.setConditions.contains(c) { throw invalid("unknown condition \"\(c)\"") }
            return CompiledConverter(call, .setVar(v, conditions: Array(args.dropFirst())))
        case "unset-var":
            return CompiledConverter(call, .variable(try variable(args[0], register: false)))
        case "strcmp", "secure_memcmp":
            guard !args[0].isEmpty else { throw invalid("missing variable name") }
            return CompiledConverter(call, .variable(try variable(args[0], register: true)))
        case "add", "sub", "mul", "div", "mod", "and", "or", "xor":
            if args[0].isEmpty || Int64(args[0]) != nil { return nil }
            guard let v = try? VariableName(parsing: args[0]) else { throw invalid("expects an integer or a variable name") }
            return CompiledConverter(call, .variable(v))
        case "xxh3", "xxh32", "xxh64":
            return CompiledConverter(call, .seed(UInt64(bitPattern: try integer(0) ?? 0)))
        case "http_date":
            let offset = try integer(0) ?? 0
            var unit: Int64 = 1
            if args.count > 1 {
                switch args[1] {
                case "s": unit = 1
                case "ms": unit = 1000
                case "us": unit = 1_000_000
                default: throw invalid("expects 's', 'ms' or 'us', got '\(args[1])'")
                }
            }
            return CompiledConverter(call, .httpDate(offset: offset, unit: unit))
        case "utime", "ltime":
            return CompiledConverter(call, .time(format: args[0], offset: try integer(1) ?? 0))
        case "url_enc":
            if let t = args.first, t != "query" { throw invalid("Unexpected encode type. Allowed value is 'query'") }
            return nil
        default:
            return nil
        }
    }
}

/// The conversions themselves; nil = the converter fails (no value).
enum Converters {
    /// The arity of the converters implemented here (merged into `SampleExpression.converterArity`).
    static let arity: [String: ClosedRange<Int>] = {
        var a: [String: ClosedRange<Int>] = [
            "regsub": 2...3, "concat": 0...3, "set-var": 1...5, "unset-var": 1...1, "strcmp": 1...1,
            "secure_memcmp": 1...1, "xxh3": 0...1, "xxh32": 0...1, "xxh64": 0...1, "http_date": 0...2,
            "utime": 1...2, "ltime": 1...2, "url_enc": 0...1,
        ]
        for n in MapFile.converterNames { a[n] = 1...2 }
        return a
    }()

    /// The integer a string holds for haproxy's casts: optional sign, then the leading digits;
    /// nil for an empty string.
    static func leadingInt(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard !b.isEmpty else { return nil }
        var i = 0
        var negative = false
        if b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+") {
            negative = b[0] == UInt8(ascii: "-")
            i = 1
        }
        var n: Int64 = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            n = n &* 10 &+ Int64(b[i] - 48)
            i += 1
        }
        return negative ? -n : n
    }

    // MARK: maps

    static func map(_ v: SampleValue, _ c: SampleExpression.Call) -> SampleValue? {
        guard case .map(let file, let defaultValue)? = c.compiled?.kind else { return nil }
        switch file.lookup(v) {
        case .badInput: return nil
        case .notFound: return defaultValue
        case .found(let value): return value
        }
    }

    // MARK: regsub

    static func regsub(_ v: SampleValue, _ c: SampleExpression.Call) -> SampleValue? {
        guard case .regsub(let regex, let substitution, let global)? = c.compiled?.kind else { return nil }
        let input = Array(v.text.utf8)
        let matches = global ? regex.allMatches(input) : regex.firstMatch(input).map { [$0] } ?? []
        var out: [UInt8] = []
        var position = 0
        for groups in matches {
            guard let whole = groups.first ?? nil else { continue }
            out += input[position..<whole.lowerBound]
            guard let replaced = substitute(substitution, groups: groups, in: input) else { return nil }
            out += replaced
            position = whole.upperBound
        }
        out += input[position...]
        return .string(String(decoding: out, as: UTF8.self))
    }

    /// haproxy's substitution text: `\0`..`\9` are the groups (empty when absent), `\xHH` a byte,
    /// `\c` the character c; nil for a trailing `\` or an incomplete `\x`.
    static func substitute(_ template: [UInt8], groups: [Range<Int>?], in input: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var i = 0
        func hexValue(_ c: UInt8) -> UInt8 {
            let u = c >= 97 && c <= 122 ? c - 32 : c
            let d = u &- 48
            return d > 9 ? d &- 7 : d
        }
        while i < template.count {
            let c = template[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < template.count else { return nil }
            let e = template[i]
            if e >= 48, e <= 57 {
                let k = Int(e - 48)
                if k < groups.count, let r = groups[k] { out += input[r] }
                i += 1
            } else if e == UInt8(ascii: "x") {
                guard i + 2 < template.count else { return nil }
                out.append(hexValue(template[i + 1]) << 4 | hexValue(template[i + 2]) & 15)
                i += 3
            } else {
                out.append(e)
                i += 1
            }
        }
        return out
    }

    // MARK: variables

    static func store(_ vars: VariableStore?, _ name: VariableName) -> SampleValue? {
        if let vars { return vars.get(name) }
        return name.scope == .proc ? ProcessVariables.shared.get(name.fullName) : nil
    }

    /// The `var(name[,default])` fetch: the stored value, else the default as a string.
    static func fetchVariable(_ args: [String], _ vars: VariableStore?) -> SampleValue? {
        guard let name = try? VariableName(parsing: args[0]) else { return nil }
        return store(vars, name) ?? (args.count > 1 ? .string(args[1]) : nil)
    }

    static func concat(_ v: SampleValue, _ c: SampleExpression.Call, _ vars: VariableStore?) -> SampleValue? {
        guard case .concat(let start, let variable, let end)? = c.compiled?.kind else { return nil }
        var s = v.text + start
        if let variable, let value = store(vars, variable) { s += value.text }
        return .string(s + end)
    }

    static func setVar(_ v: SampleValue, _ c: SampleExpression.Call, _ vars: VariableStore?) -> SampleValue? {
        guard case .setVar(let name, let conditions)? = c.compiled?.kind else { return nil }
        guard conditions.isEmpty || VariableName.conditionsHold(conditions, current: store(vars, name), new: v) else { return nil }
        if let vars {
            vars.set(name, v)
        } else if name.scope == .proc {
            ProcessVariables.shared.set(name.fullName, v)
        }
        return v
    }

    static func unsetVar(_ v: SampleValue, _ c: SampleExpression.Call, _ vars: VariableStore?) -> SampleValue? {
        guard case .variable(let name)? = c.compiled?.kind else { return nil }
        if let vars {
            vars.unset(name)
        } else if name.scope == .proc {
            ProcessVariables.shared.set(name.fullName, nil)
        }
        return v
    }

    /// strcmp(3) over bytes: the difference of the first differing bytes, else -1/0/1 by length.
    static func strcmp(_ v: SampleValue, _ c: SampleExpression.Call, _ vars: VariableStore?) -> SampleValue? {
        guard case .variable(let name)? = c.compiled?.kind, let other = store(vars, name) else { return nil }
        let a = Array(v.text.utf8), b = Array(other.text.utf8)
        for (x, y) in zip(a, b) where x != y { return .int(Int64(x) - Int64(y)) }
        return .int(a.count == b.count ? 0 : a.count > b.count ? 1 : -1)
    }

    /// Equal bytes, compared in constant time when the lengths are equal.
    static func secureMemcmp(_ v: SampleValue, _ c: SampleExpression.Call, _ vars: VariableStore?) -> SampleValue? {
        guard case .variable(let name)? = c.compiled?.kind, let other = store(vars, name) else { return nil }
        let a = Array(v.text.utf8), b = Array(other.text.utf8)
        guard a.count == b.count else { return .bool(false) }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return .bool(diff == 0)
    }

    /// The operand of an arithmetic converter written as a variable name (cast to an integer).
    static func variableOperand(_ c: SampleExpression.Call, _ vars: VariableStore?) -> Int64? {
        guard case .variable(let name)? = c.compiled?.kind, let value = store(vars, name) else { return nil }
        return MapFile.intInput(value)
    }

    // MARK: hashes

    static func xxhash(_ v: SampleValue, _ c: SampleExpression.Call) -> SampleValue? {
        guard case .seed(let seed)? = c.compiled?.kind else { return nil }
        // haproxy hashes an integer as its 8 bytes in network order.
        let bytes: [UInt8] = if case .int(let i) = v { withUnsafeBytes(of: i.bigEndian) { Array($0) } } else { Array(v.text.utf8) }
        switch c.name {
        case "xxh32": return .int(Int64(XXHash.xxh32(bytes, seed: UInt32(truncatingIfNeeded: seed))))
        case "xxh64": return .int(Int64(bitPattern: XXHash.xxh64(bytes, seed: seed)))
        default: return .int(Int64(bitPattern: XXHash.xxh3(bytes, seed: seed)))
        }
    }

    // MARK: dates

    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Tue, 14 Nov 2023 22:13:20 GMT` (with `.mmm` or `.uuuuuu` for the ms and us units).
    static func httpDate(_ v: SampleValue, _ c: SampleExpression.Call) -> SampleValue? {
        guard case .httpDate(let offset, let unit)? = c.compiled?.kind, let n = MapFile.intInput(v) else { return nil }
        let total = n &+ offset
        var seconds = time_t(total / unit)
        var fraction = total % unit
        if fraction < 0 {
            fraction += unit
            seconds -= 1
        }
        var tm = tm()
        guard gmtime_r(&seconds, &tm) != nil else { return nil }
        func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : "\(x)" }
        var s = "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
        s += "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
        if unit > 1 {
            let digits = unit == 1000 ? 3 : 6
            let f = String(fraction)
            s += "." + String(repeating: "0", count: max(0, digits - f.count)) + f
        }
        return .string(s + " GMT")
    }

    /// strftime(3) in UTC (`utime`) or local time (`ltime`).
    static func formatTime(_ v: SampleValue, _ c: SampleExpression.Call) -> SampleValue? {
        guard case .time(let format, let offset)? = c.compiled?.kind, let n = MapFile.intInput(v) else { return nil }
        var t = time_t(n &+ offset)
        var tm = tm()
        if c.name == "utime" {
            guard gmtime_r(&t, &tm) != nil else { return nil }
        } else {
            guard localtime_r(&t, &tm) != nil else { return nil }
        }
        var buffer = [CChar](repeating: 0, count: 1024)
        let count = strftime(&buffer, buffer.count, format, &tm)
        return .string(String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    // MARK: url_enc

    /// The `query` encoding: everything but letters, digits and `-._~` as `%XX`.
    static func urlEncode(_ v: SampleValue) -> SampleValue? {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in v.text.utf8 {
            if URINormalizer.isUnreserved(b) { out.append(b) } else { out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]] }
        }
        return .string(String(decoding: out, as: UTF8.self))
    }
}
