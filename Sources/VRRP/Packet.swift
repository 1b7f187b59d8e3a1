// VRRP advertisements on the wire: version 2 (RFC 3768, with keepalived's PASS authentication)
// and version 3 (RFC 5798, IPv4 and IPv6). Pure: bytes in, bytes out.

public struct VRRPAdvertisement: Sendable, Hashable {
    public var version: Int
    public var virtualRouterID: Int
    public var priority: Int
    /// v2: seconds; v3: centiseconds (12 bits). Kept in centiseconds for both.
    public var advertIntervalCentiseconds: Int
    /// IPv4 addresses are 4 bytes, IPv6 16.
    public var addresses: [[UInt8]]
    /// v2 only: 0 none, 1 simple text (PASS), 2 AH.
    public var authType: Int
    /// v2 PASS: 8 bytes, zero-padded.
    public var authData: [UInt8]

    public init(version: Int, virtualRouterID: Int, priority: Int, advertIntervalCentiseconds: Int, addresses: [[UInt8]],
                authType: Int = 0, authData: [UInt8] = []) {
        self.version = version
        self.virtualRouterID = virtualRouterID
        self.priority = priority
        self.advertIntervalCentiseconds = advertIntervalCentiseconds
        self.addresses = addresses
        self.authType = authType
        self.authData = authData
    }

    /// The 8-byte PASS authentication data of a password (keepalived truncates at 8).
    public static func passData(_ password: String) -> [UInt8] {
        var bytes = Array(password.utf8.prefix(8))
        bytes += [UInt8](repeating: 0, count: 8 - bytes.count)
        return bytes
    }
}

public enum VRRPDecodeError: Error, Sendable, Hashable {
    case tooShort, badVersion(Int), badType(Int), badChecksum, badLength, badAddressFamily
}

/// IP protocol number of VRRP.
public let vrrpProtocolNumber: UInt8 = 112

public enum VRRPCodec {
    /// Encodes an advertisement. v3 needs the IP source/destination for its pseudo-header checksum.
    public static func encode(_ ad: VRRPAdvertisement, source: [UInt8] = [], destination: [UInt8] = []) -> [UInt8] {
        var b: [UInt8] = []
        b.append(UInt8(ad.version << 4 | 1))
        b.append(UInt8(ad.virtualRouterID))
        b.append(UInt8(ad.priority))
        b.append(UInt8(ad.addresses.count))
        if ad.version == 2 {
            b.append(UInt8(ad.authType))
            b.append(UInt8(max(1, min(255, ad.advertIntervalCentiseconds / 100))))
        } else {
            let interval = ad.advertIntervalCentiseconds & 0x0FFF
            b.append(UInt8(interval >> 8))
            b.append(UInt8(interval & 0xFF))
        }
        b += [0, 0]
        for a in ad.addresses { b += a }
        if ad.version == 2 {
            var auth = ad.authData
            auth += [UInt8](repeating: 0, count: max(0, 8 - auth.count))
            b += auth.prefix(8)
        }
        let sum = ad.version == 2 ? checksum(b) : checksum(pseudoHeader(source: source, destination: destination, length: b.count) + b)
        b[6] = UInt8(sum >> 8)
        b[7] = UInt8(sum & 0xFF)
        return b
    }

    /// Decodes and verifies a VRRP message (the IP payload). `ipv6` says the address size.
    public static func decode(_ b: [UInt8], ipv6: Bool = false, source: [UInt8] = [], destination: [UInt8] = [])
        throws(VRRPDecodeError) -> VRRPAdvertisement {
        guard b.count >= 8 else { throw .tooShort }
        let version = Int(b[0] >> 4), type = Int(b[0] & 0x0F)
        guard version == 2 || version == 3 else { throw .badVersion(version) }
        guard type == 1 else { throw .badType(type) }
        let count = Int(b[3])
        let size = ipv6 ? 16 : 4
        if version == 2 && ipv6 { throw .badAddressFamily }
        let expected = 8 + count * size + (version == 2 ? 8 : 0)
        guard b.count >= expected else { throw .badLength }
        let message = Array(b[0..<expected])
        let sum = version == 2 ? checksum(message) : checksum(pseudoHeader(source: source, destination: destination, length: expected) + message)
        guard sum == 0 else { throw .badChecksum }
        var addresses: [[UInt8]] = []
        for i in 0..<count { addresses.append(Array(b[(8 + i * size)..<(8 + (i + 1) * size)])) }
        if version == 2 {
            let authStart = 8 + count * size
            return VRRPAdvertisement(version: 2, virtualRouterID: Int(b[1]), priority: Int(b[2]),
                                     advertIntervalCentiseconds: Int(b[5]) * 100, addresses: addresses,
                                     authType: Int(b[4]), authData: Array(b[authStart..<(authStart + 8)]))
        }
        return VRRPAdvertisement(version: 3, virtualRouterID: Int(b[1]), priority: Int(b[2]),
                                 advertIntervalCentiseconds: (Int(b[4] & 0x0F) << 8) | Int(b[5]), addresses: addresses)
    }

    static func pseudoHeader(source: [UInt8], destination: [UInt8], length: Int) -> [UInt8] {
        if source.count == 16 {
            return source + destination + [UInt8(length >> 24 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF),
                                           UInt8(length & 0xFF), 0, 0, 0, vrrpProtocolNumber]
        }
        return source + destination + [0, vrrpProtocolNumber, UInt8(length >> 8), UInt8(length & 0xFF)]
    }

    /// The Internet checksum (RFC 1071).
    public static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
