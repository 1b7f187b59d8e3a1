"""TCP rules, differential against haproxy 2.6: `tcp-response inspect-delay` and `tcp-response
content accept|reject|close` on the server's first bytes (res.len, res.payload, res.payload_lv),
with what the client receives, whether the server connection was reset, how long it took and the
log line (termination state, bytes); and `set-var`/`set-var-fmt`/`unset-var` of `tcp-request
connection|session|content` and `tcp-response content` rules, read by later rules, by `use_backend`
and by the log format, in mode tcp and mode http."""

import hashlib
import socket
import threading
import time

import pytest

from harness import Client, cfg_head, free_port, http_handler, make_response
from test_logging import SyslogReceiver

# One line per connection: the fields that do not depend on timing.
TCP_LOG = 'log-format "%b %s %ts %B %U [%[var(txn.head)]] [%[var(sess.src)]] [%[var(txn.f)]] [%[var(txn.k)]] [%[var(txn.nope)]]"'


class Speaker:
    """A TCP server that reads the client's first bytes, then follows a script per connection:
    bytes to send, pauses (floats), then closes, or waits (up to 2 s) to see how the proxy ends the
    connection ("eof", "reset" or "open"). Bounded: it stops accepting after 60 s or stop()."""

    def __init__(self, script, wait_end=False):
        self.script = script
        self.wait_end = wait_end
        self.ends = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        end = time.monotonic() + 60
        while not self.stopped and time.monotonic() < end:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(2)
        try:
            c.recv(65536)
            for step in self.script:
                if isinstance(step, float):
                    time.sleep(step)
                else:
                    c.sendall(step)
            if self.wait_end:
                try:
                    self.ends.append("eof" if c.recv(1000) == b"" else "data")
                except ConnectionResetError:
                    self.ends.append("reset")
                except socket.timeout:
                    self.ends.append("open")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


