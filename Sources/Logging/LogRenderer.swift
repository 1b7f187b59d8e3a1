// Rendering a lowered log-format program from a LogRecord, byte for byte as haproxy 2.6 does
// (compared with the real binary's UDP output, see Tests/LoggingTests).
//
// Rules observed on haproxy 2.6.12:
// - strings and IPs take the Q flag; numbers, ports, dates, %ts/%tsc and %ms never do;
// - an absent string, IP or port prints "-", or "" with Q (not "-" inside quotes);
// - X prints IPs as %02X per byte, ports/%pid/%rt/%lc/%Ts as %04X and %ms as %02X; other numbers ignore it;
// - %r and %HM %HU %HP %HPO %HQ %HV encode '"', '#' and bytes outside 32..126 as #XX; captured
//   headers additionally encode '{', '|' and '}'; cookies, names and %ID are written raw;
// - E backslash-escapes '"', '\' and ']' that were not already #-encoded;
// - separators (runs of spaces in the format) print one space unless the last thing printed was
//   a separator (or nothing was printed yet); %hr/%hs/%hrl/%hsl print nothing at all, and leave that
//   state alone, when there are no captures; every other variable counts as printed, even empty.

extension LogFormat {
    @inline(__always) static func present(_ s: String) -> Bool { !s.isEmpty && s != "-" }

    func renderProgram(_ r: LogRecord, into out: inout [UInt8]) {
        var lastWasSeparator = true
        for op in program {
            switch op {
            case .literal(let bytes):
                out.append(contentsOf: bytes)
                lastWasSeparator = false
            case .separator:
                if !lastWasSeparator {
                    out.append(0x20)
                    lastWasSeparator = true
                }
            case .sample(let expr, let flags):
                if r.emptySamples {
                    if let v = r.samples[expr] { out.appendEncoded(v, .none, escape: false) }
                } else {
                    Self.text(r.samples.isEmpty ? nil : r.samples[expr], flags, .none, &out)
                }
                lastWasSeparator = false
            case .variable(let v, let flags):
                if Self.renderVariable(v, flags, r, &out) { lastWasSeparator = false }
            }
        }
    }

    /// A string field (lf_text): nil or empty is absent.
    @inline(__always)
    static func text(_ s: String?, _ flags: LogFlags, _ encoding: LogEncoding, _ out: inout [UInt8], suffix: UInt8? = nil) {
        let quote = flags.contains(.quote)
        guard let s, !s.isEmpty else {
            if quote { out.append(0x22); out.append(0x22) } else { out.append(UInt8(ascii: "-")) }
            return
        }
        if quote { out.append(0x22) }
        out.appendEncoded(s, encoding, escape: flags.contains(.escape))
        if let suffix { out.append(suffix) }
        if quote { out.append(0x22) }
    }

    @inline(__always) static func absent(_ flags: LogFlags, _ out: inout [UInt8]) {
        if flags.contains(.quote) { out.append(0x22); out.append(0x22) } else { out.append(UInt8(ascii: "-")) }
    }

