import KeepalivedConfig
import VRRPCLI
import XCTest

final class KeepalivedConfigTests: XCTestCase {
    func loader(files: [String: String] = [:], interfaces: Set<String> = ["eth0"]) -> KeepalivedLoader {
        KeepalivedLoader(readFile: { files[$0] }, glob: { p in files.keys.filter { matches($0, p) }.sorted() },
                         interfaceExists: { interfaces.contains($0) })
    }

    func messages(_ r: KeepalivedLoadResult) -> [String] { r.diagnostics.map(\.description) }

    func seedPath(_ name: String) -> String {
        if let dir = ProcessInfo.processInfo.environment["FULCRUM_SEEDS"], !dir.isEmpty { return dir + "/" + name }
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return here.deletingLastPathComponent().appendingPathComponent("shared/seed-configs/\(name)").path
    }

    func loadSeed(_ name: String) throws -> KeepalivedLoadResult {
        let path = seedPath(name)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return loader().load(text: text, file: name)
    }

    /// keepalived 2.2.7 on the seed master: the two zero intervals, the missing interface (and ours: nopreempt with MASTER).
    func testSeedMaster() throws {
        let r = try loadSeed("keepalived-master.conf")
        XCTAssertEqual(messages(r), [
            "(keepalived-master.conf: Line 6) number '0' outside range [0.000001, 4294.967295]",
            "(keepalived-master.conf: Line 6) vrrp_garp_interval '0' is invalid",
            "(keepalived-master.conf: Line 7) number '0' outside range [0.000001, 4294.967295]",
            "(keepalived-master.conf: Line 7) vrrp_gna_interval '0' is invalid",
            "(keepalived-master.conf: Line 16) WARNING - interface eno3 for vrrp_instance VI_1 doesn't exist",
            "(VI_1) 'nopreempt' has no effect with 'state MASTER' (keepalived silently clears it): use 'state BACKUP' on both nodes for nopreempt to work.",
            "Non-existent interface specified in configuration",
            "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
        ])
        XCTAssertEqual(r.exitStatus, 5)
        let v = try XCTUnwrap(r.config.instances.first)
        XCTAssertEqual(v.state, .master)
        XCTAssertEqual(v.interface, "eno3")
        XCTAssertEqual(v.virtualRouterID, 152)
        XCTAssertEqual(v.priority, 100)
        XCTAssertTrue(v.nopreempt)
        XCTAssertEqual(v.unicastSourceIP, "10.122.64.166")
        XCTAssertEqual(v.unicastPeers, ["10.122.64.191"])
        XCTAssertEqual(v.authType, "PASS")
        XCTAssertEqual(v.authPass, "passAI")
        XCTAssertEqual(v.virtualIPs, [VirtualIP(address: "10.122.64.129", prefix: 24, isIPv6: false, device: nil, label: nil)])
        XCTAssertEqual(v.trackScripts, [TrackedScript(name: "chk_haproxy", weight: nil)])
        XCTAssertEqual(r.config.scripts.first?.script, "/usr/bin/killall -0 haproxy")
        XCTAssertEqual(r.config.scripts.first?.weight, -4)
        XCTAssertEqual(r.config.scripts.first?.interval, 2)
        XCTAssertEqual(r.config.globalDefs.routerID, "LVS_DEVEL")
        XCTAssertTrue(r.config.globalDefs.skipCheckAdvAddr)
    }

    func testSeedBackupAndEmail() throws {
        let b = try loadSeed("keepalived-backup.conf")
        XCTAssertTrue(messages(b).contains("(keepalived-backup.conf: Line 16) WARNING - interface eno1 for vrrp_instance VI_1 doesn't exist"))
        XCTAssertEqual(b.config.instances.first?.priority, 99)
        XCTAssertEqual(b.config.instances.first?.state, .backup)
        let e = try loadSeed("keepalived-email.conf")
        XCTAssertEqual(messages(e), [
            "(keepalived-email.conf: Line 31) Truncating auth_pass to 8 characters",
            "Non-existent interface specified in configuration",
            "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
        ].filter { !$0.hasPrefix("Non-existent") })
        XCTAssertEqual(e.config.instances.first?.authPass, "myPassw0")
        XCTAssertEqual(e.config.globalDefs.notificationEmail, ["your@emailaddress.com"])
        XCTAssertEqual(e.config.globalDefs.notificationEmailFrom, "loadb01@domain.ext")
        XCTAssertEqual(e.config.globalDefs.smtpServer, "127.0.0.1")
        XCTAssertEqual(e.config.globalDefs.smtpConnectTimeout, 15)
        XCTAssertEqual(e.config.instances.first?.smtpAlert, true)
        XCTAssertEqual(e.exitStatus, 6, "keepalived -t exits 6 for scripts without script security")
    }

