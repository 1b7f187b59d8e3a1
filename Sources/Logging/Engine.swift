// The Logging engine: HAProxy 2.6's log-format compiler and renderer and its syslog headers.
// Behaviour was taken from configuration.txt (8.2-8.6) and checked byte for byte against the
// haproxy 2.6.12 binary logging to a UDP socket (the expected strings in Tests/LoggingTests).

extension LogFormat {
    /// `option httplog` (haproxy 2.6 src/log.c default_http_log_format).
    public static let httplog = predefined(httplogString)
    /// `option tcplog` (default_tcp_log_format).
    public static let tcplog = predefined(tcplogString)
    /// `option httplog clf` (clf_http_log_format).
    public static let clf = predefined(clfString)
    /// `option httpslog` (default_https_log_format). Its `%[...]` fields come from
    /// `LogRecord.samples` (keys "fc_err", "ssl_fc_err,hex", "ssl_c_err", "ssl_c_ca_err",
    /// "ssl_fc_is_resumed", "ssl_fc_sni"); on a clear connection haproxy prints
    /// `0/-/-/-/0 -/-/-`, i.e. fc_err and ssl_fc_is_resumed are "0" and the rest absent.
    public static let httpslog = predefined(httpslogString)

    public static let httplogString =
        "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r"
    public static let tcplogString =
        "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
    public static let clfString =
        "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl"
    public static let httpslogString =
        "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc"

    /// What haproxy 2.6 logs for a proxy with `log` but no `option httplog/tcplog/httpslog` and no
    /// `log-format`: one line at accept time (configuration.txt 8.2.1), e.g.
    /// `Connect from 127.0.0.1:58112 to 127.0.0.1:37119 (fe/TCP)`; "HTTP" in `mode http`.
    /// haproxy builds it with a printf, expressed here as an equivalent format.
    public static func defaultFormat(httpMode: Bool) -> LogFormat {
        httpMode ? defaultHTTP : defaultTCP
    }
    public static let defaultHTTPString = "Connect from %ci:%cp to %fi:%fp (%f/HTTP)"
    public static let defaultTCPString = "Connect from %ci:%cp to %fi:%fp (%f/TCP)"
    static let defaultHTTP = predefined(defaultHTTPString)
    static let defaultTCP = predefined(defaultTCPString)

    private static func predefined(_ s: String) -> LogFormat {
        do { return try compile(s) } catch { fatalError("predefined log format: \(error)") }
    }

    /// Compiles a `log-format` string (HAProxy's syntax: `%var`, `%{+Q,-Q,+X}var`, `%[sample]`,
    /// `%%`, backslash-escaped spaces already removed by the config lexer).
    /// Same as `compile(text, httpMode: true)`. Error descriptions are haproxy's text after
    /// "failed to parse log-format : ", plus a did-you-mean for unknown variables.
    public static func compile(_ text: String) throws(LogFormatError) -> LogFormat {
        try LogFormatParser.parse(text, httpMode: true, mergeSpaces: true)
    }

    /// `httpMode: false` (a `mode tcp` proxy) rejects the HTTP-only variables as haproxy does
    /// ("format variable 'r' is reserved for HTTP mode"). `mergeSpaces: false` for the
    /// directives where spaces are plain text (`unique-id-format`, header values).
    public static func compile(_ text: String, httpMode: Bool, mergeSpaces: Bool = true) throws(LogFormatError) -> LogFormat {
        try LogFormatParser.parse(text, httpMode: httpMode, mergeSpaces: mergeSpaces)
    }

    /// Appends the rendered line (no trailing newline) to `out`.
    public func render(_ record: LogRecord, into out: inout [UInt8]) {
        renderProgram(record, into: &out)
    }

    /// The rendered line as bytes.
    public func render(_ record: LogRecord) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        renderProgram(record, into: &out)
        return out
    }
}

public enum Syslog {
    /// The format of a `log` line without `format`: `local` (no hostname), or `rfc3164` once
    /// `log-send-hostname` is set (haproxy 2.6 then sends `<158>Nov 23 12:10:07 vm haproxy[4958]: hi`).
    public static func defaultFormat(sendHostname: Bool) -> SyslogFormat { sendHostname ? .rfc3164 : .local }

