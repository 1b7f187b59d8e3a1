import Balancing
import DequeModule
import HAProxyConfig
import HealthChecks
import NIOConcurrencyHelpers
import NIOCore

/// A server of a backend at run time. Counters are guarded by the backend's lock.
public final class ServerRuntime: @unchecked Sendable {
    public let config: Server
    public let name: String
    /// Position in the backend.
    public let index: Int
    /// Position among all servers of the process (for per-loop connection pools).
    public let globalIndex: Int
    /// Resolved at start; nil when the server has no fixed port (the client's destination port is used).
    public let address: SocketAddress?
    /// The address as text for logs (%si/%sp), computed once.
    let addressText: (ip: String, port: Int)

    /// `ssl`: the TLS client context toward this server (nil: cleartext).
    let tls: TLSServerSide?

    /// `observe layer4|layer7`: where live traffic events go (set before traffic starts).
    var trafficObserver: (@Sendable (TrafficEvent) -> Void)?

    /// Reports what live traffic saw of this server (no-op without `observe`).
    @inline(__always)
    func observe(_ event: TrafficEvent) {
        if let trafficObserver { trafficObserver(event) }
    }

    init(config: Server, index: Int, globalIndex: Int, address: SocketAddress?, tls: TLSServerSide? = nil) {
        self.config = config
        self.tls = tls
        self.name = config.name
        self.index = index
        self.globalIndex = globalIndex
        self.address = address
        addressText = (address?.ipAddress ?? "-", address?.port ?? 0)
    }
}

/// The answer to "which server takes this request?".
enum Assignment {
    case server(ServerRuntime)
    case queued(QueueWaiter)
    case noServer
}

/// A request waiting in a backend queue for a server slot. Owned by its event loop's session;
/// `grant` is set under the backend lock and delivered on `loop`.
final class QueueWaiter: @unchecked Sendable {
    let loop: any EventLoop
    /// A hash-chosen server the request must wait for, or nil for any server.
    let target: Int?
    var state: State = .waiting
    var onGrant: ((ServerRuntime) -> Void)?

    enum State { case waiting, granted, cancelled }

    init(loop: any EventLoop, target: Int?) {
        self.loop = loop
        self.target = target
    }
}

/// A backend at run time: its servers, balancer, connection counts and queue.
public final class BackendRuntime: @unchecked Sendable {
    public let config: Proxy
    public let name: String
    public let servers: [ServerRuntime]
    let errors: ErrorResponses
    let retryPolicy: RetryPolicy
    /// The backend's own `http-request` rules (run after the frontend's, unless it is the same `listen`).
    let rules: ProxyRules
    /// `cookie NAME insert|rewrite|prefix ...` (servers carry their `cookie VALUE`).
    let cookie: CookiePersistence?
    /// Each server's cookie value: its `cookie`, or with `cookie ... dynamic` the one made of
    /// `dynamic-cookie-key` and its address (nil: none).
    let serverCookies: [String?]
    /// The `Set-Cookie` line `cookie ... insert` adds, per server, without dates (empty without insert).
    let cookieInsertLines: [String]
    /// The same three, in one object: a session takes it per request for one retain.
    let cookieRuntime: CookieRuntime?
    /// `force-persist` / `ignore-persist` (nil without).
    let persistRules: PersistRules?
    /// `stick on|match|store-request` (nil without).
    let stick: BackendStick?
    /// haproxy's server ids by position (`Proxy.serverIDs`): `srv_id`, stick tables.
    let serverIDs: [Int32]
    /// `use-server` rules and `force-persist` (nil without `use-server`).
    let serverRules: ServerRules?
    /// `tcp-response inspect-delay` and `tcp-response content` rules (nil without, or in `mode http`).
    let tcpResponse: TCPResponseRules?
    /// 16 for dynamic algorithms (weights can ramp), 1 for static and hash ones.
    let weightScale: Int
    private let lock = NIOLock()
    private let balancer: Balancer
    /// Requests/connections currently assigned to each server (HAProxy's `served`).
    private var served: [Int]
    private var queue = Deque<QueueWaiter>()
    /// Effective `maxconn` per server (ramped by `slowstart`); 0 = unlimited.
    private var maxconn: [Int]