    static func ip(_ s: String, _ flags: LogFlags, _ out: inout [UInt8]) {
        guard present(s) else { return absent(flags, &out) }
        if flags.contains(.hex), let bytes = ipAddressBytes(s) {
            for b in bytes { out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 0xF)]) }
            return
        }
        text(s, flags, .none, &out)
    }

    static func port(_ p: Int, ip: String, _ flags: LogFlags, _ out: inout [UInt8]) {
        guard present(ip) else { return absent(flags, &out) }
        if flags.contains(.hex) { out.appendHex(UInt64(UInt16(truncatingIfNeeded: p)), minDigits: 4) } else { out.appendDecimal(p) }
    }

    @inline(__always) static func counter(_ v: Int, _ flags: LogFlags, _ out: inout [UInt8]) {
        if flags.contains(.hex) { out.appendHex(UInt64(UInt32(truncatingIfNeeded: v)), minDigits: 4) } else { out.appendDecimal(v) }
    }

    @inline(__always) static func timer(_ v: Int, plus: Bool, _ out: inout [UInt8]) {
        if plus { out.append(UInt8(ascii: "+")) }
        out.appendDecimal(v)
    }

    @inline(__always) static func appendCharacter(_ c: Character, _ out: inout [UInt8]) {
        if let a = c.asciiValue { out.append(a) } else { out.appendString(String(c)) }
    }

    /// Returns false when nothing was printed and the separator state must not change.
    static func renderVariable(_ v: LogVar, _ f: LogFlags, _ r: LogRecord, _ out: inout [UInt8]) -> Bool {
        switch v {
        case .o: return false
        case .ci: ip(r.clientIP, f, &out)
        case .cp: port(r.clientPort, ip: r.clientIP, f, &out)
        case .fi: ip(r.frontendIP, f, &out)
        case .fp: port(r.frontendPort, ip: r.frontendIP, f, &out)
        case .bi: ip(r.backendSourceIP, f, &out)
        case .bp: port(r.backendSourcePort, ip: r.backendSourceIP, f, &out)
        case .si: ip(r.serverIP, f, &out)
        case .sp: port(r.serverPort, ip: r.serverIP, f, &out)
        case .t: out.appendDateMillis(r.acceptDate)
        case .tr: out.appendDateMillis(r.requestDate)
        case .T, .Tl: out.appendDateGMT(r.acceptDate)
        case .trg, .trl: out.appendDateGMT(r.requestDate)
        case .Ts:
            if f.contains(.hex) { out.appendHex(UInt64(UInt32(truncatingIfNeeded: r.acceptDate.seconds)), minDigits: 4) } else { out.appendDecimal(r.acceptDate.seconds) }
        case .ms:
            let ms = r.acceptDate.microseconds / 1000
            if f.contains(.hex) { out.appendHex(UInt64(ms), minDigits: 2) } else { out.appendPadded(ms, width: 3) }
        case .ft: text(r.frontendName, f, .none, &out, suffix: r.frontendTLS ? UInt8(ascii: "~") : nil)
        case .f: text(r.frontendName, f, .none, &out)
        case .b: text(r.backendName, f, .none, &out)
        case .s: text(r.serverName, f, .none, &out)
        case .TR: out.appendDecimal(r.tR)
        case .Tw: out.appendDecimal(r.tw)
        case .Tc: out.appendDecimal(r.tc)
        case .Tr: out.appendDecimal(r.tr)
        case .Th: out.appendDecimal(r.th)
        case .Ti: out.appendDecimal(r.ti)
        case .Ta: timer(r.ta, plus: r.logAsap, &out)
        case .Tt: timer(r.tt, plus: r.logAsap, &out)
        case .Tq: out.appendDecimal(LogRecord.tq(r))
        case .Td: out.appendDecimal(LogRecord.td(r))
        case .Tu: timer(r.tt < 0 ? -1 : r.tt - r.ti, plus: r.logAsap, &out)
        case .ST: out.appendDecimal(r.status)
        case .B:
            if r.logAsap { out.append(UInt8(ascii: "+")) }
            out.appendDecimal(r.bytesRead)
        case .U: out.appendDecimal(r.bytesUploaded)
        case .CC: text(r.requestCookie, f, .none, &out)
        case .CS: text(r.responseCookie, f, .none, &out)
        case .ts:
            appendCharacter(r.terminationState.0, &out); appendCharacter(r.terminationState.1, &out)
        case .tsc:
            appendCharacter(r.terminationState.0, &out); appendCharacter(r.terminationState.1, &out)
            appendCharacter(r.cookieState.0, &out); appendCharacter(r.cookieState.1, &out)
        case .ac: out.appendDecimal(r.actconn)
        case .fc: out.appendDecimal(r.feconn)
        case .bc: out.appendDecimal(r.beconn)
        case .sc: out.appendDecimal(r.srvConn)
        case .rc:
            if r.redispatched { out.append(UInt8(ascii: "+")) }
            out.appendDecimal(r.retries)
        case .sq: out.appendDecimal(r.serverQueue)
        case .bq: out.appendDecimal(r.backendQueue)
        case .hr: return captureBlock(r.capturedRequestHeaders, f, &out)
        case .hs: return captureBlock(r.capturedResponseHeaders, f, &out)
        case .hrl: return captureList(r.capturedRequestHeaders, f, &out)
        case .hsl: return captureList(r.capturedResponseHeaders, f, &out)
        case .r: requestPart(r.requestLine, .whole, f, &out)
        case .HM: requestPart(r.requestLine, .method, f, &out)
        case .HU: requestPart(r.requestLine, .uri, f, &out)
        case .HP: requestPart(r.requestLine, .path, f, &out)
        case .HPO: requestPart(r.requestLine, .pathOnly, f, &out)
        case .HQ: requestPart(r.requestLine, .query, f, &out)
        case .HV: requestPart(r.requestLine, .version, f, &out)
        case .ID: text(r.uniqueID, f, .none, &out)
        case .pid: counter(r.pid, f, &out)
        case .H: text(r.hostname, f, .none, &out)
        case .rt: counter(r.requestCounter, f, &out)
        case .lc: counter(r.logCounter, f, &out)
        case .sslv: text(r.sslVersion, f, .none, &out)
        case .sslc: text(r.sslCipher, f, .none, &out)
        }
        return true
    }

    /// %hr/%hs: `{v1|v2}`, absent values empty; the whole block quoted with Q.
    static func captureBlock(_ values: [String?], _ f: LogFlags, _ out: inout [UInt8]) -> Bool {
        if values.isEmpty { return false }
        let quote = f.contains(.quote), escape = f.contains(.escape)
        if quote { out.append(0x22) }
        out.append(UInt8(ascii: "{"))
        for (k, v) in values.enumerated() {
            if k > 0 { out.append(UInt8(ascii: "|")) }
            if let v { out.appendEncoded(v, .header, escape: escape) }
        }
        out.append(UInt8(ascii: "}"))
        if quote { out.append(0x22) }
        return true
    }

    /// %hrl/%hsl: values separated by spaces, absent ones "-" (or "" with Q), each quoted with Q.
    static func captureList(_ values: [String?], _ f: LogFlags, _ out: inout [UInt8]) -> Bool {
        if values.isEmpty { return false }
        let quote = f.contains(.quote), escape = f.contains(.escape)
        for (k, v) in values.enumerated() {
            if k > 0 { out.append(0x20) }
            if quote { out.append(0x22) }
            if let v { out.appendEncoded(v, .header, escape: escape) } else if !quote { out.append(UInt8(ascii: "-")) }
            if quote { out.append(0x22) }
        }
        return true
    }

    enum RequestPart { case whole, method, uri, path, pathOnly, query, version }

    static let badRequest: [UInt8] = Array("<BADREQ>".utf8)
    static let http09: [UInt8] = Array("HTTP/0.9".utf8)

    static func requestPart(_ line: String?, _ part: RequestPart, _ f: LogFlags, _ out: inout [UInt8]) {
        let quote = f.contains(.quote), escape = f.contains(.escape)
        if quote { out.append(0x22) }
        if let line {
            if line.utf8.withContiguousStorageIfAvailable({ appendRequestPart($0, part, escape, &out) }) == nil {
                let bytes = Array(line.utf8)
                bytes.withUnsafeBufferPointer { appendRequestPart($0, part, escape, &out) }
            }
        } else {
            out.append(contentsOf: badRequest)
        }
        if quote { out.append(0x22) }
    }

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// The pieces of the request line as haproxy 2.6 cuts them (src/log.c, LOG_FMT_HTTP_*).
    static func appendRequestPart(_ b: UnsafeBufferPointer<UInt8>, _ part: RequestPart, _ escape: Bool, _ out: inout [UInt8]) {
        let end = b.count
        func emit(_ lo: Int, _ hi: Int) { out.appendEncoded(UnsafeBufferPointer(rebasing: b[lo..<hi]), .url, escape: escape) }
        switch part {
        case .whole:
            emit(0, end)
        case .query:
            // From the first '?' anywhere in the line to the next blank.
            var q = 0
            while q < end && b[q] != UInt8(ascii: "?") { q += 1 }
            var e = q
            while e < end && !isSpace(b[e]) { e += 1 }
            emit(q, e)
        case .method:
            var spc = 0
            while spc < end && !isSpace(b[spc]) { spc += 1 }
            if spc == end { out.append(contentsOf: badRequest) } else { emit(0, spc) }
        case .uri, .path, .pathOnly, .version:
            var u = 0
            while u < end && !isSpace(b[u]) { u += 1 }
            var spaces = 0
            while u < end && isSpace(b[u]) { u += 1; spaces += 1 }
            if spaces == 0 { out.append(contentsOf: badRequest); return }
            var e = u
            switch part {
            case .uri:
                while e < end && !isSpace(b[e]) { e += 1 }
                emit(u, e)
            case .path:
                while e < end && b[e] != UInt8(ascii: "?") && !isSpace(b[e]) { e += 1 }
                emit(u, e)
            case .pathOnly:
                while e < end && !isSpace(b[e]) { e += 1 }
                if let (lo, hi) = pathOnly(b, u, e) { emit(lo, hi) }
            default:  // version
                while e < end && !isSpace(b[e]) { e += 1 }
                while e < end && isSpace(b[e]) { e += 1 }
                if e == end { out.append(contentsOf: http09) } else { emit(e, end) }
            }
        }
    }

    /// The path of a URI without scheme, authority or query (haproxy's http_parse_path then
    /// iststop('?')): "*" and authority-form have none; absolute-form skips "scheme://authority".
    static func pathOnly(_ b: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> (Int, Int)? {
        guard lo < hi, b[lo] != UInt8(ascii: "*") else { return nil }
        var start = lo
        if b[lo] != UInt8(ascii: "/") {
            // scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) "://"
            var k = lo
            guard LogFormatParser.isAlpha(b[k]) else { return nil }
            while k < hi && (LogFormatParser.isAlnum(b[k]) || b[k] == UInt8(ascii: "+") || b[k] == UInt8(ascii: "-") || b[k] == UInt8(ascii: ".")) { k += 1 }
            guard hi - k >= 3, b[k] == UInt8(ascii: ":"), b[k + 1] == UInt8(ascii: "/"), b[k + 2] == UInt8(ascii: "/") else { return nil }
            k += 3
            while k < hi && b[k] != UInt8(ascii: "/") { k += 1 }
            guard k < hi else { return nil }
            start = k
        }
        var e = start
        while e < hi && b[e] != UInt8(ascii: "?") { e += 1 }
        return (start, e)
    }
}

extension LogRecord {
    /// %Tq = Th + Ti + TR, -1 when the request was not received.
    static func tq(_ r: LogRecord) -> Int { r.tR < 0 ? -1 : r.th + r.ti + r.tR }

    /// %Td, the data transfer time: Tt - (Tq + Tw + Tc + Tr) once a response started (HTTP);
    /// without a request timer (TCP) Tt - (Th + Ti + Tw + Tc) once connected; -1 otherwise.
    static func td(_ r: LogRecord) -> Int {
        if r.tt < 0 { return -1 }
        if r.tR >= 0 {
            guard r.tw >= 0, r.tc >= 0, r.tr >= 0 else { return -1 }
            return r.tt - (tq(r) + r.tw + r.tc + r.tr)
        }
        guard r.tw >= 0, r.tc >= 0 else { return -1 }
        return r.tt - (r.th + r.ti + r.tw + r.tc)
    }
}