    /// One datagram/line: the header for `format`, then the message, cut to `maxLength` bytes
    /// (HAProxy's `len`, default 1024) when given. `tag` defaults to the program name, `hostname`
    /// is sent by rfc3164/rfc5424 when not empty.
    ///
    /// As haproxy 2.6 does (checked on the wire):
    /// - every format ends with "\n", sent after the cut (a datagram is at most maxLength + 1 bytes);
    /// - the message itself is first cut to maxLength - 1 bytes (haproxy builds the line in a buffer
    ///   of the largest `len` with room for a NUL), then header + message are cut to maxLength;
    /// - rfc3164 without a hostname prints "localhost" (what haproxy sends when
    ///   `log-send-hostname` is absent), rfc5424 prints "-"; `local` never has a hostname;
    /// - `short` and `timed` carry the level only (`<6>`), `priority`, `local`, `rfc3164` and
    ///   `rfc5424` facility * 8 + level.
    public static func frame(format: SyslogFormat, facility: SyslogFacility, level: SyslogLevel, time: LogTime,
                             hostname: String, tag: String, pid: Int, message: [UInt8], maxLength: Int = 1024) -> [UInt8] {
        frame(format: format, facility: facility, level: level, time: time, hostname: hostname, tag: tag, pid: pid,
              message: message, structuredData: nil, maxLength: maxLength)
    }

    /// Same, with the rendered `log-format-sd` for rfc5424 (nil or empty: haproxy's default "-").
    /// The structured data is kept whole or dropped with the message when it does not fit.
    public static func frame(format: SyslogFormat, facility: SyslogFacility, level: SyslogLevel, time: LogTime,
                             hostname: String, tag: String, pid: Int, message: [UInt8], structuredData: [UInt8]?,
                             maxLength: Int = 1024) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(maxLength, 64 + message.count) + 1)
        let pri = facility.code * 8 + level.code
        func priority(_ v: Int) {
            out.append(UInt8(ascii: "<"))
            out.appendDecimal(v)
            out.append(UInt8(ascii: ">"))
        }
        func tagAndPid() {
            out.appendString(tag)
            out.append(UInt8(ascii: "["))
            out.appendDecimal(pid)
            out.append(contentsOf: [0x5D, 0x3A, 0x20])  // "]: "
        }
        var sd: [UInt8] = []
        switch format {
        case .rfc3164, .local:
            priority(pri)
            out.appendRFC3164Date(time)
            out.append(0x20)
            if format == .rfc3164 {
                if hostname.isEmpty { out.appendString("localhost") } else { out.appendString(hostname) }
                out.append(0x20)
            }
            tagAndPid()
        case .rfc5424:
            priority(pri)
            out.append(contentsOf: [0x31, 0x20])  // "1 "
            out.appendISODate(time)
            out.append(0x20)
            if hostname.isEmpty { out.append(UInt8(ascii: "-")) } else { out.appendString(hostname) }
            out.append(0x20)
            out.appendString(tag)
            out.append(0x20)
            out.appendDecimal(pid)
            out.append(contentsOf: [0x20, 0x2D, 0x20])  // " - " (no MSGID)
            if let structuredData, !structuredData.isEmpty { sd = structuredData } else { sd = [UInt8(ascii: "-")] }
            sd.append(0x20)
        case .priority:
            priority(pri)
        case .short:
            priority(level.code)
        case .timed:
            priority(level.code)
            out.appendISODate(time)
            out.append(0x20)
        case .iso:
            out.appendISODate(time)
            out.append(0x20)
        case .raw:
            break
        }
        let limit = max(maxLength, 1)
        if out.count > limit { out.removeSubrange(limit...) }
        var room = limit - out.count
        var includeMessage = true
        if !sd.isEmpty {
            if sd.count <= room {
                out.append(contentsOf: sd)
                room -= sd.count
            } else {
                includeMessage = false
            }
        }
        if includeMessage {
            var len = message.count
            while len > 0 && (message[len - 1] == 0x0A || message[len - 1] == 0) { len -= 1 }
            len = min(len, limit - 1, room)
            if len > 0 { out.append(contentsOf: message[0..<len]) }
        }
        out.append(0x0A)
        return out
    }
}

/// A piece of a log-format as rule values render it without a `LogRecord`.
public enum FormatPiece: Sendable {
    case literal(String)
    /// A run of spaces (printed once, and not first nor after another).
    case separator
    /// `%[...]` as written.
    case sample(String)
}

extension LogFormat {
    /// The format as literals, separators and samples, in order; nil when it has log variables
    /// (`%ci`, `%r`, ...), which need a `LogRecord`.
    public var samplePieces: [FormatPiece]? {
        var out: [FormatPiece] = []
        for op in program {
            switch op {
            case .literal(let bytes): out.append(.literal(String(decoding: bytes, as: UTF8.self)))
            case .separator: out.append(.separator)
            case .sample(let expr, _): out.append(.sample(expr))
            case .variable: return nil
            }
        }
        return out
    }
}
