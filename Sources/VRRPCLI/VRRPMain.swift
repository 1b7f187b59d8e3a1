// keepalived's command line for fulcrum-vrrp: -f FILE, -t, -n, -D, -P, -l, -p PIDFILE.

import KeepalivedConfig
import VRRPDaemon

#if canImport(Glibc)
import Glibc
#endif

public struct VRRPOptions: Equatable, Sendable {
    public var configFile = "/etc/keepalived/keepalived.conf"
    public var checkOnly = false
    public var foreground = false
    public var detailedLog = false
    public var vrrpOnly = false
    public var logConsole = false
    public var pidFile: String?
    public var version = false
    public var help = false

    public init() {}

    /// Parses keepalived's options (short and long forms, `-fFILE` and `-f FILE`).
    public static func parse(_ args: [String]) throws(VRRPUsageError) -> VRRPOptions {
        var o = VRRPOptions()
        var i = 0
        func value(_ flag: String, _ arg: String) throws(VRRPUsageError) -> String {
            if arg.count > 2 && !arg.hasPrefix("--") { return String(arg.dropFirst(2)) }
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") { return String(arg[arg.index(after: eq)...]) }
            i += 1
            guard i < args.count else { throw VRRPUsageError("option '\(flag)' requires an argument") }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "-t", "--config-test": o.checkOnly = true
            case "-n", "--dont-fork": o.foreground = true
            case "-D", "--log-detail": o.detailedLog = true
            case "-P", "--vrrp": o.vrrpOnly = true
            case "-l", "--log-console": o.logConsole = true
            case "-v", "--version": o.version = true
            case "-h", "--help": o.help = true
            default:
                if a.hasPrefix("-f") || a.hasPrefix("--use-file") { o.configFile = try value("-f", a) }
                else if a.hasPrefix("-p") && !a.hasPrefix("--") || a.hasPrefix("--pid") { o.pidFile = try value("-p", a) }
                else { throw VRRPUsageError("unrecognized option '\(a)'") }
            }
            i += 1
        }
        return o
    }
}

public struct VRRPUsageError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

public enum VRRPMain {
    public static let usage = """
    Usage: fulcrum-vrrp [OPTION...]
      -f, --use-file=FILE      Use the specified configuration file
      -t, --config-test        Check the configuration for obvious errors
      -n, --dont-fork          Don't fork the daemon process
      -D, --log-detail         Detailed log messages
      -P, --vrrp               Only run with VRRP subsystem (the only one fulcrum-vrrp has)
      -l, --log-console        Log messages to local console
      -p, --pid=FILE           Use specified pidfile for parent process
      -v, --version            Display the version number
      -h, --help               Display this help message
    """

    public static func run(_ args: [String]) -> Int32 {
        let options: VRRPOptions
        do throws(VRRPUsageError) {
            options = try VRRPOptions.parse(args)
        } catch {
            printErr("fulcrum-vrrp: \(error.message)\n\(usage)\n")
            return 1
        }
        if options.help { print(usage); return 0 }
        if options.version { print("fulcrum-vrrp (keepalived 2.2.7 configuration language)"); return 0 }
        let result = loader.load(path: options.configFile)
        for d in result.diagnostics { printErr(d.description + "\n") }
        if options.checkOnly { return result.exitStatus }
        if result.diagnostics.contains(where: { $0.severity == .error && $0.line == nil && $0.message.contains("Unknown interface") }) {
            return 5
        }
        let instances = result.config.instances
        guard instances.count == 1 else {
            printErr("fulcrum-vrrp: exactly one vrrp_instance is supported in this version (found \(instances.count)).\n")
            return 1
        }
        if let pidFile = options.pidFile {
            let text = "\(getpid())\n"
            if let f = fopen(pidFile, "w") { fputs(text, f); fclose(f) }
        }
        defer { if let pidFile = options.pidFile { unlink(pidFile) } }
        do {
            let daemon = try VRRPDaemon(config: result.config, instance: instances[0], log: { line in
                printErr("Keepalived_vrrp[\(getpid())]: \(line)\n")
            })
            return daemon.run()
        } catch {
            printErr("fulcrum-vrrp: \(error)\n")
            return 1
        }
    }

    static let loader = KeepalivedLoader(readFile: readFile, glob: globPaths, interfaceExists: { name in if_nametoindex(name) != 0 })

    @Sendable static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Sendable static func globPaths(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    static func printErr(_ s: String) {
        var s = s
        s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }
}
