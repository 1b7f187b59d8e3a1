import Balancing
import XCTest

final class HashBalanceTests: XCTestCase {
    static let mapBased = BalanceKind.hash(consistent: false, function: .sdbm, avalanche: false)
    static let consistent = BalanceKind.hash(consistent: true, function: .sdbm, avalanche: true)

    func keys(_ n: Int) -> [String] { (0..<n).map { "/static/object-\($0).png" } }

    func testSameKeySameServer() {
        for kind in [Self.mapBased, Self.consistent,
                     .hash(consistent: false, function: .crc32, avalanche: true),
                     .hash(consistent: true, function: .djb2, avalanche: true),
                     .hash(consistent: true, function: .wt6, avalanche: false)] {
            let b = Balancer(kind: kind, servers: servers([1, 1, 1, 1]))
            let ks = keys(10_000)
            let first = ks.map { b.pickIndex(key: $0) }
            let second = ks.map { b.pickIndex(key: $0) }
            XCTAssertEqual(first, second, "\(kind)")
            // Another balancer with the same configuration agrees.
            let b2 = Balancer(kind: kind, servers: servers([1, 1, 1, 1]))
            XCTAssertEqual(first, ks.map { b2.pickIndex(key: $0) }, "\(kind)")
            XCTAssertEqual(Set(first), [0, 1, 2, 3], "\(kind)")
        }
    }

    func testEvenDistribution() {
        for kind in [Self.mapBased, Self.consistent,
                     .hash(consistent: true, function: .crc32, avalanche: false)] {
            let b = Balancer(kind: kind, servers: servers([1, 1, 1, 1]))
            let c = counts(keys(100_000).map { b.pickIndex(key: $0) }, 4)
            for n in c {
                XCTAssertEqual(Double(n), 25_000, accuracy: 5_000, "\(kind): \(c)")
            }
        }
    }

    func testWeightsRespected() {
        // Map-based: exact shares of the hash space.
        let m = Balancer(kind: Self.mapBased, servers: servers([1, 3]))
        let cm = counts(keys(100_000).map { m.pickIndex(key: $0) }, 2)
        XCTAssertEqual(Double(cm[1]) / Double(cm[0]), 3.0, accuracy: 0.3, "\(cm)")
        // Consistent: ring arcs are random, so only roughly with small weights…
        let c1 = Balancer(kind: Self.consistent, servers: servers([1, 3]))
        let cc1 = counts(keys(100_000).map { c1.pickIndex(key: $0) }, 2)
        XCTAssertEqual(Double(cc1[1]) / Double(cc1[0]), 3.0, accuracy: 0.8, "\(cc1)")
        // …and more closely with larger weights (more points on the ring).
        let c10 = Balancer(kind: Self.consistent, servers: servers([10, 30]))
        let cc10 = counts(keys(100_000).map { c10.pickIndex(key: $0) }, 2)
        XCTAssertEqual(Double(cc10[1]) / Double(cc10[0]), 3.0, accuracy: 0.4, "\(cc10)")
    }

    func testConsistentRemovalMovesOnlyKeysOfRemovedServer() {
        let b = Balancer(kind: Self.consistent, servers: servers([1, 1, 1, 1]))
        let ks = keys(10_000)
        let before = ks.map { b.pickIndex(key: $0) }
        b.setUsable(2, false)
        let after = ks.map { b.pickIndex(key: $0) }
        var moved = 0
        for k in ks.indices where before[k] != after[k] {
            moved += 1
            XCTAssertEqual(before[k], 2, "a key not on the removed server moved")
        }
        XCTAssertFalse(after.contains(2))
        XCTAssertEqual(moved, before.filter { $0 == 2 }.count)
        XCTAssertLessThanOrEqual(Double(moved) / Double(ks.count), 0.25 + 0.05)
        // Back up: exactly the original mapping again.
        b.setUsable(2, true)
        XCTAssertEqual(ks.map { b.pickIndex(key: $0) }, before)
    }

    func testConsistentWeightIncreaseOnlyMovesKeysToThatServer() {
        let b = Balancer(kind: Self.consistent, servers: servers([1, 1, 1]))
        let ks = keys(10_000)
        let before = ks.map { b.pickIndex(key: $0) }
        b.setWeight(0, 2)
        let after = ks.map { b.pickIndex(key: $0) }
        for k in ks.indices where before[k] != after[k] {
            XCTAssertEqual(after[k], 0)
        }
    }

