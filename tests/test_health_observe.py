"""Live traffic judging servers and server state acting on sessions, haproxy 2.6 and Fulcrum side
by side with the same config and the same failures:

- `observe layer4|layer7` + `error-limit` + `on-error mark-down|fail-check` with
  `option log-health-checks`: every line (per-check results and state changes) must be the
  one haproxy prints, pid and durations masked;
- `on-marked-down shutdown-sessions` cuts the TCP sessions of a server marked DOWN (and without
  it they live on); `on-marked-up shutdown-backup-sessions` cuts the backup's sessions when an
  active server comes back."""

import re
import socket
import threading
import time

import pytest

from test_health import ProxyWithMessages, TCPAcceptor, http_reply
from test_process import free_port, port_open, wait_for, write_cfg


def all_lines(proxy):
    """Every WARNING/ALERT line, pid and check durations masked."""
    out = []
    for _, line in proxy.lines:
        if not (line.startswith("[WARNING]") or line.startswith("[ALERT]")):
            continue
        line = re.sub(r"^\[(\w+)\]\s+\(\d+\) : ", r"\1: ", line)
        line = re.sub(r"check duration: \d+ms", "check duration: Nms", line)
        out.append(line)
    return out


def http_status(port):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ")[1]) if data else 0


def cfg(port, server_line, mode="http", backend_extra=""):
    return f"""
global
    nbthread 1
defaults
    mode {mode}
    timeout connect 500ms
    timeout client 10s
    timeout server 10s
    retries 0
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    option log-health-checks
{backend_extra}
    {server_line}
"""


@pytest.mark.parametrize("on_error", ["mark-down", "fail-check"])
def test_observe_layer4_connection_errors(tmp_path, impl, on_error):
    """Checks go to a port that accepts; traffic goes to a port that refuses."""
    check_port, data_port, port = free_port(), free_port(), free_port()
    checks = TCPAcceptor(check_port)
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg(port,
        f"server s1 127.0.0.1:{data_port} check port {check_port} inter 1s fastinter 300ms rise 2 fall 3 "
        f"observe layer4 error-limit 2 on-error {on_error}")))
    try:
        wait_for(lambda: port_open(port), what="listener")
        proxy.wait_line(r"Health check for server be/s1 succeeded.*3/3 UP", timeout=3)
        assert [http_status(port) for _ in range(2)] == [503, 503]
        analyze = ('WARNING: Health check for server be/s1 failed, reason: Health analyze, info: "Detected 2 consecutive '
                   'errors, last one was: L4 unsuccessful connection", status: ')
        first_up = "WARNING: Health check for server be/s1 succeeded, reason: Layer4 check passed, check duration: Nms, status: 3/3 UP."
        if on_error == "mark-down":
            proxy.wait_line(r"Server be/s1 is UP", timeout=4)
            assert all_lines(proxy) == [
                first_up,
                analyze + "0/2 DOWN.",
                "WARNING: Server be/s1 is DOWN. 0 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue.",
                "ALERT: backend 'be' has no server available!",
                "WARNING: Health check for server be/s1 succeeded, reason: Layer4 check passed, check duration: Nms, status: 1/2 DOWN.",
                first_up,
                "WARNING: Server be/s1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            ], all_lines(proxy)
        else:
            # One failed check's worth: 3/3 -> 2/3, still UP; the next (fastinter) check restores it.
            proxy.wait_line(r"succeeded.*3/3 UP", timeout=3, after=proxy.wait_line(r"Health analyze", timeout=2))
            assert all_lines(proxy) == [first_up, analyze + "2/3 UP.", first_up], all_lines(proxy)
    finally:
        proxy.stop()
        checks.stop()


def test_observe_layer7_wrong_statuses_mark_the_server_down(tmp_path, impl):
    """The server answers traffic with 500 while its check port accepts: 5xx counts at layer 7."""
    check_port, data_port, port = free_port(), free_port(), free_port()
    checks = TCPAcceptor(check_port)
    data = TCPAcceptor(data_port, reply=http_reply(500, "Internal Server Error"))
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg(port,
        f"server s1 127.0.0.1:{data_port} check port {check_port} inter 5s rise 2 fall 3 "
        f"observe layer7 error-limit 3 on-error mark-down")))
    try:
        wait_for(lambda: port_open(port), what="listener")
        proxy.wait_line(r"Health check for server be/s1 succeeded", timeout=3)
        assert [http_status(port) for _ in range(3)] == [500, 500, 500]
        proxy.wait_line(r"Server be/s1 is DOWN", timeout=3)
        assert http_status(port) == 503
        lines = all_lines(proxy)
        assert lines[1] == ('WARNING: Health check for server be/s1 failed, reason: Health analyze, info: "Detected 3 consecutive '
                            'errors, last one was: Wrong http response", status: 0/2 DOWN.'), lines
        assert lines[2].startswith("WARNING: Server be/s1 is DOWN. 0 active and 0 backup servers left."), lines
    finally:
        proxy.stop()
        checks.stop()
        data.stop()


