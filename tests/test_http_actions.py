"""The http-request actions that answer or rewrite (redirect, return, deny/tarpit with a reply,
auth with a userlist, set-path/-pathq/-query/-uri/-method, replace-path/-uri/-header/-value),
standalone `redirect` lines and `monitor-uri`, differential: the same config through haproxy 2.6 and
Fulcrum, the same requests; compared are the whole response (status, reason, every header but
Date, body) and, when a server answered, the request line and X-* lines it read."""

import base64
import time

import pytest

from harness import cfg_head, free_port, http_get, http_handler, make_response

BACKENDS = ("be_api", "be_static", "be_default")

USERLIST = """userlist users
    user alice insecure-password wonderland
    user bob password $6$abcdefgh$Z7KfoKnKTSZrzo5VZ0YubGLQOj9ov6sHo9TmE3zIU/LHKhpE30zCnZ0mcIXYf9r9rQ4DYaXoxAFSPFlcWdxjB.
    user carol password $5$abcdefgh$o1CPV/uE5/jFb0osq1X33mgj5o/gMq.KE0liwLIpT1.
"""


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# name: (frontend lines, {backend: lines}, [(method, path, headers)])
SCENARIOS = {
    "redirect location and its codes": (
        ["http-request redirect location /moved code 301 if { path /a301 }",
         "http-request redirect location /moved if { path /a302 }",
         "http-request redirect location /moved code 303 if { path /a303 }",
         "http-request redirect location /moved code 307 if { path /a307 }",
         "http-request redirect location /moved code 308 if { path /a308 }"],
        {}, [("GET", p, {}) for p in ("/a301", "/a302", "/a303", "/a307", "/a308", "/other")]),
    "redirect prefix: drop-query, append-slash": (
        ["http-request redirect prefix https://example.com if { path_beg /p1 }",
         "http-request redirect prefix https://example.com drop-query if { path_beg /p2 }",
         "http-request redirect prefix /new drop-query append-slash code 301 if { path_beg /p3 }",
         "http-request redirect prefix /pre append-slash if { path_beg /p4 }"],
        {}, [("GET", "/p1/x?a=1&b=2", {}), ("GET", "/p2/x?a=1", {}), ("GET", "/p3/dir?q", {}), ("GET", "/p3/dir/", {}),
             ("GET", "/p4/y?z=1", {}), ("GET", "/none", {})]),
    "redirect scheme uses the Host header": (
        ["http-request redirect scheme https if { path_beg /s1 }",
         "http-request redirect scheme https drop-query code 301 if { path_beg /s2 }"],
        {}, [("GET", "/s1/page?x=1", {"Host": "www.example.com"}), ("GET", "/s2/page?x=1", {"Host": "w.test:8080"}),
             ("GET", "/s3", {})]),
    "redirect set-cookie and clear-cookie": (
        ["http-request redirect location /in set-cookie SEEN=1 if { path /login }",
         "http-request redirect location /out clear-cookie SEEN= if { path /logout }",
         "http-request redirect location /bare set-cookie FLAG if { path /flag }"],
        {}, [("GET", "/login", {}), ("GET", "/logout", {}), ("GET", "/flag", {}), ("GET", "/x", {})]),
    "redirect location with a log-format and ignore-empty": (
        ["http-request redirect location https://%[req.hdr(host)]%[path]?from=%[src] if { path_beg /lf }",
         "http-request redirect location %[req.hdr(x-to)] ignore-empty if { path_beg /maybe }"],
        {}, [("GET", "/lf/a", {"Host": "h.test"}), ("GET", "/maybe", {"X-To": "/target"}), ("GET", "/maybe", {})]),
    "standalone redirect lines run after http-request rules": (
        ["http-request deny deny_status 403 if { path /both }",
         "redirect location /std if { path /both }",
         "redirect prefix / drop-query append-slash if { path_beg /slash }",
         "redirect scheme https code 308 if { path /sch }",
         "redirect location /plain"],
        {}, [("GET", "/both", {}), ("GET", "/slash/dir?q=1", {}), ("GET", "/sch", {"Host": "a.b"}), ("GET", "/any", {})]),
    "return: status, content-type, string, lf-string, hdr": (
        ["http-request return status 200 content-type text/plain string \"hello world\" hdr X-A \"v %[path]\" if { path /r1 }",
         "http-request return if { path /r2 }",
         "http-request return status 404 content-type text/plain lf-string \"no %[path] here\" if { path_beg /r3 }",
         "http-request return status 204 hdr X-Empty yes if { path /r4 }",
         "http-request return status 503 default-errorfiles if { path /r5 }",
         "http-request return status 302 hdr Location /elsewhere if { path /r6 }",
         "http-request return status 413 if { path /r7 }",
         "http-request return status 502 content-type text/plain string bad if { path /r8 }",
         "http-request return status 599 if { path /r9 }"],
        {}, [("GET", p, {}) for p in ("/r1", "/r2", "/r3/x", "/r4", "/r5", "/r6", "/r7", "/r8", "/r9", "/served")]),
    "return file, lf-file and errorfile": (
        ["http-request return status 200 content-type text/html file {dir}/page.html if { path /file }",
         "http-request return status 200 content-type text/plain lf-file {dir}/tmpl.txt if { path /lf }",
         "http-request return status 200 errorfile {dir}/whole.http if { path /ef }"],
        {}, [("GET", "/file", {}), ("GET", "/lf", {"Host": "tmpl.test"}), ("GET", "/ef", {}), ("GET", "/x", {})]),
    "deny and tarpit with replies of their own": (
        ["http-request deny deny_status 429 content-type application/json string '{\"error\":\"slow down\"}' hdr Retry-After 10 if { path /d1 }",
         "http-request deny status 403 errorfile {dir}/forbidden.http if { path /d2 }",
         "http-request tarpit deny_status 403 if { path /t1 }",
         "http-request tarpit content-type text/plain string tarpitted if { path /t2 }"],
        {}, [("GET", p, {}) for p in ("/d1", "/d2", "/t1", "/t2", "/ok")]),
    "auth with a userlist: insecure-password and crypt(3) hashes": (
        ["acl ok http_auth(users)",
         "http-request auth realm Private if { path_beg /private } !ok",
         "http-request auth if { path_beg /noreal } !ok",
         "http-request set-header X-Authed %[http_auth(users)]"],
        {}, [("GET", "/private", {}), ("GET", "/private", {"Authorization": basic("alice", "wonderland")}),
             ("GET", "/private", {"Authorization": basic("alice", "wrong")}),
             ("GET", "/private", {"Authorization": basic("bob", "s3cret")}),
             ("GET", "/private", {"Authorization": basic("carol", "other")}),
             ("GET", "/private", {"Authorization": basic("carol", "s3cret")}),
             ("GET", "/private", {"Authorization": "Basic !!!"}),
             ("GET", "/noreal", {}), ("GET", "/open", {"Authorization": basic("alice", "wonderland")})]),
    "set-path, set-pathq, set-query, set-uri, set-method": (
        ["http-request set-path /v2%[path] if { path_beg /sp }",
         "http-request set-pathq /fixed?k=v if { path_beg /spq }",
         "http-request set-query %[query]&added=1 if { path_beg /sq }",
         "http-request set-query new=1 if { path_beg /nq }",
         "http-request set-uri /rewritten%[path] if { path_beg /su }",
         "http-request set-method POST if { path_beg /sm }",
         "http-request set-header X-Seen \"%[method] %[path] %[query]\""],
        {}, [("GET", "/sp/a?x=1", {}), ("GET", "/spq/a?x=1", {}), ("GET", "/sq/a?x=1", {}), ("GET", "/nq/a", {}),
             ("GET", "/su/a?x=1", {}), ("GET", "/sm/a", {}), ("GET", "/plain?y", {})]),
    "rewritten paths drive use_backend": (
        ["http-request set-path /api%[path] if { path_beg /v1/ }",
         "use_backend be_api if { path_beg /api }"],
        {}, [("GET", "/v1/users", {}), ("GET", "/other", {}), ("GET", "/api/x", {})]),
    "replace-path, replace-pathq, replace-uri": (
        ["http-request replace-path /old/(.*) /new/\\1 if { path_beg /old }",
         "http-request replace-pathq ^/q/([^?]*)\\?(.*) /qq/\\1?\\2&r=1",
         "http-request replace-uri ^/u/(.*)$ /uu/\\1",
         "http-request replace-path ^/nomatch$ /never"],
        {}, [("GET", "/old/a/b?x=1", {}), ("GET", "/q/z?a=2", {}), ("GET", "/u/k?m=n", {}), ("GET", "/keep", {})]),
    "replace-header and replace-value": (
        ["http-request replace-header X-Tag ^v([0-9]+)-(.*)$ \\2:\\1",
         "http-request replace-value X-List ^a(.*)$ A\\1",
         "http-request replace-header X-Host (.*) %[req.hdr(host)]-\\1 if { req.hdr(x-host) -m found }"],
        {}, [("GET", "/", {"X-Tag": "v12-blue", "X-List": "abc, def, axe", "X-Host": "orig", "Host": "hh"}),
             ("GET", "/", {"X-Tag": "nomatch", "X-List": "zzz"})]),
    "rules in the chosen backend: redirect, return, set-path": (
        ["use_backend be_api if { path_beg /api }", "use_backend be_static if { path_beg /static }"],
        {"be_api": ["http-request redirect location /api/v2 if { path /api/v1 }",
                    "http-request return status 200 content-type text/plain lf-string \"be=%[be_name]\" if { path /api/ret }"],
         "be_static": ["http-request set-path /assets%[path]"]},
        [("GET", "/api/v1", {}), ("GET", "/api/ret", {}), ("GET", "/api/x", {}), ("GET", "/static/a.css", {}),
         ("GET", "/z", {})]),
    "http-response header rules and response fetches": (
        ["http-response set-header X-Status %[status]",
         "http-response add-header X-Cookie %[res.cook(app)]",
         "http-response set-header X-App-Last %[res.hdr(x-app)]",
         "http-response set-header X-App-Cnt %[res.hdr_cnt(x-app)]",
         "http-response set-header X-Srv %[srv_id]/%[srv_name]",
         "http-response del-header Server",
         "http-response replace-header Set-Cookie ^app=([0-9]+)(.*)$ app=\\1-%[be_name]\\2",
         "http-response replace-value X-App ^v1$ version1",
         "http-response set-header X-NotFound yes if { status eq 404 }",
         "http-response set-header X-Type %[res.hdr(content-type)] if { res.hdr(content-type) -m sub text }"],
        {}, [("GET", "/a", {}), ("GET", "/status/404", {}), ("GET", "/status/500", {})]),
    "http-response set-status, deny, return, redirect": (
        ["http-response set-status 503 if { status eq 500 }",
         "http-response set-status 299 reason \"All Fine\" if { status eq 201 }",
         "http-response deny if { status eq 403 }",
         "http-response deny deny_status 500 if { status eq 418 }",
         "http-response return status 200 content-type text/plain string replaced if { status eq 410 }",
         "http-response redirect location /gone code 301 if { status eq 404 }"],
        {}, [("GET", p, {}) for p in ("/status/500", "/status/201", "/status/403", "/status/418", "/status/410",
                                      "/status/404", "/ok")]),
    "http-response rules of the backend, then the frontend": (
        ["use_backend be_api if { path_beg /api }", "http-response set-header X-Order fe",
         "http-response add-header X-Fe-Saw %[res.hdr(x-order)]"],
        {"be_api": ["http-response set-header X-Order be", "http-response set-header X-Be %[be_name]"]},
        [("GET", "/api/x", {}), ("GET", "/other", {})]),
    "set-var, set-var-fmt, unset-var and var() in rules, ACLs and responses": (
        ["http-request set-var(txn.route) path,field(2,/)",
         "http-request set-var-fmt(txn.who) \"%[src]-%[method]\"",
         "http-request unset-var(txn.who) if { path_beg /api }",
         "http-request set-header X-Who %[var(txn.who)]",
         "http-request set-var(req.tmp) str(only-in-request)",
         "http-request set-header X-Tmp %[var(req.tmp)]",
         "use_backend be_api if { var(txn.route) -m str api }",
         "http-response set-header X-Route %[var(txn.route)]",
         "http-response set-header X-Tmp-Later %[var(req.tmp)]"],
        {}, [("GET", "/api/x", {}), ("GET", "/web/y", {}), ("GET", "/", {})]),
    "monitor-uri is answered before the rules": (
        ["monitor-uri /health", "http-request deny if { path /health }"],
        {}, [("GET", "/health", {}), ("GET", "/health?x", {}), ("GET", "/other", {})]),
}


