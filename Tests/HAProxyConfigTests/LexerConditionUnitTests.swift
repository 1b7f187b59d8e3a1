import HAProxyConfig
import XCTest

final class LexerTests: XCTestCase {
    func words(_ line: String, _ env: [String: String] = [:]) -> [String] {
        let l = Lexer.split(line, environment: env)
        XCTAssertEqual(l.errors, [], line)
        return l.words
    }

    func testSpacesTabsAndComments() {
        XCTAssertEqual(words("  bind\t:80   # comment"), ["bind", ":80"])
        XCTAssertEqual(words("# only a comment"), [])
        XCTAssertEqual(words("a#b"), ["a"])
    }

    func testQuotes() {
        XCTAssertEqual(words("description \"hello world\" 'a b'"), ["description", "hello world", "a b"])
        XCTAssertEqual(words("x \"a # b\""), ["x", "a # b"])
        XCTAssertEqual(words("x \"\" y"), ["x", "", "y"])
        XCTAssertEqual(words("x ab\"c d\"ef"), ["x", "abc def"])
        XCTAssertEqual(Lexer.split("x \"abc", environment: [:]).errors.count, 1)
    }

    func testEscapes() {
        XCTAssertEqual(words(#"reqadd X-Forwarded-Proto:\ https"#), ["reqadd", "X-Forwarded-Proto: https"])
        XCTAssertEqual(words(##"a \# \\ \" \'"##), ["a", "#", "\\", "\"", "'"])
        XCTAssertEqual(words(#"a \r\n\t"#), ["a", "\r\n\t"])
        XCTAssertEqual(words(#"a \x41\x42"#), ["a", "AB"])
        XCTAssertEqual(words(#"a "q\"q""#), ["a", "q\"q"])
    }

    func testEnvironment() {
        let env = ["PORT": "8080", "EMPTY": "", "LIST": "a b c"]
        // haproxy 2.6 expands variables only inside double quotes (addresses expand their own).
        XCTAssertEqual(words("bind :${PORT}", env), ["bind", ":${PORT}"])
        XCTAssertEqual(Lexer.expandInAddress(":${PORT}", environment: env), ":8080")
        XCTAssertEqual(Lexer.expandInAddress("127.0.0.1:$PORT", environment: env), "127.0.0.1:8080")
        XCTAssertEqual(words("bind \":${PORT}\"", env), ["bind", ":8080"])
        XCTAssertEqual(words("bind ':${PORT}'", env), ["bind", ":${PORT}"])
        XCTAssertEqual(words("x $PORT", env), ["x", "$PORT"])
        XCTAssertEqual(words("user bob password $6$salt$hash", env), ["user", "bob", "password", "$6$salt$hash"])
        XCTAssertEqual(words("x \"${UNSET}\" y", env), ["x", "", "y"])
        XCTAssertEqual(words("x \"${UNSET-127.0.0.1}:514\"", env), ["x", "127.0.0.1:514"])
        XCTAssertEqual(words("x \"${EMPTY-def}\"", env), ["x", ""])
        XCTAssertEqual(words("x \"${PORT-9}\"", env), ["x", "8080"])
        XCTAssertEqual(words("x \"${LIST[*]}\"", env), ["x", "a", "b", "c"])
        XCTAssertEqual(words(#"x \${PORT}"#, env), ["x", "${PORT}"])
    }

    func testPseudoVariables() {
        let r = ConfigLoader(environment: [:]).parse(text: "backend b\n  description \"${.SECTION} at ${.LINE}\"\n", file: "t.cfg")
        XCTAssertEqual(r.configuration?.proxy(named: "b")?.descriptionText, "b at 2")
    }
}

final class ConditionTests: XCTestCase {
    let loader = ConfigLoader(environment: ["A": "1", "B": "x"])

    func eval(_ s: String) -> Bool? { try? loader.evaluateCondition(s).get() }

    func testPredicates() {
        XCTAssertEqual(eval("defined(A)"), true)
        XCTAssertEqual(eval("defined(Z)"), false)
        XCTAssertEqual(eval("streq(\"${B}\",x)"), true)
        XCTAssertEqual(eval("strneq(\"${B}\",x)"), false)
        XCTAssertEqual(eval("feature(EPOLL)"), true)
        XCTAssertEqual(eval("feature(QUIC)"), false)
        XCTAssertEqual(eval("version_atleast(2.4)"), true)
        XCTAssertEqual(eval("version_atleast(2.6)"), true)
        XCTAssertEqual(eval("version_atleast(2.8)"), false)
        XCTAssertEqual(eval("version_before(2.7)"), true)
        XCTAssertEqual(eval("version_before(2.6)"), false)
        XCTAssertTrue(ConfigLoader.supportedFeatures.contains("THREAD"))
    }

    func testOperators() {
        XCTAssertEqual(eval("0"), false)
        XCTAssertEqual(eval("1"), true)
        XCTAssertEqual(eval("42"), true)
        XCTAssertEqual(eval("!0"), true)
        XCTAssertEqual(eval("1 && 0"), false)
        XCTAssertEqual(eval("1 && 0 || 1"), true)
        XCTAssertEqual(eval("1 && (0 || 1)"), true)
        XCTAssertEqual(eval("!(defined(A) && defined(Z))"), true)
        XCTAssertEqual(eval("defined(A) && !streq(\"${B}\",y)"), true)
    }

    func testErrors() {
        XCTAssertNil(eval("foo(1)"))
        XCTAssertNil(eval("(1"))
        XCTAssertNil(eval("1 &&"))
        XCTAssertNil(eval("bar"))
    }

    func testConditionalBlocks() {
        let text = """
        .if defined(A)
        global
          maxconn 100
        .elif 1
          maxconn 200
        .else
          maxconn 300
        .endif
        .if 0
          this is ignored entirely
          .if 1
          maxconn 1
          .endif
        .elif streq(x,x)
          nbthread 4
        .endif
        .notice hello
        """
        let r = loader.parse(text: text, file: "c.cfg")
        XCTAssertEqual(r.configuration?.global.maxconn, 100)
        XCTAssertEqual(r.configuration?.global.nbthread, 4)
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .notice && $0.message == "hello" })

        let r2 = ConfigLoader(environment: [:]).parse(text: ".if defined(A)\nglobal\n maxconn 1\n.else\nglobal\n maxconn 2\n.endif\n", file: "c.cfg")
        XCTAssertEqual(r2.configuration?.global.maxconn, 2)
    }

    func testConditionErrors() {
        let r = loader.parse(text: ".endif\n.else\n.if 1\n", file: "c.cfg")
        XCTAssertNil(r.configuration)
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("lone '.endif'") && $0.location?.line == 1 })
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("lone '.else'") && $0.location?.line == 2 })
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("unterminated") && $0.location?.line == 3 })
    }

    func testAlertDirective() {
        let r = loader.parse(text: ".if version_before(2.4)\n.alert too old\n.endif\n.warning careful\n", file: "c.cfg")
        XCTAssertNotNil(r.configuration)
        XCTAssertTrue(r.diagnostics.contains { $0.severity == .warning && $0.message == "careful" })
        let r2 = loader.parse(text: ".alert stop here\n", file: "c.cfg")
        XCTAssertNil(r2.configuration)
        XCTAssertEqual(r2.diagnostics.first?.message, "stop here")
    }
}

final class UnitsTests: XCTestCase {
    func testTimes() {
        XCTAssertEqual(try Units.parseTime("5000").get(), .milliseconds(5000))
        XCTAssertEqual(try Units.parseTime("10ms").get(), .milliseconds(10))
        XCTAssertEqual(try Units.parseTime("100us").get(), .microseconds(100))
        XCTAssertEqual(try Units.parseTime("30s").get(), .seconds(30))
        XCTAssertEqual(try Units.parseTime("2m").get(), .seconds(120))
        XCTAssertEqual(try Units.parseTime("1h").get(), .seconds(3600))
        XCTAssertEqual(try Units.parseTime("1d").get(), .seconds(86400))
        XCTAssertThrowsError(try Units.parseTime("5x").get())
        XCTAssertThrowsError(try Units.parseTime("s").get())
    }

    func testSizes() {
        XCTAssertEqual(try Units.parseSize("16384").get(), 16384)
        XCTAssertEqual(try Units.parseSize("16k").get(), 16384)
        XCTAssertEqual(try Units.parseSize("1m").get(), 1 << 20)
        XCTAssertEqual(try Units.parseSize("1g").get(), 1 << 30)
        XCTAssertThrowsError(try Units.parseSize("1t").get())
    }

    func testBadUnitInConfigNamesKeyword() {
        let r = ConfigLoader(environment: [:]).parse(text: "defaults\n timeout client 5x\n", file: "u.cfg")
        XCTAssertNil(r.configuration)
        let a = r.diagnostics.first { $0.severity == .alert }
        XCTAssertEqual(a?.location?.line, 2)
        XCTAssertTrue(a?.description.contains("timeout client") ?? false, "\(String(describing: a))")
        let r2 = ConfigLoader(environment: [:]).parse(text: "global\n tune.bufsize 16q\n", file: "u.cfg")
        XCTAssertTrue(r2.diagnostics.contains { $0.severity == .alert && $0.description.contains("tune.bufsize") })
    }
}

final class RobustnessTests: XCTestCase {
    func testOverflowsAndOddInput() {
        XCTAssertThrowsError(try Units.parseTime("99999999999999999d").get())
        XCTAssertThrowsError(try Units.parseTime("25d").get())
        XCTAssertEqual(try Units.parseTime("24d").get(), .seconds(24 * 86400))
        XCTAssertThrowsError(try Units.parseSize("99999999999999999g").get())
        XCTAssertEqual(Lexer.split("x $1 a$ $", environment: ["1": "no"]).words, ["x", "$1", "a$", "$"])
        let r = ConfigLoader(environment: [:]).parse(text: "defaults\n timeout client 30d\n\u{0}\n\"\n'\nbind\nserver\n", file: "odd.cfg")
        XCTAssertNil(r.configuration)
    }
}
