"""Fetches that read the running proxies (nbsrv, srv_is_up, be_conn, fe_conn, queue, avg_queue,
connslots), date, env, unique-id, http_auth_group; dynamic `use_backend` names; `use-server` and
`force-persist`. Differential: the same config and requests through haproxy 2.6 and Fulcrum;
compared are the status, which server answered and the X-* lines it read (the rules expose the
fetched values in headers). Server health and queues are waited for with deadlines."""

import base64
import threading
import time

import pytest

from harness import cfg_head, free_port, http_get, http_handler, make_response, wait_for


def echo_responder(req, conn, srv):
    """The server's name, then the X-* lines it read; /hold waits (bounded) for srv.release."""
    if req.target.startswith("/hold"):
        srv.release.wait(8)
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-")]
    return make_response(200, ("\n".join([srv.name] + lines) + "\n").encode(), {"Content-Type": "text/plain"})


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def lines(block):
    return "".join(f"    {l}\n" for l in block)


def result(r):
    assert r is not None
    return {"status": r.status, "body": r.body.decode("latin1")}


# name: (frontend lines, backend lines for be_one/be_two/be_default, requests)
SCENARIOS = {
    "dynamic use_backend by header; an unknown name goes to the default, later rules are skipped": (
        ["use_backend be_%[req.hdr(x-tier)]", "use_backend be_two if { path_beg /two }"],
        {}, [("/", {"X-Tier": "one"}), ("/", {"X-Tier": "two"}), ("/two", {"X-Tier": "nosuch"}), ("/two", {}),
             ("/", {"X-Tier": "default"})]),
    "dynamic use_backend with a condition, then a static rule": (
        ["use_backend be_%[req.hdr(x-tier),lower] if { req.hdr(x-tier) -m found }",
         "use_backend be_two if { path_beg /two }"],
        {}, [("/", {"X-Tier": "ONE"}), ("/two", {}), ("/two", {"X-Tier": "zz"}), ("/x", {})]),
    "dynamic use_backend from a map file": (
        ["use_backend %[path,map_beg({dir}/routes.map,be_default)]"],
        {}, [("/api/users", {}), ("/static/a.css", {}), ("/other", {}), ("/apix", {})]),
    "http_auth_group: the user as a sample, groups in ACLs": (
        ["http-request set-header X-User %[http_auth_group(L)] if { http_auth(L) }",
         "http-request set-header X-Admin yes if { http_auth_group(L) admins }",
         "use_backend be_two if { http_auth_group(L) ops admins }"],
        {}, [("/", basic("alice", "pa")), ("/", basic("bob", "pb")), ("/", basic("carol", "pc")),
             ("/", basic("bob", "wrong")), ("/", {})]),
    "unique-id-format, unique-id-header and the unique-id fetch": (
        ["unique-id-format %{+X}o\\ %ci:%fi-%[req.hdr(x-req)]", "unique-id-header X-Unique-ID",
         "http-request set-header X-Id %[unique-id]",
         "use_backend be_two if { unique-id -m end r2 }"],
        {}, [("/", {"X-Req": "r1"}), ("/", {"X-Req": "r2"}), ("/", {})]),
    "env in rules and ACLs": (
        ["http-request set-header X-Home %[env(FULCRUM_TEST_TIER)]",
         "use_backend be_two if { env(FULCRUM_TEST_TIER) -m str gold }",
         "http-request set-header X-Missing %[env(FULCRUM_NO_SUCH_VAR)]"],
        {}, [("/", {})]),
    "use-server: the designated server, ahead of balancing": (
        [], {"be_two": ["use-server s_two_b if { path_beg /b }", "use-server s_two_a unless { path_beg /a-not }"]},
        [("/b/1", {"X-To": "two"}), ("/x", {"X-To": "two"}), ("/a-not", {"X-To": "two"}), ("/a-not", {"X-To": "two"}),
         ("/b", {"X-To": "two"})]),
    "dynamic use-server names": (
        [], {"be_two": ["use-server %[req.hdr(x-srv)] if { req.hdr(x-srv) -m found }"]},
        [("/", {"X-To": "two", "X-Srv": "s_two_b"}), ("/", {"X-To": "two", "X-Srv": "s_two_b"}),
         ("/", {"X-To": "two", "X-Srv": "nosuch"}), ("/", {"X-To": "two", "X-Srv": "s_two_a"})]),
}