def talk(port, data=b"hello", timeout=4.0):
    """Sends `data`, reads until the proxy closes: the bytes (with <Reset> on a reset) and the seconds."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except ConnectionResetError:  # a connection reset at once can fail the connect itself
        return "<Reset>", time.monotonic() - t0
    out = b""
    try:
        s.sendall(data)
        while True:
            d = s.recv(1000)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b"<timeout>"
    except ConnectionResetError:
        out += b"<Reset>"
    finally:
        s.close()
    return out.decode("latin-1"), time.monotonic() - t0


def log_fields(line):
    """The part of a log line after the syslog header."""
    return line.split("]: ", 1)[1].strip() if "]: " in line else line


RESPONSE_SCENARIOS = {
    # name: (rules, server script, waits for the server's end)
    "reject on res.payload": (["tcp-response inspect-delay 1s",
                               "tcp-response content reject if { res.payload(0,4) -m str BADX }"], [b"BADX hello"], False),
    "other bytes pass": (["tcp-response inspect-delay 1s",
                          "tcp-response content reject if { res.payload(0,4) -m str BADX }"], [b"GOOD hello"], False),
    "split word waits for its bytes": (["tcp-response inspect-delay 1s",
                                        "tcp-response content reject if { res.payload(0,4) -m str BADX }"],
                                       [b"BA", 0.3, b"DX hello"], False),
    "res.len waits then the delay ends": (["tcp-response inspect-delay 1s", "tcp-response content accept if { res.len ge 4 }",
                                           "tcp-response content reject"], [b"AB", 2.0], False),
    "server closes before enough bytes": (["tcp-response inspect-delay 1s", "tcp-response content accept if { res.len ge 4 }",
                                           "tcp-response content reject"], [b"AB"], False),
    "accepted once enough bytes": (["tcp-response inspect-delay 1s", "tcp-response content accept if { res.len ge 4 }",
                                    "tcp-response content reject"], [b"AB", 0.2, b"CDEF", 0.2, b"rest"], False),
    "close resets the server": (["tcp-response inspect-delay 1s", "tcp-response content close if { res.payload(0,2) -m str OK }"],
                                [b"OK bye"], True),
    "without a delay the rules see nothing yet": (["tcp-response content reject if { res.len gt 0 }"], [0.2, b"BADX hello"], False),
    # 1 MiB at once: the rule decides on the first bytes, or a full buffer ends the wait; all is forwarded.
    "a large response after the rules": (["tcp-response inspect-delay 1s", "tcp-response content accept if { res.len ge 4 }"],
                                         [bytes(range(256)) * 4096], False),
    "a full buffer ends the wait": (["tcp-response inspect-delay 1s",
                                     "tcp-response content reject if { res.payload(0,20000) -m len 1 }"],
                                    [bytes(range(256)) * 4096], False),
    "payload_lv": (["tcp-response inspect-delay 1s", "tcp-response content reject if { res.payload_lv(0,1) -m str NO }"],
                   [b"\x02N", 0.2, b"Orest"], False),
    # haproxy 2.6 halves an unsigned offset2 (odd: relative): 6 is byte 3, 7 is 3 after the length.
    "payload_lv with offsets": (["tcp-response inspect-delay 1s",
                                 "tcp-response content set-var(txn.head) res.payload_lv(0,1,+2)",
                                 "tcp-response content reject if { res.payload_lv(0,1,3) -m str NO }",
                                 "tcp-response content reject if { res.payload_lv(0,1,7) -m str NO }",
                                 "tcp-response content accept if { res.payload_lv(0,1,6) -m str NO }",
                                 "tcp-response content reject"],
                                [b"\x02xyNOpe"], False),
    "set-var from the response, in the log": (["tcp-response inspect-delay 1s",
                                               "tcp-response content set-var(txn.head) res.payload(0,4) if { res.len ge 4 }",
                                               "tcp-response content reject if { var(txn.head) -m str QUIT }"],
                                              [b"HE", 0.2, b"LLO world"], False),
    "response rule reads a request variable": (["tcp-request inspect-delay 1s",
                                                "tcp-request content set-var(txn.k) req.payload(0,3) if { req.len ge 3 }",
                                                "tcp-response inspect-delay 1s",
                                                "tcp-response content reject if { var(txn.k) -m str hel }"],
                                               [b"secret"], False),
}


def response_scenario(env, impl, name):
    rules, script, wait_end = RESPONSE_SCENARIOS[name]
    srv = Speaker(script, wait_end=wait_end)
    rx = SyslogReceiver()
    try:
        port = free_port()
        text = cfg_head(mode="tcp", defaults_extra=f"log 127.0.0.1:{rx.port} local0\n{TCP_LOG}")
        text += f"listen li\n    bind 127.0.0.1:{port}\n" + "".join(f"    {l}\n" for l in rules)
        text += f"    server s1 127.0.0.1:{srv.port}\n"
        env.proxy(impl, text, port, name=f"tres-{impl}")
        answer, seconds = talk(port)
        large = len(answer) > 1000
        if large:
            answer = f"{len(answer)} bytes, sha1 {hashlib.sha1(answer.encode('latin-1')).hexdigest()}"
        # (1 MiB through a loaded machine may take a while: its time is not compared)
        out = {"answer": answer, "waited": None if large else seconds >= 0.9, "bounded": seconds < 3,
               "log": [log_fields(l) for l in rx.collect(1, timeout=4)]}
        if wait_end:
            deadline = time.monotonic() + 3
            while not srv.ends and time.monotonic() < deadline:
                time.sleep(0.02)
            out["server end"] = srv.ends[:1]
        return out
    finally:
        srv.stop()
        rx.close()


@pytest.mark.parametrize("name", sorted(RESPONSE_SCENARIOS))
def test_tcp_response_scenarios(differ, name):
    def check(result):
        assert result["bounded"], result
        assert len(result["log"]) == 1, result
        if name in ("reject on res.payload", "split word waits for its bytes", "res.len waits then the delay ends",
                    "server closes before enough bytes", "response rule reads a request variable"):
            assert result["answer"] == "" and " PD " in result["log"][0], result
        if name == "res.len waits then the delay ends":
            assert result["waited"], result
        if name == "close resets the server":
            assert result["answer"] == "OK bye" and result["server end"] == ["reset"], result
        if name in ("a large response after the rules", "a full buffer ends the wait"):
            assert result["answer"].startswith("1048576 bytes") and " -- 1048576 " in result["log"][0], result
        if name == "payload_lv with offsets":
            assert result["answer"] == "\x02xyNOpe" and "[NO]" in result["log"][0], result
        if name == "set-var from the response, in the log":
            assert result["answer"] == "HELLO world" and "[HELL]" in result["log"][0], result
    differ(response_scenario, check, name=name)


# --- variables of tcp-request rules in mode tcp ---

class Namer:
    """A TCP server answering each connection with its name and the bytes it read first."""

    def __init__(self, name):
        self.name = name
        self.speaker = Speaker([])
        self.speaker.serve = self.serve
        self.port = self.speaker.port

    def serve(self, c):
        c.settimeout(2)
        try:
            data = c.recv(65536)
            c.sendall(f"{self.name} got {data.decode('latin-1')}\n".encode())
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.speaker.stop()


REQUEST_VARIABLE_SCENARIOS = {
    "content rules with inspect-delay": [
        "tcp-request inspect-delay 1s",
        "tcp-request connection set-var(sess.src) src",
        "tcp-request connection set-var(txn.nope) str(lost)",
        "tcp-request content set-var(txn.k) req.payload(0,1) if { req.len ge 1 }",
        'tcp-request content set-var-fmt(txn.f) "%[var(sess.src)]/%[req.len]/%[var(txn.k)]"',
        "tcp-request content unset-var(txn.f) if { var(txn.k) -m str u }",
        "tcp-request content reject if { var(txn.k) -m str q }",
    ],
    "content rules without inspect-delay": [
        "tcp-request session set-var(sess.src) src",
        "tcp-request content set-var(txn.k) str(c)",
        "tcp-request content set-var(txn.k,ifnotset) str(zzz)",
        "tcp-request content set-var(txn.nope,ifset) str(x)",
        'tcp-request content set-var-fmt(txn.f) "%[var(sess.src)]-%[var(txn.k)]-%[dst_port,mul(0)]"',
    ],
    "content reject at the first pass with inspect-delay": [
        "tcp-request inspect-delay 1s",
        "tcp-request content set-var(txn.k) src,ipmask(24)",
        "tcp-request content reject if { var(txn.k) -m str 127.0.0.0 }",
    ],
    "content reject without inspect-delay": [
        "tcp-request content set-var(txn.k) src,ipmask(24)",
        "tcp-request content reject if { var(txn.k) -m str 127.0.0.0 }",
    ],
}


def request_variable_scenario(env, impl, name):
    servers = {k: Namer(k) for k in ("a", "b", "c")}
    rx = SyslogReceiver()
    try:
        port = free_port()
        # Without inspect-delay the rules run before or after the client's bytes arrive: %B/%U left out.
        log = TCP_LOG.replace(" %B %U", "") if "without" in name or "first pass" in name else TCP_LOG
        text = cfg_head(mode="tcp", defaults_extra=f"log 127.0.0.1:{rx.port} local0\n{log}")
        text += f"frontend fe\n    bind 127.0.0.1:{port}\n"
        text += "".join(f"    {l}\n" for l in REQUEST_VARIABLE_SCENARIOS[name])
        text += "    use_backend be_%[var(txn.k)]\n    default_backend be_b\n"
        for k, s in servers.items():
            text += f"backend be_{k}\n    server {k} 127.0.0.1:{s.port}\n"
        env.proxy(impl, text, port, name=f"tvar-{impl}")
        out = {}
        for data in (b"abc", b"cde", b"unset", b"quit", b"xyz"):
            answer, seconds = talk(port, data)
            lines = rx.collect(len(out) + 1, timeout=4)
            out[data.decode()] = {"answer": answer, "bounded": seconds < 3,
                                  "log": log_fields(lines[-1]) if len(lines) > len(out) else None}
        return out
    finally:
        for s in servers.values():
            s.stop()
        rx.close()


@pytest.mark.parametrize("name", sorted(REQUEST_VARIABLE_SCENARIOS))
def test_tcp_request_variables(differ, name):
    def check(result):
        assert all(x["bounded"] for x in result.values()), result
        if name == "content rules with inspect-delay":
            assert result["abc"]["answer"] == "a got abc\n", result
            assert result["cde"]["answer"] == "c got cde\n", result
            assert result["xyz"]["answer"] == "b got xyz\n", result  # no backend be_x: the default
            assert result["quit"]["answer"] == "", result
            assert "[127.0.0.1/3/a]" in result["abc"]["log"] and "[-]" in result["abc"]["log"], result
            assert result["quit"]["log"].startswith("fe <NOSRV> PR "), result
        elif name.startswith("content reject"):
            assert all(x["answer"] == "" and x["log"].startswith("fe <NOSRV> PR ") for x in result.values()), result
        else:
            assert all(x["answer"].startswith("c got ") for x in result.values()), result
    differ(request_variable_scenario, check, name=name)


# --- variables of tcp-request rules in mode http ---

def echo_vars(req, conn, srv):
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-")]
    return make_response(200, "\n".join([srv.name] + lines).encode() + b"\n", {"Content-Type": "text/plain"})


def http_variable_scenario(env, impl):
    a = env.backend(http_handler(echo_vars), name="a")
    b = env.backend(http_handler(echo_vars), name="b")
    rx = SyslogReceiver()
    try:
        port = free_port()
        text = cfg_head(defaults_extra=f'log 127.0.0.1:{rx.port} local0\nlog-format "%b %s %ST [%[var(txn.be)]] [%[var(sess.c)]]"')
        text += f"frontend fe\n    bind 127.0.0.1:{port}\n"
        text += ("    tcp-request connection set-var(sess.c) str(conn)\n"
                 "    tcp-request content set-var(txn.be) str(be_a) if { src 127.0.0.1 }\n"
                 "    tcp-request content set-var-fmt(txn.f) \"%[var(sess.c)]:%[var(txn.be)]\"\n"
                 "    tcp-request content set-var(txn.p) path\n"
                 "    tcp-request content reject if { path /reject }\n"
                 "    http-request set-header X-Vars %[var(txn.f)]\n"
                 "    http-request set-header X-Path %[var(txn.p)]\n"
                 "    http-request set-var(txn.c,ifnotexists) str(first)\n"
                 "    http-request set-var(txn.c,ifnotexists) str(second)\n"
                 "    http-request set-header X-C %[var(txn.c)]\n"
                 "    http-request set-var(txn.be) str(be_b) if { path /b }\n"
                 "    use_backend %[var(txn.be)]\n"
                 "    default_backend be_b\n")
        text += f"backend be_a\n    server a 127.0.0.1:{a.port}\nbackend be_b\n    server b 127.0.0.1:{b.port}\n"
        env.proxy(impl, text, port, name=f"hvar-{impl}")
        out = {}
        c = Client(port)
        try:
            for path in ("/a", "/b", "/a"):
                c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                r = c.read_response()[0]
                out[path + str(len(out))] = {"status": r.status, "body": r.body.decode()}
            # A content rule reading the request rejects: closed without a response.
            c.send(b"GET /reject HTTP/1.1\r\nHost: x\r\n\r\n")
            out["/reject"] = {"closed": c.wait_closed(3), "data": c.buf.decode("latin-1")}
        finally:
            c.close()
        out["log"] = [log_fields(l) for l in rx.collect(4, timeout=4)]
        return out
    finally:
        rx.close()


def test_tcp_request_variables_in_http_mode(differ):
    def check(result):
        assert result["/a0"]["body"] == "a\nx-vars: conn:be_a\nx-path: /a\nx-c: first\n", result
        assert result["/reject"] == {"closed": True, "data": ""}, result
        assert result["/b1"]["body"].startswith("b\n"), result
        assert result["log"][0].startswith("be_a a 200 [be_a] [conn]"), result
    differ(http_variable_scenario, check)


def counter_scenario(env, impl):
    srv = Speaker([b"ERR x"])
    rx = SyslogReceiver()
    try:
        port = free_port()
        text = cfg_head(mode="tcp", defaults_extra=f'log 127.0.0.1:{rx.port} local0\nlog-format "%b %s %ts %B [%[sc0_get_gpc0]]"')
        text += (f"frontend fe\n    bind 127.0.0.1:{port}\n"
                 "    stick-table type ip size 10 expire 1m store gpc0\n"
                 "    tcp-request connection track-sc0 src\n"
                 "    tcp-request connection reject if { sc0_get_gpc0 ge 2 }\n"
                 "    default_backend be\n"
                 "backend be\n    tcp-response inspect-delay 1s\n"
                 "    tcp-response content sc-inc-gpc0(0) if { res.payload(0,3) -m str ERR }\n"
                 "    tcp-response content reject if { sc0_get_gpc0 ge 2 }\n"
                 f"    server s1 127.0.0.1:{srv.port}\n")
        env.proxy(impl, text, port, name=f"tcnt-{impl}")
        out = []
        for i in range(3):
            answer, seconds = talk(port)
            out.append({"answer": answer, "bounded": seconds < 3})
        rx.collect(2, timeout=4)
        return {"exchanges": out, "log": [log_fields(l) for l in rx.drain(0.3)]}
    finally:
        srv.stop()
        rx.close()


def test_tcp_response_counts_on_the_streams_counters(differ):
    """`tcp-response content sc-inc-gpc0(0)` counts on what `tcp-request connection track-sc0`
    tracks; a later response rule and the next connection's rule read it."""
    def check(result):
        assert [x["answer"] for x in result["exchanges"]] == ["ERR x", "", "<Reset>"], result
        assert result["log"] == ["be s1 -- 5 [1]", "be s1 PD 5 [2]"], result
    differ(counter_scenario, check)


