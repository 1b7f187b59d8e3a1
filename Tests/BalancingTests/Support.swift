import Balancing
import XCTest

func servers(_ weights: [Int], backups: [Int] = []) -> [BalancedServer] {
    let active = weights.map { BalancedServer(weight: $0, isBackup: false) }
    return active + backups.map { BalancedServer(weight: $0, isBackup: true) }
}

func always(_: Int) -> Bool { true }
func zeroLoad(_: Int) -> Int { 0 }

extension Balancer {
    /// Selects with no key, everyone has room and no load.
    func pick(avoid: Int? = nil) -> Selection {
        select(key: nil, avoid: avoid, hasRoom: always, load: zeroLoad)
    }

    func pickIndex(avoid: Int? = nil, file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard case .server(let i) = pick(avoid: avoid) else {
            XCTFail("expected a server", file: file, line: line)
            return -1
        }
        return i
    }

    func pick(key: String, avoid: Int? = nil, hasRoom: (Int) -> Bool = always) -> Selection {
        var k = key
        return k.withUTF8 { select(key: UnsafeRawBufferPointer($0), avoid: avoid, hasRoom: hasRoom, load: zeroLoad) }
    }

    func pickIndex(key: String, avoid: Int? = nil, hasRoom: (Int) -> Bool = always,
                   file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard case .server(let i) = pick(key: key, avoid: avoid, hasRoom: hasRoom) else {
            XCTFail("expected a server", file: file, line: line)
            return -1
        }
        return i
    }
}

func counts(_ picks: [Int], _ n: Int) -> [Int] {
    var c = [Int](repeating: 0, count: n)
    for p in picks where p >= 0 { c[p] += 1 }
    return c
}

/// Longest run of consecutive identical picks of `server`.
func maxRun(_ picks: [Int], of server: Int) -> Int {
    var best = 0, cur = 0
    for p in picks {
        if p == server { cur += 1; best = max(best, cur) } else { cur = 0 }
    }
    return best
}
