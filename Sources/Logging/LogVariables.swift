// The log-format variables HAProxy 2.6 knows (configuration.txt 8.2.6), and the lowered form of a
// compiled format that `render` walks.

/// One `%name` variable. Raw values are HAProxy's names.
enum LogVar: String, CaseIterable, Sendable, Hashable {
    case o
    case B, CC, CS, H, HM, HP, HPO, HQ, HU, HV, ID, ST, T, Ta, Tc, Td, Th, Ti, Tl, Tq, Tr, TR, Ts, Tt, Tu, Tw
    case U, ac, b, bc, bi, bp, bq, ci, cp, f, fc, fi, fp, ft, hr, hrl, hs, hsl, lc, ms, pid, r, rc, rt
    case s, sc, si, sp, sq, sslc, sslv, t, tr, trg, trl, ts, tsc

    /// Variables HAProxy refuses outside `mode http` ("format variable 'r' is reserved for HTTP mode").
    /// Checked against haproxy 2.6.12 with `haproxy -c` in a `mode tcp` frontend.
    var httpOnly: Bool {
        switch self {
        case .tr, .trg, .trl, .TR, .Tr, .Ta, .Ti, .Tq, .CC, .CS, .r, .HM, .HU, .HP, .HPO, .HQ, .HV: return true
        default: return false
        }
    }
}

/// Per-variable flags after `%o` defaults and `%{+F,-F}` were applied.
struct LogFlags: OptionSet, Sendable, Hashable {
    let rawValue: UInt8
    static let quote = LogFlags(rawValue: 1)
    static let hex = LogFlags(rawValue: 2)
    static let escape = LogFlags(rawValue: 4)
}

/// The lowered program: names resolved once so `render` never compares strings.
enum LogOp: Sendable, Hashable {
    case literal([UInt8])
    /// A run of spaces in a space-merging format.
    case separator
    case variable(LogVar, LogFlags)
    case sample(String, LogFlags)
}

extension LogFormat {
    mutating func relower() {
        var ops: [LogOp] = []
        ops.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() {
            switch token {
            case .literal(let bytes):
                if bytes.isEmpty { continue }
                if mergeSpaces && bytes == [0x20] {
                    ops.append(.separator)
                } else if case .literal(let previous)? = ops.last {
                    ops[ops.count - 1] = .literal(previous + bytes)
                } else {
                    ops.append(.literal(bytes))
                }
            case .variable(let name, let quote, let hex):
                // An unknown name can only come from hand-built tokens; it renders nothing, like %o.
                guard let v = LogVar(rawValue: name), v != .o else { continue }
                var flags: LogFlags = []
                if quote { flags.insert(.quote) }
                if hex { flags.insert(.hex) }
                if escapedTokens.contains(i) { flags.insert(.escape) }
                ops.append(.variable(v, flags))
            case .sample(let expr):
                var flags: LogFlags = []
                if quotedSamples.contains(i) { flags.insert(.quote) }
                if escapedTokens.contains(i) { flags.insert(.escape) }
                ops.append(.sample(expr, flags))
            }
        }
        program = ops
    }
}
