import Logging
import XCTest

/// Rendering rules one at a time. Lines marked "haproxy:" are what haproxy 2.6.12 sent for the
/// same format (format raw, so no header).
final class RenderTests: XCTestCase {
    func render(_ format: String, _ r: LogRecord, httpMode: Bool = true) throws -> String {
        String(decoding: try LogFormat.compile(format, httpMode: httpMode).render(r), as: UTF8.self)
    }

    func testSeparatorsAndFlagsTogether() throws {
        // haproxy: `x-y 100% 127.0.0.136308 "127.0.0.1" [127.0.0.1] a "be" fe 7F000001 7D90 "be":200 be end `
        var r = httpRecord(port: 36308, accept: at(11, 53, 0))
        r.pid = 0x7D90
        r.samples = ["src": "127.0.0.1"]
        let f = "  x%-y 100%% %ci%cp %{+Q}[src] [%[src]]   a  %{+Q}o %b %{-Q}f %{+X}o %ci %{+Q}pid %{+E}o %b:%ST %{-E,-X,-Q}o %b end  "
        XCTAssertEqual(try render(f, r), #"x-y 100% 127.0.0.136308 "127.0.0.1" [127.0.0.1] a "be" fe 7F000001 7D90 "be":200 be end "#)
    }

    func testEmptyOutputsAndSeparators() throws {
        // haproxy: `a  HTTP/1.1 {} /a - - b - "" 127.0.0.1 127.0.0.0` for
        // GET /a HTTP/1.1 with one request capture (absent) and no response capture.
        var r = httpRecord(port: 1, accept: at(0, 0, 0))
        r.requestLine = "GET /a HTTP/1.1"
        r.capturedRequestHeaders = [nil]
        r.samples = ["src": "127.0.0.1", "src,ipmask(8)": "127.0.0.0"]
        let f = "a %HQ %HV %hr %hs %HPO %[str(),lower] %ID b %[var(txn.none)] %{+Q}[var(txn.none)] %{+X}[src] %[src,ipmask(8)]"
        XCTAssertEqual(try render(f, r), #"a  HTTP/1.1 {} /a - - b - "" 127.0.0.1 127.0.0.0"#)
    }

    func testEscapeFlag() throws {
        // haproxy: GET /a\]b\\c{?q\]\\ HTTP/1.1 /a\]b\\c{?q\]\\ "?q\]\\" GET /a]b\c{?q]\ HTTP/1.1 {p\]q\\r#22} p\]q\\r#22 1795434888
        var r = httpRecord(port: 1, accept: LogTime(seconds: 1_795_434_888, microseconds: 0))
        r.requestLine = #"GET /a]b\c{?q]\ HTTP/1.1"#
        r.capturedRequestHeaders = [#"p]q\r""#]
        XCTAssertEqual(try render("%{+E}r %{+E}HU %{+E,+Q}HQ %r %{+E}hr %{+E}hrl %{+E}Ts", r),
                       #"GET /a\]b\\c{?q\]\\ HTTP/1.1 /a\]b\\c{?q\]\\ "?q\]\\" GET /a]b\c{?q]\ HTTP/1.1 {p\]q\\r#22} p\]q\\r#22 1795434888"#)
        r.requestCookie = #"a"b\c]d"#
        r.samples = ["x": #"1"2"#]
        XCTAssertEqual(try render(#"%{+E}CC %{+E,+Q}[x] %CC"#, r), #"a\"b\\c\]d "1\"2" a"b\c]d"#)
    }

    func testRequestLineParts() throws {
        var r = LogRecord()
        let f = "%HM|%HU|%HP|%HPO|%HQ|%HV"
        // haproxy: POST /p/a?x=1 HTTP/1.1, an absolute URI (haproxy had already dropped ":80"), and "*?a".
        r.requestLine = "POST /p/a?x=1 HTTP/1.1"
        XCTAssertEqual(try render(f, r), "POST|/p/a?x=1|/p/a|/p/a|?x=1|HTTP/1.1")
        r.requestLine = "GET http://host/abs/path?q HTTP/1.1"
        XCTAssertEqual(try render(f, r), "GET|http://host/abs/path?q|http://host/abs/path|/abs/path|?q|HTTP/1.1")
        r.requestLine = "GET *?a HTTP/1.1"
        XCTAssertEqual(try render(f, r), "GET|*?a|*||?a|HTTP/1.1")
        r.requestLine = "GET / HTTP/1.0"
        XCTAssertEqual(try render(f, r), "GET|/|/|/||HTTP/1.0")
        r.requestLine = "CONNECT host:443 HTTP/1.1"
        XCTAssertEqual(try render(f, r), "CONNECT|host:443|host:443|||HTTP/1.1")
        r.requestLine = "GET /x"
        XCTAssertEqual(try render(f, r), "GET|/x|/x|/x||HTTP/0.9")
        r.requestLine = "GARBAGE"
        XCTAssertEqual(try render(f, r), "<BADREQ>|<BADREQ>|<BADREQ>|<BADREQ>||<BADREQ>")
        r.requestLine = nil
        XCTAssertEqual(try render(f, r), "<BADREQ>|<BADREQ>|<BADREQ>|<BADREQ>|<BADREQ>|<BADREQ>")
        XCTAssertEqual(try render("%r %{+Q}r %{+Q}HQ %{+Q}HPO", r), #"<BADREQ> "<BADREQ>" "<BADREQ>" "<BADREQ>""#)
        r.requestLine = "GET /a HTTP/1.1"
        XCTAssertEqual(try render("%{+Q}HQ %{+Q}HPO", r), #""" "/a""#)
    }

    func testRequestLineEncoding() throws {
        var r = LogRecord()
        r.requestLine = "GET /\u{1}\t\"#{|}\u{7F}é HTTP/1.1"
        XCTAssertEqual(try render("%r", r), "GET /#01#09#22#23{|}#7F#C3#A9 HTTP/1.1")
    }

    func testCaptures() throws {
        var r = LogRecord()
        r.capturedRequestHeaders = ["a b", nil, "", "{|}\"#\u{7}"]
        XCTAssertEqual(try render("%hr", r), "{a b|||#7B#7C#7D#22#23#07}")
        XCTAssertEqual(try render("%{+Q}hr", r), #""{a b|||#7B#7C#7D#22#23#07}""#)
        XCTAssertEqual(try render("%hrl", r), "a b -  #7B#7C#7D#22#23#07")
        XCTAssertEqual(try render("%{+Q}hrl", r), ##""a b" "" "" "#7B#7C#7D#22#23#07""##)
        r.capturedRequestHeaders = []
        XCTAssertEqual(try render("[%hr] [%{+Q}hrl]", r), "[] []")
        XCTAssertEqual(try render("x %hr %hrl %hs %hsl y", r), "x y")
    }

    func testAbsentValues() throws {
        let r = LogRecord()
        XCTAssertEqual(try render("%ci %cp %bi %bp %si %sp %CC %CS %ID %H %sslv %sslc %s %[x]", r),
                       "- - - - - - - - - - - - <NOSRV> -")
        XCTAssertEqual(try render("%{+Q}o %ci %cp %bi %bp %CC %CS %ID %H %sslv %sslc %[x]", r),
                       #""" "" "" "" "" "" "" "" "" "" """#)
        XCTAssertEqual(try render("%{+X}o %ci %cp %si %sp", r), "- - - -")
        var e = LogRecord()
        e.requestCookie = ""
        XCTAssertEqual(try render("%CC %{+Q}CC", e), #"- """#)
    }

    func testHex() throws {
        var r = LogRecord()
        r.clientIP = "10.1.2.254"; r.clientPort = 1234
        r.frontendIP = "::1"; r.frontendPort = 80
        r.serverIP = "2001:db8::ff00:42:8329"; r.serverPort = 65535
        r.backendSourceIP = "::ffff:192.0.2.1"; r.backendSourcePort = 5
        r.acceptDate = LogTime(seconds: 15, microseconds: 7_000)
        r.pid = 7; r.requestCounter = 0x12345; r.logCounter = 3
        XCTAssertEqual(try render("%{+X}o %ci:%cp %fi:%fp %si:%sp %bi:%bp %Ts %ms %pid %rt %lc %B %Tt %ST", r),
                       "0A0102FE:04D2 00000000000000000000000000000001:0050 20010DB8000000000000FF0000428329:FFFF "
                       + "00000000000000000000FFFFC0000201:0005 000F 07 0007 12345 0003 0 -1 -1")
        r.serverIP = "unix"
        XCTAssertEqual(try render("%{+X}si %{+X,+Q}si", r), #"unix "unix""#)
    }

    func testDates() throws {
        var r = LogRecord()
        // haproxy (clock shifted with LD_PRELOAD): t=29/Feb/2024:23:59:58.839 T=29/Feb/2024:23:59:58 +0000 Ts=1709251198 ms=839
        r.acceptDate = LogTime(seconds: 1_709_251_198, microseconds: 839_412)
        r.requestDate = LogTime(seconds: 1_709_251_202, microseconds: 5_000)
        XCTAssertEqual(try render("t=%t T=%T Ts=%Ts ms=%ms", r), "t=29/Feb/2024:23:59:58.839 T=29/Feb/2024:23:59:58 +0000 Ts=1709251198 ms=839")
        XCTAssertEqual(try render("%tr %trg %trl %Tl", r),
                       "01/Mar/2024:00:00:02.005 01/Mar/2024:00:00:02 +0000 01/Mar/2024:00:00:02 +0000 29/Feb/2024:23:59:58 +0000")
        r.acceptDate = LogTime(seconds: 0, microseconds: 0)
        XCTAssertEqual(try render("%t %ms", r), "01/Jan/1970:00:00:00.000 000")
        r.acceptDate = LogTime(seconds: 951_825_600, microseconds: 999_999)  // 2000-02-29 12:00:00
        XCTAssertEqual(try render("%t", r), "29/Feb/2000:12:00:00.999")
        r.acceptDate = LogTime(seconds: 4_107_542_399, microseconds: 0)  // 2100-02-28 23:59:59, not a leap year
        XCTAssertEqual(try render("%T", r), "28/Feb/2100:23:59:59 +0000")
        r.acceptDate = LogTime(seconds: 4_107_542_400, microseconds: 0)
        XCTAssertEqual(try render("%T", r), "01/Mar/2100:00:00:00 +0000")
        r.acceptDate = LogTime(seconds: -1, microseconds: 0)
        XCTAssertEqual(try render("%T", r), "31/Dec/1969:23:59:59 +0000")
    }

    func testComputedTimers() throws {
        var r = LogRecord()
        r.th = 2; r.ti = 3; r.tR = 5; r.tw = 7; r.tc = 11; r.tr = 13; r.ta = 40; r.tt = 50
        XCTAssertEqual(try render("%Tq %Td %Tu %Ta %Tt", r), "10 9 47 40 50")
        r.logAsap = true
        XCTAssertEqual(try render("%Tq %Td %Tu %Ta %Tt %B %U", r), "10 9 +47 +40 +50 +0 0")
        r.logAsap = false
        r.tr = -1
        XCTAssertEqual(try render("%Tq %Td", r), "10 -1")
        r.tR = -1; r.tc = -1
        XCTAssertEqual(try render("%Tq %Td", r), "-1 -1")
        // TCP: no request timer; Td counts from the connection.
        var t = LogRecord()
        t.tw = 1; t.tc = 0; t.tt = 31
        XCTAssertEqual(try render("%Td %Tu", t, httpMode: false), "30 31")
    }

    func testStateCountersAndNames() throws {
        var r = LogRecord()
        r.terminationState = ("s", "H"); r.cookieState = ("N", "I")
        r.actconn = 5; r.feconn = 4; r.beconn = 3; r.srvConn = 2; r.retries = 3; r.redispatched = true
        r.serverQueue = 9; r.backendQueue = 8
        r.frontendName = "web"; r.frontendTLS = true; r.backendName = "app"; r.serverName = "srv1"
        r.bytesRead = 5_000_000_000; r.bytesUploaded = 12; r.status = 503
        XCTAssertEqual(try render("%ts %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %ft %{+Q}ft %f %b %s %B %U %ST", r),
                       #"sH sHNI 5/4/3/2/+3 9/8 web~ "web~" web app srv1 5000000000 12 503"#)
    }

    func testRenderAppends() throws {
        var out = Array("prefix ".utf8)
        var r = LogRecord()
        r.backendName = "be"
        try LogFormat.compile("%b").render(r, into: &out)
        XCTAssertEqual(out, Array("prefix be".utf8))
    }

    func testRenderIsFastEnough() throws {
        var r = httpRecord(port: 42524, accept: at(12, 1, 55, 556))
        r.capturedRequestHeaders = ["example.com", "curl/8"]
        r.capturedResponseHeaders = ["r1"]
        r.requestLine = "GET /foo?a=1 HTTP/1.1"
        let f = LogFormat.httplog
        var out: [UInt8] = []
        out.reserveCapacity(512)
        let clock = ContinuousClock()
        let n = 100_000
        let elapsed = clock.measure {
            for _ in 0..<n {
                out.removeAll(keepingCapacity: true)
                f.render(r, into: &out)
            }
        }
        let perLine = elapsed / n
        print("httplog render: \(perLine) per line")
        XCTAssertLessThan(perLine, .microseconds(20))
    }
}