def config(port, servers, fe, be_lines, workdir, be_two_extra=""):
    fe_text = lines(fe).replace("{dir}", str(workdir))
    text = cfg_head() + f"""userlist L
    group admins users alice
    group ops
    user alice insecure-password pa
    user bob insecure-password pb groups ops
    user carol insecure-password pc
frontend fe
    bind 127.0.0.1:{port}
    use_backend be_two if {{ req.hdr(x-to) two }}
{fe_text}    default_backend be_default
backend be_one
{lines(be_lines.get("be_one", []))}    server s_one 127.0.0.1:{servers["s_one"]}
backend be_two
    balance roundrobin
{lines(be_lines.get("be_two", []))}    server s_two_a 127.0.0.1:{servers["s_two_a"]}
    server s_two_b 127.0.0.1:{servers["s_two_b"]}{be_two_extra}
backend be_default
{lines(be_lines.get("be_default", []))}    server s_default 127.0.0.1:{servers["s_default"]}
"""
    return text


SERVERS = ("s_one", "s_two_a", "s_two_b", "s_default")


def scenario(env, impl, name):
    fe, be_lines, requests = SCENARIOS[name]
    (env.workdir / "routes.map").write_text("/api/ be_one\n/static/ be_two\n")
    servers = {s: env.backend(http_handler(echo_responder), name=s).port for s in SERVERS}
    port = free_port()
    env.proxy(impl, config(port, servers, fe, be_lines, env.workdir), port, name=f"fetch-{impl}")
    out = []
    for path, headers in requests:
        r = http_get(port, path, headers=headers)
        out.append({"request": f"{path} {sorted(headers.items())}", **result(r)})
    return {"responses": out}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fetch_scenarios(differ, name, monkeypatch):
    monkeypatch.setenv("FULCRUM_TEST_TIER", "gold")

    def check(res):
        outcomes = {(x["status"], x["body"]) for x in res["responses"]}
        assert len(res["responses"]) == 1 or len(outcomes) > 1, res
    differ(scenario, check, name=name)


def test_date_fetch(differ):
    """date, date(offset), date(offset,ms), date(0,us): within two seconds of the clock."""
    def run(env, impl):
        servers = {s: env.backend(http_handler(echo_responder), name=s).port for s in SERVERS}
        port = free_port()
        fe = ['http-request set-header X-Date "%[date] %[date(3600)] %[date(-10,ms)] %[date(0,us)]"',
              "use_backend be_one if { date gt 1000000000 }"]
        env.proxy(impl, config(port, servers, fe, {}, env.workdir), port, name=f"date-{impl}")
        now = time.time()
        r = http_get(port, "/")
        body = r.body.decode()
        values = [int(v) for v in body.split("x-date: ")[1].split("\n")[0].split()]
        return {"server": body.split("\n")[0], "close": [abs(values[0] - now) < 2, abs(values[1] - 3600 - now) < 2,
                                                          abs((values[2] + 10) / 1e3 - now) < 2, abs(values[3] / 1e6 - now) < 2]}

    def check(res):
        assert res == {"server": "s_one", "close": [True] * 4}, res
    differ(run, check)


def probe(port, path="/probe", headers=None):
    r = http_get(port, path, headers=headers or {})
    return {"status": r.status, "body": r.body.decode("latin1")} if r is not None else None


def test_nbsrv_and_srv_is_up_follow_health(differ):
    """A server checked against a closed port goes down: nbsrv counts one server less, srv_is_up
    says 0, and an ACL on nbsrv switches backend; a use-server rule naming it is skipped."""
    def run(env, impl):
        servers = {s: env.backend(http_handler(echo_responder), name=s).port for s in SERVERS}
        port, dead = free_port(), free_port()
        fe = ['http-request set-header X-Up "%[nbsrv(be_two)] %[srv_is_up(be_two/s_two_a)] %[srv_is_up(be_two/s_dead)]"',
              "use_backend be_one if { nbsrv(be_two) lt 3 } { path_beg /switch }"]
        be = {"be_two": ["use-server s_dead if { path_beg /dead }"]}
        extra = f"\n    server s_dead 127.0.0.1:{dead} check inter 100 fall 1 rise 1"
        env.proxy(impl, config(port, servers, fe, be, env.workdir, be_two_extra=extra), port, name=f"nbsrv-{impl}")
        wait_for(lambda: "x-up: 2 1 0" in (probe(port) or {}).get("body", ""), 10, what="s_dead marked down")
        return {"responses": [probe(port, "/"), probe(port, "/switch"),
                              probe(port, "/dead", {"X-To": "two"}), probe(port, "/dead", {"X-To": "two"})]}

    def check(res):
        assert res["responses"][1]["body"].startswith("s_one"), res
        assert all(r["status"] == 200 for r in res["responses"]), res
    differ(run, check)


