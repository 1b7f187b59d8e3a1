import Samples
import XCTest

/// Arguments of the fetches that read the running proxies, checked as haproxy does at load.
final class ProxyFetchArgsTests: XCTestCase {
    func testDateUnits() throws {
        for ok in ["date", "date(3600)", "date(-10,ms)", "date(0,us)", "date(1,s)"] {
            XCTAssertNoThrow(try SampleExpression.parse(ok), ok)
        }
        XCTAssertThrowsError(try SampleExpression.parse("date(1,h)")) {
            XCTAssertEqual("\($0)", "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'h'")
        }
    }

    func testArity() {
        for ok in ["nbsrv", "nbsrv(be)", "srv_is_up(be/s1)", "srv_is_up(s1)", "be_conn", "fe_conn(fe)", "queue(be)",
                   "avg_queue", "connslots(be)", "http_auth_group(L)", "unique-id", "env(HOME)", "ssl_fc_sni"] {
            XCTAssertNoThrow(try SampleExpression.parse(ok), ok)
        }
        XCTAssertThrowsError(try SampleExpression.parse("http_auth_group"))
        XCTAssertThrowsError(try SampleExpression.parse("srv_is_up"))
    }
}
