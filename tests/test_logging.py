"""Access logs, differential: the same scenario runs through haproxy 2.6 and through Fulcrum, both
logging to a UDP socket this test reads; the lines are compared field by field after masking only
what must differ (dates, pids, client ports, timer values — a timer's `-1`, meaning "not reached",
is kept, and so is `+`)."""

import re
import socket
import time

import pytest

from conftest import selected_impls
from harness import free_port, http_handler, make_response


class SyslogReceiver:
    """A UDP socket collecting datagrams (bounded wait, no sleeps)."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.lines = []

    def collect(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.s.recvfrom(65536)
            except socket.timeout:
                break
            self.lines.append(data.decode(errors="replace"))
        return self.lines

    def drain(self, quiet=0.3):
        """Whatever else arrives within `quiet` seconds of silence."""
        self.s.settimeout(quiet)
        while True:
            try:
                data, _ = self.s.recvfrom(65536)
            except socket.timeout:
                return self.lines
            self.lines.append(data.decode(errors="replace"))

    def close(self):
        self.s.close()


# `local` (haproxy's default) has no host name; `rfc3164` has one.
HEADER_3164 = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) (?:\S+ )?([\w.-]+)\[(\d+)\]: (.*)$", re.S)


def timers(field):
    """'0/0/1/2/3' -> 'N/N/N/N/N'; '-1' stays; a '+' prefix stays."""
    return "/".join(re.sub(r"^(\+?)\d+$", r"\1N", t) for t in field.split("/"))


def normalize_http(msg):
    f = msg.rstrip("\n").split(" ")
    f[0] = re.sub(r":\d+$", ":P", f[0])            # client port
    f[1] = "[DATE]"                                 # accept/request date
    f[4] = timers(f[4])                             # TR/Tw/Tc/Tr/Ta
    return " ".join(f)


def normalize_tcp(msg):
    f = msg.rstrip("\n").split(" ")
    f[0] = re.sub(r":\d+$", ":P", f[0])
    f[1] = "[DATE]"
    f[4] = timers(f[4])                             # Tw/Tc/Tt
    return " ".join(f)


def split_header(line):
    m = HEADER_3164.match(line)
    assert m, f"not an RFC3164 line: {line!r}"
    pri, _date, tag, _pid, msg = m.groups()
    return int(pri), tag, msg


def config(syslog_port, body, defaults="", global_extra=""):
    return f"""
global
    nbthread 1
    log 127.0.0.1:{syslog_port} local0
{global_extra}
defaults
    mode http
    log global
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
{defaults}
{body}
"""


def http_config(syslog_port, port, server_port, frontend=(), backend=()):
    """`config()` with the usual pair: frontend fe on `port` with `frontend` lines, backend be with
    `backend` lines and server s1 on `server_port`."""
    fe = "".join(f"    {l}\n" for l in frontend)
    be = "".join(f"    {l}\n" for l in backend)
    return config(syslog_port, f"frontend fe\n    bind 127.0.0.1:{port}\n{fe}    default_backend be\n"
                               f"backend be\n{be}    server s1 127.0.0.1:{server_port}\n")


def run_both(env, scenario, count, normalize):
    """Runs `scenario(impl, syslog_port) -> None` for each implementation; returns
    {impl: [(pri, tag, normalized message)]}."""
    out = {}
    for impl in selected_impls_or_both():
        rx = SyslogReceiver()
        try:
            scenario(impl, rx.port)
            lines = rx.collect(count)
            rx.drain(0.2)
            out[impl] = [(p, t, normalize(m)) for p, t, m in map(split_header, rx.lines)]
        finally:
            rx.close()
    return out


_IMPLS = None


def selected_impls_or_both():
    return _IMPLS


@pytest.fixture(autouse=True)
def _impls(request):
    global _IMPLS
    _IMPLS = selected_impls(request.config)


def assert_same(out):
    if "haproxy" in out and "fulcrum" in out:
        assert out["fulcrum"] == out["haproxy"], f"\nhaproxy: {out['haproxy']}\nfulcrum: {out['fulcrum']}"


def get(port, path="/", headers="", timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: example.test\r\n{headers}Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
        return data


def ok_backend(env, body=b"hello\n", extra_headers=None, delay=0.0):
    def respond(req, conn, srv):
        if delay:
            time.sleep(delay)
        return make_response(200, body, {"Content-Type": "text/plain", **(extra_headers or {})})
    return env.backend(http_handler(respond))


def test_httplog_normal_request(env):
    b = ok_backend(env, extra_headers={"Server": "unit-test"})

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, http_config(sp, port, b.port, frontend=['option httplog', 'capture request header Host len 20', 'capture response header Server len 5']), port, name=f"p-{impl}")
        assert get(port).startswith(b"HTTP/1.1 200")

    out = run_both(env, scenario, 1, normalize_http)
    for impl, lines in out.items():
        assert len(lines) == 1, (impl, lines)
        pri, tag, msg = lines[0]
        assert pri == 16 * 8 + 6 and tag == "haproxy", (impl, lines)
        assert msg.startswith("127.0.0.1:P [DATE] fe be/s1 N/N/N/N/N 200 "), (impl, msg)
        assert msg.endswith(' - - ---- 1/1/0/0/0 0/0 {example.test} {unit-} "GET / HTTP/1.1"'), (impl, msg)
    assert_same(out)


@pytest.mark.parametrize("case", ["no-server", "refused", "server-timeout", "bad-request"])
def test_httplog_errors(env, case):
    b = ok_backend(env, delay=1.0 if case == "server-timeout" else 0.0)
    dead = free_port()

    def scenario(impl, sp):
        port = free_port()
        server = {
            "no-server": f"server s1 127.0.0.1:{b.port} disabled",
            "refused": f"server s1 127.0.0.1:{dead}",
            "server-timeout": f"server s1 127.0.0.1:{b.port}",
            "bad-request": f"server s1 127.0.0.1:{b.port}",
        }[case]
        env.proxy(impl, config(sp, f"""
