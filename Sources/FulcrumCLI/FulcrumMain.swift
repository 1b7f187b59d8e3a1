import Dispatch
import HAProxyConfig
import NIOCore
import NIOPosix
import ProxyCore

#if canImport(Glibc)
import Glibc
#endif

public enum FulcrumVersion {
    public static let version = "0.1.0"
    public static let line = "Fulcrum version \(version) - HAProxy 2.6 configuration language"
}

/// The `fulcrum` program: HAProxy's command line over the Fulcrum runtime.
public enum FulcrumMain {
    static func eprint(_ s: String) {
        var s = s
        if !s.hasSuffix("\n") { s += "\n" }
        s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }

    public static func run(_ arguments: [String]) -> Int32 {
        let options: CommandLineOptions
        do {
            options = try CommandLineOptions.parse(arguments)
        } catch {
            eprint("[ALERT]    (\(getpid())) : \(error.description)")
            eprint(CommandLineOptions.usage)
            return 1
        }
        if options.help {
            eprint(CommandLineOptions.usage)
            return 1
        }
        if options.version || options.verboseVersion {
            print(FulcrumVersion.line)
            if options.verboseVersion {
                print("Running on: Swift \(swiftVersion), SwiftNIO event loops")
                print("Feature list : " + ConfigLoader.supportedFeatures.sorted().map { "+" + $0 }.joined(separator: " "))
                print("Available polling systems :\n      epoll : pref=300,  test result OK")
                print("Available multiplexer protocols :\n              h1 : mode=HTTP  side=FE|BE\n            none : mode=TCP   side=FE|BE")
            }
            return 0
        }
        if let dir = options.chdir, chdir(dir) != 0 {
            eprint("[ALERT]    (\(getpid())) : Cannot chdir to '\(dir)'.")
            return 1
        }
        let environment = currentEnvironment()
        let loader = ConfigLoader(environment: environment)
        if let expression = options.condition {
            switch loader.evaluateCondition(expression) {
            case .success(let value): return value ? 0 : 1
            case .failure(let diagnostic):
                eprint(diagnostic.description)
                return 2
            }
        }

        var demo: DemoOrigins?
        let result: LoadResult
        if options.demo {
            do {
                demo = try DemoOrigins.start()
            } catch {
                eprint("[ALERT]    (\(getpid())) : cannot start the demo servers: \(error)")
                return 1
            }
            result = loader.parse(text: DemoOrigins.configuration, file: "<demo>")
        } else {
            if options.files.isEmpty {
                eprint("[ALERT]    (\(getpid())) : No configuration file specified (use -f).")
                eprint(CommandLineOptions.usage)
                return 1
            }
            result = loader.load(paths: options.files)
        }
        for d in result.diagnostics where !(options.quiet && d.severity != .alert) {
            eprint(d.description)
        }
        let warnings = result.diagnostics.contains { $0.severity == .warning }
        guard var configuration = result.configuration, !result.hasAlerts else {
            eprint("[ALERT]    (\(getpid())) : config : Fatal errors found in configuration.")
            return 1
        }
        if options.zeroWarning && warnings {
            eprint("[ALERT]    (\(getpid())) : config : Some warnings were found and 'zero-warning' is set. Aborting.")
            return 1
        }
        if options.checkOnly {
            if !options.quiet { print("Configuration file is valid") }
            return 0
        }
        if let n = options.maxconn { configuration.global.maxconn = n }
        raiseFileLimit(for: configuration.global.maxconn ?? ProxyRuntime.defaultMaxconn)

        let goBackground = (options.daemon || configuration.global.daemon) && !options.foreground && !options.demo
        if goBackground {
            // Before any thread exists: fork, and the parent leaves once the child is detached.
            let pid = fork()
            if pid < 0 { eprint("[ALERT]    (\(getpid())) : cannot fork."); return 1 }
            if pid > 0 { return 0 }
            setsid()
            let devnull = open("/dev/null", O_RDWR)
            if devnull >= 0 { dup2(devnull, 0); dup2(devnull, 1); if !options.debug { dup2(devnull, 2) }; close(devnull) }
        }

        let runtime: ProxyRuntime
        do {
            runtime = try ProxyRuntime(configuration: configuration,
                                       healthSink: options.quiet ? SilentHealthSink() : StderrHealthSink())
            try runtime.start()
        } catch {
            eprint("\(error)")
            eprint("[ALERT]    (\(getpid())) : [fulcrum.main()] Some protocols failed to start their listeners! Exiting.")
            return 1
        }
        if let pidfile = options.pidfile ?? configuration.global.pidfile {
            let text = "\(getpid())\n"
            if let f = fopen(pidfile, "w") { fputs(text, f); fclose(f) } else {
                eprint("[ALERT]    (\(getpid())) : [fulcrum.main()] Cannot create pidfile \(pidfile)")
            }
        }
        if let failure = dropPrivileges(configuration.global) {
            eprint("[ALERT]    (\(getpid())) : [fulcrum.main()] \(failure)")
            runtime.shutdown()
            return 1
        }
        for pid in options.softStopPids { kill(pid, SIGUSR1) }
        for pid in options.hardStopPids { kill(pid, SIGTERM) }
        if options.demo {
            eprint("Fulcrum demo: http://127.0.0.1:\(DemoOrigins.frontendPort)/ balances over three demo servers (Ctrl-C stops).")
        }
        if options.debug {
            for address in runtime.boundAddresses { eprint("[NOTICE]   (\(getpid())) : listening on \(address)") }
        }
        notifySystemd("READY=1")
        waitForSignals(runtime: runtime)
        demo?.stop()
        return 0
    }

