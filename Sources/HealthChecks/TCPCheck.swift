// Scripted checks: `option tcp-check` rules, and the protocol checks HAProxy 2.6 builds on the
// same engine (`option redis-check`, `mysql-check`, `pgsql-check`, `smtpchk`). The runner is
// pure: the NIO probe asks it what to do next and feeds it what the server sent.

import HAProxyConfig

public enum TCPCheckStep: Sendable, Hashable {
    /// Connect (nil: the server's check port). The probe's first connection is this step.
    case connect(port: Int?)
    case send([UInt8])
    /// Wait for bytes from the server, then call `received`.
    case expect
    case done(CheckOutcome)
}

public struct TCPCheckRunner: Sendable {
    enum Matcher: Sendable, Hashable {
        case string([UInt8]), regex(String), binary([UInt8]), binaryRegex(String)
        /// `option redis-check`: the reply to PING.
        case redis
        /// `option mysql-check`: the server's greeting, then (with a user) the reply to the login.
        case mysqlGreeting
        case mysqlLoginReply
        /// `option pgsql-check`: the reply to the startup message.
        case pgsql
        /// `option smtpchk`: the greeting, then the reply to HELO/EHLO.
        case smtpGreeting
        case smtpReply
    }

    enum Action: Sendable, Hashable {
        case connect(port: Int?)
        case send([UInt8])
        case expect(Matcher, negate: Bool, label: String)
    }

    struct Rule: Sendable, Hashable {
        var action: Action
        /// 1-based position among the configured rules (comments count), as HAProxy numbers steps.
        var step: Int
        /// A `tcp-check comment` just before this rule.
        var comment: String?
    }

    let rules: [Rule]
    /// `option tcp-check`: errors get " at step N of tcp-check (...)" context.
    let scripted: Bool
    /// A protocol check's outcome when every rule passed.
    let successInfo: String
    private var index = 0
    private var buffer: [UInt8] = []
    private var lastSuccess: CheckOutcome?
    private var evaluatedExpect = false
    /// The step being run, for error context.
    private var current: Rule?
    private var sawExplicitConnect = false

    /// HAProxy's input buffer size: an expect that has not matched when it is full fails.
    static let bufferLimit = 16384

    /// `option tcp-check` with its rules.
    public init(rules: [TCPCheckRule]) {
        var out: [Rule] = []
        var pendingComment: String?
        for (i, rule) in rules.enumerated() {
            let step = i + 1
            let action: Action
            switch rule {
            case .comment(let text):
                pendingComment = text
                continue
            case .connect(let port): action = .connect(port: port)
            case .send(let bytes), .sendBinary(let bytes): action = .send(bytes)
            case let .expect(negate, kind, pattern):
                switch kind {
                case .string: action = .expect(.string(Array(pattern.utf8)), negate: negate, label: "string '\(pattern)'")
                case .rstring: action = .expect(.regex(pattern), negate: negate, label: "rstring '\(pattern)'")
                case .binary:
                    let bytes = Hex.bytes(pattern) ?? []
                    action = .expect(.binary(bytes), negate: negate, label: "binary '\(String(decoding: bytes, as: UTF8.self))'")
                case .rbinary: action = .expect(.binaryRegex(pattern), negate: negate, label: "rbinary '\(pattern)'")
                }
            }
            out.append(Rule(action: action, step: step, comment: pendingComment))
            pendingComment = nil
        }
        self.rules = out
        scripted = true
        successInfo = "(tcp-check)"
    }

    /// Any non-HTTP check protocol (`.layer4` gives an empty script: connect only).
    public init(protocol proto: HealthCheckProtocol) {
        switch proto {
        case .tcpScript(let rules):
            self.init(rules: rules)
        case .layer4, .http:
            self.init(builtin: [], success: "")
        case .redis:
            self.init(builtin: [.send(Array("*1\r\n$4\r\nPING\r\n".utf8)), .expect(.redis, negate: false, label: "redis")],
                      success: "Redis server is ok")
        case .mysql(let user):
            if let user {
                self.init(builtin: [.send(TCPCheckRunner.mysqlLogin(user: user)),
                                    .expect(.mysqlGreeting, negate: false, label: "mysql"),
                                    .expect(.mysqlLoginReply, negate: false, label: "mysql")], success: "")
            } else {
                self.init(builtin: [.expect(.mysqlGreeting, negate: false, label: "mysql")], success: "")
            }
        case .pgsql(let user):
            self.init(builtin: [.send(TCPCheckRunner.pgsqlStartup(user: user)), .expect(.pgsql, negate: false, label: "pgsql")],
                      success: "PostgreSQL server is ok")
        case let .smtp(command, domain):
            self.init(builtin: [.expect(.smtpGreeting, negate: false, label: "smtp"),
                                .send(Array("\(command) \(domain)\r\n".utf8)),
                                .expect(.smtpReply, negate: false, label: "smtp"),
                                .send(Array("QUIT\r\n".utf8))], success: "")
        }
    }

