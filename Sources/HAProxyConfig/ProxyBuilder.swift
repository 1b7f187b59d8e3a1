// Lines of defaults / frontend / backend / listen sections.

import Logging
import Samples

extension ConfigParser {
    var kindName: String {
        guard let c = current else { return "proxy" }
        return c.isDefaults ? "defaults" : c.proxy.kind.rawValue
    }

    /// Reports a keyword Fulcrum does not implement yet. Returns false if the key is not in the table.
    mutating func reportStatus(_ key: String, keyword: String? = nil) -> Bool {
        guard let status = Keywords.fulcrumStatus[key] else { return false }
        switch status {
        case let .notYet(work):
            let what = work == "later" ? "later work" : "the \(work) work"
            alert("'\(key)' is not yet supported by Fulcrum (comes with \(what)).", keyword: keyword)
        case .ignoredWarning:
            warning("'\(key)' is not yet supported by Fulcrum, ignored.", keyword: keyword)
        case .connectCheckInstead:
            warning("'\(key)' is not supported by Fulcrum: the servers get a plain TCP connect check instead.", keyword: keyword)
            current?.checks.choice = .layer4
        }
        return true
    }

    mutating func proxyLine(_ words: [String]) {
        guard current != nil else { return }
        let kw = words[0]
        current!.proxy.directives.append(Directive(words: words, location: location))
        if let msg = Keywords.removedProxyKeywords[kw] { alert(msg); return }
        if !Self.captureFetchKeywords.contains(kw), let w = words.first(where: { $0.contains("capture.req.hdr") || $0.contains("capture.res.hdr") }) {
            let fetch = w.contains("capture.req.hdr") ? "capture.req.hdr" : "capture.res.hdr"
            alert("'\(fetch)' outside log formats is not yet supported by Fulcrum (comes with later work).")
            return
        }
        let isDefaults = current!.isDefaults
        let kind = current!.proxy.kind
        let frontendCap = isDefaults || kind != .backend
        let backendCap = isDefaults || kind != .frontend
        func arg(_ i: Int) -> String? { words.count > i ? words[i] : nil }
        func intArg(_ i: Int, _ name: String) -> Int? {
            guard let a = arg(i) else { alert("'\(name)' expects an integer argument."); return nil }
            guard let v = Int(a) else { alert("'\(name)' expects an integer argument, got '\(a)'."); return nil }
            return v
        }

        switch kw {
        case "mode":
            switch arg(1) {
            case "http": current!.proxy.mode = .http
            case "tcp": current!.proxy.mode = .tcp
            default: alert("unknown proxy mode '\(arg(1) ?? "")'; 'mode' expects 'http' or 'tcp'.")
            }
        case "bind":
            guard !isDefaults && kind != .backend else {
                alert("'bind' is not allowed in \(isDefaults ? "'defaults'" : "'backend'") sections (no frontend capability).")
                return
            }
            if let b = parseBindLine(words) { current!.proxy.binds.append(b) }
        case "maxconn":
            if let v = intArg(1, kw) {
                if v < 0 { alert("'maxconn' must be positive or zero (got \(v)).") } else { current!.proxy.maxconn = v }
            }
        case "fullconn":
            if let v = intArg(1, kw) {
                if v < 0 { alert("'fullconn' must be positive or zero (got \(v)).") } else { current!.proxy.fullconn = v }
            }
        case "retries":
            if let v = intArg(1, kw) {
                if v < 0 { alert("'retries' must be positive or zero (got \(v)).") } else { current!.proxy.retries = v }
            }
        case "retry-on":
            // Kept in `directives`; the runtime reads the last one. Validate the words here.
            let known: Set<String> = ["none", "conn-failure", "empty-response", "junk-response", "response-timeout",
                                      "0rtt-rejected", "all-retryable-errors", "401", "403", "404", "408", "425",
                                      "500", "501", "502", "503", "504"]
            if words.count < 2 { alert("'retry-on' expects a list of keywords or HTTP status codes."); return }
            for w in words.dropFirst() where !known.contains(w) {
                alert("'retry-on' doesn't support '\(w)'; expected one of \(known.sorted().joined(separator: ", ")).")
            }
        case "default_backend":
            guard let name = arg(1) else { alert("'default_backend' expects a backend name."); return }
            if !frontendCap {
                warning("'default_backend' ignored because backend '\(current!.proxy.name)' has no frontend capability.")
                return
            }
            current!.proxy.defaultBackend = name
            current!.defaultBackendAt = location
        case "server":
            guard !isDefaults && kind != .frontend else {
                alert("'server' is not allowed in \(isDefaults ? "'defaults'" : "'frontend'") sections (no backend capability).")
                return
            }
            if let s = parseServer(words) { current!.proxy.servers.append(s) }
        case "default-server":
            guard backendCap else {
                warning("'default-server' ignored because frontend '\(current!.proxy.name)' has no backend capability.")
                return
            }
            let base = current!.proxy.defaultServer ?? Server(name: "", location: location, host: "", port: nil)
            if let s = parseServerOptions(Array(words.dropFirst()), into: base, label: "default-server") {
                current!.proxy.defaultServer = s
            }
        case "balance":
            if let b = parseBalance(words) { current!.proxy.balance = b }
        case "hash-type":
            parseHashType(words)
        case "timeout":
            parseTimeout(words)
        case "http-check":
            parseHTTPCheck(words)
        case "tcp-check":
            parseTCPCheck(words)
        case "option":
            parseOption(words, negated: false)
        case "no":
            guard let what = arg(1) else { alert("'no' expects 'option' or 'log'."); return }
            switch what {
            case "option": parseOption(Array(words.dropFirst()), negated: true)
            case "log": current!.proxy.logs = []
            default: alert("'no' only supports 'option' and 'log' (got 'no \(what)').")
            }
        case "errorfile":
            if let (code, body) = readErrorFile(words) {
                current!.proxy.errorFiles[code] = body
                current!.errorSources.append(.file(code, body))
            }
        case "errorfiles":
            guard let name = arg(1) else { alert("'errorfiles' expects <name> as argument."); return }
            var codes: [Int] = []
            for c in words.dropFirst(2) {
                guard let n = Int(c) else { alert("'errorfiles': invalid status code '\(c)'."); return }
                codes.append(n)
            }
            let ref = ErrorFilesReference(section: name, codes: codes, location: location)
            current!.proxy.errorFilesReferences.append(ref)
            current!.errorSources.append(.reference(ref))
        case "log":
            if arg(1) == nil { alert("'log' expects either <address[:port]> and <facility> or 'global' as arguments."); return }
            if let t = parseLog(words) { current!.proxy.logs.append(t) }
        case "description":
            current!.proxy.descriptionText = words.dropFirst().joined(separator: " ")
        case "id":
            guard !isDefaults else { alert("'id' is not allowed in 'defaults' sections."); return }
            if let v = intArg(1, kw) {
                if v <= 0 { alert("'id' must be strictly positive (got \(v)).") } else { current!.proxy.proxyID = v }
            }
        case "disabled": current!.proxy.disabled = true
        case "enabled": current!.proxy.disabled = false
        case "http-request" where (arg(1) ?? "").hasPrefix("track-sc") || (arg(1) ?? "").hasPrefix("sc-inc-gpc0")
            || (arg(1) ?? "").hasPrefix("sc-inc-gpc1") || (arg(1) ?? "").hasPrefix("sc-set-gpt0"):
            parseHTTPRequestCounterRule(words)
        case "http-request":
            parseHTTPRule(words, set: .request)
        case "http-response":
            parseHTTPRule(words, set: .response)
        case "http-after-response":
            parseHTTPRule(words, set: .afterResponse)
        case "redirect":
            parseRedirectLine(words)
        case "monitor":
            parseMonitor(words, frontendCapability: frontendCap)
        case "monitor-uri":
            parseMonitorURI(words, frontendCapability: frontendCap)
        case "stick-table": parseStickTable(words)
        case "tcp-request": parseTCPRequest(words)
        case "tcp-response": parseTCPResponse(words)
        case "stick": parseStick(words, backendCapability: backendCap)
        case "acl":
            parseACL(words)
        case "cookie":
            parseCookie(words, backendCapability: backendCap)
        case "use_backend":
            parseUseBackend(words, frontendCapability: frontendCap)
        case "use-server":
            parseUseServer(words, backendCapability: backendCap)
        case "force-persist":
            parsePersistRule(words, kind: .force, backendCapability: backendCap)
        case "ignore-persist":
            parsePersistRule(words, kind: .ignore, backendCapability: backendCap)
        case "dynamic-cookie-key":
            parseDynamicCookieKey(words, backendCapability: backendCap)
        case "http-reuse":
            guard let v = arg(1) else { alert("'http-reuse' expects 'never', 'safe', 'aggressive' or 'always'."); return }
            if v != "safe" && v != "never" {
                alert("'http-reuse \(v)' is not yet supported by Fulcrum (comes with the connection reuse work); only 'safe' is.")
            }
        default:
            if parseLoggingLine(words) { return }
            if let second = arg(1), reportStatus("\(kw) \(second)") { return }
            if reportStatus(kw) { return }
            if Keywords.proxyKeywords.contains(kw) {
                alert("'\(kw)' is not yet supported by Fulcrum (comes with later work).")
                return
            }
            alert("unknown keyword '\(kw)' in '\(kindName)' section"
                  + Suggest.suffix(kw, in: Keywords.proxyKeywords))
        }
    }

