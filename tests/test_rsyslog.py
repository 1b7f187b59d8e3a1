"""A real rsyslog (Debian's rsyslogd) receives the proxy's logs over UDP as in the seed
`tts-grpc-syslog.cfg` (`log 127.0.0.1:514 local0`, on a free port here) and files them by priority:
`local0.*` in one file, `local0.notice` in another. The access line (info) must land only in the
first, the server state changes (alert/notice) in both."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import free_port, http_handler, make_response
from test_health import TCPAcceptor
from test_process import wait_for


def free_udp_port():
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_port_taken(port):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


@pytest.fixture
def rsyslog(tmp_path):
    exe = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not os.path.exists(exe):
        pytest.fail("rsyslogd is required (apt-get install rsyslog)")
    port = free_udp_port()
    work = tmp_path / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}")
local0.*        {work}/local0-all.log
local0.notice   {work}/local0-notice.log
""")
    proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # rsyslog is ready once its UDP input is bound.
    wait_for(lambda: udp_port_taken(port), timeout=10, what="rsyslogd UDP input")
    try:
        yield port, work / "local0-all.log", work / "local0-notice.log"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def read(path):
    return path.read_text(errors="replace") if path.exists() else ""


def test_lines_land_in_the_files_rsyslog_routes_them_to(env, impl, rsyslog):
    udp, all_log, notice_log = rsyslog
    check_port = free_port()
    checks = TCPAcceptor(check_port)
    b = env.backend(http_handler(lambda req, conn, srv: make_response(200, b"ok\n")))
    port = free_port()
    env.proxy(impl, f"""
global
    nbthread 1
    log 127.0.0.1:{udp} local0
defaults
    mode http
    log global
    option httplog
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{b.port} check port {check_port} inter 200ms rise 1 fall 1
""", port, name=f"p-{impl}")
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /rsyslog-probe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        while s.recv(4096):
            pass
    wait_for(lambda: "/rsyslog-probe" in read(all_log), timeout=5, what="access line in local0-all.log")
    checks.stop()
    wait_for(lambda: "Server be/s1 is DOWN" in read(notice_log), timeout=5, what="DOWN line in local0-notice.log")
    all_text, notice_text = read(all_log), read(notice_log)
    access = [l for l in all_text.splitlines() if "/rsyslog-probe" in l]
    assert len(access) == 1 and "haproxy[" in access[0] and "fe be/s1" in access[0] and ' 200 ' in access[0], access
    assert "/rsyslog-probe" not in notice_text, "info lines must not reach local0.notice"
    assert "Server be/s1 is DOWN" in all_text
    assert "has no server available!" in notice_text
