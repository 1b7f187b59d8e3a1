// Sending log lines: UDP syslog, unix datagram sockets (/dev/log), stdout/stderr. Sending never
// blocks: a full socket buffer or an absent receiver drops the line and counts it.

import Atomics
import HAProxyConfig
import Logging
import NIOCore
import Samples

#if canImport(Glibc)
import Glibc
#endif

/// One `log` target of a proxy or of `global`.
final class LogTargetSender: @unchecked Sendable {
    enum Destination {
        case inet(sockaddr_storage, socklen_t)
        case unix(sockaddr_un)
        case fd(Int32)
    }

    let destination: Destination
    let socket: Int32
    let facility: SyslogFacility
    let maxLevel: SyslogLevel
    let minLevel: SyslogLevel?
    let format: SyslogFormat
    let maxLength: Int
    let dropped = ManagedAtomic<Int>(0)
    let sent = ManagedAtomic<Int>(0)
    /// After a send found no room (EAGAIN, ENOBUFS) or no receiver (ECONNREFUSED, ENOENT), the
    /// target is stalled for `stallNanoseconds`: its lines are dropped and counted without a
    /// system call (and without being formatted when every target of the line is stalled). A
    /// sink that stopped reading then costs the proxy almost nothing.
    private let stalledUntil = ManagedAtomic<UInt64>(0)
    static let stallNanoseconds: UInt64 = 10_000_000

    @inline(__always)
    func isStalled(now: UInt64) -> Bool { now < stalledUntil.load(ordering: .relaxed) }

    func takes(_ level: SyslogLevel) -> Bool { level <= maxLevel }
    /// The address as written (for messages).
    let label: String

    /// Builds a sender for a `log ADDRESS [len N] [format F] FACILITY [LEVEL [MINLEVEL]]` line.
    init?(_ target: LogTarget, sendHostname: Bool = false) {
        guard let facility = SyslogFacility(rawValue: target.facility ?? "") else { return nil }
        label = target.address
        self.facility = facility
        maxLevel = target.level.flatMap(SyslogLevel.init(rawValue:)) ?? .debug
        minLevel = target.minLevel.flatMap(SyslogLevel.init(rawValue:))
        // haproxy 2.6: `local` unless `log-send-hostname` (then rfc3164 with the host name).
        var format = Syslog.defaultFormat(sendHostname: sendHostname)
        var maxLength = 1024
        var i = 0
        while i + 1 < target.arguments.count {
            switch target.arguments[i] {
            case "format": format = SyslogFormat(rawValue: target.arguments[i + 1]) ?? .rfc3164
            case "len": maxLength = Int(target.arguments[i + 1]) ?? 1024
            default: break
            }
            i += 2
        }
        var address = target.address
        for prefix in ["udp@", "udp4@", "ipv4@", "udp6@", "ipv6@"] where address.hasPrefix(prefix) { address.removeFirst(prefix.count) }
        switch address {
        case "stdout", "fd@1":
            destination = .fd(1); socket = -1
        case "stderr", "fd@2":
            destination = .fd(2); socket = -1
        default:
            if address.hasPrefix("unix@") { address.removeFirst(5) }
            if address.hasPrefix("/") {
                var sun = sockaddr_un()
                sun.sun_family = sa_family_t(AF_UNIX)
                let bytes = Array(address.utf8)
                guard bytes.count < MemoryLayout.size(ofValue: sun.sun_path) else { return nil }
                withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                    for (k, b) in bytes.enumerated() { raw[k] = b }
                }
                destination = .unix(sun)
                socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            } else {
                guard let (storage, length) = LogTargetSender.inetAddress(address) else { return nil }
                destination = .inet(storage, length)
                socket = Glibc.socket(Int32(storage.ss_family), Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            guard socket >= 0 else { return nil }
        }
        self.format = format
        self.maxLength = maxLength
    }

    deinit { if socket >= 0 { close(socket) } }

    /// `IP[:PORT]` (default port 514), `[v6]:PORT`, or a host name.
    static func inetAddress(_ text: String) -> (sockaddr_storage, socklen_t)? {
        var host = text, port = 514
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = String(host[host.index(after: host.startIndex)..<close])
            if rest.hasPrefix(":") { port = Int(rest.dropFirst()) ?? 514 }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.lastIndex(of: ":") {
            port = Int(host[host.index(after: colon)...]) ?? 514
            host = String(host[..<colon])
        }
        guard let address = try? SocketAddress.makeAddressResolvingHost(host, port: port) else { return nil }
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        switch address {
        case .v4(let a):
            var sin = a.address
            withUnsafeBytes(of: &sin) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let a):
            var sin6 = a.address
            withUnsafeBytes(of: &sin6) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        default:
            return nil
        }
        return (storage, length)
    }

