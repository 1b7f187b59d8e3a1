// HAProxy-compatible load-balancing algorithms over plain server indices.
//
// The selection path (`select`) never allocates: every structure it reads
// (candidate list, static map, hash ring, cumulative weights) is rebuilt only
// when usability or weights change.

/// One server as seen by the balancer.
public struct BalancedServer: Sendable, Hashable {
    /// 0...256. A server with weight 0 is never chosen by load balancing
    /// (HAProxy: it only receives persistent traffic).
    public var weight: Int
    public var isBackup: Bool
    /// HAProxy's server id (`id` keyword, `puid`): positions the server's points
    /// on the consistent-hash ring. nil means the default id, index + 1
    /// (servers numbered 1, 2, 3 … in declaration order, as HAProxy does).
    public var id: Int?
    public init(weight: Int, isBackup: Bool, id: Int? = nil) {
        self.weight = weight
        self.isBackup = isBackup
        self.id = id
    }
}

/// The `balance` algorithm (and `hash-type` for the hash-based ones).
public enum BalanceKind: Sendable, Hashable {
    case roundRobin, staticRoundRobin, leastConn, first
    case hash(consistent: Bool, function: HashFunctionKind, avalanche: Bool)
    case random(draws: Int)

    /// Dynamic algorithms honour runtime weight changes; static ones
    /// (static-rr, map-based hash) only accept 0 or the configured weight.
    public var isDynamic: Bool {
        switch self {
        case .roundRobin, .leastConn, .first, .random: return true
        case .staticRoundRobin: return false
        case .hash(let consistent, _, _): return consistent
        }
    }
}

/// The outcome of one selection.
public enum Selection: Sendable, Hashable {
    /// Index into the servers array.
    case server(Int)
    /// Usable servers exist but all are at maxconn: queue on the backend.
    case allFull
    /// No usable server: answer 503.
    case noServer
}

/// Not thread-safe: the caller serialises access (one lock per backend).
/// It is marked `@unchecked Sendable` only so it can live inside lock-protected
/// state; every call must still happen under that lock.
public final class Balancer: @unchecked Sendable {
    public let kind: BalanceKind
    public let allBackups: Bool
    public private(set) var servers: [BalancedServer]

    /// Points on the consistent-hash ring per unit of weight (HAProxy's
    /// BE_WEIGHT_SCALE): a server of weight w has w × 16 points.
    public static let ringPointsPerWeight = 16
    /// Point r of server `id` sits at avalanche(id × ringIdStride + r): one
    /// stride holds the points of the largest weight (256 × 16), so the
    /// points of two servers never coincide.
    public static let ringIdStride = 256 * ringPointsPerWeight

    private var usable: [Bool]
    /// Weights from the configuration (static algorithms accept only 0 or this).
    private let initialWeights: [Int]

    // Candidate set: usable servers with weight > 0 — actives if any,
    // else the first backup (or all backups with `allBackups`). Ascending index.
    private var cand: [Int] = []
    private var totalWeight = 0

    // Smooth weighted round robin state (roundRobin, consistent-hash fallback).
    private var current: [Int]
    // Static weighted map (staticRoundRobin, map-based hash): smoothly interleaved,
    // `totalWeight` entries.
    private var map: [Int32] = []
    private var mapCursor = 0
    // leastconn rotation: position in `cand` where the next scan starts.
    private var lcNext = 0
    // Consistent hash ring: (pointHash << 32) | serverIndex, sorted.
    private var ring: [UInt64] = []
    // Weight units each server currently has on the ring.
    private var ringWeights: [Int] = []
    // random: cumulative weights over `cand`.
    private var cumWeights: [Int] = []
    private var rngState: UInt64

    /// - seed: PRNG seed for `.random` (deterministic tests); random if nil.
    public init(kind: BalanceKind, servers: [BalancedServer], allBackups: Bool = false, seed: UInt64? = nil) {
        self.kind = kind
        self.allBackups = allBackups
        var s = servers
        for i in s.indices { s[i].weight = Balancer.clampWeight(s[i].weight) }
        self.servers = s
        self.initialWeights = s.map(\.weight)
        self.usable = [Bool](repeating: true, count: s.count)
        self.current = [Int](repeating: 0, count: s.count)
        self.rngState = seed ?? UInt64.random(in: 0...UInt64.max)
        rebuild()
    }

