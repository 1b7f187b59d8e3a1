// Splits one configuration line into words, HAProxy style: comments, quotes,
// backslash escapes and environment variable expansion.

public struct LexedLine: Sendable, Hashable {
    public var words: [String]
    /// Problems found on the line (unterminated quote, bad escape...).
    public var errors: [String]
}

public enum Lexer {
    /// An address word's `$VAR`/`${VAR}` references (haproxy's address parser expands them even
    /// outside quotes: `bind :${PORT}`).
    public static func expandInAddress(_ word: String, environment: [String: String]) -> String {
        guard word.contains("$") else { return word }
        let quoted = "\"" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        return split(quoted, environment: environment).words.first ?? word
    }

    /// Splits `line` into words. `environment` resolves `$VAR`, `${VAR}`, `${VAR-default}` and
    /// `${VAR[*]}` (split into several words) inside double quotes, as haproxy does; an unset
    /// variable expands to nothing.
    public static func split(_ line: String, environment: [String: String]) -> LexedLine {
        var words: [String] = []
        var errors: [String] = []
        var current: [Character] = []
        var inWord = false  // a word has started (possibly empty because of quotes)
        var quote: Character? = nil
        let chars = Array(line)
        var i = 0

        func endWord() {
            if inWord { words.append(String(current)) }
            current.removeAll()
            inWord = false
        }

        while i < chars.count {
            let c = chars[i]
            if quote == "'" {
                if c == "'" { quote = nil } else { current.append(c) }
                i += 1
                continue
            }
            if c == "\\" {
                i += 1
                guard i < chars.count else {
                    // trailing backslash: keep it as is
                    current.append("\\"); inWord = true
                    break
                }
                let e = chars[i]
                inWord = true
                switch e {
                case " ", "\t", "#", "\\", "\"", "'", "$": current.append(e)
                case "r": current.append("\r")
                case "n": current.append("\n")
                case "t": current.append("\t")
                case "x":
                    if i + 2 < chars.count, let v = UInt8(String(chars[(i + 1)...(i + 2)]), radix: 16) {
                        current.append(Character(Unicode.Scalar(v)))
                        i += 2
                    } else {
                        errors.append("truncated or invalid hexadecimal sequence")
                    }
                default:
                    // unknown escapes are kept verbatim (HAProxy keeps the backslash)
                    current.append("\\"); current.append(e)
                }
                i += 1
                continue
            }
            if c == "\"" {
                quote = quote == nil ? "\"" : nil
                inWord = true
                i += 1
                continue
            }
            if quote == nil, c == "'" {
                quote = "'"
                inWord = true
                i += 1
                continue
            }
            if quote == nil, c == "#" { break }
            if quote == nil, c == " " || c == "\t" || c == "\r" || c == "\n" {
                endWord()
                i += 1
                continue
            }
            if c == "$", quote == "\"", i + 1 < chars.count {
                // variable (haproxy expands them only inside double quotes; addresses expand
                // their own, see `expandInAddress`)
                var name = ""
                var defaultValue: String? = nil
                var splitWords = false
                var j = i + 1
                if chars[j] == "{" {
                    j += 1
                    var closed = false
                    while j < chars.count {
                        let d = chars[j]
                        if d == "}" { closed = true; break }
                        if d == "-", defaultValue == nil, !name.isEmpty {
                            defaultValue = ""
                            j += 1
                            continue
                        }
                        if defaultValue != nil { defaultValue!.append(d) } else { name.append(d) }
                        j += 1
                    }
                    guard closed else {
                        errors.append("no closing '}' for environment variable expansion")
                        current.append(contentsOf: chars[i...])
                        inWord = true
                        i = chars.count
                        continue
                    }
                    if defaultValue == nil, name.hasSuffix("[*]") {
                        splitWords = true
                        name.removeLast(3)
                    }
                    j += 1
                } else {
                    while j < chars.count, chars[j].isASCII,
                          chars[j].isLetter || chars[j] == "_" || (j == i + 1 && chars[j] == ".") || (j > i + 1 && chars[j].isNumber) {
                        name.append(chars[j]); j += 1
                    }
                    if name.isEmpty {
                        current.append(c); inWord = true; i += 1
                        continue
                    }
                }
                let value = environment[name] ?? defaultValue ?? ""
                if splitWords {
                    let parts = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
                    for (k, p) in parts.enumerated() {
                        if k > 0 { endWord() }
                        current.append(contentsOf: p); inWord = true
                    }
                } else {
                    current.append(contentsOf: value)
                    if !value.isEmpty { inWord = true }
                }
                i = j
                continue
            }
            current.append(c)
            inWord = true
            i += 1
        }
        if quote != nil {
            errors.append("unmatched quote")
        }
        endWord()
        return LexedLine(words: words, errors: errors)
    }
}
