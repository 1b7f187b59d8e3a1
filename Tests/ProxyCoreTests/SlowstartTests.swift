import HAProxyConfig
import NIOPosix
import ProxyCore
import XCTest

final class SlowstartTests: XCTestCase {
    func runtime(_ balance: String) throws -> ProxyRuntime {
        let text = """
        defaults
         timeout client 1s
         timeout server 1s
         timeout connect 1s
        backend be
         balance \(balance)
         server s1 127.0.0.1:9 maxconn 10 slowstart 10s
         server s2 127.0.0.1:9
        """
        let result = ConfigLoader(environment: [:]).parse(text: text, file: "t.cfg")
        let config = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        return try ProxyRuntime(configuration: config, group: MultiThreadedEventLoopGroup(numberOfThreads: 1), healthSink: SilentHealthSink())
    }

    /// HAProxy's srv_dynamic_maxconn(): max(1, maxconn × whole percent of the period elapsed).
    func testMaxconnRampsWithTheWeight() throws {
        let be = try XCTUnwrap(runtime("roundrobin").backend(named: "be"))
        XCTAssertEqual(be.effectiveMaxconn(0), 10)
        XCTAssertTrue(be.setWeightFraction(0, 0))
        XCTAssertEqual(be.effectiveMaxconn(0), 1)
        be.setWeightFraction(0, 0.25)
        XCTAssertEqual(be.effectiveMaxconn(0), 2)
        be.setWeightFraction(0, 0.999)
        XCTAssertEqual(be.effectiveMaxconn(0), 9)
        be.setWeightFraction(0, 1)
        XCTAssertEqual(be.effectiveMaxconn(0), 10)
    }

    func testStaticAlgorithmsRampOnlyMaxconn() throws {
        let be = try XCTUnwrap(runtime("source").backend(named: "be"))
        XCTAssertTrue(be.setWeightFraction(0, 0.5), "maxconn still ramps")
        XCTAssertEqual(be.effectiveMaxconn(0), 5)
        XCTAssertFalse(be.setWeightFraction(1, 0.5), "nothing to ramp: no weight (hash) and no maxconn")
    }
}
