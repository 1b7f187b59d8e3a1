import Foundation

/// A proxy (or defaults section) under construction, with what validation needs besides the model.
struct ProxyState {
    enum ErrorSource { case file(Int, [UInt8]), reference(ErrorFilesReference) }
    var proxy: Proxy
    var label: String
    var isDefaults = false
    var checks = CheckState()
    var errorSources: [ErrorSource] = []
    var defaultBackendAt: SourceLocation?
    /// The named defaults section this proxy used implicitly (as the last defaults section).
    var implicitDefaults: String?
}

/// The parser of a set of configuration files. Feed files with `parseFile`, then call `finish`.
struct ConfigParser {
    enum Section {
        case none, global, proxy, httpErrors, userlist, skipped(String)
    }
    struct CondFrame {
        var parentActive: Bool
        var active: Bool
        var anyTaken: Bool
        var sawElse: Bool
        var location: SourceLocation
    }

    var env: [String: String]
    var diagnostics: [Diagnostic] = []
    var config = Configuration()
    var section: Section = .none
    var sectionLabel: String? = nil
    var sectionName = ""
    var current: ProxyState? = nil
    var currentErrors: HTTPErrorsSection? = nil
    var currentUserlist: Userlist? = nil
    var lastDefaults: ProxyState
    var namedDefaults: [String: ProxyState] = [:]
    var proxies: [ProxyState] = []
    var condStack: [CondFrame] = []
    var location = SourceLocation(file: "", line: 0)
    var currentKeyword: String? = nil
    /// Named defaults sections referenced with `from`.
    var explicitDefaults: Set<String> = []

    init(environment: [String: String]) {
        env = environment
        lastDefaults = ProxyState(proxy: Proxy(name: "", kind: .listen, location: SourceLocation(file: "", line: 0)),
                                  label: "defaults", isDefaults: true)
    }

    // MARK: diagnostics

    mutating func alert(_ message: String, keyword: String? = nil) {
        diagnostics.append(Diagnostic(.alert, message, location: location, section: sectionLabel,
                                      keyword: keyword ?? currentKeyword))
    }
    mutating func warning(_ message: String, keyword: String? = nil) {
        diagnostics.append(Diagnostic(.warning, message, location: location, section: sectionLabel,
                                      keyword: keyword ?? currentKeyword))
    }

    var isActive: Bool { condStack.last.map { $0.active } ?? true }

    // MARK: files

