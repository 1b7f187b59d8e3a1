"""Stick tables, stick counters, rate limiting and `stick on` persistence, differential: the same
configs through haproxy 2.6 and Fulcrum, the same traffic; compared are the sequences of statuses
(200/429), which connections are rejected, the counter values rules and fetches see (echoed back by
the server from the headers set with `%[sc_*]`/`%[src_*]`), and which server each client sticks to.
Periods are short (2s) and every wait polls a condition under a deadline."""

import re
import socket
import subprocess
import threading
import time

import pytest

from harness import (Client, cfg_head, config_check, free_port, http_cfg, http_get, http_handler,
                     make_response, wait_for)


def echo_responder(req, conn, srv):
    """The server's name, then the X-* lines it read; `/nf` answers 404."""
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-")]
    status = 404 if req.target.startswith("/nf") else 200
    return make_response(status, ("\n".join([srv.name] + lines) + "\n").encode(), {"Content-Type": "text/plain"})


def body_lines(r):
    return r.body.decode("latin1").strip().split("\n") if r.status in (200, 404) else []


def keepalive_get(c: Client, path="/", headers=None):
    h = {"Host": "test"}
    h.update(headers or {})
    c.send((f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n").encode())
    rs = c.read_responses(["GET"], 10)
    return rs[-1] if rs else None


def statuses_of(port, n_keepalive, n_new, source=None, headers_of=None):
    """n_keepalive requests on one connection, then n_new on a connection each; (status, X-Rate) each."""
    out = []
    c = Client(port, source=source)
    try:
        for _ in range(n_keepalive):
            r = keepalive_get(c)
            out.append((r.status, [l for l in body_lines(r) if l.startswith("x-")]))
            if r.status != 200 and (r.header("connection") or "").lower() == "close":
                c.close()
                c = Client(port, source=source)
    finally:
        c.close()
    for _ in range(n_new):
        r = http_get(port, "/", source=source)
        out.append((r.status, [l for l in body_lines(r) if l.startswith("x-")]))
    return out


# --------------------------------------------------------------------------
# (a) request rate limiting
# --------------------------------------------------------------------------

def test_request_rate_limit_429_sequence_and_recovery(differ):
    """`http-request track-sc0 src` + `deny deny_status 429 if { sc_http_req_rate(0) gt 10 }` with a 2s
    period: 40 requests (20 keep-alive, 20 on new connections) give 10×200 then 429s, the rate the
    rules see is echoed; once the client slows down the 429s stop (the previous period's weight
    decays) — polled under a deadline."""
    def run(env, impl):
        srv = env.backend(http_handler(echo_responder), name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], frontend_extra="""
            stick-table type ip size 100k expire 30s store http_req_rate(2s)
            http-request track-sc0 src
            http-request deny deny_status 429 if { sc_http_req_rate(0) gt 10 }
            http-request set-header X-Rate %[sc_http_req_rate(0)]
        """)
        env.proxy(impl, text, port, name=f"rl-{impl}")
        start = time.monotonic()
        seq = statuses_of(port, 20, 20)
        burst = time.monotonic() - start
        assert burst < 1.5, f"the burst took {burst:.2f}s, more than the period allows to compare"
        # Slow down: one request every 0.25s until one passes again.
        polls = []

        def passes():
            r = http_get(port, "/")
            polls.append(r.status)
            if r.status == 200:
                return True
            time.sleep(0.25)
            return False
        wait_for(passes, 12, what="the 429s to stop")
        recovered_after = time.monotonic() - start
        return {"sequence": seq, "recovered": polls[-1], "recovered_late": recovered_after > 2.0}

    def check(result):
        statuses = [s for s, _ in result["sequence"]]
        assert statuses == [200] * 10 + [429] * 30, statuses
        assert [x for _, x in result["sequence"][:10]] == [[f"x-rate: {i}"] for i in range(1, 11)]
        assert result["recovered"] == 200 and result["recovered_late"]
    differ(run, check)


def test_request_rate_limit_on_http2(differ):
    """The same limit on an h2 frontend (`bind ... proto h2`): h2load sends 14 requests on one
    connection; 10 pass, 4 get 429."""
    def run(env, impl):
        srv = env.backend(http_handler(echo_responder), name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], bind_extra="proto h2", frontend_extra="""
            stick-table type ip size 100k expire 30s store http_req_rate(10s),http_req_cnt
            http-request track-sc0 src
            http-request deny deny_status 429 if { sc_http_req_rate(0) gt 10 }
            http-request set-header X-Cnt %[sc0_http_req_cnt]
        """)
        env.proxy(impl, text, port, name=f"rl2-{impl}")
        # h2load: 14 requests, one connection, one stream at a time.
        r = subprocess.run(["h2load", "-n", "14", "-c", "1", "-m", "1", f"http://127.0.0.1:{port}/"],
                           capture_output=True, text=True, timeout=30)
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", r.stdout)
        assert m, r.stdout + r.stderr
        return {"2xx": int(m.group(1)), "4xx": int(m.group(3)), "5xx": int(m.group(4))}

    def check(result):
        assert result == {"2xx": 10, "4xx": 4, "5xx": 0}, result
    differ(run, check)