def config(port, servers, fe, be_lines, workdir):
    fe_text = "".join(f"    {l}\n" for l in fe).replace("{dir}", str(workdir))
    text = cfg_head() + USERLIST + f"""frontend fe
    bind 127.0.0.1:{port}
    timeout tarpit 300ms
{fe_text}    default_backend be_default
"""
    for name in BACKENDS:
        extra = "".join(f"    {l}\n" for l in be_lines.get(name, []))
        text += f"backend {name}\n{extra}    server s_{name[3:]} 127.0.0.1:{servers[name]}\n"
    return text


def echo_responder(req, conn, srv):
    """The server's name, the request line it read, then its X-* lines (lowercased names, in order);
    `/status/N...` answers status N; every response has X-App and Set-Cookie lines."""
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-")]
    body = "\n".join([srv.name, f"{req.method} {req.target}"] + lines) + "\n"
    status = 200
    if req.target.startswith("/status/"):
        status = int(req.target.split("/")[2][:3])
    return make_response(status, body.encode(), {"Content-Type": "text/plain", "X-App": "v1, v2",
                                                 "Set-Cookie": "app=42; Path=/", "Server": "echo/1.0"},
                         reason="Whatever" if status not in (200, 404, 500) else None)


def write_files(workdir):
    (workdir / "page.html").write_text("<p>static page</p>\n")
    (workdir / "tmpl.txt").write_text("host=%[req.hdr(host)] path=%[path]\n")
    (workdir / "whole.http").write_bytes(b"HTTP/1.1 200 OK\r\nX-From: errorfile\r\nContent-Type: text/plain\r\n"
                                         b"Content-Length: 6\r\n\r\nwhole\n")
    (workdir / "forbidden.http").write_bytes(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                                             b"Content-Length: 4\r\n\r\nno!\n")