def connection_reject_scenario(env, impl, mode):
    port = free_port()
    text = cfg_head(mode=mode) + (f"frontend fe\n    bind 127.0.0.1:{port}\n"
                                  "    tcp-request connection reject if { src 127.0.0.1 }\n"
                                  "    default_backend be\nbackend be\n    server s1 127.0.0.1:9\n")
    env.proxy(impl, text, port, name=f"tcrej-{impl}")
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
    except ConnectionResetError:
        return {"outcome": "reset"}
    try:
        # Nothing sent: a reset is the proxy's choice, not the kernel's answer to unread bytes.
        try:
            outcome = "eof" if s.recv(100) == b"" else "data"
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "open"
    finally:
        s.close()
    return {"outcome": outcome}


@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_tcp_request_connection_reject_resets(differ, mode):
    def check(result):
        assert result["outcome"] == "reset", result
    differ(connection_reject_scenario, check, mode=mode)


def h2_session_variables_scenario(env, impl):
    """Streams of one h2 connection share its `sess.` variables (set by a `tcp-request
    connection` rule, or by one stream's `http-request` rule), not their `txn.` ones."""
    import h2.config
    import h2.connection
    import h2.events
    port = free_port()
    rx = SyslogReceiver()
    log = f'log 127.0.0.1:{rx.port} local0\nlog-format "%b %s %ts %ST %r [%[var(sess.c)]] [%[var(txn.t)]]"'
    text = cfg_head(defaults_extra=log) + (f"frontend fe\n    bind 127.0.0.1:{port} proto h2\n"
                         "    tcp-request connection set-var(sess.c) str(conn)\n"
                         "    tcp-request content set-var(txn.t) path\n"
                         "    tcp-request content reject if { path /reject }\n"
                         "    http-request set-var(sess.n) path if { path_beg /set }\n"
                         "    http-request set-var(txn.only) str(here) if { path_beg /set }\n"
                         '    http-request return status 200 content-type text/plain lf-string "c=%[var(sess.c)] n=%[var(sess.n)] t=%[var(txn.t)] only=%[var(txn.only)]"\n')
    env.proxy(impl, text, port, name=f"h2sess-{impl}")
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    bodies = {}
    try:
        for sid, path in ((1, "/first"), (3, "/set1"), (5, "/after"), (7, "/reject")):
            c.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "t")], end_stream=True)
            s.sendall(c.data_to_send())
            deadline = time.monotonic() + 3
            done = False
            while not done and time.monotonic() < deadline:
                d = s.recv(65536)
                if not d:
                    break
                for e in c.receive_data(d):
                    if isinstance(e, h2.events.DataReceived):
                        bodies[path] = bodies.get(path, b"") + e.data
                    elif isinstance(e, h2.events.StreamReset) and e.stream_id == sid:
                        bodies[path] = b"reset %d" % e.error_code
                        done = True
                    elif isinstance(e, h2.events.StreamEnded) and e.stream_id == sid:
                        done = True
                s.sendall(c.data_to_send())
    finally:
        s.close()
    out = {k: v.decode() for k, v in bodies.items()}
    out["log"] = [log_fields(l) for l in rx.collect(4, timeout=4)]
    rx.close()
    return out


