import ProxyCore
import XCTest

final class H2FlowControlTests: XCTestCase {
    /// NIOHTTP2's rule: nothing until the window is at half the target, then back to the target.
    func testWindowGoesBackAtHalfTheTarget() {
        var f = H2StreamFlow(target: 65535, initialWindow: 65535, credit: 65535)
        XCTAssertNil(f.received(16384, canForward: true))
        XCTAssertNil(f.received(16383, canForward: true))
        XCTAssertEqual(f.window, 32768)
        XCTAssertEqual(f.received(1, canForward: true), 32768)
        XCTAssertEqual(f.window, 65535)
    }

    /// A side that cannot take more holds the window; it comes back on release, once.
    func testHeldWindowComesBackOnRelease() {
        var f = H2StreamFlow(target: 65535, initialWindow: 65535, credit: 65535)
        XCTAssertNil(f.received(40000, canForward: false))
        XCTAssertTrue(f.held)
        XCTAssertNil(f.received(25535, canForward: false))
        XCTAssertEqual(f.window, 0)
        XCTAssertEqual(f.release(), 65535)
        XCTAssertFalse(f.held)
        XCTAssertNil(f.release(), "released once")
        XCTAssertEqual(f.window, 65535)
        // Held, then a frame arrives when the other side can take more again: it goes back then.
        XCTAssertNil(f.received(40000, canForward: false))
        XCTAssertEqual(f.received(100, canForward: true), 40100)
        XCTAssertNil(f.release())
    }

    func testReleaseWithoutHoldOrAboveHalfSendsNothing() {
        var f = H2StreamFlow(target: 65535, initialWindow: 65535, credit: 0)
        XCTAssertNil(f.release())
        f.hold()
        XCTAssertNil(f.received(100, canForward: false))
        XCTAssertNil(f.release(), "window still above half the target")
        XCTAssertFalse(f.held)
    }

    /// A larger tune.h2.initial-window-size: the target follows.
    func testLargerTarget() {
        var f = H2StreamFlow(target: 1 << 20, initialWindow: 1 << 20, credit: 65535)
        XCTAssertNil(f.received(1 << 19 - 1, canForward: true))
        XCTAssertEqual(f.received(1, canForward: true), 1 << 19)
    }

    func testNegativeWindowGoesBackToTarget() {
        XCTAssertEqual(H2StreamFlow.increment(window: -1000, target: 65535), 66535)
        XCTAssertEqual(H2StreamFlow.increment(window: -Int(Int32.max), target: 65535), Int(Int32.max))
        XCTAssertNil(H2StreamFlow.increment(window: 70000, target: 65535))
    }

    /// Sending credit: the peer's window less what was sent; WINDOW_UPDATE (or a SETTINGS
    /// change) reopens it, and says so only when it was closed.
    func testCreditOpensAndCloses() {
        var f = H2StreamFlow(target: 65535, initialWindow: 65535, credit: 100)
        XCTAssertTrue(f.canSend)
        f.sent(60)
        XCTAssertTrue(f.canSend)
        XCTAssertFalse(f.granted(10), "was open")
        f.sent(60)
        XCTAssertFalse(f.canSend)
        XCTAssertEqual(f.credit, -10)
        XCTAssertFalse(f.granted(5), "still closed")
        XCTAssertTrue(f.granted(10))
        XCTAssertTrue(f.canSend)
        XCTAssertFalse(f.granted(-1000))
        XCTAssertFalse(f.canSend)
    }

    func testConnectionWindow() {
        var c = H2ConnectionWindow(target: 65535)
        XCTAssertNil(c.update(40000))
        XCTAssertEqual(c.update(30000), 35535)
        XCTAssertEqual(c.window, 65535)
        var big = H2ConnectionWindow(target: 1 << 20)
        XCTAssertEqual(big.update(65535 - 100), (1 << 20) - 65435, "a target above the initial 65535 is reached at once")
    }
}