    // MARK: options

    mutating func parseOption(_ words: [String], negated: Bool) {
        currentKeyword = negated ? "no option" : "option"
        guard words.count >= 2 else { alert("'option' expects an option name."); return }
        let name = words[1]
        currentKeyword = (negated ? "no option " : "option ") + name
        if let msg = Keywords.removedOptions[name] { alert(msg); return }
        if let msg = Keywords.obsoleteOptions[name] { warning(msg); return }
        guard Keywords.optionNames.contains(name) else {
            alert("unknown option '\(name)'" + Suggest.suffix(name, in: Keywords.optionNames))
            return
        }
        if negated && Keywords.nonNegatableOptions.contains(name) {
            alert("negation/default is not supported for option '\(name)'.")
            return
        }
        if !current!.isDefaults {
            let p = current!.proxy
            if p.kind == .backend && Keywords.frontendOnlyOptions.contains(name) {
                warning("'\(name)' ignored because backend '\(p.name)' has no frontend capability.")
                return
            }
            if p.kind == .frontend && Keywords.backendOnlyOptions.contains(name) {
                warning("'\(name)' ignored because frontend '\(p.name)' has no backend capability.")
                return
            }
        }
        current!.proxy.options[name] = !negated
        let args = Array(words.dropFirst(2))
        if parseCheckOption(name, args, negated: negated) { return }
        if parseLoggingOption(name, args, negated: negated) { return }
        switch name {
        case "redispatch":
            if negated { current!.proxy.redispatch = nil; return }
            var interval = 1
            if let a = args.first {
                guard let v = Int(a) else { alert("'option redispatch' expects an integer interval, got '\(a)'."); return }
                interval = v
            }
            current!.proxy.redispatch = interval
        case "forwardfor":
            if negated { current!.proxy.forwardFor = nil; return }
            var ff = ForwardFor()
            var i = 0
            while i < args.count {
                switch args[i] {
                case "except", "header":
                    guard i + 1 < args.count else { alert("'option forwardfor' '\(args[i])' expects an argument."); return }
                    if args[i] == "except" { ff.except = args[i + 1] } else { ff.header = args[i + 1] }
                    i += 2
                case "if-none":
                    ff.ifNone = true; i += 1
                default:
                    alert("'option forwardfor' only supports optional values 'except', 'header' and 'if-none'"
                          + Suggest.suffix(args[i], in: ["except", "header", "if-none"]))
                    return
                }
            }
            current!.proxy.forwardFor = ff
        case "http-server-close":
            current!.proxy.httpConnectionMode = negated ? .keepAlive : .serverClose
        case "httpclose":
            current!.proxy.httpConnectionMode = negated ? .keepAlive : .close
        case "http-keep-alive":
            current!.proxy.httpConnectionMode = .keepAlive
        case "accept-invalid-http-request":
            current!.proxy.acceptInvalidHTTPRequest = !negated
        case "accept-invalid-http-response":
            current!.proxy.acceptInvalidHTTPResponse = !negated
        case "persist":
            // Read from `options` (Proxy.persist).
            if let a = args.first { alert("'option persist' cannot handle unexpected argument '\(a)'."); return }
        default:
            // Disabling an unsupported feature changes nothing Fulcrum does.
            if negated { return }
            _ = reportStatus("option \(name)")
        }
    }

