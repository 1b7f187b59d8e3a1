import HealthChecks
import XCTest

final class ServerHealthTests: XCTestCase {
    func testStartsUpButGoesDownAtTheFirstFailure() {
        var h = ServerHealth(rise: 2, fall: 3)
        XCTAssertTrue(h.isUp)
        XCTAssertEqual(h.health, 2)
        XCTAssertEqual(h.record(false), .wentDown)
        XCTAssertEqual(h.health, 0)
    }

    func testOnePassAtStartJumpsToTheMaximumThenFallFailuresMarkDown() {
        var h = ServerHealth(rise: 2, fall: 3)
        XCTAssertNil(h.record(true))
        XCTAssertEqual(h.health, 4)
        XCTAssertNil(h.record(false))
        XCTAssertNil(h.record(false))
        XCTAssertEqual(h.record(false), .wentDown)
        XCTAssertFalse(h.isUp)
    }

    func testRisePassesInARowMarkUp() {
        var h = ServerHealth(rise: 3, fall: 2)
        XCTAssertEqual(h.record(false), .wentDown)
        XCTAssertNil(h.record(true))
        XCTAssertNil(h.record(true))
        XCTAssertEqual(h.record(true), .wentUp)
        XCTAssertEqual(h.health, 4)
    }

    func testAFailureWhileRisingStartsOver() {
        var h = ServerHealth(rise: 3, fall: 2)
        _ = h.record(false)
        _ = h.record(true)
        _ = h.record(true)
        XCTAssertNil(h.record(false))
        XCTAssertEqual(h.health, 0)
        XCTAssertNil(h.record(true))
        XCTAssertNil(h.record(true))
        XCTAssertEqual(h.record(true), .wentUp)
    }

    func testIntervalsFollowSrvGetinter() {
        let inter = Duration.seconds(2), fast = Duration.milliseconds(500), down = Duration.seconds(5)
        var h = ServerHealth(rise: 3, fall: 2)
        // At start health = rise < maximum: fastinter.
        XCTAssertEqual(h.interval(inter: inter, fastinter: fast, downinter: down), fast)
        _ = h.record(true)
        XCTAssertEqual(h.interval(inter: inter, fastinter: fast, downinter: down), inter)
        _ = h.record(false)
        XCTAssertEqual(h.interval(inter: inter, fastinter: fast, downinter: down), fast)
        _ = h.record(false)
        XCTAssertFalse(h.isUp)
        XCTAssertEqual(h.interval(inter: inter, fastinter: fast, downinter: down), down)
        XCTAssertEqual(h.interval(inter: inter, fastinter: nil, downinter: nil), inter)
        _ = h.record(true)
        XCTAssertEqual(h.interval(inter: inter, fastinter: nil, downinter: down), inter, "rising: fastinter defaults to inter")
    }

    func testForce() {
        var h = ServerHealth(rise: 2, fall: 2)
        XCTAssertEqual(h.force(up: false), .wentDown)
        XCTAssertNil(h.force(up: false))
        XCTAssertEqual(h.force(up: true), .wentUp)
        XCTAssertEqual(h.health, 3)
    }

    func testSpread() {
        XCTAssertEqual(CheckSpread.initialDelays(count: 4, interval: .seconds(2)),
                       [.zero, .milliseconds(500), .seconds(1), .milliseconds(1500)])
        XCTAssertEqual(CheckSpread.jittered(.seconds(2), percent: 0, unit: 0.9), .seconds(2))
        XCTAssertEqual(CheckSpread.jittered(.seconds(2), percent: 10, unit: 0), .milliseconds(2200))
        XCTAssertEqual(CheckSpread.jittered(.seconds(2), percent: 10, unit: 0.5), .seconds(2))
        XCTAssertEqual(CheckSpread.jittered(.seconds(2), percent: 10, unit: 1), .milliseconds(1800))
    }
}

final class HealthMessagesTests: XCTestCase {
    func testDownMessageAsHAProxy() {
        let o = CheckOutcome(passed: false, status: .l4con, info: "Connection refused", durationMilliseconds: 0)
        XCTAssertEqual(
            HealthMessages.serverDown(backend: "be", server: "s1", isBackup: false, outcome: o, activeLeft: 0, backupLeft: 1,
                                      sessionsActive: 0, requeued: 0, remainingInQueue: 0),
            "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. "
                + "0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.")
    }

    func testBackupDownAndHTTPCode() {
        let o = CheckOutcome(passed: false, status: .l7sts, info: "Internal Server Error", code: 500, durationMilliseconds: 3)
        XCTAssertEqual(
            HealthMessages.serverDown(backend: "be", server: "s2", isBackup: true, outcome: o, activeLeft: 1, backupLeft: 0,
                                      sessionsActive: 2, requeued: 0, remainingInQueue: 0),
            "Backup Server be/s2 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", check duration: 3ms. "
                + "1 active and 0 backup servers left. 2 sessions active, 0 requeued, 0 remaining in queue.")
    }

    func testUpMessages() {
        let l4 = CheckOutcome(passed: true, status: .l4ok, info: nil, durationMilliseconds: 0)
        XCTAssertEqual(
            HealthMessages.serverUp(backend: "be", server: "s1", isBackup: false, outcome: l4, activeOnline: 1, backupOnline: 0,
                                    requeued: 0, totalInQueue: 0),
            "Server be/s1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active and 0 backup servers online. "
                + "0 sessions requeued, 0 total in queue.")
        let tcp = CheckOutcome(passed: true, status: .l7ok, info: "(tcp-check)", code: 0, durationMilliseconds: 1)
        XCTAssertEqual(
            HealthMessages.serverUp(backend: "be", server: "b", isBackup: true, outcome: tcp, activeOnline: 0, backupOnline: 1,
                                    requeued: 0, totalInQueue: 0),
            "Backup Server be/b is UP, reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: 1ms. "
                + "0 active and 1 backup servers online. Running on backup. 0 sessions requeued, 0 total in queue.")
    }

