import XCTest
import HAProxyConfig
final class HAProxyConfigPlaceholderTests: XCTestCase { func testBuilds() {} }
