import VRRP
import XCTest

final class VRRPPacketTests: XCTestCase {
    func testV2PassAdvertisementBytes() throws {
        let ad = VRRPAdvertisement(version: 2, virtualRouterID: 152, priority: 100, advertIntervalCentiseconds: 100,
                                   addresses: [[10, 122, 64, 129]], authType: 1, authData: VRRPAdvertisement.passData("passAI"))
        let bytes = VRRPCodec.encode(ad)
        XCTAssertEqual(Array(bytes[0..<6]), [0x21, 152, 100, 1, 1, 1])
        XCTAssertEqual(Array(bytes[8...]), [10, 122, 64, 129] + Array("passAI".utf8) + [0, 0])
        XCTAssertEqual(VRRPCodec.checksum(bytes), 0, "a valid message sums to zero")
        XCTAssertEqual(try VRRPCodec.decode(bytes), ad)
    }

    func testPasswordsAreTruncatedToEightBytes() {
        XCTAssertEqual(VRRPAdvertisement.passData("myPassw0rd"), Array("myPassw0".utf8))
    }

    func testCorruptionIsRejected() {
        var bytes = VRRPCodec.encode(VRRPAdvertisement(version: 2, virtualRouterID: 1, priority: 50, advertIntervalCentiseconds: 100,
                                                       addresses: [[192, 0, 2, 1]], authType: 0))
        bytes[2] ^= 0x01
        XCTAssertThrowsError(try VRRPCodec.decode(bytes)) { XCTAssertEqual($0 as? VRRPDecodeError, .badChecksum) }
        XCTAssertThrowsError(try VRRPCodec.decode([0x21, 1])) { XCTAssertEqual($0 as? VRRPDecodeError, .tooShort) }
        XCTAssertThrowsError(try VRRPCodec.decode([0x41, 1, 1, 0, 0, 1, 0, 0])) { XCTAssertEqual($0 as? VRRPDecodeError, .badVersion(4)) }
    }

    func testV3ChecksumCoversThePseudoHeader() throws {
        let src: [UInt8] = [10, 0, 0, 1], dst: [UInt8] = [224, 0, 0, 18]
        let ad = VRRPAdvertisement(version: 3, virtualRouterID: 7, priority: 200, advertIntervalCentiseconds: 100, addresses: [[10, 0, 0, 100]])
        let bytes = VRRPCodec.encode(ad, source: src, destination: dst)
        XCTAssertEqual(Array(bytes[0..<6]), [0x31, 7, 200, 1, 0, 100])
        XCTAssertEqual(try VRRPCodec.decode(bytes, source: src, destination: dst), ad)
        XCTAssertThrowsError(try VRRPCodec.decode(bytes, source: [10, 0, 0, 2], destination: dst), "another source: another checksum")
        let v6src: [UInt8] = [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1]
        let v6dst: [UInt8] = [0xff, 0x02] + [UInt8](repeating: 0, count: 13) + [0x12]
        let ad6 = VRRPAdvertisement(version: 3, virtualRouterID: 7, priority: 100, advertIntervalCentiseconds: 100,
                                    addresses: [[0xfd] + [UInt8](repeating: 0, count: 14) + [0x10]])
        XCTAssertEqual(try VRRPCodec.decode(VRRPCodec.encode(ad6, source: v6src, destination: v6dst), ipv6: true, source: v6src, destination: v6dst), ad6)
    }
}

final class VRRPStateMachineTests: XCTestCase {
    let me: [UInt8] = [10, 0, 0, 2], peer: [UInt8] = [10, 0, 0, 1]

    func advert(_ priority: Int, vrid: Int = 152) -> VRRPAdvertisement {
        VRRPAdvertisement(version: 2, virtualRouterID: vrid, priority: priority, advertIntervalCentiseconds: 100, addresses: [])
    }

    func machine(priority: Int = 99, preempt: Bool = true, startAsMaster: Bool = false, delay: Duration = .zero) -> VRRPMachine {
        VRRPMachine(VRRPSettings(virtualRouterID: 152, priority: priority, preempt: preempt, preemptDelay: delay,
                                 startAsMaster: startAsMaster, localAddress: me))
    }

    func testMasterDownIntervalIsThreeAdvertsPlusSkew() {
        let m = machine(priority: 100)
        XCTAssertEqual(m.skewTime, .milliseconds(609.375))
        XCTAssertEqual(m.masterDownInterval, .milliseconds(3609.375))
    }