    init(config: Proxy, servers: [ServerRuntime], tables: StickTables = .none) {
        self.config = config
        self.name = config.name
        self.servers = servers
        self.errors = ErrorResponses(overrides: config.errorFiles)
        self.retryPolicy = config.mode == .http ? RetryPolicy(directives: config.directives) : RetryPolicy()
        self.rules = ProxyRules(config, tables: tables)
        self.serverIDs = config.serverIDs
        self.stick = BackendStick(config, tables: tables)
        self.serverRules = ServerRules(config)
        self.tcpResponse = TCPResponseRules(config, tables: tables)
        self.cookie = config.cookie
        let cookies: [String?] = servers.map { s in
            if let c = s.config.cookie { return c }
            guard config.cookie?.dynamic == true, let key = config.dynamicCookieKey else { return nil }
            return CookieExchange.dynamicCookie(key: key, address: s.address)
        }
        self.serverCookies = cookies
        if let ck = config.cookie, ck.mode == .insert {
            self.cookieInsertLines = cookies.map { CookieExchange.insertLine(ck, serverCookie: $0) }
        } else {
            self.cookieInsertLines = []
        }
        let insertLines = self.cookieInsertLines
        self.cookieRuntime = config.cookie.map { CookieRuntime(config: $0, serverCookies: cookies, insertLines: insertLines) }
        self.persistRules = PersistRules(config)
        self.served = Array(repeating: 0, count: servers.count)
        self.maxconn = servers.map(\.config.maxconn)
        // Dynamic algorithms work on weights scaled by 16 (HAProxy's BE_WEIGHT_SCALE) so that a
        // slow start can ramp a server in small steps; proportions are unchanged.
        let kind = Self.kind(of: config)
        switch kind {
        case .roundRobin, .leastConn, .random, .first: weightScale = 16
        default: weightScale = 1
        }
        let scale = weightScale
        self.balancer = Balancer(
            kind: kind,
            servers: servers.map { BalancedServer(weight: $0.config.weight * scale, isBackup: $0.config.backup) },
            allBackups: config.allBackups)
        for s in servers where s.config.disabled { balancer.setUsable(s.index, false) }
    }

    static func kind(of proxy: Proxy) -> BalanceKind {
        switch proxy.balance {
        case .roundRobin: return .roundRobin
        case .staticRoundRobin: return .staticRoundRobin
        case .leastConn: return .leastConn
        case .first: return .first
        case let .random(draws): return .random(draws: draws)
        case .source, .uri, .urlParam, .header, .rdpCookie:
            var function: HashFunctionKind
            switch proxy.hash.function {
            case .sdbm: function = .sdbm
            case .djb2: function = .djb2
            case .wt6: function = .wt6
            case .crc32: function = .crc32
            case .none: function = .none
            }
            // HAProxy does not run the client address through the hash function: an IPv4 address
            // is its 32-bit value, an IPv6 one its four words XORed (our `none`).
            if case .source = proxy.balance { function = .none }
            return .hash(consistent: proxy.hash.type == .consistent, function: function, avalanche: proxy.hash.avalanche)
        }
    }

    /// Chooses a server for a hash key (nil or empty: no key, round robin as HAProxy falls back to).
    func assign(key: [UInt8]?, avoid: Int?, loop: any EventLoop) -> Assignment {
        guard let key, !key.isEmpty else { return assign(keyBytes: nil, avoid: avoid, loop: loop) }
        return key.withUnsafeBytes { assign(keyBytes: $0, avoid: avoid, loop: loop) }
    }