    /// Configured weights are 0...256; the runtime may scale them by 16 for dynamic algorithms
    /// (HAProxy's effective weights, so `slowstart` can ramp in small steps), hence 4096.
    private static func clampWeight(_ w: Int) -> Int { min(max(w, 0), 256 * 16) }

    // MARK: - State changes

    /// Health / admin state: a server that is not usable is never chosen.
    public func setUsable(_ index: Int, _ usable: Bool) {
        precondition(index >= 0 && index < servers.count, "server index out of range")
        guard self.usable[index] != usable else { return }
        self.usable[index] = usable
        if usable { current[index] = 0 }
        rebuild()
    }

    public func isUsable(_ index: Int) -> Bool {
        precondition(index >= 0 && index < servers.count, "server index out of range")
        return usable[index]
    }

    /// Runtime weight change (slowstart, `set weight`). Static algorithms
    /// (static-rr, map-based hash) only accept 0 or the configured weight, as
    /// HAProxy does; other values are ignored.
    public func setWeight(_ index: Int, _ weight: Int) {
        precondition(index >= 0 && index < servers.count, "server index out of range")
        let w = Balancer.clampWeight(weight)
        if !kind.isDynamic && w != 0 && w != initialWeights[index] { return }
        guard servers[index].weight != w else { return }
        let wasZero = servers[index].weight == 0
        servers[index].weight = w
        if wasZero { current[index] = 0 }
        rebuild()
    }

    /// The current candidate servers (ascending index), for diagnostics.
    public var candidates: [Int] { cand }

    // MARK: - Rebuild (off the request path)

    private func rebuild() {
        cand.removeAll(keepingCapacity: true)
        for i in servers.indices where usable[i] && servers[i].weight > 0 && !servers[i].isBackup {
            cand.append(i)
        }
        if cand.isEmpty {
            for i in servers.indices where usable[i] && servers[i].weight > 0 && servers[i].isBackup {
                cand.append(i)
                if !allBackups { break }
            }
        }
        totalWeight = 0
        for i in cand { totalWeight += servers[i].weight }
        if lcNext >= cand.count { lcNext = 0 }

        switch kind {
        case .staticRoundRobin:
            buildMap()
        case .hash(let consistent, _, _):
            if consistent { buildRing() } else { buildMap() }
        case .random:
            cumWeights.removeAll(keepingCapacity: true)
            var acc = 0
            for i in cand {
                acc += servers[i].weight
                cumWeights.append(acc)
            }
        case .roundRobin, .leastConn, .first:
            break
        }
    }

    /// The weight-expanded table (`totalWeight` entries). Entry j of server i
    /// sits at position (j + ½) / weight(i) of the cycle; sorting all entries by
    /// position interleaves servers as evenly as their weights allow
    /// (1/2/3 → c b a c b c). O(T log T), no per-server scan per entry.
    private func buildMap() {
        var entries: [(server: Int32, rank: Int32, weight: Int32)] = []
        entries.reserveCapacity(totalWeight)
        for i in cand {
            let w = servers[i].weight
            for j in 0..<w { entries.append((Int32(i), Int32(j), Int32(w))) }
        }
        // (2a+1)/wa < (2b+1)/wb  ⇔  (2a+1)·wb < (2b+1)·wa ; ties by server index.
        entries.sort { x, y in
            let l = (2 * Int(x.rank) + 1) * Int(y.weight)
            let r = (2 * Int(y.rank) + 1) * Int(x.weight)
            return l != r ? l < r : x.server < y.server
        }
        map.removeAll(keepingCapacity: true)
        map.reserveCapacity(totalWeight)
        for e in entries { map.append(e.server) }
        if mapCursor >= map.count { mapCursor = 0 }
    }

