import Foundation
import Logging
import Samples
// Checks that need the whole configuration (after all files).

extension ConfigParser {
    /// Samples the access log fills itself (httpslog's TLS error fields).
    static let builtinLogSamples: Set<String> = ["fc_err", "ssl_fc_err,hex", "ssl_c_err", "ssl_c_ca_err", "ssl_fc_is_resumed"]

    mutating func finish() -> LoadResult {
        closeSection()
        validate()
        let hasAlert = diagnostics.contains { $0.severity == .alert }
        return LoadResult(configuration: hasAlert ? nil : config, diagnostics: diagnostics)
    }

    mutating func diag(_ sev: Diagnostic.Severity, _ msg: String, at loc: SourceLocation?, section: String? = nil,
                       keyword: String? = nil) {
        diagnostics.append(Diagnostic(sev, msg, location: loc, section: section, keyword: keyword))
    }

    mutating func validate() {
        validateStickiness()
        validateCaptureIDs()
        validateProxyFetches()
        // Duplicate names per capability.
        var frontNames: [String: ProxyState] = [:]
        var backNames: [String: ProxyState] = [:]
        for st in proxies where !st.proxy.name.isEmpty {
            let p = st.proxy
            if p.isFrontend {
                if let other = frontNames[p.name] {
                    diag(.alert, "\(p.kind.rawValue) '\(p.name)' has the same name as \(other.proxy.kind.rawValue) '\(p.name)' declared at \(other.proxy.location).",
                         at: p.location, section: st.label)
                } else { frontNames[p.name] = st }
            }
            if p.isBackend {
                if let other = backNames[p.name] {
                    if other.proxy.kind != .listen || p.kind != .listen {
                        diag(.alert, "\(p.kind.rawValue) '\(p.name)' has the same name as \(other.proxy.kind.rawValue) '\(p.name)' declared at \(other.proxy.location).",
                             at: p.location, section: st.label)
                    }
                } else { backNames[p.name] = st }
            }
        }
        let backendNames = Array(backNames.keys).sorted()

        var resolved: [Proxy] = []
        for st in proxies {
            var p = st.proxy
            let label = st.label
            // A named defaults section must not be both referenced with `from` and used implicitly.
            if let d = st.implicitDefaults, explicitDefaults.contains(d) {
                let declared = namedDefaults[d].map { " (declared at \($0.proxy.location))" } ?? ""
                diag(.alert, "defaults section '\(d)'\(declared) is explicitly referenced by another proxy and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used or always use explicit references.",
                     at: p.location, section: label)
            }
            // Binds.
            if p.isFrontend && p.binds.isEmpty && !p.disabled {
                diag(.warning, "\(p.kind.rawValue) '\(p.name)' has no 'bind' directive. Please declare it as a backend if this was intended.",
                     at: p.location, section: label)
            }
            // TLS binds: a certificate is needed, and must exist (haproxy checks both at load).
            if p.isFrontend {
                for b in p.binds where b.ssl {
                    let text = b.addresses.map { "\($0)" }.joined(separator: ",")
                    if b.certificates.isEmpty && !b.options.contains("crt-list") {
                        diag(.alert, "Proxy '\(p.name)': no SSL certificate specified for bind '\(text)' at [\(b.location)] (use 'crt').",
                             at: b.location, section: label, keyword: "bind")
                    }
                    for crt in b.certificates {
                        let path = ServerTLSSettings.resolvePath(crt, base: config.global.crtBase)
                        if !FileManager.default.fileExists(atPath: path) {
                            diag(.alert, "'bind \(text)' in section '\(p.kind.rawValue)' : unable to stat SSL certificate from file '\(path)' : No such file or directory.",
                                 at: b.location, section: label, keyword: "bind")
                        }
                    }
                }
            }
            // default_backend.
            if p.isFrontend, let be = p.defaultBackend {
                let loc = st.defaultBackendAt ?? p.location
                if let target = backNames[be] {
                    if p.mode == .http && target.proxy.mode == .tcp {
                        diag(.alert, "http \(p.kind.rawValue) '\(p.name)' (\(p.location)) tries to use incompatible tcp \(target.proxy.kind.rawValue) '\(be)' (\(target.proxy.location)) as its default backend (see 'mode').",
                             at: loc, section: label, keyword: "default_backend")
                    }
                } else {
                    diag(.alert, "Proxy '\(p.name)': unable to find required default_backend: '\(be)'"
                         + Suggest.suffix(be, in: backendNames),
                         at: loc, section: label, keyword: "default_backend")
                }
            }
            // use_backend targets.
            for rule in p.backendSwitches where !BackendSwitchRule.isDynamic(rule.backend) {
                if backNames[rule.backend] == nil {
                    diag(.alert, "Proxy '\(p.name)': unable to find required use_backend: '\(rule.backend)'."
                         + Suggest.suffix(rule.backend, in: backendNames),
                         at: rule.location, section: label, keyword: "use_backend")
                }
            }
            // Servers.
            if p.isBackend {
                if p.mode == .tcp, let rule = p.useServerRules.first {
                    diag(.alert, "'use-server' in a tcp-mode \(p.kind.rawValue) is not yet supported by Fulcrum (comes with the TCP rules work); it is in http mode.",
                         at: rule.location, section: label, keyword: "use-server")
                }
                for rule in p.useServerRules where !BackendSwitchRule.isDynamic(rule.server) {
                    if !p.servers.contains(where: { $0.name == rule.server }) {
                        diag(.alert, "\(p.kind.rawValue) '\(p.name)' : unable to find server '\(rule.server)' referenced in a 'use-server' rule.",
                             at: rule.location, section: label, keyword: "use-server")
                    }
                }
                var seen: [String: SourceLocation] = [:]
                for s in p.servers {
                    if let first = seen[s.name] {
                        diag(.alert, "server '\(s.name)' already exists in \(p.kind.rawValue) '\(p.name)' (declared at \(first)).",
                             at: s.location, section: label, keyword: "server")
                    } else { seen[s.name] = s.location }
                }
                // `server ... ssl`: haproxy checks verify/ca-file at load, so `-c` reports it.
                for s in p.servers where s.ssl {
                    if case .failure(let m) = ServerTLSSettings.resolve(s, global: config.global) {
                        diag(.alert, "server '\(s.name)' : \(m)", at: s.location, section: label, keyword: "server")
                    }
                }
                var ids: [Int: String] = [:]
                for s in p.servers {
                    guard let id = s.id else { continue }
                    if let other = ids[id] {
                        diag(.alert, "server '\(s.name)' has the same 'id' \(id) as server '\(other)'.",
                             at: s.location, section: label, keyword: "server")
                    } else { ids[id] = s.name }
                }
                p.healthCheck = Self.resolveHealthCheck(st.checks)
            }
            // Logging: the effective targets (`log global` = the global ones) and the format.
            if p.isFrontend {
                let targets = p.logs.flatMap { $0.address == "global" ? config.global.logs : [$0] }
                if let f = p.uniqueIDFormat {
                    do throws(LogFormatError) {
                        _ = try LogFormat.compile(f, httpMode: p.mode == .http)
                    } catch {
                        diag(.alert, "failed to parse unique-id-format : \(error.description)", at: p.location, section: label,
                             keyword: "unique-id-format")
                    }
                }
                if targets.isEmpty {
                    if p.logStyle != .connection {
                        diag(.warning, "log format ignored for \(p.kind == .listen ? "proxy" : "frontend") '\(p.name)' since it has no log address.",
                             at: nil, section: nil, keyword: nil)
                    }
                } else {
                    var formats: [(String, String, Bool)] = []
                    if case .custom(let f) = p.logStyle { formats.append(("log-format", f, true)) }
                    if let f = p.logFormatSD { formats.append(("log-format-sd", f, true)) }
                    if let f = p.errorLogFormat { formats.append(("error-log-format", f, true)) }
                    for (keyword, text, merge) in formats {
                        do throws(LogFormatError) {
                            let compiled = try LogFormat.compile(text, httpMode: p.mode == .http, mergeSpaces: merge)
                            for case .sample(let expr) in compiled.tokens where !Self.builtinLogSamples.contains(expr) {
                                do throws(SampleError) {
                                    let parsed = try SampleExpression.parse(expr)
                                    // haproxy 2.6: the request and response are gone when the line is built.
                                    if let needs = SampleExpression.needsMessage(parsed.fetch.name) {
                                        diag(.alert, "failed to parse \(keyword) : sample fetch <\(expr)> may not be reliably used here because it needs '\(needs)' which is not available here.",
                                             at: p.logStyleLocation ?? p.location, section: label, keyword: keyword)
                                    }
                                } catch {
                                    diag(.warning, "\(keyword) : sample expression <\(expr)> : \(error.description); Fulcrum logs '-' for it (not supported yet).",
                                         at: p.logStyleLocation ?? p.location, section: label, keyword: keyword)
                                }
                            }
                        } catch {
                            diag(.alert, "failed to parse \(keyword) : \(error.description)",
                                 at: p.logStyleLocation ?? p.location, section: label, keyword: keyword)
                        }
                    }
                }
            }
            // Timeouts.
            var missing: [String] = []
            let t = p.timeouts
            if p.isFrontend && t.client == nil { missing.append("'client'") }
            if p.isBackend && t.connect == nil { missing.append("'connect'") }
            if p.isBackend && t.server == nil { missing.append("'server'") }
            if !missing.isEmpty && !p.disabled {
                diag(.warning, "missing timeouts for \(p.kind.rawValue) '\(p.name)'.\n"
                     + "   | While not properly invalid, you will certainly encounter various problems\n"
                     + "   | with such a configuration. To fix this, please ensure that all following\n"
                     + "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                     at: p.location, section: label, keyword: "timeout")
            }
            // errorfiles references, applied in order with errorfile lines.
            if !st.errorSources.isEmpty {
                var files: [Int: [UInt8]] = [:]
                for src in st.errorSources {
                    switch src {
                    case let .file(code, body): files[code] = body
                    case let .reference(ref):
                        guard let sec = config.httpErrors.first(where: { $0.name == ref.section }) else {
                            diag(.alert, "unable to find http-errors section '\(ref.section)' referenced by \(p.kind.rawValue) '\(p.name)'"
                                 + Suggest.suffix(ref.section, in: config.httpErrors.map(\.name)),
                                 at: ref.location, section: label, keyword: "errorfiles")
                            continue
                        }
                        if ref.codes.isEmpty {
                            files.merge(sec.errorFiles) { _, new in new }
                        } else {
                            for c in ref.codes {
                                if let body = sec.errorFiles[c] { files[c] = body } else {
                                    diag(.warning, "status code '\(c)' not declared in http-errors section '\(ref.section)', ignored.",
                                         at: ref.location, section: label, keyword: "errorfiles")
                                }
                            }
                        }
                    }
                }
                p.errorFiles = files
            }
            resolveReplyErrorFiles(&p, label: label)
            resolved.append(p)
        }
        config.proxies = resolved
    }
}
