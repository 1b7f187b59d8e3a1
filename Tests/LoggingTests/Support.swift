import Logging

// Helpers shared by the LoggingTests.

/// 2026-11-23 00:00:00 UTC (haproxy printed Ts=1795435502 for 12:05:02 that day).
let nov23 = 1_795_435_502 - (12 * 3600 + 5 * 60 + 2)

func at(_ h: Int, _ m: Int, _ s: Int, _ ms: Int = 0, usec: Int? = nil) -> LogTime {
    LogTime(seconds: nov23 + h * 3600 + m * 60 + s, microseconds: usec ?? ms * 1000)
}

func datagram(_ format: LogFormat, _ r: LogRecord, _ time: LogTime, pid: Int) -> String {
    let frame = Syslog.frame(format: .local, facility: .local0, level: .info, time: time, hostname: "",
                             tag: "haproxy", pid: pid, message: format.render(r))
    return String(decoding: frame, as: UTF8.self)
}

/// A served HTTP request: fe -> be/s1, all timers 0, 200, 87 bytes, 1/1/0/0/0 0/0.
func httpRecord(port: Int, accept: LogTime) -> LogRecord {
    var r = LogRecord()
    r.clientIP = "127.0.0.1"; r.clientPort = port
    r.frontendIP = "127.0.0.1"; r.frontendPort = 8080
    r.backendSourceIP = "127.0.0.1"; r.backendSourcePort = 40000
    r.serverIP = "127.0.0.1"; r.serverPort = 8000
    r.frontendName = "fe"; r.backendName = "be"; r.serverName = "s1"
    r.acceptDate = accept; r.requestDate = accept
    r.th = 0; r.ti = 0; r.tR = 0; r.tw = 0; r.tc = 0; r.tr = 0; r.ta = 0; r.tt = 0
    r.status = 200; r.bytesRead = 87
    r.actconn = 1; r.feconn = 1
    return r
}

/// haproxy's 400 for an unparsable request: no server, -1 timers, PR--, no captures.
func badRequestRecord(port: Int, accept: LogTime) -> LogRecord {
    var r = LogRecord()
    r.clientIP = "127.0.0.1"; r.clientPort = port
    r.frontendIP = "127.0.0.1"; r.frontendPort = 8080
    r.frontendName = "fe"; r.backendName = "fe"; r.serverName = "<NOSRV>"
    r.acceptDate = accept; r.requestDate = accept
    r.tR = -1; r.tw = -1; r.tc = -1; r.tr = -1; r.ta = 0; r.tt = 0
    r.status = 400; r.bytesRead = 0
    r.terminationState = ("P", "R")
    r.actconn = 1; r.feconn = 1
    return r
}

func tcpRecord(port: Int, accept: LogTime) -> LogRecord {
    var r = httpRecord(port: port, accept: accept)
    r.tR = -1; r.tr = -1; r.ta = -1
    r.status = 0
    return r
}
