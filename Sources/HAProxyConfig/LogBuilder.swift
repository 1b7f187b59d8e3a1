// Logging lines of a proxy: `log-format`, `log-format-sd`, `error-log-format`, `log-tag`,
// `capture`, `unique-id-format`/`unique-id-header`, and the logging options.

extension ConfigParser {
    /// Returns false when `kw` is not a logging keyword.
    mutating func parseLoggingLine(_ words: [String]) -> Bool {
        let kw = words[0]
        func value() -> String? {
            guard words.count >= 2 else { alert("'\(kw)' expects an argument."); return nil }
            if words.count > 2 {
                alert("'\(kw)' expects only one argument, got \(words.count - 1); quote it or escape its spaces with a backslash.")
                return nil
            }
            return words[1]
        }
        switch kw {
        case "log-format":
            guard let v = value() else { return true }
            current!.proxy.logStyle = .custom(v)
            current!.proxy.logStyleLocation = location
        case "log-format-sd":
            guard let v = value() else { return true }
            current!.proxy.logFormatSD = v
        case "error-log-format":
            guard let v = value() else { return true }
            current!.proxy.errorLogFormat = v
        case "log-tag":
            guard let v = value() else { return true }
            current!.proxy.logTag = v
        case "unique-id-format":
            guard let v = value() else { return true }
            current!.proxy.uniqueIDFormat = v
        case "unique-id-header":
            guard let v = value() else { return true }
            current!.proxy.uniqueIDHeader = v
        case "capture":
            parseCapture(words)
        case "declare":
            parseDeclareCapture(words)
        default:
            return false
        }
        return true
    }

    mutating func parseCapture(_ words: [String]) {
        let what = words.count > 1 ? words[1] : ""
        if current!.isDefaults {
            alert("'capture \(what)' not allowed in 'defaults' section.")
            return
        }
        if current!.proxy.kind == .backend {
            warning("'capture' ignored because backend '\(current!.proxy.name)' has no frontend capability.")
            return
        }
        switch what {
        case "cookie":
            guard words.count == 5, words[3] == "len", let n = Int(words[4]), n > 0 else {
                alert("'capture cookie' expects <cookie_name> 'len' <len>.")
                return
            }
            if current!.proxy.cookieCapture != nil {
                warning("'capture cookie' : only one cookie capture is allowed per proxy; the previous one is replaced.")
            }
            current!.proxy.cookieCapture = HeaderCapture(name: words[2], length: min(n, 63))
        case "request", "response":
            guard words.count == 6, words[2] == "header", words[4] == "len", let n = Int(words[5]), n > 0 else {
                alert("'capture \(what)' expects 'header' <header_name> 'len' <len>.")
                return
            }
            let capture = HeaderCapture(name: words[3], length: n)
            if what == "request" { current!.proxy.requestCaptures.append(capture) } else { current!.proxy.responseCaptures.append(capture) }
        default:
            alert("'capture' expects 'cookie', 'request' or 'response'" + Suggest.suffix(what, in: ["cookie", "request", "response"]))
        }
    }

    /// `option httplog [clf] | httpslog | tcplog | dontlognull | dontlog-normal | logasap | log-separate-errors`.
    mutating func parseLoggingOption(_ name: String, _ args: [String], negated: Bool) -> Bool {
        switch name {
        case "httplog", "httpslog", "tcplog":
            if !current!.isDefaults && current!.proxy.kind == .backend {
                warning("\(current!.proxy.kind.rawValue) '\(current!.proxy.name)' : 'option \(name)' directive is ignored in backends.")
                return true
            }
            if negated {
                current!.proxy.logStyle = .connection
                return true
            }
            if name == "httplog" {
                if let a = args.first, a != "clf" {
                    alert("'option httplog' only supports the optional argument 'clf' (got '\(a)').")
                    return true
                }
                current!.proxy.logStyle = args.first == "clf" ? .httpCLF : .http
            } else {
                current!.proxy.logStyle = name == "tcplog" ? .tcp : .https
            }
            current!.proxy.logStyleLocation = location
        case "dontlognull": current!.proxy.dontLogNull = !negated
        case "dontlog-normal": current!.proxy.dontLogNormal = !negated
        case "logasap": current!.proxy.logAsap = !negated
        case "log-separate-errors": current!.proxy.logSeparateErrors = !negated
        default: return false
        }
        return true
    }
}