def test_http2_streams_share_session_variables(differ):
    def check(result):
        assert result == {"/first": "c=conn n= t=/first only=", "/set1": "c=conn n=/set1 t=/set1 only=here",
                          "/after": "c=conn n=/set1 t=/after only=", "/reject": "reset 11",
                          "log": ["fe <NOSRV> LR 200 GET http://t/first HTTP/2.0 [conn] [/first]",
                                  "fe <NOSRV> LR 200 GET http://t/set1 HTTP/2.0 [conn] [/set1]",
                                  "fe <NOSRV> LR 200 GET http://t/after HTTP/2.0 [conn] [/after]",
                                  "fe <NOSRV> PR -1 <BADREQ> [conn] [/reject]"]}, result
    differ(h2_session_variables_scenario, check)


def passes_scenario(env, impl):
    """Client bytes in 4 pieces, server bytes in 3, after pauses: the content rules start over on
    each pass, so an `sc-inc-gpc0` before a rule that waits counts every pass."""
    srv = Speaker([b"AB", 0.2, b"C", 0.2, b"DEF"])
    rx = SyslogReceiver()
    try:
        port = free_port()
        text = cfg_head(mode="tcp", defaults_extra=f'log 127.0.0.1:{rx.port} local0\nlog-format "%ts %[sc0_get_gpc0] %[sc1_get_gpc0] [%[var(txn.k)]]"')
        text += (f"frontend fe\n    bind 127.0.0.1:{port}\n"
                 "    stick-table type ip size 10 store gpc0\n"
                 "    tcp-request connection track-sc0 src\n"
                 "    tcp-request connection track-sc1 src table be\n"
                 "    tcp-request inspect-delay 1s\n"
                 "    tcp-request content sc-inc-gpc0(0)\n"
                 "    tcp-request content set-var(txn.k) req.payload(0,2) if { req.len ge 2 }\n"
                 "    tcp-request content accept if { req.len ge 4 }\n"
                 "    default_backend be\n"
                 "backend be\n    stick-table type ip size 10 store gpc0\n    tcp-response inspect-delay 1s\n"
                 "    tcp-response content sc-inc-gpc0(1)\n"
                 "    tcp-response content accept if { res.len ge 4 }\n"
                 f"    server s1 127.0.0.1:{srv.port}\n")
        env.proxy(impl, text, port, name=f"tpass-{impl}")
        s = socket.create_connection(("127.0.0.1", port), timeout=4)
        out = b""
        try:
            time.sleep(0.2)  # the first pass runs before any byte
            for part in (b"A", b"B", b"C", b"DEF"):
                s.sendall(part)
                time.sleep(0.2)
            while True:
                d = s.recv(1000)
                if not d:
                    break
                out += d
        finally:
            s.close()
        return {"answer": out.decode(), "log": [log_fields(l) for l in rx.collect(1, timeout=4)]}
    finally:
        srv.stop()
        rx.close()


def test_content_rules_start_over_on_each_pass(differ):
    def check(result):
        assert result["answer"] == "ABCDEF" and result["log"] == ["-- 5 4 [AB]"], result
    differ(passes_scenario, check)
