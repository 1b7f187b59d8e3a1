// Byte-level helpers for the renderer and the syslog headers: numbers, dates and HAProxy's
// escapes written straight into a [UInt8], no Foundation.

@usableFromInline let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
let monthNames: [[UInt8]] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].map { Array($0.utf8) }

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendString(_ s: String) {
        if s.utf8.withContiguousStorageIfAvailable({ self.append(contentsOf: $0) }) == nil {
            append(contentsOf: s.utf8)
        }
    }

    /// Decimal, with a '-' for negative values.
    mutating func appendDecimal(_ value: Int64) {
        var magnitude = value.magnitude
        if value < 0 { append(UInt8(ascii: "-")) }
        if magnitude < 10 {
            append(UInt8(truncatingIfNeeded: magnitude) &+ 0x30)
            return
        }
        var digits = 0
        var m = magnitude
        while m > 0 { digits += 1; m /= 10 }
        let end = count + digits
        append(contentsOf: repeatElement(0, count: digits))
        var i = end - 1
        while magnitude > 0 {
            self[i] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 0x30
            magnitude /= 10
            i -= 1
        }
    }

    @inline(__always) mutating func appendDecimal(_ value: Int) { appendDecimal(Int64(value)) }

    /// Zero-padded decimal of exactly `width` digits (value must fit).
    @inline(__always) mutating func appendPadded(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            append(UInt8(truncatingIfNeeded: (v / divisor) % 10) &+ 0x30)
            v %= divisor
            divisor /= 10
        }
    }

    /// Upper-case hex with at least `minDigits` digits (printf "%0NX").
    mutating func appendHex(_ value: UInt64, minDigits: Int) {
        var digits = 1
        var m = value >> 4
        while m > 0 { digits += 1; m >>= 4 }
        if digits < minDigits { append(contentsOf: repeatElement(UInt8(ascii: "0"), count: minDigits - digits)) }
        var shift = (digits - 1) * 4
        while shift >= 0 {
            append(hexDigits[Int((value >> UInt64(shift)) & 0xF)])
            shift -= 4
        }
    }
}

/// A broken-down UTC time (civil-from-days, proleptic Gregorian).
struct CivilTime {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    init(epochSeconds s: Int) {
        var days = s / 86_400
        var rem = s % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        hour = rem / 3600
        minute = (rem % 3600) / 60
        second = rem % 60
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }
}

extension Array where Element == UInt8 {
    /// `dd/Mon/yyyy:HH:MM:SS` (HAProxy's date in %t, %tr, %T, ...).
    mutating func appendCLFDate(_ c: CivilTime) {
        appendPadded(c.day, width: 2)
        append(UInt8(ascii: "/"))
        append(contentsOf: monthNames[c.month - 1])
        append(UInt8(ascii: "/"))
        appendPadded(c.year, width: 4)
        append(UInt8(ascii: ":"))
        appendClock(c)
    }

    @inline(__always) mutating func appendClock(_ c: CivilTime) {
        appendPadded(c.hour, width: 2)
        append(UInt8(ascii: ":"))
        appendPadded(c.minute, width: 2)
        append(UInt8(ascii: ":"))
        appendPadded(c.second, width: 2)
    }

    /// `dd/Mon/yyyy:HH:MM:SS.mmm` (%t, %tr).
    mutating func appendDateMillis(_ t: LogTime) {
        appendCLFDate(CivilTime(epochSeconds: t.seconds))
        append(UInt8(ascii: "."))
        appendPadded(t.microseconds / 1000, width: 3)
    }

    /// `dd/Mon/yyyy:HH:MM:SS +0000` (%T, %trg, and %Tl, %trl with the zone fixed to UTC).
    mutating func appendDateGMT(_ t: LogTime) {
        appendCLFDate(CivilTime(epochSeconds: t.seconds))
        append(contentsOf: [0x20, 0x2B, 0x30, 0x30, 0x30, 0x30])  // " +0000"
    }

    /// `Mmm dd HH:MM:SS` with a space-padded day (RFC3164 header).
    mutating func appendRFC3164Date(_ t: LogTime) {
        let c = CivilTime(epochSeconds: t.seconds)
        append(contentsOf: monthNames[c.month - 1])
        append(UInt8(ascii: " "))
        if c.day < 10 { append(UInt8(ascii: " ")) }
        appendDecimal(c.day)
        append(UInt8(ascii: " "))
        appendClock(c)
    }