    private init(builtin actions: [Action], success: String) {
        rules = actions.enumerated().map { Rule(action: $1, step: $0 + 1, comment: nil) }
        scripted = false
        successInfo = success
    }

    /// The port of the first connection: a leading `tcp-check connect port N`, else the check port.
    public var initialConnectPort: Int? {
        if case .connect(let port)? = rules.first?.action { return port }
        return nil
    }

    /// Text HAProxy appends to a connection error's info for `option tcp-check`:
    /// " at initial connection step of tcp-check", " at step 2 of tcp-check (expect string '+PONG')".
    public var errorContext: String {
        guard scripted else { return "" }
        guard let rule = current else {
            if case .connect? = rules.first?.action, let first = rules.first {
                return " at step \(first.step) of tcp-check (\(TCPCheckRunner.describe(first.action)))"
                    + (first.comment.map { " comment: \($0)" } ?? "")
            }
            return " at initial connection step of tcp-check"
        }
        return " at step \(rule.step) of tcp-check (\(TCPCheckRunner.describe(rule.action)))" + (rule.comment.map { " comment: \($0)" } ?? "")
    }

    static func describe(_ action: Action) -> String {
        switch action {
        case .connect(let port): port.map { "connect port \($0)" } ?? "connect"
        case .send: "send"
        case .expect(_, let negate, let label): "expect " + (negate ? "! " : "") + label
        }
    }

    /// The next thing to do; `.expect` waits for `received`.
    public mutating func next() -> TCPCheckStep {
        while index < rules.count {
            let rule = rules[index]
            current = rule
            switch rule.action {
            case .connect(let port):
                index += 1
                return .connect(port: port)
            case .send(let bytes):
                index += 1
                buffer.removeAll(keepingCapacity: true)
                return .send(bytes)
            case .expect:
                return .expect
            }
        }
        current = nil
        if let lastSuccess { return .done(lastSuccess) }
        if !evaluatedExpect && scripted {
            // Only connect/send rules: the connection is what was checked.
            let onlyConnect = rules.allSatisfy { if case .connect = $0.action { true } else { false } }
            if onlyConnect { return .done(CheckOutcome(passed: true, status: .l4ok, info: nil, durationMilliseconds: 0)) }
        }
        if !scripted && rules.isEmpty { return .done(CheckOutcome(passed: true, status: .l4ok, info: nil, durationMilliseconds: 0)) }
        return .done(CheckOutcome(passed: true, status: .l7ok, info: successInfo, code: 0, durationMilliseconds: 0))
    }

    /// Bytes from the server (possibly none, with `closed`). nil: keep waiting.
    public mutating func received(_ bytes: [UInt8], closed: Bool) -> TCPCheckStep? {
        buffer.append(contentsOf: bytes)
        guard index < rules.count, case let .expect(matcher, negate, _) = rules[index].action else { return nil }
        let rule = rules[index]
        let full = buffer.count >= TCPCheckRunner.bufferLimit
        let last = closed || full
        evaluatedExpect = true
        switch evaluate(matcher, last: last) {
        case .wait:
            if last { return .done(failure(rule, matched: false, emptyAllowed: true)) }
            return nil
        case .matched:
            if negate { return .done(failure(rule, matched: true, emptyAllowed: false)) }
        case .notMatched:
            if negate {
                if !last { return nil }  // HAProxy waits for the end before clearing a negated expect
            } else {
                if !last && isIncrementalMatcher(matcher) { return nil }
                return .done(failure(rule, matched: false, emptyAllowed: true))
            }
        case .outcome(let outcome):
            if !outcome.passed { return .done(outcome) }
            lastSuccess = outcome
        }
        index += 1
        let step = next()
        // A following expect judges what is already buffered (e.g. MySQL greeting + login reply).
        if case .expect = step, !buffer.isEmpty { return received([], closed: closed) }
        return step
    }

    private func isIncrementalMatcher(_ m: Matcher) -> Bool {
        switch m {
        case .string, .regex, .binary, .binaryRegex: true
        default: false
        }
    }

