import Logging
import XCTest

/// Every variable at once, plain and with each flag, against haproxy 2.6.12's datagrams for
///   log-format "ci=%ci cp=%cp ... lc=%lc"   (and %{+Q}ci, %{+X}ci, %{+E}ci, ..., and option logasap)
/// with two request captures (Host, User-Agent), one response capture and `capture cookie SRV`.
/// The first request of each run was served (Tr ~ 30 ms), the second was "BAD" (400, PR--).
final class VariableGoldenTests: XCTestCase {
    static let names = ["ci", "cp", "fi", "fp", "bi", "bp", "si", "sp", "t", "tr", "trg", "trl", "T", "Tl", "Ts", "ms",
                        "ft", "f", "b", "s", "TR", "Tw", "Tc", "Tr", "Ta", "Tt", "Th", "Ti", "Tq", "Td", "Tu", "ST",
                        "B", "U", "CC", "CS", "tsc", "ts", "ac", "fc", "bc", "sc", "rc", "sq", "bq", "hr", "hs", "hrl",
                        "hsl", "r", "HM", "HU", "HP", "HPO", "HQ", "HV", "ID", "pid", "H", "rt", "lc"]

    static func format(_ flags: String) throws -> LogFormat {
        try LogFormat.compile(names.map { flags.isEmpty ? "\($0)=%\($0)" : "\($0)=%{\(flags)}\($0)" }.joined(separator: " "))
    }

    struct Run { var cp: Int, fp: Int, bp: Int, sp: Int, accept: LogTime, tr: Int, id: String, pid: Int }

