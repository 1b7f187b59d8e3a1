import Logging
import XCTest

/// The compiler: tokens, flags, %o, and haproxy 2.6.12's error wording (from `haproxy -c`, after
/// its "failed to parse log-format : " prefix).
final class CompileTests: XCTestCase {
    func error(_ text: String, httpMode: Bool = true) -> String? {
        do {
            _ = try LogFormat.compile(text, httpMode: httpMode)
            return nil
        } catch {
            return error.description
        }
    }

    func testTokens() throws {
        let f = try LogFormat.compile("%ci:%cp [%t] %{+Q}r 100%% %[src,lower]")
        XCTAssertEqual(f.tokens, [
            .variable(name: "ci", quote: false, hex: false), .literal(Array(":".utf8)),
            .variable(name: "cp", quote: false, hex: false), .literal([0x20]), .literal(Array("[".utf8)),
            .variable(name: "t", quote: false, hex: false), .literal(Array("]".utf8)), .literal([0x20]),
            .variable(name: "r", quote: true, hex: false), .literal([0x20]), .literal(Array("100%".utf8)),
            .literal([0x20]), .sample("src,lower"),
        ])
    }

    func testSpacesCollapseToOneSeparatorToken() throws {
        XCTAssertEqual(try LogFormat.compile("a   b").tokens, [.literal([0x61]), .literal([0x20]), .literal([0x62])])
        let plain = try LogFormat.compile("a   b", httpMode: true, mergeSpaces: false)
        XCTAssertEqual(plain.tokens, [.literal(Array("a   b".utf8))])
        XCTAssertEqual(plain.render(LogRecord()), Array("a   b".utf8))
    }

    func testFlags() throws {
        XCTAssertEqual(try LogFormat.compile("%{+Q,+X}ci").tokens, [.variable(name: "ci", quote: true, hex: true)])
        XCTAssertEqual(try LogFormat.compile("%{+Q,+X,-Q}ci").tokens, [.variable(name: "ci", quote: false, hex: true)])
        // Unknown flag names and M are accepted and ignored, as haproxy does.
        XCTAssertEqual(try LogFormat.compile("%{+Z,+M}ci").tokens, [.variable(name: "ci", quote: false, hex: false)])
        let e = try LogFormat.compile("%{+E}r %r")
        XCTAssertEqual(e.escapedTokens, [0])
        let s = try LogFormat.compile("%{+Q,+E}[src] %[dst]")
        XCTAssertEqual(s.tokens, [.sample("src"), .literal([0x20]), .sample("dst")])
        XCTAssertEqual(s.quotedSamples, [0])
        XCTAssertEqual(s.escapedTokens, [0])
    }

    func testGlobalOptionCarriesToFollowingVariables() throws {
        let f = try LogFormat.compile("%ci %{+Q}o %b %{-Q}f %{+X}o %ci %{-X,-Q}o %s")
        XCTAssertEqual(f.tokens, [
            .variable(name: "ci", quote: false, hex: false), .literal([0x20]),
            .variable(name: "b", quote: true, hex: false), .literal([0x20]),
            .variable(name: "f", quote: false, hex: false), .literal([0x20]),
            .variable(name: "ci", quote: true, hex: true), .literal([0x20]),
            .variable(name: "s", quote: false, hex: false),
        ])
        // A sample takes the %o flags too.
        XCTAssertEqual(try LogFormat.compile("%{+Q}o %[src]").quotedSamples, [1])  // token 0 is the separator
    }

    func testPercentOddities() throws {
        XCTAssertEqual(try LogFormat.compile("x%-y").render(LogRecord()), Array("x-y".utf8))
        XCTAssertEqual(try LogFormat.compile("100%%").render(LogRecord()), Array("100%".utf8))
        XCTAssertEqual(try LogFormat.compile("%ci%cp").tokens.count, 2)
    }