    func testBackupTakesOverWhenAdvertsStop() {
        var m = machine()
        _ = m.start(now: .zero)
        XCTAssertEqual(m.state, .backup)
        for t in 1...5 { _ = m.received(advert(100), from: peer, now: .seconds(t)) }
        XCTAssertEqual(m.timerFired(now: .seconds(8)), [], "adverts keep it BACKUP")
        XCTAssertEqual(m.state, .backup)
        let down = Duration.seconds(5) + m.masterDownInterval
        XCTAssertEqual(m.timerFired(now: down - .milliseconds(1)), [])
        let actions = m.timerFired(now: down)
        XCTAssertEqual(m.state, .master)
        XCTAssertTrue(actions.contains(.takeAddresses))
        XCTAssertTrue(actions.contains(.sendAdvertisement(priority: 99)))
    }

    func testPriorityZeroMeansTakeOverAfterSkewOnly() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(advert(0), from: peer, now: .seconds(1))
        XCTAssertEqual(m.deadline, .seconds(1) + m.skewTime)
        _ = m.timerFired(now: m.deadline!)
        XCTAssertEqual(m.state, .master)
    }

    func testMasterYieldsToHigherPriorityAndToHigherAddressOnTies() {
        var m = machine(priority: 100, startAsMaster: true)
        XCTAssertTrue(m.start(now: .zero).contains(.takeAddresses))
        XCTAssertEqual(m.received(advert(50), from: peer, now: .seconds(1)), [])
        XCTAssertEqual(m.state, .master)
        _ = m.received(advert(100), from: peer, now: .seconds(1))
        XCTAssertEqual(m.state, .master, "equal priority, lower address: we stay")
        let actions = m.received(advert(100), from: [10, 0, 0, 9], now: .seconds(2))
        XCTAssertEqual(m.state, .backup)
        XCTAssertTrue(actions.contains(.releaseAddresses))
    }

    func testPreemptNopreemptAndPreemptDelay() {
        // preempt: a higher backup seeing a lower master's advert takes over after Skew_Time
        // (not at Master_Down_Interval, as the RFC's timer would).
        var p = machine(priority: 150)
        _ = p.start(now: .zero)
        _ = p.received(advert(100), from: peer, now: .seconds(1))
        XCTAssertEqual(p.deadline, .seconds(1) + p.skewTime)
        XCTAssertEqual(p.timerFired(now: .seconds(1) + p.skewTime - .milliseconds(1)), [])
        _ = p.timerFired(now: p.deadline!)
        XCTAssertEqual(p.state, .master)
        // nopreempt: the adverts of a lower master keep it BACKUP.
        var n = machine(priority: 150, preempt: false)
        _ = n.start(now: .zero)
        for t in 1...10 { _ = n.received(advert(100), from: peer, now: .seconds(t)); _ = n.timerFired(now: .seconds(t)) }
        XCTAssertEqual(n.state, .backup)
        // preempt_delay 5s: not before 5 s after the first lower advert.
        var d = machine(priority: 150, delay: .seconds(5))
        _ = d.start(now: .zero)
        _ = d.received(advert(100), from: peer, now: .seconds(1))
        XCTAssertEqual(d.timerFired(now: .seconds(1) + d.masterDownInterval), [])
        XCTAssertEqual(d.state, .backup)
        _ = d.timerFired(now: .seconds(6))
        XCTAssertEqual(d.state, .master)
    }

    func testOwnerFaultAndShutdown() {
        var owner = machine(priority: 255)
        _ = owner.start(now: .zero)
        XCTAssertEqual(owner.state, .master)
        XCTAssertEqual(owner.setEffectivePriority(10, now: .zero), [], "the owner's priority does not move")
        var m = machine(priority: 100, startAsMaster: true)
        _ = m.start(now: .zero)
        let fault = m.setFault(true, now: .seconds(1), reason: "track_interface eth0 down")
        XCTAssertEqual(m.state, .fault)
        XCTAssertEqual(fault.first, .sendAdvertisement(priority: 0), "a resigning master says so at once")
        XCTAssertTrue(fault.contains(.releaseAddresses))
        _ = m.setFault(false, now: .seconds(2), reason: "eth0 up")
        XCTAssertEqual(m.state, .backup)
        _ = m.timerFired(now: m.deadline!)
        XCTAssertEqual(m.state, .master)
        let stop = m.shutdown(now: .seconds(9))
        XCTAssertEqual(stop.first, .sendAdvertisement(priority: 0))
        XCTAssertEqual(m.state, .initialize)
    }

    func testWeightsChangeTheAdvertisedPriority() {
        var m = machine(priority: 100, startAsMaster: true)
        _ = m.start(now: .zero)
        XCTAssertEqual(m.setEffectivePriority(96, now: .seconds(1)), [.sendAdvertisement(priority: 96)])
        XCTAssertEqual(m.setEffectivePriority(-20, now: .seconds(2)), [.sendAdvertisement(priority: 1)])
        XCTAssertEqual(m.received(advert(99), from: peer, now: .seconds(3)).first, .stateChanged(from: .master, to: .backup, reason: "higher priority advertisement (99)"))
    }
}