    static func served(_ x: Run) -> LogRecord {
        var r = httpRecord(port: x.cp, accept: x.accept)
        r.frontendPort = x.fp; r.backendSourcePort = x.bp; r.serverPort = x.sp
        r.tr = x.tr; r.ta = x.tr; r.tt = x.tr
        r.bytesUploaded = 81
        r.requestCookie = #"SRV=c"]\"#; r.responseCookie = "SRV=abc"
        r.capturedRequestHeaders = ["h", #"u a"]\{"#]
        r.capturedResponseHeaders = ["r1"]
        r.requestLine = "GET /p/a?x=1&y=é HTTP/1.1"
        r.uniqueID = x.id
        r.pid = x.pid
        r.hostname = "vm"
        return r
    }

    static func bad(cp: Int, fp: Int, accept: LogTime, pid: Int) -> LogRecord {
        var r = badRequestRecord(port: cp, accept: accept)
        r.frontendPort = fp
        r.pid = pid
        r.hostname = "vm"
        r.requestCounter = 1; r.logCounter = 1
        return r
    }

    func check(_ flags: String, _ r: LogRecord, header: LogTime, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(datagram(try Self.format(flags), r, header, pid: r.pid), expected, file: file, line: line)
    }

    func testPlain() throws {
        let ok = Self.served(Run(cp: 52664, fp: 58919, bp: 52640, sp: 43739, accept: at(12, 5, 2, 261), tr: 30,
                                 id: "7F000001:CDB8_7F000001:E627_6B042BEE_0000:0A53", pid: 2643))
        try check("", ok, header: at(12, 5, 2),
            ##"<134>Nov 23 12:05:02 haproxy[2643]: ci=127.0.0.1 cp=52664 fi=127.0.0.1 fp=58919 bi=127.0.0.1 bp=52640 si=127.0.0.1 sp=43739 t=23/Nov/2026:12:05:02.261 tr=23/Nov/2026:12:05:02.261 trg=23/Nov/2026:12:05:02 +0000 trl=23/Nov/2026:12:05:02 +0000 T=23/Nov/2026:12:05:02 +0000 Tl=23/Nov/2026:12:05:02 +0000 Ts=1795435502 ms=261 ft=fe f=fe b=be s=s1 TR=0 Tw=0 Tc=0 Tr=30 Ta=30 Tt=30 Th=0 Ti=0 Tq=0 Td=0 Tu=30 ST=200 B=87 U=81 CC=SRV=c"]\ CS=SRV=abc tsc=---- ts=-- ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr={h|u a#22]\#7B} hs={r1} hrl=h u a#22]\#7B hsl=r1 r=GET /p/a?x=1&y=#C3#A9 HTTP/1.1 HM=GET HU=/p/a?x=1&y=#C3#A9 HP=/p/a HPO=/p/a HQ=?x=1&y=#C3#A9 HV=HTTP/1.1 ID=7F000001:CDB8_7F000001:E627_6B042BEE_0000:0A53 pid=2643 H=vm rt=0 lc=0\##n"##)
        try check("", Self.bad(cp: 52666, fp: 58919, accept: at(12, 5, 4, 395), pid: 2643), header: at(12, 5, 4),
            ##"<134>Nov 23 12:05:04 haproxy[2643]: ci=127.0.0.1 cp=52666 fi=127.0.0.1 fp=58919 bi=- bp=- si=- sp=- t=23/Nov/2026:12:05:04.395 tr=23/Nov/2026:12:05:04.395 trg=23/Nov/2026:12:05:04 +0000 trl=23/Nov/2026:12:05:04 +0000 T=23/Nov/2026:12:05:04 +0000 Tl=23/Nov/2026:12:05:04 +0000 Ts=1795435504 ms=395 ft=fe f=fe b=fe s=<NOSRV> TR=-1 Tw=-1 Tc=-1 Tr=-1 Ta=0 Tt=0 Th=0 Ti=0 Tq=-1 Td=-1 Tu=0 ST=400 B=0 U=0 CC=- CS=- tsc=PR-- ts=PR ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr= hs= hrl= hsl= r=<BADREQ> HM=<BADREQ> HU=<BADREQ> HP=<BADREQ> HPO=<BADREQ> HQ=<BADREQ> HV=<BADREQ> ID=- pid=2643 H=vm rt=1 lc=1\##n"##)
    }

    func testQuoted() throws {
        let ok = Self.served(Run(cp: 59098, fp: 36335, bp: 55694, sp: 35693, accept: at(12, 5, 6, 145), tr: 31,
                                 id: "7F000001:E6DA_7F000001:8DEF_6B042BF2_0000:0A95", pid: 2709))
        try check("+Q", ok, header: at(12, 5, 6),
            ##"<134>Nov 23 12:05:06 haproxy[2709]: ci="127.0.0.1" cp=59098 fi="127.0.0.1" fp=36335 bi="127.0.0.1" bp=55694 si="127.0.0.1" sp=35693 t=23/Nov/2026:12:05:06.145 tr=23/Nov/2026:12:05:06.145 trg=23/Nov/2026:12:05:06 +0000 trl=23/Nov/2026:12:05:06 +0000 T=23/Nov/2026:12:05:06 +0000 Tl=23/Nov/2026:12:05:06 +0000 Ts=1795435506 ms=145 ft="fe" f="fe" b="be" s="s1" TR=0 Tw=0 Tc=0 Tr=31 Ta=31 Tt=31 Th=0 Ti=0 Tq=0 Td=0 Tu=31 ST=200 B=87 U=81 CC="SRV=c"]\" CS="SRV=abc" tsc=---- ts=-- ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr="{h|u a#22]\#7B}" hs="{r1}" hrl="h" "u a#22]\#7B" hsl="r1" r="GET /p/a?x=1&y=#C3#A9 HTTP/1.1" HM="GET" HU="/p/a?x=1&y=#C3#A9" HP="/p/a" HPO="/p/a" HQ="?x=1&y=#C3#A9" HV="HTTP/1.1" ID="7F000001:E6DA_7F000001:8DEF_6B042BF2_0000:0A95" pid=2709 H="vm" rt=0 lc=0\##n"##)
        try check("+Q", Self.bad(cp: 59904, fp: 36335, accept: at(12, 5, 8, 279), pid: 2709), header: at(12, 5, 8),
            ##"<134>Nov 23 12:05:08 haproxy[2709]: ci="127.0.0.1" cp=59904 fi="127.0.0.1" fp=36335 bi="" bp="" si="" sp="" t=23/Nov/2026:12:05:08.279 tr=23/Nov/2026:12:05:08.279 trg=23/Nov/2026:12:05:08 +0000 trl=23/Nov/2026:12:05:08 +0000 T=23/Nov/2026:12:05:08 +0000 Tl=23/Nov/2026:12:05:08 +0000 Ts=1795435508 ms=279 ft="fe" f="fe" b="fe" s="<NOSRV>" TR=-1 Tw=-1 Tc=-1 Tr=-1 Ta=0 Tt=0 Th=0 Ti=0 Tq=-1 Td=-1 Tu=0 ST=400 B=0 U=0 CC="" CS="" tsc=PR-- ts=PR ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr= hs= hrl= hsl= r="<BADREQ>" HM="<BADREQ>" HU="<BADREQ>" HP="<BADREQ>" HPO="<BADREQ>" HQ="<BADREQ>" HV="<BADREQ>" ID="" pid=2709 H="vm" rt=1 lc=1\##n"##)
    }

    func testHex() throws {
        let ok = Self.served(Run(cp: 0x8F3A, fp: 0xB485, bp: 0xEC0A, sp: 0x8415, accept: at(12, 5, 10, 61), tr: 31,
                                 id: "7F000001:8F3A_7F000001:B485_6B042BF6_0000:0AD3", pid: 0x0AD3))
        try check("+X", ok, header: at(12, 5, 10),
            ##"<134>Nov 23 12:05:10 haproxy[2771]: ci=7F000001 cp=8F3A fi=7F000001 fp=B485 bi=7F000001 bp=EC0A si=7F000001 sp=8415 t=23/Nov/2026:12:05:10.061 tr=23/Nov/2026:12:05:10.061 trg=23/Nov/2026:12:05:10 +0000 trl=23/Nov/2026:12:05:10 +0000 T=23/Nov/2026:12:05:10 +0000 Tl=23/Nov/2026:12:05:10 +0000 Ts=6B042BF6 ms=3D ft=fe f=fe b=be s=s1 TR=0 Tw=0 Tc=0 Tr=31 Ta=31 Tt=31 Th=0 Ti=0 Tq=0 Td=0 Tu=31 ST=200 B=87 U=81 CC=SRV=c"]\ CS=SRV=abc tsc=---- ts=-- ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr={h|u a#22]\#7B} hs={r1} hrl=h u a#22]\#7B hsl=r1 r=GET /p/a?x=1&y=#C3#A9 HTTP/1.1 HM=GET HU=/p/a?x=1&y=#C3#A9 HP=/p/a HPO=/p/a HQ=?x=1&y=#C3#A9 HV=HTTP/1.1 ID=7F000001:8F3A_7F000001:B485_6B042BF6_0000:0AD3 pid=0AD3 H=vm rt=0000 lc=0000\##n"##)
        try check("+X", Self.bad(cp: 0x8F40, fp: 0xB485, accept: at(12, 5, 12, 195), pid: 0x0AD3), header: at(12, 5, 12),
            ##"<134>Nov 23 12:05:12 haproxy[2771]: ci=7F000001 cp=8F40 fi=7F000001 fp=B485 bi=- bp=- si=- sp=- t=23/Nov/2026:12:05:12.195 tr=23/Nov/2026:12:05:12.195 trg=23/Nov/2026:12:05:12 +0000 trl=23/Nov/2026:12:05:12 +0000 T=23/Nov/2026:12:05:12 +0000 Tl=23/Nov/2026:12:05:12 +0000 Ts=6B042BF8 ms=C3 ft=fe f=fe b=fe s=<NOSRV> TR=-1 Tw=-1 Tc=-1 Tr=-1 Ta=0 Tt=0 Th=0 Ti=0 Tq=-1 Td=-1 Tu=0 ST=400 B=0 U=0 CC=- CS=- tsc=PR-- ts=PR ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr= hs= hrl= hsl= r=<BADREQ> HM=<BADREQ> HU=<BADREQ> HP=<BADREQ> HPO=<BADREQ> HQ=<BADREQ> HV=<BADREQ> ID=- pid=0AD3 H=vm rt=0001 lc=0001\##n"##)
    }

    func testEscaped() throws {
        let ok = Self.served(Run(cp: 41250, fp: 40011, bp: 56248, sp: 36389, accept: at(12, 5, 13, 955), tr: 31,
                                 id: "7F000001:A122_7F000001:9C4B_6B042BF9_0000:0B01", pid: 2817))
        try check("+E", ok, header: at(12, 5, 13),
            ##"<134>Nov 23 12:05:13 haproxy[2817]: ci=127.0.0.1 cp=41250 fi=127.0.0.1 fp=40011 bi=127.0.0.1 bp=56248 si=127.0.0.1 sp=36389 t=23/Nov/2026:12:05:13.955 tr=23/Nov/2026:12:05:13.955 trg=23/Nov/2026:12:05:13 +0000 trl=23/Nov/2026:12:05:13 +0000 T=23/Nov/2026:12:05:13 +0000 Tl=23/Nov/2026:12:05:13 +0000 Ts=1795435513 ms=955 ft=fe f=fe b=be s=s1 TR=0 Tw=0 Tc=0 Tr=31 Ta=31 Tt=31 Th=0 Ti=0 Tq=0 Td=0 Tu=31 ST=200 B=87 U=81 CC=SRV=c\"\]\\ CS=SRV=abc tsc=---- ts=-- ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr={h|u a#22\]\\#7B} hs={r1} hrl=h u a#22\]\\#7B hsl=r1 r=GET /p/a?x=1&y=#C3#A9 HTTP/1.1 HM=GET HU=/p/a?x=1&y=#C3#A9 HP=/p/a HPO=/p/a HQ=?x=1&y=#C3#A9 HV=HTTP/1.1 ID=7F000001:A122_7F000001:9C4B_6B042BF9_0000:0B01 pid=2817 H=vm rt=0 lc=0\##n"##)
        try check("+E", Self.bad(cp: 41254, fp: 40011, accept: at(12, 5, 16, 89), pid: 2817), header: at(12, 5, 16),
            ##"<134>Nov 23 12:05:16 haproxy[2817]: ci=127.0.0.1 cp=41254 fi=127.0.0.1 fp=40011 bi=- bp=- si=- sp=- t=23/Nov/2026:12:05:16.089 tr=23/Nov/2026:12:05:16.089 trg=23/Nov/2026:12:05:16 +0000 trl=23/Nov/2026:12:05:16 +0000 T=23/Nov/2026:12:05:16 +0000 Tl=23/Nov/2026:12:05:16 +0000 Ts=1795435516 ms=089 ft=fe f=fe b=fe s=<NOSRV> TR=-1 Tw=-1 Tc=-1 Tr=-1 Ta=0 Tt=0 Th=0 Ti=0 Tq=-1 Td=-1 Tu=0 ST=400 B=0 U=0 CC=- CS=- tsc=PR-- ts=PR ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr= hs= hrl= hsl= r=<BADREQ> HM=<BADREQ> HU=<BADREQ> HP=<BADREQ> HPO=<BADREQ> HQ=<BADREQ> HV=<BADREQ> ID=- pid=2817 H=vm rt=1 lc=1\##n"##)
    }

    func testLogAsap() throws {
        var ok = Self.served(Run(cp: 59422, fp: 58457, bp: 50486, sp: 43817, accept: at(12, 5, 17, 821), tr: 30,
                                 id: "7F000001:E81E_7F000001:E459_6B042BFD_0000:0B2F", pid: 2863))
        ok.logAsap = true; ok.bytesUploaded = 0; ok.beconn = 1
        try check("", ok, header: at(12, 5, 17),
            ##"<134>Nov 23 12:05:17 haproxy[2863]: ci=127.0.0.1 cp=59422 fi=127.0.0.1 fp=58457 bi=127.0.0.1 bp=50486 si=127.0.0.1 sp=43817 t=23/Nov/2026:12:05:17.821 tr=23/Nov/2026:12:05:17.821 trg=23/Nov/2026:12:05:17 +0000 trl=23/Nov/2026:12:05:17 +0000 T=23/Nov/2026:12:05:17 +0000 Tl=23/Nov/2026:12:05:17 +0000 Ts=1795435517 ms=821 ft=fe f=fe b=be s=s1 TR=0 Tw=0 Tc=0 Tr=30 Ta=+30 Tt=+30 Th=0 Ti=0 Tq=0 Td=0 Tu=+30 ST=200 B=+87 U=0 CC=SRV=c"]\ CS=SRV=abc tsc=---- ts=-- ac=1 fc=1 bc=1 sc=0 rc=0 sq=0 bq=0 hr={h|u a#22]\#7B} hs={r1} hrl=h u a#22]\#7B hsl=r1 r=GET /p/a?x=1&y=#C3#A9 HTTP/1.1 HM=GET HU=/p/a?x=1&y=#C3#A9 HP=/p/a HPO=/p/a HQ=?x=1&y=#C3#A9 HV=HTTP/1.1 ID=7F000001:E81E_7F000001:E459_6B042BFD_0000:0B2F pid=2863 H=vm rt=0 lc=0\##n"##)
        var bad = Self.bad(cp: 38086, fp: 58457, accept: at(12, 5, 19, 955), pid: 2863)
        bad.logAsap = true
        try check("", bad, header: at(12, 5, 19),
            ##"<134>Nov 23 12:05:19 haproxy[2863]: ci=127.0.0.1 cp=38086 fi=127.0.0.1 fp=58457 bi=- bp=- si=- sp=- t=23/Nov/2026:12:05:19.955 tr=23/Nov/2026:12:05:19.955 trg=23/Nov/2026:12:05:19 +0000 trl=23/Nov/2026:12:05:19 +0000 T=23/Nov/2026:12:05:19 +0000 Tl=23/Nov/2026:12:05:19 +0000 Ts=1795435519 ms=955 ft=fe f=fe b=fe s=<NOSRV> TR=-1 Tw=-1 Tc=-1 Tr=-1 Ta=+0 Tt=+0 Th=0 Ti=0 Tq=-1 Td=-1 Tu=+0 ST=400 B=+0 U=0 CC=- CS=- tsc=PR-- ts=PR ac=1 fc=1 bc=0 sc=0 rc=0 sq=0 bq=0 hr= hs= hrl= hsl= r=<BADREQ> HM=<BADREQ> HU=<BADREQ> HP=<BADREQ> HPO=<BADREQ> HQ=<BADREQ> HV=<BADREQ> ID=- pid=2863 H=vm rt=1 lc=1\##n"##)
    }
}