    // MARK: timeouts, balance, hash-type

    mutating func parseTimeout(_ words: [String]) {
        guard words.count >= 2 else {
            alert("'timeout' expects one of " + Keywords.timeoutNames.map { "'\($0)'" }.joined(separator: ", ") + ".")
            return
        }
        let name = words[1]
        currentKeyword = "timeout \(name)"
        guard Keywords.timeoutNames.contains(name) else {
            alert("'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '\(name)')"
                  + Suggest.suffix(name, in: Keywords.timeoutNames))
            return
        }
        guard words.count >= 3 else { alert("'timeout \(name)' expects an integer value (in milliseconds)."); return }
        if words.count > 3 { alert("'timeout \(name)' expects only one value."); return }
        let d: Duration
        switch Units.parseTime(words[2]) {
        case let .success(v): d = v
        case let .failure(e): alert("\(e) in 'timeout \(name)'"); return
        }
        var t = current!.proxy.timeouts
        switch name {
        case "connect": t.connect = d
        case "client": t.client = d
        case "server": t.server = d
        case "queue": t.queue = d
        case "http-request": t.httpRequest = d
        case "http-keep-alive": t.httpKeepAlive = d
        case "tunnel": t.tunnel = d
        case "client-fin": t.clientFin = d
        case "server-fin": t.serverFin = d
        case "check": t.check = d
        case "tarpit": t.tarpit = d
        default: break
        }
        current!.proxy.timeouts = t
    }

