// keepalived.conf syntax: `!`/`#` comments, quoted words, nested `{ }` blocks, `include` globs,
// then the typed model with keepalived 2.2.7's diagnostics (always naming file and line).

public struct KeepalivedLoader: Sendable {
    /// Reads a file (nil when it cannot be read).
    public var readFile: @Sendable (String) -> String?
    /// Expands an `include` pattern to paths (sorted).
    public var glob: @Sendable (String) -> [String]
    /// Whether a network interface exists (the CLI asks the kernel; tests answer themselves).
    public var interfaceExists: @Sendable (String) -> Bool

    public init(readFile: @escaping @Sendable (String) -> String?, glob: @escaping @Sendable (String) -> [String],
                interfaceExists: @escaping @Sendable (String) -> Bool) {
        self.readFile = readFile
        self.glob = glob
        self.interfaceExists = interfaceExists
    }

    public func load(path: String) -> KeepalivedLoadResult {
        var diagnostics: [KeepalivedDiagnostic] = []
        guard let text = readFile(path) else {
            diagnostics.append(KeepalivedDiagnostic(.error, "Configuration file '\(path)' could not be read", file: nil, line: nil))
            return KeepalivedLoadResult(config: KeepalivedConfig(), diagnostics: diagnostics)
        }
        return load(text: text, file: path)
    }

    public func load(text: String, file: String) -> KeepalivedLoadResult {
        var p = KeepalivedParser(loader: self)
        let nodes = p.tree(text: text, file: file, depth: 0)
        p.build(nodes)
        return KeepalivedLoadResult(config: p.config, diagnostics: p.diagnostics)
    }
}

/// A statement: its words, and its block when it has one.
struct KNode {
    var words: [String]
    var file: String
    var line: Int
    var children: [KNode]?
}

struct KeepalivedParser {
    let loader: KeepalivedLoader
    var config = KeepalivedConfig()
    var diagnostics: [KeepalivedDiagnostic] = []

    init(loader: KeepalivedLoader) { self.loader = loader }

    mutating func error(_ message: String, _ node: KNode?) {
        diagnostics.append(KeepalivedDiagnostic(.error, message, file: node?.file, line: node?.line))
    }

    mutating func warning(_ message: String, _ node: KNode?) {
        diagnostics.append(KeepalivedDiagnostic(.warning, message, file: node?.file, line: node?.line))
    }

    // MARK: lexing and blocks

    static func words(_ line: Substring) -> [String] {
        var out: [String] = []
        var current = ""
        var inQuotes = false
        var hasWord = false
        for ch in line {
            if inQuotes {
                if ch == "\"" { inQuotes = false } else { current.append(ch) }
                continue
            }
            switch ch {
            case "\"":
                inQuotes = true
                hasWord = true
            case " ", "\t", "\r":
                if hasWord { out.append(current); current = ""; hasWord = false }
            case "#", "!" where !hasWord:
                return out
            case "{", "}":
                if hasWord { out.append(current); current = ""; hasWord = false }
                out.append(String(ch))
            default:
                current.append(ch)
                hasWord = true
            }
        }
        if hasWord { out.append(current) }
        return out
    }