def test_force_persist_sends_to_a_down_server(differ):
    """use-server on a down server: skipped, unless force-persist holds; then the connection to it
    fails (no redispatch, even with option redispatch) and the client gets haproxy's 503."""
    def run(env, impl):
        servers = {s: env.backend(http_handler(echo_responder), name=s).port for s in SERVERS}
        port, dead = free_port(), free_port()
        be = {"be_two": ["option redispatch", "retries 1", "use-server s_dead if { path_beg /dead }",
                         "force-persist if { req.hdr(x-force) 1 }"]}
        fe = ['http-request set-header X-Up %[srv_is_up(be_two/s_dead)]']
        extra = f"\n    server s_dead 127.0.0.1:{dead} check inter 100 fall 1 rise 1"
        env.proxy(impl, config(port, servers, fe, be, env.workdir, be_two_extra=extra), port, name=f"force-{impl}")
        wait_for(lambda: "x-up: 0" in (probe(port) or {}).get("body", ""), 10, what="s_dead marked down")
        return {"responses": [probe(port, "/dead", {"X-To": "two"}), probe(port, "/dead", {"X-To": "two", "X-Force": "1"}),
                              probe(port, "/other", {"X-To": "two", "X-Force": "1"})]}

    def check(res):
        assert [r["status"] for r in res["responses"]] == [200, 503, 200], res
    differ(run, check)


def test_connection_and_queue_counts(differ):
    """Three held requests on a server with maxconn 1: one served, two queued. Another backend's
    rules read be_conn, fe_conn, queue, avg_queue and connslots of the busy one."""
    def run(env, impl):
        servers = {s: env.backend(http_handler(echo_responder), name=s).port for s in SERVERS}
        port = free_port()
        fe = ['http-request set-header X-Load "%[be_conn(be_one)] %[fe_conn] %[queue(be_one)] %[avg_queue(be_one)] '
              '%[connslots(be_one)] %[connslots(be_two)]"',
              "use_backend be_one if { path_beg /hold }"]
        text = config(port, servers, fe, {}, env.workdir).replace(
            f"server s_one 127.0.0.1:{servers['s_one']}", f"server s_one 127.0.0.1:{servers['s_one']} maxconn 1 maxqueue 5")
        text = text.replace("    timeout server 5s", "    timeout server 5s\n    timeout queue 10s")
        env.proxy(impl, text, port, name=f"load-{impl}")
        idle = probe(port)
        held = [threading.Thread(target=http_get, args=(port, f"/hold{i}"), kwargs={"timeout": 10}, daemon=True) for i in range(3)]
        for t in held:
            t.start()
        busy = {}
        def settled():
            busy["r"] = probe(port)
            return busy["r"] is not None and "x-load: 3 4 2 2 5 -1" in busy["r"]["body"]
        try:
            wait_for(settled, 10, what="one request served and two queued")
        finally:
            env.backends[0].release.set()
            for t in held:
                t.join(10)
        after = {}
        wait_for(lambda: after.update(r=probe(port)) or "x-load: 0 1 0 0 6 -1" in after["r"]["body"], 10, what="queue drained")
        return {"responses": [idle, busy["r"], after["r"]]}

    def check(res):
        assert "x-load: 0 1 0 0 6 -1" in res["responses"][0]["body"], res
    differ(run, check)