    mutating func parseFile(text: String, file: String) {
        condStack = []
        section = .none
        sectionLabel = nil
        sectionName = ""
        var lineNo = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            location = SourceLocation(file: file, line: lineNo)
            currentKeyword = nil
            var line = String(rawLine)
            if line.hasSuffix("\r") { line.removeLast() }
            handleLine(line)
        }
        location = SourceLocation(file: file, line: lineNo)
        currentKeyword = nil
        if let open = condStack.last {
            let saved = location
            location = open.location
            alert("unterminated '.if' at end of file \(file).", keyword: ".if")
            location = saved
        }
        condStack = []
        closeSection()
    }

    mutating func handleLine(_ line: String) {
        // Cheap skip of blank and comment-only lines.
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        if trimmed.isEmpty || trimmed.first == "#" { return }
        var lexEnv = env
        lexEnv[".FILE"] = location.file
        lexEnv[".LINE"] = String(location.line)
        lexEnv[".SECTION"] = sectionName
        let lexed = Lexer.split(line, environment: lexEnv)
        guard let first = lexed.words.first else { return }
        if first.hasPrefix(".") {
            handleDotDirective(lexed.words)
            return
        }
        guard isActive else { return }
        currentKeyword = first
        if !lexed.errors.isEmpty {
            for e in lexed.errors { alert(e) }
            return
        }
        let words = lexed.words
        if Keywords.sectionNames.contains(first) {
            startSection(words)
            return
        }
        switch section {
        case .none:
            alert("unknown keyword '\(first)' out of section.")
        case .global:
            globalLine(words)
        case .proxy:
            proxyLine(words)
        case .httpErrors:
            httpErrorsLine(words)
        case .userlist:
            userlistLine(words)
        case .skipped:
            break
        }
    }

    // MARK: conditional blocks and dot-directives

    mutating func handleDotDirective(_ words: [String]) {
        let kw = words[0]
        currentKeyword = kw
        let rest = words.dropFirst().joined(separator: " ")
        switch kw {
        case ".if":
            let parentActive = isActive
            var value = false
            if parentActive { value = evalCondition(rest) }
            condStack.append(CondFrame(parentActive: parentActive, active: parentActive && value,
                                       anyTaken: value, sawElse: false, location: location))
        case ".elif":
            guard var top = condStack.popLast() else { alert("lone '.elif' with no matching '.if'."); return }
            if top.sawElse { alert("'.elif' after '.else' is not permitted.") }
            if top.parentActive && !top.anyTaken {
                let v = evalCondition(rest)
                top.active = v
                top.anyTaken = v
            } else {
                top.active = false
            }
            condStack.append(top)
        case ".else":
            guard var top = condStack.popLast() else { alert("lone '.else' with no matching '.if'."); return }
            if top.sawElse { alert("'.else' after '.else' is not permitted.") }
            top.sawElse = true
            top.active = top.parentActive && !top.anyTaken
            top.anyTaken = true
            condStack.append(top)
        case ".endif":
            if condStack.popLast() == nil { alert("lone '.endif' with no matching '.if'.") }
        default:
            guard isActive else { return }
            switch kw {
            case ".diag":
                diagnostics.append(Diagnostic(.notice, rest, location: location, section: sectionLabel))
            case ".notice":
                diagnostics.append(Diagnostic(.notice, rest, location: location, section: sectionLabel))
            case ".warning":
                diagnostics.append(Diagnostic(.warning, rest, location: location, section: sectionLabel))
            case ".alert":
                diagnostics.append(Diagnostic(.alert, rest, location: location, section: sectionLabel))
            default:
                alert("unknown directive '\(kw)'"
                      + Suggest.suffix(kw, in: [".if", ".elif", ".else", ".endif", ".diag", ".notice", ".warning", ".alert"]))
            }
        }
    }

    mutating func evalCondition(_ text: String) -> Bool {
        switch Conditions.evaluate(text, environment: env) {
        case let .success(v): return v
        case let .failure(e):
            alert("failed to parse conditional expression '\(text)': \(e)")
            return false
        }
    }

    // MARK: sections

    mutating func closeSection() {
        if let state = current {
            current = nil
            if state.isDefaults {
                lastDefaults = state
                if !state.proxy.name.isEmpty { namedDefaults[state.proxy.name] = state }
            } else {
                proxies.append(state)
            }
        }
        if let e = currentErrors {
            config.httpErrors.append(e)
            currentErrors = nil
        }
        if let u = currentUserlist {
            config.userlists.append(u)
            currentUserlist = nil
        }
        section = .none
    }

    mutating func startSection(_ words: [String]) {
        closeSection()
        let kw = words[0]
        let name = words.count > 1 ? words[1] : ""
        sectionName = name.isEmpty ? kw : name
        switch kw {
        case "global":
            section = .global
            sectionLabel = "global"
            if words.count > 1 { warning("'global' section does not take arguments, ignored.") }
        case "defaults":
            section = .proxy
            sectionLabel = name.isEmpty ? "defaults" : "defaults '\(name)'"
            var args = Array(words.dropFirst())
            var defName = ""
            if let f = args.first, f != "from" { defName = f; args.removeFirst() }
            var base = ProxyState(proxy: Proxy(name: defName, kind: .listen, location: location),
                                  label: sectionLabel!, isDefaults: true)
            if args.first == "from" {
                if args.count < 2 {
                    alert("'from' expects a defaults section name as argument.")
                } else if let parent = namedDefaults[args[1]] {
                    explicitDefaults.insert(args[1])
                    base = parent
                    base.proxy.name = defName
                    base.proxy.location = location
                    base.label = sectionLabel!
                } else {
                    alert("defaults section '\(args[1])' not found for defaults section '\(defName)'"
                          + Suggest.suffix(args[1], in: Array(namedDefaults.keys)))
                }
                if args.count > 2 { alert("too many arguments.") }
            } else if !args.isEmpty {
                alert("too many arguments, expected at most a name and 'from <defaults>'.")
            }
            current = base
        case "frontend", "backend", "listen":
            section = .proxy
            let kind = ProxyKind(rawValue: kw)!
            sectionLabel = "\(kw) '\(name)'"
            guard !name.isEmpty else {
                sectionLabel = kw
                alert("'\(kw)' expects <name> as an argument.")
                current = ProxyState(proxy: Proxy(name: "", kind: kind, location: location), label: kw)
                return
            }
            var template = lastDefaults
            var implicitName: String? = lastDefaults.proxy.name.isEmpty ? nil : lastDefaults.proxy.name
            var extra = Array(words.dropFirst(2))
            if extra.first == "from" {
                implicitName = nil
                if extra.count < 2 {
                    alert("'from' expects a defaults section name as argument.")
                } else if let d = namedDefaults[extra[1]] {
                    explicitDefaults.insert(extra[1])
                    template = d
                } else {
                    alert("defaults section '\(extra[1])' not found for \(kw) '\(name)'"
                          + Suggest.suffix(extra[1], in: Array(namedDefaults.keys)))
                }
                extra.removeFirst(min(2, extra.count))
            }
            var state = template
            state.implicitDefaults = implicitName
            state.isDefaults = false
            state.label = sectionLabel!
            state.proxy.name = name
            state.proxy.kind = kind
            state.proxy.location = location
            state.proxy.descriptionText = nil
            state.proxy.proxyID = nil
            state.proxy.disabled = false
            state.defaultBackendAt = state.proxy.defaultBackend == nil ? nil : state.defaultBackendAt
            state.checks.httpRulesInherited = !state.checks.http.expects.isEmpty
            state.checks.tcpRulesInherited = !state.checks.tcpRules.isEmpty
            if !extra.isEmpty {
                if kind == .listen, extra.count == 1 {
                    // HAProxy 1.x form: `listen NAME ADDR:PORT`.
                    warning("please use the 'bind' keyword for listening addresses; 'listen \(name) \(extra[0])' is read as 'bind \(extra[0])'.")
                    current = state
                    if let bind = parseBindLine(["bind", extra[0]]) { current!.proxy.binds.append(bind) }
                    current!.proxy.directives.append(Directive(words: ["bind", extra[0]], location: location))
                    return
                }
                alert("'\(kw) \(name)': unexpected argument '\(extra[0])'"
                      + (kind == .listen ? "; please use the 'bind' keyword for listening addresses." : "."))
            }
            current = state
        case "http-errors":
            section = .httpErrors
            sectionLabel = "http-errors '\(name)'"
            if name.isEmpty { alert("'http-errors' expects <name> as an argument.") }
            currentErrors = HTTPErrorsSection(name: name, location: location)
        case "userlist":
            section = .userlist
            sectionLabel = "userlist '\(name)'"
            if name.isEmpty { alert("'userlist' expects <name> as an argument.") }
            if config.userlists.contains(where: { $0.name == name }) { alert("userlist '\(name)' has the same name as another userlist.") }
            currentUserlist = Userlist(name: name, location: location)
        default:
            section = .skipped(kw)
            sectionLabel = name.isEmpty ? kw : "\(kw) '\(name)'"
            warning("'\(kw)' sections are not yet supported by Fulcrum; this section is skipped.")
        }
    }

    // MARK: http-errors

    mutating func httpErrorsLine(_ words: [String]) {
        guard words[0] == "errorfile" else {
            alert("unknown keyword '\(words[0])' in 'http-errors' section"
                  + Suggest.suffix(words[0], in: ["errorfile"]))
            return
        }
        if let (code, body) = readErrorFile(words) {
            currentErrors?.errorFiles[code] = body
        }
    }

    static let errorCodes: Set<Int> = [200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504]

    /// `errorfile CODE PATH`: reads and checks the file.
    mutating func readErrorFile(_ words: [String]) -> (Int, [UInt8])? {
        guard words.count == 3, let code = Int(words[1]) else {
            alert("'errorfile' expects <status_code> and <file> as arguments.")
            return nil
        }
        let path = words[2]
        guard let data = FileManager.default.contents(atPath: path) else {
            alert("errorfile : error opening file '\(path)'.")
            return nil
        }
        let bytes = [UInt8](data)
        guard Self.errorCodes.contains(code) else {
            warning("status code '\(code)' not handled by 'errorfile', error customization will be ignored.")
            return nil
        }
        if !Self.startsWithStatusLine(bytes) {
            alert("errorfile : '\(path)': unable to parse headers (it must start with an HTTP/1.x status line).")
            return nil
        }
        return (code, bytes)
    }

    static func startsWithStatusLine(_ bytes: [UInt8]) -> Bool {
        let prefix = Array("HTTP/1.".utf8)
        guard bytes.count >= 12, Array(bytes[0..<7]) == prefix, bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1"),
              bytes[8] == UInt8(ascii: " ") else { return false }
        let code = bytes[9..<12]
        return code.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    // MARK: global

    mutating func globalLine(_ words: [String]) {
        let kw = words[0]
        config.global.directives.append(Directive(words: words, location: location))
        if let msg = Keywords.removedGlobalKeywords[kw] { alert(msg); return }
        func arg(_ i: Int) -> String? { words.count > i ? words[i] : nil }
        func needArg() -> String? {
            guard let a = arg(1) else { alert("'\(kw)' expects an argument."); return nil }
            return a
        }
        func intArg(min lo: Int = 0) -> Int? {
            guard let a = needArg() else { return nil }
            guard let v = Int(a), v >= lo else {
                alert("'\(kw)' expects an integer argument\(lo > 0 ? " greater than or equal to \(lo)" : ""), got '\(a)'.")
                return nil
            }
            return v
        }
        func timeArg(_ a: String?, _ name: String) -> Duration? {
            guard let a else { alert("'\(name)' expects a time value as argument."); return nil }
            switch Units.parseTime(a) {
            case let .success(d): return d
            case let .failure(e): alert("\(e) in '\(name)' (got '\(a)').", keyword: name); return nil
            }
        }
        if kw.hasPrefix("tune.") {
            guard let v = needArg() else { return }
            config.global.tune[kw] = words.dropFirst().joined(separator: " ")
            switch kw {
            case "tune.bufsize", "tune.maxrewrite":
                switch Units.parseSize(v) {
                case let .success(n):
                    if kw == "tune.bufsize" { config.global.bufsize = n } else { config.global.maxrewrite = n }
                case let .failure(e): alert("\(e) in '\(kw)' (got '\(v)').")
                }
            case "tune.http.maxhdr":
                if let n = Int(v), n >= 1, n <= 32767 { config.global.maxHeaders = n } else {
                    alert("'\(kw)' expects a numeric value between 1 and 32767.")
                }
            case "tune.h2.max-concurrent-streams", "tune.h2.initial-window-size", "tune.h2.header-table-size",
                 "tune.h2.max-frame-size":
                let limits: [String: (Int, Int)] = [
                    "tune.h2.max-concurrent-streams": (0, 2_147_483_647), "tune.h2.initial-window-size": (0, 2_147_483_647),
                    "tune.h2.header-table-size": (0, 65536), "tune.h2.max-frame-size": (16384, 16_777_215)]
                let (lo, hi) = limits[kw]!
                if let n = Int(v), n >= lo, n <= hi { config.global.h2[kw] = n } else {
                    alert("'\(kw)' expects a numeric value between \(lo) and \(hi).")
                }
            default: break
            }
            return
        }
        if Keywords.isSSLDefault(kw) {
            guard needArg() != nil else { return }
            config.global.sslDefaults[kw] = words.dropFirst().joined(separator: " ")
            return
        }
        switch kw {
        case "maxconn":
            if let v = intArg(min: 1) { config.global.maxconn = v }
        case "nbthread":
            if let v = intArg(min: 1) { config.global.nbthread = v }
        case "ulimit-n":
            if let v = intArg() { config.global.ulimitN = v }
        case "daemon": config.global.daemon = true
        case "master-worker": config.global.masterWorker = true
        case "expose-experimental-directives": config.global.exposeExperimentalDirectives = true
        case "pidfile": config.global.pidfile = needArg()
        case "user": config.global.user = needArg()
        case "group": config.global.group = needArg()
        case "uid": if let v = intArg() { config.global.uid = v }
        case "gid": if let v = intArg() { config.global.gid = v }
        case "chroot": config.global.chroot = needArg()
        case "ssl-server-verify":
            guard let v = needArg() else { return }
            guard v == "none" || v == "required" else {
                alert("'\(kw)' expects 'none' or 'required' as argument (got '\(v)').")
                return
            }
            config.global.sslDefaults[kw] = v
        case "ca-base": config.global.caBase = needArg()
        case "crt-base": config.global.crtBase = needArg()
        case "log-tag": config.global.logTag = needArg()
        case "log-send-hostname": config.global.logSendHostname = arg(1) ?? ""
        case "localpeer": config.global.localpeer = needArg()
        case "node": config.global.node = needArg()
        case "description": config.global.descriptionText = words.dropFirst().joined(separator: " ")
        case "hard-stop-after": config.global.hardStopAfter = timeArg(arg(1), kw)
        case "cpu-map":
            if needArg() != nil { config.global.cpuMap.append(Directive(words: words, location: location)) }
        case "log":
            if let t = parseLog(words) { config.global.logs.append(t) }
        case "stats":
            switch arg(1) {
            case "socket":
                config.global.statsSockets.append(Directive(words: words, location: location))
                warning("'stats socket' is not yet supported by Fulcrum, ignored.", keyword: "stats socket")
            case "timeout":
                config.global.statsTimeout = timeArg(arg(2), "stats timeout")
            case "maxconn", "bind-process":
                warning("'stats \(arg(1)!)' is not yet supported by Fulcrum, ignored.", keyword: "stats \(arg(1)!)")
            default:
                alert("'stats' expects 'socket', 'maxconn', 'timeout' or 'bind-process'"
                      + Suggest.suffix(arg(1) ?? "", in: ["socket", "maxconn", "timeout", "bind-process"]))
            }
        case "setenv", "presetenv":
            guard words.count == 3 else { alert("'\(kw)' expects exactly 2 arguments."); return }
            if kw == "setenv" || env[words[1]] == nil { env[words[1]] = words[2] }
        case "unsetenv":
            guard words.count >= 2 else { alert("'unsetenv' expects at least 1 argument."); return }
            for n in words.dropFirst() { env[n] = nil }
        case "resetenv":
            let keep = Set(words.dropFirst())
            env = env.filter { keep.contains($0.key) }
        default:
            if case let .notYet(work)? = Keywords.fulcrumStatus["global \(kw)"] {
                alert("'\(kw)' is not yet supported by Fulcrum (comes with the \(work) work).")
            } else if Keywords.globalOther.contains(kw) {
                warning("'\(kw)' is not yet supported by Fulcrum, ignored.")
            } else {
                alert("unknown keyword '\(kw)' in 'global' section"
                      + Suggest.suffix(kw, in: Keywords.globalHandled + Keywords.globalOther + ["tune.bufsize", "tune.maxrewrite", "tune.http.maxhdr"]))
            }
        }
    }

    static let facilities: Set<String> = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ]
    static let levels: Set<String> = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]

    /// `log global` | `log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`.
    mutating func parseLog(_ words: [String]) -> LogTarget? {
        guard words.count >= 2 else { alert("'log' expects either <address[:port]> and <facility> or 'global' as arguments."); return nil }
        if words[1] == "global" {
            return LogTarget(address: "global", facility: nil, level: nil, minLevel: nil, arguments: [], location: location)
        }
        var i = 2
        var args: [String] = []
        while i + 1 < words.count, ["len", "format", "sample"].contains(words[i]) {
            args.append(words[i]); args.append(words[i + 1]); i += 2
        }
        guard i < words.count else { alert("'log' expects <facility> as argument."); return nil }
        let facility = words[i]
        guard Self.facilities.contains(facility) else {
            alert("unknown log facility '\(facility)'" + Suggest.suffix(facility, in: Array(Self.facilities)))
            return nil
        }
        var level: String?, minLevel: String?
        if i + 1 < words.count {
            level = words[i + 1]
            if !Self.levels.contains(level!) { alert("unknown optional log level '\(level!)'."); return nil }
        }
        if i + 2 < words.count {
            minLevel = words[i + 2]
            if !Self.levels.contains(minLevel!) { alert("unknown optional minimum log level '\(minLevel!)'."); return nil }
        }
        if i + 3 < words.count { alert("too many arguments to 'log'."); return nil }
        return LogTarget(address: Lexer.expandInAddress(words[1], environment: env), facility: facility, level: level, minLevel: minLevel, arguments: args, location: location)
    }
}
