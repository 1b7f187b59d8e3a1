// TEMPORARY stand-ins with the agreed API; replaced by the real implementation.

extension LogFormat {
    /// HAProxy 2.6's predefined formats (src/log.c).
    public static let httplog = LogFormat(tokens: [])
    public static let tcplog = LogFormat(tokens: [])
    public static let clf = LogFormat(tokens: [])

    /// Compiles a `log-format` string (HAProxy's syntax: `%var`, `%{+Q,-Q,+X}var`, `%[sample]`,
    /// `%%`, backslash-escaped spaces already removed by the config lexer).
    public static func compile(_ text: String) throws(LogFormatError) -> LogFormat {
        LogFormat(tokens: [.literal(Array(text.utf8))])
    }

    /// Appends the rendered line (no trailing newline) to `out`.
    public func render(_ record: LogRecord, into out: inout [UInt8]) {
        for t in tokens { if case .literal(let b) = t { out += b } }
    }
}

public enum Syslog {
    /// One datagram/line: the header for `format`, then the message, cut to `maxLength` bytes
    /// (HAProxy's `len`, default 1024) when given. `tag` defaults to the program name, `hostname`
    /// is sent by rfc3164/rfc5424 when not empty.
    public static func frame(format: SyslogFormat, facility: SyslogFacility, level: SyslogLevel, time: LogTime,
                             hostname: String, tag: String, pid: Int, message: [UInt8], maxLength: Int = 1024) -> [UInt8] {
        Array(message.prefix(maxLength))
    }
}
