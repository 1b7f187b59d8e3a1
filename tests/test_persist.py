"""Persistence, differential against haproxy 2.6: `cookie ... maxidle|maxlife` (the `|last|first`
dates of an inserted cookie, expired and too-old cookies and the E/O/U log flags), `cookie ...
dynamic` with `dynamic-cookie-key`, `option persist`, `ignore-persist` (ordered with
`force-persist`), and how use-server and stick match make a server "direct" (no insert, `U`).

Compared are the server that answered, the Cookie lines it read, the Set-Cookie lines the client
got (dates shown relative to the request's time) and the two cookie characters of the log's
termination state (%tsc)."""

import re
import socket
import struct
import subprocess
import time
from types import SimpleNamespace

import pytest

from harness import free_port, http_cfg, http_get, http_handler, make_response, wait_for
from test_logging import SyslogReceiver

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def enc(v):
    """A 30-bit value in haproxy's five base64 characters."""
    return "".join(B64[(v >> (6 * (4 - i))) & 63] for i in range(5))


def date(offset):
    """A cookie date `offset` seconds from now, encoded as haproxy does ((t + 3) >> 2)."""
    return enc((int(time.time()) + offset + 3) >> 2)


def relative_dates(text, t):
    """Text with each `|XXXXX` cookie date replaced by its distance to t: `now` within the
    4-second rounding, else the offset to the nearest 10 s (the inputs are multiples of 10)."""
    def rel(m):
        v = 0
        for c in m.group(1):
            v = v << 6 | B64.index(c)
        delta = v * 4 - t
        if abs(delta) > 10**6:
            return m.group(0)
        return "|now" if -2 <= delta <= 5 else f"|now{int(round(delta / 10.0)) * 10:+d}"
    return re.sub(r"\|([A-Za-z0-9+/]{5})", rel, text)


def responder(req, conn, srv):
    """Name and Cookie lines in the body; /up answers the X-Up header the frontend sets."""
    if req.target.startswith("/up"):
        return make_response(200, f"up={req.header('x-up')}".encode(), {"Content-Type": "text/plain"})
    cookies = [v for k, v in req.headers if k.lower() == "cookie"]
    return make_response(200, f"{srv.name} cookie={cookies}".encode(), {"Content-Type": "text/plain"})


class Session:
    """A proxy under test with its syslog: each request gets a unique path so that its log line is
    found by it."""

    def __init__(self, env, impl, backend_extra, servers, name, frontend_extra="", h2=False):
        self.h2 = h2
        self.syslog = SyslogReceiver()
        self.port = free_port()
        fe = f"""
            log 127.0.0.1:{self.syslog.port} format raw local0
            log-format "%HU %tsc %s"
            http-request set-header X-Up %[srv_is_up(be/a)]
        """ + frontend_extra
        self.text = http_cfg(self.port, servers, backend_extra=backend_extra, frontend_extra=fe,
                             bind_extra="proto h2" if h2 else "")
        env.proxy(impl, self.text, self.port, name=name)
        self.n = 0

    def request(self, path, cookie, method="GET", headers=None):
        self.n += 1
        uri = f"{path}{'&' if '?' in path else '?'}n={self.n}"
        t = int(time.time())
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = cookie
        if self.h2:
            r = curl_h2(self.port, uri, h)
        else:
            r = http_get(self.port, uri, headers=h, method=method, body=b"x" if method == "POST" else b"")
        assert r is not None and r.status == 200, (path, cookie)
        line = wait_for(lambda: next((l for l in self.syslog.collect(len(self.syslog.lines) + 1, timeout=0.2)
                                      if l.split(" ")[0].endswith(f"n={self.n}")), None), 5,
                        what=f"the log line of {uri}")
        return {"request": relative_dates(f"{method} {path} {cookie}", t), "body": relative_dates(r.body.decode(), t),
                "set-cookie": [relative_dates(v, t) for k, v in r.headers if k.lower() == "set-cookie"],
                "cache-control": [v for k, v in r.headers if k.lower() == "cache-control"],
                "log": " ".join([line.split()[1][2:]] + line.split()[2:])}

    def close(self):
        self.syslog.close()


def curl_h2(port, uri, headers):
    """One HTTP/2 request (curl, prior knowledge): an object with status, headers and body."""
    args = ["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", "-D", "-"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [f"http://127.0.0.1:{port}{uri}"], capture_output=True, timeout=20)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    if not lines[0].startswith("HTTP/2 "):
        return None
    return SimpleNamespace(status=int(lines[0].split()[1]), body=body,
                           headers=[tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l])


