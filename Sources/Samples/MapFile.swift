// The map files of the `map*` converters (configuration.txt 7.3.1 "map"): one `key value` per
// line, loaded once when the configuration is read, looked up with one of the ACL matching
// methods. Keys matched with `str`, `beg` and `ip` are kept in trees by haproxy (the exact key,
// the longest prefix, the longest network win); the other methods take the first matching line.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a map's keys are matched (`map_<match>`).
public enum MapMatch: String, Sendable, CaseIterable {
    case str, beg, sub, dir, dom, end, reg, regm, int, ip
}

/// What a map's values are (`map_<match>_<output>`, `str` when not written).
public enum MapOutput: String, Sendable {
    case str, int, ip
}

/// One loaded map file.
public final class MapFile: @unchecked Sendable {
    struct Entry {
        var key: [UInt8]
        var value: SampleValue
        /// The raw value, for `map_regm` substitutions.
        var rawValue: [UInt8]
        var regex: ByteRegex?
        var low: Int64?
        var high: Int64?
        var network: IPNetwork?
    }

    public let path: String
    public let match: MapMatch
    public let output: MapOutput
    private(set) var entries: [Entry] = []
    /// `str`: the first line of each key.
    private var exact: [[UInt8]: Int] = [:]

    /// The map converters' names: `map`, `map_<match>`, `map_<match>_<int|ip>` (no `map_regm_*`).
    public static func kind(ofConverter name: String) -> (MapMatch, MapOutput)? {
        if name == "map" { return (.str, .str) }
        guard name.hasPrefix("map_") else { return nil }
        let parts = name.dropFirst(4).split(separator: "_", omittingEmptySubsequences: false)
        guard let first = parts.first, let m = MapMatch(rawValue: String(first)) else { return nil }
        if parts.count == 1 { return (m, .str) }
        guard parts.count == 2, m != .regm, let o = MapOutput(rawValue: String(parts[1])), o != .str else { return nil }
        return (m, o)
    }

    /// Every map converter name haproxy 2.6 knows.
    public static let converterNames: [String] = {
        var names = ["map"]
        for m in MapMatch.allCases {
            names.append("map_\(m.rawValue)")
            if m != .regm {
                names.append("map_\(m.rawValue)_int")
                names.append("map_\(m.rawValue)_ip")
            }
        }
        return names
    }()

