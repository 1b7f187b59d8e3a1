// The log-format compiler: HAProxy 2.6's syntax and error wording (checked with `haproxy -c`).
//
//   %name            a variable (letters then letters/digits)
//   %{+Q,-X}name     flags: Q quote, X hex, E escape; M accepted and ignored; unknown ones ignored
//   %{+Q}o           no output: sets the default flags of every following variable and sample
//   %[expr]          a sample expression, kept as written
//   %%               a literal '%'
//   %<other>         the '%' is dropped, the character kept (haproxy does the same)
//   ' '              a separator when spaces merge (log-format), a literal otherwise

enum LogFormatParser {
    static func parse(_ text: String, httpMode: Bool, mergeSpaces: Bool) throws(LogFormatError) -> LogFormat {
        let b = Array(text.utf8)
        let n = b.count
        var tokens: [LogFormat.Token] = []
        var escaped: Set<Int> = []
        var quotedSamples: Set<Int> = []
        var literal: [UInt8] = []
        var defaults: LogFlags = []
        var i = 0

        func flush() {
            if !literal.isEmpty {
                tokens.append(.literal(literal))
                literal.removeAll(keepingCapacity: true)
            }
        }
        func string(_ r: Range<Int>) -> String { String(decoding: b[r], as: UTF8.self) }

        while i < n {
            let c = b[i]
            if c == 0x20 && mergeSpaces {
                flush()
                if case .literal(let last)? = tokens.last, last == [0x20] {} else { tokens.append(.literal([0x20])) }
                i += 1
                continue
            }
            if c != UInt8(ascii: "%") {
                literal.append(c)
                i += 1
                continue
            }
            // '%'
            i += 1
            guard i < n else { throw LogFormatError("truncated line after '%'") }
            var flags = defaults
            var sawArgs = false
            let c1 = b[i]
            if c1 == UInt8(ascii: "%") {
                literal.append(c1)
                i += 1
                continue
            }
            if c1 == UInt8(ascii: "{") {
                let start = i + 1
                guard let close = b[start...].firstIndex(of: UInt8(ascii: "}")) else {
                    throw LogFormatError("truncated line after '\(string(start..<n))'")
                }
                applyFlags(b[start..<close], to: &flags)
                sawArgs = true
                i = close + 1
                guard i < n, b[i] == UInt8(ascii: "[") || isAlnum(b[i]) else {
                    throw LogFormatError("parse argument modifier without variable name near '%{\(string(start..<close))}'")
                }
            } else if isDigit(c1) || c1 == 0x20 || c1 == 0x09 {
                throw LogFormatError("unexpected variable name near '\(Character(Unicode.Scalar(c1)))' at position \(i) line : '\(text)'. Maybe you want to write a single '%', use the syntax '%%'")
            } else if c1 != UInt8(ascii: "[") && !isAlpha(c1) {
                continue  // '%' followed by anything else: haproxy drops the '%'
            }

            if b[i] == UInt8(ascii: "[") {
                let start = i + 1
                guard let close = sampleEnd(b, from: start), close > start else {
                    let rest = string(start..<n)
                    if start >= n || b[start] == UInt8(ascii: "]") || !isSampleStart(b[start]) {
                        throw LogFormatError("failed to parse sample expression <\(rest)> : missing fetch method")
                    }
                    throw LogFormatError("missing ']' after '\(rest)'")
                }
                flush()
                if flags.contains(.quote) { quotedSamples.insert(tokens.count) }
                if flags.contains(.escape) { escaped.insert(tokens.count) }
                tokens.append(.sample(string(start..<close)))
                i = close + 1
                continue
            }

            var j = i
            while j < n && isAlnum(b[j]) { j += 1 }
            let name = string(i..<j)
            guard let v = LogVar(rawValue: name) else {
                var message = "no such format variable '\(name)'. If you wanted to emit the '%' character verbatim, you need to use '%%'."
                if let guess = suggestion(for: name) { message += " Did you mean '%\(guess)'?" }
                throw LogFormatError(message)
            }
            if !httpMode && v.httpOnly {
                throw LogFormatError("format variable '\(name)' is reserved for HTTP mode")
            }
            i = j
            if v == .o {
                if sawArgs { defaults = flags }
                continue
            }
            flush()
            if flags.contains(.escape) { escaped.insert(tokens.count) }
            tokens.append(.variable(name: name, quote: flags.contains(.quote), hex: flags.contains(.hex)))
        }
        flush()
        return LogFormat(tokens: tokens, escapedTokens: escaped, quotedSamples: quotedSamples, mergeSpaces: mergeSpaces)
    }

    /// `+Q,-X,+E`: each comma-separated item is a sign then a flag name; haproxy ignores names it
    /// does not know (and M, "mandatory", has no effect on rendering).
    static func applyFlags(_ args: ArraySlice<UInt8>, to flags: inout LogFlags) {
        for item in args.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
            guard let signAt = item.lastIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) else { continue }
            let add = item[signAt] == UInt8(ascii: "+")
            let name = item[(signAt + 1)...]
            let flag: LogFlags
            if name.elementsEqual("Q".utf8) { flag = .quote }
            else if name.elementsEqual("X".utf8) { flag = .hex }
            else if name.elementsEqual("E".utf8) { flag = .escape }
            else { continue }
            if add { flags.insert(flag) } else { flags.remove(flag) }
        }
    }

    /// The index of the `]` closing a sample expression that starts at `from`: parentheses nest,
    /// and quoted strings inside arguments may hold `]`, `)` and escaped quotes.
    static func sampleEnd(_ b: [UInt8], from: Int) -> Int? {
        var depth = 0
        var quote: UInt8 = 0
        var i = from
        while i < b.count {
            let c = b[i]
            if quote != 0 {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == quote { quote = 0 }
            } else if depth > 0 && (c == UInt8(ascii: "\"") || c == UInt8(ascii: "'")) {
                quote = c
            } else if c == UInt8(ascii: "(") {
                depth += 1
            } else if c == UInt8(ascii: ")") {
                if depth > 0 { depth -= 1 }
            } else if c == UInt8(ascii: "]") && depth == 0 {
                return i
            }
            i += 1
        }
        return nil
    }

    static func isSampleStart(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    static func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || isAlpha(c) }

    /// The closest known variable: a case-insensitive match first, then the smallest edit
    /// distance (at most 2, or 1 for names of up to three characters).
    static func suggestion(for name: String) -> String? {
        let all = LogVar.allCases.map(\.rawValue).filter { $0 != "o" }
        if let same = all.first(where: { $0.lowercased() == name.lowercased() }) { return same }
        let limit = name.count <= 3 ? 1 : 2
        var best: (String, Int)?
        for candidate in all {
            let d = editDistance(Array(name.utf8), Array(candidate.utf8))
            if d <= limit && (best == nil || d < best!.1) { best = (candidate, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