def two_servers(env, a="cookie ca", b="cookie cb"):
    return [("a", env.backend(http_handler(responder), name="a").port, a),
            ("b", env.backend(http_handler(responder), name="b").port, b)]


# The cookies a client sends (None: none), with dates made at request time.
DATED = [
    ("no cookie", lambda: None),
    ("no date", lambda: "SRV=cb"),
    ("last +100", lambda: f"SRV=cb|{date(100)}"),
    ("last -100", lambda: f"SRV=cb|{date(-100)}"),
    ("last -30", lambda: f"SRV=cb|{date(-30)}"),
    ("last a day ahead", lambda: f"SRV=cb|{date(90000)}"),
    ("last wraps 32 bits", lambda: "SRV=cb|" + enc(600000000)),
    ("first -100", lambda: f"SRV=cb|{date(10)}|{date(-100)}"),
    ("first -30", lambda: f"SRV=cb|{date(10)}|{date(-30)}"),
    ("first a day ahead", lambda: f"SRV=cb|{date(10)}|{date(90000)}"),
    ("both old", lambda: f"SRV=cb|{date(-100)}|{date(-200)}"),
    ("no last, first -30", lambda: f"SRV=cb||{date(-30)}"),
    ("bad last, first -30", lambda: f"SRV=cb|abc|{date(-30)}"),
    ("last +10 and junk", lambda: f"SRV=cb|{date(10)}x"),
    ("short date", lambda: f"SRV=cb|{date(10)[:4]}"),
    ("no server value", lambda: f"SRV=|{date(10)}"),
    ("other cookies around", lambda: f"a=1; SRV=cb|{date(-30)}; b=2"),
]

DATE_MODES = {
    "insert (dates read, not written)": "cookie SRV insert",
    "insert maxidle 60s": "cookie SRV insert maxidle 60s",
    "insert maxlife 1m": "cookie SRV insert maxlife 1m",
    "insert indirect nocache httponly maxidle+maxlife": "cookie SRV insert indirect nocache httponly maxidle 60 maxlife 60s",
    "rewrite maxidle (no dates written)": "cookie SRV rewrite maxidle 60s",
}


def dated_scenario(env, impl, mode):
    s = Session(env, impl, DATE_MODES[mode], two_servers(env), f"dt-{impl}")
    try:
        return {"responses": [dict(s.request("/", make()), case=case) for case, make in DATED]}
    finally:
        s.close()


@pytest.mark.parametrize("mode", sorted(DATE_MODES))
def test_cookie_dates(differ, mode):
    def check(result):
        by = {r["case"]: r for r in result["responses"]}
        if "maxidle" in mode and "insert" in mode:
            assert by["last -100"]["log"].startswith("EI"), by["last -100"]
            assert by["last a day ahead"]["log"].startswith("EI"), by["last a day ahead"]
            assert by["last +100"]["log"] == ("VN b" if "maxlife" not in mode else "VU b"), by["last +100"]
            assert by["last -30"]["log"] == "VU b" and by["last -30"]["set-cookie"][0].startswith("SRV=cb|now"), by["last -30"]
        if "maxlife" in mode:
            assert by["first -100"]["log"].startswith("OI"), by["first -100"]
            assert by["no cookie"]["set-cookie"][0].startswith("SRV=ca|now|now; path=/"), by["no cookie"]
            assert by["no last, first -30"]["set-cookie"] == [] or "|now-30" in by["no last, first -30"]["set-cookie"][0]
        if mode.startswith("insert (dates"):
            assert by["last -100"]["set-cookie"] == ["SRV=cb; path=/"], by["last -100"]
            assert by["last +100"]["log"] == "VN b", by["last +100"]
    differ(dated_scenario, check, mode=mode)


def test_a_browser_is_moved_once_its_cookie_is_too_old(differ):
    """A client replaying what it is given keeps its server; the same cookie with its first date
    pushed past maxlife is refused (OI) and a new one, with a new first date, replaces it."""
    def run(env, impl):
        s = Session(env, impl, "cookie SRV insert indirect maxidle 1h maxlife 1h", two_servers(env), f"br-{impl}")
        try:
            first = s.request("/", None)
            jar = first["set-cookie"][0].split(";")[0]
            assert jar.endswith("|now|now"), first
            value = jar.split("=", 1)[1].split("|")[0]
            again = s.request("/", f"SRV={value}|{date(20)}|{date(-600)}")
            old = s.request("/", f"SRV={value}|{date(20)}|{date(-7200)}")
            return {"first": first, "again": again, "old": old}
        finally:
            s.close()

    def check(result):
        assert result["again"]["log"].startswith("VN"), result
        assert result["old"]["log"].startswith("OI"), result
        assert result["old"]["set-cookie"][0].endswith("|now|now; path=/"), result
    differ(run, check)


