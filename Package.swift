// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Fulcrum",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fulcrum", targets: ["fulcrum"]),
        .executable(name: "fulcrum-vrrp", targets: ["fulcrum-vrrp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // L1: haproxy.cfg -> validated model. Pure Swift, no NIO.
        .target(name: "HAProxyConfig", dependencies: ["Logging", "Samples", "Stickiness"]),
        // L1: stick tables (keys, counters, frequency counters, expiry, size). Pure Swift.
        .target(name: "Stickiness", swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // L1: balance algorithms over plain indices and weights. Pure Swift.
        .target(name: "Balancing", swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // L2: server health state machine, check evaluation and HAProxy's messages. Pure Swift.
        .target(name: "HealthChecks", dependencies: ["HAProxyConfig"]),
        // L1: keepalived.conf -> typed model with keepalived's diagnostics. Pure Swift.
        .target(name: "KeepalivedConfig"),
        // L1: VRRP v2/v3 packets and the RFC state machine (test clock). Pure Swift.
        .target(name: "VRRP"),
        // L1: HAProxy's log-format compiler/renderer, syslog headers. Pure Swift.
        .target(name: "Logging", swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // L1: HAProxy's sample expressions (fetches and converters). Pure Swift.
        .target(name: "Samples", dependencies: ["Balancing"], swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // L1: HTTP/1.x message parsing over raw bytes (HAProxy's rules). Pure Swift.
        .target(name: "HTTP1", swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // L3: the runtime: listeners, backends, servers, queues, TCP, HTTP/1.1, HTTP/2 and TLS data paths.
        .target(
            name: "ProxyCore",
            dependencies: [
                "HAProxyConfig", "Balancing", "HTTP1", "HealthChecks", "Logging", "Samples", "Stickiness",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // L4: HAProxy-compatible command line (pure parsing + the run loop).
        .target(
            name: "FulcrumCLI",
            dependencies: [
                "HAProxyConfig", "ProxyCore", "HTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "fulcrum", dependencies: ["FulcrumCLI"]),
        // bench/: the rule engine's micro-benchmark (bench/rules_micro.py runs it).
        .executableTarget(
            name: "fulcrum-rules-bench",
            dependencies: ["HAProxyConfig", "ProxyCore", .product(name: "NIOPosix", package: "swift-nio")],
            path: "bench/rules-micro"
        ),
        // keepalived's command line for the VRRP daemon.
        // L3: the VRRP daemon's I/O: raw socket, rtnetlink, gratuitous ARP, trackers, run loop.
        .target(name: "VRRPDaemon", dependencies: ["VRRP", "KeepalivedConfig"]),
        .target(name: "VRRPCLI", dependencies: ["KeepalivedConfig", "VRRPDaemon"]),
        .executableTarget(name: "fulcrum-vrrp", dependencies: ["VRRPCLI"]),

        .testTarget(name: "HAProxyConfigTests", dependencies: ["HAProxyConfig", "Stickiness"]),
        .testTarget(name: "BalancingTests", dependencies: ["Balancing"]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"]),
        .testTarget(name: "HealthChecksTests", dependencies: ["HealthChecks", "HAProxyConfig"]),
        .testTarget(name: "LoggingTests", dependencies: ["Logging"]),
        .testTarget(name: "SamplesTests", dependencies: ["Samples"]),
        .testTarget(name: "StickinessTests", dependencies: ["Stickiness"]),
        .testTarget(name: "KeepalivedConfigTests", dependencies: ["KeepalivedConfig", "VRRPCLI"]),
        .testTarget(name: "VRRPTests", dependencies: ["VRRP"]),
        .testTarget(name: "FulcrumCLITests", dependencies: ["FulcrumCLI"]),
        .testTarget(name: "ProxyCoreTests", dependencies: ["ProxyCore", .product(name: "NIOCore", package: "swift-nio")]),
    ]
)
