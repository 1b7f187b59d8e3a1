import Stickiness
import XCTest

final class FreqCounterTests: XCTestCase {
    let t0: Int64 = 1 << 40

    func testEventsWithinThePeriodAddUp() {
        var c = FreqCounter()
        for i in 0..<5 { c.add(now: t0 + Int64(i) * 100, period: 10_000) }
        XCTAssertEqual(c.tick, t0)
        XCTAssertEqual(c.read(now: t0 + 500, period: 10_000), 5)
        XCTAssertEqual(c.read(now: t0 + 9_999, period: 10_000), 5)
    }

    func testThePreviousPeriodWeighsByWhatRemainsOfTheCurrentOne() {
        var c = FreqCounter()
        for _ in 0..<40 { c.add(now: t0, period: 2_000) }
        // Half way through the next period: 40 × 1000/2000.
        XCTAssertEqual(c.read(now: t0 + 3_000, period: 2_000), 20)
        // A quarter left: 40 × 500/2000.
        XCTAssertEqual(c.read(now: t0 + 3_500, period: 2_000), 10)
        // Rounded down: 40 × 499/2000 = 9.98.
        XCTAssertEqual(c.read(now: t0 + 3_501, period: 2_000), 9)
        // Two periods later nothing is left.
        XCTAssertEqual(c.read(now: t0 + 4_000, period: 2_000), 0)
        XCTAssertEqual(c.read(now: t0 + 60_000, period: 2_000), 0)
    }

    func testRotationKeepsThePeriodGrid() {
        var c = FreqCounter()
        c.add(3, now: t0, period: 1_000)
        // An event in the next period: the period starts right after the first one.
        c.add(now: t0 + 1_250, period: 1_000)
        XCTAssertEqual(c.tick, t0 + 1_000)
        XCTAssertEqual(c.prev, 3)
        XCTAssertEqual(c.curr, 1)
        // 1 + 3 × 750/1000 = 3.25.
        XCTAssertEqual(c.read(now: t0 + 1_250, period: 1_000), 3)
        // After two whole periods without event the counter restarts at now (even ms).
        c.add(now: t0 + 5_001, period: 1_000)
        XCTAssertEqual(c.tick, t0 + 5_000)
        XCTAssertEqual(c.prev, 0)
        XCTAssertEqual(c.curr, 1)
    }

    func testAFreshCounterReadsZero() {
        let c = FreqCounter()
        XCTAssertEqual(c.read(now: t0, period: 10_000), 0)
    }
}

final class StickTableTests: XCTestCase {
    let t0: Int64 = 1 << 40

    func table(size: Int = 10, expire: Int64? = 1_000, nopurge: Bool = false) -> StickTable {
        var store = StickStore()
        store.insert(.connCur)
        store.insert(.httpReqRate, period: 10_000)
        return StickTable(name: "t", type: .ip, size: size, expire: expire, nopurge: nopurge, store: store)
    }

    func key(_ i: Int) -> StickKey { StickKey.make("10.0.0.\(i)", type: .ip, length: 0)! }

    func testKeysConvertAsHaproxy() {
        XCTAssertEqual(StickKey.make("127.0.0.1", type: .ip, length: 0), .bytes([127, 0, 0, 1]))
        XCTAssertEqual(StickKey.make("::ffff:10.1.2.3", type: .ip, length: 0), .bytes([10, 1, 2, 3]))
        XCTAssertNil(StickKey.make("::1", type: .ip, length: 0))
        XCTAssertEqual(StickKey.make("10.1.2.3", type: .ipv6, length: 0), .bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 1, 2, 3]))
        XCTAssertEqual(StickKey.make("42", type: .integer, length: 0), .integer(42))
        XCTAssertNil(StickKey.make("abc", type: .integer, length: 0))
        XCTAssertEqual(StickKey.make("abcdef", type: .string, length: 3), .bytes(Array("abc".utf8)))
        XCTAssertEqual(StickKey.make("ab", type: .binary, length: 4), .bytes([97, 98, 0, 0]))
    }

    func testTrackCountsAndExpiresAfterTheLastTouch() {
        let t = table()
        let e = t.track(key(1), now: t0) { $0.connCur += 1 }!
        XCTAssertEqual(e.refCount, 1)
        // Referenced entries never expire.
        XCTAssertEqual(t.count(now: t0 + 5_000), 1)
        t.release(e, now: t0 + 5_000) { $0.connCur -= 1 }
        XCTAssertEqual(t.read(key(1), now: t0 + 5_999) { $0.connCur }, 0)
        XCTAssertEqual(t.count(now: t0 + 5_999), 1)
        // `expire` after the release (the last touch).
        XCTAssertNil(t.read(key(1), now: t0 + 6_000) { $0.connCur })
        XCTAssertEqual(t.count(now: t0 + 6_000), 0)
    }

    func testUpdateTouches() {
        let t = table()
        _ = t.modify(key(1), now: t0, create: true) { $0.gpc0 += 1 }
        _ = t.modify(key(1), now: t0 + 900, create: false) { $0.gpc0 += 1 }
        XCTAssertEqual(t.read(key(1), now: t0 + 1_800) { $0.gpc0 }, 2)
        XCTAssertNil(t.read(key(1), now: t0 + 1_900) { $0.gpc0 })
        // Reads do not create.
        XCTAssertNil(t.modify(key(2), now: t0, create: false) { $0.gpc0 })
    }

    func testAFullTablePurgesTheLeastRecentlyTouchedUnreferencedEntries() {
        let t = table(size: 3, expire: nil)
        let held = t.track(key(1), now: t0)!
        _ = t.modify(key(2), now: t0 + 1, create: true) { _ in }
        _ = t.modify(key(3), now: t0 + 2, create: true) { _ in }
        // key 2 was touched again: key 3 is now the oldest unreferenced one.
        _ = t.modify(key(2), now: t0 + 3, create: false) { _ in }
        _ = t.modify(key(4), now: t0 + 4, create: true) { _ in }
        XCTAssertEqual(t.keys(now: t0 + 5), [key(1), key(2), key(4)])
        t.release(held, now: t0 + 6)
        _ = t.modify(key(5), now: t0 + 7, create: true) { _ in }
        XCTAssertEqual(t.keys(now: t0 + 8), [key(4), key(1), key(5)])
    }

    func testNopurgeRefusesNewEntriesWhenFull() {
        let t = table(size: 2, expire: nil, nopurge: true)
        XCTAssertNotNil(t.track(key(1), now: t0))
        XCTAssertNotNil(t.modify(key(2), now: t0, create: true) { _ in 1 })
        XCTAssertNil(t.track(key(3), now: t0))
        XCTAssertEqual(t.count(now: t0), 2)
    }

    func testAFullTableOfReferencedEntriesRefuses() {
        let t = table(size: 2, expire: nil)
        XCTAssertNotNil(t.track(key(1), now: t0))
        XCTAssertNotNil(t.track(key(2), now: t0))
        XCTAssertNil(t.track(key(3), now: t0))
    }

    func testExpiredEntriesMakeRoomFirst() {
        let t = table(size: 2, expire: 100)
        _ = t.modify(key(1), now: t0, create: true) { _ in }
        _ = t.modify(key(2), now: t0 + 50, create: true) { _ in }
        _ = t.modify(key(3), now: t0 + 120, create: true) { _ in }
        XCTAssertEqual(t.keys(now: t0 + 120), [key(2), key(3)])
        XCTAssertEqual(t.available(now: t0 + 200), 1)
    }
}
