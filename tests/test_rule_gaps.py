"""L7 rule corners, differential against haproxy 2.6: fetches naming a backend, frontend or
server that does not exist are refused at load (nbsrv, be_conn, queue, avg_queue, connslots,
fe_conn, srv_is_up), response fetches in http-request rules (haproxy's words), the 408 of a
request body that does not come in time under option http-buffer-request / wait-for-body uses
the proxy's errorfile, and a rule that grows a head past tune.bufsize is answered 500 (PR for
http-request rules, PH for http-response ones) with the connection kept."""

import pytest

from harness import Client, cfg_head, config_check, free_port, http_handler, make_response
from test_rule_actions2 import Syslog


def simple_config(fe_lines=(), be_lines=(), glob="", port=None, server_port=None):
    text = cfg_head(global_extra=glob, defaults_extra="log 127.0.0.1:514 local0")
    text += f"frontend fe\n    bind 127.0.0.1:{port or free_port()}\n"
    text += "".join(f"    {l}\n" for l in fe_lines) + "    default_backend be\n"
    text += "backend be\n" + "".join(f"    {l}\n" for l in be_lines)
    text += f"    server s1 127.0.0.1:{server_port or free_port()}\n"
    return text


# (frontend or backend line, what haproxy -c says)
LOAD_ERRORS = [
    ("fe", "http-request set-header X-N %[nbsrv(nosuch)]",
     "unable to find backend 'nosuch' referenced in arg 1 of sample fetch keyword 'nbsrv' in http-request expression in proxy 'fe'."),
    ("fe", "acl busy be_conn(nosuch) gt 0",
     "unable to find backend 'nosuch' referenced in arg 1 of ACL keyword 'be_conn' in proxy 'fe'."),
    ("fe", "http-request deny if { queue(nosuch) gt 0 }",
     "unable to find backend 'nosuch' referenced in arg 1 of ACL keyword 'queue' in proxy 'fe'."),
    ("fe", "http-request set-var(txn.a) avg_queue(nosuch)",
     "unable to find backend 'nosuch' referenced in arg 1 of sample fetch keyword 'avg_queue' in http-request expression in proxy 'fe'."),
    ("fe", "use_backend be if { connslots(nosuch) gt 0 }",
     "unable to find backend 'nosuch' referenced in arg 1 of ACL keyword 'connslots' in proxy 'fe'."),
    ("fe", "http-request set-var(txn.a) nbsrv(fe)",
     "unable to find backend 'fe' referenced in arg 1 of sample fetch keyword 'nbsrv' in http-request expression in proxy 'fe'."),
    ("fe", "http-response set-header X %[nbsrv(nosuch)]",
     "unable to find backend 'nosuch' referenced in arg 1 of sample fetch keyword 'nbsrv' in http-response response in proxy 'fe'."),
    ("fe", 'log-format "%[be_conn(nosuch)]"',
     "unable to find backend 'nosuch' referenced in arg 1 of sample fetch keyword 'be_conn' in log-format string in proxy 'fe'."),
    ("fe", "http-request deny if { srv_is_up(be/nosrv) }",
     "unable to find server 'nosrv' in proxy 'be', referenced in arg 1 of ACL keyword 'srv_is_up' in proxy 'fe'."),
    ("fe", "http-request deny if { srv_is_up(nobe/s1) }",
     "unable to find proxy 'nobe' referenced in arg 1 of ACL keyword 'srv_is_up' in proxy 'fe'."),
    ("fe", "http-request deny if { srv_is_up(s1) }",
     "unable to find server 's1' in proxy 'fe', referenced in arg 1 of ACL keyword 'srv_is_up' in proxy 'fe'."),
    ("be", "http-request set-header X-Up %[srv_is_up(s2)]",
     "unable to find server 's2' in proxy 'be', referenced in arg 1 of sample fetch keyword 'srv_is_up' in http-request expression in proxy 'be'."),
    ("fe", "http-request deny if { fe_conn(be) gt 1 }",
     "unable to find frontend 'be' referenced in arg 1 of ACL keyword 'fe_conn' in proxy 'fe'."),
    ("fe", "acl few nbsrv lt 1",
     "proxy 'fe', referenced in arg 1 of ACL keyword 'nbsrv' in proxy 'fe', has not backend capability."),
    ("be", "http-request set-header X-S %[status]",
     "sample fetch <status]> may not be reliably used here because it needs 'HTTP response' which is not available here."),
    ("be", "http-request set-header X-S \"s=%[status,add(1)] x\"",
     "sample fetch <status,add(1)] x> may not be reliably used here because it needs 'HTTP response' which is not available here."),
    ("be", "http-request set-header X-S %[res.hdr(x)]",
     "sample fetch <res.hdr(x)]> may not be reliably used here because it needs 'HTTP response headers' which is not available here."),
    ("be", "http-request set-var(txn.c) status",
     "while parsing 'http-request set-var(txn.c)' rule : fetch method 'set-var(txn.c)' extracts information from 'HTTP response', none of which is available here."),
    ("be", "http-request set-var(txn.c) res.hdr(x),lower",
     "fetch method 'set-var(txn.c)' extracts information from 'HTTP response headers', none of which is available here."),
    ("fe", "http-request set-header X \"a %[be_name,lower] b\"",
     "sample fetch <be_name,lower] b> may not be reliably used here because it needs 'backend' which is not available here."),
    ("fe", "http-request set-header X %[srv_id]",
     "sample fetch <srv_id]> may not be reliably used here because it needs 'server' which is not available here."),
    ("be", "http-request set-header X %[srv_name]",
     "sample fetch <srv_name]> may not be reliably used here because it needs 'server' which is not available here."),
]


