// "did you mean ... maybe ?" suggestions.

enum Suggest {
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased().utf8), b = Array(b.lowercased().utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        // Optimal string alignment: edits plus adjacent transpositions ("sned" -> "send" is 1).
        var prev2 = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    cur[j] = min(cur[j], prev2[j - 2] + 1)
                }
            }
            (prev2, prev, cur) = (prev, cur, prev2)
        }
        return prev[b.count]
    }

    /// The closest candidate, if it is close enough to be a plausible typo.
    static func best(_ word: String, in candidates: [String]) -> String? {
        var best: (String, Int)?
        for c in candidates {
            let d = distance(word, c)
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let (name, d) = best else { return nil }
        let limit = max(1, min(3, (word.count + 1) / 3))
        return d <= limit ? name : nil
    }

    static func suffix(_ word: String, in candidates: [String]) -> String {
        if let s = best(word, in: candidates) { return "; did you mean '\(s)' maybe ?" }
        return "."
    }
}
