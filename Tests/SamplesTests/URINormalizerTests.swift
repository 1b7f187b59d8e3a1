import Samples
import XCTest

/// The normalizers of `http-request normalize-uri`, with the outputs measured on haproxy 2.6.
final class URINormalizerTests: XCTestCase {
    func check(_ n: URINormalizer, _ cases: [(String, String?)], file: StaticString = #filePath, line: UInt = #line) {
        for (input, expected) in cases {
            XCTAssertEqual(n.apply(input), expected, "\(n) \(input)", file: file, line: line)
        }
    }

    func testPathMergeSlashes() {
        check(.pathMergeSlashes, [("//", "/"), ("/foo//bar", "/foo/bar"), ("/a?b//c", "/a?b//c"),
                                  ("http://h.test//a/./b?z=1", "http://h.test/a/./b?z=1"), ("/x#a//b", "/x#a/b")])
    }

    func testPathStripDot() {
        check(.pathStripDot, [("/.", "/"), ("/./bar/", "/bar/"), ("/a/./a", "/a/a"), ("/.well-known/", "/.well-known/"),
                              ("/a//b/./c/../d?q", "/a//b/c/../d?q"), ("http://h.test//a/./b", "http://h.test//a/b")])
    }

    func testPathStripDotdot() {
        check(.pathStripDotdot(full: false), [("/foo/../", "/"), ("/foo/../bar/", "/bar/"), ("/foo/bar/../", "/foo/"),
                                              ("/../bar/", "/../bar/"), ("/bar/../../", "/../"), ("/foo//../", "/foo/"),
                                              ("/foo/%2E%2E/", "/foo/%2E%2E/"), ("/a/b/..", "/a/"), ("/a?b/../c", "/a?b/../c")])
        check(.pathStripDotdot(full: true), [("/../bar/", "/bar/"), ("/bar/../../", "/"), ("/a/..", "/"),
                                             ("/a//b/./c/../d?q=1", "/a//b/./d?q=1")])
    }

    func testPercentDecodeUnreserved() {
        check(.percentDecodeUnreserved(strict: false), [("/%61dmin", "/admin"), ("/foo%3Fbar=baz", "/foo%3Fbar=baz"),
                                                        ("/%%36%36", "/%66"), ("/%ZZ", "/%ZZ"), ("/%6f?x=%6f", "/o?x=o"),
                                                        ("/%7e%7E%41", "/~~A"), ("/foo/%2E%2E/", "/foo/../")])
        check(.percentDecodeUnreserved(strict: true), [("/%%36%36", nil), ("/%ZZ", nil), ("/%zz", nil), ("/%2f%2F", "/%2f%2F")])
    }

    func testPercentToUppercase() {
        check(.percentToUppercase(strict: false), [("/%6f", "/%6F"), ("/%zz", "/%zz"), ("/%2f%2F?q=%6f", "/%2F%2F?q=%6F")])
        check(.percentToUppercase(strict: true), [("/%zz", nil), ("/%%36%36", nil), ("/%7e", "/%7E")])
    }

    func testQuerySortByName() {
        check(.querySortByName, [("/?c=3&a=1&b=2", "/?a=1&b=2&c=3"), ("/?aaa=3&a=1&aa=2", "/?a=1&aa=2&aaa=3"),
                                 ("/?a=3&b=4&a=1&b=5&a=2", "/?a=3&a=1&a=2&b=4&b=5"), ("/?b&a=&=z&a", "/?=z&a=&a&b"),
                                 ("/?", "/?"), ("/p", "/p"), ("/d?q=%6f&b=2&a=1#frag", "/d?a=1#frag&b=2&q=%6f")])
    }

    func testFragments() {
        check(.fragmentStrip, [("/#foo", "/"), ("/x#a#b?c", "/x"), ("/plain?q", "/plain?q")])
        check(.fragmentEncode, [("/#foo", "/%23foo"), ("/x#a#b?c", "/x%23a%23b?c")])
    }

    func testNames() {
        XCTAssertEqual(URINormalizer(name: "path-strip-dotdot", option: "full"), .pathStripDotdot(full: true))
        XCTAssertNil(URINormalizer(name: "path-merge-slashes", option: "full"))
        XCTAssertNil(URINormalizer(name: "nope", option: nil))
        XCTAssertEqual(URINormalizer.option(of: "percent-to-uppercase"), "strict")
    }
}
