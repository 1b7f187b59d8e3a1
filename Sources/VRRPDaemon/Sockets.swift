// The VRRP daemon's kernel interfaces, over plain Glibc: the raw IP socket for protocol 112,
// rtnetlink for the virtual addresses, and AF_PACKET for gratuitous ARP.

import VRRP

#if canImport(Glibc)
import Glibc
#endif

public struct SystemError: Error, CustomStringConvertible {
    public var description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}

func ipv4Bytes(_ text: String) -> [UInt8]? {
    var a = in_addr()
    guard inet_pton(AF_INET, text, &a) == 1 else { return nil }
    return withUnsafeBytes(of: a.s_addr) { Array($0) }
}

func ipv4String(_ bytes: [UInt8]) -> String { bytes.map(String.init).joined(separator: ".") }

/// A raw socket speaking VRRP (IPv4): multicast to 224.0.0.18 on the interface, or unicast to peers.
final class VRRPSocket {
    let fd: Int32
    let interfaceIndex: Int32
    let source: [UInt8]
    let destinations: [[UInt8]]
    static let group: [UInt8] = [224, 0, 0, 18]

    init(interface: String, source: [UInt8], unicastPeers: [[UInt8]]) throws {
        interfaceIndex = Int32(if_nametoindex(interface))
        guard interfaceIndex > 0 else { throw SystemError("interface \(interface)") }
        fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), Int32(vrrpProtocolNumber))
        guard fd >= 0 else { throw SystemError("raw socket for VRRP") }
        self.source = source
        destinations = unicastPeers.isEmpty ? [Self.group] : unicastPeers
        var name = Array(interface.utf8CString)
        guard setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &name, socklen_t(name.count)) == 0 else { throw SystemError("SO_BINDTODEVICE \(interface)") }
        var ttl: Int32 = 255
        setsockopt(fd, Int32(IPPROTO_IP), IP_TTL, &ttl, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, &ttl, socklen_t(MemoryLayout<Int32>.size))
        var loop: Int32 = 0
        setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, &loop, socklen_t(MemoryLayout<Int32>.size))
        if unicastPeers.isEmpty {
            var mreq = ip_mreqn()
            mreq.imr_multiaddr.s_addr = Self.group.withUnsafeBytes { $0.load(as: UInt32.self) }
            mreq.imr_ifindex = interfaceIndex
            guard setsockopt(fd, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &mreq, socklen_t(MemoryLayout<ip_mreqn>.size)) == 0 else {
                throw SystemError("joining 224.0.0.18 on \(interface)")
            }
            setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, &mreq, socklen_t(MemoryLayout<ip_mreqn>.size))
        }
        if !source.isEmpty {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = source.withUnsafeBytes { $0.load(as: UInt32.self) }
            var freebind: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IP), IP_FREEBIND, &freebind, socklen_t(MemoryLayout<Int32>.size))
            _ = withUnsafePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    deinit { close(fd) }

    func send(_ payload: [UInt8]) {
        for d in destinations {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = d.withUnsafeBytes { $0.load(as: UInt32.self) }
            _ = payload.withUnsafeBytes { raw in
                withUnsafePointer(to: &sin) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }

    /// One received IPv4 packet: (source, TTL, VRRP payload), or nil when none is waiting.
    func receive() -> (source: [UInt8], ttl: Int, payload: [UInt8])? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 20 else { return nil }
        let ihl = Int(buffer[0] & 0x0F) * 4
        guard n > ihl else { return nil }
        return (Array(buffer[12..<16]), Int(buffer[8]), Array(buffer[ihl..<n]))
    }
}

/// Linux constants the Glibc module does not export.
enum LinuxConstants {
    static let netlinkRoute: Int32 = 0
    static let ifaAddress = 1, ifaLocal = 2, ifaLabel = 3
    static let rtmNewAddr = 20, rtmDelAddr = 21
    static let nlmFRequest = 0x1, nlmFAck = 0x4, nlmFReplace = 0x100, nlmFCreate = 0x400
    static let ethPArp: UInt16 = 0x0806
}

/// Sends `bytes` to a socket address given as raw bytes.
func sendTo(_ fd: Int32, _ bytes: [UInt8], address: [UInt8]) -> Int {
    bytes.withUnsafeBytes { raw in
        address.withUnsafeBytes { a in
            sendto(fd, raw.baseAddress, raw.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(address.count))
        }
    }
}

