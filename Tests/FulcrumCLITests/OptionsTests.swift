import FulcrumCLI
import XCTest

final class OptionsTests: XCTestCase {
    func testHAProxyOptions() throws {
        let o = try CommandLineOptions.parse(["-f", "a.cfg", "-f", "conf.d", "-c", "-q", "-p", "/run/x.pid", "-D", "-db"])
        XCTAssertEqual(o.files, ["a.cfg", "conf.d"])
        XCTAssertTrue(o.checkOnly)
        XCTAssertTrue(o.quiet)
        XCTAssertTrue(o.daemon)
        XCTAssertTrue(o.foreground)
        XCTAssertEqual(o.pidfile, "/run/x.pid")
    }

    func testSoftAndHardStopTakeEveryPid() throws {
        let o = try CommandLineOptions.parse(["-f", "x.cfg", "-sf", "12", "13", "14", "-st", "15", "-d"])
        XCTAssertEqual(o.softStopPids, [12, 13, 14])
        XCTAssertEqual(o.hardStopPids, [15])
        XCTAssertTrue(o.debug)
    }

    func testConditionVersionAndFilesAfterDashDash() throws {
        XCTAssertEqual(try CommandLineOptions.parse(["-cc", "defined(HOME)"]).condition, "defined(HOME)")
        XCTAssertTrue(try CommandLineOptions.parse(["-v"]).version)
        XCTAssertTrue(try CommandLineOptions.parse(["-vv"]).verboseVersion)
        XCTAssertEqual(try CommandLineOptions.parse(["-W", "--", "a.cfg", "b.cfg"]).files, ["a.cfg", "b.cfg"])
        XCTAssertTrue(try CommandLineOptions.parse(["-Ws"]).systemdNotify)
    }

    func testUnknownOptionAndMissingArgument() {
        XCTAssertThrowsError(try CommandLineOptions.parse(["-Z"]))
        XCTAssertThrowsError(try CommandLineOptions.parse(["-f"]))
        XCTAssertThrowsError(try CommandLineOptions.parse(["-n", "zero"]))
    }
}