@pytest.mark.parametrize("where,line,message", LOAD_ERRORS, ids=[c[1] for c in LOAD_ERRORS])
def test_load_errors_name_file_line_and_haproxys_words(impl, tmp_path, where, line, message):
    text = simple_config(fe_lines=[line] if where == "fe" else [], be_lines=[line] if where == "be" else [])
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    lineno = next(i for i, l in enumerate(text.splitlines(), 1) if l.strip() == line)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert message in out, out
    assert f"bad.cfg:{lineno}]" in out, out


def test_existing_names_are_accepted(impl, tmp_path):
    lines = ["http-request set-header X-N %[nbsrv(be)]/%[be_conn(be)]/%[queue(be)]/%[avg_queue(be)]/%[connslots(be)]",
             "http-request set-header X-F %[fe_conn(fe)]",
             "http-request deny if { srv_is_up(be/s1) } { nbsrv(be) gt 5 }",
             "acl up srv_is_up(be/s1)"]
    cfg = tmp_path / "ok.cfg"
    cfg.write_text(simple_config(fe_lines=lines, be_lines=["http-request set-header X-U %[srv_is_up(s1)]"]))
    rc, out = config_check(impl, cfg)
    assert rc == 0, out


# --------------------------------------------------------------------------
# The 408 of a body that does not come in time: the proxy's errorfile when it has one
# --------------------------------------------------------------------------

def echo(req, conn, srv):
    return make_response(200, f"{srv.name} {req.method} {req.target} body={len(req.body)}\n".encode(),
                         {"Content-Type": "text/plain"})


ERRORFILES = {
    "fe408.http": b"HTTP/1.0 408 Custom\r\nContent-Type: text/plain\r\nX-Mine: fe\r\n\r\nlate body\n",
    "be408.http": b"HTTP/1.0 408 Backend Late\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nbe late\n",
    "sec408.http": b"HTTP/1.1 408 Section\r\nContent-Type: text/plain\r\nX-Src: myerrs\r\nContent-Length: 9\r\n\r\nsec late\n",
}