def scenario(env, impl, name):
    fe, be_lines, requests = SCENARIOS[name]
    write_files(env.workdir)
    servers = {b: env.backend(http_handler(echo_responder), name=f"s_{b[3:]}").port for b in BACKENDS}
    port = free_port()
    env.proxy(impl, config(port, servers, fe, be_lines, env.workdir), port, name=f"act-{impl}")
    out = []
    for method, path, headers in requests:
        r = http_get(port, path, headers=headers, method=method)
        assert r is not None, (method, path)
        n = r.norm()
        n["request"] = f"{method} {path} {sorted(headers.items())}"
        out.append(n)
    return {"responses": out}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_action_scenarios(differ, name):
    def check(result):
        # Every scenario exercises more than one outcome.
        assert len({(x["status"], x["body"], tuple(map(tuple, x["headers"]))) for x in result["responses"]}) > 1, result
    differ(scenario, check, name=name)


def test_tarpit_holds_the_request_for_timeout_tarpit(differ):
    """A tarpitted request is answered only when `timeout tarpit` ends; others are served meanwhile."""
    import threading

    def run(env, impl):
        servers = {b: env.backend(http_handler(echo_responder), name=f"s_{b[3:]}").port for b in BACKENDS}
        port = free_port()
        fe = ["http-request tarpit if { path /slow }"]
        env.proxy(impl, config(port, servers, fe, {}, env.workdir).replace("timeout tarpit 300ms", "timeout tarpit 1500ms"),
                  port, name=f"tarpit-{impl}")
        result = {}

        def slow():
            t0 = time.monotonic()
            r = http_get(port, "/slow", timeout=10)
            result["slow"] = (r.status if r else None, time.monotonic() - t0)

        t = threading.Thread(target=slow)
        t.start()
        t0 = time.monotonic()
        fast = http_get(port, "/fast")
        fast_time = time.monotonic() - t0
        t.join(15)
        status, elapsed = result["slow"]
        return {"slow_status": status, "slow_waited": elapsed >= 1.4, "slow_not_forever": elapsed < 5,
                "fast_status": fast.status, "fast_quick": fast_time < 1.0}

    def check(result):
        assert result == {"slow_status": 500, "slow_waited": True, "slow_not_forever": True,
                          "fast_status": 200, "fast_quick": True}, result
    differ(run, check)


