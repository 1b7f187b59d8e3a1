import Foundation
import Samples
import XCTest

/// A source with a variable store (what a session will provide).
struct VarSource: SampleSource {
    var values: [String: SampleValue] = [:]
    let variables: VariableStore? = VariableStore(process: ProcessVariables())
    func fetch(_ name: String, _ args: [String]) -> SampleValue? { values[name] }
}

/// Expected values below were read from haproxy 2.6.12 (`http-request return ... lf-string`).
final class ConvertersTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("conv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func eval(_ expr: String, _ source: some SampleSource = VarSource()) throws -> String? {
        try SampleExpression.parse(expr).evaluate(source)?.text
    }

    func error(_ expr: String) -> String? {
        do {
            _ = try SampleExpression.parse(expr)
            return nil
        } catch {
            return error.description
        }
    }

    // MARK: maps

    func testMapFileFormatAndStr() throws {
        let m = try file("s.map", "# comment\n\n  foo   bar baz  \nfoo second\nkeyonly\n   # indented\nFoo upper\ncr\tvalue-cr\r\n/api api-prefix\n/api/v2 v2-prefix\n")
        XCTAssertEqual(try eval("str(foo),map(\(m))"), "bar baz", "value = rest of line, trailing blanks cut; first line wins")
        XCTAssertEqual(try eval("str(Foo),map(\(m))"), "upper", "case-sensitive")
        XCTAssertEqual(try eval("str(FOO),map(\(m),dflt)"), "dflt")
        XCTAssertEqual(try eval("str(keyonly),map(\(m),dflt)"), "")
        XCTAssertEqual(try eval("str(cr),map(\(m))"), "value-cr", "CR of CRLF dropped")
        XCTAssertNil(try eval("str(nope),map(\(m))"), "no default: no value")
        XCTAssertEqual(try eval("str(nope),map_str(\(m),)"), "")
        XCTAssertEqual(try eval("str(/api/v2/x),map_beg(\(m))"), "v2-prefix", "beg: the longest prefix")
        XCTAssertEqual(try eval("str(/api/v2/x),map_sub(\(m))"), "api-prefix", "sub: first line")
        XCTAssertEqual(try eval("str(/x/api),map_end(\(m))"), "api-prefix")
        XCTAssertEqual(try eval("str(/x/api/y),map_dir(\(m))"), "api-prefix")
        XCTAssertNil(try eval("str(/apix),map_dir(\(m))"))
    }

    func testMapDomRegRegm() throws {
        let d = try file("d.map", "example.com dom\nwww ww\napi dir\n")
        XCTAssertEqual(try eval("str(www.example.com),map_dom(\(d))"), "dom")
        XCTAssertEqual(try eval("str(x.api.y),map_dom(\(d))"), "dir")
        let r = try file("r.map", "^/(a|b)/(.*)$ g1=\\1,g2=\\2\n^/x x-lit\n(?i)^/CI ci\n[0-9]+ digits-\\0\n")
        XCTAssertEqual(try eval("str(/a/rest),map_reg(\(r))"), "g1=\\1,g2=\\2")
        XCTAssertEqual(try eval("str(/a/rest),map_regm(\(r))"), "g1=a,g2=rest")
        XCTAssertEqual(try eval("str(/b/),map_regm(\(r))"), "g1=b,g2=")
        XCTAssertEqual(try eval("str(/ci),map_reg(\(r))"), "ci")
        XCTAssertEqual(try eval("str(zz123zz),map_regm(\(r))"), "digits-123")
    }

    func testMapIntAndIP() throws {
        let i = try file("i.map", "1 one\n10:20 range\n42 answer\n-5 upto5\n")
        XCTAssertEqual(try eval("int(15),map_int(\(i))"), "range")
        XCTAssertEqual(try eval("str(15),map_int(\(i))"), "range")
        XCTAssertEqual(try eval("int(42),map_int(\(i))"), "answer")
        XCTAssertEqual(try eval("int(3),map_int(\(i),d)"), "upto5", "'-5' is a range up to 5")
        XCTAssertEqual(try eval("str(42abc),map_int(\(i),d)"), "answer", "leading digits")
        XCTAssertEqual(try eval("int(99),map_int(\(i),d)"), "d")
        XCTAssertNil(try eval("str(),map_int(\(i),d)"), "an empty string is no integer")
        let p = try file("ip.map", "10.0.0.0/8 ten\n10.1.0.0/16 ten-one\n10.1.2.3 exact\n10.1.2.0/24 ten-one-two\n::1 v6local\n2001:db8::/32 doc\n")
        XCTAssertEqual(try eval("str(10.1.2.3),map_ip(\(p))"), "exact")
        XCTAssertEqual(try eval("str(10.1.2.4),map_ip(\(p))"), "ten-one-two", "longest prefix, not file order")
        XCTAssertEqual(try eval("str(10.1.9.9),map_ip(\(p))"), "ten-one")
        XCTAssertEqual(try eval("str(10.9.9.9),map_ip(\(p))"), "ten")
        XCTAssertEqual(try eval("str(11.0.0.1),map_ip(\(p),none)"), "none")
        XCTAssertEqual(try eval("str(2001:db8::5),map_ip(\(p))"), "doc")
        XCTAssertEqual(try eval("str(::ffff:10.1.2.3),map_ip(\(p))"), "exact")
        XCTAssertNil(try eval("str(junk),map_ip(\(p),dflt)"), "not an address: no value, not the default")
    }

    func testMapOutputTypes() throws {
        let ok = try file("ok.map", "a 12\nb 13\n")
        XCTAssertEqual(try eval("str(a),map_str_int(\(ok))"), "12")
        XCTAssertEqual(try eval("str(a),map_str_int(\(ok)),add(1)"), "13")
        XCTAssertEqual(try eval("str(zz),map_str_int(\(ok),7)"), "7")
        XCTAssertEqual(try eval("str(a),map_beg_int(\(ok))"), "12")
        let ips = try file("ips.map", "a 10.1.2.3\nb ::1\n")
        XCTAssertEqual(try eval("str(b),map_str_ip(\(ips))"), "::1")
    }

    func testMapErrorsAreHAProxys() throws {
        XCTAssertEqual(error("str(a),map(nosuch.map)"), "invalid args in converter 'map' : failed to open pattern file <nosuch.map>")
        let bad = try file("bad.map", "a 12\nb x\n")
        XCTAssertEqual(error("str(a),map_str_int(\(bad))"), "invalid args in converter 'map_str_int' : unable to parse 'x' at line 2 of file '\(bad)'")
        let ok = try file("ok.map", "a 12\n")
        XCTAssertEqual(error("str(a),map_str_int(\(ok),x)"), "invalid arg 2 in converter 'map_str_int' : failed to parse 'x' as type 'integer' at position 2")
        XCTAssertEqual(error("str(a),map_ip_int(\(ok))"), "invalid args in converter 'map_ip_int' : 'a' is not a valid IPv4 or IPv6 address at line 1 of file '\(ok)'")
        XCTAssertEqual(error("str(a),map_int_int(\(ok))"), "invalid args in converter 'map_int_int' : 'a' is not a number at line 1 of file '\(ok)'")
        XCTAssertEqual(error("str(a),map_ip_str(\(ok))"), "unknown converter 'map_ip_str'")
        XCTAssertEqual(error("str(a),map_regm_int(\(ok))"), "unknown converter 'map_regm_int'")
        let re = try file("re.map", "a(b ok\n")
        XCTAssertTrue(error("str(a),map_reg(\(re))")?.hasPrefix("invalid args in converter 'map_reg' : regex 'a(b' is invalid (") ?? false)
        XCTAssertTrue(error("str(a),map_reg(\(re))")?.hasSuffix(") at line 1 of file '\(re)'") ?? false)
    }

    func testMapLoadedOnceAtParse() throws {
        let path = try file("once.map", "k v1\n")
        let e = try SampleExpression.parse("str(k),map(\(path))")
        try FileManager.default.removeItem(atPath: path)
        XCTAssertEqual(e.evaluate(VarSource())?.text, "v1", "the file is read at parse time only")
    }

    // MARK: regsub

    func testRegsub() throws {
        XCTAssertEqual(try eval("str(aaa),regsub(^a,x,g)"), "xaa", "^ anchors at the start only")
        XCTAssertEqual(try eval("str(abc),regsub(x*,-,g)"), "-a-b-c-")
        XCTAssertEqual(try eval("str(abc),regsub(x*,-)"), "-abc")
        XCTAssertEqual(try eval("str(abc),regsub(b|,-,g)"), "-a--c-")
        XCTAssertEqual(try eval("str(foo12bar),regsub('(foo)([0-9]+)','<\\2\\1>')"), "<12foo>bar")
        XCTAssertEqual(try eval("str(foo12bar),regsub(\"(foo)([0-9]+)\",\"<\\2\\1>\")"), "<12foo>bar")
        XCTAssertEqual(try eval("str(FOO12bar),regsub('(foo)([0-9]+)','<\\2\\1>',i)"), "<12FOO>bar")
        XCTAssertEqual(try eval("str(a/b//c///d),regsub('/+','/','g')"), "a/b/c/d")
        XCTAssertEqual(try eval("str(a/b//c///d),regsub(/+,/,g)"), "a/b/c/d")
        XCTAssertEqual(try eval("str(abcabc),regsub(b,\\\\1X)"), "aXcabc", "a missing group is empty")
        XCTAssertEqual(try eval("str(abc),regsub(\"(b)\",\"[\\x41]\")"), "a[A]c")
        XCTAssertEqual(try eval("str(a1b22),regsub(\"[0-9]+\",<\\0>,g)"), "a<1>b<22>")
        XCTAssertEqual(try eval("str(aXbx),regsub(x,-,gi)"), "a-b-")
        XCTAssertEqual(try eval("str('a,b'),regsub(',',';')"), "a;b")
        XCTAssertEqual(try eval("int(12),regsub(1,x)"), "x2")
        XCTAssertEqual(try eval("str(héllo),regsub(.,x,g)"), "xxxxxx", "bytes, as PCRE without UTF")
        XCTAssertEqual(try eval("str(aé),regsub(\"\\w+\",W)"), "Wé", "ASCII classes")
        XCTAssertEqual(try eval("str(é),regsub(é,E)"), "E")
        XCTAssertNil(try eval("str(abc),regsub(b,\\\\)"), "a trailing backslash fails")
    }

    func testRegsubErrors() {
        XCTAssertEqual(error("str(a),regsub(b,x,q)"), "invalid args in converter 'regsub' : invalid regex flag 'q', only 'i' and 'g' are supported")
        XCTAssertEqual(error("str(a),regsub(,x)"), "missing regex in arg 1 of conversion keyword 'regsub'")
        XCTAssertTrue(error("str(a),regsub(a(b,x)")?.hasPrefix("error in regex 'a(b' in arg 1 of conversion keyword 'regsub' : regex 'a(b' is invalid (") ?? false)
        XCTAssertTrue(error("str(a),regsub('a(b',x)")?.hasPrefix("error in regex 'a(b' in arg 1 of conversion keyword 'regsub' : regex 'a(b' is invalid (") ?? false)
        XCTAssertEqual(error("str(a),regsub((b),[\\1])"), "converter 'regsub' : expects 2 to 3 argument(s), got 1", "the ')' of the regex closes the arguments")
    }

    // MARK: argument quoting

    func testArgumentQuotingIsHAProxys() throws {
        XCTAssertEqual(try eval("str(x),concat(a,,b)"), "xab")
        XCTAssertEqual(try eval("str(x),concat()"), "x")
        XCTAssertEqual(try eval("str(x),concat('a,b')"), "xa,b")
        XCTAssertEqual(try eval("str(x),concat(\"a)b\")"), "xa)b")
        XCTAssertEqual(try eval("str(x),concat(a\\\\b)"), "xa\\b")
        XCTAssertEqual(try eval("str(x),concat(a\\xb)"), "xa\\xb")
        XCTAssertEqual(try eval("str(x),concat(\"a\\\"b\")"), "xa\"b")
        XCTAssertEqual(try eval("str(x),concat('a\\\\b')"), "xa\\\\b", "nothing is unescaped in single quotes")
        XCTAssertEqual(try eval("str(x),concat(a\"b,c\"d)"), "xab,cd")
        XCTAssertEqual(try eval("str(x),concat(a b)"), "xa b")
    }

    // MARK: variables

    func testVariables() throws {
        let s = VarSource()
        func run(_ e: String) throws -> String? { try eval(e, s) }
        XCTAssertEqual(try run("str(abc),set-var(txn.v),concat(<,txn.v,>)"), "abc<abc>")
        XCTAssertEqual(try run("var(txn.v)"), "abc")
        XCTAssertEqual(try run("var(txn.nope,dflt)"), "dflt")
        XCTAssertEqual(try run("var(txn.nope,)"), "")
        XCTAssertNil(try run("var(txn.nope)"))
        XCTAssertEqual(try run("str(x),concat(,txn.nope,)"), "x", "a missing variable appends nothing")
        XCTAssertEqual(try run("int(5),set-var(txn.n)"), "5")
        XCTAssertEqual(try run("int(3),add(txn.n)"), "8")
        XCTAssertEqual(try run("var(txn.n),add(1)"), "6", "the stored type is kept")
        XCTAssertNil(try run("int(3),sub(txn.none)"))
        XCTAssertEqual(try run("str(7x),set-var(txn.m)"), "7x")
        XCTAssertEqual(try run("int(3),mul(txn.m)"), "21", "a string variable is cast to an integer")
        XCTAssertEqual(try run("str(q),set-var(sess.a),unset-var(sess.a)"), "q")
        XCTAssertEqual(try run("var(sess.a,gone)"), "gone")
        // set-var conditions: the converter fails when one does not hold.
        _ = try run("str(q),set-var(txn.a)")
        XCTAssertNil(try run("str(r),set-var(txn.a,ifnotexists)"))
        XCTAssertEqual(try run("var(txn.a)"), "q")
        XCTAssertEqual(try run("str(r),set-var(txn.a,ifexists)"), "r")
        XCTAssertNil(try run("str(q),set-var(txn.b,ifexists)"))
        XCTAssertNil(try run("str(),set-var(txn.c,ifnotempty)"))
        XCTAssertEqual(try run("str(),set-var(txn.c,ifempty)"), "")
        XCTAssertNil(try run("int(0),set-var(txn.z,ifempty)"), "an integer is never empty")
        _ = try run("int(3),set-var(txn.d)")
        XCTAssertNil(try run("int(5),set-var(txn.d,ifgt)"))
        XCTAssertEqual(try run("int(5),set-var(txn.d,iflt)"), "5")
        XCTAssertEqual(try run("int(2),set-var(txn.d,ifgt)"), "2")
        // Scopes: a new transaction keeps sess., drops txn./req./res.
        _ = try run("str(s),set-var(sess.keep)")
        _ = try run("str(r),set-var(req.r)")
        s.variables!.endRequest()
        XCTAssertNil(try run("var(req.r)"))
        s.variables!.beginTransaction()
        XCTAssertNil(try run("var(txn.a)"))
        XCTAssertEqual(try run("var(sess.keep)"), "s")
    }

    func testProcScopeIsShared() throws {
        let process = ProcessVariables()
        let a = VariableStore(process: process), b = VariableStore(process: process)
        let name = try VariableName(parsing: "proc.count")
        a.set(name, .int(4))
        XCTAssertEqual(b.get(name), .int(4))
        a.beginTransaction()
        XCTAssertEqual(b.get(name), .int(4))
    }

    func testStrcmpAndSecureMemcmp() throws {
        let s = VarSource()
        func cmp(_ stored: String, _ input: String) throws -> String? {
            _ = try eval("str(\(stored)),set-var(txn.v)", s)
            return try eval("str(\(input)),strcmp(txn.v)", s)
        }
        XCTAssertEqual(try cmp("abc", "abc"), "0")
        XCTAssertEqual(try cmp("abd", "abc"), "-1")
        XCTAssertEqual(try cmp("abb", "abc"), "1")
        XCTAssertEqual(try cmp("ab", "abc"), "1")
        XCTAssertEqual(try cmp("abcd", "abc"), "-1")
        XCTAssertEqual(try cmp("aZ", "aa"), "7", "the difference of the bytes")
        XCTAssertEqual(try cmp("é", "a"), "-98")
        XCTAssertNil(try eval("str(abc),strcmp(txn.zz)", s))
        _ = try eval("str(abc),set-var(txn.s)", s)
        XCTAssertEqual(try eval("str(abc),secure_memcmp(txn.s)", s), "1")
        XCTAssertEqual(try eval("str(abd),secure_memcmp(txn.s)", s), "0")
        XCTAssertEqual(try eval("str(ab),secure_memcmp(txn.s)", s), "0")
        XCTAssertNil(try eval("str(abc),secure_memcmp(txn.none)", s))
    }

    func testVariableNameErrorsAreHAProxys() {
        let scopes = "A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
        XCTAssertEqual(error("str(x),set-var(foo)"), "invalid args in converter 'set-var' : invalid variable name 'foo'. \(scopes)")
        XCTAssertEqual(error("str(x),set-var(txn.)"), "invalid args in converter 'set-var' : invalid variable name 'txn.'. \(scopes)")
        XCTAssertEqual(error("str(x),set-var(txn.a-b)"), "invalid args in converter 'set-var' : invalid syntax at char '-b'")
        XCTAssertEqual(error("str(x),set-var()"), "invalid args in converter 'set-var' : Empty variable name cannot be accepted")
        XCTAssertEqual(error("var(foo)"), "invalid args in fetch method 'var' : invalid variable name 'foo'. \(scopes)")
        XCTAssertEqual(error("str(x),unset-var(bar)"), "invalid args in converter 'unset-var' : invalid variable name 'bar'. \(scopes)")
        XCTAssertEqual(error("str(x),concat(a,bad,c)"), "invalid args in converter 'concat' : failed to register variable name 'bad'")
        XCTAssertEqual(error("str(x),strcmp(bad)"), "invalid args in converter 'strcmp' : failed to register variable name 'bad'")
        XCTAssertEqual(error("str(x),strcmp()"), "invalid args in converter 'strcmp' : missing variable name")
        XCTAssertEqual(error("str(x),set-var(txn.a,ifbogus)"), "invalid args in converter 'set-var' : unknown condition \"ifbogus\"")
        XCTAssertEqual(error("int(1),add(foo)"), "invalid args in converter 'add' : expects an integer or a variable name")
        XCTAssertEqual(error("int(1),add(12x)"), "invalid args in converter 'add' : expects an integer or a variable name")
        XCTAssertNil(error("str(x),set-var(txn.A_9.b)"))
    }

    // MARK: hashes

    /// (length, xxh3(0), xxh3(7), xxh3(-3), xxh64(0), xxh64(7), xxh32(0), xxh32(7)) from haproxy
    /// 2.6 over `data(length)`: every XXH3 path (0, 1-3, 4-8, 9-16, 17-128, 129-240, one and
    /// several 1 KiB blocks, seeded secret above 240 bytes).
    static let vectors: [(Int, Int64, Int64, Int64, Int64, Int64, Int64, Int64)] = [
        (0, 3244421341483603138, -7981820518085198152, 6303421945240656316, -1205034819632174695, -7642500336903896055, 46947589, 3618484216),
        (1, -1817709641818812897, -7001539911779966828, 3826435772475869221, -3292477735350538661, -2566126185475933851, 1426945110, 3666002600),
        (3, 9125552886706874172, -5257193076565020429, -5689128892890281497, -1107526042795709573, -2783293937684252527, 3748350165, 2624765536),
        (4, -6905390556216652696, 2827148543349315561, -4164166956770021444, 2711106134884117176, 4963452220964455200, 1871729438, 1184181784),
        (8, 1306841219248222054, 78875243680981142, 7071924914037429290, -6735881562268313631, 8396282039736000484, 2932701036, 3050244357),
        (9, -7105850429051124874, -4600891809479917340, -5857661164093623960, 4895626016983591463, -5612528078139923748, 2825319210, 877139347),
        (16, -2351805535553304516, -1747142806390598826, -3050006673795539333, 5583782693443560525, 8679701592085001530, 2320211675, 2202742731),
        (17, -80870870846984673, -150741341059787356, -1994914098233583179, -8421544520712028229, 6637959043686245070, 1331950430, 2680126897),
        (100, 3136123887854083364, 5279913657485187413, 2405088255032378914, -7721201560950861252, -4620727179812484859, 348388951, 1733728335),
        (128, -6348420971940875514, 5303257631630401777, -8117789732094010136, 2959148346148995902, -8083042869352895901, 2174637361, 2992986171),
        (129, -8464590990335449178, -6949311468617052136, 5829010305589349060, 432559564475422695, 8198310777693857211, 3884840221, 882125133),
        (200, 8748004792008546722, 2779699573845553768, 3595965798479610993, 1272556526836895128, -6255293549776207501, 2968791489, 2564075081),
        (240, -1210678094469159214, -6350900519125012858, 2281683624913586093, -7635888016431834492, 3817130570918288293, 4072745962, 486614880),
        (241, -3372281530180324482, -6022167031150302166, 7100826216604506019, -3513417053408436477, -3953459404078785714, 3285152312, 3616053609),
        (1024, 7607610716411578985, -4337539691892412234, -1852605632604791846, 7643538313398551759, 2363227461240840038, 267451295, 1027033718),
        (1025, 6203772981743849807, 3226600308007635339, 457375269699865819, 3567376449600372243, 4728103624625202646, 3082660330, 1892719085),
        (2049, 2230810678196215636, -6433446941439521489, 653886595547494113, 1745130049296595867, -2605736063277078899, 922463434, 807437148),
        (5000, -8527478808818022674, 2368104504855623469, 6337365687191302049, -5895116209502411509, -415437859669387897, 1660470542, 2506184599),
    ]

    static func data(_ n: Int) -> String {
        let alpha = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        return String((0..<n).map { alpha[($0 * 7 + $0 / 64) % 64] })
    }

    func testXXHashVectorsFromHAProxy() throws {
        for (n, x3, x3s7, x3sm3, x64, x64s7, x32, x32s7) in Self.vectors {
            let s = VarSource(values: ["req.fhdr": .string(Self.data(n))])
            func h(_ conv: String) throws -> String? { try eval("req.fhdr(x-d),\(conv)", s) }
            XCTAssertEqual(try h("xxh3"), "\(x3)", "xxh3 len \(n)")
            XCTAssertEqual(try h("xxh3(7)"), "\(x3s7)", "xxh3(7) len \(n)")
            XCTAssertEqual(try h("xxh3(-3)"), "\(x3sm3)", "xxh3(-3) len \(n)")
            XCTAssertEqual(try h("xxh64"), "\(x64)", "xxh64 len \(n)")
            XCTAssertEqual(try h("xxh64(7)"), "\(x64s7)", "xxh64(7) len \(n)")
            XCTAssertEqual(try h("xxh32"), "\(x32)", "xxh32 len \(n)")
            XCTAssertEqual(try h("xxh32(7)"), "\(x32s7)", "xxh32(7) len \(n)")
        }
        XCTAssertEqual(try eval("str(hello),xxh3"), "-7685981735718036227")
        XCTAssertEqual(try eval("str(hello),xxh3(1)"), "8408359951548325522")
        XCTAssertEqual(try eval("str(hello),xxh32"), "4211111929")
        XCTAssertEqual(try eval("str(hello),xxh32(4294967297)"), try eval("str(hello),xxh32(1)"), "the 32-bit seed is truncated")
        XCTAssertEqual(try eval("int(12),xxh3"), "-6248565649915620112")
        XCTAssertEqual(error("str(a),xxh3(x)"), "invalid arg 1 in converter 'xxh3' : failed to parse 'x' as type 'integer' at position 1")
    }

    // MARK: dates, url_enc

    func testDates() throws {
        XCTAssertEqual(try eval("int(1700000000),http_date"), "Tue, 14 Nov 2023 22:13:20 GMT")
        XCTAssertEqual(try eval("int(1700000000),http_date(3600)"), "Tue, 14 Nov 2023 23:13:20 GMT")
        XCTAssertEqual(try eval("int(1700000000123),http_date(0,ms)"), "Tue, 14 Nov 2023 22:13:20.123 GMT")
        XCTAssertEqual(try eval("int(1700000000123456),http_date(0,us)"), "Tue, 14 Nov 2023 22:13:20.123456 GMT")
        XCTAssertEqual(try eval("str(12),http_date"), "Thu, 01 Jan 1970 00:00:12 GMT")
        XCTAssertEqual(try eval("int(1700000000),utime(%Y-%m-%d %H:%M:%S)"), "2023-11-14 22:13:20")
        XCTAssertEqual(try eval("int(1700000000),utime(%Y%m%d%H%M,60)"), "202311142214")
        XCTAssertNotNil(try eval("int(1700000000),ltime(%Y-%m-%dT%H:%M:%S%z)"))
        XCTAssertEqual(error("int(1),http_date(1,xs)"), "invalid args in converter 'http_date' : expects 's', 'ms' or 'us', got 'xs'")
        XCTAssertEqual(error("int(1),ltime(%Y,x)"), "invalid arg 2 in converter 'ltime' : failed to parse 'x' as type 'integer' at position 2")
    }

    func testURLEncode() throws {
        let all = String((0x20..<0x7F).map { Character(Unicode.Scalar(UInt8($0))) })
        let s = VarSource(values: ["req.fhdr": .string("a" + all + "é")])
        XCTAssertEqual(try eval("req.fhdr(x-u),url_enc", s),
                       "a%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%C3%A9")
        XCTAssertEqual(try eval("str(a b),url_enc(query)"), "a%20b")
        XCTAssertEqual(error("str(x),url_enc(foo)"), "invalid args in converter 'url_enc' : Unexpected encode type. Allowed value is 'query'")
    }
}
