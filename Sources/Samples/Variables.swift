// HAProxy's variables (`var()`, `set-var`, `unset-var`): names with a scope, a store per session
// for `sess.`/`txn.`/`req.`/`res.` and one process-wide locked store for `proc.`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a variable lives (configuration.txt: "proc", "sess", "txn", "req", "res"; haproxy also
/// knows "check", the health checks' scope).
public enum VariableScope: String, Sendable, CaseIterable {
    case proc, sess, txn, req, res, check
}

/// A checked variable name: `txn.user`, `proc.count`, ...
public struct VariableName: Sendable, Hashable, CustomStringConvertible {
    public let scope: VariableScope
    /// The whole name, scope included (`txn.user`).
    public let fullName: String

    public var description: String { fullName }

    /// Checks a name as haproxy does, with its wording (no trailing period: the callers add it).
    public init(parsing text: String) throws(SampleError) {
        guard !text.isEmpty else { throw SampleError("Empty variable name cannot be accepted") }
        guard let dot = text.firstIndex(of: "."), let scope = VariableScope(rawValue: String(text[..<dot])),
              text.index(after: dot) < text.endIndex
        else {
            throw SampleError("invalid variable name '\(text)'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'")
        }
        let rest = text[text.index(after: dot)...]
        if let bad = rest.firstIndex(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_")) }) {
            throw SampleError("invalid syntax at char '\(rest[bad...])'")
        }
        self.scope = scope
        fullName = text
    }
}

extension VariableName {
    /// The conditions `set-var(NAME,COND...)` and the `set-var` converter accept.
    public static let setConditions = ["ifexists", "ifnotexists", "ifempty", "ifnotempty", "ifset", "ifnotset", "ifgt", "iflt"]

    /// `NAME[,COND...]` of a `set-var`/`set-var-fmt` action: the name and its conditions, checked
    /// as haproxy does (`unknown condition "x"`).
    public static func parseSetting(_ text: String) throws(SampleError) -> (VariableName, [String]) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let name = try VariableName(parsing: parts[0])
        for c in parts.dropFirst() where !setConditions.contains(c) { throw SampleError("unknown condition \"\(c)\"") }
        return (name, Array(parts.dropFirst()))
    }

    /// Whether `new` may replace `current` under `conditions` (all must hold).
    public static func conditionsHold(_ conditions: [String], current: SampleValue?, new: SampleValue) -> Bool {
        for condition in conditions {
            let holds: Bool
            switch condition {
            case "ifexists", "ifset": holds = current != nil
            case "ifnotexists", "ifnotset": holds = current == nil
            case "ifempty", "ifnotempty":
                let empty = if case .string(let s) = new { s.isEmpty } else { false }
                holds = condition == "ifempty" ? empty : !empty
            default:
                if case .int(let old)? = current, case .int(let value) = new {
                    holds = condition == "ifgt" ? old > value : old < value
                } else {
                    holds = true
                }
            }
            if !holds { return false }
        }
        return true
    }
}

/// The variables of one session and its current transaction. Not locked: one session runs on one
/// event loop. `proc.` variables go to `ProcessVariables.shared`.
public final class VariableStore: @unchecked Sendable {
    private var session: [String: SampleValue] = [:]
    /// The `sess.` variables when several stores share them (the streams of one HTTP/2 connection).
    private let sharedSession: SessionVariables?
    private var transaction: [String: SampleValue] = [:]
    private var request: [String: SampleValue] = [:]
    private var response: [String: SampleValue] = [:]
    private let process: ProcessVariables

    public init(process: ProcessVariables = .shared, session: SessionVariables? = nil) {
        self.process = process
        sharedSession = session
    }

    public func get(_ name: VariableName) -> SampleValue? {
        switch name.scope {
        case .proc: process.get(name.fullName)
        case .sess: sharedSession?.values[name.fullName] ?? session[name.fullName]
        case .txn, .check: transaction[name.fullName]
        case .req: request[name.fullName]
        case .res: response[name.fullName]
        }
    }

    public func set(_ name: VariableName, _ value: SampleValue) {
        switch name.scope {
        case .proc: process.set(name.fullName, value)
        case .sess: if let sharedSession { sharedSession.values[name.fullName] = value } else { session[name.fullName] = value }
        case .txn, .check: transaction[name.fullName] = value
        case .req: request[name.fullName] = value
        case .res: response[name.fullName] = value
        }
    }

    public func unset(_ name: VariableName) {
        switch name.scope {
        case .proc: process.set(name.fullName, nil)
        case .sess: if let sharedSession { sharedSession.values[name.fullName] = nil } else { session[name.fullName] = nil }
        case .txn, .check: transaction[name.fullName] = nil
        case .req: request[name.fullName] = nil
        case .res: response[name.fullName] = nil
        }
    }

    /// A new transaction on the same session: `txn.`, `req.` and `res.` start empty, `sess.` stays.
    public func beginTransaction() {
        transaction.removeAll(keepingCapacity: true)
        request.removeAll(keepingCapacity: true)
        response.removeAll(keepingCapacity: true)
    }

    /// The request is processed: `req.` variables are gone.
    public func endRequest() {
        request.removeAll(keepingCapacity: true)
    }

    /// The response is processed: `res.` variables are gone.
    public func endResponse() {
        response.removeAll(keepingCapacity: true)
    }
}

/// The `sess.` variables of a connection whose streams each have their own store (HTTP/2).
/// Not locked: the connection and its streams run on one event loop.
public final class SessionVariables: @unchecked Sendable {
    var values: [String: SampleValue] = [:]

    public init() {}
}

/// The `proc.` variables, shared by every session of the process.
public final class ProcessVariables: @unchecked Sendable {
    public static let shared = ProcessVariables()

    private var values: [String: SampleValue] = [:]
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func get(_ name: String) -> SampleValue? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return values[name]
    }

    public func set(_ name: String, _ value: SampleValue?) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        values[name] = value
    }

    /// For tests and reloads: forget everything.
    public func removeAll() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        values.removeAll()
    }
}

extension SampleSource {
    /// No variables unless the source has a store.
    public var variables: VariableStore? { nil }
}
