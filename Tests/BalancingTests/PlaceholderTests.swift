import XCTest
@testable import Balancing
final class BalancingPlaceholderTests: XCTestCase { func testBuilds() {} }