frontend fe
    bind 127.0.0.1:{port}
    option httplog
    default_backend be
backend be
    retries 0
    timeout server 300ms
    {server}
"""), port, name=f"p-{impl}")
        if case == "bad-request":
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
                while s.recv(4096):
                    pass
        else:
            get(port)

    out = run_both(env, scenario, 1, normalize_http)
    expected = {
        "no-server": ("503", "SC--", "be/<NOSRV>"),
        "refused": ("503", "SC--", "be/s1"),
        "server-timeout": ("504", "sH--", "be/s1"),
        "bad-request": ("400", "PR--", "be/<NOSRV>"),
    }[case]
    for impl, lines in out.items():
        assert len(lines) == 1, (impl, lines)
        f = lines[0][2].split(" ")
        assert (f[5], f[9]) == expected[:2], (impl, lines)
    assert_same(out)


def test_tcplog(env):
    def echo(conn):
        data = conn.sock.recv(100)
        conn.sock.sendall(b"echo:" + data)

    b = env.backend(echo)

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, config(sp, f"""
listen svc
    bind 127.0.0.1:{port}
    mode tcp
    option tcplog
    server s1 127.0.0.1:{b.port}
"""), port, name=f"p-{impl}")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"ping")
            got = b""
            while True:
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
            assert got == b"echo:ping"

    out = run_both(env, scenario, 1, normalize_tcp)
    for impl, lines in out.items():
        assert len(lines) == 1, (impl, lines)
        assert re.match(r"^127\.0\.0\.1:P \[DATE\] svc svc/s1 N/N/N 9 -- \d+/\d+/\d+/\d+/0 0/0$", lines[0][2]), (impl, lines)
    assert_same(out)


@pytest.mark.fulcrum_only
def test_a_log_sink_that_never_reads_costs_no_request_and_drops_are_reported(env, tmp_path):
    """Fulcrum's own behaviour (haproxy has no such report): the unix datagram socket below is
    never read, so its buffer fills; every request must still be served, and at exit Fulcrum says
    how many lines it dropped."""
    stuck_path = str(tmp_path / "stuck.sock")
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stuck.bind(stuck_path)
    b = ok_backend(env)
    port = free_port()
    try:
        p = env.proxy("fulcrum", f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    option httplog
    log {stuck_path} local0
    default_backend be
backend be
    server s1 127.0.0.1:{b.port}
""", port, name="stuck")
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        statuses = []
        for _ in range(1500):
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            statuses.append(r.status)
        c.close()
        assert statuses == [200] * 1500
        p.stop()
        err = p.errpath.read_text(errors="replace")
        m = re.search(r"log target \S+stuck\.sock: (\d+) lines dropped", err)
        assert m and int(m.group(1)) > 0, err
    finally:
        stuck.close()