    /// Chooses a server and takes a slot on it, or queues the request, or says there is none.
    func assign(keyBytes key: UnsafeRawBufferPointer?, avoid: Int?, loop: any EventLoop) -> Assignment {
        lock.withLock {
            let selection = balancer.select(
                key: key, avoid: avoid,
                hasRoom: { i in self.maxconn[i] == 0 || self.served[i] < self.maxconn[i] },
                load: { i in self.served[i] })
            switch selection {
            case let .server(i):
                if maxconn[i] == 0 || served[i] < maxconn[i] {
                    served[i] += 1
                    return .server(servers[i])
                }
                // A hash-chosen server that is full: wait for that one.
                let waiter = QueueWaiter(loop: loop, target: i)
                queue.append(waiter)
                return .queued(waiter)
            case .allFull:
                let waiter = QueueWaiter(loop: loop, target: nil)
                queue.append(waiter)
                return .queued(waiter)
            case .noServer:
                return .noServer
            }
        }
    }

    /// Takes a slot on server `index` (cookie persistence), or queues for it when it is full; nil
    /// when the server is not usable (down, disabled): the caller balances instead.
    /// `force`: even a server that is down (`use-server` with `force-persist`).
    func assign(server index: Int, force: Bool = false, loop: any EventLoop) -> Assignment? {
        lock.withLock {
            guard force || balancer.isUsable(index) else { return nil }
            if maxconn[index] == 0 || served[index] < maxconn[index] {
                served[index] += 1
                return .server(servers[index])
            }
            let waiter = QueueWaiter(loop: loop, target: index)
            queue.append(waiter)
            return .queued(waiter)
        }
    }

    /// Gives back a slot; the first queued request that can use it gets it.
    func release(_ server: ServerRuntime) {
        let granted: QueueWaiter? = lock.withLock {
            served[server.index] -= 1
            guard !queue.isEmpty, balancer.isUsable(server.index) else { return nil }
            guard let position = queue.firstIndex(where: { $0.target == nil || $0.target == server.index }) else {
                return nil
            }
            let waiter = queue.remove(at: position)
            waiter.state = .granted
            served[server.index] += 1
            return waiter
        }
        if let granted { deliver(granted, server) }
    }

    private func deliver(_ granted: QueueWaiter, _ server: ServerRuntime) {
        granted.loop.execute {
            if let onGrant = granted.onGrant {
                granted.onGrant = nil
                onGrant(server)
            } else {
                // The session went away in the meantime: hand the slot back.
                self.release(server)
            }
        }
    }

    /// Leaves the queue; returns false when a slot was already granted (the grant is on its way).
    func cancel(_ waiter: QueueWaiter) -> Bool {
        lock.withLock {
            guard waiter.state == .waiting else { return false }
            waiter.state = .cancelled
            if let position = queue.firstIndex(where: { $0 === waiter }) { queue.remove(at: position) }
            return true
        }
    }

    /// Health: a server that is not usable is never chosen. Returns the usable active and backup
    /// servers afterwards (for HAProxy's state-change messages).
    @discardableResult
    func setServerUsable(_ index: Int, _ usable: Bool) -> (active: Int, backup: Int) {
        lock.withLock {
            balancer.setUsable(index, usable)
            var active = 0, backup = 0
            for s in servers where balancer.isUsable(s.index) {
                if s.config.backup { backup += 1 } else { active += 1 }
            }
            return (active, backup)
        }
    }

    public func isServerUsable(_ index: Int) -> Bool { lock.withLock { balancer.isUsable(index) } }

