import HAProxyConfig
import HealthChecks
import XCTest

final class HTTPCheckTests: XCTestCase {
    func testRequestsAsHAProxyWritesThem() {
        var s = HTTPCheckSettings()
        XCTAssertEqual(String(decoding: HTTPCheckEvaluation.request(s, host: "h"), as: UTF8.self), "OPTIONS / HTTP/1.0\r\n\r\n")
        s.method = "GET"
        s.uri = "/h"
        s.version = "HTTP/1.1"
        s.headers = [HTTPHeaderPair(name: "Host", value: "www.example.com")]
        s.body = "hello"
        XCTAssertEqual(String(decoding: HTTPCheckEvaluation.request(s, host: "h"), as: UTF8.self),
                       "GET /h HTTP/1.1\r\nhost: www.example.com\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
    }

    func testDefaultExpectIs2xxOr3xx() {
        XCTAssertTrue(HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: [], expects: []).passed)
        XCTAssertTrue(HTTPCheckEvaluation.evaluate(status: 302, reason: "Found", body: [], expects: []).passed)
        let bad = HTTPCheckEvaluation.evaluate(status: 500, reason: "Internal Server Error", body: [], expects: [])
        XCTAssertEqual(bad, CheckOutcome(passed: false, status: .l7sts, info: "Internal Server Error", code: 500, durationMilliseconds: 0))
        let ok = HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: [], expects: [])
        XCTAssertEqual(ok, CheckOutcome(passed: true, status: .l7ok, info: nil, code: 200, durationMilliseconds: 0))
    }

    func testStatusPatterns() {
        XCTAssertTrue(HTTPCheckEvaluation.statusMatches(204, pattern: "200-299"))
        XCTAssertTrue(HTTPCheckEvaluation.statusMatches(301, pattern: "200,301"))
        XCTAssertFalse(HTTPCheckEvaluation.statusMatches(302, pattern: "200,301"))
        let e = [HTTPCheckExpect(kind: .status, negate: false, pattern: "204")]
        XCTAssertEqual(HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: [], expects: e).status, .l7sts)
        let notE = [HTTPCheckExpect(kind: .status, negate: true, pattern: "200")]
        XCTAssertFalse(HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: [], expects: notE).passed)
        XCTAssertTrue(HTTPCheckEvaluation.evaluate(status: 503, reason: "x", body: [], expects: notE).passed)
        let r = [HTTPCheckExpect(kind: .rstatus, negate: false, pattern: "^2")]
        XCTAssertTrue(HTTPCheckEvaluation.evaluate(status: 204, reason: "", body: [], expects: r).passed)
    }

    func testBodyExpects() {
        let s = [HTTPCheckExpect(kind: .string, negate: false, pattern: "alive")]
        XCTAssertTrue(HTTPCheckEvaluation.evaluate(status: 500, reason: "x", body: Array("I am alive".utf8), expects: s).passed,
                      "only the expect rule decides")
        let miss = HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: Array("dead".utf8), expects: s)
        XCTAssertEqual(miss.info, "HTTP content check did not match")
        XCTAssertEqual(miss.status, .l7rsp)
        let unwanted = HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: Array("dead".utf8),
                                                    expects: [HTTPCheckExpect(kind: .string, negate: true, pattern: "dead")])
        XCTAssertEqual(unwanted.info, "HTTP check matched unwanted content")
        let rs = [HTTPCheckExpect(kind: .rstring, negate: false, pattern: "ali.e")]
        XCTAssertTrue(HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: Array("alive".utf8), expects: rs).passed)
        XCTAssertFalse(HTTPCheckEvaluation.evaluate(status: 200, reason: "OK", body: Array("alxve".utf8), expects: rs).passed)
    }
}

final class TCPCheckRunnerTests: XCTestCase {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testRedisPingPongScript() {
        var r = TCPCheckRunner(rules: [.send(bytes("PING\r\n")), .expect(negate: false, kind: .string, pattern: "+PONG")])
        XCTAssertEqual(r.next(), .send(bytes("PING\r\n")))
        XCTAssertEqual(r.next(), .expect)
        XCTAssertNil(r.received(bytes("+PO"), closed: false), "partial: waits")
        XCTAssertEqual(r.received(bytes("NG\r\n"), closed: false),
                       .done(CheckOutcome(passed: true, status: .l7ok, info: "(tcp-check)", code: 0, durationMilliseconds: 0)))
    }