# --------------------------------------------------------------------------
# (b) connection rate limiting
# --------------------------------------------------------------------------

def connection_outcomes(port, n, mode):
    """n connections one after the other: 'served' (a response / the echo) or 'closed' (no byte)."""
    out = []
    for i in range(n):
        try:
            c = Client(port, timeout=5)
        except ConnectionResetError:
            # Rejected (with a reset) before connect() even returned.
            out.append("closed")
            continue
        try:
            if mode == "http":
                c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            else:
                c.send(b"hello\n")
            data = c.read_until_close(5)
            out.append("served" if data else "closed")
        except (ConnectionResetError, BrokenPipeError):
            out.append("closed")
        finally:
            c.close()
    return out


@pytest.mark.parametrize("mode", ["http", "tcp"])
def test_connection_rate_limit_rejects_without_a_response(differ, mode):
    """`tcp-request connection track-sc0 src` + `reject if { sc_conn_rate(0) gt 3 }`: the 4th and later
    connections within the period are closed without a byte (http and tcp mode)."""
    def run(env, impl, mode):
        handler = http_handler(echo_responder) if mode == "http" else tcp_name_handler
        srv = env.backend(handler, name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], mode=mode, frontend_extra="""
            stick-table type ip size 1k expire 10s store conn_rate(2s),conn_cnt
            tcp-request connection track-sc0 src
            tcp-request connection reject if { sc_conn_rate(0) gt 3 }
        """)
        env.proxy(impl, text, port, name=f"cr-{impl}")
        return {"outcomes": connection_outcomes(port, 7, mode)}

    def check(result):
        assert result["outcomes"] == ["served"] * 3 + ["closed"] * 4, result
    differ(run, check, mode=mode)


def tcp_name_handler(conn):
    """mode tcp server: reads one line, answers with its name and the line, closes."""
    data = b""
    while b"\n" not in data:
        d = conn.recv_some(5)
        if not d:
            break
        data += d
    conn.send(conn.server.name.encode() + b" " + data)


# --------------------------------------------------------------------------
# (c) counters as fetches see them
# --------------------------------------------------------------------------

FETCH_RULES = """
    stick-table type ip size 1k expire 30s store http_req_cnt,http_req_rate(10s),http_err_cnt,http_err_rate(10s),conn_cnt,conn_cur,conn_rate(10s),gpc0,gpc0_rate(10s),gpt0
    tcp-request connection track-sc1 src table be_sess
    http-request track-sc0 src
    http-request sc-inc-gpc0(0) if { path_beg /inc }
    http-request sc-set-gpt0(0) 7 if { path_beg /gpt }
    acl hot sc_get_gpc0(0) gt 1
    http-request set-header X-Hot yes if hot
    http-request set-header X-Sc0 "req=%[sc0_http_req_cnt] rate=%[sc_http_req_rate(0)] err=%[sc_http_err_cnt(0)] erate=%[sc0_http_err_rate] conn=%[sc_conn_cnt(0)] cur=%[sc_conn_cur(0)] crate=%[sc0_conn_rate] gpc0=%[sc_get_gpc0(0)] gpc0r=%[sc0_gpc0_rate] gpt0=%[sc0_get_gpt0]"
    http-request set-header X-Sc1 "tracked=%[sc1_tracked] req=%[sc1_http_req_cnt] conn=%[sc_conn_cnt(1)] cur=%[sc1_conn_cur] err=%[sc1_http_err_cnt]"
    http-request set-header X-Sc2 "tracked=%[sc2_tracked] v=%[sc2_http_req_cnt]"
    http-request set-header X-Src "req=%[src_http_req_cnt] rate=%[src_http_req_rate] conn=%[src_conn_cnt] cur=%[src_conn_cur] gpc0=%[src_get_gpc0] other=%[src_http_req_cnt(be_sess)] alt=%[sc_http_req_cnt(0,be_sess)]"
    http-request set-header X-Tab "cnt=%[table_cnt] avl=%[table_avl(be_sess)]"
"""


