"""ACLs, conditions, `use_backend`, `http-request allow/deny` and conditional header rules,
differential: the same config through haproxy 2.6 and Fulcrum, the same requests; compared are the
status, the body (which server answered, or the error page) and the X-* header lines the server
read, in order. Three backends answer with their server's name."""

import pytest

from harness import cfg_head, free_port, http_get, http_handler, make_response

BACKENDS = ("be_api", "be_static", "be_default")

# name: (frontend lines, {backend: lines}, [(method, path, headers)])
SCENARIOS = {
    "use_backend by path_beg/path_end, else default": (
        ["acl is_api path_beg /api", "acl is_static path_end .css .js",
         "use_backend be_api if is_api", "use_backend be_static if is_static"],
        {}, [("GET", "/api/users", {}), ("GET", "/style.css", {}), ("GET", "/other", {}), ("GET", "/API/x", {}),
             ("GET", "/app.js?v=1", {})]),
    "host routing: hdr -i, hdr_dom, hdr_end": (
        ["use_backend be_api if { hdr(host) -i api.example.com }",
         "use_backend be_static if { hdr_dom(host) -i static.example.com }",
         "use_backend be_static if { hdr_end(host) .cdn.test }"],
        {}, [("GET", "/", {"Host": "API.example.com"}), ("GET", "/", {"Host": "static.example.com:8080"}),
             ("GET", "/", {"Host": "x.static.example.com"}), ("GET", "/", {"Host": "img.cdn.test"}),
             ("GET", "/", {"Host": "other"})]),
    "-i on single-valued fetches (str, beg, end)": (
        ["use_backend be_api if { path_beg -i /API }", "use_backend be_static if { path -i /Static.CSS }",
         "use_backend be_static if { path_end -i .JS }", "use_backend be_api if { method -i -m str patch }"],
        {}, [("GET", "/api/x", {}), ("GET", "/Api/y", {}), ("GET", "/STATIC.css", {}), ("GET", "/static.css", {}),
             ("GET", "/x.js", {}), ("PATCH", "/p", {}), ("GET", "/other", {})]),
    "! and || and implicit AND": (
        ["acl a path_beg /a", "acl b path_beg /b",
         "use_backend be_static if !a METH_POST", "use_backend be_api if a || b"],
        {}, [("GET", "/a1", {}), ("GET", "/b1", {}), ("POST", "/c", {}), ("POST", "/a2", {}), ("GET", "/c", {})]),
    "unless": (
        ["use_backend be_api unless { path_beg /keep }"],
        {}, [("GET", "/keep/1", {}), ("GET", "/x", {})]),
    "same-named acl lines are ORed": (
        ["acl x path_beg /one", "acl x path_beg /two", "use_backend be_api if x"],
        {}, [("GET", "/one", {}), ("GET", "/two", {}), ("GET", "/three", {})]),
    "deny, deny_status, LOCALHOST": (
        ["http-request deny if { path_beg /admin } !LOCALHOST",
         "http-request deny deny_status 429 if { req.hdr(x-rate) -m found }",
         "http-request deny if { path_reg ^/secret[0-9]+$ }"],
        {}, [("GET", "/admin", {}), ("GET", "/x", {"X-Rate": "1"}), ("GET", "/secret42", {}),
             ("GET", "/secret42/x", {})]),
    "allow ends the rule set": (
        ["http-request allow if { path_beg /open }", "http-request deny"],
        {}, [("GET", "/open/x", {}), ("GET", "/closed", {})]),
    "conditional header rules and message fetches": (
        ["http-request set-header X-Route api if { path_beg /api }",
         "http-request del-header X-Debug unless { hdr(x-debug-key) s3cr3t }",
         "http-request set-header X-Info \"%[method] %[path] %[query] %[req.ver]\"",
         "http-request set-header X-Url %[url]",
         "http-request set-header X-Base %[base]",
         "http-request set-header X-Host %[req.hdr(host),lower]",
         "http-request set-header X-Param %[url_param(id)]",
         "http-request set-header X-Cookie %[req.cook(sid)]",
         "http-request set-header X-Cnt %[req.hdr_cnt(x-multi)]",
         "http-request set-header X-Last %[req.hdr(x-multi)]",
         "http-request set-header X-First %[req.hdr(x-multi,1)]",
         "http-request set-header X-Full %[req.fhdr(x-multi)]"],
        {}, [("GET", "/api/v1?id=7&x=1", {"Host": "Www.Test", "X-Debug": "1", "Cookie": "a=1; sid=abc",
                                          "X-Multi": "p, q"}),
             ("GET", "/plain", {"X-Debug": "2", "X-Debug-Key": "s3cr3t", "X-Multi": "r"})]),
    "a rule sees the headers earlier rules set": (
        ["http-request set-header X-Tier gold if { path_beg /vip }",
         "use_backend be_api if { req.hdr(x-tier) gold }"],
        {}, [("GET", "/vip/1", {}), ("GET", "/x", {"X-Tier": "silver"}), ("GET", "/y", {"X-Tier": "gold"})]),
    "backend rules run after switching": (
        ["use_backend be_api if { path_beg /api }", "use_backend be_static if { path_beg /static }"],
        {"be_api": ["http-request set-header X-Be api-%[be_name]"],
         "be_static": ["http-request deny if { path_end .secret }"],
         "be_default": ["http-request add-header X-Be default"]},
        [("GET", "/api/x", {}), ("GET", "/static/a.secret", {}), ("GET", "/static/a.png", {}), ("GET", "/z", {})]),
    "int, ip and counts": (
        ["use_backend be_static if { req.hdr_cnt(x-multi) ge 2 }",
         "use_backend be_api if { hdr_val(x-n) 10:20 }",
         "use_backend be_api if { dst_port lt 1024 }",
         "use_backend be_static if { src 10.0.0.0/8 } || { hdr_ip(x-forwarded-for) 192.168.0.0/16 }"],
        {}, [("GET", "/", {"X-Multi": "a, b"}), ("GET", "/", {"X-N": "15"}), ("GET", "/", {"X-N": "25"}),
             ("GET", "/", {"X-Forwarded-For": "192.168.3.4"}), ("GET", "/", {})]),
    "-m methods on generic fetches": (
        ["use_backend be_api if { path -m sub /v2/ }",
         "use_backend be_static if { url -m reg -i \\.(png|jpg)$ }",
         "use_backend be_api if { req.cook(sid) -m beg admin- }",
         "use_backend be_static if { url_param(lang) -m str fr de }",
         "use_backend be_api if { path_dir api }",
         "use_backend be_static if { path_len gt 20 }"],
        {}, [("GET", "/x/v2/y", {}), ("GET", "/IMG.PNG", {}), ("GET", "/", {"Cookie": "sid=admin-1"}),
             ("GET", "/?lang=de", {}), ("GET", "/a/api/b", {}), ("GET", "/apis/b", {}),
             ("GET", "/aaaaaaaaaaaaaaaaaaaaaaaaa", {}), ("GET", "/short", {})]),
    "predefined ACLs": (
        ["use_backend be_static if METH_POST", "use_backend be_api if METH_GET HTTP_1.1 HTTP_URL_SLASH",
         "use_backend be_static if TRUE"],
        {}, [("POST", "/", {}), ("GET", "/", {}), ("DELETE", "/", {})]),
}


