import HealthChecks
import XCTest
final class HealthChecksPlaceholderTests: XCTestCase { func testBuilds() { XCTAssertEqual(CheckStatus.l4ok.rawValue, "L4OK") } }
