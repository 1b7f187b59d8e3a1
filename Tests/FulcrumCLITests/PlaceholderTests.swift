import XCTest
@testable import FulcrumCLI
final class FulcrumCLIPlaceholderTests: XCTestCase { func testBuilds() {} }