    /// Position of point `r` of the server with id `id` on the ring, as in
    /// HAProxy: the full-avalanche hash of id × 4096 + r. A pure function of
    /// (id, r), so the points of one server never depend on the others and a
    /// weight change only adds or removes that server's last points.
    @inline(__always)
    static func pointHash(id: Int, replica r: Int) -> UInt32 {
        Hashing.avalanche(UInt32(truncatingIfNeeded: id &* ringIdStride &+ r))
    }

    /// The ring id of server `i`: its configured id, or index + 1.
    @inline(__always)
    private func ringId(_ i: Int) -> Int { servers[i].id ?? (i + 1) }

    /// Updates the ring to hold `weight × ringPointsPerWeight` points for every
    /// candidate and none for the others. Only servers whose point count changed
    /// are touched: their old points are filtered out and their new points,
    /// sorted, are merged in — O(ring + changed·log changed).
    private func buildRing() {
        if ringWeights.count != servers.count {
            ringWeights = [Int](repeating: 0, count: servers.count)
            ring.removeAll()
        }
        var desired = [Int](repeating: 0, count: servers.count)
        for i in cand { desired[i] = servers[i].weight }
        var changed = [Bool](repeating: false, count: servers.count)
        var fresh: [UInt64] = []
        var anyChange = false
        for i in servers.indices where desired[i] != ringWeights[i] {
            changed[i] = true
            anyChange = true
            for r in 0..<(desired[i] * Balancer.ringPointsPerWeight) {
                fresh.append((UInt64(Balancer.pointHash(id: ringId(i), replica: r)) << 32) | UInt64(i))
            }
            ringWeights[i] = desired[i]
        }
        guard anyChange else { return }
        fresh.sort()
        var merged: [UInt64] = []
        merged.reserveCapacity(totalWeight * Balancer.ringPointsPerWeight)
        var k = 0
        for p in ring where !changed[Int(p & 0xffff_ffff)] {
            while k < fresh.count && fresh[k] < p {
                merged.append(fresh[k])
                k += 1
            }
            merged.append(p)
        }
        while k < fresh.count {
            merged.append(fresh[k])
            k += 1
        }
        ring = merged
    }

    // MARK: - Selection

    /// Picks a server for one request/connection.
    /// - key: the hash key bytes for `.hash` (nil → round robin over the same servers).
    /// - avoid: a server to avoid if any other is possible (redispatch after failure).
    /// - hasRoom(i): server i is below its maxconn right now.
    /// - load(i): server i's current number of active connections.
    public func select(key: UnsafeRawBufferPointer?, avoid: Int?, hasRoom: (Int) -> Bool, load: (Int) -> Int) -> Selection {
        if cand.isEmpty { return .noServer }
        // `avoid` only matters if it is a candidate and there is another one.
        var avoid = avoid
        if let a = avoid, cand.count < 2 || !(a >= 0 && a < servers.count) { avoid = nil }
        switch kind {
        case .roundRobin:
            return selectSmooth(avoid: avoid, hasRoom: hasRoom)
        case .staticRoundRobin:
            return selectMapRR(avoid: avoid, hasRoom: hasRoom)
        case .leastConn:
            return selectLeastConn(avoid: avoid, hasRoom: hasRoom, load: load)
        case .first:
            return selectFirst(avoid: avoid, hasRoom: hasRoom)
        case .random(let draws):
            return selectRandom(draws: draws, avoid: avoid, hasRoom: hasRoom, load: load)
        case .hash(let consistent, let function, let aval):
            guard let key else {
                return consistent ? selectSmooth(avoid: avoid, hasRoom: hasRoom)
                                  : selectMapRR(avoid: avoid, hasRoom: hasRoom)
            }
            var h = Hashing.hash(key, function: function)
            // Consistent hashing always looks the avalanched key up on the ring
            // (with or without the `avalanche` modifier: haproxy 2.6 maps keys
            // identically either way); map-based hashing only with `avalanche`.
            if aval || consistent { h = Hashing.avalanche(h) }
            return consistent ? selectRing(hash: h, avoid: avoid, hasRoom: hasRoom)
                              : selectMapHash(hash: h, avoid: avoid, hasRoom: hasRoom)
        }
    }

