// The xxHash family as the `xxh32`, `xxh64` and `xxh3` converters use it, written from the xxHash
// specification (doc/xxhash_spec.md, v0.1.1): XXH32, XXH64 and the 64-bit XXH3 with its default
// secret, seeded as the specification says (a derived secret above 240 bytes).

public enum XXHash {
    static let p32_1: UInt32 = 0x9E37_79B1
    static let p32_2: UInt32 = 0x85EB_CA77
    static let p32_3: UInt32 = 0xC2B2_AE3D
    static let p32_4: UInt32 = 0x27D4_EB2F
    static let p32_5: UInt32 = 0x1656_67B1
    static let p64_1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p64_2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p64_3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p64_4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p64_5: UInt64 = 0x27D4_EB2F_1656_67C5
    static let mx1: UInt64 = 0x1656_6791_9E37_79F9
    static let mx2: UInt64 = 0x9FB2_1C65_1E98_DF25

    static func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
    static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    static func read32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    static func read64(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        UInt64(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    // MARK: XXH32

    static func xxh32(_ data: [UInt8], seed: UInt32) -> UInt32 {
        data.withUnsafeBytes { b in
            let n = b.count
            var i = 0
            var acc: UInt32
            if n >= 16 {
                var a1 = seed &+ p32_1 &+ p32_2, a2 = seed &+ p32_2, a3 = seed, a4 = seed &- p32_1
                func round(_ a: UInt32, _ lane: UInt32) -> UInt32 { rotl(a &+ lane &* p32_2, 13) &* p32_1 }
                while i + 16 <= n {
                    a1 = round(a1, read32(b, i))
                    a2 = round(a2, read32(b, i + 4))
                    a3 = round(a3, read32(b, i + 8))
                    a4 = round(a4, read32(b, i + 12))
                    i += 16
                }
                acc = rotl(a1, 1) &+ rotl(a2, 7) &+ rotl(a3, 12) &+ rotl(a4, 18)
            } else {
                acc = seed &+ p32_5
            }
            acc = acc &+ UInt32(truncatingIfNeeded: n)
            while i + 4 <= n {
                acc = rotl(acc &+ read32(b, i) &* p32_3, 17) &* p32_4
                i += 4
            }
            while i < n {
                acc = rotl(acc &+ UInt32(b[i]) &* p32_5, 11) &* p32_1
                i += 1
            }
            acc ^= acc >> 15
            acc = acc &* p32_2
            acc ^= acc >> 13
            acc = acc &* p32_3
            acc ^= acc >> 16
            return acc
        }
    }

    // MARK: XXH64

    static func round64(_ a: UInt64, _ lane: UInt64) -> UInt64 { rotl(a &+ lane &* p64_2, 31) &* p64_1 }

    static func avalancheXXH64(_ x: UInt64) -> UInt64 {
        var x = x
        x ^= x >> 33
        x = x &* p64_2
        x ^= x >> 29
        x = x &* p64_3
        x ^= x >> 32
        return x
    }

    public static func xxh64(_ data: [UInt8], seed: UInt64) -> UInt64 {
        data.withUnsafeBytes { b in
            let n = b.count
            var i = 0
            var acc: UInt64
            if n >= 32 {
                var a1 = seed &+ p64_1 &+ p64_2, a2 = seed &+ p64_2, a3 = seed, a4 = seed &- p64_1
                while i + 32 <= n {
                    a1 = round64(a1, read64(b, i))
                    a2 = round64(a2, read64(b, i + 8))
                    a3 = round64(a3, read64(b, i + 16))
                    a4 = round64(a4, read64(b, i + 24))
                    i += 32
                }
                acc = rotl(a1, 1) &+ rotl(a2, 7) &+ rotl(a3, 12) &+ rotl(a4, 18)
                for a in [a1, a2, a3, a4] {
                    acc = (acc ^ round64(0, a)) &* p64_1 &+ p64_4
                }
            } else {
                acc = seed &+ p64_5
            }
            acc = acc &+ UInt64(n)
            while i + 8 <= n {
                acc = rotl(acc ^ round64(0, read64(b, i)), 27) &* p64_1 &+ p64_4
                i += 8
            }
            if i + 4 <= n {
                acc = rotl(acc ^ (UInt64(read32(b, i)) &* p64_1), 23) &* p64_2 &+ p64_3
                i += 4
            }
            while i < n {
                acc = rotl(acc ^ (UInt64(b[i]) &* p64_5), 11) &* p64_1
                i += 1
            }
            return avalancheXXH64(acc)
        }
    }

    // MARK: XXH3 (64-bit)

    static let defaultSecret: [UInt8] = [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ]

    /// The 128-bit product of two 64-bit values, folded: low xor high.
    static func mulFold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (high, low) = a.multipliedFullWidth(by: b)
        return low ^ high
    }

    static func avalanche3(_ x: UInt64) -> UInt64 {
        var x = x
        x ^= x >> 37
        x = x &* mx1
        x ^= x >> 32
        return x
    }

    static func xxh3(_ data: [UInt8], seed: UInt64) -> UInt64 {
        let n = data.count
        if n > 240 {
            var secret = defaultSecret
            if seed != 0 {
                secret.withUnsafeMutableBytes { s in
                    for i in 0..<12 {
                        let lo = UInt64(littleEndian: s.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self)) &+ seed
                        let hi = UInt64(littleEndian: s.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self)) &- seed
                        s.storeBytes(of: lo.littleEndian, toByteOffset: i * 16, as: UInt64.self)
                        s.storeBytes(of: hi.littleEndian, toByteOffset: i * 16 + 8, as: UInt64.self)
                    }
                }
            }
            return data.withUnsafeBytes { b in secret.withUnsafeBytes { s in xxh3Large(b, s) } }
        }
        return data.withUnsafeBytes { b in
            defaultSecret.withUnsafeBytes { s in
                if n == 0 { return avalancheXXH64(seed ^ read64(s, 56) ^ read64(s, 64)) }
                if n <= 3 {
                    let combined = UInt32(b[n - 1]) | UInt32(n) << 8 | UInt32(b[0]) << 16 | UInt32(b[n >> 1]) << 24
                    let value = (UInt64(read32(s, 0) ^ read32(s, 4)) &+ seed) ^ UInt64(combined)
                    return avalancheXXH64(value)
                }
                if n <= 8 {
                    let first = read32(b, 0), last = read32(b, n - 4)
                    let modifiedSeed = seed ^ (UInt64(UInt32(truncatingIfNeeded: seed).byteSwapped) << 32)
                    let combined = UInt64(last) | UInt64(first) << 32
                    var v = ((read64(s, 8) ^ read64(s, 16)) &- modifiedSeed) ^ combined
                    v ^= rotl(v, 49) ^ rotl(v, 24)
                    v = v &* mx2
                    v ^= (v >> 35) &+ UInt64(n)
                    v = v &* mx2
                    v ^= v >> 28
                    return v
                }
                if n <= 16 {
                    let low = ((read64(s, 24) ^ read64(s, 32)) &+ seed) ^ read64(b, 0)
                    let high = ((read64(s, 40) ^ read64(s, 48)) &- seed) ^ read64(b, n - 8)
                    return avalanche3(UInt64(n) &+ low.byteSwapped &+ high &+ mulFold(low, high))
                }
                func mix(_ at: Int, _ secretAt: Int) -> UInt64 {
                    mulFold(read64(b, at) ^ (read64(s, secretAt) &+ seed), read64(b, at + 8) ^ (read64(s, secretAt + 8) &- seed))
                }
                var acc = UInt64(n) &* p64_1
                if n <= 128 {
                    var i = (n - 1) >> 5
                    while i >= 0 {
                        acc = acc &+ mix(i * 16, i * 32)
                        acc = acc &+ mix(n - i * 16 - 16, i * 32 + 16)
                        i -= 1
                    }
                    return avalanche3(acc)
                }
                for i in 0..<8 { acc = acc &+ mix(i * 16, i * 16) }
                acc = avalanche3(acc)
                let chunks = n >> 4
                if chunks > 8 { for i in 8..<chunks { acc = acc &+ mix(i * 16, (i - 8) * 16 + 3) } }
                acc = acc &+ mix(n - 16, 119)
                return avalanche3(acc)
            }
        }
    }

    /// Inputs over 240 bytes: 8 accumulators, stripes of 64 bytes, blocks of 16 stripes (192-byte
    /// secret).
    static func xxh3Large(_ b: UnsafeRawBufferPointer, _ s: UnsafeRawBufferPointer) -> UInt64 {
        let n = b.count
        let secretLength = s.count
        let stripesPerBlock = (secretLength - 64) / 8
        let blockSize = 64 * stripesPerBlock
        var acc: [UInt64] = [UInt64(p32_3), p64_1, p64_2, p64_3, p64_4, UInt64(p32_2), p64_5, UInt64(p32_1)]
        func accumulate(_ at: Int, _ secretAt: Int) {
            for i in 0..<8 {
                let lane = read64(b, at + i * 8)
                let v = lane ^ read64(s, secretAt + i * 8)
                acc[i ^ 1] = acc[i ^ 1] &+ lane
                acc[i] = acc[i] &+ (v & 0xFFFF_FFFF) &* (v >> 32)
            }
        }
        func scramble() {
            for i in 0..<8 {
                var a = acc[i]
                a ^= a >> 47
                a ^= read64(s, secretLength - 64 + i * 8)
                acc[i] = a &* UInt64(p32_1)
            }
        }
        var start = 0
        while n - start > blockSize {
            for k in 0..<stripesPerBlock { accumulate(start + k * 64, k * 8) }
            scramble()
            start += blockSize
        }
        let lastLength = n - start
        let fullStripes = (lastLength - 1) / 64
        for k in 0..<fullStripes { accumulate(start + k * 64, k * 8) }
        accumulate(n - 64, secretLength - 71)
        var result = UInt64(n) &* p64_1
        for i in 0..<4 {
            result = result &+ mulFold(acc[i * 2] ^ read64(s, 11 + i * 16), acc[i * 2 + 1] ^ read64(s, 11 + i * 16 + 8))
        }
        return avalanche3(result)
    }
}
