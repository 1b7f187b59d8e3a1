// `declare capture request|response len N`, `http-request capture SAMPLE len N|id N` and
// `http-response capture SAMPLE id N`: capture slots of a frontend, filled by rules and logged
// with the `capture request|response header` ones (%hr, %hs, capture.req.hdr(N)), in the order
// they are declared; haproxy 2.6's wording for the errors.

import Samples

extension ConfigParser {
    /// `declare capture request|response len N` (frontend and listen sections).
    mutating func parseDeclareCapture(_ words: [String]) {
        guard words.count >= 2, words[1] == "capture" else {
            alert("unknown keyword '\(words[0]) \(words.count > 1 ? words[1] : "")' in '\(kindName)' section")
            return
        }
        if current!.isDefaults {
            alert("'declare' not available in default section")
            return
        }
        if current!.proxy.kind == .backend {
            alert("'declare' only available in frontend or listen section")
            return
        }
        guard words.count >= 3, words[2] == "request" || words[2] == "response" else {
            alert("'declare capture' requires a direction ('request' or 'response')")
            return
        }
        guard words.count >= 5, words[3] == "len" else {
            alert("'declare capture' requires a capture length ('len')")
            return
        }
        guard let n = Int(words[4]), n > 0 else {
            alert("length must be > 0")
            return
        }
        let slot = HeaderCapture(name: "", length: n)
        if words[2] == "request" { current!.proxy.requestCaptures.append(slot) } else { current!.proxy.responseCaptures.append(slot) }
    }

    /// The words of a `capture` rule: its slot (a new one for `len N`), or what is wrong.
    mutating func parseCaptureRule(_ words: [String], argc: Int, set: HTTPRuleSet) -> Result<Int, RuleWordsError> {
        func fail(_ message: String) -> Result<Int, RuleWordsError> { .failure(RuleWordsError(message)) }
        let isRequest = set == .request
        guard argc >= 5 else {
            return fail(isRequest ? "expects <expression> [ 'len' <length> | id <idx> ]." : "expects <expression> id <idx>.")
        }
        do throws(SampleError) { _ = try SampleExpression.parse(words[2]) } catch {
            return fail("\(error.description).")
        }
        let key = words[3]
        if isRequest && key == "len" {
            guard current!.proxy.kind != .backend else {
                return fail("proxy '\(current!.proxy.name)' has no frontend capability.")
            }
            guard let n = Int(words[4]), n > 0 else {
                return fail("length must be > 0.")
            }
            current!.proxy.requestCaptures.append(HeaderCapture(name: "", length: n))
            return .success(current!.proxy.requestCaptures.count - 1)
        }
        guard key == "id" else {
            return fail(isRequest ? "expects 'len' or 'id', found '\(key)'." : "expects 'id', found '\(key)'.")
        }
        guard let id = Int(words[4]), id >= 0 else {
            return fail("invalid capture id '\(words[4])'.")
        }
        return .success(id)
    }
}

extension ConfigParser {
    /// A frontend's `capture ... id N` rules must name a slot it has (backends are checked at run time).
    mutating func validateCaptureIDs() {
        for st in proxies where st.proxy.isFrontend {
            let p = st.proxy
            // haproxy names http-after-response captures "http-response capture" rules too.
            for (rules, slots, set) in [(p.httpRequestRules, p.requestCaptures.count, "http-request"),
                                        (p.httpResponseRules, p.responseCaptures.count, "http-response"),
                                        (p.httpAfterResponseRules, p.responseCaptures.count, "http-response")] {
                for r in rules where r.action == .capture {
                    if let id = r.captureSlot, id >= slots {
                        diag(.alert, "Proxy '\(p.name)': unable to find capture id '\(id)' referenced by \(set) capture rule.",
                             at: nil, section: st.label)
                    }
                }
            }
        }
    }
}

extension ConfigParser {
    /// Where Fulcrum serves `capture.req.hdr(N)` / `capture.res.hdr(N)`: the log formats.
    static let captureFetchKeywords: Set<String> = ["log-format", "log-format-sd", "error-log-format"]
}