    /// Convenience for string keys (e.g. from `HashKeys`); nil or empty → no key.
    public func select(keyText: Substring?, avoid: Int?, hasRoom: (Int) -> Bool, load: (Int) -> Int) -> Selection {
        guard var k = keyText, !k.isEmpty else {
            return select(key: nil, avoid: avoid, hasRoom: hasRoom, load: load)
        }
        return k.withUTF8 { select(key: UnsafeRawBufferPointer($0), avoid: avoid, hasRoom: hasRoom, load: load) }
    }

    /// Smooth weighted round robin: every eligible candidate gains its weight,
    /// the highest current wins and loses the total. Servers without room (or
    /// `avoid`) do not take part in this round.
    private func selectSmooth(avoid: Int?, hasRoom: (Int) -> Bool) -> Selection {
        if let r = smoothPass(excluding: avoid, hasRoom: hasRoom) { return .server(r) }
        if let a = avoid, hasRoom(a), isCandidate(a) {
            if let r = smoothPass(excluding: nil, hasRoom: hasRoom) { return .server(r) }
        }
        return .allFull
    }

    private func smoothPass(excluding avoid: Int?, hasRoom: (Int) -> Bool) -> Int? {
        var total = 0
        var best = -1
        for i in cand where i != avoid && hasRoom(i) {
            let w = servers[i].weight
            current[i] += w
            total += w
            if best < 0 || current[i] > current[best] { best = i }
        }
        if best < 0 { return nil }
        current[best] -= total
        return best
    }

