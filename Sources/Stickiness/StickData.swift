// What a stick table stores: its key type and the data types of `store` (configuration.txt,
// `stick-table`). Pure Swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `stick-table type ...`.
public enum StickKeyType: String, Sendable, Hashable, CaseIterable {
    case ip, ipv6, integer, string, binary

    /// The default `len` of string and binary keys.
    public static let defaultLength = 32
}

/// The data types of `store` that Fulcrum keeps (haproxy 2.6 names).
public enum StickDataType: String, Sendable, Hashable, CaseIterable {
    case serverID = "server_id"
    case gpt0
    case gpc0
    case gpc0Rate = "gpc0_rate"
    case gpc1
    case gpc1Rate = "gpc1_rate"
    case connCnt = "conn_cnt"
    case connRate = "conn_rate"
    case connCur = "conn_cur"
    case sessCnt = "sess_cnt"
    case sessRate = "sess_rate"
    case httpReqCnt = "http_req_cnt"
    case httpReqRate = "http_req_rate"
    case httpErrCnt = "http_err_cnt"
    case httpErrRate = "http_err_rate"
    case httpFailCnt = "http_fail_cnt"
    case httpFailRate = "http_fail_rate"
    case bytesInCnt = "bytes_in_cnt"
    case bytesInRate = "bytes_in_rate"
    case bytesOutCnt = "bytes_out_cnt"
    case bytesOutRate = "bytes_out_rate"

    /// Rates take a period: `http_req_rate(10s)`.
    public var isRate: Bool { rawValue.hasSuffix("_rate") }

    /// Real haproxy 2.6 data types Fulcrum does not keep yet (arrays, server keys).
    public static let notYetSupported: Set<String> = ["gpc", "gpc_rate", "gpt", "server_key", "server_name"]
}

/// The data a table stores, with the period (ms) of each rate.
public struct StickStore: Sendable, Hashable {
    private var periods: [StickDataType: Int64] = [:]

    public init() {}

    public mutating func insert(_ type: StickDataType, period: Int64 = 0) { periods[type] = period }
    public func contains(_ type: StickDataType) -> Bool { periods[type] != nil }
    /// The period of a rate, in ms (0 when not stored).
    public func period(_ type: StickDataType) -> Int64 { periods[type] ?? 0 }
    public var types: [StickDataType] { StickDataType.allCases.filter { periods[$0] != nil } }
}

/// A key as a table stores it: IPv4 (4 bytes), IPv6 (16 bytes), string and binary keys as bytes,
/// integers as themselves.
public enum StickKey: Sendable, Hashable {
    case bytes([UInt8])
    case integer(Int64)

    /// The key for a sample value as text (what Fulcrum's fetches give), as haproxy converts it
    /// for a table of type `type`; nil when it cannot be converted (the rule then does nothing).
    public static func make(_ text: String, type: StickKeyType, length: Int) -> StickKey? {
        switch type {
        case .ip:
            if let v4 = parseIPv4(text) { return .bytes(v4) }
            // An IPv4-mapped IPv6 address fits an IPv4 table.
            if let v6 = parseIPv6(text), v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xFF, v6[11] == 0xFF {
                return .bytes(Array(v6[12...]))
            }
            return nil
        case .ipv6:
            if let v6 = parseIPv6(text) { return .bytes(v6) }
            if let v4 = parseIPv4(text) { return .bytes([UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + v4) }
            return nil
        case .integer:
            if let n = Int64(text) { return .integer(Int64(Int32(truncatingIfNeeded: n))) }
            // An address converts to its 32-bit value (haproxy's ip-to-int cast).
            if let v4 = parseIPv4(text) { return .integer(Int64(v4.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })) }
            return nil
        case .string:
            return .bytes(Array(text.utf8.prefix(length)))
        case .binary:
            var b = Array(text.utf8.prefix(length))
            if b.count < length { b += [UInt8](repeating: 0, count: length - b.count) }
            return .bytes(b)
        }
    }

    /// The key as `show table` would print it.
    public var text: String {
        switch self {
        case .integer(let n): return String(n)
        case .bytes(let b):
            if b.count == 4 { return b.map(String.init).joined(separator: ".") }
            return String(decoding: b, as: UTF8.self)
        }
    }

    static func parseIPv4(_ s: String) -> [UInt8]? {
        guard !s.contains(":") else { return nil }
        var a = in_addr()
        guard inet_pton(AF_INET, s, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        guard s.contains(":") else { return nil }
        var a = in6_addr()
        guard inet_pton(AF_INET6, s, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }
}
