// Extraction of the hash key for the HTTP-based `balance` algorithms.
// All helpers return slices of their input (no copies, no allocation).

public enum HashKeys {
    private static let slash = UInt8(ascii: "/")
    private static let question = UInt8(ascii: "?")
    private static let amp = UInt8(ascii: "&")
    private static let equal = UInt8(ascii: "=")
    private static let dot = UInt8(ascii: ".")
    private static let colon = UInt8(ascii: ":")
    private static let hash = UInt8(ascii: "#")

    /// `balance uri [whole] [len N] [depth N] [path-only]`: the part of the request
    /// target that is hashed.
    ///
    /// - `pathOnly`: an absolute target (`scheme://authority/path`) is reduced to
    ///   its path starting at the first `/` after the authority (empty if there is none).
    /// - `length`: only the first N bytes are considered (nil or ≤ 0: no limit).
    /// - `depth`: at most N directory levels: the key stops before the (N+1)-th `/`
    ///   (nil or ≤ 0: no limit).
    /// - `whole`: the query string is included; otherwise the key stops at the first `?`.
    ///
    /// If both `length` and `depth` are given, evaluation stops at whichever is
    /// reached first. An empty result means "no key": the caller should balance
    /// as if the key were absent (round robin), like HAProxy does.
    public static func uri(_ target: Substring, whole: Bool, length: Int?, depth: Int?, pathOnly: Bool) -> Substring {
        let u = target.utf8
        var start = u.startIndex
        let end = u.endIndex
        if pathOnly, start < end, u[start] != slash {
            start = pathStart(u)
        }
        // length limit, in bytes
        var limit = end
        if let length, length > 0 {
            limit = u.index(start, offsetBy: length, limitedBy: end) ?? end
        }
        let maxSlashes = (depth ?? 0) > 0 ? depth! + 1 : Int.max
        var slashes = 0
        var i = start
        while i < limit {
            let c = u[i]
            if c == slash {
                slashes += 1
                if slashes == maxSlashes { break }
            } else if c == question && !whole {
                break
            }
            u.formIndex(after: &i)
        }
        return Substring(u[start..<i])
    }

    /// Start of the path of an absolute-form target: just after `scheme://authority`.
    /// Returns the end index when the target has no path.
    private static func pathStart(_ u: Substring.UTF8View) -> Substring.UTF8View.Index {
        var i = u.startIndex
        let end = u.endIndex
        // look for "://" before any '/'
        while i < end {
            let c = u[i]
            if c == colon {
                let a = u.index(after: i)
                if a < end, u[a] == slash {
                    let b = u.index(after: a)
                    if b < end, u[b] == slash {
                        var j = u.index(after: b)
                        while j < end, u[j] != slash { u.formIndex(after: &j) }
                        return j
                    }
                }
                // a colon not followed by "//": not a scheme separator
            } else if c == slash || c == question {
                break
            }
            u.formIndex(after: &i)
        }
        // Not an absolute URI with authority: the first '/' starts the path.
        i = u.startIndex
        while i < end, u[i] != slash { u.formIndex(after: &i) }
        return i
    }

    /// `balance url_param NAME`: the value of the first `NAME=value` parameter
    /// (case-sensitive name) in the query string of `target`, nil when the
    /// parameter is absent or has no value (HAProxy then uses round robin).
    public static func urlParam(_ target: Substring, name: String) -> Substring? {
        let u = target.utf8
        let end = u.endIndex
        guard var i = u.firstIndex(of: question) else { return nil }
        u.formIndex(after: &i)
        var n = name
        return n.withUTF8 { nameBytes -> Substring? in
            while i < end {
                // one parameter: [i, pend)
                var pend = i
                while pend < end, u[pend] != amp, u[pend] != hash { u.formIndex(after: &pend) }
                // compare name
                var j = i
                var k = 0
                while k < nameBytes.count, j < pend, u[j] == nameBytes[k] {
                    k += 1
                    u.formIndex(after: &j)
                }
                if k == nameBytes.count, j < pend, u[j] == equal {
                    let vstart = u.index(after: j)
                    if vstart < pend { return Substring(u[vstart..<pend]) }
                }
                if pend == end || u[pend] == hash { return nil }
                i = u.index(after: pend)
            }
            return nil
        }
    }

    /// `balance hdr(NAME) use_domain_only`: the main domain part of a Host-like
    /// value, i.e. the label just before the last dot
    /// ("haproxy.1wt.eu" → "1wt", "www.example.com:8080" → "example").
    /// A value without any dot is returned whole.
    public static func domainOnly(_ value: Substring) -> Substring {
        let u = value.utf8
        guard let lastDot = u.lastIndex(of: dot) else { return value }
        var start = lastDot
        while start > u.startIndex {
            let p = u.index(before: start)
            if u[p] == dot { break }
            start = p
        }
        return Substring(u[start..<lastDot])
    }
}
