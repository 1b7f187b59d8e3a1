// TEMPORARY stand-in with the agreed API (round robin only); replaced by the real algorithms.
public struct BalancedServer: Sendable, Hashable {
    public var weight: Int
    public var isBackup: Bool
    public init(weight: Int, isBackup: Bool) { self.weight = weight; self.isBackup = isBackup }
}
public enum HashFunctionKind: Sendable, Hashable { case sdbm, djb2, wt6, crc32, none }
public enum BalanceKind: Sendable, Hashable {
    case roundRobin, staticRoundRobin, leastConn, first
    case hash(consistent: Bool, function: HashFunctionKind, avalanche: Bool)
    case random(draws: Int)
}
public enum Selection: Sendable, Hashable { case server(Int), allFull, noServer }
public final class Balancer {
    public private(set) var servers: [BalancedServer]
    var usable: [Bool]
    var next = 0
    public init(kind: BalanceKind, servers: [BalancedServer], allBackups: Bool = false) {
        self.servers = servers
        self.usable = servers.map { _ in true }
    }
    public func setUsable(_ index: Int, _ u: Bool) { usable[index] = u }
    public func isUsable(_ index: Int) -> Bool { usable[index] }
    public func setWeight(_ index: Int, _ weight: Int) { servers[index].weight = weight }
    public func select(key: UnsafeRawBufferPointer?, avoid: Int?, hasRoom: (Int) -> Bool, load: (Int) -> Int) -> Selection {
        if servers.isEmpty { return .noServer }
        for k in 0..<servers.count {
            let i = (next + k) % servers.count
            if usable[i], hasRoom(i) { next = i + 1; return .server(i) }
        }
        return .allFull
    }
}
public enum HashKeys {
    public static func uri(_ target: Substring, whole: Bool, length: Int?, depth: Int?, pathOnly: Bool) -> Substring { target }
    public static func urlParam(_ target: Substring, name: String) -> Substring? { nil }
    public static func domainOnly(_ value: Substring) -> Substring { value }
}
