// The VRRP daemon's run loop: one thread, poll(2) on the VRRP socket with the state machine's
// deadline and the trackers' as timeout. Signals: SIGTERM/SIGINT stop gracefully (priority 0).

import KeepalivedConfig
import VRRP

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// `/bin/sh -c COMMAND` in the background (scripts and notifications); nil if it cannot start.
func spawnShell(_ command: String) -> pid_t? {
    var pid: pid_t = 0
    let args: [String] = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    return posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 ? pid : nil
}

func monotonicNow() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
}

func milliseconds(_ d: Duration) -> Int {
    let (s, attos) = d.components
    return Int(s) * 1000 + Int(attos / 1_000_000_000_000_000)
}

/// A `vrrp_script` run on its interval with its timeout, judged with rise/fall.
final class ScriptTracker {
    let script: VRRPScript
    let weight: Int
    private(set) var ok = true
    private var passes = 0, failures = 0
    private var child: pid_t = 0
    private var startedAt: Duration = .zero
    var nextRun: Duration

    /// Set when the script only checks that a process is alive: watched natively (pidfd).
    let watch: ProcessWatch?

    init(script: VRRPScript, weight: Int, now: Duration) {
        self.script = script
        self.weight = weight
        nextRun = now
        watch = script.script.flatMap(ProcessWatch.processName(inScript:)).map { ProcessWatch(name: $0) }
        if let watch { ok = watch.alive }
    }

    /// Starts the script when due, reaps it when done; returns true when `ok` changed.
    func poll(now: Duration) -> Bool {
        if let watch {
            // Native: a signal-0 probe every 50 ms (no fork).
            guard now >= nextRun else { return false }
            nextRun = now + .milliseconds(50)
            _ = watch.check()
            let before = ok
            ok = watch.alive
            return ok != before
        }
        if child > 0 {
            var status: Int32 = 0
            let r = waitpid(child, &status, WNOHANG)
            if r == child {
                child = 0
                return record((status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0)
            }
            let timeout = Duration.milliseconds(Int((script.timeout ?? script.interval) * 1000))
            if now - startedAt >= timeout {
                kill(child, SIGKILL)
                waitpid(child, &status, 0)
                child = 0
                return record(false)
            }
            return false
        }
        guard now >= nextRun, let command = script.script else { return false }
        nextRun = now + .milliseconds(Int(script.interval * 1000))
        startedAt = now
        guard let pid = spawnShell(command) else { return record(false) }
        child = pid
        return false
    }

    private func record(_ passed: Bool) -> Bool {
        let before = ok
        if passed {
            failures = 0
            passes += 1
            if !ok && passes >= script.rise { ok = true }
        } else {
            passes = 0
            failures += 1
            if ok && failures >= script.fall { ok = false }
        }
        return ok != before
    }

    /// This tracker's contribution to the priority (keepalived: positive weights add while OK,
    /// negative ones subtract while failing).
    var priorityDelta: Int {
        if weight > 0 { return ok ? weight : 0 }
        return ok ? 0 : weight
    }

    var faults: Bool { weight == 0 && !ok }

    var nextEvent: Duration {
        if watch != nil { return nextRun }
        return child > 0 ? startedAt + .milliseconds(20) : nextRun
    }
}

public final class VRRPDaemon {
    let config: KeepalivedConfig
    let instance: VRRPInstance
    let log: (String) -> Void
    var machine: VRRPMachine
    let socket: VRRPSocket
    let vips: [VirtualIP]
    let authData: [UInt8]
    var trackers: [ScriptTracker] = []
    var faultReported = false
    var notifyChildren: [pid_t] = []
    /// The instance's interface (unless `dont_track_primary`) and `track_interface` ones.
    let links: LinkMonitor
    var linkFault = false

