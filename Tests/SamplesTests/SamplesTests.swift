import Samples
import XCTest

struct FakeSource: SampleSource {
    var values: [String: SampleValue]
    func fetch(_ name: String, _ args: [String]) -> SampleValue? {
        values(name + (args.isEmpty ? "" : "(" + args.joined(separator: ",") + ")"))
    }
    func values(_ key: String) -> SampleValue? { values[key] }
}

final class SamplesTests: XCTestCase {
    func testParse() throws {
        let e = try SampleExpression.parse("req.hdr(host),lower,field(1,:)")
        XCTAssertEqual(e.fetch.name, "req.hdr")
        XCTAssertEqual(e.fetch.args, ["host"])
        XCTAssertEqual(e.converters.map(\.name), ["lower", "field"])
        XCTAssertEqual(e.converters[1].args, ["1", ":"])
        XCTAssertEqual(try SampleExpression.parse("dst_port").fetch.name, "dst_port")
        // haproxy 2.6: a backslash does not protect a comma; quotes do.
        XCTAssertThrowsError(try SampleExpression.parse("str(a\\,b)"))
        XCTAssertEqual(try SampleExpression.parse("str('a,b')").fetch.args, ["a,b"])
    }

    func testParseErrorsAreHAProxys() {
        XCTAssertThrowsError(try SampleExpression.parse("nosuch")) { XCTAssertEqual("\($0)", "unknown fetch method 'nosuch'") }
        XCTAssertThrowsError(try SampleExpression.parse("src,nosuch")) { XCTAssertEqual("\($0)", "unknown converter 'nosuch'") }
        XCTAssertThrowsError(try SampleExpression.parse("req.hdr(host")) { XCTAssertTrue("\($0)".contains("missing closing ')'")) }
        XCTAssertThrowsError(try SampleExpression.parse("src(1)")) { XCTAssertTrue("\($0)".contains("expects 0 argument(s), got 1")) }
        XCTAssertThrowsError(try SampleExpression.parse("src,")) { XCTAssertEqual("\($0)", "missing converter name") }
    }

    func testEvaluate() throws {
        let source = FakeSource(values: ["req.hdr(host)": .string("WWW.Example.com:8080"), "dst_port": .int(8080),
                                         "src": .string("192.168.7.201")])
        func eval(_ s: String) throws -> String? { try SampleExpression.parse(s).evaluate(source)?.text }
        XCTAssertEqual(try eval("req.hdr(host),lower"), "www.example.com:8080")
        XCTAssertEqual(try eval("req.hdr(host),field(1,:)"), "WWW.Example.com")
        XCTAssertEqual(try eval("req.hdr(host),field(2,:)"), "8080")
        XCTAssertEqual(try eval("req.hdr(host),word(2,.)"), "Example")
        XCTAssertEqual(try eval("dst_port"), "8080")
        XCTAssertEqual(try eval("dst_port,add(1)"), "8081")
        XCTAssertEqual(try eval("dst_port,div(0)"), "\(Int64.max)")
        XCTAssertEqual(try eval("str(hello),base64"), "aGVsbG8=")
        XCTAssertEqual(try eval("str(aGVsbG8=),b64dec"), "hello")
        XCTAssertEqual(try eval("str(hi),hex"), "6869")
        XCTAssertEqual(try eval("str(hello),length"), "5")
        XCTAssertEqual(try eval("str(hello),bytes(1,3)"), "ell")
        XCTAssertEqual(try eval("src,ipmask(24)"), "192.168.7.0")
        XCTAssertEqual(try eval("src,ipmask(255.255.0.0)"), "192.168.0.0")
        XCTAssertEqual(try eval("str('a\"b'),json"), "a\\\"b")
        XCTAssertEqual(try eval("str(123456789),crc32"), "3421780262")  // zlib's crc32("123456789") = 0xCBF43926
        XCTAssertEqual(try eval("str(a%20b+c),url_dec"), "a b+c")
        XCTAssertNil(try eval("req.hdr(x-none)"), "no value: '-' in logs")
    }
}
