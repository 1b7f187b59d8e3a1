// Keyword tables: every real HAProxy 2.6 keyword we know per section (for did-you-mean and
// to tell typos from real-but-unsupported keywords), removed keywords with HAProxy's wording, and
// THE table of what Fulcrum does not support yet. To support a keyword, remove its entry from
// `Keywords.fulcrumStatus` and handle it in ProxyBuilder/GlobalBuilder.

/// What Fulcrum does with a real HAProxy keyword it does not (fully) implement.
public enum KeywordSupport: Sendable, Hashable {
    /// Ignoring it would change the traffic: alert (loading fails).
    case notYet(work: String)
    /// Only logs / observability: warning, ignored.
    case ignoredWarning
    /// A check protocol Fulcrum does not speak: warning, the servers get a plain TCP connect check.
    case connectCheckInstead
}

public enum Keywords {
    static func removedIn21(_ kw: String, _ replacement: String?) -> String {
        var s = "The '\(kw)' directive is not supported anymore since HAProxy 2.1."
        if let replacement { s += " " + replacement }
        return s
    }

    /// Removed proxy keywords: keyword -> HAProxy 2.6's alert.
    public static let removedProxyKeywords: [String: String] = {
        var m: [String: String] = [:]
        let addHdr = "Use 'http-request add-header' instead."
        m["reqadd"] = removedIn21("reqadd", addHdr)
        m["reqrep"] = removedIn21("reqrep", "Use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead.")
        m["reqirep"] = removedIn21("reqirep", "Use 'http-request replace-header' instead.")
        for k in ["reqdel", "reqidel"] { m[k] = removedIn21(k, "Use 'http-request del-header' instead.") }
        for k in ["reqdeny", "reqideny"] { m[k] = removedIn21(k, "Use 'http-request deny' instead.") }
        for k in ["reqallow", "reqiallow"] { m[k] = removedIn21(k, "Use 'http-request allow' instead.") }
        for k in ["reqpass", "reqipass"] { m[k] = removedIn21(k, "Simply remove it.") }
        for k in ["reqtarpit", "reqitarpit"] { m[k] = removedIn21(k, "Use 'http-request tarpit' instead.") }
        for k in ["reqsetbe", "reqisetbe"] { m[k] = removedIn21(k, "Use 'use_backend' instead.") }
        m["rspadd"] = removedIn21("rspadd", "Use 'http-response add-header' instead.")
        for k in ["rsprep", "rspirep"] { m[k] = removedIn21(k, "Use 'http-response replace-header' instead.") }
        for k in ["rspdel", "rspidel"] { m[k] = removedIn21(k, "Use 'http-response del-header' instead.") }
        for k in ["rspdeny", "rspideny"] { m[k] = removedIn21(k, "Use 'http-response deny' instead.") }
        m["block"] = removedIn21("block", "Use 'http-request deny' which uses the exact same syntax.")
        m["redispatch"] = "keyword 'redispatch' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'."
        m["contimeout"] = "the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'."
        m["clitimeout"] = "the 'clitimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'."
        m["srvtimeout"] = "the 'srvtimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout server'."
        m["monitor-net"] = "'monitor-net' doesn't exist anymore. Please use 'http-request return status 200 if { src <net> }' (HTTP) or 'tcp-request connection' rules instead."
        return m
    }()

    /// Removed options: option name -> alert.
    public static let removedOptions: [String: String] = [
        "forceclose": "option 'forceclose' is not supported any more since HAProxy 2.0, please just remove it, or use 'option httpclose' if absolutely needed.",
        "http-tunnel": "option 'http-tunnel' is not supported any more since HAProxy 2.1, please just remove it, it shouldn't be needed.",
    ]

    /// Removed global keywords.
    public static let removedGlobalKeywords: [String: String] = [
        "nbproc": "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available. Use 'nbthread' to set their number.",
    ]