    /// `chroot`, `group`/`gid`, `user`/`uid`: after the listeners are bound (they may need
    /// privileged ports), as HAProxy does. Names are resolved before entering the chroot.
    /// Returns HAProxy's alert text on failure.
    static func dropPrivileges(_ global: GlobalSettings) -> String? {
        var uid = global.uid.map { uid_t($0) }
        var gid = global.gid.map { gid_t($0) }
        if let user = global.user {
            guard let pw = getpwnam(user) else { return "cannot find user id for '\(user)'." }
            uid = pw.pointee.pw_uid
            if gid == nil && global.group == nil { gid = pw.pointee.pw_gid }
        }
        if let group = global.group {
            guard let gr = getgrnam(group) else { return "cannot find group id for '\(group)'." }
            gid = gr.pointee.gr_gid
        }
        if let dir = global.chroot {
            guard chroot(dir) == 0, chdir("/") == 0 else {
                return "Cannot chroot(\(dir))."
            }
        }
        if let gid {
            guard setgroups(0, nil) == 0 || getuid() != 0, setgid(gid) == 0 else { return "Cannot set gid \(gid)." }
        }
        if let uid {
            guard setuid(uid) == 0 else { return "Cannot set uid \(uid)." }
        }
        return nil
    }

    static var swiftVersion: String {
        #if swift(>=6.3)
        return "6.3"
        #else
        return "6"
        #endif
    }

    static func currentEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return env
    }

    /// Like HAProxy, raise the open-file limit to what maxconn needs.
    static func raiseFileLimit(for maxconn: Int) {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return }
        let wanted = rlim_t(maxconn * 2 + 100)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
        }
    }

    #if os(Linux)
    static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif

    /// SIGTERM/SIGINT: stop now. SIGUSR1: soft stop (stop listening, finish what is in flight).
    /// SIGTTOU/SIGTTIN are accepted (listener pause/resume comes later).
    static func waitForSignals(runtime: ProxyRuntime) {
        let done = DispatchSemaphore(value: 0)
        let queue = DispatchQueue(label: "fulcrum.signals")
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT, SIGUSR1, SIGTTOU, SIGTTIN, SIGPIPE] { signal(sig, SIG_IGN) }
        func on(_ sig: Int32, _ handler: @escaping @Sendable () -> Void) {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        on(SIGTERM) { done.signal() }
        on(SIGINT) { done.signal() }
        on(SIGUSR1) {
            notifySystemd("STOPPING=1")
            runtime.softStop()
            runtime.waitForConnectionsToEnd(deadline: .distantFuture)
            done.signal()
        }
        done.wait()
        _ = sources
        runtime.shutdown()
    }

    /// sd_notify over $NOTIFY_SOCKET (only when started by systemd with Type=notify).
    static func notifySystemd(_ message: String) {
        guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        _ = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withCString { m in sendto(fd, m, strlen(m), 0, sa, length) }
            }
        }
    }
}