def config(port, servers, fe, be_lines, workdir):
    fe_text = "".join(f"    {l}\n" for l in fe).replace("{dir}", str(workdir))
    text = cfg_head() + f"""frontend fe
    bind 127.0.0.1:{port}
{fe_text}    default_backend be_default
"""
    for name in BACKENDS:
        extra = "".join(f"    {l}\n" for l in be_lines.get(name, []))
        text += f"backend {name}\n{extra}    server s_{name[3:]} 127.0.0.1:{servers[name]}\n"
    return text


def echo_responder(req, conn, srv):
    """The server's name, then the X-* lines it read (lowercased names, in order)."""
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-")]
    return make_response(200, ("\n".join([srv.name] + lines) + "\n").encode(), {"Content-Type": "text/plain"})


def scenario(env, impl, name):
    fe, be_lines, requests = SCENARIOS[name]
    servers = {}
    for b in BACKENDS:
        servers[b] = env.backend(http_handler(echo_responder), name=f"s_{b[3:]}").port
    port = free_port()
    env.proxy(impl, config(port, servers, fe, be_lines, env.workdir), port, name=f"acl-{impl}")
    out = []
    for method, path, headers in requests:
        r = http_get(port, path, headers=headers, method=method)
        assert r is not None, (method, path)
        out.append({"request": f"{method} {path} {sorted(headers.items())}", "status": r.status,
                    "body": r.body.decode("latin1")})
    return {"responses": out}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_acl_scenarios(differ, name):
    def check(result):
        # Every scenario exercises more than one outcome (not all requests to one place).
        assert len({(x["status"], x["body"]) for x in result["responses"]}) > 1, result
    differ(scenario, check, name=name)