    private func failure(_ rule: Rule, matched: Bool, emptyAllowed: Bool) -> CheckOutcome {
        let suffix = rule.comment.map { " comment: \($0)" } ?? ""
        if buffer.isEmpty && emptyAllowed {
            if scripted {
                return CheckOutcome(passed: false, status: .l7rsp, info: "TCPCHK got an empty response at step \(rule.step)\(suffix)",
                                    durationMilliseconds: 0)
            }
            return CheckOutcome(passed: false, status: .l7rsp, info: nil, durationMilliseconds: 0)
        }
        guard case let .expect(matcher, _, _) = rule.action else {
            return CheckOutcome(passed: false, status: .l7rsp, info: nil, durationMilliseconds: 0)
        }
        let what: String
        switch matcher {
        case .string(let p): what = " '\(String(decoding: p, as: UTF8.self))'"
        case .regex: what = " (regex)"
        case .binary: what = " (binary)"
        case .binaryRegex: what = " (binary regex)"
        default: what = ""
        }
        let head = matched ? "TCPCHK matched unwanted content" : "TCPCHK did not match content"
        return CheckOutcome(passed: false, status: .l7rsp, info: "\(head)\(what) at step \(rule.step)\(suffix)", durationMilliseconds: 0)
    }

    enum Verdict { case wait, matched, notMatched, outcome(CheckOutcome) }

    private func evaluate(_ matcher: Matcher, last: Bool) -> Verdict {
        if buffer.isEmpty { return .wait }
        switch matcher {
        case .string(let pattern):
            return TCPCheckRunner.contains(buffer, pattern) ? .matched : .notMatched
        case .binary(let pattern):
            return TCPCheckRunner.contains(buffer, pattern) ? .matched : .notMatched
        case .regex(let pattern):
            return HTTPCheckEvaluation.regexMatches(String(decoding: buffer, as: UTF8.self), pattern: pattern) ? .matched : .notMatched
        case .binaryRegex(let pattern):
            let hex = buffer.map { b in let s = String(b, radix: 16, uppercase: true); return s.count == 1 ? "0" + s : s }.joined()
            return HTTPCheckEvaluation.regexMatches(hex, pattern: pattern) ? .matched : .notMatched
        case .redis:
            guard let line = firstLine(last: last) else { return .wait }
            if line == "+PONG" { return .outcome(CheckOutcome(passed: true, status: .l7ok, info: successInfo, code: 0, durationMilliseconds: 0)) }
            return .outcome(CheckOutcome(passed: false, status: .l7sts, info: line, code: 0, durationMilliseconds: 0))
        case .smtpGreeting, .smtpReply:
            guard let line = firstLine(last: last) else { return .wait }
            let bytes = Array(line.utf8)
            let codeOK = bytes.count >= 3 && bytes[0..<3].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
                && (bytes.count == 3 || bytes[3] == 0x20 || bytes[3] == 0x2D)
            guard codeOK else { return .outcome(CheckOutcome(passed: false, status: .l7rsp, info: line, durationMilliseconds: 0)) }
            let code = Int(String(line.prefix(3))) ?? 0
            let text = bytes.count > 4 ? String(line.dropFirst(4)) : ""
            if bytes[0] != UInt8(ascii: "2") { return .outcome(CheckOutcome(passed: false, status: .l7sts, info: line, code: code, durationMilliseconds: 0)) }
            return .outcome(CheckOutcome(passed: true, status: .l7ok, info: text, code: code, durationMilliseconds: 0))
        case .mysqlGreeting:
            guard let packet = mysqlPacket(at: 0) else { return last ? .outcome(mysqlFailure("Received partial MySQL packet")) : .wait }
            if packet.first == 0xFF { return .outcome(mysqlError(packet)) }
            let version = packet.dropFirst().prefix { $0 != 0 }
            let outcome = CheckOutcome(passed: true, status: .l7ok, info: String(decoding: version, as: UTF8.self), code: 0,
                                       durationMilliseconds: 0)
            return .outcome(outcome)
        case .mysqlLoginReply:
            guard let greeting = mysqlPacketLength(at: 0) else { return .wait }
            guard let packet = mysqlPacket(at: greeting) else { return last ? .outcome(mysqlFailure("Received partial MySQL packet")) : .wait }
            if packet.first == 0xFF { return .outcome(mysqlError(packet)) }
            let version = (mysqlPacket(at: 0) ?? []).dropFirst().prefix { $0 != 0 }
            return .outcome(CheckOutcome(passed: true, status: .l7ok, info: String(decoding: version, as: UTF8.self), code: 0,
                                         durationMilliseconds: 0))
        case .pgsql:
            if buffer[0] == UInt8(ascii: "E") {
                guard buffer.count >= 5 || last else { return .wait }
                let text = buffer.count > 6 ? String(decoding: buffer[6...].prefix { $0 != 0 }, as: UTF8.self) : ""
                return .outcome(CheckOutcome(passed: false, status: .l7rsp, info: text, durationMilliseconds: 0))
            }
            guard buffer.count >= 9 else {
                return last ? .outcome(CheckOutcome(passed: false, status: .l7sts, info: "PostgreSQL unknown error", code: 0,
                                                    durationMilliseconds: 0)) : .wait
            }
            // 'R', length 8, an authentication request HAProxy accepts (ok, cleartext, md5, ...).
            let accepted: Set<UInt8> = [0, 2, 3, 4, 5, 6, 7, 9, 10]
            if buffer[0] == UInt8(ascii: "R") && buffer[1] == 0 && buffer[2] == 0 && buffer[3] == 0
                && buffer[5] == 0 && buffer[6] == 0 && buffer[7] == 0 && accepted.contains(buffer[8]) {
                return .outcome(CheckOutcome(passed: true, status: .l7ok, info: successInfo, code: 0, durationMilliseconds: 0))
            }
            return .outcome(CheckOutcome(passed: false, status: .l7sts, info: "PostgreSQL unknown error", code: 0, durationMilliseconds: 0))
        }
    }