    /// Reads and compiles the file (relative paths from the current directory, as haproxy).
    /// Errors are haproxy's, without the trailing period.
    public init(path: String, match: MapMatch, output: MapOutput) throws(SampleError) {
        self.path = path
        self.match = match
        self.output = output
        guard let bytes = MapFile.readFile(path) else { throw SampleError("failed to open pattern file <\(path)>") }
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
            var i = line.startIndex
            while i < line.endIndex, isBlank(line[i]) { i += 1 }
            var end = line.endIndex
            while end > i, isBlank(line[end - 1]) || line[end - 1] == 0x0D { end -= 1 }
            guard i < end, line[i] != UInt8(ascii: "#") else { continue }
            var k = i
            while k < end, !isBlank(line[k]) { k += 1 }
            let key = Array(line[i..<k])
            var v = k
            while v < end, isBlank(line[v]) { v += 1 }
            let raw = Array(line[v..<end])
            try add(key: key, rawValue: raw, line: lineNumber)
        }
    }

    private func add(key: [UInt8], rawValue: [UInt8], line: Int) throws(SampleError) {
        let keyText = String(decoding: key, as: UTF8.self)
        let valueText = String(decoding: rawValue, as: UTF8.self)
        guard let value = MapFile.parseValue(valueText, output) else {
            throw SampleError("unable to parse '\(valueText)' at line \(line) of file '\(path)'")
        }
        var e = Entry(key: key, value: value, rawValue: rawValue)
        switch match {
        case .str:
            if exact[key] == nil { exact[key] = entries.count }
        case .reg, .regm:
            do throws(SampleError) {
                e.regex = try ByteRegex(keyText, ignoreCase: false)
            } catch {
                throw SampleError("\(error.description) at line \(line) of file '\(path)'")
            }
        case .int:
            guard let (lo, hi) = MapFile.parseIntKey(keyText) else {
                throw SampleError("'\(keyText)' is not a number at line \(line) of file '\(path)'")
            }
            e.low = lo
            e.high = hi
        case .ip:
            guard let n = IPNetwork(keyText) else {
                throw SampleError("'\(keyText)' is not a valid IPv4 or IPv6 address at line \(line) of file '\(path)'")
            }
            e.network = n
        default:
            break
        }
        entries.append(e)
    }

    /// A value (or a default) of the map's output type; nil when it does not parse.
    static func parseValue(_ text: String, _ output: MapOutput) -> SampleValue? {
        switch output {
        case .str: return .string(text)
        case .int: return Int64(text).map(SampleValue.int)
        case .ip:
            guard let b = IPNetwork.parseAddress(text) else { return nil }
            return .string(formatAddress(b))
        }
    }

    /// An integer key: `N`, or a range `A:B` / `A-B` with either bound omitted.
    static func parseIntKey(_ text: String) -> (Int64?, Int64?)? {
        if let n = Int64(text), !text.hasPrefix("-") { return (n, n) }
        guard let sep = text.firstIndex(where: { $0 == ":" || $0 == "-" }) else { return nil }
        let lo = text[..<sep], hi = text[text.index(after: sep)...]
        let l = lo.isEmpty ? nil : Int64(lo), h = hi.isEmpty ? nil : Int64(hi)
        guard lo.isEmpty || l != nil, hi.isEmpty || h != nil, !(lo.isEmpty && hi.isEmpty) else { return nil }
        return (l, h)
    }

    static func formatAddress(_ b: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: 64)
        var bytes = b
        let family = b.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeMutableBytes { inet_ntop(family, $0.baseAddress, &out, socklen_t(out.count)) }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    public enum Lookup: Equatable {
        /// The input cannot be turned into the map's key type: the converter fails.
        case badInput
        case notFound
        case found(SampleValue)
    }

    /// The value of the first (or finest) matching line.
    public func lookup(_ input: SampleValue) -> Lookup {
        switch match {
        case .int:
            guard let n = Self.intInput(input) else { return .badInput }
            for e in entries where (e.low.map { n >= $0 } ?? true) && (e.high.map { n <= $0 } ?? true) {
                return .found(e.value)
            }
            return .notFound
        case .ip:
            let address: [UInt8]
            if case .int(let i) = input {
                let u = UInt32(truncatingIfNeeded: i)
                address = [UInt8(u >> 24), UInt8((u >> 16) & 255), UInt8((u >> 8) & 255), UInt8(u & 255)]
            } else {
                guard let a = IPNetwork.parseAddress(input.text) else { return .badInput }
                address = a
            }
            return lookupAddress(address).map { .found($0) } ?? .notFound
        default:
            break
        }
        let text = Array(input.text.utf8)
        switch match {
        case .str:
            return exact[text].map { .found(entries[$0].value) } ?? .notFound
        case .beg:
            var best: Int?
            for (k, e) in entries.enumerated() where e.key.count <= text.count && text.starts(with: e.key) {
                if best == nil || e.key.count > entries[best!].key.count { best = k }
            }
            return best.map { .found(entries[$0].value) } ?? .notFound
        case .reg:
            for e in entries where e.regex?.firstMatch(text) != nil { return .found(e.value) }
            return .notFound
        case .regm:
            for e in entries {
                guard let groups = e.regex?.firstMatch(text) else { continue }
                guard let out = Converters.substitute(e.rawValue, groups: groups, in: text) else { return .badInput }
                return .found(.string(String(decoding: out, as: UTF8.self)))
            }
            return .notFound
        default:
            let s = input.text
            for e in entries {
                let key = String(decoding: e.key, as: UTF8.self)
                let hit: Bool
                switch match {
                case .sub: hit = e.key.isEmpty || Self.contains(text, e.key)
                case .end: hit = e.key.count <= text.count && text.suffix(e.key.count).elementsEqual(e.key)
                case .dir: hit = ACLTerm.matchWord(s, key, delimiters: [UInt8(ascii: "/"), UInt8(ascii: "?")])
                default:
                    hit = ACLTerm.matchWord(s, key, delimiters: [UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "."), UInt8(ascii: ":")])
                }
                if hit { return .found(e.value) }
            }
            return .notFound
        }
    }

    /// haproxy's longest-prefix lookup: the address's own family first, then the other one
    /// (an IPv4 address as `::ffff:a.b.c.d`, a v4-mapped IPv6 address as IPv4).
    private func lookupAddress(_ address: [UInt8]) -> SampleValue? {
        func longest(_ addr: [UInt8]) -> SampleValue? {
            var best: Entry?
            for e in entries {
                guard let n = e.network, n.bytes.count == addr.count, n.contains(addr) else { continue }
                if best == nil || n.prefix > best!.network!.prefix { best = e }
            }
            return best?.value
        }
        if let v = longest(address) { return v }
        if address.count == 4 {
            return longest([UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + address)
        }
        if address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            return longest(Array(address[12...]))
        }
        return nil
    }

    /// haproxy's string-to-integer cast: an optional sign and the leading digits ("12ab" = 12,
    /// "ab" = 0); an empty string has no value.
    static func intInput(_ v: SampleValue) -> Int64? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .string(let s): return Converters.leadingInt(s)
        }
    }

    static func contains(_ text: [UInt8], _ key: [UInt8]) -> Bool {
        guard key.count <= text.count else { return false }
        var i = 0
        while i + key.count <= text.count {
            if text[i] == key[0], text[i..<(i + key.count)].elementsEqual(key) { return true }
            i += 1
        }
        return false
    }
}
