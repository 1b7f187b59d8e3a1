"""More L7 rule actions, differential: `http-after-response` rules (on the server's responses and on
the proxy's own: return, deny, redirect, auth, tarpit, 503), captures (`http-request capture`,
`http-response capture`, `declare capture`, `capture request|response header`, `capture cookie`),
`set-log-level`, `set-timeout`, `normalize-uri`, `monitor fail`, `errorfiles`/`http-errors`, and
the termination flags rule replies log. The same config and requests go through haproxy 2.6 and
Fulcrum; compared are the whole responses (status, reason, headers but Date, body; the request
line and X-* lines the server read) and the access log lines (through a UDP syslog socket)."""

import socket
import time

import pytest

from harness import cfg_head, free_port, http_get, http_handler, make_response, wait_for

LOG_FORMAT = '"%ST %tsc %b/%s %hr %hs %{+Q}r"'
HTTPLOG_TIMERS = "httplog"


def echo_responder(req, conn, srv):
    """The server's name, the request line it read, then its X-* lines; `/status/N` answers N;
    `/slow` answers after 600 ms (bounded)."""
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-")]
    body = "\n".join([srv.name, f"{req.method} {req.target}"] + lines) + "\n"
    status = 200
    if req.target.startswith("/status/"):
        status = int(req.target.split("/")[2][:3])
    if req.target.startswith("/slow"):
        time.sleep(0.6)
    return make_response(status, body.encode(), {"Content-Type": "text/plain", "X-App": "v1, v2",
                                                 "Set-Cookie": "app=42; Path=/", "Server": "echo/1.0"})


class Syslog:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.lines = []

    def receive(self, expected, timeout=5.0):
        """Lines until `expected` came (bounded), then whatever else arrives within 300 ms."""
        deadline = time.monotonic() + timeout
        quiet_until = None
        while True:
            now = time.monotonic()
            if len(self.lines) >= expected:
                quiet_until = quiet_until or now + 0.3
                if now >= quiet_until:
                    break
            elif now >= deadline:
                break
            self.s.settimeout(max(0.01, min(deadline, quiet_until or deadline) - now))
            try:
                data, _ = self.s.recvfrom(65536)
            except socket.timeout:
                continue
            self.lines.append(data.decode(errors="replace"))
        self.s.close()
        # The message only (after "haproxy[pid]: "), timers and dates masked for httplog lines.
        out = []
        for l in self.lines:
            pri = l.split(">", 1)[0] + ">"
            msg = l.split("]: ", 1)[1].rstrip("\n")
            f = msg.split(" ")
            if len(f) > 5 and f[1].startswith("[") and "/" in f[4]:
                f[0] = "CLIENT"
                f[1] = "[DATE]"
                f[4] = "/".join("-1" if t == "-1" else ("+N" if t.startswith("+") else "N") for t in f[4].split("/"))
            out.append(pri + " " + " ".join(f))
        return out


NORMALIZERS = ["fragment-encode", "fragment-strip", "path-merge-slashes", "path-strip-dot", "path-strip-dotdot",
               "path-strip-dotdot full", "percent-decode-unreserved", "percent-decode-unreserved strict",
               "percent-to-uppercase", "percent-to-uppercase strict", "query-sort-by-name"]
NORMALIZE_URIS = ["/a//b/./c/../d?q=%6f&b=2&a=1#frag", "//", "/./bar/", "/.well-known/", "/foo/bar/../", "/../bar/",
                  "/bar/../../", "/foo//../", "/foo/%2E%2E/", "/%61dmin", "/foo%3Fbar=baz", "/%%36%36", "/%zz",
                  "/%6f?x=%6f", "/?aaa=3&a=1&aa=2", "/?a=3&b=4&a=1&b=5&a=2", "/x#a#b?c", "/?b&a=&=z&a", "/a/b/..",
                  "http://h.test//a/./b?z=1&y=2", "/%7e%7E%41"]

