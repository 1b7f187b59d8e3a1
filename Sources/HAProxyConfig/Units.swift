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
        switch unit {
        case "", "ms": return .success(.milliseconds(value))
        case "us": return .success(.microseconds(value))
        case "s": return .success(.seconds(value))
        case "m": return .success(.seconds(value * 60))
        case "h": return .success(.seconds(value * 3600))
        case "d": return .success(.seconds(value * 86400))
        default: return .failure(.unexpectedCharacter(unit.first!))
        }
    }

    /// Parses a size: a number with an optional `k`, `m`, `g` suffix (1024-based, case-insensitive).
    public static func parseSize(_ text: String) -> Result<Int, UnitError> {
        let (digits, unit) = splitNumber(text)
        guard !digits.isEmpty, let value = Int(digits) else {
            if let c = text.first { return .failure(.unexpectedCharacter(c)) }
            return .failure(.empty)
        }
        switch unit.lowercased() {
        case "": return .success(value)
        case "k": return .success(value * 1024)
        case "m": return .success(value * 1024 * 1024)
        case "g": return .success(value * 1024 * 1024 * 1024)
        default: return .failure(.unexpectedCharacter(unit.first!))
        }
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
    public var description: String {
        switch self {
        case .empty: return "missing value"
        case let .unexpectedCharacter(c): return "unexpected character '\(c)'"
        }
    }
}
