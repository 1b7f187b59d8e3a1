// `server ... ssl` options resolved once, with haproxy's errors: used by the validator (so that
// `-c` reports them) and by the runtime that builds the TLS context from them.

/// What a `server ... ssl` line asks of TLS, after `ssl-default-server-*` and `ssl-server-verify`.
public struct ServerTLSSettings: Sendable, Hashable {
    /// `verify required` (the default) or `none`.
    public var verify = true
    public var caFile: String?
    /// `sni str(NAME)`: sent as SNI and checked against the certificate.
    public var sni: String?
    public var verifyHost: String?
    public var alpn: [String] = []
    public var ciphers: String?
    /// `ssl-min-ver`/`ssl-max-ver` as written (TLSv1.0 ... TLSv1.3).
    public var minVersion: String?
    public var maxVersion: String?
    /// `crt`: the client certificate.
    public var clientCertificate: String?

    /// The settings, or haproxy's message for what is wrong with them.
    public static func resolve(_ server: Server, global: GlobalSettings) -> Result<ServerTLSSettings, ConfigMessage> {
        var options: [(String, String?)] = []
        if let d = global.sslDefaults["ssl-default-server-options"] {
            options += optionPairs(d.split(separator: " ").map(String.init), withValue: Keywords.serverOptionsWithValue)
        }
        options += optionPairs(server.options, withValue: Keywords.serverOptionsWithValue)
        var s = ServerTLSSettings()
        var verify = global.sslDefaults["ssl-server-verify"] ?? "required"
        s.ciphers = global.sslDefaults["ssl-default-server-ciphers"]
        for (name, value) in options {
            guard let v = value else { continue }
            switch name {
            case "verify": verify = v
            case "ca-file": s.caFile = resolvePath(v, base: global.caBase)
            case "verifyhost": s.verifyHost = v
            case "alpn": s.alpn = v.split(separator: ",").map(String.init)
            case "ciphers": s.ciphers = v
            case "crt": s.clientCertificate = resolvePath(v, base: global.crtBase)
            case "ssl-min-ver": s.minVersion = v
            case "ssl-max-ver": s.maxVersion = v
            case "sni":
                // Sample expressions come with the rules work; a constant name works now.
                guard v.hasPrefix("str("), v.hasSuffix(")") else {
                    return .failure(ConfigMessage("'sni \(v)' : only 'sni str(NAME)' is supported by Fulcrum yet (sample expressions come with later work)."))
                }
                s.sni = String(v.dropFirst(4).dropLast())
            default: break
            }
        }
        switch verify {
        case "none":
            s.verify = false
        case "required":
            guard s.caFile != nil else {
                return .failure(ConfigMessage("verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."))
            }
        default:
            return .failure(ConfigMessage("'verify' : unknown verify method '\(verify)', only 'none' and 'required' are supported."))
        }
        return .success(s)
    }

    /// `crt`/`ca-file` paths under `crt-base`/`ca-base` unless absolute.
    public static func resolvePath(_ path: String, base: String?) -> String {
        guard let base, !path.hasPrefix("/") else { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// Option words as written (`crt X`, `no-tlsv10`, ...) into (name, value) pairs.
    public static func optionPairs(_ words: [String], withValue: Set<String>) -> [(String, String?)] {
        var out: [(String, String?)] = []
        var i = 0
        while i < words.count {
            let w = words[i]
            if withValue.contains(w), i + 1 < words.count {
                out.append((w, words[i + 1]))
                i += 2
            } else {
                out.append((w, nil))
                i += 1
            }
        }
        return out
    }
}

/// A message for a diagnostic (the caller adds file, line and section).
public struct ConfigMessage: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
