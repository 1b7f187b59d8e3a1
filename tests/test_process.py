"""Process behaviour of the fulcrum binary: signals, daemon mode and pidfile, inherited
listening sockets (fd@N), takeover with -sf, unix-socket binds and the --demo default.

Self-contained: its own tiny backend and helpers, every wait bounded by a deadline."""

import http.server
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FULCRUM = os.environ.get("FULCRUM_BIN", str(REPO / ".build" / "release" / "fulcrum"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(port, path="/", timeout=5.0, unix=None):
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(unix)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


class Backend:
    """A threaded HTTP backend: `/slow` answers after 1 s, anything else at once."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/slow":
                    time.sleep(1.0)
                body = f"ok {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A proxy stopped at once (SIGTERM/SIGINT tests) resets its server connections:
                # expected here, not worth a traceback in the test output.
                import sys
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def config(bind, backend_port):
    return f"""
global
    nbthread 2
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind {bind}
    default_backend be
backend be
    server s1 127.0.0.1:{backend_port}
"""


class Proc:
    def __init__(self, args, **kw):
        self.p = subprocess.Popen([FULCRUM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def wait(self, timeout=10.0):
        return self.p.wait(timeout=timeout)

    def stop(self):
        stop_process(self.p)


def stop_process(p):
    """SIGTERM, then SIGKILL after 5 s: every process a test starts ends."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def write_cfg(tmp, text):
    path = Path(tmp) / "fulcrum.cfg"
    path.write_text(text)
    return str(path)


def test_sigterm_stops_at_once_with_status_0(backend, tmp_path):
    port = free_port()
    proc = Proc(["-db", "-f", write_cfg(tmp_path, config(f"127.0.0.1:{port}", backend.port))])
    try:
        wait_for(lambda: port_open(port), what="listener")
        assert http_get(port)[0] == 200
        proc.p.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        proc.stop()


def test_sigusr1_stops_listening_and_finishes_inflight_requests(backend, tmp_path):
    port = free_port()
    proc = Proc(["-db", "-f", write_cfg(tmp_path, config(f"127.0.0.1:{port}", backend.port))])
    try:
        wait_for(lambda: port_open(port), what="listener")
        result = {}
        t = threading.Thread(target=lambda: result.update(r=http_get(port, "/slow")), daemon=True)
        t.start()
        time.sleep(0.3)  # the slow request is in flight (backend sleeps 1 s)
        proc.p.send_signal(signal.SIGUSR1)
        wait_for(lambda: not port_open(port), timeout=3, what="listener closed after SIGUSR1")
        t.join(5)
        assert result["r"][0] == 200 and result["r"][1] == b"ok /slow\n"
        assert proc.wait(5) == 0
    finally:
        proc.stop()


def test_daemon_writes_pidfile_and_serves(backend, tmp_path):
    port = free_port()
    pidfile = tmp_path / "fulcrum.pid"
    cfg = write_cfg(tmp_path, config(f"127.0.0.1:{port}", backend.port))
    parent = subprocess.run([FULCRUM, "-D", "-p", str(pidfile), "-f", cfg], capture_output=True, timeout=10)
    assert parent.returncode == 0, parent.stderr
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile")
    pid = int(pidfile.read_text())
    try:
        wait_for(lambda: port_open(port), what="daemon listener")
        assert http_get(port)[0] == 200
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"fulcrum")
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().split(b")")[1][:3],
                 timeout=5, what="daemon exit")