    /// `slowstart`: the effective weight as a fraction of the configured one (at least the
    /// smallest step). Returns false when the algorithm cannot ramp (static and hash ones).
    /// Its `maxconn` ramps too, as HAProxy's srv_dynamic_maxconn(): max(1, maxconn × whole percent).
    @discardableResult
    public func setWeightFraction(_ index: Int, _ fraction: Double) -> Bool {
        let configuredMaxconn = servers[index].config.maxconn
        guard weightScale > 1 || configuredMaxconn > 0 else { return false }
        let percent = max(0, min(100, Int(fraction * 100)))
        let rampedMaxconn = configuredMaxconn == 0 || fraction >= 1 ? configuredMaxconn : max(1, configuredMaxconn * percent / 100)
        let grants: [(QueueWaiter, ServerRuntime)] = lock.withLock {
            if weightScale > 1 {
                let full = servers[index].config.weight * weightScale
                let effective = fraction >= 1 ? full : min(full, max(1, Int((Double(full) * fraction).rounded(.up))))
                balancer.setWeight(index, effective)
            }
            let raised = rampedMaxconn == 0 || rampedMaxconn > maxconn[index] && maxconn[index] != 0
            maxconn[index] = rampedMaxconn
            guard raised else { return [] }
            // Room appeared: waiting requests that can use this server get it now.
            var out: [(QueueWaiter, ServerRuntime)] = []
            while !queue.isEmpty, balancer.isUsable(index), maxconn[index] == 0 || served[index] < maxconn[index],
                  let position = queue.firstIndex(where: { $0.target == nil || $0.target == index }) {
                let waiter = queue.remove(at: position)
                waiter.state = .granted
                served[index] += 1
                out.append((waiter, servers[index]))
            }
            return out
        }
        for (waiter, server) in grants { deliver(waiter, server) }
        return true
    }

    /// Effective maxconn of a server (0 = unlimited), for tests and the stats.
    public func effectiveMaxconn(_ index: Int) -> Int { lock.withLock { maxconn[index] } }

    /// Sessions on this backend: served plus queued (`beconn`).
    var currentSessions: Int { lock.withLock { served.reduce(0, +) + queue.count } }

    /// The backend's log (server state changes), nil without a log target.
    var logger: ProxyLogger?

    /// Current number of requests in the queue.
    public var queueLength: Int { lock.withLock { queue.count } }

    public func servedCount(_ index: Int) -> Int { lock.withLock { served[index] } }

    /// One consistent reading of the backend's load for the `nbsrv`/`connslots`/`queue` fetches:
    /// per server whether it is usable, its served count and its own queue (requests waiting for
    /// it alone), and the whole queue length.
    func loadSnapshot() -> (usable: [Bool], served: [Int], serverQueue: [Int], queued: Int) {
        lock.withLock {
            var own = Array(repeating: 0, count: servers.count)
            for w in queue { if let t = w.target { own[t] += 1 } }
            return (servers.map { balancer.isUsable($0.index) }, served, own, queue.count)
        }
    }
}


extension BalanceAlgorithm {
    /// What a hash-based algorithm hashes for one request (HTTP/1 or HTTP/2 alike): the client's
    /// address, the request target (uri, url_param) or a header; nil when there is none (the
    /// balancer then falls back to round robin, as HAProxy).
    func hashKey(client: SocketAddress?, target: () -> String?, header: (String) -> String?) -> [UInt8]? {
        switch self {
        case .source:
            return client.flatMap(addressBytes)
        case let .uri(whole, length, depth, pathOnly):
            return Array(HashKeys.uri(Substring(target() ?? ""), whole: whole, length: length, depth: depth, pathOnly: pathOnly).utf8)
        case let .urlParam(name, _):
            return HashKeys.urlParam(Substring(target() ?? ""), name: name).map { Array($0.utf8) }
        case let .header(name, domainOnly):
            guard let value = header(name) else { return nil }
            return Array((domainOnly ? HashKeys.domainOnly(Substring(value)) : Substring(value)).utf8)
        default:
            return nil
        }
    }
}

/// A backend's cookie persistence settings as the HTTP/1 session reads them per request.
final class CookieRuntime {
    let config: CookiePersistence
    let serverCookies: [String?]
    let insertLines: [String]

    init(config: CookiePersistence, serverCookies: [String?], insertLines: [String]) {
        self.config = config
        self.serverCookies = serverCookies
        self.insertLines = insertLines
    }
}
