import Balancing
import XCTest

final class RoundRobinTests: XCTestCase {
    func testWeightedExactProportionsAndInterleaving() {
        let b = Balancer(kind: .roundRobin, servers: servers([1, 2, 3]))
        let picks = (0..<6000).map { _ in b.pickIndex() }
        XCTAssertEqual(counts(picks, 3), [1000, 2000, 3000])
        // Smooth WRR sequence for 1/2/3: c b a c b c, repeated.
        XCTAssertEqual(Array(picks.prefix(12)), [2, 1, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2])
        XCTAssertEqual(maxRun(picks, of: 0), 1)
        XCTAssertEqual(maxRun(picks, of: 1), 1)
        XCTAssertLessThanOrEqual(maxRun(picks, of: 2), 2)
    }

    func testEqualWeightsAlternate() {
        let b = Balancer(kind: .roundRobin, servers: servers([1, 1, 1]))
        let picks = (0..<9).map { _ in b.pickIndex() }
        XCTAssertEqual(picks, [0, 1, 2, 0, 1, 2, 0, 1, 2])
    }

    func testSkipsServersWithoutRoomAndReportsAllFull() {
        let b = Balancer(kind: .roundRobin, servers: servers([1, 1, 1]))
        var picks: [Int] = []
        for _ in 0..<100 {
            if case .server(let i) = b.select(key: nil, avoid: nil, hasRoom: { $0 != 1 }, load: zeroLoad) {
                picks.append(i)
            }
        }
        XCTAssertEqual(counts(picks, 3), [50, 0, 50])
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { _ in false }, load: zeroLoad), .allFull)
    }

    func testWeightZeroNeverChosen() {
        for kind in [BalanceKind.roundRobin, .staticRoundRobin, .leastConn, .first, .random(draws: 2),
                     .hash(consistent: false, function: .sdbm, avalanche: false),
                     .hash(consistent: true, function: .sdbm, avalanche: true)] {
            let b = Balancer(kind: kind, servers: servers([0, 1, 0, 2]), seed: 7)
            for k in 0..<500 {
                let i = b.pickIndex(key: "key\(k)")
                XCTAssertTrue(i == 1 || i == 3, "\(kind) chose \(i)")
                let j = b.pickIndex()
                XCTAssertTrue(j == 1 || j == 3, "\(kind) chose \(j)")
            }
        }
    }

    func testAllWeightZeroOrAllDownIsNoServer() {
        let b = Balancer(kind: .roundRobin, servers: servers([0, 0]))
        XCTAssertEqual(b.pick(), .noServer)
        let c = Balancer(kind: .leastConn, servers: servers([1, 1]))
        c.setUsable(0, false)
        c.setUsable(1, false)
        XCTAssertEqual(c.pick(), .noServer)
        XCTAssertFalse(c.isUsable(0))
        let e = Balancer(kind: .first, servers: [])
        XCTAssertEqual(e.pick(), .noServer)
    }

    func testDownServerSkippedThenBack() {
        let b = Balancer(kind: .roundRobin, servers: servers([1, 1, 1]))
        b.setUsable(1, false)
        let picks = (0..<100).map { _ in b.pickIndex() }
        XCTAssertEqual(counts(picks, 3), [50, 0, 50])
        b.setUsable(1, true)
        XCTAssertTrue(b.isUsable(1))
        let again = (0..<300).map { _ in b.pickIndex() }
        XCTAssertEqual(counts(again, 3), [100, 100, 100])
    }

    func testRuntimeWeightChangeIsSmoothAndExact() {
        let b = Balancer(kind: .roundRobin, servers: servers([1, 1]))
        _ = (0..<10).map { _ in b.pickIndex() }
        b.setWeight(1, 3)
        XCTAssertEqual(b.servers[1].weight, 3)
        let picks = (0..<400).map { _ in b.pickIndex() }
        let c = counts(picks, 2)
        XCTAssertEqual(c[0] + c[1], 400)
        XCTAssertTrue(abs(c[0] - 100) <= 1, "\(c)")
        XCTAssertLessThanOrEqual(maxRun(picks, of: 0), 1)
        XCTAssertLessThanOrEqual(maxRun(picks, of: 1), 3)
        // Weight 0 drains the server.
        b.setWeight(1, 0)
        XCTAssertEqual((0..<10).map { _ in b.pickIndex() }, Array(repeating: 0, count: 10))
    }

    func testStaticRoundRobinExactProportions() {
        let b = Balancer(kind: .staticRoundRobin, servers: servers([1, 2, 3]))
        let picks = (0..<6000).map { _ in b.pickIndex() }
        XCTAssertEqual(counts(picks, 3), [1000, 2000, 3000])
        XCTAssertEqual(maxRun(picks, of: 0), 1)
        XCTAssertEqual(maxRun(picks, of: 1), 1)
    }

    func testStaticRoundRobinIgnoresWeightChangesExceptZero() {
        let b = Balancer(kind: .staticRoundRobin, servers: servers([1, 1]))
        b.setWeight(1, 5)
        XCTAssertEqual(b.servers[1].weight, 1)
        XCTAssertEqual(counts((0..<100).map { _ in b.pickIndex() }, 2), [50, 50])
        b.setWeight(1, 0)
        XCTAssertEqual(counts((0..<100).map { _ in b.pickIndex() }, 2), [100, 0])
        b.setWeight(1, 1)
        XCTAssertEqual(counts((0..<100).map { _ in b.pickIndex() }, 2), [50, 50])
    }

    func testStaticRoundRobinSkipsFull() {
        let b = Balancer(kind: .staticRoundRobin, servers: servers([1, 2, 3]))
        var picks: [Int] = []
        for _ in 0..<400 {
            if case .server(let i) = b.select(key: nil, avoid: nil, hasRoom: { $0 != 2 }, load: zeroLoad) {
                picks.append(i)
            }
        }
        let c = counts(picks, 3)
        XCTAssertEqual(c[2], 0)
        XCTAssertEqual(c[0] + c[1], 400)
        XCTAssertTrue(abs(c[1] - 2 * c[0]) <= 2, "\(c)")
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { _ in false }, load: zeroLoad), .allFull)
    }

    func testBackupsOnlyWhenAllActivesDown() {
        for kind in [BalanceKind.roundRobin, .staticRoundRobin, .leastConn, .first, .random(draws: 2),
                     .hash(consistent: true, function: .wt6, avalanche: false)] {
            // servers 0,1 active; 2,3 backups
            let b = Balancer(kind: kind, servers: servers([1, 1], backups: [1, 1]), seed: 3)
            for k in 0..<50 { XCTAssertLessThan(b.pickIndex(key: "k\(k)"), 2, "\(kind)") }
            b.setUsable(0, false)
            for k in 0..<50 { XCTAssertEqual(b.pickIndex(key: "k\(k)"), 1, "\(kind)") }
            b.setUsable(1, false)
            // only the first backup
            for k in 0..<50 { XCTAssertEqual(b.pickIndex(key: "k\(k)"), 2, "\(kind)") }
            b.setUsable(2, false)
            for k in 0..<50 { XCTAssertEqual(b.pickIndex(key: "k\(k)"), 3, "\(kind)") }
            b.setUsable(3, false)
            XCTAssertEqual(b.pick(), .noServer)
            b.setUsable(1, true)
            XCTAssertEqual(b.pickIndex(), 1)
        }
    }

    func testAllBackupsBalancesOverEveryBackup() {
        let b = Balancer(kind: .roundRobin, servers: servers([1], backups: [1, 1, 1]), allBackups: true)
        b.setUsable(0, false)
        XCTAssertEqual(counts((0..<30).map { _ in b.pickIndex() }, 4), [0, 10, 10, 10])
        b.setUsable(2, false)
        XCTAssertEqual(counts((0..<30).map { _ in b.pickIndex() }, 4), [0, 15, 0, 15])
        let single = Balancer(kind: .roundRobin, servers: servers([1], backups: [1, 1, 1]))
        single.setUsable(0, false)
        XCTAssertEqual(counts((0..<30).map { _ in single.pickIndex() }, 4), [0, 30, 0, 0])
    }

    func testAvoidIsNotReturnedWhenAnotherServerHasRoom() {
        for kind in [BalanceKind.roundRobin, .staticRoundRobin, .leastConn, .first, .random(draws: 2)] {
            let b = Balancer(kind: kind, servers: servers([1, 1, 1]), seed: 11)
            for _ in 0..<100 {
                XCTAssertNotEqual(b.pickIndex(avoid: 0), 0, "\(kind)")
            }
            // Only the avoided server has room: it is still returned.
            let s = b.select(key: nil, avoid: 0, hasRoom: { $0 == 0 }, load: zeroLoad)
            XCTAssertEqual(s, .server(0), "\(kind)")
            // Only one other server has room: that one.
            let t = b.select(key: nil, avoid: 0, hasRoom: { $0 != 1 }, load: zeroLoad)
            XCTAssertEqual(t, .server(2), "\(kind)")
        }
    }
}
