import Logging
import XCTest
final class LoggingPlaceholderTests: XCTestCase { func testBuilds() { XCTAssertEqual(SyslogFacility.local0.code, 16) } }
