// The native proxy tracker: a `vrrp_script` that only asks "is process NAME alive?"
// (`killall -0 NAME`, `pidof NAME`, `pgrep [-x] NAME`) is answered by watching the process
// itself every 50 ms (kill(pid, 0), no fork), so its death is noticed within 50 ms instead of on
// the script's next interval.

#if canImport(Glibc)
import Glibc
#endif

final class ProcessWatch {
    let name: String
    private(set) var alive = false
    private var pid: pid_t = 0

    /// Our network namespace: the proxy we track is the one serving our VIP, in the same one.
    private let netns: String

    init(name: String) {
        self.name = name
        netns = ProcessWatch.netns("self")
        refresh()
    }

    static func netns(_ pid: String) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let n = readlink("/proc/\(pid)/ns/net", &buffer, 127)
        guard n > 0 else { return "" }
        buffer[n] = 0
        return String(cString: buffer)
    }

    /// The process name a liveness-only script checks, or nil when the script does more.
    static func processName(inScript script: String) -> String? {
        var words = script.split(separator: " ").map(String.init)
        guard let first = words.first else { return nil }
        let tool = first.split(separator: "/").last.map(String.init) ?? first
        words.removeFirst()
        switch tool {
        case "killall":
            guard words.count == 2, words[0] == "-0" else { return nil }
            return words[1]
        case "pidof":
            guard words.count == 1 else { return nil }
            return words[0]
        case "pgrep":
            if words.count == 2 && words[0] == "-x" { return words[1] }
            guard words.count == 1 else { return nil }
            return words[0]
        default:
            return nil
        }
    }

    /// Finds the process (by /proc/PID/comm) and opens a pidfd on it.
    func refresh() {
        pid = 0
        alive = false
        guard let dir = opendir("/proc") else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let candidate = Int32(entryName), candidate != getpid() else { continue }
            guard let f = fopen("/proc/\(candidate)/comm", "r") else { continue }
            var buffer = [CChar](repeating: 0, count: 64)
            let line = fgets(&buffer, 64, f)
            fclose(f)
            guard line != nil else { continue }
            let comm = String(cString: buffer).trimmingNewline()
            if comm == name && ProcessWatch.netns(String(candidate)) == netns {
                pid = candidate
                break
            }
        }
        guard pid > 0 else { return }
        alive = kill(pid, 0) == 0
    }

    /// Checks the process (a signal-0 probe; a rescan when it is gone). Returns true when
    /// `alive` changed.
    func check() -> Bool {
        let before = alive
        if pid > 0 && kill(pid, 0) == 0 && isZombie(pid) == false { return false }
        refresh()
        return alive != before
    }

    /// A dead child not yet reaped still answers kill(pid, 0): look at its state.
    private func isZombie(_ pid: pid_t) -> Bool {
        guard let f = fopen("/proc/\(pid)/stat", "r") else { return true }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, 256, f) != nil else { return true }
        let line = String(cString: buffer)
        guard let close = line.lastIndex(of: ")") else { return false }
        let rest = line[line.index(after: close)...].drop(while: { $0 == " " })
        return rest.first == "Z" || rest.first == "X"
    }
}

extension String {
    func trimmingNewline() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