def test_acl_pattern_file(differ):
    """`acl NAME src -f FILE`: patterns from a file (comments and blank lines skipped)."""
    def run(env, impl):
        (env.workdir / "blocked.lst").write_text("# blocked clients\n\n10.9.9.9\n127.0.0.0/8\n")
        (env.workdir / "paths.lst").write_text("/p1\n/p2\n")
        servers = {b: env.backend(http_handler(echo_responder), name=f"s_{b[3:]}").port for b in BACKENDS}
        port = free_port()
        fe = ["acl blocked src -f {dir}/blocked.lst", "acl listed path -f {dir}/paths.lst",
              "http-request deny deny_status 403 if blocked !listed"]
        env.proxy(impl, config(port, servers, fe, {}, env.workdir), port, name=f"aclf-{impl}")
        return {"responses": [(r.status, r.body.decode("latin1").split("\n")[0]) for r in
                              (http_get(port, "/p1"), http_get(port, "/other"))]}

    def check(result):
        assert result["responses"][0][0] == 200 and result["responses"][1][0] == 403
    differ(run, check)


CONFIG_ERRORS = [
    # (lines in the frontend, what the message must say)
    ("acl a2 pathx_beg /x", "unknown fetch method 'pathx_beg' in ACL expression 'pathx_beg'"),
    ("acl a3 path -m foo /x", "unknown matching method 'foo'"),
    ("acl a5 src 10.0.0.0/8 bad", "'bad' is not a valid IPv4 or IPv6 address"),
    ("acl a6 dst_port 80:90 gt3", "'gt3' is not a number"),
    ("use_backend be_api if nosuch", "no such ACL : 'nosuch'"),
    ("use_backend be_api when TRUE", "unexpected keyword 'when' after switching rule, only 'if' and 'unless' are allowed"),
    ("http-request deny if nosuch2", "no such ACL : 'nosuch2'"),
    ("http-request deny foo", "'http-request deny' expects either 'if' or 'unless' followed by a condition but found 'foo'"),
    ("http-request deny deny_status 999", "Unexpected status code '999'"),
    ("acl bad!name path /a", "character '!' is not permitted in acl name 'bad!name'"),
    ("use_backend be_nosuch if TRUE", "unable to find required use_backend: 'be_nosuch'"),
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
    if "use_backend: " not in message:  # haproxy reports a missing backend without a line
        assert f"bad.cfg:{lineno}]" in out, out


def test_rules_on_http2_requests(differ):
    """The same rule engine on an h2 frontend (`bind ... proto h2`, h2c with prior knowledge):
    use_backend by path and header, a conditional set-header, a deny; curl as the client."""
    import subprocess

    def run(env, impl):
        servers = {b: env.backend(http_handler(echo_responder), name=f"s_{b[3:]}").port for b in BACKENDS}
        port = free_port()
        fe = ["acl is_api path_beg /api", "use_backend be_api if is_api",
              "use_backend be_static if { req.hdr(x-kind) static }",
              "http-request set-header X-Seen %[path],%[req.ver] if is_api",
              "http-request deny deny_status 429 if { path_end .deny }"]
        text = config(port, servers, fe, {}, env.workdir).replace(f"bind 127.0.0.1:{port}", f"bind 127.0.0.1:{port} proto h2")
        env.proxy(impl, text, port, name=f"aclh2-{impl}")
        out = []
        for path, headers in [("/api/x", []), ("/y", ["X-Kind: static"]), ("/z", []), ("/a.deny", [])]:
            args = ["curl", "-sS", "--http2-prior-knowledge", "-w", "\\n%{http_code}", f"http://127.0.0.1:{port}{path}"]
            for h in headers:
                args += ["-H", h]
            r = subprocess.run(args, capture_output=True, text=True, timeout=20)
            body, _, code = r.stdout.rpartition("\n")
            out.append((path, code, body if code == "200" else code))
        return {"responses": out}

    def check(result):
        assert [x[2].split("\n")[0] for x in result["responses"]] == ["s_api", "s_static", "s_default", "429"], result
        assert "x-seen: /api/x,2.0" in result["responses"][0][2], result
    differ(run, check)
