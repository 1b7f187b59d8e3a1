// A stick table: entries by key with their counters, expiry (`expire` after the last touch) and
// the `size` limit (when full, the least recently touched entries nobody tracks make room, as
// haproxy purges its oldest ones; `nopurge` refuses the new entry instead). Shared by every event
// loop: all access goes through one short lock. Pure Swift (tests drive the clock).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The counters of one entry (those the table does not store stay unused).
public struct StickCounters: Sendable, Equatable {
    public var serverID: Int32?
    public var gpt0: UInt32 = 0
    public var gpc0: UInt32 = 0
    public var gpc0Rate = FreqCounter()
    public var gpc1: UInt32 = 0
    public var gpc1Rate = FreqCounter()
    public var connCnt: UInt32 = 0
    public var connCur: UInt32 = 0
    public var connRate = FreqCounter()
    public var sessCnt: UInt32 = 0
    public var sessRate = FreqCounter()
    public var httpReqCnt: UInt32 = 0
    public var httpReqRate = FreqCounter()
    public var httpErrCnt: UInt32 = 0
    public var httpErrRate = FreqCounter()
    public var httpFailCnt: UInt32 = 0
    public var httpFailRate = FreqCounter()
    public var bytesInCnt: UInt64 = 0
    public var bytesInRate = FreqCounter()
    public var bytesOutCnt: UInt64 = 0
    public var bytesOutRate = FreqCounter()

    public init() {}
}

/// One entry. Its fields are only read or written under its table's lock.
public final class StickEntry: @unchecked Sendable {
    public let key: StickKey
    public internal(set) var counters = StickCounters()
    /// When the entry expires (ms), if the table has an `expire`.
    public internal(set) var expire: Int64 = 0
    /// Sessions tracking the entry: it neither expires nor is purged while referenced.
    public internal(set) var refCount = 0
    /// Touch order (least recently touched first).
    fileprivate var newer: StickEntry?
    fileprivate unowned(unsafe) var older: StickEntry?
    fileprivate var linked = false

    init(key: StickKey) { self.key = key }
}

/// A mutex for code without NIO.
final class PlainLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// `stick-table type T [len N] size N [expire T] [nopurge] [store ...]`.
public final class StickTable: @unchecked Sendable {
    public let name: String
    public let type: StickKeyType
    public let keyLength: Int
    public let size: Int
    /// ms; nil: entries do not expire.
    public let expire: Int64?
    public let nopurge: Bool
    public let store: StickStore

    private let lock = PlainLock()
    private var entries: [StickKey: StickEntry] = [:]
    private var oldest: StickEntry?
    private var newest: StickEntry?

    public init(name: String, type: StickKeyType, keyLength: Int = StickKeyType.defaultLength, size: Int,
                expire: Int64?, nopurge: Bool = false, store: StickStore) {
        self.name = name
        self.type = type
        self.keyLength = keyLength
        self.size = size
        self.expire = expire
        self.nopurge = nopurge
        self.store = store
    }

    /// The key of a sample's text in this table (nil: it does not convert).
    public func key(_ text: String) -> StickKey? { StickKey.make(text, type: type, length: keyLength) }

    // MARK: operations (each takes the lock once)

    /// The entry of `key`, created if needed, referenced (until `release`) and touched; `body`
    /// runs on its counters under the lock (haproxy's `track-sc` counts there). nil when the
    /// table is full and nothing can be purged (or `nopurge`).
    public func track(_ key: StickKey, now: Int64, _ body: (inout StickCounters) -> Void = { _ in }) -> StickEntry? {
        lock.withLock {
            guard let e = lookupOrCreate(key, now: now) else { return nil }
            e.refCount += 1
            body(&e.counters)
            touch(e, now: now)
            return e
        }
    }

    /// Gives back a reference taken by `track`; `body` runs on the counters first (haproxy
    /// decrements conn_cur there) and the entry is touched.
    public func release(_ e: StickEntry, now: Int64, _ body: (inout StickCounters) -> Void = { _ in }) {
        lock.withLock {
            body(&e.counters)
            if e.refCount > 0 { e.refCount -= 1 }
            touch(e, now: now)
        }
    }

