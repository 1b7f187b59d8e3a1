// `http-request normalize-uri NORMALIZER [option]`: the URI normalizers of haproxy 2.6, from its
// documentation and measured on the binary. Path normalizers work on the path (after any
// scheme://authority, up to the first '?'); percent ones on the whole path and query;
// query-sort-by-name on everything after the first '?' (a fragment included); fragment ones from
// the first '#'.

public enum URINormalizer: Sendable, Hashable {
    case fragmentEncode, fragmentStrip, pathMergeSlashes, pathStripDot
    case pathStripDotdot(full: Bool)
    case percentDecodeUnreserved(strict: Bool)
    case percentToUppercase(strict: Bool)
    case querySortByName

    /// The names haproxy accepts, in its order.
    public static let names = ["fragment-encode", "fragment-strip", "path-merge-slashes", "path-strip-dot", "path-strip-dotdot",
                               "percent-decode-unreserved", "percent-to-uppercase", "query-sort-by-name"]

    /// The normalizer a name and its option word (`full`, `strict`, or nil) make; nil when unknown.
    public init?(name: String, option: String?) {
        switch (name, option) {
        case ("fragment-encode", nil): self = .fragmentEncode
        case ("fragment-strip", nil): self = .fragmentStrip
        case ("path-merge-slashes", nil): self = .pathMergeSlashes
        case ("path-strip-dot", nil): self = .pathStripDot
        case ("path-strip-dotdot", nil): self = .pathStripDotdot(full: false)
        case ("path-strip-dotdot", "full"): self = .pathStripDotdot(full: true)
        case ("percent-decode-unreserved", nil): self = .percentDecodeUnreserved(strict: false)
        case ("percent-decode-unreserved", "strict"): self = .percentDecodeUnreserved(strict: true)
        case ("percent-to-uppercase", nil): self = .percentToUppercase(strict: false)
        case ("percent-to-uppercase", "strict"): self = .percentToUppercase(strict: true)
        case ("query-sort-by-name", nil): self = .querySortByName
        default: return nil
        }
    }

    /// The option word this normalizer takes, if any.
    public static func option(of name: String) -> String? {
        switch name {
        case "path-strip-dotdot": "full"
        case "percent-decode-unreserved", "percent-to-uppercase": "strict"
        default: nil
        }
    }

    /// The normalized request target; nil when a strict normalizer finds an invalid sequence
    /// (haproxy answers 400).
    public func apply(_ target: String) -> String? {
        var bytes = Array(target.utf8)
        // Keep scheme://authority of an absolute-form target as it is.
        var start = 0
        if bytes.first != UInt8(ascii: "/"), let sep = Self.find(bytes, "://") {
            start = bytes[(sep + 3)...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
        }
        let prefix = bytes[..<start]
        var rest = Array(bytes[start...])
        switch self {
        case .fragmentEncode:
            var out: [UInt8] = []
            out.reserveCapacity(rest.count + 8)
            for b in rest {
                if b == UInt8(ascii: "#") { out += Array("%23".utf8) } else { out.append(b) }
            }
            rest = out
        case .fragmentStrip:
            if let i = rest.firstIndex(of: UInt8(ascii: "#")) { rest.removeSubrange(i...) }
        case .pathMergeSlashes, .pathStripDot, .pathStripDotdot:
            let end = rest.firstIndex(of: UInt8(ascii: "?")) ?? rest.count
            let path = Array(rest[..<end])
            let normalized: [UInt8]
            switch self {
            case .pathMergeSlashes: normalized = Self.mergeSlashes(path)
            case .pathStripDot: normalized = Self.stripDot(path)
            case .pathStripDotdot(let full): normalized = Self.stripDotdot(path, full: full)
            default: normalized = path
            }
            rest = normalized + rest[end...]
        case .percentDecodeUnreserved(let strict):
            guard let r = Self.percentDecodeUnreserved(rest, strict: strict) else { return nil }
            rest = r
        case .percentToUppercase(let strict):
            guard let r = Self.percentToUppercase(rest, strict: strict) else { return nil }
            rest = r
        case .querySortByName:
            if let q = rest.firstIndex(of: UInt8(ascii: "?")) {
                rest = Array(rest[...q]) + Self.sortQuery(Array(rest[(q + 1)...]))
            }
        }
        bytes = Array(prefix) + rest
        return String(decoding: bytes, as: UTF8.self)
    }

    static func find(_ bytes: [UInt8], _ needle: String) -> Int? {
        let n = Array(needle.utf8)
        return bytes.indices.first { bytes[$0...].starts(with: n) }
    }

    static func mergeSlashes(_ path: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.count)
        for b in path where !(b == UInt8(ascii: "/") && out.last == UInt8(ascii: "/")) { out.append(b) }
        return out
    }