def test_actions_on_http2_requests(differ):
    """The same actions for h2 clients (curl with prior knowledge): redirect, return, set-path."""
    import subprocess

    def run(env, impl):
        write_files(env.workdir)
        servers = {b: env.backend(http_handler(echo_responder), name=f"s_{b[3:]}").port for b in BACKENDS}
        port = free_port()
        fe = ["http-request redirect location /moved code 301 if { path /r }",
              "http-request return status 200 content-type text/plain string hi if { path /ret }",
              "http-request set-path /v2%[path] if { path_beg /sp }",
              "http-request set-method PUT if { path_beg /v2/sp }",
              "http-response set-header X-Resp r-%[status]", "http-response del-header Server"]
        text = config(port, servers, fe, {}, env.workdir).replace(f"bind 127.0.0.1:{port}", f"bind 127.0.0.1:{port} proto h2")
        env.proxy(impl, text, port, name=f"acth2-{impl}")
        out = []
        for path in ("/r", "/ret", "/sp/x?q=1"):
            r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-", f"http://127.0.0.1:{port}{path}"],
                               capture_output=True, text=True, timeout=20)
            head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
            lines = head.split("\n")
            hdrs = sorted(l.lower() for l in lines[1:] if not l.lower().startswith("date:"))
            out.append({"status": lines[0], "headers": hdrs, "body": body})
        return {"responses": out}

    def check(result):
        r = result["responses"]
        assert r[0]["status"].startswith("HTTP/2 301") and "location: /moved" in r[0]["headers"], r
        assert r[1]["body"] == "hi", r
        assert "PUT /v2/sp/x?q=1" in r[2]["body"], r
        assert "x-resp: r-200" in r[2]["headers"] and not any(h.startswith("server:") for h in r[2]["headers"]), r
    differ(run, check)


