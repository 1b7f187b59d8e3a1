// `smtp_alert`: keepalived's e-mail on state changes, spoken as SMTP to `smtp_server` from a
// background thread (the VRRP loop never waits on a mail server).

import KeepalivedConfig

#if canImport(Glibc)
import Glibc
#endif

struct MailJob {
    var server: String
    var port: Int
    var timeout: Int
    var from: String
    var to: [String]
    var subject: String
    var body: String
    var log: (String) -> Void
}

enum Mailer {
    /// keepalived's texts for a VRRP instance state change.
    static func message(routerID: String, instance: String, state: String) -> (subject: String, body: String) {
        let subject = "[\(routerID)] VRRP Instance \(instance) - Entering \(state) state"
        let body: String
        switch state {
        case "MASTER": body = "=> VRRP Instance is now owning VRRP VIPs <="
        case "BACKUP": body = "=> VRRP Instance is nolonger owning VRRP VIPs <="
        case "FAULT": body = "=> VRRP Instance is nolonger owning VRRP VIPs <="
        default: body = "=> VRRP Instance is stopping <="
        }
        return (subject, body)
    }

    static func send(_ job: MailJob) {
        let box = Unmanaged.passRetained(Box(job)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().job
            Mailer.deliver(job)
            return nil
        }, box)
        if rc == 0 { pthread_detach(thread) } else { Unmanaged<Box>.fromOpaque(box).release() }
    }

    final class Box { let job: MailJob; init(_ j: MailJob) { job = j } }

    static func deliver(_ job: MailJob) {
        guard let ip = ipv4Bytes(job.server) else { job.log("SMTP: cannot use server '\(job.server)' (an IPv4 address is expected)"); return }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var tv = timeval(tv_sec: job.timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(job.port).bigEndian
        sin.sin_addr.s_addr = ip.withUnsafeBytes { $0.load(as: UInt32.self) }
        let connected = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { job.log("SMTP connection to \(job.server):\(job.port) failed"); return }
        var pending: [UInt8] = []
        func reply() -> Int? {
            // Reads a whole (possibly multi-line) reply; returns its code.
            var buffer = [UInt8](repeating: 0, count: 1024)
            while true {
                if let nl = pending.firstIndex(of: 10) {
                    let line = Array(pending[...nl])
                    pending.removeFirst(nl + 1)
                    if line.count >= 4 && line[3] == UInt8(ascii: "-") { continue }
                    return Int(String(decoding: line.prefix(3), as: UTF8.self))
                }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return nil }
                pending += buffer[0..<n]
            }
        }
        func say(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        }
        var hostname = [CChar](repeating: 0, count: 256)
        gethostname(&hostname, 255)
        let me = String(cString: hostname)
        guard reply() == 220, say("HELO \(me)\r\n"), reply() == 250,
              say("MAIL FROM:<\(job.from)>\r\n"), reply() == 250 else { job.log("SMTP: the server refused the message"); return }
        for rcpt in job.to {
            guard say("RCPT TO:<\(rcpt)>\r\n"), let code = reply(), code / 100 == 2 else { job.log("SMTP: recipient \(rcpt) refused"); return }
        }
        guard say("DATA\r\n"), reply() == 354 else { return }
        var date = [CChar](repeating: 0, count: 64)
        var now = time(nil)
        var tm = tm()
        gmtime_r(&now, &tm)
        strftime(&date, 64, "%a, %d %b %Y %H:%M:%S +0000", &tm)
        let data = "From: \(job.from)\r\nSubject: \(job.subject)\r\nX-Mailer: Keepalived\r\nTo: \(job.to.joined(separator: ", "))\r\n"
            + "Date: \(String(cString: date))\r\n\r\n\(job.body)\r\n.\r\n"
        guard say(data), reply() == 250 else { job.log("SMTP: message not accepted"); return }
        _ = say("QUIT\r\n")
        _ = reply()
        job.log("Remote SMTP server [\(job.server)]:\(job.port) connected. SMTP alert successfully sent.")
    }
}
