import HAProxyConfig
import HTTP1
import Logging
import NIOCore

/// The micro-benchmark of the rule engine (driven by `bench/rules-micro`): a frontend's ACLs,
/// `http-request` rules and `use_backend` choice run in-process on parsed request heads, with no
/// socket, so that the per-request cost of the rules themselves shows (the keep-alive bench
/// measures them with the network around).
public enum RuleBench {
    public struct Figure: Sendable {
        public let name: String
        public let iterations: Int
        public let nanosecondsPerRequest: Double
    }

    public struct BenchError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs each phase `iterations` times over `requests` (raw HTTP/1 heads) against frontend
    /// `frontend` of `runtime`: the conditions alone (every rule's and `use_backend`'s), then the
    /// whole route (rules with their header edits, the backend choice, the backend's rules).
    public static func run(_ runtime: ProxyRuntime, frontend name: String, requests: [String],
                           iterations: Int) throws -> [Figure] {
        guard let frontend = runtime.frontend(named: name) else { throw BenchError(description: "no frontend '\(name)'") }
        var heads: [(ByteBuffer, MessageHead)] = []
        for text in requests {
            let buffer = ByteBuffer(string: text)
            var head = MessageHead()
            let outcome = try buffer.withUnsafeReadableBytes { raw in
                try HTTP1Parser.parseRequest(raw, into: &head, limits: ParseLimits())
            }
            guard case .complete = outcome else { throw BenchError(description: "incomplete request head: \(text.debugDescription)") }
            heads.append((buffer.getSlice(at: 0, length: head.length)!, head))
        }
        let facts = ConnectionFacts(client: try SocketAddress(ipAddress: "127.0.0.1", port: 40000),
                                    local: try SocketAddress(ipAddress: "127.0.0.1", port: 8080))
        func view(_ h: (ByteBuffer, MessageHead)) -> H1RequestView {
            var v = H1RequestView(head: h.0, request: h.1, base: LogRecord(), userlists: frontend.userlists)
            facts.fill(&v.base, frontend: frontend.name)
            return v
        }
        let conditions = frontend.rules.request.compactMap(\.condition) + frontend.switches.compactMap(\.condition)
        var figures: [Figure] = []
        var sink = 0
        figures.append(measure("acl-evaluation", iterations * heads.count) {
            for _ in 0..<iterations {
                for h in heads {
                    let v = view(h)
                    for c in conditions where c.holds(v) { sink &+= 1 }
                }
            }
        })
        figures.append(measure("rules-and-header-rewrite", iterations * heads.count) {
            for _ in 0..<iterations {
                for h in heads {
                    var v = view(h)
                    switch RuleEngine.route(frontend, &v) {
                    case .proceed: sink &+= v.edits.added.count
                    case .stop: sink &+= 1
                    }
                }
            }
        })
        if sink == -1 { print(sink) }  // keeps the work observable
        return figures
    }

    private static func measure(_ name: String, _ count: Int, _ body: () -> Void) -> Figure {
        let start = NIODeadline.now()
        body()
        let elapsed = NIODeadline.now() - start
        return Figure(name: name, iterations: count, nanosecondsPerRequest: Double(elapsed.nanoseconds) / Double(max(1, count)))
    }
}

extension ProxyRuntime {
    /// A frontend by name (the micro-benchmark's entry).
    func frontend(named name: String) -> FrontendRuntime? { frontends.first { $0.name == name } }
}