    /// Sends one message at `level` if the target takes that level. Never blocks.
    func send(level: SyslogLevel, time: LogTime, hostname: String, tag: String, pid: Int, message: [UInt8]) {
        guard level <= maxLevel else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        if isStalled(now: now) {
            dropped.wrappingIncrement(ordering: .relaxed)
            return
        }
        var level = level
        if let minLevel, level < minLevel { level = minLevel }
        let frame = Syslog.frame(format: format, facility: facility, level: level, time: time, hostname: hostname,
                                 tag: tag, pid: pid, message: message, maxLength: maxLength)
        let result: Int = frame.withUnsafeBytes { raw in
            switch destination {
            case .fd(let fd):
                // A line per write; stdout/stderr get a newline.
                return Glibc.write(fd, raw.baseAddress, raw.count)
            case .inet(var storage, let length):
                return withUnsafePointer(to: &storage) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socket, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, length) }
                }
            case .unix(var sun):
                return withUnsafePointer(to: &sun) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(socket, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
        }
        if result < 0 {
            let e = errno
            dropped.wrappingIncrement(ordering: .relaxed)
            if e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ECONNREFUSED || e == ENOENT {
                stalledUntil.store(now + Self.stallNanoseconds, ordering: .relaxed)
            }
        } else {
            sent.wrappingIncrement(ordering: .relaxed)
        }
    }
}

/// The access log of a frontend (and the event log of a backend): its targets, format and options.
final class ProxyLogger: @unchecked Sendable {
    let targets: [LogTargetSender]
    let format: LogFormat
    let tag: String
    let hostname: String
    let pid: Int
    let dontLogNull: Bool
    let dontLogNormal: Bool
    let logAsap: Bool
    let separateErrors: Bool
    /// No `option httplog/tcplog` nor `log-format`: one "Connect from ..." line at accept, as HAProxy.
    let connectionOnly: Bool
    let httpsLog: Bool
    /// The machine's name for %H.
    let systemHostname: String
    /// %lc: this proxy's log counter.
    let logCounter = ManagedAtomic<Int>(0)
    let requestCaptures: [HeaderCapture]
    let responseCaptures: [HeaderCapture]
    let cookieCapture: HeaderCapture?
    /// Capture rules may run (there are slots): each exchange gets a CaptureStore.
    var hasCaptureSlots: Bool { !requestCaptures.isEmpty || !responseCaptures.isEmpty }
    /// `%[expr]` of the format that the sample engine knows (the others log "-").
    let sampleExpressions: [(String, SampleExpression)]

    /// nil when the proxy has no log target (HAProxy then logs nothing for it).
    init?(proxy: Proxy, global: GlobalSettings, senders: (LogTarget) -> LogTargetSender?) {
        let lines = proxy.logs.flatMap { $0.address == "global" ? global.logs : [$0] }
        let targets = lines.compactMap(senders)
        guard !targets.isEmpty else { return nil }
        self.targets = targets
        switch proxy.logStyle {
        case .http: format = .httplog
        case .httpCLF: format = .clf
        case .https: format = .httpslog
        case .tcp: format = .tcplog
        case .connection: format = LogFormat.defaultFormat(httpMode: proxy.mode == .http)
        case .custom(let text): format = (try? LogFormat.compile(text, httpMode: proxy.mode == .http)) ?? .httplog
        }
        connectionOnly = proxy.logStyle == .connection
        sampleExpressions = RuleFormat.sampleExpressions(format)
        httpsLog = proxy.logStyle == .https
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        systemHostname = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // Drop-in: rsyslog rules match the program name "haproxy"; `log-tag` changes it.
        tag = proxy.logTag ?? global.logTag ?? "haproxy"
        if let h = global.logSendHostname {
            hostname = h.isEmpty ? systemHostname : h
        } else {
            hostname = ""
        }
        pid = Int(getpid())
        dontLogNull = proxy.dontLogNull
        dontLogNormal = proxy.dontLogNormal
        logAsap = proxy.logAsap
        separateErrors = proxy.logSeparateErrors
        requestCaptures = proxy.requestCaptures
        responseCaptures = proxy.responseCaptures
        cookieCapture = proxy.cookieCapture
    }

