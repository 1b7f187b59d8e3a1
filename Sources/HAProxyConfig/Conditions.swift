// `.if` / `.elif` expressions and `-cc EXPR`.

public enum Conditions {
    /// The HAProxy configuration language version Fulcrum implements.
    public static let version = "2.6"

    /// Names accepted by `feature(NAME)`.
    public static let supportedFeatures: Set<String> = [
        "EPOLL", "THREAD", "GETADDRINFO", "CPU_AFFINITY", "TFO", "NS", "LINUX_SPLICE",
        "ACCEPT4", "PRCTL", "POLL", "TPROXY", "LINUX_TPROXY",
    ]

    public enum EvalError: Error, Sendable, Hashable, CustomStringConvertible {
        case syntax(String)
        public var description: String {
            switch self { case let .syntax(s): return s }
        }
    }

    /// Evaluates an already-lexed expression (quotes removed, variables expanded).
    public static func evaluate(_ text: String, environment: [String: String]) -> Result<Bool, EvalError> {
        var p = ExprParser(chars: Array(text), env: environment)
        do {
            p.skipSpaces()
            if p.atEnd { throw EvalError.syntax("empty expression") }
            let v = try p.parseOr()
            p.skipSpaces()
            if !p.atEnd { throw EvalError.syntax("unexpected character '\(p.chars[p.pos])' at position \(p.pos + 1)") }
            return .success(v)
        } catch let e as EvalError {
            return .failure(e)
        } catch {
            return .failure(.syntax("\(error)"))
        }
    }

    /// Compares dotted versions numerically ("2.6" vs "2.4.1"); a "-dev" suffix sorts before the release.
    static func compareVersions(_ a: String, _ b: String) -> Int {
        func parts(_ s: String) -> ([Int], Bool) {
            let main = s.split(separator: "-", maxSplits: 1)
            let nums = (main.first ?? "").split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
            return (nums, main.count > 1)
        }
        let (pa, da) = parts(a), (pb, db) = parts(b)
        for i in 0..<max(pa.count, pb.count) {
            let x = i < pa.count ? pa[i] : 0, y = i < pb.count ? pb[i] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        if da != db { return da ? -1 : 1 }
        return 0
    }

    struct ExprParser {
        let chars: [Character]
        let env: [String: String]
        var pos = 0
        init(chars: [Character], env: [String: String]) { self.chars = chars; self.env = env }

        var atEnd: Bool { pos >= chars.count }
        mutating func skipSpaces() { while pos < chars.count, chars[pos] == " " || chars[pos] == "\t" { pos += 1 } }
        mutating func consume(_ s: String) -> Bool {
            skipSpaces()
            let a = Array(s)
            guard pos + a.count <= chars.count, Array(chars[pos..<pos + a.count]) == a else { return false }
            pos += a.count
            return true
        }

        mutating func parseOr() throws -> Bool {
            var v = try parseAnd()
            while consume("||") { let r = try parseAnd(); v = v || r }
            return v
        }
        mutating func parseAnd() throws -> Bool {
            var v = try parseUnary()
            while consume("&&") { let r = try parseUnary(); v = v && r }
            return v
        }
        mutating func parseUnary() throws -> Bool {
            if consume("!") { return !(try parseUnary()) }
            return try parsePrimary()
        }
        mutating func parsePrimary() throws -> Bool {
            skipSpaces()
            guard !atEnd else { throw EvalError.syntax("unexpected end of expression") }
            if consume("(") {
                let v = try parseOr()
                guard consume(")") else { throw EvalError.syntax("missing closing parenthesis") }
                return v
            }
            var word = ""
            while pos < chars.count, chars[pos].isLetter || chars[pos].isNumber || chars[pos] == "_" || chars[pos] == "-" || chars[pos] == "." {
                word.append(chars[pos]); pos += 1
            }
            guard !word.isEmpty else { throw EvalError.syntax("unexpected character '\(chars[pos])'") }
            skipSpaces()
            if pos < chars.count, chars[pos] == "(" {
                pos += 1
                let args = try parseArgs()
                return try call(word, args)
            }
            if let n = Int(word) { return n != 0 }
            throw EvalError.syntax("unknown term '\(word)'")
        }
        mutating func parseArgs() throws -> [String] {
            var args: [String] = []
            var cur = ""
            var quote: Character? = nil
            var depth = 0
            while pos < chars.count {
                let c = chars[pos]
                pos += 1
                if let q = quote {
                    if c == q { quote = nil } else { cur.append(c) }
                    continue
                }
                if c == "\"" || c == "'" { quote = c; continue }
                if c == "\\", pos < chars.count { cur.append(chars[pos]); pos += 1; continue }
                if c == "(" { depth += 1 }
                if c == ")" {
                    if depth == 0 { args.append(cur); return args }
                    depth -= 1
                }
                if c == ",", depth == 0 { args.append(cur); cur = ""; continue }
                cur.append(c)
            }
            throw EvalError.syntax("missing closing parenthesis after arguments")
        }
        func call(_ name: String, _ rawArgs: [String]) throws -> Bool {
            let args = rawArgs.count == 1 && rawArgs[0].isEmpty ? [] : rawArgs
            func need(_ n: Int) throws {
                guard args.count == n else {
                    throw EvalError.syntax("'\(name)' expects \(n) argument\(n > 1 ? "s" : ""), got \(args.count)")
                }
            }
            switch name {
            case "defined":
                try need(1); return env[args[0]] != nil
            case "streq":
                try need(2); return args[0] == args[1]
            case "strneq":
                try need(2); return args[0] != args[1]
            case "feature":
                try need(1); return Conditions.supportedFeatures.contains(args[0])
            case "version_atleast":
                try need(1); return Conditions.compareVersions(Conditions.version, args[0]) >= 0
            case "version_before":
                try need(1); return Conditions.compareVersions(Conditions.version, args[0]) < 0
            default:
                throw EvalError.syntax("unknown predicate '\(name)'")
            }
        }
    }
}