CONFIG_ERRORS = [
    # (frontend lines, backend be_two lines, what the message must say, line-numbered)
    ([], ["use-server nosuch if TRUE"], "backend 'be_two' : unable to find server 'nosuch' referenced in a 'use-server' rule", False),
    ([], ["use-server s_two_a"], "'use-server' requires either 'if' or 'unless' followed by a condition", True),
    ([], ["use-server s_two_a when TRUE"], "'use-server' requires either 'if' or 'unless' followed by a condition", True),
    ([], ["force-persist TRUE"], "'force-persist' requires either 'if' or 'unless' followed by a condition", True),
    ([], ["use-server s_two_a if nosuch"], "error detected while parsing switching rule : no such ACL : 'nosuch'", True),
    (["use_backend be_%[req.hdr(x)"], [], "failed to parse use_backend rule 'be_%[req.hdr(x)' : missing ']' after 'req.hdr(x)'", True),
    (["http-request set-header X %[date(1,h)]"], [],
     "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'h'", True),
    (["http-request set-header X %[nbsrv]"], [],
     "proxy 'fe', referenced in arg 1 of sample fetch keyword 'nbsrv' in http-request expression in proxy 'fe', has not backend capability", True),
]


@pytest.mark.parametrize("fe,be,message,numbered", CONFIG_ERRORS, ids=[c[2][:50] for c in CONFIG_ERRORS])
def test_config_errors(impl, tmp_path, fe, be, message, numbered):
    from harness import config_check
    cfg = tmp_path / "bad.cfg"
    text = config(free_port(), {s: 1 for s in SERVERS}, fe, {"be_two": be}, tmp_path)
    cfg.write_text(text)
    bad = (fe + be)[0]
    lineno = next(i for i, l in enumerate(text.splitlines(), 1) if l.strip() == bad)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert message in out, out
    if numbered:
        assert f"bad.cfg:{lineno}]" in out, out


def test_valid_configs_pass_the_check(impl, tmp_path):
    """Dynamic names, use-server and force-persist are accepted by `-c`."""
    from harness import config_check
    cfg = tmp_path / "ok.cfg"
    fe = ["use_backend be_%[req.hdr(x-tier)] if { req.hdr(x-tier) -m found }",
          "http-request set-header X-N %[nbsrv(be_two)]"]
    be = ["use-server %[req.hdr(x-srv)] if { req.hdr(x-srv) -m found }", "use-server s_two_a if TRUE",
          "force-persist if { src 127.0.0.1 }"]
    cfg.write_text(config(free_port(), {s: 1 for s in SERVERS}, fe, {"be_two": be}, tmp_path))
    rc, out = config_check(impl, cfg)
    assert rc == 0, out


def test_ssl_fc_sni(differ, tmp_path_factory):
    """`bind ... ssl crt`: ssl_fc_sni in a rule value, an ACL (ssl_fc_sni_end) and use_backend;
    curl sends the name it connects to; an IP address sends no SNI (empty); HTTP/1.1 and h2 (ALPN)."""
    import subprocess
    pki = tmp_path_factory.mktemp("sni-pki")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(pki / "k.key"), "-out", str(pki / "c.crt"), "-subj", "/CN=a.test", "-days", "2",
                    "-addext", "subjectAltName=DNS:a.test,DNS:*.b.test"], check=True, capture_output=True, timeout=30)
    (pki / "site.pem").write_text((pki / "c.crt").read_text() + (pki / "k.key").read_text())

    def run(env, impl):
        servers = {s: env.backend(http_handler(echo_responder), name=s).port for s in SERVERS}
        port = free_port()
        fe = ["http-request set-header X-Sni %[ssl_fc_sni]", "use_backend be_two if { ssl_fc_sni_end .b.test }",
              "use_backend be_one if { ssl_fc_sni -i A.TEST }"]
        text = config(port, servers, fe, {}, env.workdir).replace(f"bind 127.0.0.1:{port}",
                                                                   f"bind 127.0.0.1:{port} ssl crt {pki / 'site.pem'} alpn h2,http/1.1")
        env.proxy(impl, text, port, name=f"sni-{impl}")
        out = []
        for host, version in (("a.test", "--http1.1"), ("x.b.test", "--http1.1"), ("127.0.0.1", "--http1.1"), ("y.b.test", "--http2")):
            r = subprocess.run(["curl", "-sSk", version, "--resolve", f"{host}:{port}:127.0.0.1", f"https://{host}:{port}/"],
                               capture_output=True, text=True, timeout=20)
            out.append({"host": host, "rc": r.returncode, "body": r.stdout})
        return {"responses": out}

    def check(res):
        assert [r["body"].split("\n")[0] for r in res["responses"]] == ["s_one", "s_two_a", "s_default", "s_two_b"], res
    differ(run, check)