    static let balanceNames = ["roundrobin", "static-rr", "leastconn", "first", "source", "uri", "url_param",
                               "hdr", "random", "rdp-cookie", "hash"]

    mutating func parseBalance(_ words: [String]) -> BalanceAlgorithm? {
        guard words.count >= 2 else { alert("'balance' expects an algorithm."); return nil }
        let algo = words[1]
        let args = Array(words.dropFirst(2))
        func noArgs(_ a: BalanceAlgorithm) -> BalanceAlgorithm? {
            if !args.isEmpty { alert("'balance \(algo)' does not expect any argument (got '\(args[0])')."); return nil }
            return a
        }
        func paren(_ prefix: String) -> String? {
            guard algo.hasPrefix(prefix + "("), algo.hasSuffix(")") else { return nil }
            return String(algo.dropFirst(prefix.count + 1).dropLast())
        }
        switch algo {
        case "roundrobin": return noArgs(.roundRobin)
        case "static-rr": return noArgs(.staticRoundRobin)
        case "leastconn": return noArgs(.leastConn)
        case "first": return noArgs(.first)
        case "source": return noArgs(.source)
        case "random": return noArgs(.random(draws: 2))
        case "rdp-cookie": return noArgs(.rdpCookie(name: "mstshash"))
        case "uri":
            var whole = false, len: Int?, depth: Int?, pathOnly = false
            var i = 0
            while i < args.count {
                switch args[i] {
                case "whole": whole = true; i += 1
                case "path-only": pathOnly = true; i += 1
                case "len", "depth":
                    guard i + 1 < args.count, let v = Int(args[i + 1]), v > 0 else {
                        alert("'balance uri \(args[i])' expects a positive integer."); return nil
                    }
                    if args[i] == "len" { len = v } else { depth = v }
                    i += 2
                default:
                    alert("'balance uri' only accepts parameters 'len', 'depth', 'path-only', and 'whole'"
                          + Suggest.suffix(args[i], in: ["len", "depth", "path-only", "whole"]))
                    return nil
                }
            }
            return .uri(whole: whole, length: len, depth: depth, pathOnly: pathOnly)
        case "url_param":
            guard let name = args.first else { alert("'balance url_param' requires an URL parameter name."); return nil }
            var checkPost = false
            if args.count > 1 {
                guard args[1] == "check_post" else {
                    alert("'balance url_param' only accepts the option 'check_post' (got '\(args[1])')."); return nil
                }
                checkPost = true
                if args.count > 3 { alert("too many arguments to 'balance url_param'."); return nil }
            }
            return .urlParam(name: name, checkPost: checkPost)
        case "hash":
            alert("'balance hash' is not yet supported by Fulcrum (comes with later work).")
            return nil
        default:
            if let n = paren("hdr") {
                guard !n.isEmpty else { alert("'balance hdr()' requires an HTTP header field name."); return nil }
                var useDomain = false
                if let a = args.first {
                    guard a == "use_domain_only", args.count == 1 else {
                        alert("'balance hdr()' only accepts the option 'use_domain_only' (got '\(a)')."); return nil
                    }
                    useDomain = true
                }
                return .header(name: n, useDomainOnly: useDomain)
            }
            if let n = paren("random") {
                guard let v = Int(n), v >= 1 else { alert("'balance random(\(n))': the number of draws must be a positive integer."); return nil }
                return noArgs(.random(draws: v))
            }
            if let n = paren("rdp-cookie") {
                return noArgs(.rdpCookie(name: n.isEmpty ? "mstshash" : n))
            }
            alert("'balance' only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)', 'random' and 'rdp-cookie(name)' options (got '\(algo)')"
                  + Suggest.suffix(algo, in: Self.balanceNames))
            return nil
        }
    }