RAW_RESPONSES = {
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n",
    "connection-header": b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
    "many-headers": b"HTTP/1.1 201 Created\r\nX-A: 1\r\nX-B:  padded  \r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi",
}


@pytest.mark.parametrize("kind", sorted(RAW_RESPONSES))
def test_bytes_are_counted_as_haproxy_does(env, kind):
    """%B is haproxy's internal message size, not the wire's: start line + names + values."""
    def raw(conn):
        conn.read_request()
        conn.sock.sendall(RAW_RESPONSES[kind])

    b = env.backend(raw)

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, http_config(sp, port, b.port, frontend=['option httplog']), port, name=f"p-{impl}")
        assert get(port).startswith(b"HTTP/1.1 20")

    out = run_both(env, scenario, 1, normalize_http)
    assert_same(out)


def test_logasap_logs_at_the_response_head_with_plus_signs(env):
    b = ok_backend(env, body=b"x" * 1000)

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, http_config(sp, port, b.port, frontend=['option httplog', 'option logasap']), port, name=f"p-{impl}")
        assert get(port).startswith(b"HTTP/1.1 200")

    out = run_both(env, scenario, 1, normalize_http)
    for impl, lines in out.items():
        f = lines[0][2].split(" ")
        assert f[4].endswith("/+N") and f[6].startswith("+"), (impl, lines)
    assert_same(out)


def test_client_abort_mid_response(env):
    def slow(conn):
        conn.read_request()
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # keeps streaming until the proxy gives up on it
            try:
                conn.sock.sendall(b"x" * 1000)
            except OSError:
                return
            time.sleep(0.02)

    b = env.backend(slow)

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, http_config(sp, port, b.port, frontend=['option httplog']), port, name=f"p-{impl}")
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < 500:
            got += s.recv(4096)
        s.close()

    out = run_both(env, scenario, 1, lambda m: re.sub(r" 200 \d+ ", " 200 B ", normalize_http(m)))
    for impl, lines in out.items():
        assert lines and lines[0][2].split(" ")[9] == "CD--", (impl, lines)
    assert_same(out)


def test_queue_timeout(env):
    b = ok_backend(env, delay=1.5)

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, config(sp, f"""
frontend fe
    bind 127.0.0.1:{port}
    option httplog
    default_backend be
backend be
    timeout queue 300ms
    server s1 127.0.0.1:{b.port} maxconn 1
"""), port, name=f"p-{impl}")
        import threading
        first = threading.Thread(target=get, args=(port, "/first"), daemon=True)
        first.start()
        time.sleep(0.2)
        assert get(port, "/second").startswith(b"HTTP/1.1 503")
        first.join(5)

    def norm(m):
        return re.sub(r" \d+/\d+ \"", " Q/Q \"", normalize_http(m))  # queue positions depend on timing

    out = run_both(env, scenario, 2, norm)
    for impl, lines in out.items():
        states = sorted(l[2].split(" ")[9] for l in lines)
        assert states == ["----", "sQ--"], (impl, lines)
    assert_same({k: sorted(v) for k, v in out.items()})


# 30 variables, separated by '|'; what must differ is masked by position.
CUSTOM = [("ci", "keep"), ("cp", "num"), ("fi", "keep"), ("fp", "num"), ("bi", "keep"), ("bp", "num"),
          ("si", "keep"), ("sp", "keep"), ("t", "date"), ("tr", "date"), ("trg", "date"), ("Ts", "num"),
          ("ft", "keep"), ("f", "keep"), ("b", "keep"), ("s", "keep"), ("TR", "timer"), ("Tw", "timer"),
          ("Tc", "timer"), ("Tr", "timer"), ("Ta", "timer"), ("Tt", "timer"), ("Th", "timer"), ("Ti", "timer"),
          ("Tq", "timer"), ("ST", "keep"), ("B", "keep"), ("U", "keep"), ("tsc", "keep"), ("ts", "keep"),
          ("ac", "keep"), ("fc", "keep"), ("bc", "keep"), ("sc", "keep"), ("rc", "keep"), ("sq", "keep"),
          ("bq", "keep"), ("hrl", "keep"), ("hsl", "keep"), ("r", "keep"), ("HM", "keep"), ("HU", "keep"),
          ("HP", "keep"), ("HV", "keep"), ("pid", "num"), ("H", "keep"), ("ms", "num")]


