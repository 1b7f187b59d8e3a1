// The VRRP state machine (RFC 3768 §6.4, RFC 5798 §6.4) with keepalived's knobs: `state MASTER`
// start, `nopreempt`, `preempt_delay`, priority 0 on shutdown, FAULT for tracked failures.
// Pure and driven by the caller's clock (`now` as a Duration since any origin), so tests run it
// with a test clock; the daemon feeds it real time, packets and tracker results.

public enum VRRPState: String, Sendable, Hashable { case initialize = "INIT", backup = "BACKUP", master = "MASTER", fault = "FAULT" }

public struct VRRPSettings: Sendable, Hashable {
    public var virtualRouterID: Int
    /// Configured priority (255 = address owner).
    public var priority: Int
    /// Advertisement interval in centiseconds.
    public var advertInterval: Int
    public var version: Int
    public var preempt: Bool
    /// keepalived's `preempt_delay`: how long a higher-priority backup waits before preempting.
    public var preemptDelay: Duration
    /// `state MASTER`: go MASTER at start instead of waiting for the master-down timer.
    public var startAsMaster: Bool
    /// This router's primary address (the tie-break on equal priorities: higher address wins).
    public var localAddress: [UInt8]

    public init(virtualRouterID: Int, priority: Int, advertInterval: Int = 100, version: Int = 2, preempt: Bool = true,
                preemptDelay: Duration = .zero, startAsMaster: Bool = false, localAddress: [UInt8]) {
        self.virtualRouterID = virtualRouterID
        self.priority = priority
        self.advertInterval = advertInterval
        self.version = version
        self.preempt = preempt
        self.preemptDelay = preemptDelay
        self.startAsMaster = startAsMaster
        self.localAddress = localAddress
    }
}

/// What the daemon must do after an event.
public enum VRRPAction: Sendable, Hashable {
    case sendAdvertisement(priority: Int)
    /// Add the virtual addresses and announce them (gratuitous ARP / unsolicited NA).
    case takeAddresses
    case releaseAddresses
    case stateChanged(from: VRRPState, to: VRRPState, reason: String)
}

public struct VRRPMachine: Sendable {
    public let settings: VRRPSettings
    public private(set) var state: VRRPState = .initialize
    /// Priority after tracking (`weight`s); 255 stays 255.
    public private(set) var effectivePriority: Int
    /// The master's advertisement interval learnt from its adverts (v3), in centiseconds.
    public private(set) var masterAdverInterval: Int
    /// When the next timer fires (advert timer as MASTER, master-down timer as BACKUP).
    public private(set) var deadline: Duration?
    /// A lower-priority master seen while preempting is delayed (`preempt_delay`).
    private var preemptAt: Duration?

    public init(_ settings: VRRPSettings) {
        self.settings = settings
        effectivePriority = settings.priority
        masterAdverInterval = settings.advertInterval
    }

    static func cs(_ centiseconds: Int) -> Duration { .milliseconds(centiseconds * 10) }

    /// Skew_Time: ((256 - Priority) × Master_Adver_Interval) / 256 (v3); (256 - Priority) / 256 s (v2).
    public var skewTime: Duration {
        if settings.version == 3 { return Self.cs((256 - effectivePriority) * masterAdverInterval) / 256 }
        return Duration.milliseconds(1000 * (256 - effectivePriority)) / 256
    }

    /// Master_Down_Interval: 3 × advertisement interval + Skew_Time.
    public var masterDownInterval: Duration {
        let interval = settings.version == 3 ? masterAdverInterval : settings.advertInterval
        return Self.cs(interval) * 3 + skewTime
    }

    private mutating func move(to new: VRRPState, reason: String, _ actions: inout [VRRPAction]) {
        guard new != state else { return }
        actions.append(.stateChanged(from: state, to: new, reason: reason))
        if state == .master { actions.append(.releaseAddresses) }
        state = new
    }

    private mutating func becomeMaster(now: Duration, reason: String) -> [VRRPAction] {
        var actions: [VRRPAction] = []
        move(to: .master, reason: reason, &actions)
        actions.append(.sendAdvertisement(priority: effectivePriority))
        actions.append(.takeAddresses)
        deadline = now + Self.cs(settings.advertInterval)
        preemptAt = nil
        return actions
    }

    private mutating func becomeBackup(now: Duration, reason: String) -> [VRRPAction] {
        var actions: [VRRPAction] = []
        move(to: .backup, reason: reason, &actions)
        deadline = now + masterDownInterval
        return actions
    }

