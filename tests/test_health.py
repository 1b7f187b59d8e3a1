"""Health checks against real servers on loopback, haproxy 2.6 and Fulcrum side by side: the
same config and the same failures must give the same state changes (messages compared with
durations masked) within the timing HAProxy's rise/fall/inter rules give.

Timing tolerance: a transition must happen after at least (n-1) intervals and at most
n intervals + 1 s from the failure/recovery (n = fall or rise), which absorbs start-up spread and
scheduling on this shared 2-core machine."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from test_process import FULCRUM, free_port, http_get, port_open, stop_process, wait_for, write_cfg


class ProxyWithMessages:
    """A proxy whose stderr lines are collected with their arrival time."""

    def __init__(self, impl, cfg):
        cmd = ["haproxy", "-db", "-f", cfg] if impl == "haproxy" else [FULCRUM, "-db", "-f", cfg]
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def state_lines(self):
        """Server state messages, masked: pid, check duration."""
        out = []
        for _, line in self.lines:
            if " is DOWN" in line or " is UP" in line or "no server available" in line:
                line = re.sub(r"^\[(\w+)\]\s+\(\d+\) : ", r"\1: ", line)
                line = re.sub(r"check duration: \d+ms", "check duration: Nms", line)
                out.append(line)
        return out

    def wait_line(self, pattern, timeout, after=0.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in self.lines:
                if at >= after and re.search(pattern, line):
                    return at
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got {[l for _, l in self.lines]}")

    def stop(self):
        stop_process(self.p)


class TCPAcceptor:
    """Accepts and closes connections (a server that is up for an L4 check) until stopped."""

    def __init__(self, port, reply=None):
        self.port, self.reply = port, reply
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(64)
        self.s.settimeout(0.05)
        self.running = True
        self.accepted = []  # monotonic times of accepted connections (check pacing)
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        deadline = time.monotonic() + 120
        while self.running and time.monotonic() < deadline:
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            self.accepted.append(time.monotonic())
            try:
                if self.reply:
                    c.settimeout(1)
                    try:
                        c.recv(4096)
                    except OSError:
                        pass
                    c.sendall(self.reply())
            except OSError:
                pass
            finally:
                c.close()

    def stop(self):
        self.running = False
        self.t.join(2)
        self.s.close()


def http_reply(status, reason):
    body = f"{status}\n".encode()
    return lambda: f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body


def cfg_text(port, servers, backend_extra="", defaults_extra=""):
    return f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
{defaults_extra}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
{backend_extra}
{servers}
"""


def test_layer4_check_down_then_up_with_haproxys_timing_and_messages(tmp_path, impl):
    inter, rise, fall = 0.3, 2, 3
    sport, port = free_port(), free_port()
    server = TCPAcceptor(sport)
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg_text(
        port, f"    server s1 127.0.0.1:{sport} check inter 300ms rise {rise} fall {fall}")))
    try:
        wait_for(lambda: port_open(port), what="listener")
        time.sleep(inter * (rise + fall))  # fully UP (health at its maximum)
        server.stop()
        down_started = time.monotonic()
        at = proxy.wait_line(r"Server be/s1 is DOWN", timeout=fall * inter + 2)
        assert (fall - 1) * inter <= at - down_started <= fall * inter + 1.0
        proxy.wait_line(r"backend 'be' has no server available!", timeout=1)
        assert http_get(port)[0] == 503
        server = TCPAcceptor(sport)
        up_started = time.monotonic()
        at = proxy.wait_line(r"Server be/s1 is UP", timeout=rise * inter + 2, after=up_started)
        assert (rise - 1) * inter <= at - up_started <= rise * inter + 1.0
        assert proxy.state_lines() == [
            'WARNING: Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: Nms. '
            '0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
            "ALERT: backend 'be' has no server available!",
            "WARNING: Server be/s1 is UP, reason: Layer4 check passed, check duration: Nms. 1 active and 0 backup servers online. "
            "0 sessions requeued, 0 total in queue.",
        ], proxy.state_lines()
    finally:
        proxy.stop()
        server.stop()