    /// `yyyy-mm-ddTHH:MM:SS.uuuuuu+00:00` (RFC5424, timed and iso headers).
    mutating func appendISODate(_ t: LogTime) {
        let c = CivilTime(epochSeconds: t.seconds)
        appendPadded(c.year, width: 4)
        append(UInt8(ascii: "-"))
        appendPadded(c.month, width: 2)
        append(UInt8(ascii: "-"))
        appendPadded(c.day, width: 2)
        append(UInt8(ascii: "T"))
        appendClock(c)
        append(UInt8(ascii: "."))
        appendPadded(t.microseconds, width: 6)
        append(contentsOf: Array("+00:00".utf8))
    }
}

/// HAProxy's character classes for logged strings (src/log.c init_log): the url map ('"', '#' and
/// anything outside 32..126) used for %r and %H*; the header map adds '{', '|', '}' for captures.
/// Escaped bytes become '#' and two upper-case hex digits. The E flag then backslash-escapes
/// '"', '\' and ']' among the remaining bytes.
enum LogEncoding {
    case none, url, header

    @inline(__always) func needsHex(_ c: UInt8) -> Bool {
        switch self {
        case .none: return false
        case .url: return c < 0x20 || c >= 0x7F || c == 0x22 || c == 0x23
        case .header: return c < 0x20 || c >= 0x7F || c == 0x22 || c == 0x23 || c == 0x7B || c == 0x7C || c == 0x7D
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendEncoded<S: Sequence>(_ bytes: S, _ encoding: LogEncoding, escape: Bool) where S.Element == UInt8 {
        for c in bytes {
            if encoding.needsHex(c) {
                append(UInt8(ascii: "#"))
                append(hexDigits[Int(c >> 4)])
                append(hexDigits[Int(c & 0xF)])
            } else if escape && (c == 0x22 || c == 0x5C || c == 0x5D) {
                append(0x5C)
                append(c)
            } else {
                append(c)
            }
        }
    }

    mutating func appendEncoded(_ s: String, _ encoding: LogEncoding, escape: Bool) {
        if encoding == .none && !escape {
            appendString(s)
        } else if s.utf8.withContiguousStorageIfAvailable({ self.appendEncoded($0, encoding, escape: escape) }) == nil {
            appendEncoded(s.utf8, encoding, escape: escape)
        }
    }
}

/// Address bytes of a textual IPv4/IPv6 address (for the X flag), nil when it is neither.
func ipAddressBytes(_ text: String) -> [UInt8]? {
    if let v4 = ipv4Bytes(Substring(text)) { return v4 }
    return ipv6Bytes(text)
}

private func ipv4Bytes(_ s: Substring) -> [UInt8]? {
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var out: [UInt8] = []
    for p in parts {
        guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(p), v <= 255 else { return nil }
        out.append(UInt8(v))
    }
    return out
}

private func ipv6Bytes(_ text: String) -> [UInt8]? {
    var s = Substring(text)
    if s.hasPrefix("[") && s.hasSuffix("]") { s = s.dropFirst().dropLast() }
    if let pct = s.firstIndex(of: "%") { s = s[..<pct] }
    guard s.contains(":") else { return nil }
    func groups(_ part: Substring) -> [UInt8]? {
        if part.isEmpty { return [] }
        var out: [UInt8] = []
        let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
        for (k, piece) in pieces.enumerated() {
            if k == pieces.count - 1, piece.contains(".") {
                guard let v4 = ipv4Bytes(piece) else { return nil }
                out += v4
            } else {
                guard !piece.isEmpty, piece.count <= 4, let v = UInt16(piece, radix: 16) else { return nil }
                out += [UInt8(v >> 8), UInt8(v & 0xFF)]
            }
        }
        return out
    }
    let chars = Array(s.utf8)
    var gap: Int?
    for k in 0..<max(chars.count - 1, 0) where chars[k] == 0x3A && chars[k + 1] == 0x3A {
        if gap != nil { return nil }  // two "::"
        gap = k
    }
    guard let g = gap else {
        guard let all = groups(s), all.count == 16 else { return nil }
        return all
    }
    let headText = Substring(String(decoding: chars[..<g], as: UTF8.self))
    let tailText = Substring(String(decoding: chars[(g + 2)...], as: UTF8.self))
    guard let head = groups(headText), let tail = groups(tailText), head.count + tail.count <= 14 else { return nil }
    return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
}