def test_counter_fetches_match_haproxy(differ):
    """sc_*/scN_*/src_*/table_* values through keep-alive and new connections, with session-level
    tracking (tcp-request connection track-sc1) next to request-level (http-request track-sc0),
    gpc0 increments and an ACL on them, gpt0, 404s counted as errors, another table by name."""
    def run(env, impl):
        srv = env.backend(http_handler(echo_responder), name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], frontend_extra=FETCH_RULES)
        text += "backend be_sess\n    stick-table type ip size 1k expire 30s store http_req_cnt,conn_cnt,conn_cur,http_err_cnt\n"
        env.proxy(impl, text, port, name=f"fx-{impl}")
        out = []
        c = Client(port)
        try:
            for path in ["/", "/inc", "/nf", "/inc", "/gpt", "/"]:
                r = keepalive_get(c, path)
                out.append((path, r.status, body_lines(r)[1:]))
        finally:
            c.close()
        for path in ["/", "/nf", "/"]:
            r = http_get(port, path)
            out.append((path, r.status, body_lines(r)[1:]))
        # Another client address has its own entries.
        r = http_get(port, "/", source="127.0.0.2")
        out.append(("127.0.0.2", r.status, body_lines(r)[1:]))
        return {"requests": out}

    def check(result):
        first = dict(l.split(": ", 1) for l in result["requests"][0][2])
        assert first["x-sc0"].startswith("req=1 rate=1 err=0"), first
        assert "x-hot" in dict(l.split(": ", 1) for l in result["requests"][3][2])
    differ(run, check)


def test_tcp_content_tracking_and_unstored_data(differ):
    """`tcp-request content track-sc2` in an http frontend counts each request on its entry;
    a fetch of data the table does not store has no value (the header is empty), an untracked
    counter gives nothing and `sc0_tracked` is false."""
    def run(env, impl):
        srv = env.backend(http_handler(echo_responder), name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], frontend_extra="""
            stick-table type ip size 1k store http_req_cnt,conn_cur
            tcp-request content track-sc2 src
            http-request set-header X-V "cnt=%[sc2_http_req_cnt] cur=%[sc2_conn_cur] rate=%[sc2_http_req_rate] t0=%[sc0_tracked] c0=%[sc0_http_req_cnt]"
            http-request deny deny_status 403 if { sc2_http_req_cnt gt 3 }
        """)
        env.proxy(impl, text, port, name=f"tc-{impl}")
        out = []
        c = Client(port)
        try:
            for _ in range(3):
                r = keepalive_get(c)
                out.append((r.status, body_lines(r)[1:]))
        finally:
            c.close()
        for _ in range(2):
            r = http_get(port, "/")
            out.append((r.status, body_lines(r)[1:]))
        return {"requests": out}

    def check(result):
        assert [s for s, _ in result["requests"]] == [200, 200, 200, 403, 403], result
    differ(run, check)


