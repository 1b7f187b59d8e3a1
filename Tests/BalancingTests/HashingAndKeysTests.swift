import Balancing
import XCTest

func h(_ s: String, _ f: HashFunctionKind) -> UInt32 {
    var s = s
    return s.withUTF8 { Hashing.hash(UnsafeRawBufferPointer($0), function: f) }
}

func h(_ bytes: [UInt8], _ f: HashFunctionKind) -> UInt32 {
    bytes.withUnsafeBytes { Hashing.hash($0, function: f) }
}

final class HashingTests: XCTestCase {
    func testCRC32CheckValue() {
        XCTAssertEqual(h("123456789", .crc32), 0xCBF4_3926)
        XCTAssertEqual(h("", .crc32), 0)
        XCTAssertEqual(h("The quick brown fox jumps over the lazy dog", .crc32), 0x414F_A339)
    }

    func testKnownSmallValues() {
        XCTAssertEqual(h("", .sdbm), 0)
        XCTAssertEqual(h("a", .sdbm), 97)
        // sdbm("ab") = 98 + 97*64 + 97*65536 - 97
        XCTAssertEqual(h("ab", .sdbm), 98 &+ 97 &* 64 &+ 97 &* 65536 &- 97)
        XCTAssertEqual(h("", .djb2), 5381)
        XCTAssertEqual(h("a", .djb2), 5381 * 33 + 97)
        XCTAssertEqual(h([0x12, 0x34, 0x56, 0x78], .none), 0x1234_5678)
        XCTAssertEqual(h([0x12, 0x34], .none), 0x1234)
        XCTAssertEqual(h([0, 0, 0, 1, 0, 0, 0, 3], .none), 2)
    }

    func testDeterministicAndDistinct() {
        for key in ["hello", "/index.html", "192.168.0.1", "x"] {
            let values = [HashFunctionKind.sdbm, .djb2, .wt6, .crc32].map { h(key, $0) }
            XCTAssertEqual(Set(values).count, 4, "\(key): \(values)")
            XCTAssertEqual(values, [HashFunctionKind.sdbm, .djb2, .wt6, .crc32].map { h(key, $0) })
        }
        XCTAssertEqual(Hashing.hash("hello", function: .wt6), h("hello", .wt6))
        XCTAssertNotEqual(h("hello", .wt6), h("hellp", .wt6))
    }

    /// Known answers computed with a C transcription of HAProxy's functions.
    func testKnownAnswers() {
        XCTAssertEqual(h("hello", .wt6), 0xD2E6_E6B7)
        XCTAssertEqual(h("hello", .sdbm), 0x28D1_9932)
        XCTAssertEqual(h("hello", .djb2), 0x0F92_3099)
        XCTAssertEqual(h("/index.html", .wt6), 0x3101_077E)
        XCTAssertEqual(h("/index.html", .sdbm), 0x3324_2976)
        XCTAssertEqual(h("/index.html", .djb2), 0xE114_B9CF)
        XCTAssertEqual(h("192.168.0.1", .wt6), 0xA9D3_C5BA)
        XCTAssertEqual(h("192.168.0.1", .sdbm), 0xA319_0A74)
        XCTAssertEqual(h("192.168.0.1", .djb2), 0xCA90_B72B)
        // HAProxy's full avalanche hash: Jenkins' mix, then × 3221225473.
        XCTAssertEqual(Hashing.avalanche(0), 0xAB4E_D927)
        XCTAssertEqual(Hashing.avalanche(12345), 0xF652_3C53)
    }

    func testWt6SpreadsNumericKeys() {
        var seen = Set<UInt32>()
        for i in 0..<10_000 { seen.insert(h("\(i)", .wt6)) }
        XCTAssertGreaterThan(seen.count, 9_800)
    }

    func testAvalancheMixesAllBits() {
        XCTAssertEqual(Hashing.avalanche(12345), Hashing.avalanche(12345))
        XCTAssertNotEqual(Hashing.avalanche(0), 0)
        var total = 0
        var samples = 0
        var x: UInt32 = 0x1234_5678
        for _ in 0..<1000 {
            x = x &* 1_664_525 &+ 1_013_904_223
            for bit in 0..<32 {
                let d = Hashing.avalanche(x) ^ Hashing.avalanche(x ^ (1 << UInt32(bit)))
                total += d.nonzeroBitCount
                samples += 1
            }
        }
        let mean = Double(total) / Double(samples)
        XCTAssertEqual(mean, 16, accuracy: 2, "mean flipped bits \(mean)")
    }
}