    /// Obsolete but unambiguous options: loaded with this warning and ignored.
    public static let obsoleteOptions: [String: String] = [
        "http-use-htx": "option 'http-use-htx' is obsolete since HAProxy 2.1, HTX being the only HTTP mode; ignored, please remove it.",
        "independant-streams": "option 'independant-streams' is a misspelling of 'independent-streams' (obsolete); ignored.",
    ]

    /// The one table of real HAProxy features Fulcrum does not implement yet. Keys:
    /// a proxy keyword (`acl`), `option NAME`, a two-word keyword (`stats enable`),
    /// `bind OPTION` / `server OPTION` (with value for `proto h2`), `global KEYWORD`.
    public static let fulcrumStatus: [String: KeywordSupport] = {
        var m: [String: KeywordSupport] = [:]
        func alert(_ keys: [String], _ work: String) { for k in keys { m[k] = .notYet(work: work) } }
        alert(["http-error", "errorloc", "errorloc302", "errorloc303"], "HTTP rules")
        alert(["persist rdp-cookie",
               "option prefer-last-server"], "persistence")
        alert(["stats enable", "stats uri", "stats auth", "stats admin", "stats refresh", "stats realm",
               "stats hide-version", "stats show-desc", "stats show-legends", "stats show-modules",
               "stats show-node", "stats scope", "stats http-request", "stats"], "stats page")
        alert(["compression"], "compression")
        alert(["filter"], "filters")
        alert(["http-reuse"], "connection reuse")
        alert(["server-template"], "DNS resolution")
        alert(["dispatch"], "dispatch")
        alert(["source"], "source address binding")
        alert(["http-send-name-header"], "unique id")
        alert(["rate-limit", "rate-limit sessions"], "rate limiting")
        alert(["use-fcgi-app"], "FastCGI")
        alert(["option transparent", "option originalto", "option abortonclose",
               "option http-pretend-keepalive", "option http-no-delay", "option http-ignore-probes",
               "option http-use-proxy-header", "option checkcache", "option disable-h2-upgrade",
               "option http-restrict-req-hdr-names", "option h1-case-adjust-bogus-client",
               "option h1-case-adjust-bogus-server", "max-keep-alive-queue",
               "hash-balance-factor", "load-server-state-from-file",
               "server-state-file-name", "option idle-close-on-response"], "later")
        alert(["global lua-load", "global lua-load-per-thread", "global lua-prepend-path"], "Lua")

        func warn(_ keys: [String]) { for k in keys { m[k] = .ignoredWarning } }
        warn(["option contstats", "option socket-stats",
              "option splice-auto", "option splice-request", "option splice-response",
              "option tcpka", "option clitcpka", "option srvtcpka", "option nolinger",
              "option tcp-smart-accept", "option tcp-smart-connect", "option independent-streams",
              "backlog", "grace", "email-alert", "clitcpka-cnt", "clitcpka-idle", "clitcpka-intvl",
              "srvtcpka-cnt", "srvtcpka-idle", "srvtcpka-intvl", "global stats socket"])

        for k in ["option ssl-hello-chk", "option ldap-check", "option spop-check", "option external-check",
                  "external-check", "server agent-check"] {
            m[k] = .connectCheckInstead
        }
        return m
    }()