@pytest.mark.parametrize("mode", ["http", "tcp"])
def test_counters_in_log_format(differ, mode):
    """`%[sc0_*]`, `%[sc_*(N)]` and `%[src_*]` in a log-format show the counters as they are when the
    line is written (before the request's own tracking is released)."""
    from test_logging import SyslogReceiver

    def run(env, impl, mode):
        handler = http_handler(echo_responder) if mode == "http" else tcp_name_handler
        srv = env.backend(handler, name="s1")
        syslog = SyslogReceiver()
        try:
            port = free_port()
            track = "http-request track-sc0 src" if mode == "http" else "tcp-request connection track-sc0 src"
            fmt = ("%[sc0_http_req_cnt]/%[sc_http_err_cnt(0)]/%[sc0_conn_cur]/%[src_conn_cnt]/%[sc0_tracked]/%[sc1_tracked]"
                   if mode == "http" else "%[sc0_conn_cur]/%[sc0_conn_cnt]/%[src_conn_cur]/%[sc_conn_rate(0)]")
            text = http_cfg(port, [srv.port], mode=mode, frontend_extra=f"""
                log 127.0.0.1:{syslog.port} format raw local0
                log-format "{fmt}"
                stick-table type ip size 1k store http_req_cnt,http_err_cnt,conn_cur,conn_cnt,conn_rate(10s)
                {track}
            """)
            env.proxy(impl, text, port, name=f"lg-{impl}")
            if mode == "http":
                for path in ["/", "/nf", "/"]:
                    http_get(port, path)
                    syslog.collect(len(syslog.lines) + 1)
            else:
                for _ in range(3):
                    connection_outcomes(port, 1, "tcp")
                    syslog.collect(len(syslog.lines) + 1)
            return {"lines": [l.strip() for l in syslog.lines]}
        finally:
            syslog.close()

    def check(result):
        assert len(result["lines"]) == 3, result
    differ(run, check, mode=mode)


# --------------------------------------------------------------------------
# (d) stick on: persistence by key
# --------------------------------------------------------------------------

class Switchable:
    """A server on a fixed port that can stop listening and start again (for health checks)."""

    def __init__(self, name, handler):
        self.name = name
        self.handler = handler
        self.port = free_port()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.listener = None
        self.threads = []
        self.up()

    def up(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)
        with self.lock:
            self.listener = s
        t = threading.Thread(target=self._accept, args=(s,), daemon=True)
        t.start()
        self.threads.append(t)

    def down(self):
        with self.lock:
            s, self.listener = self.listener, None
        if s:
            s.close()

    def _accept(self, s):
        while not self.stopping.is_set():
            with self.lock:
                if self.listener is not s:
                    return
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        try:
            self.handler(self, c)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping.set()
        self.down()
        for t in self.threads:
            t.join(2)


def switch_tcp_handler(srv, c):
    data = b""
    while b"\n" not in data:
        d = c.recv(4096)
        if not d:
            return
        data += d
    c.sendall(srv.name.encode() + b"\n")


def switch_http_handler(srv, c):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        body = srv.name.encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


SOURCES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]


def which_server(port, mode, source):
    if mode == "http":
        r = http_get(port, "/", source=source)
        return r.body.decode() if r and r.status == 200 else f"status {r.status if r else None}"
    c = Client(port, source=source, timeout=5)
    try:
        c.send(b"who\n")
        return c.read_until_close(5).decode().strip() or "closed"
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_stick_on_src_keeps_clients_on_their_server_and_moves_them_when_it_goes_down(differ, mode):
    """`stick-table type ip size 200k expire 30m` + `stick on src` (the MySQL seed's pattern): each
    client address stays on the server it first got (round robin alone would alternate); when that
    server fails its checks the client is balanced to the other one and stored there, so it stays
    there after the first server comes back."""
    def run(env, impl, mode):
        handler = switch_tcp_handler if mode == "tcp" else switch_http_handler
        servers = [Switchable(n, handler) for n in ("a", "b")]
        try:
            port = free_port()
            text = cfg_head(mode) + f"""frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    stick-table type ip size 200k expire 30m
    stick on src
    server a 127.0.0.1:{servers[0].port} check inter 100 fall 1 rise 1
    server b 127.0.0.1:{servers[1].port} check inter 100 fall 1 rise 1
"""
            env.proxy(impl, text, port, name=f"so-{impl}")
            first = [which_server(port, mode, s) for s in SOURCES]
            again = [which_server(port, mode, s) for s in SOURCES for _ in range(2)]
            servers[0].down()
            wait_for(lambda: which_server(port, mode, SOURCES[0]) == "b", 10, interval=0.1,
                     what="the client of the down server to move")
            moved = [which_server(port, mode, s) for s in SOURCES]
            servers[0].up()
            # Once 'a' is up again new client addresses are balanced there too.
            fresh = iter(range(1, 200))

            def a_is_back():
                n = next(fresh)
                return "a" in {which_server(port, mode, f"127.0.{n}.1"), which_server(port, mode, f"127.0.{n}.2")}
            wait_for(a_is_back, 10, interval=0.1, what="server a to be back")
            back = [which_server(port, mode, s) for s in SOURCES]
            return {"first": first, "again": again, "moved": moved, "back": back}
        finally:
            for s in servers:
                s.stop()

    def check(result):
        assert result["first"] == ["a", "b", "a", "b"], result
        assert result["again"] == [x for x in result["first"] for _ in range(2)], result
        assert result["moved"] == ["b", "b", "b", "b"], result
        assert result["back"] == ["b", "b", "b", "b"], result
    differ(run, check, mode=mode)


