/// HAProxy's command line, parsed without side effects.
public struct CommandLineOptions: Sendable, Equatable {
    public var files: [String] = []
    public var checkOnly = false
    public var condition: String?
    public var debug = false
    public var daemon = false
    public var foreground = false  // -db
    public var zeroWarning = false  // -dW
    public var pidfile: String?
    public var quiet = false
    public var version = false
    public var verboseVersion = false
    public var masterWorker = false
    public var systemdNotify = false
    public var masterSocket: String?
    public var softStopPids: [Int32] = []
    public var hardStopPids: [Int32] = []
    public var maxconn: Int?
    public var chdir: String?
    public var oldSocket: String?
    public var demo = false
    public var help = false

    public init() {}
}

public struct UsageError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

extension CommandLineOptions {
    public static let usage = """
        Usage : fulcrum [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -p <pidfile> ] [-- <cfgfile>*]
                -v displays version ; -vv shows known build options.
                -d enters debug mode ; -db only disables background mode.
                -dW fails if any warning is emitted
                -D goes daemon ; -C changes to <dir> before loading files.
                -W master-worker mode (accepted; runs one worker). -Ws adds systemd notify.
                -q quiet mode : don't display messages
                -c check mode : only check config files and exit
                -cc check condition : evaluate a condition and exit
                -n sets the maximum total # of connections (uses ulimit -n)
                -p writes pids of all children to this file
                -sf/-st [pid ]* finishes/terminates old pids.
                -x <unix_socket> get listening sockets from a unix socket (not yet supported)
                -S <bind>[,<bind options>...] new master CLI (accepted, not yet supported)
                --demo runs the shipped example with three built-in demo servers
        """

    /// Parses HAProxy's options. `-sf`/`-st` take every following argument that is a pid.
    public static func parse(_ arguments: [String]) throws(UsageError) -> CommandLineOptions {
        var o = CommandLineOptions()
        var i = 0
        func value(_ flag: String) throws(UsageError) -> String {
            i += 1
            guard i < arguments.count else { throw UsageError(description: "option '\(flag)' requires an argument") }
            return arguments[i]
        }
        while i < arguments.count {
            let a = arguments[i]
            switch a {
            case "-f": o.files.append(try value(a))
            case "-c": o.checkOnly = true
            case "-cc": o.condition = try value(a)
            case "-d": o.debug = true; o.foreground = true
            case "-db": o.foreground = true
            case "-dW": o.zeroWarning = true
            case "-D": o.daemon = true
            case "-W": o.masterWorker = true
            case "-Ws": o.masterWorker = true; o.systemdNotify = true
            case "-p": o.pidfile = try value(a)
            case "-q": o.quiet = true
            case "-v": o.version = true
            case "-V": break  // verbose: the default here
            case "-vv": o.verboseVersion = true
            case "-S": o.masterSocket = try value(a)
            case "-x": o.oldSocket = try value(a)
            case "-C": o.chdir = try value(a)
            case "-n":
                guard let n = Int(try value(a)), n > 0 else { throw UsageError(description: "option '-n' expects a positive number") }
                o.maxconn = n
            case "-sf", "-st":
                var pids: [Int32] = []
                while i + 1 < arguments.count, let pid = Int32(arguments[i + 1]) {
                    pids.append(pid)
                    i += 1
                }
                if a == "-sf" { o.softStopPids += pids } else { o.hardStopPids += pids }
            case "--demo": o.demo = true
            case "-h", "--help": o.help = true
            case "--":
                o.files += arguments[(i + 1)...]
                i = arguments.count
                continue
            default:
                if a.hasPrefix("-d") && a.count > 2 {
                    // Other -dX debugging switches of HAProxy: accepted, no effect.
                    break
                }
                if a.hasPrefix("-") { throw UsageError(description: "unknown option '\(a)'") }
                // HAProxy also takes bare file names after the options.
                o.files.append(a)
            }
            i += 1
        }
        return o
    }
}
