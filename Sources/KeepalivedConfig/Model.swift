// keepalived.conf as a typed model (pure Swift, no I/O): what `fulcrum-vrrp` runs.

public struct KeepalivedDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: Sendable, Hashable { case error, warning }
    public var severity: Severity
    public var message: String
    public var file: String?
    public var line: Int?
    public init(_ severity: Severity, _ message: String, file: String?, line: Int?) {
        self.severity = severity
        self.message = message
        self.file = file
        self.line = line
    }
    /// keepalived's form, always with the file: `(keepalived.conf: Line 6) message`.
    public var description: String {
        guard let line else { return message }
        return "(\(file ?? "?"): Line \(line)) \(message)"
    }
}

public struct GlobalDefs: Sendable, Hashable {
    public var routerID: String?
    public var notificationEmail: [String] = []
    public var notificationEmailFrom: String?
    public var smtpServer: String?
    public var smtpPort: Int = 25
    public var smtpConnectTimeout: Int = 30
    public var skipCheckAdvAddr = false
    public var garpInterval: Double?
    public var gnaInterval: Double?
    public var garpMasterDelay: Int = 5
    public var garpMasterRepeat: Int = 5
    public var enableScriptSecurity = false
    public var scriptUser: String?
    public var vrrpVersion: Int = 2
    public init() {}
}

public struct VRRPScript: Sendable, Hashable {
    public var name: String
    public var script: String?
    public var interval: Double = 1
    public var timeout: Double?
    public var weight: Int = 0
    public var rise: Int = 1
    public var fall: Int = 1
    public var user: String?
    public var line: Int
    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

public struct VirtualIP: Sendable, Hashable {
    public var address: String
    public var prefix: Int
    public var isIPv6: Bool
    public var device: String?
    public var label: String?
    public init(address: String, prefix: Int, isIPv6: Bool, device: String?, label: String?) {
        self.address = address
        self.prefix = prefix
        self.isIPv6 = isIPv6
        self.device = device
        self.label = label
    }
}

public struct TrackedScript: Sendable, Hashable {
    public var name: String
    /// `weight N` on the track_script line overrides the script's weight.
    public var weight: Int?
    public init(name: String, weight: Int?) {
        self.name = name
        self.weight = weight
    }
}

public struct VRRPInstance: Sendable, Hashable {
    public enum InitialState: String, Sendable, Hashable { case master = "MASTER", backup = "BACKUP" }
    public var name: String
    public var state: InitialState = .backup
    public var interface: String?
    public var virtualRouterID: Int?
    public var priority: Int = 100
    public var advertInterval: Double = 1
    public var nopreempt = false
    public var preemptDelay: Double = 0
    public var unicastSourceIP: String?
    public var unicastPeers: [String] = []
    public var authType: String?
    /// At most 8 characters, as keepalived truncates it.
    public var authPass: String?
    public var virtualIPs: [VirtualIP] = []
    public var trackScripts: [TrackedScript] = []
    public var trackInterfaces: [String] = []
    /// `dont_track_primary`: the instance's own interface going down does not mean FAULT.
    public var dontTrackPrimary = false
    public var smtpAlert = false
    public var notifyMaster: String?
    public var notifyBackup: String?
    public var notifyFault: String?
    public var notifyStop: String?
    public var notify: String?
    public var garpMasterDelay: Int?
    public var version: Int?
    public var line: Int
    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

public struct VRRPSyncGroup: Sendable, Hashable {
    public var name: String
    public var members: [String] = []
    public init(name: String) { self.name = name }
}

public struct KeepalivedConfig: Sendable, Hashable {
    public var globalDefs = GlobalDefs()
    public var scripts: [VRRPScript] = []
    public var instances: [VRRPInstance] = []
    public var syncGroups: [VRRPSyncGroup] = []
    public init() {}
}

public struct KeepalivedLoadResult: Sendable {
    public var config: KeepalivedConfig
    public var diagnostics: [KeepalivedDiagnostic]
    /// keepalived -t's exit status: 5 configuration errors, 6 scripts without script security, else 0.
    public var exitStatus: Int32 {
        if diagnostics.contains(where: { $0.severity == .error }) { return 5 }
        if diagnostics.contains(where: { $0.message.hasPrefix("SECURITY VIOLATION") }) { return 6 }
        return 0
    }
}