def test_stick_match_and_store_request_by_header(differ):
    """`stick store-request req.hdr(x-user)` + `stick match req.hdr(x-user)` in a string table: a
    user id keeps its server; requests without the header are balanced."""
    def run(env, impl):
        servers = [env.backend(http_handler(echo_responder), name=n) for n in ("a", "b", "c")]
        port = free_port()
        text = http_cfg(port, [(s.name, s.port, "") for s in servers], backend_extra="""
            stick-table type string len 8 size 10 expire 10s
            stick match req.hdr(x-user)
            stick store-request req.hdr(x-user)
        """)
        env.proxy(impl, text, port, name=f"sm-{impl}")
        out = []
        for u in ["alice", "bob", "", "alice", "bob", "carol", "", "alice-long-name", "alice-lo", "carol"]:
            r = http_get(port, "/", headers={"X-User": u} if u else {})
            out.append((u, body_lines(r)[0]))
        return {"servers": out}
    differ(run)


def session_responder(req, conn, srv):
    """`/login?u=NAME` sets JSESSIONID=NAME-<server>; every answer names the server."""
    headers = {"Content-Type": "text/plain"}
    if req.target.startswith("/login?u="):
        headers["Set-Cookie"] = f"JSESSIONID={req.target.split('=', 1)[1]}-{srv.name}; Path=/"
    return make_response(200, (srv.name + "\n").encode(), headers)


def test_stick_store_response_and_match_by_session_cookie(differ):
    """`stick store-response res.cook(JSESSIONID)` + `stick match req.cook(JSESSIONID)`: the server
    that set the session cookie gets the requests that carry it; unknown cookies are balanced."""
    def run(env, impl):
        servers = [env.backend(http_handler(session_responder), name=n) for n in ("a", "b", "c")]
        port = free_port()
        text = http_cfg(port, [(s.name, s.port, "") for s in servers], backend_extra="""
            stick-table type string len 32 size 10 expire 10s
            stick match req.cook(JSESSIONID)
            stick store-response res.cook(JSESSIONID)
        """)
        env.proxy(impl, text, port, name=f"ssr-{impl}")
        out = []
        cookies = {}
        for u in ["u1", "u2", "u3", "u4"]:
            r = http_get(port, f"/login?u={u}")
            cookies[u] = r.header("Set-Cookie").split(";")[0]
            out.append((u, body_lines(r)[0], cookies[u]))
        for u in ["u1", "u2", "u3", "u4", "u2", "u1"]:
            r = http_get(port, "/page", headers={"Cookie": cookies[u]})
            out.append((u, body_lines(r)[0]))
        for c in ["JSESSIONID=unknown", "other=1"]:
            out.append((c, body_lines(http_get(port, "/page", headers={"Cookie": c}))[0]))
        return {"servers": out}

    def check(result):
        logins = {u: srv for u, srv, _ in result["servers"][:4]}
        for u, srv in result["servers"][4:10]:
            assert srv == logins[u], result
    differ(run, check)


def curl_h2(port, path, cookie=None):
    """An h2 (prior knowledge) GET: (status, Set-Cookie value or None, first body line)."""
    args = ["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "--max-time", "10"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=20).stdout
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split()[1]) if head.startswith("HTTP/2") else 0
    set_cookie = next((l.split(":", 1)[1].strip() for l in head.split("\n") if l.lower().startswith("set-cookie:")), None)
    return status, set_cookie, body.strip().split("\n")[0]