def normalize_custom(msg):
    parts = msg.rstrip("\n").split("|")
    assert len(parts) == len(CUSTOM), (len(parts), msg)
    out = []
    for (name, how), value in zip(CUSTOM, parts):
        if how == "num":
            value = "N" if re.fullmatch(r"\d+", value) else value
        elif how == "date":
            value = "DATE"
        elif how == "timer":
            value = timers(value)
        out.append(f"{name}={value}")
    return " ".join(out)


@pytest.mark.parametrize("syslog_format", ["rfc3164", "rfc5424"])
def test_custom_log_format_with_many_variables(env, syslog_format):
    b = ok_backend(env, extra_headers={"Server": "unit"})
    fmt = "|".join(f"%{name}" for name, _ in CUSTOM)

    def scenario(impl, sp):
        port = free_port()
        text = config(sp, f"""
frontend fe
    bind 127.0.0.1:{port}
    log-format "{fmt}"
    capture request header Host len 30
    capture response header Server len 10
    default_backend be
backend be
    server s1 127.0.0.1:{b.port}
""")
        text = text.replace(f"log 127.0.0.1:{sp} local0", f"log 127.0.0.1:{sp} format {syslog_format} local0")
        env.proxy(impl, text, port, name=f"p-{impl}")
        assert get(port, "/path?q=1").startswith(b"HTTP/1.1 200")

    out = {}
    for impl in selected_impls_or_both():
        rx = SyslogReceiver()
        try:
            scenario(impl, rx.port)
            rx.collect(1)
            lines = rx.lines
        finally:
            rx.close()
        assert len(lines) == 1, (impl, lines)
        line = lines[0]
        if syslog_format == "rfc5424":
            m = re.match(r"^<134>1 \S+ (\S+) haproxy (\d+) - - (.*)$", line, re.S)
            assert m, (impl, line)
            out[impl] = (m.group(1), normalize_custom(m.group(3)))
        else:
            out[impl] = (split_header(line)[1], normalize_custom(split_header(line)[2]))
    assert_same(out)


def test_unique_id_header_and_log(env):
    """`unique-id-format` (HAProxy's documented example, in hex) and `unique-id-header`: the server
    gets the header, the log line carries the same value as %ID."""
    seen = []

    def respond(req, conn, srv):
        seen.append(req.header("x-unique-id"))
        return make_response(200, b"ok\n")

    b = env.backend(http_handler(respond))

    def scenario(impl, sp):
        port = free_port()
        env.proxy(impl, http_config(sp, port, b.port, frontend=['unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid', 'unique-id-header X-Unique-ID', 'log-format "%ID %ST"']), port, name=f"p-{impl}")
        assert get(port).startswith(b"HTTP/1.1 200")

    shape = r"^7F000001:[0-9A-F]{4}_7F000001:[0-9A-F]{4}_[0-9A-F]{8}_[0-9A-F]{4}:[0-9A-F]{4}$"
    for impl in selected_impls_or_both():
        seen.clear()
        rx = SyslogReceiver()
        try:
            scenario(impl, rx.port)
            rx.collect(1)
            _, _, msg = split_header(rx.lines[0])
        finally:
            rx.close()
        assert len(seen) == 1 and re.match(shape, seen[0] or ""), (impl, seen)
        assert msg.rstrip("\n") == f"{seen[0]} 200", (impl, msg, seen)


SAMPLES = ["src", "dst", "fe_name", "be_name", "srv_name", "method", "status", "ssl_fc", "env(HOME)",
           "str(abc),upper,base64", "str(34851),add(1)", "str(34851),mul(3),sub(2),div(5),mod(7)", "str(a.b.c),word(2,.)",
           "str(a:b::c),field(-1,:)", "str(a:b::c),field(3,:)", "src,ipmask(24)", "src,ipmask(255.0.0.0)", "str(x y),length",
           "str(abc),hex", "str(aGk=),b64dec", "str(AbC),lower", "str(abcdef),bytes(2,3)", 'str(q/o),json',
           "str(hello),crc32", "str(hello),sdbm", "str(hello),djb2", "str(hello),wt6", "str(7),and(3)", "str(7),or(8),xor(1)", "str(5),neg", "str(a%2Fb+c),url_dec",
           "fe_name,ltrim(f),rtrim(e)", "status,even", "str(0),not", "srv_name,upper"]