/// rtnetlink: add and remove an IPv4 address on an interface.
enum Netlink {
    static func change(add: Bool, interfaceIndex: Int32, address: [UInt8], prefix: Int, label: String?) throws {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), LinuxConstants.netlinkRoute)
        guard fd >= 0 else { throw SystemError("netlink socket") }
        defer { close(fd) }
        var msg: [UInt8] = []
        func u16(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt16(v).littleEndian) { Array($0) } }
        func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian) { Array($0) } }
        func attr(_ type: Int, _ data: [UInt8]) -> [UInt8] {
            var a = u16(4 + data.count) + u16(type) + data
            while a.count % 4 != 0 { a.append(0) }
            return a
        }
        // struct ifaddrmsg: family, prefixlen, flags, scope, index
        var body: [UInt8] = [UInt8(AF_INET), UInt8(prefix), 0, 0] + u32(Int(interfaceIndex))
        body += attr(LinuxConstants.ifaLocal, address)
        body += attr(LinuxConstants.ifaAddress, address)
        if let label { body += attr(LinuxConstants.ifaLabel, Array(label.utf8) + [0]) }
        let type = add ? LinuxConstants.rtmNewAddr : LinuxConstants.rtmDelAddr
        let flags = LinuxConstants.nlmFRequest | LinuxConstants.nlmFAck | (add ? (LinuxConstants.nlmFCreate | LinuxConstants.nlmFReplace) : 0)
        msg = u32(16 + body.count) + u16(type) + u16(flags) + u32(1) + u32(0) + body
        // struct sockaddr_nl { family, pad, pid, groups }: the kernel.
        let kernel = u16(Int(AF_NETLINK)) + u16(0) + u32(0) + u32(0)
        let sent = sendTo(fd, msg, address: kernel)
        guard sent == msg.count else { throw SystemError("netlink send") }
        var reply = [UInt8](repeating: 0, count: 4096)
        let n = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 20 else { throw SystemError("netlink reply") }
        // NLMSG_ERROR carries errno (0 = ack).
        let error = reply[16..<20].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        if error != 0 && !(add && -error == EEXIST) && !(!add && -error == EADDRNOTAVAIL) {
            errno = -error
            throw SystemError(add ? "adding address" : "removing address")
        }
    }
}

/// Gratuitous ARP: an ARP request for the VIP from the VIP, broadcast (what keepalived sends).
enum GratuitousARP {
    static func send(interface: String, interfaceIndex: Int32, address: [UInt8]) {
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(LinuxConstants.ethPArp.bigEndian))
        guard fd >= 0 else { return }
        defer { close(fd) }
        guard let mac = hardwareAddress(interface) else { return }
        var arp: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1]   // Ethernet, IPv4, request
        arp += mac + address + [0, 0, 0, 0, 0, 0] + address
        // struct sockaddr_ll { family u16, protocol be16, ifindex i32, hatype u16, pkttype u8, halen u8, addr[8] }
        var sll: [UInt8] = withUnsafeBytes(of: UInt16(AF_PACKET)) { Array($0) }
        sll += withUnsafeBytes(of: LinuxConstants.ethPArp.bigEndian) { Array($0) }
        sll += withUnsafeBytes(of: interfaceIndex) { Array($0) }
        sll += [0, 0, 0, 6] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]
        _ = sendTo(fd, arp, address: sll)
    }

    static func hardwareAddress(_ interface: String) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var req = ifreq()
        withUnsafeMutableBytes(of: &req.ifr_ifrn.ifrn_name) { raw in
            for (i, b) in interface.utf8.prefix(15).enumerated() { raw[i] = b }
        }
        guard ioctl(fd, UInt(SIOCGIFHWADDR), &req) == 0 else { return nil }
        return withUnsafeBytes(of: req.ifr_ifru.ifru_hwaddr.sa_data) { Array($0.prefix(6)) }
    }
}

/// Link state of interfaces: the initial flags (ioctl) and rtnetlink RTMGRP_LINK notifications.
final class LinkMonitor {
    let fd: Int32
    /// Tracked interface index -> name.
    let tracked: [Int32: String]
    private(set) var down: Set<String> = []

    init(interfaces: [String]) {
        var map: [Int32: String] = [:]
        for name in interfaces { map[Int32(if_nametoindex(name))] = name }
        tracked = map
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), LinuxConstants.netlinkRoute)
        if fd >= 0 {
            // struct sockaddr_nl { family, pad, pid 0, groups RTMGRP_LINK }
            var sa: [UInt8] = withUnsafeBytes(of: UInt16(AF_NETLINK)) { Array($0) } + [0, 0, 0, 0, 0, 0]
            sa += withUnsafeBytes(of: UInt32(1)) { Array($0) }
            _ = sa.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(sa.count)) }
        }
        for name in interfaces where !LinkMonitor.isUp(name) { down.insert(name) }
    }

    deinit { if fd >= 0 { close(fd) } }

    static func isUp(_ name: String) -> Bool {
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard s >= 0 else { return false }
        defer { close(s) }
        var req = ifreq()
        withUnsafeMutableBytes(of: &req.ifr_ifrn.ifrn_name) { raw in
            for (i, b) in name.utf8.prefix(15).enumerated() { raw[i] = b }
        }
        guard ioctl(s, UInt(SIOCGIFFLAGS), &req) == 0 else { return false }
        let flags = Int32(req.ifr_ifru.ifru_flags)
        return flags & Int32(IFF_UP) != 0 && flags & Int32(IFF_RUNNING) != 0
    }

    /// Reads pending notifications; returns true when a tracked interface changed state.
    func poll() -> Bool {
        guard fd >= 0 else { return false }
        var changed = false
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            var offset = 0
            while offset + 16 <= n {
                let length = Int(buffer[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                let type = Int(buffer[offset + 4..<offset + 6].withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) })
                guard length >= 16, offset + length <= n else { break }
                // RTM_NEWLINK = 16, RTM_DELLINK = 17; struct ifinfomsg follows the header.
                if (type == 16 || type == 17) && length >= 32 {
                    let body = offset + 16
                    let index = buffer[body + 4..<body + 8].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                    let flags = buffer[body + 8..<body + 12].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                    if let name = tracked[index] {
                        let up = type == 16 && flags & UInt32(IFF_UP) != 0 && flags & UInt32(IFF_RUNNING) != 0
                        let wasDown = down.contains(name)
                        if up && wasDown { down.remove(name); changed = true }
                        if !up && !wasDown { down.insert(name); changed = true }
                    }
                }
                offset += (length + 3) & ~3
            }
        }
        return changed
    }
}