def test_http_check_500_marks_down_and_downinter_paces_the_recovery(tmp_path, impl):
    sport, port = free_port(), free_port()
    status = {"code": 200}
    replies = {200: http_reply(200, "OK"), 500: http_reply(500, "Internal Server Error")}
    server = TCPAcceptor(sport, reply=lambda: replies[status["code"]]())
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg_text(
        port, f"    server s1 127.0.0.1:{sport} check inter 200ms downinter 1s rise 2 fall 2",
        backend_extra="    option httpchk GET /health")))
    try:
        wait_for(lambda: port_open(port), what="listener")
        time.sleep(1.0)
        status["code"] = 500
        failing = time.monotonic()
        down_at = proxy.wait_line(r"Server be/s1 is DOWN", timeout=3)
        # fall 2 x inter 200ms (the first failure may come up to one inter after the switch).
        assert 0.2 <= down_at - failing <= 0.4 + 1.0, down_at - failing
        # Fully DOWN: checks are paced by downinter (1 s), not inter (200 ms).
        wait_for(lambda: len([t for t in server.accepted if t > down_at]) >= 3, timeout=4, what="3 checks while DOWN")
        while_down = [t for t in server.accepted if t > down_at][:3]
        gaps = [b - a for a, b in zip(while_down, while_down[1:])]
        assert all(0.8 <= g <= 1.4 for g in gaps), gaps
        status["code"] = 200
        started = time.monotonic()
        at = proxy.wait_line(r"Server be/s1 is UP", timeout=5, after=started)
        # rise 2: the next check within downinter (1 s), the second after fastinter (= inter, 200 ms).
        assert 0.2 <= at - started <= 1.2 + 1.0, at - started
        lines = proxy.state_lines()
        assert lines[0] == ('WARNING: Server be/s1 is DOWN, reason: Layer7 wrong status, code: 500, info: "Internal Server Error", '
                            'check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, '
                            '0 remaining in queue.'), lines
        assert lines[-1].startswith("WARNING: Server be/s1 is UP, reason: Layer7 check passed, code: 200"), lines
    finally:
        proxy.stop()
        server.stop()


def test_check_timeout_on_a_server_that_never_answers(tmp_path, impl):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts (in the kernel) and never answers
    port = free_port()
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg_text(
        port, f"    server s1 127.0.0.1:{silent.getsockname()[1]} check inter 300ms fall 1 rise 1",
        backend_extra="    option httpchk GET /\n    timeout check 200ms")))
    try:
        wait_for(lambda: port_open(port), what="listener")
        proxy.wait_line(r"Server be/s1 is DOWN", timeout=3)
        assert proxy.state_lines()[0].startswith("WARNING: Server be/s1 is DOWN, reason: Layer7 timeout, check duration: Nms."), proxy.state_lines()
    finally:
        proxy.stop()
        silent.close()


def test_backup_takes_over_only_when_actives_are_down_and_hands_back(tmp_path, impl):
    a_port, b_port, port = free_port(), free_port(), free_port()
    active = TCPAcceptor(a_port, reply=http_reply(200, "OK"))
    backup = TCPAcceptor(b_port, reply=lambda: b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nbackup\n")
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg_text(port,
        f"    server a 127.0.0.1:{a_port} check inter 200ms rise 2 fall 2\n"
        f"    server b 127.0.0.1:{b_port} check inter 200ms rise 2 fall 2 backup")))
    try:
        wait_for(lambda: port_open(port), what="listener")
        assert {http_get(port)[1] for _ in range(4)} == {b"200\n"}  # only the active one
        active.stop()
        proxy.wait_line(r"Server be/a is DOWN", timeout=3)
        assert {http_get(port)[1] for _ in range(4)} == {b"backup\n"}
        active = TCPAcceptor(a_port, reply=http_reply(200, "OK"))
        proxy.wait_line(r"Server be/a is UP", timeout=3)
        assert {http_get(port)[1] for _ in range(4)} == {b"200\n"}
        assert "Running on backup." in proxy.state_lines()[0], proxy.state_lines()
    finally:
        proxy.stop()
        active.stop()
        backup.stop()


@pytest.fixture
def redis_server(tmp_path):
    exe = shutil.which("redis-server")
    if not exe:
        pytest.fail("redis-server is required (apt-get install redis-server)")
    port = free_port()
    procs = []

    def start():
        p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_for(lambda: port_open(port), what="redis-server")
        return p

    def stop(p):
        p.terminate()
        p.wait(timeout=5)

    yield port, start, stop
    for p in procs:
        if p.poll() is None:
            stop(p)


@pytest.mark.parametrize("check", ["tcp-check", "redis-check"])
def test_redis_checks_follow_a_real_redis_server(tmp_path, impl, redis_server, check):
    rport, start, stop = redis_server
    redis = start()
    port = free_port()
    if check == "tcp-check":
        extra = "    mode tcp\n    option tcp-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG"
    else:
        extra = "    mode tcp\n    option redis-check"
    text = cfg_text(port, f"    server r1 127.0.0.1:{rport} check inter 200ms rise 2 fall 2", backend_extra=extra)
    text = text.replace("frontend fe\n", "frontend fe\n    mode tcp\n")
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, text))
    try:
        wait_for(lambda: port_open(port), what="listener")
        time.sleep(1.0)
        assert proxy.state_lines() == [], proxy.state_lines()  # PONG: stays UP
        stop(redis)
        proxy.wait_line(r"Server be/r1 is DOWN", timeout=3)
        started = time.monotonic()
        start()
        proxy.wait_line(r"Server be/r1 is UP", timeout=3, after=started)
        down, up = proxy.state_lines()[0], proxy.state_lines()[-1]
        assert "reason: Layer4 connection problem" in down and 'info: "Connection refused' in down, down
        assert "reason: Layer7 check passed" in up, up
    finally:
        proxy.stop()


