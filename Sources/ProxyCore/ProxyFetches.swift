import Foundation
import NIOConcurrencyHelpers
import Samples

/// The fetches that read the running proxies rather than a message: `nbsrv`, `srv_is_up`,
/// `be_conn`, `fe_conn`, `queue`, `avg_queue`, `connslots` (the current backend/frontend when no
/// name is given) and `date`. The runtime registers its proxies here once, before traffic.
final class ProxyDirectory: @unchecked Sendable {
    static let shared = ProxyDirectory()

    private let lock = NIOLock()
    private var backends: [String: BackendRuntime] = [:]
    private var frontends: [String: FrontendRuntime] = [:]

    func register(backends: [String: BackendRuntime], frontends: [FrontendRuntime]) {
        lock.withLock {
            self.backends = backends
            self.frontends = Dictionary(frontends.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func backend(_ name: String) -> BackendRuntime? { lock.withLock { backends[name] } }
    func frontend(_ name: String) -> FrontendRuntime? { lock.withLock { frontends[name] } }

    /// The value of one of these fetches, nil for other fetches (or an unknown proxy).
    /// `frontend`/`backend`: the names of the current ones (the backend is the frontend's name
    /// until a backend is chosen, which is a `listen`'s own backend).
    func fetch(_ name: String, _ args: [String], frontend: String, backend: String) -> SampleValue? {
        switch name {
        case "date":
            return Self.date(args)
        case "fe_conn":
            guard let fe = self.frontend(args.first.flatMap { $0.isEmpty ? nil : $0 } ?? frontend) else { return nil }
            return .int(Int64(fe.current.load(ordering: .relaxed)))
        case "srv_is_up":
            guard let arg = args.first else { return nil }
            let parts = arg.split(separator: "/", maxSplits: 1).map(String.init)
            let (beName, srvName) = parts.count == 2 ? (parts[0], parts[1]) : (backend, arg)
            guard let be = self.backend(beName), let s = be.servers.first(where: { $0.name == srvName }) else { return nil }
            return .bool(be.isServerUsable(s.index))
        case "nbsrv", "be_conn", "queue", "avg_queue", "connslots":
            guard let be = self.backend(args.first.flatMap { $0.isEmpty ? nil : $0 } ?? backend) else { return nil }
            return .int(Int64(Self.load(name, be)))
        default:
            return nil
        }
    }

    /// `srv_id`: the server's `id`, else haproxy's automatic one (`BackendRuntime.serverIDs`).
    func serverID(backend: String, server: String) -> SampleValue? {
        guard let be = self.backend(backend), let s = be.servers.first(where: { $0.name == server }) else { return nil }
        return .int(Int64(be.serverIDs[s.index]))
    }

    static func load(_ name: String, _ be: BackendRuntime) -> Int {
        let snap = be.loadSnapshot()
        var active = 0, backups = 0
        for s in be.servers where snap.usable[s.index] {
            if s.config.backup { backups += 1 } else { active += 1 }
        }
        switch name {
        case "nbsrv":
            // Active servers; without any, the backups that would take traffic (one unless allbackups).
            if active > 0 { return active }
            return be.config.allBackups ? backups : min(backups, 1)
        case "be_conn":
            return snap.served.reduce(0, +) + snap.queued
        case "queue":
            return snap.queued
        case "avg_queue":
            // No active server: twice the queue (haproxy's documented estimate).
            return active > 0 ? snap.queued / active : snap.queued * 2
        default:  // connslots
            var slots = 0
            for s in be.servers where snap.usable[s.index] {
                // An unlimited maxconn or maxqueue makes the count meaningless: haproxy says -1.
                if s.config.maxconn == 0 || s.config.maxqueue == 0 { return -1 }
                slots += (s.config.maxconn - snap.served[s.index]) + (s.config.maxqueue - snap.serverQueue[s.index])
            }
            return slots
        }
    }

    /// `date([offset[,unit]])`: the epoch in s (default), ms or us, plus the offset in that unit.
    static func date(_ args: [String]) -> SampleValue? {
        var tv = timeval()
        gettimeofday(&tv, nil)
        let offset = args.first.flatMap { Int64($0) } ?? 0
        let unit = args.count > 1 ? args[1] : "s"
        let seconds = Int64(tv.tv_sec), micros = Int64(tv.tv_usec)
        switch unit {
        case "ms": return .int(seconds * 1000 + micros / 1000 + offset)
        case "us": return .int(seconds * 1_000_000 + micros + offset)
        default: return .int(seconds + offset)
        }
    }
}