final class HashKeysTests: XCTestCase {
    func uri(_ t: String, whole: Bool = false, len: Int? = nil, depth: Int? = nil, pathOnly: Bool = false) -> String {
        String(HashKeys.uri(Substring(t), whole: whole, length: len, depth: depth, pathOnly: pathOnly))
    }

    func testURI() {
        XCTAssertEqual(uri("/a/b/c?x=1"), "/a/b/c")
        XCTAssertEqual(uri("/a/b/c?x=1", whole: true), "/a/b/c?x=1")
        XCTAssertEqual(uri("/a/b/c?x=1", depth: 2), "/a/b")
        XCTAssertEqual(uri("/a/b/c?x=1", depth: 1), "/a")
        XCTAssertEqual(uri("/a/b/c?x=1", depth: 5), "/a/b/c")
        XCTAssertEqual(uri("/a/b/c?x=1", len: 4), "/a/b")
        XCTAssertEqual(uri("/a/b/c?x=1", len: 3, depth: 2), "/a/")
        XCTAssertEqual(uri("/a/b/c?x=1", len: 100), "/a/b/c")
        XCTAssertEqual(uri("/abc?x=1", whole: true, len: 6), "/abc?x")
        XCTAssertEqual(uri("/"), "/")
        XCTAssertEqual(uri("/?q"), "/")
        // Absolute URIs: the authority is part of the key unless path-only.
        XCTAssertEqual(uri("http://example.com/a/b?q=1"), "http://example.com/a/b")
        XCTAssertEqual(uri("http://example.com/a/b?q=1", pathOnly: true), "/a/b")
        XCTAssertEqual(uri("http://example.com/a/b?q=1", whole: true, pathOnly: true), "/a/b?q=1")
        XCTAssertEqual(uri("https://example.com:8443/a/b/c", depth: 1, pathOnly: true), "/a")
        XCTAssertEqual(uri("http://example.com", pathOnly: true), "")
        XCTAssertEqual(uri("/x/y", pathOnly: true), "/x/y")
        XCTAssertEqual(uri("http://h/p", pathOnly: false), "http://h/p")
    }

    func testURLParam() {
        func p(_ t: String, _ n: String) -> String? { HashKeys.urlParam(Substring(t), name: n).map(String.init) }
        XCTAssertEqual(p("/login?userid=42&x=1", "userid"), "42")
        XCTAssertEqual(p("/login?x=1&userid=42", "userid"), "42")
        XCTAssertEqual(p("/login?a=1&userid=7#frag", "userid"), "7")
        XCTAssertEqual(p("/login?session_id=abc&userid=9", "session_id"), "abc")
        XCTAssertNil(p("/login?useridx=1", "userid"))
        XCTAssertNil(p("/login?xuserid=1", "userid"))
        XCTAssertNil(p("/login?userid=", "userid"))
        XCTAssertNil(p("/login?userid", "userid"))
        XCTAssertNil(p("/login", "userid"))
        XCTAssertNil(p("/userid=3?b=2", "userid"))
        XCTAssertNil(p("/login?USERID=1", "userid"))
        XCTAssertEqual(p("/login?userid=&userid=5", "userid"), "5")
        XCTAssertEqual(p("/l?a=b=c", "a"), "b=c")
    }

    func testDomainOnly() {
        func d(_ s: String) -> String { String(HashKeys.domainOnly(Substring(s))) }
        XCTAssertEqual(d("haproxy.1wt.eu"), "1wt")
        XCTAssertEqual(d("www.example.com"), "example")
        XCTAssertEqual(d("www.example.com:8080"), "example")
        XCTAssertEqual(d("example.com"), "example")
        XCTAssertEqual(d("a.b.c.example.org"), "example")
        XCTAssertEqual(d("localhost"), "localhost")
    }

    func testKeysHashLikeTheirText() {
        let b = Balancer(kind: .hash(consistent: false, function: .sdbm, avalanche: false), servers: servers([1, 1, 1]))
        let key = HashKeys.uri("/a/b?x", whole: false, length: nil, depth: nil, pathOnly: false)
        XCTAssertEqual(b.select(keyText: key, avoid: nil, hasRoom: always, load: zeroLoad), b.pick(key: "/a/b"))
    }
}