class HoldingServer:
    """Accepts TCP connections and keeps them open (a database session) until stopped."""

    def __init__(self, port, name):
        self.name = name
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(64)
        self.s.settimeout(0.05)
        self.conns = []
        self.running = True
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        deadline = time.monotonic() + 60
        while self.running and time.monotonic() < deadline:
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            c.sendall(self.name.encode() + b"\n")
            self.conns.append(c)

    def stop(self):
        self.running = False
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.s.close()


def open_session(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=3)
    f = c.makefile("rb")
    return c, f.readline().strip().decode()


def closed_within(c, seconds):
    """True when the proxy closes the session within `seconds`."""
    c.settimeout(seconds)
    try:
        return c.recv(100) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("shutdown", [True, False], ids=["shutdown-sessions", "sessions-live-on"])
def test_on_marked_down_shutdown_sessions(tmp_path, impl, shutdown):
    check_port, data_port, port = free_port(), free_port(), free_port()
    checks = TCPAcceptor(check_port)
    db = HoldingServer(data_port, "db1")
    option = " on-marked-down shutdown-sessions" if shutdown else ""
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg(port,
        f"server db1 127.0.0.1:{data_port} check port {check_port} inter 300ms rise 1 fall 1{option}", mode="tcp")))
    c = None
    try:
        wait_for(lambda: port_open(port), what="listener")
        c, name = open_session(port)
        assert name == "db1"
        checks.stop()
        proxy.wait_line(r"Server be/db1 is DOWN", timeout=3)
        assert closed_within(c, 1.5) == shutdown
    finally:
        if c:
            c.close()
        proxy.stop()
        db.stop()


def test_on_marked_up_shutdown_backup_sessions(tmp_path, impl):
    a_check, a_port, b_port, port = free_port(), free_port(), free_port(), free_port()
    a = HoldingServer(a_port, "a")
    b = HoldingServer(b_port, "b")
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg(port,
        f"server a 127.0.0.1:{a_port} check port {a_check} inter 300ms rise 1 fall 1 on-marked-up shutdown-backup-sessions\n"
        f"    server b 127.0.0.1:{b_port} check inter 300ms rise 1 fall 1 backup", mode="tcp")))
    checks = None
    c = None
    try:
        wait_for(lambda: port_open(port), what="listener")
        proxy.wait_line(r"Server be/a is DOWN", timeout=3)  # its check port is closed
        c, name = open_session(port)
        assert name == "b"
        assert not closed_within(c, 0.5)
        checks = TCPAcceptor(a_check)
        proxy.wait_line(r"Server be/a is UP", timeout=3)
        assert closed_within(c, 1.5), "the backup's session must be cut when the active server is back"
        c2, name2 = open_session(port)
        c2.close()
        assert name2 == "a"
    finally:
        if c:
            c.close()
        proxy.stop()
        a.stop()
        b.stop()
        if checks:
            checks.stop()