    /// The segments after the leading '/' ("/a//b/" -> ["a", "", "b", ""]); nil without a leading '/'.
    static func segments(_ path: [UInt8]) -> [ArraySlice<UInt8>]? {
        guard path.first == UInt8(ascii: "/") else { return nil }
        return path.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    }

    static func join(_ segments: [ArraySlice<UInt8>]) -> [UInt8] {
        var out: [UInt8] = []
        for s in segments { out.append(UInt8(ascii: "/")); out += s }
        return out.isEmpty ? [UInt8(ascii: "/")] : out
    }

    /// "/./" segments go ("/." -> "/", "/a/./a" -> "/a/a").
    static func stripDot(_ path: [UInt8]) -> [UInt8] {
        guard let segs = segments(path) else { return path }
        var out: [ArraySlice<UInt8>] = []
        for (i, s) in segs.enumerated() {
            if s.elementsEqual([UInt8(ascii: ".")]) {
                // A final "." leaves the directory's trailing slash.
                if i == segs.count - 1 { out.append([]) }
                continue
            }
            out.append(s)
        }
        return join(out)
    }

    /// "seg/.." pairs go (an empty segment is one too); a leading ".." stays unless `full`.
    static func stripDotdot(_ path: [UInt8], full: Bool) -> [UInt8] {
        guard let segs = segments(path) else { return path }
        let dotdot: [UInt8] = [UInt8(ascii: "."), UInt8(ascii: ".")]
        var out: [ArraySlice<UInt8>] = []
        for (i, s) in segs.enumerated() {
            guard s.elementsEqual(dotdot) else { out.append(s); continue }
            if let top = out.last, !top.elementsEqual(dotdot) {
                out.removeLast()
            } else if !full {
                out.append(s)
                continue
            }
            // A final ".." leaves the directory's trailing slash.
            if i == segs.count - 1 { out.append([]) }
        }
        return join(out)
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
    }

    static func percentDecodeUnreserved(_ s: [UInt8], strict: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == UInt8(ascii: "%") {
                if i + 2 < s.count, let h = hexValue(s[i + 1]), let l = hexValue(s[i + 2]) {
                    let c = h << 4 | l
                    if isUnreserved(c) { out.append(c) } else { out += s[i...(i + 2)] }
                    i += 3
                    continue
                }
                if strict { return nil }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    static func percentToUppercase(_ s: [UInt8], strict: Bool) -> [UInt8]? {
        var out = s
        var i = 0
        while i < s.count {
            if s[i] == UInt8(ascii: "%") {
                if i + 2 < s.count, hexValue(s[i + 1]) != nil, hexValue(s[i + 2]) != nil {
                    for k in (i + 1)...(i + 2) where s[k] >= UInt8(ascii: "a") && s[k] <= UInt8(ascii: "f") { out[k] = s[k] - 32 }
                    i += 3
                    continue
                }
                if strict { return nil }
            }
            i += 1
        }
        return out
    }

    /// '&'-separated parameters, stably sorted by name (the bytes before '=').
    static func sortQuery(_ q: [UInt8]) -> [UInt8] {
        let params = q.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false)
        guard params.count > 1 else { return q }
        func name(_ p: ArraySlice<UInt8>) -> ArraySlice<UInt8> { p.prefix { $0 != UInt8(ascii: "=") } }
        let sorted = params.enumerated().sorted { a, b in
            let na = name(a.element), nb = name(b.element)
            if na.elementsEqual(nb) { return a.offset < b.offset }
            return na.lexicographicallyPrecedes(nb)
        }
        var out: [UInt8] = []
        out.reserveCapacity(q.count)
        for (k, p) in sorted.enumerated() {
            if k > 0 { out.append(UInt8(ascii: "&")) }
            out += p.element
        }
        return out
    }
}