def test_bind_fd_adopts_an_inherited_listening_socket(backend, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    proc = Proc(["-db", "-f", write_cfg(tmp_path, config(f"fd@{fd}", backend.port))], pass_fds=(fd,))
    try:
        listener.close()  # only the child holds it now
        wait_for(lambda: http_get(port)[0] == 200 if port_open(port) else False, what="request through fd@ listener")
    finally:
        proc.stop()


def test_sf_new_process_takes_over_and_old_one_finishes(backend, tmp_path):
    port = free_port()
    cfg = write_cfg(tmp_path, config(f"127.0.0.1:{port}", backend.port))
    old = Proc(["-db", "-f", cfg])
    new = None
    try:
        wait_for(lambda: port_open(port), what="old listener")
        new = Proc(["-db", "-f", cfg, "-sf", str(old.p.pid)])
        assert old.wait(5) == 0  # soft-stopped by the new process
        assert new.p.poll() is None
        assert http_get(port)[0] == 200
    finally:
        old.stop()
        if new:
            new.stop()


def test_unix_socket_bind(backend, tmp_path):
    path = str(tmp_path / "fe.sock")
    proc = Proc(["-db", "-f", write_cfg(tmp_path, config(f"unix@{path}", backend.port))])
    try:
        wait_for(lambda: os.path.exists(path), what="unix socket")
        status, body = http_get(0, "/u", unix=path)
        assert status == 200 and body == b"ok /u\n"
    finally:
        proc.stop()


def test_check_mode_and_bind_failure_messages(tmp_path):
    cfg = write_cfg(tmp_path, config("127.0.0.1:1", 9))
    ok = subprocess.run([FULCRUM, "-c", "-f", cfg], capture_output=True, text=True, timeout=10)
    assert ok.returncode == 0 and "Configuration file is valid" in ok.stdout
    # Port 1 needs privileges we may have (root), so use a port already taken instead.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy = write_cfg(tmp_path, config(f"127.0.0.1:{taken.getsockname()[1]}", 9).replace("bind", "bind", 1))
    # SO_REUSEPORT lets a second fulcrum share a port (for -sf), but not a socket without it.
    r = subprocess.run([FULCRUM, "-db", "-f", busy], capture_output=True, text=True, timeout=10)
    taken.close()
    assert r.returncode == 1
    assert "cannot bind socket" in r.stderr and "Exiting" in r.stderr


def test_demo_runs_without_any_other_software():
    if port_open(8080):
        pytest.skip("port 8080 is taken on this machine")
    proc = Proc(["--demo"])
    try:
        wait_for(lambda: port_open(8080), what="demo listener")
        servers = [http_get(8080)[1].decode().strip() for _ in range(6)]
        assert sorted(servers) == ["Hello from demo1"] + ["Hello from demo2"] * 2 + ["Hello from demo3"] * 3
    finally:
        proc.stop()


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_memory_and_sockets_stay_flat_over_many_connections(backend, tmp_path):
    """One request per connection, thousands of times: nothing may pile up (no leaked sessions,
    no idle server connections kept for clients that can never reuse them)."""
    port = free_port()
    proc = Proc(["-db", "-f", write_cfg(tmp_path, config(f"127.0.0.1:{port}", backend.port))])
    try:
        wait_for(lambda: port_open(port), what="listener")
        for _ in range(500):  # warm up allocator pools
            assert http_get(port)[0] == 200
        rss0, fds0 = rss_kib(proc.p.pid), open_fds(proc.p.pid)
        for _ in range(3000):
            assert http_get(port)[0] == 200
        wait_for(lambda: open_fds(proc.p.pid) <= fds0 + 4, timeout=5, what="sockets back to the baseline")
        grown = rss_kib(proc.p.pid) - rss0
        # A leaked session costs about 5 KiB: 3,000 of them would be ~15 MiB.
        assert grown < 4096, f"RSS grew by {grown} KiB over 3,000 connections"
    finally:
        proc.stop()


def test_frontend_maxconn_makes_excess_connections_wait_not_fail(backend, tmp_path, impl):
    """`maxconn 2` on the frontend with 4 concurrent slow requests: two are served at once, the
    others wait in the kernel backlog (not refused, not dropped) and are served afterwards."""
    port = free_port()
    text = config(f"127.0.0.1:{port}", backend.port).replace("    default_backend be", "    maxconn 2\n    default_backend be")
    cfg = write_cfg(tmp_path, text)
    if impl == "haproxy":
        p = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    else:
        p = Proc(["-db", "-f", cfg]).p
    try:
        wait_for(lambda: port_open(port), what="listener")
        time.sleep(0.2)  # let the probe connection above be closed and accounted
        results, started = [None] * 4, time.monotonic()
        def one(i):
            results[i] = (http_get(port, "/slow", timeout=10), time.monotonic() - started)
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert all(r is not None and r[0][0] == 200 for r in results), results
        times = sorted(r[1] for r in results)
        # Two in the first second, two only after a slot freed (the backend takes 1 s each).
        assert times[1] < 1.8 and times[2] >= 1.9, times
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=5)