    func testIncrementalRingMatchesFreshRing() {
        let b = Balancer(kind: Self.consistent, servers: servers([1, 1, 1, 1], backups: [2]))
        b.setWeight(0, 5)
        b.setUsable(2, false)
        b.setWeight(1, 3)
        b.setUsable(2, true)
        b.setWeight(3, 0)
        b.setWeight(3, 1)
        let fresh = Balancer(kind: Self.consistent, servers: servers([5, 3, 1, 1], backups: [2]))
        let ks = keys(5_000)
        XCTAssertEqual(ks.map { b.pickIndex(key: $0) }, ks.map { fresh.pickIndex(key: $0) })
        // Switch to the backup and back.
        for i in 0..<4 { b.setUsable(i, false) }
        XCTAssertEqual(Set(ks.map { b.pickIndex(key: $0) }), [4])
        for i in 0..<4 { b.setUsable(i, true) }
        XCTAssertEqual(ks.map { b.pickIndex(key: $0) }, ks.map { fresh.pickIndex(key: $0) })
    }

    func testMapBasedNeverPicksDownServer() {
        let b = Balancer(kind: Self.mapBased, servers: servers([1, 1, 1, 1]))
        b.setUsable(1, false)
        let c = counts(keys(10_000).map { b.pickIndex(key: $0) }, 4)
        XCTAssertEqual(c[1], 0)
        XCTAssertTrue(c[0] > 2_500 && c[2] > 2_500 && c[3] > 2_500, "\(c)")
    }

    func testMapBasedIgnoresWeightChanges() {
        let b = Balancer(kind: Self.mapBased, servers: servers([1, 1]))
        let ks = keys(1_000)
        let before = ks.map { b.pickIndex(key: $0) }
        b.setWeight(0, 10)
        XCTAssertEqual(ks.map { b.pickIndex(key: $0) }, before)
    }

    func testHashReturnsServerEvenWithoutRoom() {
        for kind in [Self.mapBased, Self.consistent] {
            let b = Balancer(kind: kind, servers: servers([1, 1, 1]))
            for k in keys(100) {
                let s = b.pickIndex(key: k)
                XCTAssertEqual(b.pick(key: k, hasRoom: { _ in false }), .server(s), "\(kind)")
            }
        }
    }

    func testAvoidTakesAnotherServer() {
        for kind in [Self.mapBased, Self.consistent] {
            let b = Balancer(kind: kind, servers: servers([1, 1, 1]))
            for k in keys(500) {
                let s = b.pickIndex(key: k)
                let t = b.pickIndex(key: k, avoid: s)
                XCTAssertNotEqual(s, t, "\(kind)")
                // Stable for the same key.
                XCTAssertEqual(t, b.pickIndex(key: k, avoid: s), "\(kind)")
                // An avoided server is not given up for a full one if another has room.
                let u = b.pickIndex(key: k, avoid: s, hasRoom: { $0 != t })
                XCTAssertTrue(u != s && u != t, "\(kind)")
            }
            // A single server: avoid cannot be honoured.
            let one = Balancer(kind: kind, servers: servers([1]))
            XCTAssertEqual(one.pick(key: "x", avoid: 0), .server(0))
        }
    }

    func testConsistentAvoidIsNextServerOnRing() {
        // Removing the avoided server sends the key where `avoid` sends it.
        let b = Balancer(kind: Self.consistent, servers: servers([1, 1, 1, 1]))
        let removed = Balancer(kind: Self.consistent, servers: servers([1, 1, 1, 1]))
        removed.setUsable(3, false)
        for k in keys(2_000) where b.pickIndex(key: k) == 3 {
            XCTAssertEqual(b.pickIndex(key: k, avoid: 3), removed.pickIndex(key: k))
        }
    }

    func testNoKeyFallsBackToRoundRobin() {
        for kind in [Self.mapBased, Self.consistent] {
            let b = Balancer(kind: kind, servers: servers([1, 1, 1]))
            let picks = (0..<30).map { _ in b.pickIndex() }
            XCTAssertEqual(counts(picks, 3), [10, 10, 10], "\(kind)")
            XCTAssertEqual(maxRun(picks, of: 0), 1)
            // Empty text key counts as no key.
            XCTAssertEqual(b.select(keyText: "", avoid: nil, hasRoom: { _ in false }, load: zeroLoad), .allFull)
        }
    }

    func testKeyTextMatchesBytes() {
        let b = Balancer(kind: Self.consistent, servers: servers([1, 1, 1, 1, 1]))
        for k in keys(200) {
            XCTAssertEqual(b.select(keyText: Substring(k), avoid: nil, hasRoom: always, load: zeroLoad), b.pick(key: k))
        }
    }
}
