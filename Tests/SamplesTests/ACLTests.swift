import Samples
import XCTest

/// A request as ACLs see it: fetch name (with arguments) → all its values.
struct MultiSource: SampleSource {
    var values: [String: [SampleValue]]
    func key(_ name: String, _ args: [String]) -> String {
        let canonical = ["hdr": "req.hdr", "cook": "req.cook"][name] ?? name
        return canonical + (args.isEmpty ? "" : "(" + args.joined(separator: ",") + ")")
    }
    func fetch(_ name: String, _ args: [String]) -> SampleValue? { values[key(name, args)]?.last }
    func fetchAll(_ name: String, _ args: [String]) -> [SampleValue] { values[key(name, args)] ?? [] }
}

final class ACLTests: XCTestCase {
    let request = MultiSource(values: [
        "path": [.string("/api/v1/users")], "url": [.string("/api/v1/users?id=3")], "method": [.string("GET")],
        "req.hdr(host)": [.string("WWW.Example.com")], "req.hdr(x-forwarded-for)": [.string("10.1.2.3"), .string("192.168.1.1")],
        "src": [.string("127.0.0.1")], "dst_port": [.int(8080)], "req.ver": [.string("1.1")],
        "req.hdr(content-length)": [.string("12")], "req.cook(SERVERID)": [.string("s2")],
    ])

    func match(_ line: String) throws -> Bool {
        try ACLTerm.parse(line.split(separator: " ").map(String.init), readFile: { _ in [] }).term.matches(request)
    }

    func testMatchingMethods() throws {
        XCTAssertTrue(try match("path_beg /api /static"))
        XCTAssertFalse(try match("path_beg /static"))
        XCTAssertTrue(try match("path_end /users"))
        XCTAssertTrue(try match("path_sub v1"))
        XCTAssertTrue(try match("path_dir v1"))
        XCTAssertFalse(try match("path_dir v"))
        XCTAssertTrue(try match("hdr_dom(host) -i example.com"))
        XCTAssertFalse(try match("hdr_dom(host) example.com"))  // case matters without -i
        XCTAssertTrue(try match("hdr(host) -i www.example.com"))
        XCTAssertTrue(try match("hdr(host) -m beg -i www."))
        XCTAssertTrue(try match("hdr(host),lower -m end .com"))
        XCTAssertTrue(try match("path_reg ^/api/v[0-9]+/"))
        XCTAssertTrue(try match("path_reg -i ^/API/"))
        XCTAssertTrue(try match("path_len gt 5"))
        XCTAssertTrue(try match("dst_port 8000:9000"))
        XCTAssertFalse(try match("dst_port lt 1024"))
        XCTAssertTrue(try match("dst_port 80 8080"))
        XCTAssertTrue(try match("src 127.0.0.0/8"))
        XCTAssertTrue(try match("src ::ffff:127.0.0.1"))
        XCTAssertFalse(try match("src 10.0.0.0/8"))
        XCTAssertTrue(try match("hdr_ip(x-forwarded-for) 192.168.0.0/16"))  // any occurrence
        XCTAssertTrue(try match("hdr_val(content-length) gt 10"))
        XCTAssertTrue(try match("cook(SERVERID) s1 s2"))
        XCTAssertTrue(try match("req.cook(SERVERID) -m found"))
        XCTAssertFalse(try match("req.cook(JSESSIONID) -m found"))
        XCTAssertTrue(try match("url_param(id) -m found") == false)  // not in the fake source
        XCTAssertTrue(try match("method GET HEAD"))
    }

    func testParseErrorsAreHAProxys() {
        func error(_ line: String) -> String {
            do {
                _ = try ACLTerm.parse(line.split(separator: " ").map(String.init), readFile: { _ in [] })
                return "no error"
            } catch { return error.description }
        }
        XCTAssertEqual(error("pathx_beg /x"), "unknown fetch method 'pathx_beg' in ACL expression 'pathx_beg'.")
        XCTAssertEqual(error("path -m foo /x"), "unknown matching method 'foo' when parsing ACL expression.")
        XCTAssertEqual(error("src 10.0.0.0/8 bad"), "'bad' is not a valid IPv4 or IPv6 address.")
        XCTAssertEqual(error("dst_port 80:90 gt3"), "'gt3' is not a number.")
        XCTAssertTrue(error("hdr(host) -m reg ([").hasPrefix("regex '([' is invalid"))
        XCTAssertEqual(error("path -x /a"), "'-x' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'.")
        XCTAssertNotNil(try ACLTerm.parse(["path_beg"], readFile: { _ in [] }).warning)
        XCTAssertNil(try ACLTerm.parse(["path_beg", "--"], readFile: { _ in [] }).warning)
        XCTAssertNil(try ACLTerm.parse(["path", "-m", "found"], readFile: { _ in [] }).warning)
    }

    func testConditions() throws {
        let declared: [String: [ACLTerm]] = [
            "is_api": [try ACLTerm.parse(["path_beg", "/api"], readFile: { _ in [] }).term],
            "is_static": [try ACLTerm.parse(["path_beg", "/static"], readFile: { _ in [] }).term,
                          try ACLTerm.parse(["path_end", ".css"], readFile: { _ in [] }).term],
        ]
        func holds(_ text: String) throws -> Bool {
            let c = try ACLCondition.parse(text.split(separator: " ").map(String.init), known: { declared[$0] != nil })
            return try CompiledCondition(c, named: { declared[$0] }).holds(request)
        }
        XCTAssertTrue(try holds("if is_api"))
        XCTAssertFalse(try holds("unless is_api"))
        XCTAssertFalse(try holds("if is_api is_static"))
        XCTAssertTrue(try holds("if is_api !is_static"))
        XCTAssertTrue(try holds("if is_api ! is_static"))
        XCTAssertTrue(try holds("if is_static || is_api"))
        XCTAssertTrue(try holds("if is_static or is_api METH_GET"))
        XCTAssertTrue(try holds("if { path_beg /api } LOCALHOST HTTP_1.1"))
        XCTAssertFalse(try holds("if { path_beg /api } !LOCALHOST"))
        XCTAssertTrue(try holds("if TRUE"))
        XCTAssertFalse(try holds("if FALSE"))
        XCTAssertThrowsError(try holds("if nosuch")) { XCTAssertEqual("\($0)", "no such ACL : 'nosuch'.") }
    }

    func testWordMatchingIgnoresDelimitersOfThePattern() {
        XCTAssertTrue(ACLTermTestHooks.dom("www.example.com", ".example.com"))
        XCTAssertTrue(ACLTermTestHooks.dom("example.com:8080", "example.com"))
        XCTAssertFalse(ACLTermTestHooks.dom("myexample.com", "example.com"))
        XCTAssertTrue(ACLTermTestHooks.dir("/a/b/c", "/b/"))
        XCTAssertFalse(ACLTermTestHooks.dir("/a/bc", "b"))
    }
}