    /// Updates the counters of an entry (one this caller references) and touches it (unless
    /// `touch` is false: a read).
    @discardableResult
    public func update<R>(_ e: StickEntry, now: Int64, touch: Bool = true, _ body: (inout StickCounters) -> R) -> R {
        lock.withLock {
            let r = body(&e.counters)
            if touch { self.touch(e, now: now) }
            return r
        }
    }

    /// Reads the counters of an entry this caller references (no touch).
    public func read<R>(_ e: StickEntry, _ body: (StickCounters) -> R) -> R {
        lock.withLock { body(e.counters) }
    }

    /// Reads the counters of `key`'s entry, nil when there is none (no touch, no creation).
    public func read<R>(_ key: StickKey, now: Int64, _ body: (StickCounters) -> R) -> R? {
        lock.withLock {
            guard let e = live(key, now: now) else { return nil }
            return body(e.counters)
        }
    }

    /// Updates `key`'s entry, creating it when `create` (haproxy's `src_inc_gpc0` creates, the
    /// `src_get_*` fetches do not); touched. nil when there is none or the table is full.
    public func modify<R>(_ key: StickKey, now: Int64, create: Bool, touch: Bool = true,
                          _ body: (inout StickCounters) -> R) -> R? {
        lock.withLock {
            guard let e = create ? lookupOrCreate(key, now: now) : live(key, now: now) else { return nil }
            let r = body(&e.counters)
            if touch { self.touch(e, now: now) }
            return r
        }
    }

    /// Entries in the table now (expired ones not counted): `table_cnt`.
    public func count(now: Int64) -> Int {
        lock.withLock {
            purgeExpired(now: now)
            return entries.count
        }
    }

    /// `table_avl`: free slots.
    public func available(now: Int64) -> Int { size - count(now: now) }

    /// The keys in touch order (oldest first), for tests and `show table`.
    public func keys(now: Int64) -> [StickKey] {
        lock.withLock {
            purgeExpired(now: now)
            var out: [StickKey] = []
            var e = oldest
            while let x = e { out.append(x.key); e = x.newer }
            return out
        }
    }

    // MARK: under the lock

    /// The entry unless it expired (an expired one nobody references is removed now).
    private func live(_ key: StickKey, now: Int64) -> StickEntry? {
        guard let e = entries[key] else { return nil }
        if isExpired(e, now: now) {
            remove(e)
            return nil
        }
        return e
    }

    private func isExpired(_ e: StickEntry, now: Int64) -> Bool {
        expire != nil && e.refCount == 0 && e.expire <= now
    }

    private func lookupOrCreate(_ key: StickKey, now: Int64) -> StickEntry? {
        if let e = live(key, now: now) { return e }
        purgeExpired(now: now)
        if entries.count >= size {
            if nopurge { return nil }
            // haproxy trashes up to size/256 + 1 of its oldest unreferenced entries.
            var toFree = size / 256 + 1
            var e = oldest
            while let x = e, toFree > 0 {
                e = x.newer
                if x.refCount == 0 {
                    remove(x)
                    toFree -= 1
                }
            }
            if entries.count >= size { return nil }
        }
        let e = StickEntry(key: key)
        entries[key] = e
        touch(e, now: now)
        return e
    }

    /// Removes the expired entries at the old end of the touch order.
    private func purgeExpired(now: Int64) {
        guard expire != nil else { return }
        var e = oldest
        while let x = e, x.expire <= now {
            e = x.newer
            if x.refCount == 0 { remove(x) }
        }
    }

    private func touch(_ e: StickEntry, now: Int64) {
        if let expire { e.expire = now + expire }
        if e.linked {
            guard newest !== e else { return }
            unlink(e)
        }
        e.older = newest
        e.newer = nil
        newest?.newer = e
        newest = e
        if oldest == nil { oldest = e }
        e.linked = true
    }

    private func unlink(_ e: StickEntry) {
        if let o = e.older { o.newer = e.newer } else { oldest = e.newer }
        if let n = e.newer { n.older = e.older } else { newest = e.older }
        e.newer = nil
        e.older = nil
        e.linked = false
    }

    private func remove(_ e: StickEntry) {
        unlink(e)
        entries[e.key] = nil
    }
}

/// The clock of stick tables: monotonic milliseconds, far from zero (a counter never touched has
/// its period start at 0, which must read as long ago).
public enum StickClock {
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000 + (1 << 40)
    }
}
