// Hash functions used by HAProxy's `hash-type` (sdbm, djb2, wt6, crc32, none)
// and the optional `avalanche` modifier. Pure stdlib, allocation-free.

/// The hash function named by `hash-type <method> <function>`.
public enum HashFunctionKind: Sendable, Hashable {
    case sdbm, djb2, wt6, crc32, none
}

public enum Hashing {
    /// Hashes `bytes` with `function`. Deterministic across runs and platforms.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, function: HashFunctionKind) -> UInt32 {
        switch function {
        case .sdbm: return sdbm(bytes)
        case .djb2: return djb2(bytes)
        case .wt6: return wt6(bytes)
        case .crc32: return crc32(bytes)
        case .none: return none(bytes)
        }
    }

    /// Convenience: hashes the UTF-8 bytes of `text`.
    public static func hash(_ text: Substring, function: HashFunctionKind) -> UInt32 {
        var s = text
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0), function: function) }
    }

    /// Convenience: hashes the UTF-8 bytes of `text`.
    public static func hash(_ text: String, function: HashFunctionKind) -> UInt32 {
        hash(Substring(text), function: function)
    }

    /// HAProxy's 32-bit "full avalanche" hash: Bob Jenkins' integer mix (every
    /// input bit affects every output bit), then a multiplication by
    /// 3221225473 (0xC000_0001) to spread the values over the whole range.
    /// HAProxy applies it to the key for `avalanche` and for every consistent
    /// hash lookup, and uses it to place the servers' points on the ring
    /// (checked against haproxy 2.6.12 black-box).
    @inlinable
    public static func avalanche(_ h: UInt32) -> UInt32 {
        var a = h
        a = (a &+ 0x7ed5_5d16) &+ (a << 12)
        a = (a ^ 0xc761_c23c) ^ (a >> 19)
        a = (a &+ 0x1656_67b1) &+ (a << 5)
        a = (a &+ 0xd3a2_646c) ^ (a << 9)
        a = (a &+ 0xfd70_46c5) &+ (a << 3)
        a = (a ^ 0xb55a_4f09) ^ (a >> 16)
        return a &* 0xc000_0001
    }

    /// sdbm: h = c + (h << 6) + (h << 16) - h, starting from 0.
    @inlinable
    public static func sdbm(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 0
        for b in bytes {
            h = UInt32(b) &+ (h << 6) &+ (h << 16) &- h
        }
        return h
    }

    /// djb2: h = h * 33 + c, starting from 5381.
    @inlinable
    public static func djb2(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 5381
        for b in bytes {
            h = (h << 5) &+ h &+ UInt32(b)
        }
        return h
    }

    /// wt6: two 32-bit lanes, complemented/added with each byte, cross-rotated
    /// by amounts that themselves depend on the running state.
    @inlinable
    public static func wt6(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h0: UInt32 = 0xa53c_965a
        var h1: UInt32 = 0x5ca6_953a
        var step0: UInt32 = 6
        var step1: UInt32 = 18
        for b in bytes {
            let c = UInt32(b)
            h0 = ~(h0 ^ c)
            h1 = ~(h1 &+ c)
            let t = rotl(h1, step0)
            h1 = rotl(h0, step1)
            h0 = t
            let s = ((h0 >> 16) ^ h1) & 0xffff
            step0 = s & 0x1f
            step1 = s >> 11
        }
        return h0 ^ h1
    }

    @inlinable
    static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 {
        let k = n & 31
        return k == 0 ? x : (x << k) | (x >> (32 - k))
    }

    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as in Ethernet, gzip, PNG.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        crc32Table.withUnsafeBufferPointer { table in
            var c: UInt32 = 0xffff_ffff
            for b in bytes {
                c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8)
            }
            return ~c
        }
    }

    /// `none`: the key already is a hash. Its bytes are read as big-endian
    /// 32-bit words which are XOR-folded together (a 4-byte key is used as is;
    /// a shorter key is its big-endian value).
    @inlinable
    public static func none(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 0
        var word: UInt32 = 0
        var n = 0
        for b in bytes {
            word = (word << 8) | UInt32(b)
            n += 1
            if n == 4 {
                h ^= word
                word = 0
                n = 0
            }
        }
        if n > 0 { h ^= word }
        return h
    }
}

/// Computed once (lazily, thread-safe as a global).
let crc32Table: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 256)
    for i in 0..<256 {
        var c = UInt32(i)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? (0xedb8_8320 ^ (c >> 1)) : (c >> 1)
        }
        t[i] = c
    }
    return t
}()