    func testMismatchOnCloseNamesTheStep() {
        var r = TCPCheckRunner(rules: [.send(bytes("PING\r\n")), .expect(negate: false, kind: .string, pattern: "+PONG")])
        _ = r.next(); _ = r.next()
        XCTAssertEqual(r.received(bytes("-ERR x\r\n"), closed: true),
                       .done(CheckOutcome(passed: false, status: .l7rsp, info: "TCPCHK did not match content '+PONG' at step 2",
                                          durationMilliseconds: 0)))
        var empty = TCPCheckRunner(rules: [.send(bytes("PING\r\n")), .expect(negate: false, kind: .string, pattern: "+PONG")])
        _ = empty.next(); _ = empty.next()
        XCTAssertEqual(empty.received([], closed: true),
                       .done(CheckOutcome(passed: false, status: .l7rsp, info: "TCPCHK got an empty response at step 2",
                                          durationMilliseconds: 0)))
    }

    func testNegatedCommentedAndRegexAndBinary() {
        var r = TCPCheckRunner(rules: [.comment("hello"), .expect(negate: true, kind: .string, pattern: "BAD")])
        XCTAssertEqual(r.next(), .expect)
        XCTAssertEqual(r.received(bytes("BAD\r\n"), closed: false),
                       .done(CheckOutcome(passed: false, status: .l7rsp, info: "TCPCHK matched unwanted content 'BAD' at step 2 comment: hello",
                                          durationMilliseconds: 0)))
        var re = TCPCheckRunner(rules: [.expect(negate: false, kind: .rstring, pattern: "^OK")])
        _ = re.next()
        XCTAssertEqual(re.received(bytes("NO\r\n"), closed: true),
                       .done(CheckOutcome(passed: false, status: .l7rsp, info: "TCPCHK did not match content (regex) at step 1",
                                          durationMilliseconds: 0)))
        var bin = TCPCheckRunner(rules: [.connect(port: nil), .sendBinary([1, 2]), .expect(negate: false, kind: .binary, pattern: "0304")])
        XCTAssertEqual(bin.next(), .connect(port: nil))
        XCTAssertEqual(bin.next(), .send([1, 2]))
        XCTAssertEqual(bin.next(), .expect)
        XCTAssertNil(bin.received([0, 3], closed: false))
        if case .done(let o)? = bin.received([4], closed: false) { XCTAssertTrue(o.passed) } else { XCTFail() }
        var rbin = TCPCheckRunner(rules: [.expect(negate: false, kind: .rbinary, pattern: "^0304")])
        _ = rbin.next()
        if case .done(let o)? = rbin.received([0x78, 0x79], closed: true) {
            XCTAssertEqual(o.info, "TCPCHK did not match content (binary regex) at step 1")
        } else { XCTFail() }
    }

    func testErrorContext() {
        var r = TCPCheckRunner(rules: [.send(bytes("PING\r\n")), .expect(negate: false, kind: .string, pattern: "+PONG")])
        XCTAssertEqual(r.errorContext, " at initial connection step of tcp-check")
        _ = r.next(); _ = r.next()
        XCTAssertEqual(r.errorContext, " at step 2 of tcp-check (expect string '+PONG')")
        let c = TCPCheckRunner(rules: [.connect(port: 1), .expect(negate: false, kind: .string, pattern: "x")])
        XCTAssertEqual(c.initialConnectPort, 1)
        XCTAssertEqual(c.errorContext, " at step 1 of tcp-check (connect port 1)")
        XCTAssertEqual(TCPCheckRunner(protocol: .redis).errorContext, "", "protocol checks add no context")
    }

    func testOnlyConnectIsLayer4() {
        var r = TCPCheckRunner(rules: [])
        XCTAssertEqual(r.next(), .done(CheckOutcome(passed: true, status: .l4ok, info: nil, durationMilliseconds: 0)))
    }