    func testKeepalivedsRangeMessages() {
        let text = """
        global_defs {
          vrrp_garp_interval abc
          vrrp_version 4
        }
        vrrp_script s {
          script "/bin/true"
          interval 0
          weight 300
        }
        vrrp_instance VI_1 {
          state MASTER
          interface lo
          virtual_router_id 256
          priority 300
          advert_int 0
          virtual_ipaddress {
            10.0.0.300/24
          }
          track_script {
            nosuch
          }
          bogus_kw 3
        }
        """
        let r = loader().load(text: text, file: "k.conf")
        XCTAssertEqual(messages(r), [
            "(k.conf: Line 2) invalid number 'abc'",
            "(k.conf: Line 2) vrrp_garp_interval 'abc' is invalid",
            "(k.conf: Line 3) number '4' outside range [2, 3]",
            "(k.conf: Line 3) VRRP Error: Version must be either 2 or 3",
            "(k.conf: Line 7) (s): vrrp script interval must be greater than 0, setting to 1",
            "(k.conf: Line 8) number '300' outside range [-253, 253]",
            "(k.conf: Line 8) vrrp_script s weight 300 must be in [-253, 253]",
            "(k.conf: Line 12) (VI_1) cannot use a loopback interface (lo) for vrrp - ignoring",
            "(k.conf: Line 13) number '256' outside range [1, 255]",
            "(k.conf: Line 13) (VI_1): VRID '256' not valid - must be between 1 & 255",
            "(k.conf: Line 14) number '300' outside range [1, 255]",
            "(k.conf: Line 14) (VI_1) Priority not valid! must be between 1 & 255. Using default 100",
            "(k.conf: Line 15) number '0' outside range [0.010000, 255.000000]",
            "(k.conf: Line 15) (VI_1) Advert interval (0) not valid! Must be > 0 - ignoring",
            "(k.conf: Line 17) VRRP parsed invalid IP 10.0.0.300/24. skipping IP...",
            "(k.conf: Line 22) Unknown keyword 'bogus_kw'",
            "(VI_1) track script nosuch not found, ignoring...",
            "(VI_1) Unknown interface!",
            "(VI_1) the virtual router id must be set",
        ])
    }

    func testIncludeCommentsQuotesAndIPv6() {
        let files = [
            "/etc/k/keepalived.conf": "! main\ninclude conf.d/*.conf # the instances\n",
            "/etc/k/conf.d/a.conf": "vrrp_instance A {\n interface eth0 ; \n virtual_router_id 1\n dont_track_primary\n track_interface {\n  eth1\n }\n virtual_ipaddress {\n  fd00::10/64 dev eth0 label eth0:vip\n  192.0.2.1\n }\n notify_master \"/usr/local/bin/notify master\"\n}\n",
            "/etc/k/conf.d/b.conf": "vrrp_sync_group G {\n group {\n  A\n }\n}\n",
        ]
        let r = loader(files: files).load(path: "/etc/k/keepalived.conf")
        XCTAssertEqual(r.config.instances.map(\.name), ["A"])
        XCTAssertEqual(r.config.instances.first?.virtualIPs, [
            VirtualIP(address: "fd00::10", prefix: 64, isIPv6: true, device: "eth0", label: "eth0:vip"),
            VirtualIP(address: "192.0.2.1", prefix: 32, isIPv6: false, device: nil, label: nil),
        ])
        XCTAssertEqual(r.config.instances.first?.notifyMaster, "/usr/local/bin/notify master")
        XCTAssertEqual(r.config.syncGroups.first?.members, ["A"])
        XCTAssertEqual(r.config.instances.first?.dontTrackPrimary, true)
        XCTAssertEqual(r.config.instances.first?.trackInterfaces, ["eth1"])
    }

    func testNopreemptBackupWithWeightOnlyTrackingIsExplained() {
        let text = """
        vrrp_script chk { \n script "pidof fulcrum"\n weight -4\n}
        vrrp_instance VI_1 {
          state BACKUP
          interface eth0
          virtual_router_id 7
          nopreempt
          track_script {
            chk
          }
        }
        """
        let r = loader().load(text: text, file: "k.conf")
        XCTAssertTrue(messages(r).contains { $0.contains("'nopreempt' BACKUP with tracking only by 'weight'") }, "\(messages(r))")
    }

    func testCommandLine() throws {
        XCTAssertEqual(try VRRPOptions.parse(["-t", "-f", "/x.conf"]).configFile, "/x.conf")
        XCTAssertEqual(try VRRPOptions.parse(["-f/y.conf", "-n", "-D", "-P", "-l", "-p", "/run/k.pid"]),
                       { var o = VRRPOptions(); o.configFile = "/y.conf"; o.foreground = true; o.detailedLog = true
                         o.vrrpOnly = true; o.logConsole = true; o.pidFile = "/run/k.pid"; return o }())
        XCTAssertThrowsError(try VRRPOptions.parse(["-Z"]))
    }
}

/// Minimal `*` glob for the in-memory files of the tests.
private func matches(_ path: String, _ pattern: String) -> Bool {
    guard let star = pattern.firstIndex(of: "*") else { return path == pattern }
    let prefix = pattern[..<star], suffix = pattern[pattern.index(after: star)...]
    return path.hasPrefix(prefix) && path.hasSuffix(suffix) && !path.dropFirst(prefix.count).dropLast(suffix.count).contains("/")
}
