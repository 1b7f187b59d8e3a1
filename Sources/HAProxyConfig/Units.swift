// Time and size values as HAProxy reads them.

public enum Units {
    /// Parses a time value: a number with an optional unit `us`, `ms`, `s`, `m`, `h`, `d`
    /// (no unit = milliseconds). Returns the error text HAProxy would print on failure.
    public static func parseTime(_ text: String) -> Result<Duration, UnitError> {
        let (digits, unit) = splitNumber(text)
        guard !digits.isEmpty, let value = Int64(digits) else {
            if let c = text.first { return .failure(.unexpectedCharacter(c)) }
            return .failure(.empty)
        }
        let micros: Int64
        switch unit {
        case "", "ms": micros = 1000
        case "us": micros = 1
        case "s": micros = 1_000_000
        case "m": micros = 60_000_000
        case "h": micros = 3_600_000_000
        case "d": micros = 86_400_000_000
        default: return .failure(.unexpectedCharacter(unit.first!))
        }
        let (total, overflow) = value.multipliedReportingOverflow(by: micros)
        // HAProxy keeps timers in milliseconds on 31 bits (~24.8 days).
        guard !overflow, total / 1000 <= Int64(Int32.max) else { return .failure(.overflow) }
        return .success(.microseconds(total))
    }

    /// Parses a size: a number with an optional `k`, `m`, `g` suffix (1024-based, case-insensitive).
    public static func parseSize(_ text: String) -> Result<Int, UnitError> {
        let (digits, unit) = splitNumber(text)
        guard !digits.isEmpty, let value = Int(digits) else {
            if let c = text.first { return .failure(.unexpectedCharacter(c)) }
            return .failure(.empty)
        }
        let factor: Int
        switch unit.lowercased() {
        case "": factor = 1
        case "k": factor = 1024
        case "m": factor = 1024 * 1024
        case "g": factor = 1024 * 1024 * 1024
        default: return .failure(.unexpectedCharacter(unit.first!))
        }
        let (total, overflow) = value.multipliedReportingOverflow(by: factor)
        guard !overflow else { return .failure(.overflow) }
        return .success(total)
    }

    /// Parses a plain (optionally signed) integer.
    public static func parseInt(_ text: String) -> Int? {
        guard !text.isEmpty else { return nil }
        return Int(text)
    }

    static func splitNumber(_ text: String) -> (String, String) {
        var digits = ""
        var rest = Substring(text)
        while let c = rest.first, c.isASCII, c.isNumber {
            digits.append(c)
            rest = rest.dropFirst()
        }
        return (digits, String(rest))
    }
}

public enum UnitError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case unexpectedCharacter(Character)
    case overflow
    public var description: String {
        switch self {
        case .overflow: return "value too large (timers are limited to 2147483647 ms, ~24.8 days)"
        case .empty: return "missing value"
        case let .unexpectedCharacter(c): return "unexpected character '\(c)'"
        }
    }
}