    func testRedisCheck() {
        var r = TCPCheckRunner(protocol: .redis)
        XCTAssertEqual(r.next(), .send(bytes("*1\r\n$4\r\nPING\r\n")))
        XCTAssertEqual(r.next(), .expect)
        XCTAssertEqual(r.received(bytes("+PONG\r\n"), closed: false),
                       .done(CheckOutcome(passed: true, status: .l7ok, info: "Redis server is ok", code: 0, durationMilliseconds: 0)))
        var bad = TCPCheckRunner(protocol: .redis)
        _ = bad.next(); _ = bad.next()
        XCTAssertEqual(bad.received(bytes("-ERR wrong\r\n"), closed: false),
                       .done(CheckOutcome(passed: false, status: .l7sts, info: "-ERR wrong", code: 0, durationMilliseconds: 0)))
    }

    func testMySQLGreetingAndLogin() {
        XCTAssertEqual(TCPCheckRunner.mysqlLogin(user: "haproxy"),
                       [0x29, 0, 0, 1, 0, 0x82, 0, 0, 0, 0, 0, 1, 0x21] + [UInt8](repeating: 0, count: 23)
                        + Array("haproxy".utf8) + [0, 0, 1, 0, 0, 0, 1])
        let greetingPayload: [UInt8] = [10] + Array("10.11.6-MariaDB".utf8) + [0, 1, 2, 3]
        let greeting = [UInt8(greetingPayload.count), 0, 0, 0] + greetingPayload
        var plain = TCPCheckRunner(protocol: .mysql(user: nil))
        XCTAssertEqual(plain.next(), .expect)
        XCTAssertNil(plain.received(Array(greeting.prefix(6)), closed: false))
        XCTAssertEqual(plain.received(Array(greeting.dropFirst(6)), closed: false),
                       .done(CheckOutcome(passed: true, status: .l7ok, info: "10.11.6-MariaDB", code: 0, durationMilliseconds: 0)))

        var login = TCPCheckRunner(protocol: .mysql(user: "haproxy"))
        if case .send = login.next() {} else { XCTFail() }
        XCTAssertEqual(login.next(), .expect)
        XCTAssertNil(login.received(greeting, closed: false), "waits for the reply to the login")
        let errPayload: [UInt8] = [0xFF, 0x15, 0x04] + Array("#28000Access denied".utf8)
        XCTAssertEqual(login.received([UInt8(errPayload.count), 0, 0, 2] + errPayload, closed: false),
                       .done(CheckOutcome(passed: false, status: .l7sts, info: "Access denied", code: 1045, durationMilliseconds: 0)))
    }

    func testPgsqlAndSMTP() {
        XCTAssertEqual(TCPCheckRunner.pgsqlStartup(user: "haproxy"),
                       [0, 0, 0, 0x16, 0, 3, 0, 0] + Array("user".utf8) + [0] + Array("haproxy".utf8) + [0, 0])
        var pg = TCPCheckRunner(protocol: .pgsql(user: "haproxy"))
        _ = pg.next(); _ = pg.next()
        XCTAssertEqual(pg.received([0x52, 0, 0, 0, 8, 0, 0, 0, 5], closed: false),
                       .done(CheckOutcome(passed: true, status: .l7ok, info: "PostgreSQL server is ok", code: 0, durationMilliseconds: 0)))
        var smtp = TCPCheckRunner(protocol: .smtp(command: "EHLO", domain: "me"))
        XCTAssertEqual(smtp.next(), .expect)
        XCTAssertEqual(smtp.received(bytes("220 mx ESMTP\r\n"), closed: false), .send(bytes("EHLO me\r\n")))
        XCTAssertEqual(smtp.next(), .expect)
        XCTAssertEqual(smtp.received(bytes("250 mx hello\r\n"), closed: false), .send(bytes("QUIT\r\n")))
        XCTAssertEqual(smtp.next(), .done(CheckOutcome(passed: true, status: .l7ok, info: "mx hello", code: 250, durationMilliseconds: 0)))
        var busy = TCPCheckRunner(protocol: .smtp(command: "HELO", domain: "localhost"))
        _ = busy.next()
        XCTAssertEqual(busy.received(bytes("554 go away\r\n"), closed: false),
                       .done(CheckOutcome(passed: false, status: .l7sts, info: "554 go away", code: 554, durationMilliseconds: 0)))
    }
}