    public init(config: KeepalivedConfig, instance: VRRPInstance, log: @escaping (String) -> Void) throws {
        self.config = config
        self.instance = instance
        self.log = log
        guard let interface = instance.interface, let vrid = instance.virtualRouterID else {
            throw DaemonError("(\(instance.name)) needs an interface and a virtual_router_id")
        }
        let source = instance.unicastSourceIP.flatMap(ipv4Bytes) ?? []
        let peers = instance.unicastPeers.compactMap(ipv4Bytes)
        socket = try VRRPSocket(interface: interface, source: source, unicastPeers: peers)
        vips = instance.virtualIPs.filter { !$0.isIPv6 }
        authData = instance.authType == "PASS" ? VRRPAdvertisement.passData(instance.authPass ?? "") : []
        let version = instance.version ?? config.globalDefs.vrrpVersion
        machine = VRRPMachine(VRRPSettings(
            virtualRouterID: vrid, priority: instance.priority, advertInterval: Int((instance.advertInterval * 100).rounded()),
            version: version, preempt: !instance.nopreempt || instance.state == .master,
            preemptDelay: .milliseconds(Int(instance.preemptDelay * 1000)), startAsMaster: instance.state == .master,
            localAddress: source))
        links = LinkMonitor(interfaces: (instance.dontTrackPrimary ? [] : [interface]) + instance.trackInterfaces.filter { $0 != interface })
        let now = monotonicNow()
        for t in instance.trackScripts {
            guard let s = config.scripts.first(where: { $0.name == t.name }) else { continue }
            trackers.append(ScriptTracker(script: s, weight: t.weight ?? s.weight, now: now))
        }
    }