class KillableHTTPServer:
    """A keep-alive HTTP/1.1 server that can be killed abruptly: listener and every open
    connection closed with RST, like a crashed process."""

    def __init__(self, port, name):
        self.port, self.name = port, name
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(128)
        self.s.settimeout(0.05)
        self.conns, self.alive = [], True
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.alive:
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        body = self.name.encode()
        try:
            c.settimeout(10)
            while self.alive:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                _, _, buf = buf.partition(b"\r\n\r\n")
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass

    def kill(self):
        self.alive = False
        self.s.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    c.close()
                except OSError:
                    pass


def run_load(port, seconds, threads=4, on_second=None):
    """Keep-alive GET load; returns (ok, failed, elapsed). A failure is an error or a non-200."""
    import http.client
    stop_at = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=8)
        while time.monotonic() < stop_at:
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                good = r.status == 200
            except Exception:
                good = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=8)
            with lock:
                counts["ok" if good else "failed"] += 1
        conn.close()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    if on_second:
        time.sleep(seconds / 3)
        on_second()
    for w in workers:
        w.join(seconds + 15)
    return counts["ok"], counts["failed"], time.monotonic() - started


@pytest.mark.parametrize("retry", ["none", "retry-on"])
def test_killing_a_server_under_load(tmp_path, impl, retry):
    """≥ 200 req/s of keep-alive GETs over two servers; one is killed a third of the way in.
    Without L7 retries the failures are bounded by the detection window (checks: inter 200ms,
    fall 2); with `retries 3` + `option redispatch` + `retry-on all-retryable-errors`, none."""
    p1, p2, port = free_port(), free_port(), free_port()
    s1, s2 = KillableHTTPServer(p1, "s1"), KillableHTTPServer(p2, "s2")
    extra = "    retries 3\n    option redispatch\n    retry-on all-retryable-errors" if retry == "retry-on" else "    retries 3"
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg_text(port,
        f"    server s1 127.0.0.1:{p1} check inter 200ms fall 2 rise 2\n"
        f"    server s2 127.0.0.1:{p2} check inter 200ms fall 2 rise 2", backend_extra=extra)))
    try:
        wait_for(lambda: port_open(port), what="listener")
        time.sleep(0.5)
        ok, failed, elapsed = run_load(port, 6.0, on_second=s1.kill)
        rate = (ok + failed) / elapsed
        print(f"\n{impl} {retry}: {ok} ok, {failed} failed, {rate:.0f} req/s")
        assert rate >= 200, rate
        proxy.wait_line(r"Server be/s1 is DOWN", timeout=1)
        if retry == "retry-on":
            assert failed == 0, f"{failed} GETs failed despite retry-on"
        else:
            # Only requests caught by the kill and before the check noticed can fail.
            assert failed <= 0.02 * (ok + failed) + 50, (ok, failed)
    finally:
        proxy.stop()
        s1.kill()
        s2.kill()


def test_slowstart_ramps_the_recovered_servers_share(tmp_path, impl):
    """`slowstart 10s`: after s2 comes back UP its share of the traffic grows over the 10 s
    (measured in 1-second buckets) from a small fraction to about half (two equal servers)."""
    import http.client
    p1, p2, port = free_port(), free_port(), free_port()
    s1 = KillableHTTPServer(p1, "s1")
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, cfg_text(port,
        f"    server s1 127.0.0.1:{p1} check inter 100ms fall 1 rise 1\n"
        f"    server s2 127.0.0.1:{p2} check inter 100ms fall 1 rise 1 slowstart 10s")))
    s2 = None
    try:
        wait_for(lambda: port_open(port), what="listener")
        proxy.wait_line(r"Server be/s2 is DOWN", timeout=3)
        s2 = KillableHTTPServer(p2, "s2")
        up_at = proxy.wait_line(r"Server be/s2 is UP", timeout=3)
        served = []
        lock = threading.Lock()
        stop_at = up_at + 10.5

        errors = []

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                while time.monotonic() < stop_at:
                    conn.request("GET", "/")
                    body = conn.getresponse().read()
                    with lock:
                        served.append((time.monotonic() - up_at, body))
            except Exception as e:  # asserted below: no request may fail
                errors.append(repr(e))
            finally:
                conn.close()

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(15)
        shares = []
        for second in range(10):
            bucket = [b for t, b in served if second <= t < second + 1]
            shares.append(sum(1 for b in bucket if b == b"s2") / max(1, len(bucket)))
        print(f"\n{impl} s2 share per second after UP: {[round(x, 2) for x in shares]}")
        assert errors == [], errors
        # HAProxy's ramp: weight x elapsed/period, so s2's share is r/(1+r) with r the ratio.
        assert shares[0] < 0.15, shares
        assert shares[0] < shares[3] < shares[6] < shares[9] + 0.05, shares
        assert 0.25 <= shares[4] <= 0.4, shares
        assert 0.42 <= shares[9] <= 0.58, shares
    finally:
        proxy.stop()
        s1.kill()
        if s2:
            s2.kill()