def test_redispatch_moves_a_request_off_a_dead_server(backend, tmp_path, impl):
    """`retries 1` + `option redispatch`: a request balanced to a server that refuses connections
    is retried on the other server; without redispatch it ends in 503. Same as haproxy."""
    dead = free_port()  # nothing listens there
    port = free_port()
    for redispatch, expected in (("option redispatch", 200), ("", 503)):
        text = f"""
defaults
    mode http
    retries 1
    {redispatch}
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    server dead 127.0.0.1:{dead}
    server live 127.0.0.1:{backend.port}
"""
        cfg = write_cfg(tmp_path, text)
        cmd = ["haproxy", "-db", "-f", cfg] if impl == "haproxy" else [FULCRUM, "-db", "-f", cfg]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: port_open(port), what="listener")
            # Round robin alternates: one of two requests goes to the dead server first.
            statuses = sorted(http_get(port)[0] for _ in range(2))
            assert statuses == sorted([200, expected]), (redispatch, statuses)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=5)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_chroot_user_group_are_applied_after_binding(backend, tmp_path):
    """The distribution-default `chroot` / `user` / `group`: listeners are bound first, then the
    process leaves root and enters the chroot, and still serves."""
    import pwd
    import grp
    jail = tmp_path / "jail"
    jail.mkdir()
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    port = free_port()
    text = config(f"127.0.0.1:{port}", backend.port).replace(
        "global\n", f"global\n    chroot {jail}\n    user nobody\n    group {group}\n")
    proc = Proc(["-db", "-f", write_cfg(tmp_path, text)])
    try:
        wait_for(lambda: port_open(port), what="listener")
        assert http_get(port)[0] == 200
        status = Path(f"/proc/{proc.p.pid}/status").read_text()
        uid_line = next(l for l in status.splitlines() if l.startswith("Uid:"))
        gid_line = next(l for l in status.splitlines() if l.startswith("Gid:"))
        assert uid_line.split()[1:] == [str(nobody.pw_uid)] * 4
        assert gid_line.split()[1] == str(nobody.pw_gid)
        assert os.readlink(f"/proc/{proc.p.pid}/root") == str(jail)
    finally:
        proc.stop()


def test_unknown_user_is_an_alert_at_start(backend, tmp_path):
    port = free_port()
    text = config(f"127.0.0.1:{port}", backend.port).replace("global\n", "global\n    user no-such-user-here\n")
    r = subprocess.run([FULCRUM, "-db", "-f", write_cfg(tmp_path, text)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "cannot find user id for 'no-such-user-here'" in r.stderr


def test_tcp_client_fin_timeout_closes_half_closed_sessions(tmp_path, impl):
    """mode tcp, `timeout client-fin 300ms`: the server sends its answer and shuts its side; the
    proxy passes the FIN on and then waits for the client, which never closes. The session ends
    after ~300 ms (client-fin) instead of `timeout client` (10 s): the proxy's sockets are freed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def serve_once():
        server.settimeout(5)
        try:
            conn, _ = server.accept()
        except OSError:
            return
        accepted.append(conn)
        conn.sendall(b"bye")
        conn.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=serve_once, daemon=True)
    t.start()
    port = free_port()
    text = f"""
global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout client-fin 300ms
listen l
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{server.getsockname()[1]}
"""
    cfg = write_cfg(tmp_path, text)
    cmd = ["haproxy", "-db", "-f", cfg] if impl == "haproxy" else [FULCRUM, "-db", "-f", cfg]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    c = None
    try:
        wait_for(lambda: any(f":{port:04X} " in l and " 0A " in l for l in Path("/proc/net/tcp").read_text().splitlines()),
                 what="listener")
        sockets = lambda: sum(1 for fd in os.listdir(f"/proc/{p.pid}/fd")
                              if os.readlink(f"/proc/{p.pid}/fd/{fd}").startswith("socket:"))
        baseline = sockets()
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        data = b""
        while True:
            chunk = c.recv(10)
            if not chunk:
                break
            data += chunk
        assert data == b"bye"  # answer, then the FIN passed on; the client keeps its side open
        started = time.monotonic()
        wait_for(lambda: sockets() <= baseline, timeout=5, what="the proxy to end the half-closed session")
        elapsed = time.monotonic() - started
        assert elapsed < 3, elapsed
    finally:
        if c:
            c.close()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=5)
        for a in accepted:
            a.close()
        server.close()


def test_sigusr1_closes_idle_keepalive_connections_at_once(backend, tmp_path, impl):
    """Soft stop as HAProxy does it: an idle keep-alive client connection does not hold the old
    process until its timeout; it is closed and the process exits promptly."""
    port = free_port()
    cfg = write_cfg(tmp_path, config(f"127.0.0.1:{port}", backend.port).replace("timeout client 10s", "timeout client 30s"))
    cmd = ["haproxy", "-db", "-f", cfg] if impl == "haproxy" else [FULCRUM, "-db", "-f", cfg]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: port_open(port), what="listener")
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        got = b""
        while b"ok /a\n" not in got:
            got += c.recv(4096)
        started = time.monotonic()
        p.send_signal(signal.SIGUSR1)
        assert p.wait(timeout=5) == 0
        assert time.monotonic() - started < 3
        c.settimeout(2)
        assert c.recv(10) == b""  # the idle connection was closed
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
