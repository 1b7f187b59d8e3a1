// The rule engine's micro-benchmark: `fulcrum-rules-bench -f haproxy.cfg -F FRONTEND [-n N] [REQUEST_FILE...]`.
// Loads the configuration as fulcrum does, then runs the frontend's ACLs and rules in-process on
// request heads (the files' contents, or the built-in set) and prints ns per request for each
// phase. Run by bench/rules_micro.py, which also counts allocations with perf uprobes.

import Foundation
import HAProxyConfig
import NIOPosix
import ProxyCore

var args = Array(CommandLine.arguments.dropFirst())
var configPath: String?
var frontendName: String?
var iterations = 200_000
var files: [String] = []
while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "-f": configPath = args.isEmpty ? nil : args.removeFirst()
    case "-F": frontendName = args.isEmpty ? nil : args.removeFirst()
    case "-n": iterations = args.isEmpty ? iterations : Int(args.removeFirst()) ?? iterations
    default: files.append(a)
    }
}
guard let configPath, let frontendName else {
    FileHandle.standardError.write("usage: fulcrum-rules-bench -f haproxy.cfg -F FRONTEND [-n N] [REQUEST_FILE...]\n".data(using: .utf8)!)
    exit(2)
}
let loaded = ConfigLoader(environment: ProcessInfo.processInfo.environment).load(paths: [configPath])
guard let configuration = loaded.configuration else {
    for d in loaded.diagnostics { FileHandle.standardError.write("\(d)\n".data(using: .utf8)!) }
    exit(1)
}
let requests = files.isEmpty
    ? ["GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
       "GET /api/v1/items?id=7 HTTP/1.1\r\nHost: bench.test\r\nCookie: SERVERID=s1; lang=en\r\n\r\n",
       "GET /static/app.js HTTP/1.1\r\nHost: bench.test\r\nAccept-Encoding: gzip\r\n\r\n",
       "GET /admin/panel HTTP/1.1\r\nHost: bench.test\r\n\r\n"]
    : try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let runtime = try ProxyRuntime(configuration: configuration, group: group)
for figure in try RuleBench.run(runtime, frontend: frontendName, requests: requests, iterations: iterations) {
    print("\(figure.name) \(figure.iterations) \(String(format: "%.1f", figure.nanosecondsPerRequest))")
}
try group.syncShutdownGracefully()
