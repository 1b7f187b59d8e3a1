/// The server name (SNI) a TLS ClientHello asks for, read from the first bytes of a connection,
/// for `ssl_fc_sni`: record header, handshake header, version, random, session id, cipher
/// suites, compression methods, then the extensions (server_name is type 0).
public enum ClientHello {
    /// nil when the bytes are not a whole ClientHello or it carries no host name.
    public static func serverName(_ b: some RandomAccessCollection<UInt8>) -> String? {
        let bytes = Array(b)
        guard bytes.count > 5, bytes[0] == 0x16 else { return nil }
        var i = 5
        guard i + 4 <= bytes.count, bytes[i] == 0x01 else { return nil }
        i += 4 + 2 + 32
        func u8() -> Int? { guard i < bytes.count else { return nil }; defer { i += 1 }; return Int(bytes[i]) }
        func u16() -> Int? { guard i + 2 <= bytes.count else { return nil }; defer { i += 2 }; return Int(bytes[i]) << 8 | Int(bytes[i + 1]) }
        guard let sid = u8() else { return nil }
        i += sid
        guard let suites = u16() else { return nil }
        i += suites
        guard let compression = u8() else { return nil }
        i += compression
        guard let extLength = u16() else { return nil }
        let end = min(bytes.count, i + extLength)
        while i + 4 <= end {
            guard let type = u16(), let length = u16() else { return nil }
            if type == 0 {
                // server_name_list: length, then (type, length, name) entries; type 0 = host_name.
                var j = i + 2
                while j + 3 <= i + length, j + 3 <= bytes.count {
                    let nameType = bytes[j], nameLength = Int(bytes[j + 1]) << 8 | Int(bytes[j + 2])
                    guard j + 3 + nameLength <= bytes.count else { return nil }
                    if nameType == 0 { return String(decoding: bytes[(j + 3)..<(j + 3 + nameLength)], as: UTF8.self) }
                    j += 3 + nameLength
                }
                return nil
            }
            i += length
        }
        return nil
    }
}