    public func run() -> Int32 {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in stopRequested = 1 }
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
        perform(machine.start(now: monotonicNow()))
        updateLinkFault(now: monotonicNow())
        for t in trackers {
            if let w = t.watch {
                log("VRRP_Script(\(t.script.name)) watches process '\(w.name)' natively: its death is noticed within 50 ms, not every \(t.script.interval)s")
            }
        }
        while stopRequested == 0 {
            let now = monotonicNow()
            var next = machine.deadline ?? now + .seconds(1)
            for t in trackers { next = min(next, t.nextEvent) }
            var pfds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                        pollfd(fd: links.fd, events: Int16(POLLIN), revents: 0)]
            let wait = max(0, milliseconds(next - now))
            let r = poll(&pfds, nfds_t(pfds.count), Int32(min(wait, 1000)))
            let after = monotonicNow()
            if r > 0 && pfds[1].revents != 0 && links.poll() { updateLinkFault(now: after) }
            if r > 0 && pfds[0].revents != 0 { receivePackets(now: after) }
            if let d = machine.deadline, after >= d { perform(machine.timerFired(now: after)) }
            pollTrackers(now: after)
            notifyChildren.removeAll { pid in var st: Int32 = 0; return waitpid(pid, &st, WNOHANG) == pid }
        }
        perform(machine.shutdown(now: monotonicNow()))
        for v in vips { removeAddress(v) }
        log("Stopped - used 0.000000 user time, 0.000000 system time")
        return 0
    }

    /// A tracked link down puts the instance in FAULT (keepalived: "Entering FAULT STATE").
    func updateLinkFault(now: Duration) {
        let fault = !links.down.isEmpty
        guard fault != linkFault else { return }
        linkFault = fault
        for name in links.down { log("(\(instance.name)) Interface \(name) is down") }
        if fault || !faultReported {
            perform(machine.setFault(fault, now: now, reason: fault ? "link down: \(links.down.sorted().joined(separator: ", "))" : "links up"))
        }
    }

    func pollTrackers(now: Duration) {
        var changed = false
        for t in trackers where t.poll(now: now) {
            changed = true
            log("Script `\(t.script.name)` now returning \(t.ok ? 0 : 1)")
            log(t.ok ? "VRRP_Script(\(t.script.name)) succeeded" : "VRRP_Script(\(t.script.name)) failed")
        }
        guard changed else { return }
        let fault = trackers.contains { $0.faults }
        if fault != faultReported {
            faultReported = fault
            if fault || !linkFault {
                perform(machine.setFault(fault, now: now, reason: fault ? "tracked script failed" : "tracked scripts recovered"))
            }
        }
        let priority = instance.priority + trackers.reduce(0) { $0 + $1.priorityDelta }
        if priority != machine.effectivePriority {
            log("(\(instance.name)) Changing effective priority from \(machine.effectivePriority) to \(max(1, min(254, priority)))")
            perform(machine.setEffectivePriority(priority, now: now))
        }
        // Beyond keepalived: a MASTER whose natively watched proxy died resigns at once
        // (priority-0 advert), so the BACKUP takes over after Skew_Time, not Master_Down_Interval.
        if trackers.contains(where: { $0.watch != nil && !$0.ok }) && machine.state == .master {
            perform(machine.resign(now: now, reason: "tracked proxy process gone"))
        }
    }

    func receivePackets(now: Duration) {
        while let (source, ttl, payload) = socket.receive() {
            if !socket.source.isEmpty && source == socket.source { continue }
            guard ttl == 255 else {
                log("(\(instance.name)) invalid TTL/HL. Received \(ttl) and expect 255")
                continue
            }
            let version = instance.version ?? config.globalDefs.vrrpVersion
            let ad: VRRPAdvertisement
            do throws(VRRPDecodeError) {
                ad = try VRRPCodec.decode(payload, source: source, destination: socket.destinations.first ?? [])
            } catch {
                log("(\(instance.name)) ignoring a malformed VRRP packet from \(ipv4String(source)): \(error)")
                continue
            }
            guard ad.virtualRouterID == machine.settings.virtualRouterID else { continue }
            if ad.version != version { log("(\(instance.name)) received a VRRPv\(ad.version) packet, expecting v\(version)"); continue }
            if version == 2 && instance.authType == "PASS" && (ad.authType != 1 || ad.authData != authData) {
                log("(\(instance.name)) bad authentication from \(ipv4String(source)): received an invalid passwd!")
                continue
            }
            perform(machine.received(ad, from: source, now: now))
        }
    }

    func perform(_ actions: [VRRPAction]) {
        for a in actions {
            switch a {
            case .sendAdvertisement(let priority):
                let ad = VRRPAdvertisement(version: machine.settings.version, virtualRouterID: machine.settings.virtualRouterID,
                                           priority: priority, advertIntervalCentiseconds: machine.settings.advertInterval,
                                           addresses: vips.compactMap { ipv4Bytes($0.address) },
                                           authType: authData.isEmpty ? 0 : 1, authData: authData)
                for d in socket.destinations {
                    socket.send(VRRPCodec.encode(ad, source: socket.source, destination: d))
                }
            case .takeAddresses:
                for v in vips { addAddress(v) }
                let repeatCount = max(1, config.globalDefs.garpMasterRepeat)
                for v in vips {
                    guard let bytes = ipv4Bytes(v.address) else { continue }
                    for _ in 0..<repeatCount {
                        GratuitousARP.send(interface: v.device ?? instance.interface!, interfaceIndex: interfaceIndex(v), address: bytes)
                    }
                }
            case .releaseAddresses:
                for v in vips { removeAddress(v) }
            case let .stateChanged(_, to, reason):
                log("(\(instance.name)) Entering \(to.rawValue) STATE (\(reason))")
                notify(to)
                mail(to)
            }
        }
    }

    /// `smtp_alert`: keepalived's mail to `notification_email` through `smtp_server`.
    func mail(_ state: VRRPState) {
        let g = config.globalDefs
        guard instance.smtpAlert, let server = g.smtpServer, !g.notificationEmail.isEmpty, state != .initialize else { return }
        let (subject, body) = Mailer.message(routerID: g.routerID ?? "fulcrum-vrrp", instance: instance.name, state: state.rawValue)
        Mailer.send(MailJob(server: server, port: g.smtpPort, timeout: g.smtpConnectTimeout,
                            from: g.notificationEmailFrom ?? "keepalived@localhost", to: g.notificationEmail,
                            subject: subject, body: body, log: log))
    }

    func interfaceIndex(_ v: VirtualIP) -> Int32 { Int32(if_nametoindex(v.device ?? instance.interface!)) }

    func addAddress(_ v: VirtualIP) {
        guard let bytes = ipv4Bytes(v.address) else { return }
        do { try Netlink.change(add: true, interfaceIndex: interfaceIndex(v), address: bytes, prefix: v.prefix, label: v.label) }
        catch { log("(\(instance.name)) cannot add \(v.address)/\(v.prefix): \(error)") }
    }

    func removeAddress(_ v: VirtualIP) {
        guard let bytes = ipv4Bytes(v.address) else { return }
        do { try Netlink.change(add: false, interfaceIndex: interfaceIndex(v), address: bytes, prefix: v.prefix, label: v.label) }
        catch { log("(\(instance.name)) cannot remove \(v.address)/\(v.prefix): \(error)") }
    }

    /// keepalived's notify scripts: `notify_master` etc. with no arguments, `notify` with
    /// "INSTANCE" NAME STATE PRIORITY.
    func notify(_ state: VRRPState) {
        let specific: String? = switch state {
        case .master: instance.notifyMaster
        case .backup: instance.notifyBackup
        case .fault: instance.notifyFault
        case .initialize: instance.notifyStop
        }
        var commands: [String] = specific.map { [$0] } ?? []
        let name = state == .initialize ? "STOP" : state.rawValue
        if let generic = instance.notify { commands.append("\(generic) INSTANCE \(instance.name) \(name) \(machine.effectivePriority)") }
        for c in commands {
            if let pid = spawnShell(c) { notifyChildren.append(pid) }
        }
    }
}

public struct DaemonError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
