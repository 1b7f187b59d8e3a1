import XCTest
@testable import HAProxyConfig
final class HAProxyConfigPlaceholderTests: XCTestCase { func testBuilds() {} }