    /// True when every target that would take this line is stalled: the line is counted as
    /// dropped (and numbered, %lc) right away, and the caller need not build it.
    func droppedWhileStalled(isError: Bool) -> Bool {
        if dontLogNormal && !isError { return false }
        let level: SyslogLevel = isError && separateErrors ? .err : .info
        let now = NIODeadline.now().uptimeNanoseconds
        for t in targets where t.takes(level) && !t.isStalled(now: now) { return false }
        for t in targets where t.takes(level) { t.dropped.wrappingIncrement(ordering: .relaxed) }
        logCounter.wrappingIncrement(ordering: .relaxed)
        return true
    }

    /// Renders and sends a traffic line (info, or err with `log-separate-errors` for errors).
    func log(_ record: LogRecord, isError: Bool, level chosen: SyslogLevel? = nil) {
        if dontLogNormal && !isError { return }
        var record = record
        record.hostname = systemHostname
        record.logCounter = logCounter.loadThenWrappingIncrement(ordering: .relaxed)
        if httpsLog {
            record.samples["fc_err"] = "0"
            record.samples["ssl_fc_is_resumed"] = "0"
        }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        format.render(record, into: &line)
        let level: SyslogLevel = chosen ?? (isError && separateErrors ? .err : .info)
        let time = LogTime.now()
        for t in targets { t.send(level: level, time: time, hostname: hostname, tag: tag, pid: pid, message: line) }
    }

    /// The default log (no httplog/tcplog/log-format): "Connect from C:P to F:P (fe/MODE)" at accept.
    func logConnect(client: SocketAddress?, local: SocketAddress?, frontend: String) {
        var r = LogRecord()
        if let client { r.clientIP = client.ipAddress ?? "-"; r.clientPort = client.port ?? 0 }
        if let local { r.frontendIP = local.ipAddress ?? "-"; r.frontendPort = local.port ?? 0 }
        r.frontendName = frontend
        r.pid = pid
        log(r, isError: false)
    }

    /// %rt: the process-wide request/session counter.
    static let requestCounter = ManagedAtomic<Int>(0)

    /// actconn/feconn/beconn/srv_conn, backend queue and pid. haproxy logs once the stream has left
    /// its server and backend (`leaving`): the session's own slot is then not counted.
    func fillCounters(_ r: inout LogRecord, frontend: FrontendRuntime, backend: BackendRuntime?, server: ServerRuntime?,
                      leaving: Bool) {
        r.actconn = frontend.limits?.current ?? 0
        r.feconn = frontend.current.load(ordering: .relaxed)
        if let backend {
            let own = server != nil && leaving ? 1 : 0
            r.beconn = max(0, backend.currentSessions - own)
            r.backendQueue = backend.queueLength
            if let server { r.srvConn = max(0, backend.servedCount(server.index) - own) }
        }
        r.pid = pid
    }

    /// An event line (server state changes) at `level`.
    func event(_ text: String, level: SyslogLevel) {
        let time = LogTime.now()
        let bytes = Array(text.utf8)
        for t in targets { t.send(level: level, time: time, hostname: hostname, tag: tag, pid: pid, message: bytes) }
    }
}

extension LogTime {
    static func now() -> LogTime {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return LogTime(seconds: Int(tv.tv_sec), microseconds: Int(tv.tv_usec))
    }
}