    private func isCandidate(_ i: Int) -> Bool {
        // cand is sorted ascending: binary search.
        var lo = 0, hi = cand.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if cand[mid] < i { lo = mid + 1 } else { hi = mid }
        }
        return lo < cand.count && cand[lo] == i
    }

    /// Static round robin over the interleaved map: the cursor moves on, skipping
    /// entries whose server has no room (or is `avoid`).
    private func selectMapRR(avoid: Int?, hasRoom: (Int) -> Bool) -> Selection {
        let n = map.count
        var pos = mapCursor
        var fallback = -1
        for _ in 0..<n {
            let s = Int(map[pos])
            pos += 1
            if pos == n { pos = 0 }
            if s == avoid {
                if fallback < 0 && hasRoom(s) { fallback = pos }
                continue
            }
            if hasRoom(s) {
                mapCursor = pos
                return .server(s)
            }
        }
        if fallback >= 0, let a = avoid {
            mapCursor = fallback
            return .server(a)
        }
        return .allFull
    }

    /// Least `load / weight`; ties are resolved by rotating the scan start so
    /// equally loaded servers are used in turn.
    private func selectLeastConn(avoid: Int?, hasRoom: (Int) -> Bool, load: (Int) -> Int) -> Selection {
        let n = cand.count
        var best = -1, bestPos = 0, bestLoad = 0, bestW = 1
        var avoidOK = false
        var p = lcNext
        for _ in 0..<n {
            let i = cand[p]
            let pos = p
            p += 1
            if p == n { p = 0 }
            if i == avoid {
                avoidOK = hasRoom(i)
                continue
            }
            guard hasRoom(i) else { continue }
            let l = load(i), w = servers[i].weight
            if best < 0 || l * bestW < bestLoad * w {
                best = i; bestPos = pos; bestLoad = l; bestW = w
            }
        }
        if best < 0 {
            guard avoidOK, let a = avoid else { return .allFull }
            return .server(a)
        }
        lcNext = bestPos + 1 == n ? 0 : bestPos + 1
        return .server(best)
    }

    /// First candidate (by index) with room.
    private func selectFirst(avoid: Int?, hasRoom: (Int) -> Bool) -> Selection {
        var avoidOK = false
        for i in cand {
            if i == avoid {
                avoidOK = hasRoom(i)
                continue
            }
            if hasRoom(i) { return .server(i) }
        }
        if avoidOK, let a = avoid { return .server(a) }
        return .allFull
    }

    /// Map-based hash: `hash % totalWeight` in the interleaved map. The chosen
    /// server is returned even without room (the caller queues on it). With
    /// `avoid`, the following map entries are tried.
    private func selectMapHash(hash: UInt32, avoid: Int?, hasRoom: (Int) -> Bool) -> Selection {
        let n = map.count
        let start = Int(hash % UInt32(n))
        let s = Int(map[start])
        guard let a = avoid, s == a else { return .server(s) }
        var firstOther = -1
        var pos = start
        for _ in 0..<n {
            pos += 1
            if pos == n { pos = 0 }
            let t = Int(map[pos])
            if t == a { continue }
            if hasRoom(t) { return .server(t) }
            if firstOther < 0 { firstOther = t }
        }
        if hasRoom(a) || firstOther < 0 { return .server(a) }
        return .server(firstOther)
    }

    /// Consistent hash, as HAProxy does it: the ring point nearest to `hash`,
    /// comparing the first point ≥ hash and the one before it (both wrapping
    /// around the ring); on a tie the previous point wins. With `avoid`, the
    /// following points along the ring (clockwise) are tried, server by server.
    /// O(log n), no allocation.
    private func selectRing(hash: UInt32, avoid: Int?, hasRoom: (Int) -> Bool) -> Selection {
        let n = ring.count
        let target = UInt64(hash) << 32
        var lo = 0, hi = n
        while lo < hi {
            let mid = (lo + hi) >> 1
            if ring[mid] < target { lo = mid + 1 } else { hi = mid }
        }
        if lo == n { lo = 0 }
        let prev = lo == 0 ? n - 1 : lo - 1
        let dNext = UInt32(truncatingIfNeeded: ring[lo] >> 32) &- hash
        let dPrev = hash &- UInt32(truncatingIfNeeded: ring[prev] >> 32)
        if dPrev <= dNext { lo = prev }
        let s = Int(ring[lo] & 0xffff_ffff)
        guard let a = avoid, s == a else { return .server(s) }
        var firstOther = -1
        var pos = lo
        for _ in 0..<n {
            pos += 1
            if pos == n { pos = 0 }
            let t = Int(ring[pos] & 0xffff_ffff)
            if t == a || t == firstOther { continue }
            if hasRoom(t) { return .server(t) }
            if firstOther < 0 { firstOther = t }
        }
        if hasRoom(a) || firstOther < 0 { return .server(a) }
        return .server(firstOther)
    }

    // MARK: random (power of N choices)

    @inline(__always)
    private func nextRandom() -> UInt64 {
        // wyrand
        rngState &+= 0xa076_1d64_78bd_642f
        let m = (rngState ^ 0xe703_7ed1_a0b4_28db).multipliedFullWidth(by: rngState)
        return m.high ^ m.low
    }

    /// A candidate drawn with probability proportional to its weight.
    @inline(__always)
    private func weightedDraw() -> Int {
        let r = Int(UInt64(totalWeight).multipliedFullWidth(by: nextRandom()).high)
        var lo = 0, hi = cumWeights.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if cumWeights[mid] > r { hi = mid } else { lo = mid + 1 }
        }
        return cand[lo]
    }

    private func selectRandom(draws: Int, avoid: Int?, hasRoom: (Int) -> Bool, load: (Int) -> Int) -> Selection {
        var best = -1, bestLoad = 0, bestW = 1
        for _ in 0..<max(draws, 1) {
            let i = weightedDraw()
            if i == avoid || i == best || !hasRoom(i) { continue }
            let l = load(i), w = servers[i].weight
            if best < 0 || l * bestW < bestLoad * w {
                best = i; bestLoad = l; bestW = w
            }
        }
        if best >= 0 { return .server(best) }
        // Every draw was unusable: fall back to the least loaded server with room.
        var avoidOK = false
        for i in cand {
            if i == avoid { avoidOK = hasRoom(i); continue }
            guard hasRoom(i) else { continue }
            let l = load(i), w = servers[i].weight
            if best < 0 || l * bestW < bestLoad * w {
                best = i; bestLoad = l; bestW = w
            }
        }
        if best >= 0 { return .server(best) }
        if avoidOK, let a = avoid { return .server(a) }
        return .allFull
    }
}
