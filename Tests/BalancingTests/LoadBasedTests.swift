import Balancing
import XCTest

final class LeastConnTests: XCTestCase {
    func testPicksLeastLoaded() {
        let b = Balancer(kind: .leastConn, servers: servers([1, 1, 1]))
        let loads = [5, 1, 3]
        for _ in 0..<10 {
            XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: always, load: { loads[$0] }), .server(1))
        }
    }

    func testTiesRotate() {
        let b = Balancer(kind: .leastConn, servers: servers([1, 1, 1]))
        XCTAssertEqual((0..<9).map { _ in b.pickIndex() }, [0, 1, 2, 0, 1, 2, 0, 1, 2])
    }

    func testLoadedServerWaitsUntilOthersCatchUp() {
        let b = Balancer(kind: .leastConn, servers: servers([1, 1, 1]))
        var loads = [10, 0, 0]
        var picks: [Int] = []
        for _ in 0..<20 {
            guard case .server(let i) = b.select(key: nil, avoid: nil, hasRoom: always, load: { loads[$0] }) else {
                return XCTFail("no server")
            }
            loads[i] += 1
            picks.append(i)
        }
        XCTAssertEqual(counts(picks, 3), [0, 10, 10])
        XCTAssertEqual(maxRun(picks, of: 1), 1, "\(picks)")
        // Now all equal at 10: the next three go to each server once.
        var next: [Int] = []
        for _ in 0..<3 {
            guard case .server(let i) = b.select(key: nil, avoid: nil, hasRoom: always, load: { loads[$0] }) else {
                return XCTFail("no server")
            }
            loads[i] += 1
            next.append(i)
        }
        XCTAssertEqual(next.sorted(), [0, 1, 2])
    }

    func testWeightsScaleLoad() {
        let b = Balancer(kind: .leastConn, servers: servers([1, 3]))
        var loads = [0, 0]
        for _ in 0..<400 {
            guard case .server(let i) = b.select(key: nil, avoid: nil, hasRoom: always, load: { loads[$0] }) else {
                return XCTFail("no server")
            }
            loads[i] += 1
        }
        XCTAssertEqual(loads, [100, 300])
    }

    func testSkipsFullAndAllFull() {
        let b = Balancer(kind: .leastConn, servers: servers([1, 1]))
        let loads = [0, 5]
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { $0 == 1 }, load: { loads[$0] }), .server(1))
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { _ in false }, load: { loads[$0] }), .allFull)
    }
}

final class FirstTests: XCTestCase {
    func testFillsInOrderUpToMaxconn() {
        let b = Balancer(kind: .first, servers: servers([1, 1, 1]))
        let maxconn = 3
        var loads = [0, 0, 0]
        var picks: [Int] = []
        for _ in 0..<9 {
            guard case .server(let i) = b.select(key: nil, avoid: nil,
                                                 hasRoom: { loads[$0] < maxconn }, load: { loads[$0] }) else {
                return XCTFail("no server")
            }
            loads[i] += 1
            picks.append(i)
        }
        XCTAssertEqual(picks, [0, 0, 0, 1, 1, 1, 2, 2, 2])
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { loads[$0] < maxconn }, load: { loads[$0] }), .allFull)
        // A connection on server 0 ends: it is used again first.
        loads[0] -= 1
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { loads[$0] < maxconn }, load: { loads[$0] }), .server(0))
    }

    func testDownServerSkipped() {
        let b = Balancer(kind: .first, servers: servers([1, 1, 1]))
        b.setUsable(0, false)
        XCTAssertEqual(b.pick(), .server(1))
    }
}

final class RandomTests: XCTestCase {
    func testPrefersLowerLoad() {
        let b = Balancer(kind: .random(draws: 2), servers: servers([1, 1]), seed: 42)
        let loads = [100, 0]
        var c = [0, 0]
        for _ in 0..<10_000 {
            guard case .server(let i) = b.select(key: nil, avoid: nil, hasRoom: always, load: { loads[$0] }) else {
                return XCTFail("no server")
            }
            c[i] += 1
        }
        // Server 0 only wins when both draws hit it: ≈ 1/4.
        XCTAssertGreaterThan(c[1], 7_000, "\(c)")
        XCTAssertGreaterThan(c[0], 1_500, "\(c)")
    }

    func testSingleDrawFollowsWeights() {
        let b = Balancer(kind: .random(draws: 1), servers: servers([1, 3]), seed: 1)
        let c = counts((0..<40_000).map { _ in b.pickIndex() }, 2)
        XCTAssertEqual(Double(c[1]) / Double(c[0]), 3.0, accuracy: 0.2, "\(c)")
    }

    func testNeverPicksDownServerAndIsDeterministicPerSeed() {
        let b = Balancer(kind: .random(draws: 2), servers: servers([1, 1, 1, 1]), seed: 9)
        let b2 = Balancer(kind: .random(draws: 2), servers: servers([1, 1, 1, 1]), seed: 9)
        b.setUsable(2, false)
        b2.setUsable(2, false)
        let p1 = (0..<1000).map { _ in b.pickIndex() }
        let p2 = (0..<1000).map { _ in b2.pickIndex() }
        XCTAssertEqual(p1, p2)
        XCTAssertFalse(p1.contains(2))
        XCTAssertEqual(Set(p1), [0, 1, 3])
    }

    func testSkipsFullServers() {
        let b = Balancer(kind: .random(draws: 2), servers: servers([1, 1, 1]), seed: 5)
        for _ in 0..<200 {
            XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { $0 == 2 }, load: zeroLoad), .server(2))
        }
        XCTAssertEqual(b.select(key: nil, avoid: nil, hasRoom: { _ in false }, load: zeroLoad), .allFull)
    }
}
