import XCTest
import HTTP1

final class HTTP1ParserTests: XCTestCase {
    func parseRequest(_ text: String, limits: ParseLimits = ParseLimits()) throws -> (ParseOutcome, MessageHead) {
        var head = MessageHead()
        let bytes = Array(text.utf8)
        let outcome = try bytes.withUnsafeBytes { try HTTP1Parser.parseRequest($0, into: &head, limits: limits) }
        return (outcome, head)
    }

    func requestStatus(_ text: String) -> Int? {
        do { _ = try parseRequest(text); return nil } catch { return (error as? ParseError)?.status }
    }

    func testSimpleGet() throws {
        let text = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\nNEXT"
        let (outcome, head) = try parseRequest(text)
        XCTAssertEqual(outcome, .complete)
        XCTAssertEqual(head.method, .get)
        XCTAssertEqual(head.length, text.utf8.count - 4)
        XCTAssertEqual(head.headers.count, 2)
        XCTAssertTrue(head.connection.keepAlive)
        XCTAssertTrue(head.connection.upgrade)
        XCTAssertEqual(head.targetEnd - head.targetStart, 6)
        XCTAssertEqual(HTTP1Parser.requestFraming(head), .none)
    }

    func testIncompleteUntilEmptyLine() throws {
        XCTAssertEqual(try parseRequest("GET / HTTP/1.1\r\nHost: x\r\n").0, .incomplete)
        XCTAssertEqual(try parseRequest("GET / HTTP/1.1\r\nHost: x\r\n\r").0, .incomplete)
        XCTAssertEqual(try parseRequest("GE").0, .incomplete)
    }

    func testBareLFAccepted() throws {
        let (outcome, head) = try parseRequest("GET / HTTP/1.0\nHost: x\n\n")
        XCTAssertEqual(outcome, .complete)
        XCTAssertEqual(head.minorVersion, 0)
        XCTAssertFalse(HTTP1Parser.requestWantsKeepAlive(head))
    }

    func testFraming() throws {
        var (_, head) = try parseRequest("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n")
        XCTAssertEqual(HTTP1Parser.requestFraming(head), .contentLength(12))
        (_, head) = try parseRequest("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n")
        XCTAssertEqual(HTTP1Parser.requestFraming(head), .contentLength(5))
        (_, head) = try parseRequest("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(HTTP1Parser.requestFraming(head), .chunked)
        XCTAssertEqual(head.contentLengthLines, 1)
    }

    func testHostileRequestsRefused() {
        XCTAssertEqual(requestStatus("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET / HTTP/1.1\r\nName : x\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET / HTTP/1.1\r\nName: a\0b\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("G(T / HTTP/1.1\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET /\u{7f} HTTP/1.1\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET / HTTP/2.0\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET /\r\n\r\n"), 400)
        XCTAssertEqual(requestStatus("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400)
        let big = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 20000) + "\r\n\r\n"
        XCTAssertEqual(requestStatus(big), 400)
        let many = "GET / HTTP/1.1\r\n" + (0..<150).map { "H\($0): v\r\n" }.joined() + "\r\n"
        XCTAssertEqual(requestStatus(many), 400)
    }

    func testResponses() throws {
        var head = MessageHead()
        let bytes = Array("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".utf8)
        let outcome = try bytes.withUnsafeBytes { try HTTP1Parser.parseResponse($0, into: &head, limits: ParseLimits()) }
        XCTAssertEqual(outcome, .complete)
        XCTAssertEqual(head.status, 204)
        XCTAssertEqual(HTTP1Parser.responseFraming(head, requestMethod: .get), .none)
        XCTAssertFalse(HTTP1Parser.responseAllowsReuse(head))
        let bytes2 = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".utf8)
        _ = try bytes2.withUnsafeBytes { try HTTP1Parser.parseResponse($0, into: &head, limits: ParseLimits()) }
        XCTAssertEqual(HTTP1Parser.responseFraming(head, requestMethod: .head), .none)
        XCTAssertEqual(HTTP1Parser.responseFraming(head, requestMethod: .get), .contentLength(10))
        let bytes3 = Array("HTTP/1.0 200 OK\r\n\r\n".utf8)
        _ = try bytes3.withUnsafeBytes { try HTTP1Parser.parseResponse($0, into: &head, limits: ParseLimits()) }
        XCTAssertEqual(HTTP1Parser.responseFraming(head, requestMethod: .get), .untilClose)
        let bad = Array("HTTX/1.1 200 OK\r\n\r\n".utf8)
        XCTAssertThrowsError(try bad.withUnsafeBytes { try HTTP1Parser.parseResponse($0, into: &head, limits: ParseLimits()) })
    }

    func testChunkedTrackerAcrossSplits() throws {
        let body = Array("4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT".utf8)
        let bodyLength = body.count - 4
        // Every split point must give the same end.
        for split in 0...body.count {
            var tracker = ChunkedTracker()
            var consumed = 0
            let a = Array(body[0..<split]), b = Array(body[split...])
            consumed += try a.withUnsafeBytes { try tracker.consume($0) }
            if !tracker.isDone { consumed += try b.withUnsafeBytes { try tracker.consume($0) } }
            XCTAssertTrue(tracker.isDone, "split \(split)")
            XCTAssertEqual(consumed, bodyLength, "split \(split)")
        }
    }

    func testChunkedTrackerRefusesGarbage() {
        for bad in ["zz\r\n", "4\r\nWikiXX", "\r\n"] {
            var tracker = ChunkedTracker()
            let bytes = Array(bad.utf8)
            var copy = tracker
            let accepted: Bool = bytes.withUnsafeBytes { raw in
                do throws(ParseError) { _ = try copy.consume(raw); return true } catch { return false }
            }
            tracker = copy
            if accepted { XCTFail("accepted \(bad.debugDescription)") }
        }
    }
}
