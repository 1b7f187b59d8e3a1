import Logging
import XCTest

/// The predefined formats rendered from records whose values are those haproxy 2.6.12 had when it
/// sent the expected datagrams (captured from `log 127.0.0.1:PORT local0`, format local, facility
/// local0, level info: `<134>`). Each test builds the whole datagram: header + line + newline.
final class PredefinedFormatTests: XCTestCase {
    func testFormatStringsAreHAProxys() {
        XCTAssertEqual(LogFormat.httplogString,
                       "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r")
        XCTAssertEqual(LogFormat.tcplogString, "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq")
        XCTAssertEqual(LogFormat.clfString,
                       #"%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl"#)
        XCTAssertEqual(try LogFormat.compile(LogFormat.httplogString), LogFormat.httplog)
        XCTAssertEqual(try LogFormat.compile(LogFormat.tcplogString, httpMode: false), LogFormat.tcplog)
        XCTAssertEqual(try LogFormat.compile(LogFormat.clfString), LogFormat.clf)
        XCTAssertEqual(try LogFormat.compile(LogFormat.httpslogString), LogFormat.httpslog)
    }

    func testHTTPLog() {
        var r = httpRecord(port: 42524, accept: at(12, 1, 55, 556))
        r.tr = 51; r.ta = 51
        r.requestCookie = "SRV=xyz"; r.responseCookie = "SRV=abc"
        r.capturedRequestHeaders = ["example.com", ##"curl/8 "x"#{|}"##]
        r.capturedResponseHeaders = ["r1"]
        r.requestLine = "GET /foo?a=1 HTTP/1.1"
        XCTAssertEqual(datagram(.httplog, r, at(12, 1, 55), pid: 2129),
            ##"<134>Nov 23 12:01:55 haproxy[2129]: 127.0.0.1:42524 [23/Nov/2026:12:01:55.556] fe be/s1 0/0/0/51/51 200 87 SRV=xyz SRV=abc ---- 1/1/0/0/0 0/0 {example.com|curl/8 #22x#22#23#7B#7C#7D} {r1} "GET /foo?a=1 HTTP/1.1"\##n"##)
    }

    func testHTTPLogEscapesRequestLine() {
        // haproxy printed "GET /b#22q#23x#E9 HTTP/1.1" for the latin-1 byte E9; a UTF-8 "é" is two bytes.
        var r = httpRecord(port: 42528, accept: at(12, 1, 57, 709))
        r.tr = 51; r.ta = 51
        r.responseCookie = "SRV=abc"
        r.capturedRequestHeaders = ["h", nil]
        r.capturedResponseHeaders = ["r1"]
        r.requestLine = "GET /b\"q#x\u{7F}{|} HTTP/1.1"
        XCTAssertEqual(String(decoding: LogFormat.httplog.render(r), as: UTF8.self),
            #"127.0.0.1:42528 [23/Nov/2026:12:01:57.709] fe be/s1 0/0/0/51/51 200 87 - SRV=abc ---- 1/1/0/0/0 0/0 {h|} {r1} "GET /b#22q#23x#7F{|} HTTP/1.1""#)
        r.requestLine = "GET /b\"q#xé HTTP/1.1"
        XCTAssertTrue(String(decoding: LogFormat.httplog.render(r), as: UTF8.self).hasSuffix(#""GET /b#22q#23x#C3#A9 HTTP/1.1""#))
    }

    func testHTTPLogBadRequest() {
        var r = badRequestRecord(port: 53414, accept: at(12, 1, 59, 863))
        r.frontendName = "fe"; r.backendName = "fe"
        XCTAssertEqual(datagram(.httplog, r, at(12, 1, 59), pid: 2129),
            ##"<134>Nov 23 12:01:59 haproxy[2129]: 127.0.0.1:53414 [23/Nov/2026:12:01:59.863] fe fe/<NOSRV> -1/-1/-1/-1/0 400 0 - - PR-- 1/1/0/0/0 0/0 "<BADREQ>"\##n"##)
    }

    func testCLF() {
        var r = httpRecord(port: 37420, accept: at(12, 1, 59, 964))
        r.frontendName = "fe2"
        r.tr = 52; r.ta = 52
        r.requestCookie = "SRV=xyz"; r.responseCookie = "SRV=abc"
        r.capturedRequestHeaders = ["example.com", ##"curl/8 "x"#{|}"##]
        r.capturedResponseHeaders = ["r1"]
        r.requestLine = "GET /foo?a=1 HTTP/1.1"
        XCTAssertEqual(datagram(.clf, r, at(12, 2, 0), pid: 2129),
            ##"<134>Nov 23 12:02:00 haproxy[2129]: 127.0.0.1 - - [23/Nov/2026:12:01:59 +0000] "GET /foo?a=1 HTTP/1.1" 200 87 "" "" 37420 964 "fe2" "be" "s1" 0 0 0 52 52 ---- 1 1 0 0 0 0 0 "SRV=xyz" "SRV=abc" "example.com" "curl/8 #22x#22#23#7B#7C#7D" "r1"\##n"##)
    }

    func testCLFBadRequestDropsEmptyCaptureLists() {
        var r = badRequestRecord(port: 37436, accept: at(12, 2, 2, 118))
        r.frontendName = "fe2"; r.backendName = "fe2"
        XCTAssertEqual(datagram(.clf, r, at(12, 2, 2), pid: 2129),
            ##"<134>Nov 23 12:02:02 haproxy[2129]: 127.0.0.1 - - [23/Nov/2026:12:02:02 +0000] "<BADREQ>" 400 0 "" "" 37436 118 "fe2" "fe2" "<NOSRV>" -1 -1 -1 -1 0 PR-- 1 1 0 0 0 0 0 "" "" \##n"##)
    }

    func testTCPLog() {
        var r = tcpRecord(port: 53194, accept: at(12, 2, 7, 168))
        r.tw = 1; r.tc = 0; r.tt = 31; r.bytesRead = 103
        XCTAssertEqual(datagram(.tcplog, r, at(12, 2, 7), pid: 2192),
            ##"<134>Nov 23 12:02:07 haproxy[2192]: 127.0.0.1:53194 [23/Nov/2026:12:02:07.168] fe be/s1 1/0/31 103 -- 1/1/0/0/0 0/0\##n"##)
    }

    func testTCPLogAsap() {
        var r = tcpRecord(port: 40788, accept: at(12, 2, 7, 301))
        r.frontendName = "fe2"
        r.tw = 1; r.tc = 0; r.tt = 0; r.bytesRead = 0; r.logAsap = true
        r.beconn = 1; r.srvConn = 1
        XCTAssertEqual(datagram(.tcplog, r, at(12, 2, 7), pid: 2192),
            ##"<134>Nov 23 12:02:07 haproxy[2192]: 127.0.0.1:40788 [23/Nov/2026:12:02:07.301] fe2 be/s1 1/0/+0 +0 -- 1/1/1/1/0 0/0\##n"##)
    }

    func testHTTPLogRedispatch() {
        var r = httpRecord(port: 37314, accept: at(12, 2, 9, 96))
        r.tr = 21; r.ta = 21; r.retries = 1; r.redispatched = true
        r.requestLine = "GET /a HTTP/1.1"
        XCTAssertEqual(datagram(.httplog, r, at(12, 2, 9), pid: 2240),
            ##"<134>Nov 23 12:02:09 haproxy[2240]: 127.0.0.1:37314 [23/Nov/2026:12:02:09.096] fe be/s1 0/0/0/21/21 200 87 - - ---- 1/1/0/0/+1 0/0 "GET /a HTTP/1.1"\##n"##)
    }

    func testHTTPLogAsapRedispatch() {
        var r = httpRecord(port: 60980, accept: at(12, 2, 12, 909))
        r.tr = 21; r.ta = 21; r.retries = 1; r.redispatched = true; r.logAsap = true; r.beconn = 1
        r.requestLine = "GET /a HTTP/1.1"
        XCTAssertEqual(datagram(.httplog, r, at(12, 2, 12), pid: 2288),
            ##"<134>Nov 23 12:02:12 haproxy[2288]: 127.0.0.1:60980 [23/Nov/2026:12:02:12.909] fe be/s1 0/0/0/21/+21 200 +87 - - ---- 1/1/1/0/+1 0/0 "GET /a HTTP/1.1"\##n"##)
    }

    func testHTTPSLogOverTLS() {
        var r = httpRecord(port: 34928, accept: at(11, 50, 51, 713))
        r.frontendTLS = true
        r.tr = 0; r.ta = 0
        r.requestLine = "GET /t HTTP/1.1"
        r.sslVersion = "TLSv1.3"; r.sslCipher = "TLS_AES_256_GCM_SHA384"
        r.samples = ["fc_err": "0", "ssl_fc_err,hex": "0000000000000000", "ssl_c_err": "0", "ssl_c_ca_err": "0",
                     "ssl_fc_is_resumed": "0", "ssl_fc_sni": "example.org"]
        XCTAssertEqual(datagram(.httpslog, r, at(11, 50, 51), pid: 28861),
            ##"<134>Nov 23 11:50:51 haproxy[28861]: 127.0.0.1:34928 [23/Nov/2026:11:50:51.713] fe~ be/s1 0/0/0/0/0 200 87 - - ---- 1/1/0/0/0 0/0 "GET /t HTTP/1.1" 0/0000000000000000/0/0/0 example.org/TLSv1.3/TLS_AES_256_GCM_SHA384\##n"##)
    }

    func testHTTPSLogInClear() {
        var r = httpRecord(port: 38268, accept: at(11, 50, 40, 863))
        r.tr = 0; r.ta = 0
        r.responseCookie = "SRV=abc"
        r.capturedRequestHeaders = ["h", nil]
        r.capturedResponseHeaders = ["r1"]
        r.requestLine = "GET /a HTTP/1.1"
        r.samples = ["fc_err": "0", "ssl_fc_is_resumed": "0"]
        XCTAssertEqual(datagram(.httpslog, r, at(11, 50, 40), pid: 28585),
            ##"<134>Nov 23 11:50:40 haproxy[28585]: 127.0.0.1:38268 [23/Nov/2026:11:50:40.863] fe be/s1 0/0/0/0/0 200 87 - SRV=abc ---- 1/1/0/0/0 0/0 {h|} {r1} "GET /a HTTP/1.1" 0/-/-/-/0 -/-/-\##n"##)
    }

    func testDefaultFormatWithoutOption() {
        var r = LogRecord()
        r.clientIP = "127.0.0.1"; r.clientPort = 58112
        r.frontendIP = "127.0.0.1"; r.frontendPort = 37119
        r.frontendName = "fe"
        XCTAssertEqual(datagram(LogFormat.defaultFormat(httpMode: false), r, at(11, 50, 10), pid: 28178),
            "<134>Nov 23 11:50:10 haproxy[28178]: Connect from 127.0.0.1:58112 to 127.0.0.1:37119 (fe/TCP)\n")
        r.clientPort = 53988; r.frontendPort = 37939
        XCTAssertEqual(datagram(LogFormat.defaultFormat(httpMode: true), r, at(11, 50, 12), pid: 28226),
            "<134>Nov 23 11:50:12 haproxy[28226]: Connect from 127.0.0.1:53988 to 127.0.0.1:37939 (fe/HTTP)\n")
    }
}