    /// Every real proxy keyword (first word) of HAProxy 2.6.
    public static let proxyKeywords: [String] = [
        "acl", "backlog", "balance", "bind", "capture", "compression", "cookie", "declare",
        "default-server", "default_backend", "description", "disabled", "dispatch", "email-alert",
        "enabled", "errorfile", "errorfiles", "errorloc", "errorloc302", "errorloc303",
        "dynamic-cookie-key", "error-log-format", "external-check", "force-persist", "filter", "fullconn", "grace",
        "hash-balance-factor", "hash-type", "http-after-response", "http-check", "http-error",
        "http-request", "http-response", "http-reuse", "http-send-name-header", "id",
        "ignore-persist", "load-server-state-from-file", "log", "log-format", "log-format-sd",
        "log-tag", "max-keep-alive-queue", "maxconn", "mode", "monitor", "monitor-uri", "no",
        "option", "persist", "rate-limit", "redirect", "retries", "retry-on", "server",
        "server-state-file-name", "server-template", "source", "srvtcpka-cnt", "srvtcpka-idle",
        "srvtcpka-intvl", "clitcpka-cnt", "clitcpka-idle", "clitcpka-intvl", "stats", "stick",
        "stick-table", "tcp-check", "tcp-request", "tcp-response", "timeout", "unique-id-format",
        "unique-id-header", "use_backend", "use-fcgi-app", "use-server",
    ]

    /// Every `option` name of HAProxy 2.6.
    public static let optionNames: [String] = [
        "abortonclose", "accept-invalid-http-request", "accept-invalid-http-response", "allbackups",
        "checkcache", "clitcpka", "contstats", "disable-h2-upgrade", "dontlog-normal", "dontlognull",
        "external-check", "forwardfor", "h1-case-adjust-bogus-client", "h1-case-adjust-bogus-server",
        "http-buffer-request", "http-ignore-probes", "http-keep-alive", "http-no-delay",
        "http-pretend-keepalive", "http-restrict-req-hdr-names", "http-server-close",
        "http-use-proxy-header", "httpchk", "httpclose", "httplog", "httpslog", "idle-close-on-response",
        "independent-streams", "ldap-check", "log-health-checks", "log-separate-errors", "logasap",
        "mysql-check", "nolinger", "originalto", "persist", "pgsql-check", "prefer-last-server",
        "redispatch", "redis-check", "smtpchk", "socket-stats", "splice-auto", "splice-request",
        "splice-response", "spop-check", "srvtcpka", "ssl-hello-chk", "tcp-check", "tcp-smart-accept",
        "tcp-smart-connect", "tcpka", "tcplog", "transparent",
    ]

    /// Options HAProxy refuses with `no option`.
    public static let nonNegatableOptions: Set<String> = [
        "forwardfor", "httpchk", "httplog", "httpslog", "ldap-check", "mysql-check", "originalto",
        "pgsql-check", "redis-check", "smtpchk", "ssl-hello-chk", "tcp-check", "tcpka", "tcplog",
        "external-check", "spop-check",
    ]
    /// Options ignored (with a warning) in a backend.
    public static let frontendOnlyOptions: Set<String> = [
        "accept-invalid-http-request", "clitcpka", "contstats", "dontlog-normal", "dontlognull", "logasap",
        "socket-stats", "tcp-smart-accept", "log-separate-errors", "http-ignore-probes",
    ]
    /// Options ignored (with a warning) in a frontend.
    public static let backendOnlyOptions: Set<String> = [
        "abortonclose", "accept-invalid-http-response", "allbackups", "checkcache", "log-health-checks",
        "persist", "prefer-last-server", "redispatch", "transparent", "http-pretend-keepalive", "srvtcpka",
        "tcp-smart-connect",
    ]

    public static let timeoutNames: [String] = [
        "check", "client", "client-fin", "connect", "http-keep-alive", "http-request", "queue",
        "server", "server-fin", "tarpit", "tunnel",
    ]

    /// Keywords with a typed field in the global section.
    public static let globalHandled: [String] = [
        "maxconn", "nbthread", "daemon", "pidfile", "user", "group", "uid", "gid", "chroot", "log",
        "stats", "ca-base", "crt-base", "log-tag", "log-send-hostname", "localpeer", "node",
        "description", "hard-stop-after", "nbproc", "cpu-map", "ulimit-n", "master-worker",
        "expose-experimental-directives", "setenv", "presetenv", "unsetenv", "resetenv",
    ]