def test_stick_store_response_for_http2_clients(differ):
    """The same `stick store-response` / `stick match` pair with h2 clients (`bind ... proto h2`, HTTP/1
    servers): the server that set a session cookie gets the streams that carry it."""
    def run(env, impl):
        servers = [env.backend(http_handler(session_responder), name=n) for n in ("a", "b", "c")]
        port = free_port()
        text = http_cfg(port, [(s.name, s.port, "") for s in servers], bind_extra="proto h2", backend_extra="""
            stick-table type string len 32 size 10 expire 10s
            stick match req.cook(JSESSIONID)
            stick store-response res.cook(JSESSIONID)
        """)
        env.proxy(impl, text, port, name=f"ssr2-{impl}")
        out, cookies = [], {}
        for u in ["u1", "u2", "u3", "u4"]:
            status, sc, srv = curl_h2(port, f"/login?u={u}")
            assert status == 200 and sc, (status, sc)
            cookies[u] = sc.split(";")[0]
            out.append((u, srv, cookies[u]))
        for u in ["u1", "u2", "u3", "u4", "u2", "u1"]:
            out.append((u, curl_h2(port, "/page", cookies[u])[2]))
        return {"servers": out}

    def check(result):
        logins = {u: srv for u, srv, _ in result["servers"][:4]}
        assert len(set(logins.values())) > 1, result
        for u, srv in result["servers"][4:]:
            assert srv == logins[u], result
    differ(run, check)


# --------------------------------------------------------------------------
# (e) expiry and size
# --------------------------------------------------------------------------

def test_entries_expire_after_their_last_touch(differ):
    """`expire 1s`: an entry tracked by requests is there right after them and gone about a second
    after the last one (probes from the same client that do not track it watch it go); the next
    tracked request starts from a fresh entry."""
    def run(env, impl):
        srv = env.backend(http_handler(echo_responder), name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], frontend_extra="""
            stick-table type ip size 1k expire 1s store http_req_cnt
            http-request track-sc0 src unless { path_beg /probe }
            http-request set-header X-Cnt "src=%[src_http_req_cnt] table=%[table_cnt]"
        """)
        env.proxy(impl, text, port, name=f"ex-{impl}")
        seen = [body_lines(http_get(port, "/"))[1] for _ in range(3)]
        last = time.monotonic()
        soon = body_lines(http_get(port, "/probe"))[1]
        probes = []

        def gone():
            line = body_lines(http_get(port, "/probe"))[1]
            probes.append(line)
            if line.endswith("table=0"):
                return True
            time.sleep(0.05)
            return False
        wait_for(gone, 5, what="the entry to expire")
        elapsed = time.monotonic() - last
        fresh = body_lines(http_get(port, "/"))[1]
        return {"seen": seen, "soon": soon, "gone": probes[-1], "not_early": elapsed > 0.8, "fresh": fresh}

    def check(result):
        assert result["seen"][-1] == "x-cnt: src=3 table=1"
        assert result["soon"] == "x-cnt: src=3 table=1"
        assert result["gone"] == "x-cnt: src=0 table=0" and result["not_early"]
        assert result["fresh"] == "x-cnt: src=1 table=1"
    differ(run, check)


def test_a_full_table_drops_its_oldest_entries(differ):
    """`size 3`: a fourth client address pushes out the least recently touched entry (the first
    client's once the second one came back)."""
    def run(env, impl):
        srv = env.backend(http_handler(echo_responder), name="s1")
        port = free_port()
        text = http_cfg(port, [srv.port], frontend_extra="""
            stick-table type ip size 3 store http_req_cnt
            http-request track-sc0 src unless { path_beg /probe }
            http-request set-header X-Cnt "src=%[src_http_req_cnt] table=%[table_cnt] avl=%[table_avl]"
        """)
        env.proxy(impl, text, port, name=f"sz-{impl}")
        for src in ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1", "127.0.0.4"]:
            http_get(port, "/", source=src)
            time.sleep(0.01)
        probes = {src: body_lines(http_get(port, "/probe", source=src))[1]
                  for src in ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]}
        return {"probes": probes}

    def check(result):
        assert result["probes"]["127.0.0.2"] == "x-cnt: src=0 table=3 avl=0", result
        assert result["probes"]["127.0.0.1"] == "x-cnt: src=2 table=3 avl=0", result
    differ(run, check)


# --------------------------------------------------------------------------
# (f) configuration errors
# --------------------------------------------------------------------------

