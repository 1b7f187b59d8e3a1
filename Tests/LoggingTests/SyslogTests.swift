import Logging
import XCTest

/// Syslog headers against haproxy 2.6.12's datagrams for `log 127.0.0.1:PORT [len N] format X local3`
/// (`log-format "hello %ci"`, level info: PRI 158, or <6> for the level-only formats).
final class SyslogTests: XCTestCase {
    func frame(_ format: SyslogFormat, _ time: LogTime, pid: Int, hostname: String = "", tag: String = "haproxy",
               message: String = "hello 127.0.0.1", sd: String? = nil, maxLength: Int = 1024) -> String {
        let bytes: [UInt8]
        if let sd {
            bytes = Syslog.frame(format: format, facility: .local3, level: .info, time: time, hostname: hostname, tag: tag,
                                 pid: pid, message: Array(message.utf8), structuredData: Array(sd.utf8), maxLength: maxLength)
        } else {
            bytes = Syslog.frame(format: format, facility: .local3, level: .info, time: time, hostname: hostname, tag: tag,
                                 pid: pid, message: Array(message.utf8), maxLength: maxLength)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func testRFC3164() {
        // Without log-send-hostname haproxy still fills the field, with "localhost".
        XCTAssertEqual(frame(.rfc3164, at(11, 50, 56, 123), pid: 28999),
                       "<158>Nov 23 11:50:56 localhost haproxy[28999]: hello 127.0.0.1\n")
        XCTAssertEqual(frame(.rfc3164, at(11, 50, 59), pid: 29086, hostname: "vm"),
                       "<158>Nov 23 11:50:59 vm haproxy[29086]: hello 127.0.0.1\n")
        XCTAssertEqual(frame(.rfc3164, at(11, 51, 3), pid: 29173, hostname: "myhost"),
                       "<158>Nov 23 11:51:03 myhost haproxy[29173]: hello 127.0.0.1\n")
        // Day padded with a space (clock shifted to Nov 3 with LD_PRELOAD).
        XCTAssertEqual(frame(.rfc3164, LogTime(seconds: 1_793_707_536, microseconds: 432_000), pid: 2967),
                       "<158>Nov  3 12:05:36 localhost haproxy[2967]: hello 127.0.0.1\n")
    }

    func testRFC5424() {
        XCTAssertEqual(frame(.rfc5424, at(11, 51, 7, usec: 401_514), pid: 29220),
                       "<158>1 2026-11-23T11:51:07.401514+00:00 - haproxy 29220 - - hello 127.0.0.1\n")
        XCTAssertEqual(frame(.rfc5424, at(11, 51, 11, usec: 135_391), pid: 29267, hostname: "vm"),
                       "<158>1 2026-11-23T11:51:11.135391+00:00 vm haproxy 29267 - - hello 127.0.0.1\n")
        XCTAssertEqual(frame(.rfc5424, at(11, 51, 14, usec: 868_376), pid: 29314, hostname: "myhost"),
                       "<158>1 2026-11-23T11:51:14.868376+00:00 myhost haproxy 29314 - - hello 127.0.0.1\n")
        // Leap day, clock shifted.
        XCTAssertEqual(frame(.rfc5424, LogTime(seconds: 1_709_251_202, microseconds: 597_111), pid: 3166, message: "x"),
                       "<158>1 2024-03-01T00:00:02.597111+00:00 - haproxy 3166 - - x\n")
    }

    func testRFC5424StructuredData() {
        // log-tag mytag; log-format-sd "[exampleSDID@1234 bytes=\"%B\" st=\"%ST\"]"
        let sd = #"[exampleSDID@1234 bytes="87" st="200"]"#
        XCTAssertEqual(frame(.rfc5424, at(11, 53, 21, usec: 862_546), pid: 31296, tag: "mytag", sd: sd),
                       #"<158>1 2026-11-23T11:53:21.862546+00:00 - mytag 31296 - [exampleSDID@1234 bytes="87" st="200"] hello 127.0.0.1"# + "\n")
        // Structured data that does not fit in `len` is dropped with the message.
        XCTAssertEqual(frame(.rfc5424, at(11, 53, 21, usec: 862_576), pid: 31296, tag: "mytag", sd: sd, maxLength: 80),
                       "<158>1 2026-11-23T11:53:21.862576+00:00 - mytag 31296 - \n")
        XCTAssertEqual(frame(.rfc5424, at(11, 53, 34, usec: 45_222), pid: 31398, tag: "mytag", sd: sd, maxLength: 90),
                       "<158>1 2026-11-23T11:53:34.045222+00:00 - mytag 31398 - \n")
        XCTAssertEqual(frame(.rfc5424, at(11, 53, 37, usec: 863_551), pid: 31531, tag: "mytag", sd: sd, maxLength: 98),
                       #"<158>1 2026-11-23T11:53:37.863551+00:00 - mytag 31531 - [exampleSDID@1234 bytes="87" st="200"] hel"# + "\n")
        XCTAssertEqual(frame(.rfc5424, at(11, 53, 41, usec: 600_381), pid: 31629, tag: "mytag", sd: sd, maxLength: 99),
                       #"<158>1 2026-11-23T11:53:41.600381+00:00 - mytag 31629 - [exampleSDID@1234 bytes="87" st="200"] hell"# + "\n")
        // An empty structured data is the default "-".
        XCTAssertEqual(frame(.rfc5424, at(11, 51, 7, usec: 401_514), pid: 29220, sd: ""),
                       "<158>1 2026-11-23T11:51:07.401514+00:00 - haproxy 29220 - - hello 127.0.0.1\n")
    }

    func testOtherFormats() {
        // log-send-hostname changes none of these.
        for host in ["", "myhost"] {
            XCTAssertEqual(frame(.short, at(0, 0, 0), pid: 1, hostname: host), "<6>hello 127.0.0.1\n")
            XCTAssertEqual(frame(.raw, at(0, 0, 0), pid: 1, hostname: host), "hello 127.0.0.1\n")
            XCTAssertEqual(frame(.local, at(11, 51, 40), pid: 29659, hostname: host),
                           "<158>Nov 23 11:51:40 haproxy[29659]: hello 127.0.0.1\n")
            XCTAssertEqual(frame(.priority, at(0, 0, 0), pid: 1, hostname: host), "<158>hello 127.0.0.1\n")
            XCTAssertEqual(frame(.timed, at(11, 52, 3, usec: 425_112), pid: 1, hostname: host),
                           "<6>2026-11-23T11:52:03.425112+00:00 hello 127.0.0.1\n")
            XCTAssertEqual(frame(.iso, at(11, 52, 14, usec: 693_300), pid: 1, hostname: host),
                           "2026-11-23T11:52:14.693300+00:00 hello 127.0.0.1\n")
        }
    }

    func testPriority() {
        let f = Syslog.frame(format: .priority, facility: .kern, level: .emerg, time: at(0, 0, 0), hostname: "", tag: "t",
                             pid: 1, message: [0x78])
        XCTAssertEqual(String(decoding: f, as: UTF8.self), "<0>x\n")
        let g = Syslog.frame(format: .priority, facility: .local7, level: .debug, time: at(0, 0, 0), hostname: "", tag: "t",
                             pid: 1, message: [0x78])
        XCTAssertEqual(String(decoding: g, as: UTF8.self), "<191>x\n")
        XCTAssertEqual(SyslogFacility.local0.code, 16)
        XCTAssertEqual(SyslogLevel.info.code, 6)
    }

    func testLengthCut() {
        // `len 80`: header + message cut to 80 bytes then "\n"; the message alone at most 79 bytes.
        let long = "hello_0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789abcdefghijklmnopqrstuvwxyz"
        XCTAssertEqual(frame(.rfc3164, at(11, 52, 36), pid: 30572, message: long, maxLength: 80),
                       "<158>Nov 23 11:52:36 localhost haproxy[30572]: hello_0123456789abcdefghijklmnopq\n")
        XCTAssertEqual(frame(.rfc5424, at(11, 52, 40, usec: 306_248), pid: 30660, message: long, maxLength: 80),
                       "<158>1 2026-11-23T11:52:40.306248+00:00 - haproxy 30660 - - hello_0123456789abcd\n")
        XCTAssertEqual(frame(.short, at(0, 0, 0), pid: 1, message: long, maxLength: 80),
                       "<6>hello_0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY\n")
        XCTAssertEqual(frame(.raw, at(0, 0, 0), pid: 1, message: long, maxLength: 80),
                       "hello_0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_\n")
        XCTAssertEqual(frame(.local, at(11, 52, 51), pid: 30924, message: long, maxLength: 80),
                       "<158>Nov 23 11:52:51 haproxy[30924]: hello_0123456789abcdefghijklmnopqrstuvwxyz0\n")
        XCTAssertEqual(frame(.timed, at(11, 52, 55, usec: 365_901), pid: 1, message: long, maxLength: 80),
                       "<6>2026-11-23T11:52:55.365901+00:00 hello_0123456789abcdefghijklmnopqrstuvwxyz01\n")
        XCTAssertEqual(frame(.raw, at(0, 0, 0), pid: 1, message: "short", maxLength: 80), "short\n")
    }

    func testDefaultFormat() {
        XCTAssertEqual(Syslog.defaultFormat(sendHostname: false), .local)
        XCTAssertEqual(Syslog.defaultFormat(sendHostname: true), .rfc3164)
        XCTAssertEqual(frame(Syslog.defaultFormat(sendHostname: true), at(12, 10, 7), pid: 4958, hostname: "vm", message: "hi"),
                       "<158>Nov 23 12:10:07 vm haproxy[4958]: hi\n")
    }

    func testTrailingNewlinesOfTheMessageAreDropped() {
        XCTAssertEqual(frame(.raw, at(0, 0, 0), pid: 1, message: "line\n\n"), "line\n")
    }
}