    /// Other real global keywords: accepted with a "not yet supported, ignored" warning.
    public static let globalOther: [String] = [
        "51degrees-data-file", "busy-polling", "chroot", "cluster-secret", "crt-base", "default-path",
        "deviceatlas-json-file", "external-check", "fd-hard-limit", "h1-case-adjust",
        "h1-case-adjust-file", "h2-workaround-bogus-websocket-clients", "insecure-fork-wanted",
        "insecure-setuid-wanted", "issuers-chain-path", "log-send-hostname", "lua-load",
        "lua-load-per-thread", "lua-prepend-path", "maxcompcpuusage", "maxcomprate", "maxconnrate",
        "maxpipes", "maxsessrate", "maxsslconn", "maxsslrate", "maxzlibmem", "mworker-max-reloads",
        "no-memory-trimming", "noepoll", "noevports", "nogetaddrinfo", "nokqueue", "nopoll",
        "noreuseport", "nosplice", "numa-cpu-mapping", "pp2-never-send-local", "profiling.memory",
        "profiling.tasks", "quiet", "zero-warning", "server-state-base", "server-state-file",
        "set-dumpable", "set-var", "setcap", "spread-checks", "ssl-default-bind-ciphers",
        "ssl-default-bind-ciphersuites", "ssl-default-bind-curves", "ssl-default-bind-options",
        "ssl-default-server-ciphers", "ssl-default-server-ciphersuites", "ssl-default-server-curves",
        "ssl-default-server-options", "ssl-dh-param-file", "ssl-engine", "ssl-mode-async",
        "ssl-load-extra-files", "ssl-load-extra-del-ext", "ssl-server-verify", "ssl-skip-self-issued-ca",
        "strict-limits", "thread-group", "thread-groups", "unix-bind", "wurfl-data-file",
        "wurfl-information-list", "wurfl-information-list-separator", "wurfl-cache-size",
        "httpclient.ssl.verify", "httpclient.ssl.ca-file", "httpclient.resolvers.id",
        "httpclient.resolvers.prefer", "httpclient.retries", "httpclient.timeout.connect",
        "debug", "max-spread-checks", "stats", "ssl-propquery", "ssl-provider", "ssl-provider-path",
        "presetenv", "anonkey", "grace", "uid",
    ]

    /// `ssl-default-bind-*` / `ssl-default-server-*`: kept as written.
    static func isSSLDefault(_ kw: String) -> Bool {
        kw.hasPrefix("ssl-default-bind-") || kw.hasPrefix("ssl-default-server-")
    }

    public static let bindOptions: [String] = [
        "accept-netscaler-cip", "accept-proxy", "allow-0rtt", "alpn", "backlog", "ca-file",
        "ca-ignore-err", "ca-sign-file", "ca-sign-pass", "ca-verify-file", "ciphers", "ciphersuites",
        "crl-file", "crt", "crt-ignore-err", "crt-list", "curves", "defer-accept", "ecdhe", "expose-fd",
        "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13", "generate-certificates",
        "gid", "group", "id", "interface", "level", "maxconn", "mode", "mss", "name", "namespace", "nice",
        "no-ca-names", "no-sslv3", "no-tls-tickets", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13",
        "npn", "prefer-client-ciphers", "process", "proto", "quic-cc-algo", "quic-force-retry", "severity-output",
        "ssl", "ssl-max-ver", "ssl-min-ver", "strict-sni", "tcp-ut", "tfo", "thread", "tls-ticket-keys",
        "transparent", "uid", "user", "v4v6", "v6only", "verify",
    ]
    /// Bind options followed by a value.
    public static let bindOptionsWithValue: Set<String> = [
        "alpn", "backlog", "ca-file", "ca-ignore-err", "ca-sign-file", "ca-sign-pass", "ca-verify-file",
        "ciphers", "ciphersuites", "crl-file", "crt", "crt-ignore-err", "crt-list", "curves", "ecdhe",
        "expose-fd", "gid", "group", "id", "interface", "level", "maxconn", "mode", "mss", "name", "namespace",
        "nice", "npn", "process", "proto", "quic-cc-algo", "severity-output", "ssl-max-ver", "ssl-min-ver",
        "tcp-ut", "thread", "tls-ticket-keys", "uid", "user", "verify",
    ]