    /// The first line (CRLF or LF cut), or nil while it is incomplete and more may come.
    private func firstLine(last: Bool) -> String? {
        if let nl = buffer.firstIndex(of: 0x0A) {
            var end = nl
            if end > 0 && buffer[end - 1] == 0x0D { end -= 1 }
            return String(decoding: buffer[..<end], as: UTF8.self)
        }
        return last ? String(decoding: buffer, as: UTF8.self) : nil
    }

    private func mysqlPacketLength(at offset: Int) -> Int? {
        guard buffer.count >= offset + 4 else { return nil }
        let length = Int(buffer[offset]) | Int(buffer[offset + 1]) << 8 | Int(buffer[offset + 2]) << 16
        guard buffer.count >= offset + 4 + length else { return nil }
        return 4 + length
    }

    private func mysqlPacket(at offset: Int) -> [UInt8]? {
        guard let total = mysqlPacketLength(at: offset) else { return nil }
        return Array(buffer[(offset + 4)..<(offset + total)])
    }

    private func mysqlFailure(_ text: String) -> CheckOutcome {
        CheckOutcome(passed: false, status: .l7rsp, info: text, durationMilliseconds: 0)
    }

    private func mysqlError(_ packet: [UInt8]) -> CheckOutcome {
        let code = packet.count >= 3 ? Int(packet[1]) | Int(packet[2]) << 8 : 0
        var message = packet.dropFirst(3)
        if message.first == UInt8(ascii: "#") { message = message.dropFirst(6) }
        return CheckOutcome(passed: false, status: .l7sts, info: String(decoding: message, as: UTF8.self), code: code,
                            durationMilliseconds: 0)
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// The MySQL 4.1 handshake response HAProxy 2.6 sends for `mysql-check user NAME`
    /// (no password, utf8 charset), followed by COM_QUIT.
    public static func mysqlLogin(user: String) -> [UInt8] {
        var payload: [UInt8] = [0x00, 0x82, 0x00, 0x00,  // capabilities: PROTOCOL_41 | SECURE_CONNECTION
                                0x00, 0x00, 0x00, 0x01,  // max packet 16 MiB
                                0x21]                    // charset utf8_general_ci
        payload += [UInt8](repeating: 0, count: 23)
        payload += Array(user.utf8) + [0x00, 0x00]
        let n = payload.count
        return [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), 0x01] + payload + [0x01, 0x00, 0x00, 0x00, 0x01]
    }

    /// The PostgreSQL v3 StartupMessage HAProxy sends for `pgsql-check user NAME`.
    public static func pgsqlStartup(user: String) -> [UInt8] {
        let body: [UInt8] = [0x00, 0x03, 0x00, 0x00] + Array("user".utf8) + [0] + Array(user.utf8) + [0, 0]
        let n = body.count + 4
        return [UInt8((n >> 24) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + body
    }
}