    mutating func tree(text: String, file: String, depth: Int) -> [KNode] {
        var stack: [KNode] = [KNode(words: [], file: file, line: 0, children: [])]
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var pending: [String] = []
            func flush(_ stack: inout [KNode]) {
                guard !pending.isEmpty else { return }
                stack[stack.count - 1].children!.append(KNode(words: pending, file: file, line: lineNo, children: nil))
                pending = []
            }
            for w in Self.words(raw) {
                switch w {
                case "{":
                    stack.append(KNode(words: pending, file: file, line: lineNo, children: []))
                    pending = []
                case "}":
                    flush(&stack)
                    if stack.count > 1 {
                        let done = stack.removeLast()
                        stack[stack.count - 1].children!.append(done)
                    } else {
                        error("Unexpected '}'", KNode(words: [], file: file, line: lineNo, children: nil))
                    }
                default:
                    pending.append(w)
                }
            }
            // `include` is expanded where it stands.
            if pending.first == "include" {
                let node = KNode(words: pending, file: file, line: lineNo, children: nil)
                pending = []
                guard node.words.count >= 2, depth < 8 else {
                    error("include expects a file name or pattern", node)
                    continue
                }
                let pattern = node.words[1]
                let base = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
                let full = pattern.hasPrefix("/") ? pattern : base + "/" + pattern
                let paths = loader.glob(full)
                if paths.isEmpty { warning("No config files matched '\(pattern)'.", node) }
                for path in paths {
                    guard let text = loader.readFile(path) else {
                        error("Could not read included file '\(path)'", node)
                        continue
                    }
                    let included = tree(text: text, file: path, depth: depth + 1)
                    stack[stack.count - 1].children!.append(contentsOf: included)
                }
                continue
            }
            flush(&stack)
        }
        while stack.count > 1 {
            let open = stack.removeLast()
            error("Missing '}' for block '\(open.words.joined(separator: " "))' opened here", open)
            stack[stack.count - 1].children!.append(open)
        }
        return stack[0].children!
    }

    // MARK: values

    mutating func number(_ node: KNode, _ index: Int, range: ClosedRange<Double>, format: (Double) -> String) -> Double? {
        guard node.words.count > index else {
            error("\(node.words[0]) expects a value", node)
            return nil
        }
        let text = node.words[index]
        guard let v = Double(text) else {
            error("invalid number '\(text)'", node)
            return nil
        }
        guard range.contains(v) else {
            error("number '\(text)' outside range [\(format(range.lowerBound)), \(format(range.upperBound))]", node)
            return nil
        }
        return v
    }

    mutating func integer(_ node: KNode, _ index: Int, _ range: ClosedRange<Int>) -> Int? {
        guard node.words.count > index else {
            error("\(node.words[0]) expects a value", node)
            return nil
        }
        let text = node.words[index]
        guard let v = Int(text) else {
            error("invalid number '\(text)'", node)
            return nil
        }
        guard range.contains(v) else {
            error("number '\(text)' outside range [\(range.lowerBound), \(range.upperBound)]", node)
            return nil
        }
        return v
    }

    static func sixDecimals(_ v: Double) -> String {
        let micro = Int((v * 1_000_000).rounded())
        let whole = micro / 1_000_000, frac = micro % 1_000_000
        var f = String(frac)
        while f.count < 6 { f = "0" + f }
        return "\(whole).\(f)"
    }

    func value(_ node: KNode) -> String? { node.words.count > 1 ? node.words[1] : nil }

    // MARK: sections

    mutating func build(_ nodes: [KNode]) {
        for node in nodes {
            switch node.words.first {
            case "global_defs": globalDefs(node)
            case "vrrp_script": script(node)
            case "vrrp_instance": instance(node)
            case "vrrp_sync_group": syncGroup(node)
            case nil: continue
            case let kw?:
                if ["virtual_server", "virtual_server_group", "static_ipaddress", "static_routes", "static_rules",
                    "linkbeat_use_polling", "net_namespace", "bfd_instance", "vrrp_track_process", "vrrp_track_file"].contains(kw) {
                    warning("'\(kw)' is not supported by fulcrum-vrrp (VRRP only), ignored.", node)
                } else {
                    error("Unknown keyword '\(kw)'", node)
                }
            }
        }
        validate()
    }

    mutating func globalDefs(_ block: KNode) {
        for n in block.children ?? [] {
            var g = config.globalDefs
            switch n.words[0] {
            case "router_id": g.routerID = value(n)
            case "notification_email":
                g.notificationEmail += (n.children ?? []).flatMap(\.words) + n.words.dropFirst()
            case "notification_email_from": g.notificationEmailFrom = value(n)
            case "smtp_server":
                g.smtpServer = value(n)
                if n.words.count > 2, let port = Int(n.words[2]) { g.smtpPort = port }
            case "smtp_connect_timeout": if let v = integer(n, 1, 1...Int(Int32.max)) { g.smtpConnectTimeout = v }
            case "vrrp_skip_check_adv_addr": g.skipCheckAdvAddr = true
            case "vrrp_garp_interval", "vrrp_gna_interval":
                if let v = number(n, 1, range: 0.000001...4294.967295, format: Self.sixDecimals) {
                    if n.words[0] == "vrrp_garp_interval" { g.garpInterval = v } else { g.gnaInterval = v }
                } else {
                    error("\(n.words[0]) '\(value(n) ?? "")' is invalid", n)
                }
            case "vrrp_garp_master_delay": if let v = integer(n, 1, 0...255) { g.garpMasterDelay = v }
            case "vrrp_garp_master_repeat": if let v = integer(n, 1, 1...255) { g.garpMasterRepeat = v }
            case "enable_script_security": g.enableScriptSecurity = true
            case "script_user": g.scriptUser = value(n)
            case "vrrp_version":
                if let v = integer(n, 1, 2...3) { g.vrrpVersion = v } else { error("VRRP Error: Version must be either 2 or 3", n) }
            case "notification_email_from_name", "smtp_helo_name", "lvs_id", "vrrp_mcast_group4", "vrrp_mcast_group6",
                 "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay",
                 "vrrp_garp_lower_prio_repeat", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
                 "vrrp_check_unicast_src", "vrrp_strict", "vrrp_iptables", "vrrp_priority", "checker_priority",
                 "max_auto_priority", "dynamic_interfaces", "script_security", "enable_traps", "process_names":
                warning("'\(n.words[0])' is accepted and ignored by fulcrum-vrrp.", n)
            default:
                error("Unknown keyword '\(n.words[0])'", n)
            }
            config.globalDefs = g
        }
    }

    mutating func script(_ block: KNode) {
        guard block.words.count >= 2 else { error("vrrp_script expects a name", block); return }
        var s = VRRPScript(name: block.words[1], line: block.line)
        for n in block.children ?? [] {
            switch n.words[0] {
            case "script": s.script = n.words.dropFirst().joined(separator: " ")
            case "interval":
                if let v = Double(value(n) ?? ""), v > 0 { s.interval = v } else {
                    error("(\(s.name)): vrrp script interval must be greater than 0, setting to 1", n)
                }
            case "timeout": if let v = number(n, 1, range: 0.000001...Double(Int32.max), format: Self.sixDecimals) { s.timeout = v }
            case "weight":
                if let v = integer(n, 1, -253...253) { s.weight = v } else {
                    error("vrrp_script \(s.name) weight \(value(n) ?? "") must be in [-253, 253]", n)
                }
            case "rise": if let v = integer(n, 1, 1...Int(Int32.max)) { s.rise = v }
            case "fall": if let v = integer(n, 1, 1...Int(Int32.max)) { s.fall = v }
            case "user": s.user = value(n)
            case "init_fail": break
            default: error("Unknown keyword '\(n.words[0])'", n)
            }
        }
        if s.script == nil { error("(\(s.name)) script has no 'script' line, ignoring", block); return }
        config.scripts.append(s)
    }

    mutating func instance(_ block: KNode) {
        guard block.words.count >= 2 else { error("vrrp_instance expects a name", block); return }
        var v = VRRPInstance(name: block.words[1], line: block.line)
        let tag = "(\(v.name))"
        for n in block.children ?? [] {
            switch n.words[0] {
            case "state":
                switch value(n) {
                case "MASTER": v.state = .master
                case "BACKUP": v.state = .backup
                default: error("\(tag) unknown state '\(value(n) ?? "")', defaulting to BACKUP", n)
                }
            case "interface":
                guard let name = value(n) else { error("\(tag) interface expects a name", n); continue }
                if name == "lo" {
                    error("\(tag) cannot use a loopback interface (lo) for vrrp - ignoring", n)
                } else {
                    v.interface = name
                    if !loader.interfaceExists(name) {
                        warning("WARNING - interface \(name) for vrrp_instance \(v.name) doesn't exist", n)
                    }
                }
            case "virtual_router_id":
                if let id = integer(n, 1, 1...255) { v.virtualRouterID = id } else {
                    error("\(tag): VRID '\(value(n) ?? "")' not valid - must be between 1 & 255", n)
                }
            case "priority":
                if let p = integer(n, 1, 1...255) { v.priority = p } else {
                    error("\(tag) Priority not valid! must be between 1 & 255. Using default 100", n)
                }
            case "advert_int":
                if let a = number(n, 1, range: 0.01...255, format: Self.sixDecimals) { v.advertInterval = a } else {
                    error("\(tag) Advert interval (\(value(n) ?? "")) not valid! Must be > 0 - ignoring", n)
                }
            case "nopreempt": v.nopreempt = true
            case "dont_track_primary": v.dontTrackPrimary = true
            case "preempt": v.nopreempt = false
            case "preempt_delay": if let d = number(n, 1, range: 0...1000, format: Self.sixDecimals) { v.preemptDelay = d }
            case "unicast_src_ip": v.unicastSourceIP = value(n)
            case "unicast_peer":
                for peer in n.children ?? [] { v.unicastPeers.append(peer.words[0]) }
            case "authentication":
                for a in n.children ?? [] {
                    switch a.words[0] {
                    case "auth_type":
                        guard let t = value(a), t == "PASS" || t == "AH" else {
                            error("\(tag) unknown authentication type '\(value(a) ?? "")'", a)
                            continue
                        }
                        v.authType = t
                    case "auth_pass":
                        guard var pass = value(a) else { error("\(tag) auth_pass expects a password", a); continue }
                        if pass.count > 8 {
                            warning("Truncating auth_pass to 8 characters", a)
                            pass = String(pass.prefix(8))
                        }
                        v.authPass = pass
                    default: error("Unknown keyword '\(a.words[0])'", a)
                    }
                }
            case "virtual_ipaddress":
                for a in n.children ?? [] {
                    if let vip = Self.virtualIP(a.words) { v.virtualIPs.append(vip) } else {
                        error("VRRP parsed invalid IP \(a.words.first ?? ""). skipping IP...", a)
                    }
                }
            case "track_script":
                for t in n.children ?? [] {
                    var weight: Int?
                    if t.words.count >= 3, t.words[1] == "weight" { weight = Int(t.words[2]) }
                    v.trackScripts.append(TrackedScript(name: t.words[0], weight: weight))
                }
            case "track_interface":
                for t in n.children ?? [] { v.trackInterfaces.append(t.words[0]) }
            case "smtp_alert": v.smtpAlert = value(n).map { $0 != "false" && $0 != "no" } ?? true
            case "notify_master": v.notifyMaster = n.words.dropFirst().joined(separator: " ")
            case "notify_backup": v.notifyBackup = n.words.dropFirst().joined(separator: " ")
            case "notify_fault": v.notifyFault = n.words.dropFirst().joined(separator: " ")
            case "notify_stop": v.notifyStop = n.words.dropFirst().joined(separator: " ")
            case "notify": v.notify = n.words.dropFirst().joined(separator: " ")
            case "garp_master_delay": if let d = integer(n, 1, 0...255) { v.garpMasterDelay = d }
            case "version": if let ver = integer(n, 1, 2...3) { v.version = ver }
            case "debug", "use_vmac", "vmac_xmit_base", "native_ipv6", "accept", "no_accept",
                 "garp_master_repeat", "garp_master_refresh", "mcast_src_ip", "lvs_sync_daemon_interface":
                warning("'\(n.words[0])' is accepted and ignored by fulcrum-vrrp.", n)
            default:
                error("Unknown keyword '\(n.words[0])'", n)
            }
        }
        config.instances.append(v)
    }

    mutating func syncGroup(_ block: KNode) {
        guard block.words.count >= 2 else { error("vrrp_sync_group expects a name", block); return }
        var g = VRRPSyncGroup(name: block.words[1])
        for n in block.children ?? [] {
            switch n.words[0] {
            case "group": g.members += (n.children ?? []).map { $0.words[0] }
            case "notify_master", "notify_backup", "notify_fault", "notify", "smtp_alert": break
            default: error("Unknown keyword '\(n.words[0])'", n)
            }
        }
        config.syncGroups.append(g)
    }

    /// `ADDR[/PREFIX] [dev IF] [label L] ...`
    static func virtualIP(_ words: [String]) -> VirtualIP? {
        guard let first = words.first else { return nil }
        let parts = first.split(separator: "/", maxSplits: 1)
        let addr = String(parts[0])
        let isV6 = addr.contains(":")
        guard isV6 ? isIPv6(addr) : isIPv4(addr) else { return nil }
        var prefix = isV6 ? 128 : 32
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...(isV6 ? 128 : 32)).contains(p) else { return nil }
            prefix = p
        }
        var dev: String?, label: String?
        var i = 1
        while i + 1 < words.count {
            if words[i] == "dev" { dev = words[i + 1] }
            if words[i] == "label" { label = words[i + 1] }
            i += 2
        }
        return VirtualIP(address: addr, prefix: prefix, isIPv6: isV6, device: dev, label: label)
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }
    }

    static func isIPv6(_ s: String) -> Bool {
        let groups = s.split(separator: ":", omittingEmptySubsequences: false)
        var doubleColons = 0
        let chars = Array(s)
        for i in 0..<max(0, chars.count - 1) where chars[i] == ":" && chars[i + 1] == ":" { doubleColons += 1 }
        guard groups.count >= 3, groups.count <= 8, doubleColons <= 1 else { return false }
        return groups.allSatisfy { g in g.count <= 4 && g.allSatisfy { $0.isHexDigit } }
    }

    // MARK: whole-config checks

    mutating func validate() {
        let scriptNames = Set(config.scripts.map(\.name))
        var usesScripts = false
        for (k, v) in config.instances.enumerated() {
            var inst = v
            inst.trackScripts = v.trackScripts.filter { t in
                if scriptNames.contains(t.name) { return true }
                diagnostics.append(KeepalivedDiagnostic(.error, "(\(v.name)) track script \(t.name) not found, ignoring...", file: nil, line: nil))
                return false
            }
            if !inst.trackScripts.isEmpty { usesScripts = true }
            config.instances[k] = inst
            if v.interface == nil {
                diagnostics.append(KeepalivedDiagnostic(.error, "(\(v.name)) Unknown interface!", file: nil, line: nil))
            }
            if v.virtualRouterID == nil {
                diagnostics.append(KeepalivedDiagnostic(.error, "(\(v.name)) the virtual router id must be set", file: nil, line: nil))
            }
            // Beyond keepalived: what its users need to hear.
            if v.nopreempt && v.state == .master {
                diagnostics.append(KeepalivedDiagnostic(.warning,
                    "(\(v.name)) 'nopreempt' has no effect with 'state MASTER' (keepalived silently clears it): use 'state BACKUP' on both nodes for nopreempt to work.",
                    file: nil, line: nil))
            }
            let weights = inst.trackScripts.map { t in t.weight ?? config.scripts.first { $0.name == t.name }!.weight }
            if v.nopreempt && v.state == .backup && !weights.isEmpty && weights.allSatisfy({ $0 != 0 }) {
                diagnostics.append(KeepalivedDiagnostic(.warning,
                    "(\(v.name)) 'nopreempt' BACKUP with tracking only by 'weight': when the proxy dies on the MASTER its priority only drops, and this nopreempt BACKUP never takes over (measured with keepalived 2.2.7). Use a track_script without weight (the instance goes FAULT) or drop nopreempt.",
                    file: nil, line: nil))
            }
        }
        if config.instances.contains(where: { $0.interface != nil }) {
            let missing = config.instances.compactMap(\.interface).filter { !loader.interfaceExists($0) }
            if !missing.isEmpty {
                diagnostics.append(KeepalivedDiagnostic(.error, "Non-existent interface specified in configuration", file: nil, line: nil))
            }
        }
        if usesScripts && !config.globalDefs.enableScriptSecurity {
            diagnostics.append(KeepalivedDiagnostic(.warning, "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
                                                    file: nil, line: nil))
        }
    }
}
