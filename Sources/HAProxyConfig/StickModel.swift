// Stick tables, stick counters and stickiness in the model: `stick-table`, `tcp-request
// connection|session|content`, `http-request track-sc*|sc-inc-gpc0|sc-set-gpt0` and
// `stick on|match|store-request`.

import Stickiness

/// `stick-table type T [len N] size N [expire T] [nopurge] [store D,...]` (the table is named
/// after its proxy).
public struct StickTableConfig: Sendable, Hashable {
    public var type: StickKeyType
    public var keyLength: Int
    public var size: Int
    /// ms; nil: no expiry.
    public var expire: Int64?
    public var nopurge: Bool
    public var store: StickStore
    public var location: SourceLocation

    public init(type: StickKeyType, keyLength: Int, size: Int, expire: Int64?, nopurge: Bool, store: StickStore,
                location: SourceLocation) {
        self.type = type
        self.keyLength = keyLength
        self.size = size
        self.expire = expire
        self.nopurge = nopurge
        self.store = store
        self.location = location
    }
}

/// What a rule does with a stick counter (`sc0`..`sc2`).
public enum StickCounterAction: Sendable, Hashable {
    /// `track-scN <expr> [table T]` (nil table: the rule's own proxy's).
    case track(slot: Int, expression: String, table: String?)
    /// `sc-inc-gpc0(N)` / `sc-inc-gpc1(N)`.
    case incGPC(slot: Int, index: Int)
    /// `sc-set-gpt0(N) <int|expr>`.
    case setGPT0(slot: Int, value: String)

    public var slot: Int {
        switch self {
        case let .track(slot, _, _), let .incGPC(slot, _), let .setGPT0(slot, _): slot
        }
    }
}

/// A `tcp-request connection|session|content` rule.
public struct TCPRequestRule: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable { case connection, session, content }
    public enum Action: Sendable, Hashable {
        case accept, reject
        case counter(StickCounterAction)
        case variable(VariableAction)
    }
    public var phase: Phase
    public var action: Action
    public var condition: [String]?
    public var location: SourceLocation

    public init(phase: Phase, action: Action, condition: [String]?, location: SourceLocation) {
        self.phase = phase
        self.action = action
        self.condition = condition
        self.location = location
    }
}

/// `set-var(NAME) EXPR`, `set-var-fmt(NAME) FMT`, `unset-var(NAME)` of `tcp-request` and
/// `tcp-response` rules (the name checked, the expression or format as written).
public enum VariableAction: Sendable, Hashable {
    case set(name: String, expression: String)
    case setFormat(name: String, format: String)
    case unset(name: String)
}

/// A `tcp-response content` rule (backends and listens).
public struct TCPResponseRule: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        case accept, reject, close
        case variable(VariableAction)
        /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-set-gpt0(N) V` on the counters the stream tracks.
        case counter(StickCounterAction)
    }
    public var action: Action
    public var condition: [String]?
    public var location: SourceLocation

    public init(action: Action, condition: [String]?, location: SourceLocation) {
        self.action = action
        self.condition = condition
        self.location = location
    }
}

/// `stick on|match|store-request <expr> [table T] [if|unless cond]`.
public struct StickRule: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case on, match, storeRequest = "store-request", storeResponse = "store-response"
    }
    public var kind: Kind
    public var expression: String
    /// nil: the backend's own table.
    public var table: String?
    public var condition: [String]?
    public var location: SourceLocation

    public var matches: Bool { kind == .on || kind == .match }
    /// Stores at request time (`on`, `store-request`); `store-response` stores from the response.
    public var stores: Bool { kind == .on || kind == .storeRequest }

    public init(kind: Kind, expression: String, table: String?, condition: [String]?, location: SourceLocation) {
        self.kind = kind
        self.expression = expression
        self.table = table
        self.condition = condition
        self.location = location
    }
}