def test_log_format_sample_expressions(env):
    """`%[fetch(args),converter(args)]` in a log-format: 35 expressions (the fetches a log line can
    use: haproxy refuses header fetches there), each value compared with haproxy's."""
    b = ok_backend(env)
    fmt = "|".join(f"%[{s}]" for s in SAMPLES).replace('"', '\\"')
    out = {}
    for impl in selected_impls_or_both():
        rx = SyslogReceiver()
        try:
            port = free_port()
            text = config(rx.port, f"""
frontend fe
    bind 127.0.0.1:{port}
    log-format "{fmt}"
    default_backend be
backend be
    server s1 127.0.0.1:{b.port}
""")
            env.proxy(impl, text, port, name=f"samples-{impl}")
            assert get(port, "/p/a.html?a=7&b=8").startswith(b"HTTP/1.1 200")
            lines = rx.collect(1)
        finally:
            rx.close()
        assert len(lines) == 1, (impl, lines)
        values = split_header(lines[0])[2].rstrip("\n").split("|")
        assert len(values) == len(SAMPLES), values
        out[impl] = dict(zip(SAMPLES, values))
    if len(out) == 2:
        diffs = {k: (out["haproxy"][k], out["fulcrum"][k]) for k in SAMPLES if out["haproxy"][k] != out["fulcrum"][k]}
        assert not diffs, diffs



def test_header_fetches_in_a_log_format_are_refused_as_haproxy_does(tmp_path):
    """haproxy 2.6 refuses `%[req.hdr(host)]` in a log-format (the request is gone when the line
    is built); Fulcrum says the same, at the same line."""
    from harness import fulcrum_bin
    import subprocess
    cfg = tmp_path / "h.cfg"
    cfg.write_text(config(5140, "frontend fe\n    bind 127.0.0.1:8999\n    log-format \"%[req.hdr(host)] %[res.hdr(server)]\"\n    default_backend be\nbackend be\n    server s1 127.0.0.1:1\n"))
    outs = {}
    for name, binary in (("haproxy", "haproxy"), ("fulcrum", fulcrum_bin())):
        r = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0, (name, r.stdout + r.stderr)
        outs[name] = r.stdout + r.stderr
    assert "needs 'HTTP request headers' which is not available here" in outs["haproxy"]
    assert "sample fetch <req.hdr(host)> may not be reliably used here because it needs 'HTTP request headers' which is not available here" in outs["fulcrum"]
    assert "h.cfg:" in outs["fulcrum"]


def test_cookie_characters_of_the_termination_state(env):
    """`cookie SRV insert indirect`: no cookie (NI), a valid one (VN), an unknown one (II); and
    `prefix` with a server that sets the cookie (NR): the 3rd and 4th characters of the state."""
    def responder(req, conn, srv):
        h = {"Set-Cookie": "JS=abc; path=/"} if "setck" in req.target else {}
        return make_response(200, b"ok", h)

    b = env.backend(http_handler(responder), name="ck")

    def scenario(impl, sp):
        for mode, requests in (("SRV insert indirect", [("/", ""), ("/", "Cookie: SRV=c1\r\n"), ("/", "Cookie: SRV=zz\r\n")]),
                               ("JS prefix", [("/?setck", ""), ("/", "Cookie: JS=c1~abc\r\n")])):
            port = free_port()
            cfg = http_config(sp, port, b.port, frontend=["option httplog"], backend=[f"cookie {mode}"])
            env.proxy(impl, cfg.replace(f"server s1 127.0.0.1:{b.port}", f"server s1 127.0.0.1:{b.port} cookie c1"),
                      port, name=f"ck-{impl}-{mode.split()[0]}")
            for path, headers in requests:
                assert get(port, path, headers).startswith(b"HTTP/1.1 200")

    out = run_both(env, scenario, 5, normalize_http)
    for impl, lines in out.items():
        states = [m.split(" ")[-6] for _, _, m in lines]
        assert states == ["--NI", "--VN", "--II", "--NR", "--VN"], (impl, lines)
    assert_same(out)