    public static let serverOptions: [String] = [
        "addr", "agent-check", "agent-addr", "agent-inter", "agent-port", "agent-send", "allow-0rtt", "alpn",
        "backup", "ca-file", "check", "check-alpn", "check-proto", "check-send-proxy", "check-sni", "check-ssl",
        "check-via-socks4", "ciphers", "ciphersuites", "cookie", "crl-file", "crt", "curves", "disabled",
        "downinter", "enabled", "error-limit", "fall", "fastinter", "force-sslv3", "force-tlsv10",
        "force-tlsv11", "force-tlsv12", "force-tlsv13", "id", "init-addr", "inter", "log-proto", "maxconn",
        "maxqueue", "max-reuse", "minconn", "namespace", "no-agent-check", "no-backup", "no-check",
        "no-check-ssl", "no-send-proxy", "no-send-proxy-v2", "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn",
        "no-ssl", "no-ssl-reuse", "no-sslv3", "no-tls-tickets", "no-tlsv10", "no-tlsv11", "no-tlsv12",
        "no-tlsv13", "no-verifyhost", "no-tfo", "non-stick", "npn", "observe", "on-error", "on-marked-down",
        "on-marked-up", "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port", "proto", "redir",
        "rise", "resolve-net", "resolve-opts", "resolve-prefer", "resolvers", "send-proxy", "send-proxy-v2",
        "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "set-proxy-v2-tlv-fmt", "shard", "slowstart", "sni",
        "source", "usesrc", "interface", "ssl", "ssl-max-ver", "ssl-min-ver", "ssl-reuse", "stick", "socks4",
        "tcp-ut", "tfo", "track", "verify", "verifyhost", "weight", "ws",
    ]
    public static let serverOptionsWithValue: Set<String> = [
        "addr", "agent-addr", "agent-inter", "agent-port", "agent-send", "alpn", "ca-file", "check-alpn",
        "check-proto", "check-sni", "ciphers", "ciphersuites", "cookie", "crl-file", "crt", "curves",
        "downinter", "error-limit", "fall", "fastinter", "id", "init-addr", "inter", "log-proto", "maxconn",
        "maxqueue", "max-reuse", "minconn", "namespace", "npn", "observe", "on-error", "on-marked-down",
        "on-marked-up", "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port", "proto", "redir",
        "rise", "resolve-net", "resolve-opts", "resolve-prefer", "resolvers", "set-proxy-v2-tlv-fmt",
        "shard", "slowstart", "sni", "source", "usesrc", "interface", "ssl-max-ver", "ssl-min-ver",
        "socks4", "tcp-ut", "track", "verify", "verifyhost", "weight", "ws",
    ]
    /// Server options that only matter for health checks.
    static let serverCheckOptions: Set<String> = [
        "check", "inter", "fastinter", "downinter", "rise", "fall", "port", "addr", "agent-check",
        "agent-addr", "agent-inter", "agent-port", "agent-send", "check-ssl", "check-sni", "check-alpn",
        "check-proto", "check-send-proxy", "check-via-socks4", "observe", "error-limit", "on-error",
        "on-marked-down", "on-marked-up", "track",
    ]

    /// Sections HAProxy knows that Fulcrum skips with a warning.
    public static let skippedSections: [String] = [
        "peers", "resolvers", "mailers", "program", "cache", "ring", "fcgi-app", "log-forward",
    ]
    public static let sectionNames: [String] = [
        "global", "defaults", "frontend", "backend", "listen", "http-errors", "userlist",
    ] + skippedSections
}