    func testTimeoutHasNoInfoAndNoCode() {
        let o = CheckOutcome(passed: false, status: .l7tout, info: nil, durationMilliseconds: 200)
        XCTAssertEqual(HealthMessages.checkPart(o), ", reason: Layer7 timeout, check duration: 200ms")
    }

    func testInfoIsAsciiEncoded() {
        XCTAssertEqual(HealthMessages.asciiEncode("a\"b<c>\r\n\u{1}é"), "a<22>b<3C>c<3E><0D><0A><01><C3><A9>")
    }

    func testNoServerAvailable() {
        XCTAssertEqual(HealthMessages.noServerAvailable(backend: "be"), "backend 'be' has no server available!")
        XCTAssertEqual(HealthMessages.noServerAvailable(backend: "db", kind: "proxy"), "proxy 'db' has no server available!")
    }

    func testStatusDescriptions() {
        XCTAssertEqual(CheckStatus.l7okc.description, "Layer7 check conditionally passed")
        XCTAssertEqual(CheckStatus.sockerr.description, "Socket error")
        XCTAssertEqual(CheckStatus.l4tout.description, "Layer4 timeout")
    }

    func testLogHealthChecksLine() {
        var h = ServerHealth(rise: 2, fall: 3)
        _ = h.record(true)
        _ = h.record(false)
        let o = CheckOutcome(passed: false, status: .l4con, info: "Connection refused", durationMilliseconds: 0)
        XCTAssertEqual(HealthMessages.checkResult(backend: "be", server: "s1", isBackup: false, outcome: o, health: h),
                       "Health check for server be/s1 failed, reason: Layer4 connection problem, info: \"Connection refused\", "
                           + "check duration: 0ms, status: 2/3 UP.")
    }
}

final class ObserveTests: XCTestCase {
    func testLayer4CountsConnectErrorsAndSuccessResets() {
        var o = TrafficObserver(mode: .layer4, limit: 3, action: .failCheck)
        XCTAssertNil(o.record(.connectFailed))
        XCTAssertNil(o.record(.connectFailed))
        XCTAssertNil(o.record(.connected))
        XCTAssertEqual(o.consecutiveErrors, 0)
        XCTAssertNil(o.record(.httpWrongStatus), "layer4 ignores HTTP results")
        XCTAssertNil(o.record(.connectFailed))
        XCTAssertNil(o.record(.connectFailed))
        let hit = o.record(.connectFailed)
        XCTAssertEqual(hit?.action, .failCheck)
        XCTAssertEqual(hit?.info, "Detected 3 consecutive errors, last one was: L4 unsuccessful connection")
        XCTAssertEqual(o.consecutiveErrors, 0)
    }

    func testLayer7JudgesResponsesAsHAProxy() {
        XCTAssertEqual(TrafficEvent.forStatus(503), .httpWrongStatus)
        XCTAssertEqual(TrafficEvent.forStatus(501), .httpOK)
        XCTAssertEqual(TrafficEvent.forStatus(505), .httpOK)
        XCTAssertEqual(TrafficEvent.forStatus(404), .httpOK)
        var o = TrafficObserver(mode: .layer7, limit: 2, action: .markDown)
        XCTAssertNil(o.record(.readTimeout))
        XCTAssertNil(o.record(.connected), "a connection alone does not clear layer7 errors")
        XCTAssertEqual(o.record(.closedByServer)?.info, "Detected 2 consecutive errors, last one was: Close from server (http)")
        XCTAssertNil(o.record(.httpInvalidHeaders))
        XCTAssertNil(o.record(.httpOK))
        XCTAssertNil(o.record(.httpInvalidHeaders))
    }

    func testOnErrorActions() {
        var h = ServerHealth(rise: 2, fall: 3)
        _ = h.record(true)  // 4 = maximum
        XCTAssertNil(h.apply(.fastinter))
        XCTAssertEqual(h.health, 4)
        XCTAssertNil(h.apply(.failCheck))
        XCTAssertEqual(h.health, 3)
        var s = ServerHealth(rise: 2, fall: 5)
        _ = s.record(true)  // 6
        XCTAssertNil(s.apply(.suddenDeath), "sudden-death leaves one more check")
        XCTAssertEqual(s.health, 2)
        XCTAssertEqual(s.record(false), .wentDown)
        var m = ServerHealth(rise: 2, fall: 3)
        _ = m.record(true)
        XCTAssertEqual(m.apply(.markDown), .wentDown)
        XCTAssertEqual(m.health, 0)
    }

    func testObserveResultLineHasNoDuration() {
        var h = ServerHealth(rise: 2, fall: 3)
        _ = h.record(true)
        _ = h.apply(.markDown)
        let o = CheckOutcome(passed: false, status: .hana, info: "Detected 2 consecutive errors, last one was: L4 unsuccessful connection",
                             durationMilliseconds: -1)
        XCTAssertEqual(HealthMessages.checkResult(backend: "be", server: "s1", isBackup: false, outcome: o, health: h),
                       "Health check for server be/s1 failed, reason: Health analyze, info: \"Detected 2 consecutive errors, "
                           + "last one was: L4 unsuccessful connection\", status: 0/2 DOWN.")
        XCTAssertEqual(HealthMessages.serverDown(backend: "be", server: "s1", isBackup: false, outcome: nil, activeLeft: 0, backupLeft: 0,
                                                 sessionsActive: 1, requeued: 0, remainingInQueue: 0),
                       "Server be/s1 is DOWN. 0 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue.")
    }
}