# --- dynamic cookies ---------------------------------------------------------------------------

M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                      9650029242287828579, 2870177450012600261)


def xxh64(data, seed=0):
    """XXH64, to check the dynamic cookie values independently of both proxies."""
    def rotl(x, r):
        return ((x << r) | (x >> (64 - r))) & M64

    def rnd(acc, v):
        return (rotl((acc + v * P2) & M64, 31) * P1) & M64

    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M64
        for x in v:
            h = ((h ^ rnd(0, x)) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ ((struct.unpack_from("<I", data, i)[0] * P1) & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (rotl(h ^ ((data[i] * P5) & M64), 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


def test_xxh64_reference_values():
    """The test's own XXH64 against the published values."""
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999


DYNAMIC = {
    "dynamic with key": "cookie SRV insert indirect dynamic\ndynamic-cookie-key s3cr3t-k3y",
    "dynamic without key": "cookie SRV insert dynamic",
    "key without dynamic": "cookie SRV insert\ndynamic-cookie-key s3cr3t-k3y",
    "dynamic rewrite": "cookie SRV rewrite dynamic\ndynamic-cookie-key s3cr3t-k3y",
}


def dynamic_scenario(env, impl, mode):
    servers = two_servers(env, a="", b="cookie fixed")
    s = Session(env, impl, DYNAMIC[mode], servers, f"dy-{impl}")
    expected = "%016x" % xxh64(b"s3cr3t-k3y" + socket.inet_aton("127.0.0.1") + struct.pack(">I", servers[0][1]))

    def norm(r):
        r = dict(r)
        for k in ("request", "body"):
            r[k] = r[k].replace(expected, "<xxh64(key, 127.0.0.1, port of a)>")
        r["set-cookie"] = [c.replace(expected, "<xxh64(key, 127.0.0.1, port of a)>") for c in r["set-cookie"]]
        return r
    try:
        out = [s.request("/", None), s.request("/", None), s.request("/", f"SRV={expected}"),
               s.request("/", f"SRV={expected}"), s.request("/", "SRV=fixed")]
        return {"responses": [norm(r) for r in out]}
    finally:
        s.close()


@pytest.mark.parametrize("mode", sorted(DYNAMIC))
def test_dynamic_cookie(differ, mode):
    def check(result):
        r = result["responses"]
        if mode == "dynamic with key":
            assert r[0]["set-cookie"] == ["SRV=<xxh64(key, 127.0.0.1, port of a)>; path=/"], r
            assert [x["log"] for x in r[2:4]] == ["VN a", "VN a"], r
        if mode == "dynamic without key":
            assert r[0]["set-cookie"] == ["SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"], r
    differ(dynamic_scenario, check, mode=mode)


# --- option persist, ignore-persist, force-persist --------------------------------------------

PERSIST = {
    "baseline (down server: redispatched)": "cookie SRV insert indirect",
    "option persist": "cookie SRV insert indirect\noption persist",
    "option persist, use-server": "cookie SRV insert\noption persist\nuse-server a if { path_beg /u }",
    "ignore-persist": "cookie SRV insert\nignore-persist if { path_beg /static }",
    "ignore-persist, indirect": "cookie SRV insert indirect\nignore-persist if { path_beg /static }",
    "force-persist before ignore-persist": "cookie SRV insert\nforce-persist if { path_beg /static }\nignore-persist if { path_beg /static }",
    "ignore-persist before force-persist": "cookie SRV insert\nignore-persist if { path_beg /static }\nforce-persist if { path_beg / }",
    "ignore-persist unless, rewrite": "cookie SRV rewrite\nignore-persist unless { path_beg /static }",
}


def persist_scenario(env, impl, mode):
    """Server a answers requests but fails its health check (503 on /health)."""
    def health(req, conn, srv):
        if req.target == "/health":
            return make_response(503, b"", {})
        return responder(req, conn, srv)
    a = env.backend(http_handler(health), name="a")
    b = env.backend(http_handler(responder), name="b")
    chk = "check inter 100 fall 1 rise 1"
    servers = [("a", a.port, f"cookie ca {chk}"), ("b", b.port, f"cookie cb {chk}")]
    extra = "option httpchk GET /health\n" + PERSIST[mode]
    s = Session(env, impl, extra, servers, f"ps-{impl}")
    try:
        wait_for(lambda: "up=0" in (http_get(s.port, "/up").body.decode()), 10, what="server a marked down")
        reqs = [("/", "SRV=ca"), ("/", "SRV=cb"), ("/static/x", "SRV=cb"), ("/static/x", None),
                ("/static/x", "SRV=zz"), ("/static/x", "SRV=ca"), ("/u", None), ("/u", "SRV=cb")]
        return {"responses": [s.request(p, c) for p, c in reqs]}
    finally:
        s.close()


@pytest.mark.parametrize("mode", sorted(PERSIST))
def test_persist_rules(differ, mode):
    def check(result):
        r = result["responses"]
        if mode.startswith("baseline"):
            assert r[0]["log"] == "DI b" and r[0]["set-cookie"] == ["SRV=cb; path=/"], r
        if mode == "option persist":
            assert r[0]["log"] == "DN a" and r[0]["body"].startswith("a "), r
        if mode == "ignore-persist":
            assert [x["log"] for x in r[2:6]] == ["UN b", "NN b", "UN b", "UN b"], r
        if mode == "force-persist before ignore-persist":
            assert r[5]["log"] == "DN a", r
        if mode == "option persist, use-server":
            assert r[6]["body"].startswith("a ") and r[7]["log"] == "UN a", r
    differ(persist_scenario, check, mode=mode)


def test_persist_then_redispatch_from_a_dead_server(differ):
    """option persist sends the request to the down server the cookie names; it refuses the
    connection, and option redispatch moves the request to the other server, which the client
    is then given (DI)."""
    def run(env, impl):
        b = env.backend(http_handler(responder), name="b")
        dead = free_port()
        chk = "check inter 100 fall 1 rise 1"
        servers = [("a", dead, f"cookie ca {chk}"), ("b", b.port, f"cookie cb {chk}")]
        s = Session(env, impl, "cookie SRV insert indirect\noption persist\noption redispatch\nretries 2\ntimeout connect 500ms",
                    servers, f"rd-{impl}")
        try:
            wait_for(lambda: "up=0" in (http_get(s.port, "/up").body.decode()), 10, what="server a marked down")
            return {"responses": [s.request("/", "SRV=ca"), s.request("/", "SRV=cb")]}
        finally:
            s.close()

    def check(result):
        r = result["responses"]
        assert r[0]["body"].startswith("b ") and r[0]["set-cookie"] == ["SRV=cb; path=/"], r
    differ(run, check)


def test_use_server_and_stick_make_the_server_direct(differ):
    """A server chosen by use-server or stick match is "direct": its cookie is not inserted
    (unless dates need refreshing), and a request cookie is reported unused (U) under use-server."""
    def run(env, impl):
        s = Session(env, impl, "cookie SRV insert\nuse-server b if { path_beg /u }\n"
                               "stick-table type string len 32 size 10\nstick on hdr(x-user)",
                    two_servers(env), f"us-{impl}")
        t = Session(env, impl, "cookie SRV insert maxidle 60s\nuse-server b if { path_beg /u }",
                    two_servers(env), f"us2-{impl}")
        try:
            u = {"X-User": "u1"}
            out = [s.request("/", None), s.request("/u", "SRV=ca"), s.request("/u", None), s.request("/u", "SRV=cb"),
                   s.request("/s", None, headers=u), s.request("/s", None, headers=u), s.request("/s", "SRV=ca", headers=u),
                   s.request("/s", "SRV=zz", headers=u),
                   t.request("/u", "SRV=ca"), t.request("/u", None), t.request("/u", f"SRV=cb|{date(20)}"),
                   t.request("/u", f"SRV=ca|{date(-100)}")]
            return {"responses": out}
        finally:
            s.close()
            t.close()

    def check(result):
        r = result["responses"]
        assert r[1]["log"] == "UN b" and r[1]["set-cookie"] == [], r
        assert r[5]["log"].startswith("NN") and r[5]["set-cookie"] == [], r
        assert r[8]["log"] == "UU b", r
    differ(run, check)


H2_MODES = {
    "insert": "cookie SRV insert",
    "insert indirect nocache maxidle maxlife": "cookie SRV insert indirect nocache maxidle 60s maxlife 60s",
    "insert, ignore-persist": "cookie SRV insert indirect\nignore-persist if { path_beg /static }",
}


def h2_scenario(env, impl, mode):
    """HTTP/2 clients (to HTTP/1.1 servers) get the same cookie persistence as HTTP/1 ones."""
    s = Session(env, impl, H2_MODES[mode], two_servers(env), f"h2-{impl}", h2=True)
    try:
        reqs = [("/", lambda: None), ("/", lambda: "SRV=cb"), ("/", lambda: f"SRV=cb|{date(100)}"),
                ("/", lambda: f"SRV=cb|{date(-100)}|{date(-200)}"), ("/", lambda: f"a=1; SRV=cb|{date(-30)}; b=2"),
                ("/", lambda: "SRV=zz"), ("/static/x", lambda: "SRV=cb")]
        return {"responses": [s.request(p, make()) for p, make in reqs]}
    finally:
        s.close()


@pytest.mark.parametrize("mode", sorted(H2_MODES))
def test_cookie_persistence_over_h2(differ, mode):
    def check(result):
        r = result["responses"]
        assert r[0]["log"].startswith("NI") and r[0]["set-cookie"], r
        assert r[1]["body"].startswith("b "), r
    differ(h2_scenario, check, mode=mode)


STICK_PERSIST = {
    "stick only": "",
    "option persist": "option persist",
    "force-persist": "force-persist if { hdr(x-user) -m found }",
}


def stick_persist_scenario(env, impl, mode):
    """Two users stick to a and b; then a fails its health check (it still answers requests)."""
    state = {"down": False}

    def health(req, conn, srv):
        if req.target == "/health":
            return make_response(503 if state["down"] else 200, b"", {})
        return responder(req, conn, srv)
    a = env.backend(http_handler(health), name="a")
    b = env.backend(http_handler(responder), name="b")
    chk = "check inter 100 fall 1 rise 1"
    # The /up probes go to b by use-server: they take no round-robin turn.
    extra = ("option httpchk GET /health\ncookie SRV insert\nstick-table type string len 32 size 10\nstick on hdr(x-user)\n"
             "use-server b if { path_beg /up }\n" + STICK_PERSIST[mode])
    s = Session(env, impl, extra, [("a", a.port, f"cookie ca {chk}"), ("b", b.port, f"cookie cb {chk}")], f"sp-{impl}")
    try:
        wait_for(lambda: "up=1" in http_get(s.port, "/up").body.decode(), 10, what="server a up")
        out = [s.request("/", None, headers={"X-User": "u1"}), s.request("/", None, headers={"X-User": "u2"})]
        state["down"] = True
        wait_for(lambda: "up=0" in http_get(s.port, "/up").body.decode(), 10, what="server a marked down")
        out += [s.request("/", None, headers={"X-User": "u1"}), s.request("/", None, headers={"X-User": "u2"})]
        return {"responses": out}
    finally:
        s.close()


@pytest.mark.parametrize("mode", sorted(STICK_PERSIST))
def test_stick_match_to_a_down_server(differ, mode):
    """A stick entry naming a down server is balanced elsewhere, unless option persist or
    force-persist keeps the request on it."""
    def check(result):
        r = result["responses"]
        assert r[0]["body"].startswith("a ") and r[2]["log"].startswith("N"), r
        assert r[2]["body"].startswith("b " if mode == "stick only" else "a "), r
    differ(stick_persist_scenario, check, mode=mode)


def test_ignore_persist_leaves_stick_and_use_server_alone(differ):
    """ignore-persist only concerns the cookie: a stick entry and a use-server rule still choose
    the server (and nothing is inserted)."""
    def run(env, impl):
        s = Session(env, impl, "cookie SRV insert\nstick-table type string len 32 size 10\nstick on hdr(x-user)\n"
                               "ignore-persist if { path_beg /i }\nuse-server b if { path_beg /iu }",
                    two_servers(env), f"ip-{impl}")
        try:
            u = {"X-User": "u1"}
            return {"responses": [s.request("/", None, headers=u), s.request("/i", None, headers=u),
                                  s.request("/i", "SRV=cb", headers=u), s.request("/iu", "SRV=ca"), s.request("/iu", None)]}
        finally:
            s.close()

    def check(result):
        r = result["responses"]
        assert [x["log"] for x in r] == ["NI a", "NN a", "UN a", "UN b", "NN b"], r
    differ(run, check)