CONFIG_ERRORS = [
    # (lines in the frontend, what the message must say)
    ("http-request foo", "'http-request' expects 'wait-for-handshake', 'ot-group'"),
    ("http-request redirect", "while parsing 'http-request redirect' rule : redirection type expected ('prefix', 'location', or 'scheme')"),
    ("http-request redirect location", "missing argument for 'location'"),
    ("http-request redirect location /x code 305", "'code': unsupported HTTP code '305' (must be one of 301, 302, 303, 307 or 308)"),
    ("http-request redirect bogus /x", "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was 'bogus')"),
    ("http-request return status 99", "while parsing 'http-request return' rule : Unexpected status code '99'"),
    ("http-request return foo", "'http-request return' expects either 'if' or 'unless' followed by a condition but found 'foo'"),
    ("http-request set-path", "while parsing 'http-request set-path' rule : expects exactly 1 argument <format>"),
    ("http-request replace-header X", "while parsing 'http-request replace-header' rule : expects exactly 3 arguments"),
    ("http-request return file /nonexistent/x", "error opening file '/nonexistent/x'"),
    ("http-request auth realm", "while parsing 'http-request auth' rule : missing realm value"),
    ("http-request tarpit deny_status 999", "Unexpected status code '999'"),
    ("http-response set-status abc", "while parsing 'http-response set-status' rule : expects an integer status code between 100 and 999"),
    ("http-response set-path /x", "but got 'set-path'"),
    ("redirect location", "while parsing redirect rule : missing argument for 'location'"),
    ("monitor-uri", "'monitor-uri' expects an URI"),
]


@pytest.mark.parametrize("line,message", CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_config_errors_name_file_line_and_haproxys_words(impl, tmp_path, line, message):
    from harness import config_check
    cfg = tmp_path / "bad.cfg"
    text = config(free_port(), {b: 1 for b in BACKENDS}, [line], {}, tmp_path)
    cfg.write_text(text)
    lineno = next(i for i, l in enumerate(text.splitlines(), 1) if l.strip() == line)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert message in out, out
    assert f"bad.cfg:{lineno}]" in out, out