    mutating func parseHashType(_ words: [String]) {
        guard words.count >= 2 else { alert("'hash-type' expects 'map-based' or 'consistent'."); return }
        var h = HashSettings()
        switch words[1] {
        case "map-based": h.type = .mapBased
        case "consistent": h.type = .consistent
        default:
            alert("'hash-type' expects 'map-based' or 'consistent' (got '\(words[1])')"
                  + Suggest.suffix(words[1], in: ["map-based", "consistent"]))
            return
        }
        var i = 2
        if i < words.count, let f = HashFunction(rawValue: words[i]) {
            h.function = f; i += 1
        }
        if i < words.count, words[i] == "avalanche" { h.avalanche = true; i += 1 }
        if i < words.count {
            alert("'hash-type': unknown hash function or modifier '\(words[i])'"
                  + Suggest.suffix(words[i], in: ["sdbm", "djb2", "wt6", "crc32", "none", "avalanche"]))
            return
        }
        current!.proxy.hash = h
    }

    // MARK: bind

    /// Parses `bind ADDR[,ADDR...] [options]`.
    mutating func parseBindLine(_ words: [String]) -> Bind? {
        guard words.count >= 2 else { alert("'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."); return nil }
        var addresses: [ListenAddress] = []
        for part in words[1].split(separator: ",", omittingEmptySubsequences: false) {
            guard let a = parseListenAddress(String(part)) else { return nil }
            addresses.append(contentsOf: a)
        }
        var bind = Bind(addresses: addresses, location: location)
        let label = "bind \(words[1])"
        var i = 2
        let opts = Array(words)
        while i < opts.count {
            let o = opts[i]
            guard Keywords.bindOptions.contains(o) else {
                alert("unknown keyword '\(o)' for '\(label)'" + Suggest.suffix(o, in: Keywords.bindOptions), keyword: label)
                return nil
            }
            var value: String? = nil
            if Keywords.bindOptionsWithValue.contains(o) {
                guard i + 1 < opts.count else { alert("'\(o)' : missing value for '\(label)'.", keyword: label); return nil }
                value = opts[i + 1]
                bind.options.append(contentsOf: [o, value!])
                i += 2
            } else {
                bind.options.append(o)
                i += 1
            }
            switch o {
            case "proto":
                bind.proto = value
                if let problem = Self.protoProblem(value!, side: "bind") { alert(problem, keyword: label) }
            case "ssl":
                bind.ssl = true
                _ = reportStatus("bind ssl", keyword: label)
            case "crt":
                bind.certificates.append(value!)
                _ = reportStatus("bind crt", keyword: label)
            case "alpn":
                bind.alpn = value!.split(separator: ",").map(String.init)
            case "name":
                bind.name = value
            case "accept-proxy":
                bind.acceptProxy = true
            case "maxconn", "backlog", "id", "mss", "nice", "tcp-ut":
                if Int(value!.filter { $0 != "-" }) == nil && !value!.contains("ms") && !value!.hasSuffix("s") {
                    alert("'\(o)' expects an integer argument, got '\(value!)'.", keyword: label)
                }
            default:
                break
            }
        }
        return bind
    }