# name: dict(fe=[lines], be={backend: [lines]}, reqs=[(method, path, headers)], logs=N expected lines,
#            log=log-format (LOG_FORMAT by default; "httplog" for option httplog), extra=text after the proxies,
#            glob=global lines)
SCENARIOS = {
    "after-response edits the server's responses, after http-response rules": dict(
        fe=["http-request set-var(txn.p) path",
            "http-response set-header X-Resp r",
            "http-after-response set-header X-After fe-%[status]-%[res.hdr(x-resp)]",
            "http-after-response add-header X-Add a1",
            "http-after-response del-header Server",
            "http-after-response replace-header Set-Cookie ^app=(.*) APP=\\1",
            "http-after-response replace-value X-App ^v1$ one",
            "http-after-response set-status 299 reason Fine if { var(txn.p) -m str /st }",
            "http-after-response set-status 503 if { status 404 }",
            "http-after-response set-var(txn.x) str(hi)",
            "http-after-response set-header X-Var %[var(txn.x)]",
            "http-after-response unset-var(txn.x) if { status 299 }",
            "http-after-response set-header X-Var2 %[var(txn.x)]"],
        reqs=[("GET", p, {}) for p in ("/a", "/st", "/status/404", "/status/500")], logs=4),
    "after-response: backend rules first, allow ends one section's rules": dict(
        fe=["http-request set-var(txn.p) path",
            "http-after-response set-header X-Fe-Saw %[res.hdr(x-be)]|%[var(txn.p)]",
            "http-after-response allow if { var(txn.p) -m str /fe-allow }",
            "http-after-response set-header X-Fe2 fe2"],
        be={"be": ["http-after-response set-header X-Be be", "http-after-response allow if { var(txn.p) -m str /allow }",
                   "http-after-response set-header X-Be2 be2"]},
        reqs=[("GET", p, {}) for p in ("/a", "/allow", "/fe-allow")], logs=3),
    "after-response on the proxy's own replies: return, deny, redirect, auth, 503, tarpit": dict(
        fe=["timeout tarpit 100ms",
            "http-request set-var(txn.p) path",
            "http-request return status 200 content-type text/plain string ret if { path /ret }",
            "http-request deny if { path /deny }",
            "http-request deny deny_status 429 content-type text/plain string slow-down if { path /deny429 }",
            "http-request redirect location /x if { path /redir }",
            "http-request auth realm R if { path /auth }",
            "http-request tarpit if { path /tarpit }",
            "use_backend nosrv if { path /nosrv }",
            "http-after-response set-header X-After fe-%[status]",
            "http-after-response set-status 404 if { var(txn.p) -m str /ret }",
            "http-after-response del-header Cache-Control if { status 302 }"],
        be={"be": ["http-request return status 201 content-type text/plain string be-ret if { path /be-ret }",
                   "http-after-response set-header X-Be be"]},
        extra="backend nosrv\n    http-after-response set-header X-Nosrv yes\n",
        reqs=[("GET", p, {}) for p in ("/ret", "/deny", "/deny429", "/redir", "/auth", "/tarpit", "/nosrv", "/be-ret")],
        logs=8, log=HTTPLOG_TIMERS),
    "after-response in a listen section runs once": dict(
        listen=["http-after-response add-header X-L once", "http-request return status 200 content-type text/plain string r if { path /r }"],
        reqs=[("GET", "/", {}), ("GET", "/r", {})], logs=2),
    "captures: header captures and rule captures share slots, in declaration order": dict(
        fe=["capture request header Host len 6",
            "http-request capture req.hdr(x-a) len 5",
            "declare capture request len 8",
            "http-request capture path id 2",
            "capture request header User-Agent len 4",
            "capture response header Server len 20",
            "declare capture response len 6",
            "http-response capture res.hdr(x-app) id 1",
            "capture response header Content-Type len 4",
            "declare capture response len 3",
            "http-after-response capture status id 3",
            "http-request capture str(xx) id 3 if { path /three }",
            "http-request deny if { path /deny }"],
        be={"be": ["http-request capture req.hdr(x-b) id 0"]},
        log='"%ST %hr %hs %[capture.req.hdr(0)] %[capture.req.hdr(1)] %[capture.req.hdr(3)] %[capture.res.hdr(1)] %[capture.res.hdr(3)] %{+Q}r"',
        reqs=[("GET", "/a/long/path", {"Host": "example.org", "X-A": "abcdefgh", "User-Agent": "curl/8"}),
              ("GET", "/three", {}), ("GET", "/ab", {"X-B": "from-be"}), ("GET", "/deny", {})], logs=4),
    "captures in the default httplog line, capture cookie": dict(
        fe=["capture request header Host len 6", "http-request capture req.hdr(x-a) len 5",
            "capture response header Server len 20", "capture cookie app len 10"],
        log=HTTPLOG_TIMERS,
        reqs=[("GET", "/c", {"Host": "example.org", "X-A": "abcdefgh", "Cookie": "app=12345678901234; o=1"}),
              ("GET", "/d", {"Cookie": "other=1; app2=zz"})], logs=2),
    "set-log-level: silent drops the line (also before a deny), a level sets the priority": dict(
        fe=["http-request set-log-level silent if { path /quiet }",
            "http-request set-log-level err if { path /err }",
            "http-request deny if { path /deny-first }",
            "http-request set-log-level silent if { path /deny-first }",
            "http-request set-log-level silent if { path /quiet-deny }",
            "http-request deny if { path /quiet-deny }",
            "http-request set-log-level debug if { path_beg /status }",
            "http-response set-log-level notice if { status 201 }",
            "http-response set-log-level silent if { status 204 }"],
        reqs=[("GET", p, {}) for p in ("/quiet", "/err", "/deny-first", "/quiet-deny", "/status/201", "/status/204",
                                       "/status/202", "/plain")], logs=5),
    "set-timeout server shortens the server timeout: 504": dict(
        fe=[],
        be={"be": ["http-request set-timeout server 200ms if { path /slow }",
                   "http-request set-timeout server req.hdr(x-t) if { path /slowx }",
                   "http-request set-timeout tunnel 1s"]},
        log=HTTPLOG_TIMERS,
        reqs=[("GET", "/slow", {}), ("GET", "/slowx", {"X-T": "250"}), ("GET", "/slowx", {"X-T": "nope"}),
              ("GET", "/slow-unruled", {})], logs=4),
    "normalize-uri: each normalizer, the request line the server reads, strict's 400": dict(
        glob="expose-experimental-directives",
        fe=["option accept-invalid-http-request"]
           + [f"http-request normalize-uri {n} if {{ req.hdr(x-n) -m str {n.replace(' ', '_')} }}" for n in NORMALIZERS]
           + ["http-request normalize-uri path-strip-dotdot full if { req.hdr(x-n) -m str chain }",
              "http-request normalize-uri path-merge-slashes if { req.hdr(x-n) -m str chain }",
              "http-request normalize-uri query-sort-by-name if { req.hdr(x-n) -m str chain }",
              "http-request set-header X-Path %[path] if { req.hdr(x-n) -m str chain }",
              "use_backend be if { path /a/b }"],
        reqs=[("GET", u, {"X-N": n.replace(" ", "_")}) for n in NORMALIZERS for u in NORMALIZE_URIS]
             + [("GET", "/x/../a//b?z=1&y=2", {"X-N": "chain"})],
        log=HTTPLOG_TIMERS, logs=len(NORMALIZERS) * len(NORMALIZE_URIS) + 1),
    "normalize-uri: a normalizer's option left out before 'if' runs path-merge-slashes (haproxy 2.6.12)": dict(
        glob="expose-experimental-directives",
        fe=["http-request normalize-uri path-strip-dotdot if TRUE", "http-request normalize-uri percent-to-uppercase unless FALSE"],
        reqs=[("GET", u, {}) for u in ("/foo/../", "//a//b", "/%6f")], logs=3),
    "monitor fail answers the monitor-uri with 503 (not logged), errorfiles NAME in replies": dict(
        fe=["monitor-uri /mon", "monitor fail if { req.hdr(x-down) -m found }", "monitor fail unless { req.hdr(x-up) -m found }",
            "http-request deny errorfiles myerrs if { path /d403 }",
            "http-request deny deny_status 429 errorfiles myerrs if { path /d429 }",
            "http-request return status 503 errorfiles myerrs if { path /r503 }",
            "http-request return status 200 errorfiles myerrs if { path /r200 }",
            "http-request tarpit deny_status 403 errorfiles myerrs if { path /t }",
            "http-response deny deny_status 503 errorfiles myerrs if { status 500 }",
            "timeout tarpit 50ms"],
        extra="http-errors myerrs\n    errorfile 403 {dir}/e403.http\n    errorfile 503 {dir}/e503.http\n",
        files={"e403.http": b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Src: myerrs\r\nContent-Length: 8\r\n\r\nmy-403!\n",
               "e503.http": b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nmy-503!\n"},
        log=HTTPLOG_TIMERS,
        reqs=[("GET", "/mon", {"X-Up": "1"}), ("GET", "/mon", {"X-Up": "1", "X-Down": "1"}), ("GET", "/mon", {}),
              ("GET", "/x", {"X-Down": "1"})] + [("GET", p, {}) for p in ("/d403", "/d429", "/r503", "/r200", "/t", "/status/500")],
        logs=7),
    "termination flags of rule replies in the httplog line": dict(
        fe=["timeout tarpit 50ms",
            "http-request return status 200 content-type text/plain string ok if { path /return }",
            "http-request redirect location /elsewhere if { path /redirect }",
            "http-request deny if { path /deny }",
            "http-request deny deny_status 429 content-type text/plain string no if { path /deny429 }",
            "http-request deny deny_status 400 if { path /deny400 }",
            "http-request deny deny_status 408 if { path /deny408 }",
            "http-request return status 400 default-errorfiles if { path /return400 }",
            "http-request auth realm R if { path /auth }",
            "http-request tarpit if { path /tarpit }",
            "http-response deny if { status 403 }",
            "http-response return status 200 content-type text/plain string replaced if { status 410 }",
            "http-response redirect location /gone if { status 404 }",
            "use_backend nosrv if { path /nosrv }"],
        extra="backend nosrv\n",
        log=HTTPLOG_TIMERS,
        reqs=[("GET", p, {}) for p in ("/return", "/redirect", "/deny", "/deny429", "/deny400", "/deny408", "/return400",
                                       "/auth", "/tarpit", "/nosrv", "/status/403", "/status/410", "/status/404", "/ok")],
        logs=14),
}


def build_config(syslog_port, port, servers, spec, workdir):
    log = spec.get("log", LOG_FORMAT)
    fmt = "    option httplog\n" if log == HTTPLOG_TIMERS else f"    log-format {log}\n"
    glob = f"log 127.0.0.1:{syslog_port} local0\n" + spec.get("glob", "")
    text = cfg_head(global_extra=glob) + "    log global\n"
    if "listen" in spec:
        body = "".join(f"    {l}\n" for l in spec["listen"])
        text += f"listen li\n    bind 127.0.0.1:{port}\n{fmt}{body}    server s1 127.0.0.1:{servers['be']}\n"
    else:
        fe = "".join(f"    {l}\n" for l in spec.get("fe", []))
        text += f"frontend fe\n    bind 127.0.0.1:{port}\n{fmt}{fe}    default_backend be\n"
        for name, port_ in servers.items():
            extra = "".join(f"    {l}\n" for l in spec.get("be", {}).get(name, []))
            text += f"backend {name}\n{extra}    server s1 127.0.0.1:{port_}\n"
    text += spec.get("extra", "")
    return text.replace("{dir}", str(workdir))


def scenario(env, impl, name):
    spec = SCENARIOS[name]
    for fname, content in spec.get("files", {}).items():
        (env.workdir / fname).write_bytes(content)
    syslog = Syslog()
    servers = {"be": env.backend(http_handler(echo_responder), name="s1").port}
    port = free_port()
    env.proxy(impl, build_config(syslog.port, port, servers, spec, env.workdir), port, name=f"ra2-{impl}")
    out = []
    for method, path, headers in spec["reqs"]:
        r = http_get(port, path, headers=headers, method=method)
        assert r is not None, (method, path)
        n = r.norm()
        n["request"] = f"{method} {path} {sorted(headers.items())}"
        out.append(n)
    return {"responses": out, "logs": syslog.receive(spec["logs"])}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rule_action_scenarios(differ, name):
    def check(result):
        assert len(result["logs"]) == SCENARIOS[name]["logs"], result["logs"]
        assert len({(x["status"], x["body"], tuple(map(tuple, x["headers"]))) for x in result["responses"]}) > 1, result
    differ(scenario, check, name=name)


CONFIG_ERRORS = [
    # (a line of frontend fe or of backend be, what the message must say)
    ("fe", "http-request capture", "while parsing 'http-request capture' rule : expects <expression> [ 'len' <length> | id <idx> ]."),
    ("fe", "http-request capture req.hdr(x) foo 3", "while parsing 'http-request capture' rule : expects 'len' or 'id', found 'foo'."),
    ("fe", "http-request capture req.hdr(x) len abc", "while parsing 'http-request capture' rule : length must be > 0."),
    ("fe", "http-response capture res.hdr(x) len 3", "while parsing 'http-response capture' rule : expects 'id', found 'len'."),
    ("be", "http-request capture req.hdr(x) len 4", "while parsing 'http-request capture' rule : proxy 'be' has no frontend capability."),
    ("be", "declare capture request len 4", "'declare' only available in frontend or listen section"),
    ("fe", "declare capture request", "'declare capture' requires a capture length ('len')"),
    ("fe", "declare capture foo len 3", "'declare capture' requires a direction ('request' or 'response')"),
    ("fe", "http-request set-log-level foo", "while parsing 'http-request set-log-level' rule : expects exactly 1 argument (log level name or 'silent')."),
    ("fe", "http-request set-timeout server 1s", "while parsing 'http-request set-timeout' rule : proxy 'fe' has no backend capability."),
    ("be", "http-request set-timeout client 1s", "'set-timeout' rule supports 'server'/'tunnel' (got 'client')."),
    ("be", "http-request set-timeout server 0", "null value is not valid for a 'set-timeout server' rule."),
    ("be", "http-request set-timeout server", "while parsing 'http-request set-timeout' rule : expects exactly 2 arguments."),
    ("be", "http-request set-timeout server 1s foo", "'http-request set-timeout' expects either 'if' or 'unless' followed by a condition but found 'foo'."),
    ("fe", "http-after-response set-header X \"a %[path,lower] x\"", "sample fetch <path,lower] x> may not be reliably used here because it needs 'HTTP request headers' which is not available here."),
    ("fe", "http-after-response set-log-level err", "'http-after-response' expects 'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', but got 'set-log-level'."),
    ("fe", "http-request normalize-uri path-merge-slashes", "'normalize-uri' action is experimental, must be allowed via a global 'expose-experimental-directives'"),
    ("fe+x", "http-request normalize-uri", "while parsing 'http-request normalize-uri' rule : missing argument <normalizer>."),
    ("fe+x", "http-request normalize-uri foo", "while parsing 'http-request normalize-uri' rule : unknown normalizer 'foo'."),
    ("fe+x", "http-request normalize-uri path-strip-dotdot bar", "unknown argument 'bar' for 'path-strip-dotdot' normalizer."),
    ("fe+x", "http-request normalize-uri path-merge-slashes full", "'http-request normalize-uri' expects either 'if' or 'unless' followed by a condition but found 'full'."),
    ("fe", "http-after-response capture str(x) len 3", "while parsing 'http-after-response capture' rule : expects 'id', found 'len'."),
    ("fe", "monitor fail", "'monitor fail' requires either 'if' or 'unless' followed by a condition."),
    ("fe", "monitor foo", "'monitor' only supports 'fail'."),
    ("fe", "http-request deny errorfiles", "while parsing 'http-request deny' rule : 'errorfiles' expects <name> as argument."),
]


@pytest.mark.parametrize("where,line,message", CONFIG_ERRORS, ids=[c[1] for c in CONFIG_ERRORS])
def test_config_errors_name_file_line_and_haproxys_words(impl, tmp_path, where, line, message):
    from harness import config_check
    spec = {"fe": [line]} if where.startswith("fe") else {"be": {"be": [line]}}
    if where == "fe+x":
        spec["glob"] = "expose-experimental-directives"
    text = build_config(514, free_port(), {"be": 1}, spec, tmp_path)
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    lineno = next(i for i, l in enumerate(text.splitlines(), 1) if l.strip() == line)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert message in out, out
    assert f"bad.cfg:{lineno}]" in out, out


def test_capture_id_missing_in_the_frontend(impl, tmp_path):
    from harness import config_check
    text = build_config(514, free_port(), {"be": 1}, {"fe": ["http-request capture req.hdr(x) id 9"]}, tmp_path)
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert "Proxy 'fe': unable to find capture id '9' referenced by http-request capture rule." in out, out


def test_errorfiles_unknown_section(impl, tmp_path):
    from harness import config_check
    text = build_config(514, free_port(), {"be": 1}, {"fe": ["http-request deny errorfiles nosuch"]}, tmp_path)
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert "Proxy 'fe': unknown http-errors section 'nosuch' referenced by an http reply ." in out, out


def test_h2_after_response_captures_and_log_level(differ):
    """The same rules for h2 clients (curl with prior knowledge): http-after-response on a server's
    response and on a return, rule captures in the log line, set-log-level silent."""
    import subprocess

    spec = dict(
        fe=["http-request capture req.hdr(x-a) len 4", "declare capture response len 5",
            "http-response capture res.hdr(server) id 0",
            "http-request set-log-level silent if { path /quiet }",
            "http-request return status 200 content-type text/plain string hi if { path /ret }",
            "http-after-response set-header X-After %[status]", "http-after-response del-header Server",
            "http-after-response set-status 299 if { status 201 }"],
        be={"be": ["http-request set-timeout server 200ms if { path /slow }"]},
        log='"%ST %tsc %hr %hs %[capture.req.hdr(0)] %{+Q}r"')

    def run(env, impl):
        syslog = Syslog()
        servers = {"be": env.backend(http_handler(echo_responder), name="s1").port}
        port = free_port()
        text = build_config(syslog.port, port, servers, spec, env.workdir)
        env.proxy(impl, text.replace(f"bind 127.0.0.1:{port}", f"bind 127.0.0.1:{port} proto h2"), port, name=f"ra2h2-{impl}")
        out = []
        for path in ("/a", "/ret", "/status/201", "/quiet", "/slow"):
            r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-H", "X-A: abcdef", "-D", "-",
                                f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=20)
            head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
            lines = head.split("\n")
            hdrs = sorted(l.lower() for l in lines[1:] if not l.lower().startswith("date:"))
            out.append({"status": lines[0].strip(), "headers": hdrs, "body": body})
        return {"responses": out, "logs": sorted(l.replace(f":{port}/", ":PORT/") for l in syslog.receive(4))}

    def check(result):
        r = result["responses"]
        assert "x-after: 200" in r[0]["headers"] and not any(h.startswith("server:") for h in r[0]["headers"]), r
        assert "x-after: 200" in r[1]["headers"] and r[1]["body"] == "hi", r
        assert r[2]["status"].startswith("HTTP/2 299"), r
        assert r[4]["status"].startswith("HTTP/2 504"), r
        assert len(result["logs"]) == 4 and not any("/quiet" in l for l in result["logs"]), result["logs"]
    differ(run, check)