CONFIG_ERRORS = [
    # (frontend lines, backend lines, message, line reported (index into the frontend lines) or None)
    (["stick-table type foo size 10"], [], "stick-table: unknown type 'foo'.", 0),
    (["stick-table type ip"], [], "stick-table: missing size.", 0),
    (["stick-table type ip size 10 store foo"], [], "stick-table: unknown store option 'foo'.", 0),
    (["stick-table type ip size 10 store http_req_rate"], [], "stick-table: missing argument to store option 'http_req_rate'.", 0),
    (["stick-table type ip size 10 expire 10x"], [], "stick-table: unexpected character 'x' in argument of 'expire'.", 0),
    (["stick-table type ip size 10 bogus"], [], "stick-table: unknown argument 'bogus'.", 0),
    (["stick-table type ip size 10", "stick-table type ip size 20"], [],
     "stick-table name 'fe' conflicts with table declared in frontend 'fe' at", 1),
    (["http-request track-sc0 src"], [], "unable to find table 'fe' referenced by track-sc0.", None),
    (["http-request track-sc1 src table nosuch"], [], "unable to find table 'nosuch' referenced by track-sc1.", None),
    (["tcp-request connection track-sc0 src table be"], [], "unable to find table 'be' referenced by track-sc0.", None),
    (["stick-table type ip size 10", "http-request track-sc3 src"], [],
     "3 track-sc number exceeding 2 (MAX_SESS_STKCTR-1) value.", 1),
    (["stick-table type ip size 10", "http-request track-sc0"], [], "missing fetch method.", 1),
    (["stick-table type ip size 10", "http-request track-sc0 src table"], [], "missing table name.", 1),
    (["stick-table type ip size 10", "http-request sc-inc-gpc0(3)"], [],
     "invalid stick table track ID. The max allowed ID is 2.", 1),
    (["http-request deny if { src_http_req_rate gt 10 }"], [],
     "unable to find table 'fe' referenced in arg 1 of ACL keyword 'src_http_req_rate' in proxy 'fe'.", 0),
    (["stick-table type ip size 10", "http-request deny if { sc_http_req_rate(0,nosuch) gt 2 }"], [],
     "unable to find table 'nosuch' referenced in arg 2 of ACL keyword 'sc_http_req_rate' in proxy 'fe'.", 1),
    (["tcp-request foo"], [], "'tcp-request' expects 'inspect-delay', 'connection', or 'content' in frontend 'fe' (got 'foo')", 0),
    (["tcp-request connection foo"], [], "'tcp-request connection' expects 'accept', 'reject', 'capture'", 0),
    ([], ["tcp-request connection reject"], "tcp-request connection is not allowed because backend be is not a frontend", "be0"),
    ([], ["stick on src"], "Proxy 'be': unable to find stick-table 'be'.", None),
    ([], ["stick-table type ip size 10", "stick foo src"], "'stick' expects 'on', 'match', or 'store'.", "be1"),
    ([], ["stick-table type ip size 10", "stick on"], "'stick' expects a fetch method.", "be1"),
    ([], ["stick-table type ip size 10", "stick on nosuchfetch"], "'stick': unknown fetch method 'nosuchfetch'", "be1"),
    ([], ["stick-table type ip size 10", "stick on src bogus"], "'stick': unknown keyword 'bogus'.", "be1"),
]


@pytest.mark.parametrize("fe,be,message,where", CONFIG_ERRORS, ids=[c[2][:60] for c in CONFIG_ERRORS])
def test_config_errors_name_file_line_and_haproxys_words(impl, tmp_path, fe, be, message, where):
    cfg = tmp_path / "bad.cfg"
    head = cfg_head()
    text = head + "frontend fe\n    bind 127.0.0.1:1\n" + "".join(f"    {l}\n" for l in fe) + "    default_backend be\n"
    text += "backend be\n" + "".join(f"    {l}\n" for l in be) + "    server s1 127.0.0.1:2\n"
    cfg.write_text(text)
    rc, out = config_check(impl, cfg)
    assert rc != 0, out
    assert message in out, out
    if where is not None:
        lines = text.splitlines()
        if isinstance(where, str):
            target = be[int(where[2:])]
        else:
            target = fe[where]
        lineno = max(i for i, l in enumerate(lines, 1) if l.strip() == target)
        assert f"bad.cfg:{lineno}]" in out, out