    func parsePort(_ s: String) -> Int? {
        guard let p = Int(s), p >= 0, p <= 65535, !s.hasPrefix("+"), !s.hasPrefix("-") else { return nil }
        return p
    }

    /// One address of a bind line; a port range yields several addresses.
    mutating func parseListenAddress(_ raw: String) -> [ListenAddress]? {
        var s = Lexer.expandInAddress(raw, environment: env)
        if s.hasPrefix("unix@") { return [.unix(path: String(s.dropFirst(5)))] }
        if s.hasPrefix("/") { return [.unix(path: s)] }
        if s.hasPrefix("fd@") {
            let n = String(s.dropFirst(3))
            guard let fd = Int32(n), fd >= 0 else { alert("invalid file descriptor in 'fd@\(n)'."); return nil }
            return [.fd(fd)]
        }
        for p in ["abns@", "sockpair@", "udp@", "udp4@", "udp6@", "quic4@", "quic6@", "uxst@", "uxdg@"] where s.hasPrefix(p) {
            alert("'\(p)' addresses are not yet supported by Fulcrum (comes with later work).")
            return nil
        }
        for p in ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"] where s.hasPrefix(p) {
            s = String(s.dropFirst(p.count))
            break
        }
        var host: String
        var portSpec: String
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { alert("invalid address: '\(raw)' (missing ']')."); return nil }
            host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { alert("missing port number: '\(raw)'"); return nil }
            portSpec = String(rest.dropFirst())
        } else {
            guard let colon = s.lastIndex(of: ":") else { alert("missing port number: '\(raw)'"); return nil }
            host = String(s[..<colon])
            portSpec = String(s[s.index(after: colon)...])
        }
        guard !portSpec.isEmpty else { alert("missing port number: '\(raw)'"); return nil }
        let hostValue: String? = (host.isEmpty || host == "*") ? nil : host
        let range = portSpec.split(separator: "-", omittingEmptySubsequences: false)
        guard range.count <= 2, let low = parsePort(String(range[0])), low > 0 else {
            alert("invalid port '\(portSpec)' in '\(raw)'."); return nil
        }
        var high = low
        if range.count == 2 {
            guard let h = parsePort(String(range[1])), h >= low else { alert("invalid port range '\(portSpec)' in '\(raw)'."); return nil }
            high = h
        }
        return (low...high).map { .inet(host: hostValue, port: $0) }
    }

    // MARK: servers

    mutating func parseServer(_ words: [String]) -> Server? {
        guard words.count >= 3 else {
            alert("'server' expects <name> and <addr>[:<port>] as arguments.")
            return nil
        }
        let name = words[1]
        var raw = Lexer.expandInAddress(words[2], environment: env)
        for p in ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"] where raw.hasPrefix(p) {
            raw = String(raw.dropFirst(p.count)); break
        }
        var host = raw
        var portSpec = ""
        if raw.hasPrefix("unix@") || raw.hasPrefix("/") {
            host = raw
        } else if raw.hasPrefix("[") {
            guard let close = raw.firstIndex(of: "]") else { alert("invalid address '\(raw)' for server '\(name)'."); return nil }
            host = String(raw[raw.index(after: raw.startIndex)..<close])
            let rest = raw[raw.index(after: close)...]
            if rest.hasPrefix(":") { portSpec = String(rest.dropFirst()) }
            else if !rest.isEmpty { alert("invalid address '\(raw)' for server '\(name)'."); return nil }
        } else if let colon = raw.lastIndex(of: ":") {
            host = String(raw[..<colon])
            portSpec = String(raw[raw.index(after: colon)...])
        }
        guard !host.isEmpty else { alert("invalid address '\(raw)' for server '\(name)' (missing host)."); return nil }
        let proxyName = current!.proxy.name
        let base = current!.proxy.defaultServer ?? Server(name: name, location: location, host: host, port: nil)
        var s = base
        s.name = name
        s.location = location
        s.host = host
        s.port = nil
        s.portOffset = nil
        if !portSpec.isEmpty {
            if portSpec.hasPrefix("+") || portSpec.hasPrefix("-") {
                guard let off = Int(portSpec.dropFirst()), off <= 65535 else {
                    alert("invalid port offset '\(portSpec)' for server '\(name)'."); return nil
                }
                s.portOffset = portSpec.hasPrefix("-") ? -off : off
            } else {
                guard let p = parsePort(portSpec), p > 0 else { alert("invalid port '\(portSpec)' for server '\(name)'."); return nil }
                s.port = p
            }
        }
        return parseServerOptions(Array(words.dropFirst(3)), into: s, label: "server \(proxyName)/\(name)")
    }

    mutating func parseServerOptions(_ opts: [String], into server: Server, label: String) -> Server? {
        var s = server
        var ok = true
        var i = 0
        let kwLabel = label
        while i < opts.count {
            let o = opts[i]
            guard Keywords.serverOptions.contains(o) else {
                alert("unknown keyword '\(o)'" + Suggest.suffix(o, in: Keywords.serverOptions), keyword: kwLabel)
                ok = false
                i += 1
                continue
            }
            var value = ""
            if Keywords.serverOptionsWithValue.contains(o) {
                guard i + 1 < opts.count else {
                    alert("'\(o)' expects an argument.", keyword: kwLabel)
                    return nil
                }
                value = opts[i + 1]
                s.options.append(contentsOf: [o, value])
                i += 2
            } else {
                s.options.append(o)
                i += 1
            }
            func int(_ lo: Int, _ hi: Int) -> Int? {
                guard let v = Int(value), v >= lo, v <= hi else {
                    alert("'\(o)' expects an integer between \(lo) and \(hi) (got '\(value)').", keyword: kwLabel)
                    ok = false
                    return nil
                }
                return v
            }
            func time() -> Duration? {
                switch Units.parseTime(value) {
                case let .success(d): return d
                case let .failure(e):
                    alert("\(e) in '\(o)' (got '\(value)').", keyword: kwLabel)
                    ok = false
                    return nil
                }
            }
            switch o {
            case "weight":
                guard let v = Int(value), v >= 0, v <= 256 else {
                    alert("weight of server \(s.name) is not within 0 and 256 (\(value)).", keyword: kwLabel)
                    ok = false
                    continue
                }
                s.weight = v
            case "maxconn": if let v = int(0, Int(Int32.max)) { s.maxconn = v }
            case "minconn": if let v = int(0, Int(Int32.max)) { s.minconn = v }
            case "maxqueue": if let v = int(0, Int(Int32.max)) { s.maxqueue = v }
            case "backup": s.backup = true
            case "no-backup": s.backup = false
            case "disabled": s.disabled = true
            case "enabled": s.disabled = false
            case "check":
                s.check.enabled = true
            case "no-check": s.check.enabled = false
            case "inter": if let d = time() { s.check.inter = d }
            case "fastinter": if let d = time() { s.check.fastinter = d }
            case "downinter": if let d = time() { s.check.downinter = d }
            case "slowstart": if let d = time() { s.check.slowstart = d }
            case "rise": if let v = int(1, Int(Int32.max)) { s.check.rise = v }
            case "fall": if let v = int(1, Int(Int32.max)) { s.check.fall = v }
            case "port": if let v = int(1, 65535) { s.check.port = v }
            case "addr": s.check.addr = value
            case "observe":
                guard let mode = ObserveMode(rawValue: value) else {
                    alert("'observe' expects one of 'none', 'layer4', 'layer7' but got '\(value)'.", keyword: kwLabel); ok = false; continue
                }
                s.check.observe = mode
            case "error-limit": if let v = int(1, Int(Int32.max)) { s.check.errorLimit = v }
            case "on-error":
                guard let action = OnErrorAction(rawValue: value) else {
                    alert("'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '\(value)'.",
                          keyword: kwLabel); ok = false; continue
                }
                s.check.onError = action
            case "on-marked-down":
                guard value == "shutdown-sessions" else {
                    alert("'on-marked-down' expects 'shutdown-sessions' but got '\(value)'.", keyword: kwLabel); ok = false; continue
                }
                s.check.shutdownSessionsOnDown = true
            case "on-marked-up":
                guard value == "shutdown-backup-sessions" else {
                    alert("'on-marked-up' expects 'shutdown-backup-sessions' but got '\(value)'.", keyword: kwLabel); ok = false; continue
                }
                s.check.shutdownBackupSessionsOnUp = true
            case "id": if let v = int(1, Int(Int32.max)) { s.id = v }
            case "max-reuse": if let v = int(-1, Int(Int32.max)) { s.maxReuse = v }
            case "pool-purge-delay": if let d = time() { s.poolPurgeDelay = d }
            case "cookie": s.cookie = value
            case "send-proxy": s.sendProxy = true
            case "no-send-proxy": s.sendProxy = false
            case "proto":
                s.proto = value
                if let problem = Self.protoProblem(value, side: "server") { alert(problem, keyword: kwLabel); ok = false }
            case "ssl":
                s.ssl = true
                _ = reportStatus("server ssl", keyword: kwLabel)
            case "no-ssl": s.ssl = false
            case "agent-check":
                _ = reportStatus("server agent-check", keyword: kwLabel)
            case "redir", "source", "usesrc", "socks4", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn",
                 "namespace", "set-proxy-v2-tlv-fmt", "crt", "ws":
                alert("'\(o)' is not yet supported by Fulcrum (comes with later work).", keyword: kwLabel)
                ok = false
            default:
                break
            }
        }
        return ok ? s : nil
    }
}

extension ConfigParser {
    /// `bind|server ... proto NAME`: h1 and h2 run; fcgi and quic are HAProxy's but not ours yet;
    /// anything else is unknown (haproxy 2.6's wording: "'proto' :  unknown MUX protocol 'x'").
    static func protoProblem(_ name: String, side: String) -> String? {
        switch name {
        case "h1", "h2": return nil
        case "fcgi", "quic": return "'proto \(name)' is not yet supported by Fulcrum (comes with later work)."
        default: return "'proto' :  unknown MUX protocol '\(name)' (expected 'h1' or 'h2')."
        }
    }
}