    /// Startup: the address owner (255) or `state MASTER` becomes MASTER, else BACKUP.
    public mutating func start(now: Duration) -> [VRRPAction] {
        if effectivePriority == 255 { return becomeMaster(now: now, reason: "address owner (priority 255)") }
        if settings.startAsMaster { return becomeMaster(now: now, reason: "initial state MASTER") }
        return becomeBackup(now: now, reason: "initial state BACKUP")
    }

    /// The timer fired (call when `now >= deadline`).
    public mutating func timerFired(now: Duration) -> [VRRPAction] {
        guard let deadline, now >= deadline else { return [] }
        switch state {
        case .master:
            self.deadline = now + Self.cs(settings.advertInterval)
            return [.sendAdvertisement(priority: effectivePriority)]
        case .backup:
            if let preemptAt, now < preemptAt {
                self.deadline = preemptAt
                return []
            }
            return becomeMaster(now: now, reason: preemptAt != nil ? "preempting a lower-priority master" : "no advertisement for Master_Down_Interval")
        default:
            return []
        }
    }

    /// An advertisement for our VRID, already authenticated. `source` is the sender's address.
    public mutating func received(_ ad: VRRPAdvertisement, from source: [UInt8], now: Duration) -> [VRRPAction] {
        guard ad.virtualRouterID == settings.virtualRouterID else { return [] }
        switch state {
        case .backup:
            if ad.priority == 0 {
                // The master resigns: take over after Skew_Time only.
                deadline = now + skewTime
                return []
            }
            if settings.version == 3 { masterAdverInterval = ad.advertIntervalCentiseconds }
            if !settings.preempt || ad.priority >= effectivePriority {
                preemptAt = nil
                deadline = now + masterDownInterval
                return []
            }
            // A lower-priority master: preempt (after `preempt_delay` when set). The RFC lets the
            // Master_Down_Timer run out (3 adverts + skew after the last accepted advert); we take
            // over after Skew_Time, like a master resigning: the old master steps down on our first
            // (higher-priority) advert. With a weight-tracked proxy this saves up to 3 s.
            if settings.preemptDelay > .zero {
                if preemptAt == nil { preemptAt = now + settings.preemptDelay }
                deadline = max(deadline ?? now, preemptAt!)
            } else {
                preemptAt = now
                deadline = min(deadline ?? now + skewTime, now + skewTime)
            }
            return []
        case .master:
            if ad.priority == 0 {
                deadline = now + Self.cs(settings.advertInterval)
                return [.sendAdvertisement(priority: effectivePriority)]
            }
            let higher = ad.priority > effectivePriority
                || (ad.priority == effectivePriority && source.lexicographicallyPrecedes(settings.localAddress) == false
                    && source != settings.localAddress)
            if higher {
                if settings.version == 3 { masterAdverInterval = ad.advertIntervalCentiseconds }
                return becomeBackup(now: now, reason: "higher priority advertisement (\(ad.priority))")
            }
            return []
        default:
            return []
        }
    }

    /// Tracking changed the priority (scripts with `weight`); clamped to 1...254 unless owner.
    public mutating func setEffectivePriority(_ p: Int, now: Duration) -> [VRRPAction] {
        guard settings.priority != 255 else { return [] }
        effectivePriority = max(1, min(254, p))
        if state == .master {
            // Advertise the new priority at once so that a higher backup can preempt.
            deadline = now + Self.cs(settings.advertInterval)
            return [.sendAdvertisement(priority: effectivePriority)]
        }
        return []
    }

    /// A tracked interface or a weight-less script failed (`true`) or recovered.
    public mutating func setFault(_ fault: Bool, now: Duration, reason: String) -> [VRRPAction] {
        var actions: [VRRPAction] = []
        if fault {
            if state == .master { actions.append(.sendAdvertisement(priority: 0)) }
            move(to: .fault, reason: reason, &actions)
            deadline = nil
            return actions
        }
        guard state == .fault else { return [] }
        return becomeBackup(now: now, reason: reason)
    }

    /// A MASTER steps down at once (priority-0 advert) and stays BACKUP; the peer takes over
    /// after Skew_Time. Used when the service the VIP fronts is gone.
    public mutating func resign(now: Duration, reason: String) -> [VRRPAction] {
        guard state == .master else { return [] }
        var actions: [VRRPAction] = [.sendAdvertisement(priority: 0)]
        actions += becomeBackup(now: now, reason: reason)
        return actions
    }

    /// Graceful stop: a MASTER sends priority 0 so the backup takes over after Skew_Time.
    public mutating func shutdown(now: Duration) -> [VRRPAction] {
        var actions: [VRRPAction] = []
        if state == .master { actions.append(.sendAdvertisement(priority: 0)) }
        move(to: .initialize, reason: "shutdown", &actions)
        deadline = nil
        return actions
    }
}
