import NIOCore
import ProxyCore
import XCTest

final class ErrorResponsesTests: XCTestCase {
    /// Bytes captured from haproxy 2.6.12 (parser-level 408, and a 503 through its HTTP layer).
    func testBuiltinMessagesMatchHAProxyByteForByte() {
        XCTAssertEqual(String(decoding: ErrorResponses.builtin(408), as: UTF8.self),
                       "HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n")
        XCTAssertEqual(String(decoding: ErrorResponses.builtin(503), as: UTF8.self),
                       "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")
    }

    func testErrorfileOverridesOneCode() {
        let custom = Array("HTTP/1.0 503 Busy\r\n\r\nbusy".utf8)
        let errors = ErrorResponses(overrides: [503: custom])
        XCTAssertEqual(Array(errors.response(503).readableBytesView), custom)
        XCTAssertEqual(Array(errors.response(504).readableBytesView), ErrorResponses.builtin(504))
    }
}