def body_timeout_scenario(env, impl):
    for name, content in ERRORFILES.items():
        (env.workdir / name).write_bytes(content)
    d = env.workdir
    syslog = Syslog()
    srv = env.backend(http_handler(echo), name="s1").port
    ports = [free_port() for _ in range(4)]
    text = cfg_head(global_extra=f"log 127.0.0.1:{syslog.port} local0", timeouts={"http-request": "600ms"},
                    defaults_extra="log global\noption httplog")
    text += (f"frontend fe_file\n    bind 127.0.0.1:{ports[0]}\n    errorfile 408 {d}/fe408.http\n"
             f"    option http-buffer-request\n    default_backend be_plain\n")
    text += f"frontend fe_to_be\n    bind 127.0.0.1:{ports[1]}\n    default_backend be_file\n"
    text += (f"frontend fe_section\n    bind 127.0.0.1:{ports[2]}\n    errorfiles myerrs\n"
             f"    http-request wait-for-body time 400ms if {{ method POST }}\n    default_backend be_plain\n")
    text += (f"frontend fe_builtin\n    bind 127.0.0.1:{ports[3]}\n    errorfile 503 {d}/be408.http\n"
             f"    option http-buffer-request\n    default_backend be_plain\n")
    text += f"backend be_plain\n    server s1 127.0.0.1:{srv}\n"
    text += (f"backend be_file\n    option http-buffer-request\n    errorfile 408 {d}/be408.http\n"
             f"    server s1 127.0.0.1:{srv}\n")
    text += f"http-errors myerrs\n    errorfile 408 {d}/sec408.http\n"
    env.proxy(impl, text, ports[0], name=f"gaps408-{impl}")
    out = []
    for port in ports:
        c = Client(port, timeout=5)
        try:
            c.send(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\nabc")
            raw = c.read_until_close(5)
        finally:
            c.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        out.append({"status_line": lines[0].decode(),
                    "headers": sorted(l.decode().lower() for l in lines[1:] if not l.lower().startswith(b"date:")),
                    "body": body.decode("latin-1")})
    return {"responses": out, "logs": sorted(syslog.receive(4))}


def test_body_timeout_408_uses_the_proxys_errorfile(differ):
    def check(result):
        r = result["responses"]
        assert [x["status_line"] for x in r] == ["HTTP/1.0 408 Custom", "HTTP/1.0 408 Backend Late",
                                                 "HTTP/1.1 408 Section", "HTTP/1.1 408 Request Time-out"], r
        assert r[0]["body"] == "late body\n" and r[2]["body"] == "sec late\n", r
        assert len(result["logs"]) == 4 and all(" 408 " in l and " cR-- " in l for l in result["logs"]), result["logs"]
    differ(body_timeout_scenario, check)


# --------------------------------------------------------------------------
# A rule that grows a head past the buffer: 500, the connection kept
# --------------------------------------------------------------------------

def padded(req, conn, srv):
    """Answers with an X-Pad line as long as the request's X-Resp says."""
    n = int(dict((k.lower(), v) for k, v in req.headers).get("x-resp", "0"))
    headers = {"Content-Type": "text/plain"}
    if n:
        headers["X-Pad"] = "p" * n
    big = len(dict((k.lower(), v) for k, v in req.headers).get("x-big", ""))
    return make_response(200, f"{req.target} x-big={big}\n".encode(), headers)


# (name, extra request lines): the head haproxy weighs is 70 + method + uri + version and
# 8 + name + value per header; with tune.bufsize 4096 it may reach 4081 (measured).
GROWTH_REQUESTS = [
    ("fits exactly (4081)", "/f", {"X-A": "aa", "X-Fill": "f" * 1315}),
    ("one byte over (4082)", "/o", {"X-A": "aaa", "X-Fill": "f" * 1315}),
    ("far over", "/far", {"X-Fill": "f" * 2000}),
    ("a backend rule grows it", "/be", {"X-Be": "b" * 1500}),
    ("response grown within the buffer", "/resp-ok", {"X-Resp": "1500"}),
    ("response grown past the buffer", "/resp-over", {"X-Resp": "2500"}),
]


def growth_scenario(env, impl):
    syslog = Syslog()
    srv = env.backend(http_handler(padded), name="s1").port
    port = free_port()
    text = cfg_head(global_extra=f"log 127.0.0.1:{syslog.port} local0\ntune.bufsize 4096",
                    defaults_extra="log global\noption httplog")
    text += (f"frontend fe\n    bind 127.0.0.1:{port}\n"
             "    http-request set-header X-Big %[req.hdr(x-fill)]%[req.hdr(x-fill)] if { req.hdr(x-fill) -m found }\n"
             "    http-response set-header X-RBig %[res.hdr(x-pad)] if { res.hdr(x-pad) -m found }\n"
             "    default_backend be\n")
    text += ("backend be\n    http-request add-header X-Be2 %[req.hdr(x-be)]%[req.hdr(x-be)] if { req.hdr(x-be) -m found }\n"
             f"    server s1 127.0.0.1:{srv}\n")
    env.proxy(impl, text, port, name=f"gapsgrow-{impl}")
    out = []
    for name, path, headers in GROWTH_REQUESTS:
        c = Client(port, timeout=5)
        try:
            req = f"GET {path} HTTP/1.1\r\nHost: t\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            c.send(req.encode())
            first = c.read_response("GET", timeout=5)
            # The connection is kept: a next request on it is answered.
            c.send(b"GET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            second = c.read_response("GET", timeout=5)
        finally:
            c.close()
        out.append({"case": name,
                    "first": [(r.status, r.body.decode("latin-1")) for r in first],
                    "rbig": [len(r.header("x-rbig") or "") for r in first],
                    "second": [(r.status, r.body.decode("latin-1")) for r in second]})
    return {"exchanges": out, "logs": sorted(syslog.receive(2 * len(GROWTH_REQUESTS)))}


def test_rule_growing_a_head_past_the_buffer_is_answered_500(differ):
    def check(result):
        by = {x["case"]: x for x in result["exchanges"]}
        assert by["fits exactly (4081)"]["first"][0] == (200, "/f x-big=2630\n"), by
        for case in ("one byte over (4082)", "far over", "a backend rule grows it", "response grown past the buffer"):
            assert by[case]["first"][0][0] == 500, by[case]
        assert by["response grown within the buffer"]["rbig"] == [1500], by
        assert all(x["second"] == [(200, "/after x-big=0\n")] for x in result["exchanges"]), result
        logs = result["logs"]
        assert sum(" 500 " in l and " PR-- " in l for l in logs) == 3, logs
        assert sum(" 500 " in l and " PH-- " in l for l in logs) == 1, logs
    differ(growth_scenario, check)
