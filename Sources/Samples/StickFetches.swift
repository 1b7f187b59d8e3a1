// The fetches of stick counters and tables: `sc_<counter>(N[,table])`, `sc0_<counter>([table])`
// .. `sc2_...`, `src_<counter>([table])`, `table_cnt([table])`, `table_avl([table])`. The session
// answers them (it knows what it tracks); here are their names, arities and types.

public enum StickFetches {
    /// What follows `sc_`, `scN_` or `src_`.
    public static let counters: [String] = [
        "conn_cnt", "conn_cur", "conn_rate", "http_req_cnt", "http_req_rate", "http_err_cnt", "http_err_rate",
        "get_gpc0", "inc_gpc0", "clr_gpc0", "gpc0_rate", "get_gpc1", "inc_gpc1", "clr_gpc1", "gpc1_rate", "get_gpt0",
    ]

    /// Which entry a fetch reads.
    public enum Reference: Sendable, Equatable {
        /// The entry tracked by counter N (sc_/scN_), optionally looked up in another table.
        case counter(Int, table: String?)
        /// The client address's entry in a table (nil: the proxy's own).
        case source(table: String?)
        /// The table itself (`table_cnt`, `table_avl`).
        case table(String?)
    }

    /// Fetch name → argument counts, merged into `SampleExpression.fetches`.
    public static let arity: [String: ClosedRange<Int>] = {
        var m: [String: ClosedRange<Int>] = [:]
        for c in counters + ["tracked"] {
            m["sc_" + c] = 1...2
            for n in 0...2 { m["sc\(n)_" + c] = 0...1 }
            if c != "tracked" { m["src_" + c] = 0...1 }
        }
        m["table_cnt"] = 0...1
        m["table_avl"] = 0...1
        return m
    }()

    /// Splits a fetch into what it reads and the counter; nil when it is not a stick fetch.
    public static func parse(_ name: String, _ args: [String]) -> (reference: Reference, counter: String)? {
        func arg(_ i: Int) -> String? { i < args.count && !args[i].isEmpty ? args[i] : nil }
        if name == "table_cnt" || name == "table_avl" { return (.table(arg(0)), name) }
        guard name.hasPrefix("s"), arity[name] != nil else { return nil }
        if name.hasPrefix("src_") { return (.source(table: arg(0)), String(name.dropFirst(4))) }
        if name.hasPrefix("sc_") {
            guard let n = arg(0).flatMap({ Int($0) }) else { return nil }
            return (.counter(n, table: arg(1)), String(name.dropFirst(3)))
        }
        let digit = name.dropFirst(2).first.flatMap { $0.wholeNumberValue } ?? 0
        return (.counter(digit, table: arg(0)), String(name.dropFirst(4)))
    }

    /// The argument (1-based) holding the table name, for error messages.
    public static func tableArgument(_ name: String) -> Int { name.hasPrefix("sc_") ? 2 : 1 }

    public static func isBoolean(_ name: String) -> Bool { name.hasSuffix("_tracked") }
}