    func testErrors() {
        XCTAssertEqual(error("%foo"),
                       "no such format variable 'foo'. If you wanted to emit the '%' character verbatim, you need to use '%%'.")
        XCTAssertEqual(error("%{+Q}foo bar"),
                       "no such format variable 'foo'. If you wanted to emit the '%' character verbatim, you need to use '%%'.")
        XCTAssertEqual(error("%{+Q"), "truncated line after '+Q'")
        XCTAssertEqual(error("%{"), "truncated line after ''")
        XCTAssertEqual(error("%"), "truncated line after '%'")
        XCTAssertEqual(error("abc%"), "truncated line after '%'")
        XCTAssertEqual(error("%[src"), "missing ']' after 'src'")
        XCTAssertEqual(error("%[src,lower"), "missing ']' after 'src,lower'")
        XCTAssertEqual(error("%["), "failed to parse sample expression <> : missing fetch method")
        XCTAssertEqual(error("%{+Q}"), "parse argument modifier without variable name near '%{+Q}'")
        XCTAssertEqual(error("%{+Q} x"), "parse argument modifier without variable name near '%{+Q}'")
        XCTAssertEqual(error("a %1"),
                       "unexpected variable name near '1' at position 3 line : 'a %1'. Maybe you want to write a single '%', use the syntax '%%'")
        XCTAssertEqual(error("a % b"),
                       "unexpected variable name near ' ' at position 3 line : 'a % b'. Maybe you want to write a single '%', use the syntax '%%'")
    }

    func testDidYouMean() {
        XCTAssertEqual(error("%trx"),
                       "no such format variable 'trx'. If you wanted to emit the '%' character verbatim, you need to use '%%'. Did you mean '%tr'?")
        XCTAssertTrue(error("%tq")!.hasSuffix("Did you mean '%Tq'?"))
        XCTAssertTrue(error("%HUU")!.hasSuffix("Did you mean '%HU'?"))
        XCTAssertTrue(error("%sslx")!.hasSuffix("Did you mean '%sslc'?") || error("%sslx")!.hasSuffix("Did you mean '%sslv'?"))
        XCTAssertFalse(error("%zzzzzz")!.contains("Did you mean"))
    }

    func testSampleBrackets() throws {
        XCTAssertEqual(try LogFormat.compile("%[req.hdr(x-a),regsub(\\],x)]").tokens, [.sample("req.hdr(x-a),regsub(\\],x)")])
        XCTAssertEqual(try LogFormat.compile("%[str(\"a]b\")]x").tokens, [.sample("str(\"a]b\")"), .literal([0x78])])
    }

    func testHTTPOnlyVariablesInTCPMode() throws {
        for v in ["tr", "trg", "trl", "TR", "Tr", "Ta", "Ti", "Tq", "CC", "CS", "r", "HM", "HU", "HP", "HPO", "HQ", "HV"] {
            XCTAssertEqual(error("%\(v)", httpMode: false), "format variable '\(v)' is reserved for HTTP mode")
            XCTAssertNil(error("%\(v)"))
        }
        for v in ["ci", "cp", "t", "T", "Tl", "Ts", "ms", "Tt", "Tw", "Tc", "Th", "Td", "Tu", "B", "U", "ST", "tsc", "ts",
                  "hr", "hs", "hrl", "hsl", "ID", "H", "pid", "rt", "lc", "sslv", "sslc", "o"] {
            XCTAssertNil(error("%\(v)", httpMode: false), v)
        }
    }

    func testEveryVariableCompiles() {
        for v in ["ci", "cp", "fi", "fp", "bi", "bp", "si", "sp", "t", "tr", "trg", "trl", "T", "Tl", "Ts", "ft", "f", "b",
                  "s", "TR", "Tw", "Tc", "Tr", "Ta", "Tt", "Th", "Ti", "Tq", "Td", "Tu", "ST", "B", "U", "CC", "CS", "tsc",
                  "ts", "ac", "fc", "bc", "sc", "rc", "sq", "bq", "hr", "hs", "hrl", "hsl", "r", "HM", "HU", "HP", "HPO",
                  "HQ", "HV", "ID", "pid", "H", "o", "ms", "rt", "lc", "sslv", "sslc"] {
            XCTAssertNil(error("%\(v)"), v)
        }
    }

    func testTokensCanBeEditedAfterCompile() throws {
        var f = try LogFormat.compile("%b")
        var r = LogRecord()
        r.backendName = "be"
        f.tokens.append(.literal(Array("/".utf8)))
        f.tokens.append(.variable(name: "s", quote: true, hex: false))
        XCTAssertEqual(String(decoding: f.render(r), as: UTF8.self), #"be/"<NOSRV>""#)
        let built = LogFormat(tokens: [.variable(name: "b", quote: false, hex: false), .literal(Array("/".utf8)),
                                       .variable(name: "s", quote: true, hex: false)])
        XCTAssertEqual(built, f)
    }
}
