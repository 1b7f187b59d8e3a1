"""HTTP/2 end to end: the seeds' gRPC TTS service (`bind ... proto h2`, `server ... proto h2`) with
real grpcio servers and a real grpcio client, curl --http2-prior-knowledge and h2load against
nghttpd, each run through haproxy 2.6 and through Fulcrum; log lines compared between the two."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from harness import REPO, SEEDS, Proxy, free_port, wait_for
from test_logging import SyslogReceiver, split_header, timers

SEED = SEEDS / "tts-grpc-syslog.cfg"
SEED_STDOUT = SEEDS / "tts-grpc.cfg"
# The seed as shipped (used when ../shared is not beside the repository).
SEED_TEXT = """# Same service, logging to a local rsyslog over UDP (facility local0).
global
    log 127.0.0.1:514  local0
    maxconn     50000

defaults
    log                     global
    maxconn                 3000
    mode                    http
    option                  httplog
    option                  logasap
    timeout connect         10s
    timeout client          30s
    timeout server          30s

frontend tts_front
  bind *:50050 proto h2
  default_backend tts_servers

backend tts_servers
  balance roundrobin
  server tts1 10.122.64.166:50051 check proto h2 maxconn 100
  server tts2 10.122.64.191:50051 check proto h2 maxconn 100
"""
SERVICE = "/maum.brain.tts.NgTtsService/"
HERE = Path(__file__).resolve().parent


def seed_config(port, p1, p2, syslog_port, extra_backend=""):
    """The seed with its addresses rewritten to loopback. `maxconn 50000` becomes 5000: haproxy
    wants twice that in file descriptors and stops when the hard limit (20000 here) is lower."""
    text = SEED.read_text() if SEED.exists() else SEED_TEXT
    # The syslog address first: a server port rewritten later may start with 514.
    text = text.replace("log 127.0.0.1:514 ", f"log 127.0.0.1:{syslog_port} ")
    text = text.replace("bind *:50050", f"bind 127.0.0.1:{port}")
    text = text.replace("10.122.64.166:50051", f"127.0.0.1:{p1}").replace("10.122.64.191:50051", f"127.0.0.1:{p2}")
    text = text.replace("maxconn     50000", "maxconn     5000")
    assert f"127.0.0.1:{p1} " in text and f"bind 127.0.0.1:{port}" in text and f"log 127.0.0.1:{syslog_port} " in text
    return text + extra_backend


class TTSServer:
    """grpc_tts.py in its own process (so it can be SIGKILLed); exits by itself after 120 s."""

    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "grpc_tts.py"), name, str(self.port), "120"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # "ready" (or EOF if it died)
        assert line.strip() == "ready", f"grpc server {name} did not start"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def slow_calls(self):
        """(calls of Slow seen cancelled, calls of Slow running now), asked directly."""
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as ch:
            c, a = ch.unary_unary(SERVICE + "Cancelled")(b"", timeout=5).split(b",")
            return int(c), int(a)


@pytest.fixture
def tts(tmp_path):
    servers = [TTSServer("tts1"), TTSServer("tts2")]
    yield servers
    for s in servers:
        s.kill()


@pytest.fixture
def syslog():
    rx = SyslogReceiver()
    yield rx
    rx.close()


def start_proxy(impl, tmp_path, tts, syslog_port, extra_backend=""):
    port = free_port()
    cfg = seed_config(port, tts[0].port, tts[1].port, syslog_port, extra_backend)
    return Proxy(impl, cfg, tmp_path, port, name="tts")


def unary(ch, method, payload, timeout=5):
    return ch.unary_unary(SERVICE + method)(payload, timeout=timeout)


def test_grpc_calls_alternate_per_call_stream_and_carry_errors(impl, tmp_path, tts, syslog):
    proxy = start_proxy(impl, tmp_path, tts, syslog.port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as ch:
            # One client connection, requests balanced one by one.
            names = [unary(ch, "Echo", b"hi%d" % i).split(b":")[0].decode() for i in range(6)]
            assert names == ["tts1", "tts2"] * 3

            # Server streaming: 20 chunks of 64 KiB (1.25 MiB) from the next server in turn.
            chunks = list(ch.unary_stream(SERVICE + "SpeakWav")(b"20", timeout=10))
            assert len(chunks) == 20 and sum(map(len, chunks)) == 20 * 65536
            assert {c.split(b":")[0] for c in chunks} == {b"tts1"}
            assert all(c.endswith(bytes([65 + i % 26]) * 100) for i, c in enumerate(chunks))

            # gRPC status in trailers reaches the client unchanged.
            with pytest.raises(grpc.RpcError) as e:
                unary(ch, "Fail", b"way")
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED and e.value.details() == "denied way"

            # Deadline exceeded (grpc-timeout goes through to the server, which stops the call).
            with pytest.raises(grpc.RpcError) as e:
                unary(ch, "Slow", b"3", timeout=0.3)
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            cancelled = lambda: sum(s.slow_calls()[0] for s in tts)
            running = lambda: sum(s.slow_calls()[1] for s in tts)
            wait_for(lambda: cancelled() == 1 and running() == 0, 5, what="the expired call ended at the server")

            # Cancellation: the client resets its stream; the server sees its call cancelled.
            fut = ch.unary_unary(SERVICE + "Slow").future(b"5", timeout=10)
            wait_for(lambda: running() == 1, 5, what="the call running at a server")
            assert fut.cancel()
            wait_for(lambda: cancelled() == 2 and running() == 0, 5, what="the server saw the cancel")

            # The connection is still good afterwards.
            assert unary(ch, "Echo", b"after").endswith(b":after")
    finally:
        proxy.stop()
    assert proxy.proc.returncode in (0, -15, 143), proxy.stderr()


def normalize_grpc(msg):
    f = msg.rstrip("\n").split(" ")
    f[0] = re.sub(r":\d+$", ":P", f[0])
    f[1] = "[DATE]"
    f[4] = timers(f[4])
    f[-2] = re.sub(r"//127\.0\.0\.1:\d+/", "//ADDR/", f[-2])
    return " ".join(f)


def run_log_scenario(impl, tmp_path, tts, syslog):
    proxy = start_proxy(impl, tmp_path, tts, syslog.port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as ch:
            for i in range(4):
                unary(ch, "Echo", b"x%d" % i)
            with pytest.raises(grpc.RpcError):
                unary(ch, "Fail", b"log")
            assert len(list(ch.unary_stream(SERVICE + "SpeakWav")(b"1", timeout=10))) == 1
        lines = syslog.collect(6, timeout=5)
    finally:
        proxy.stop()
    return [(p, t, normalize_grpc(m)) for p, t, m in map(split_header, lines)]


def test_grpc_log_lines_match_haproxy(tmp_path, tts, syslog, request):
    from conftest import selected_impls
    impls = selected_impls(request.config)
    out = {}
    for impl in impls:
        syslog.lines.clear()
        out[impl] = run_log_scenario(impl, tmp_path, tts, syslog)
        assert len(out[impl]) == 6, out[impl]
        for pri, tag, msg in out[impl]:
            assert (pri, tag) == (134, "haproxy")
            assert msg.endswith(' HTTP/2.0"'), msg
            assert " ---- " in msg and "/+N 200 +" in msg, msg  # logasap: + on Ta and bytes
    if len(out) == 2:
        # The stream's byte count at logasap time depends on how much was read: mask it there.
        mask = lambda m: re.sub(r" \+\d+ (- - ---- .*SpeakWav)", r" +B \1", m)
        h = [(p, t, mask(m)) for p, t, m in out["haproxy"]]
        f = [(p, t, mask(m)) for p, t, m in out["fulcrum"]]
        assert f == h, f"\nhaproxy: {h}\nfulcrum: {f}"


def test_killing_a_server_mid_stream_ends_only_that_stream(impl, tmp_path, tts, syslog):
    proxy = start_proxy(impl, tmp_path, tts, syslog.port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as ch:
            speak = ch.unary_stream(SERVICE + "SpeakWav")
            streams = [speak(b"40,0.05", timeout=20) for _ in range(2)]
            by_server = {next(st).split(b":")[0]: st for st in streams}
            assert set(by_server) == {b"tts1", b"tts2"}  # round robin, one stream each
            tts[0].kill()
            with pytest.raises(grpc.RpcError) as e:
                for _ in by_server[b"tts1"]:
                    pass
            assert e.value.code() != grpc.StatusCode.OK
            rest = list(by_server[b"tts2"])
            assert len(rest) == 39 and all(c.startswith(b"tts2:") for c in rest)

            # Once the check marks tts1 DOWN (inter 2s, fall 3), every call goes to tts2.
            def all_to_tts2():
                try:
                    return all(unary(ch, "Echo", b"p").startswith(b"tts2:") for _ in range(4))
                except grpc.RpcError:
                    return False
            wait_for(all_to_tts2, 15, interval=0.2, what="calls served by tts2 only")
    finally:
        proxy.stop()


@pytest.fixture
def nghttpd(tmp_path):
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "index.html").write_bytes(b"<h1>h2 origin</h1>\n" * 100)
    (docroot / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    port = free_port()
    p = subprocess.Popen(["timeout", "120", "nghttpd", "--no-tls", "-d", str(docroot), "-a", "127.0.0.1", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from harness import is_listening
    wait_for(lambda: is_listening(port), 5, what="nghttpd listening")
    yield port, docroot
    p.terminate()  # `timeout` passes SIGTERM on to nghttpd
    p.wait(5)


def h2_config(port, server_port):
    return f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port} proto h2
    default_backend be
backend be
    server s1 127.0.0.1:{server_port} proto h2
"""


def test_curl_http2_prior_knowledge_to_an_h2_server(impl, tmp_path, nghttpd):
    sport, docroot = nghttpd
    port = free_port()
    proxy = Proxy(impl, h2_config(port, sport), tmp_path, port, name="h2curl")
    try:
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", str(tmp_path / "big.out"),
                              "-w", "%{http_version} %{http_code}", f"http://127.0.0.1:{port}/big.bin"],
                             capture_output=True, text=True, timeout=20)
        assert out.stdout == "2 200", out.stderr
        assert (tmp_path / "big.out").read_bytes() == (docroot / "big.bin").read_bytes()
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "%{http_code}",
                              f"http://127.0.0.1:{port}/missing"], capture_output=True, text=True, timeout=20)
        assert out.stdout.endswith("404"), out.stdout
    finally:
        proxy.stop()


def test_h2load_many_streams_on_few_connections(impl, tmp_path, nghttpd):
    sport, _ = nghttpd
    port = free_port()
    proxy = Proxy(impl, h2_config(port, sport), tmp_path, port, name="h2load")
    try:
        out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "16", f"http://127.0.0.1:{port}/index.html"],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out.stdout)
        assert m, out.stdout + out.stderr
        assert m.groups() == ("2000", "2000", "2000", "0"), out.stdout
        assert re.search(r"status codes: 2000 2xx", out.stdout), out.stdout
    finally:
        proxy.stop()


def test_503_over_h2_when_no_server_answers(impl, tmp_path):
    port, dead = free_port(), free_port()
    proxy = Proxy(impl, h2_config(port, dead), tmp_path, port, name="h2dead")
    try:
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", f"http://127.0.0.1:{port}/x"],
                             capture_output=True, timeout=30)
    finally:
        proxy.stop()
    head, _, body = out.stdout.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/2 503 "
    assert sorted(lines[1:]) == ["cache-control: no-cache", "content-length: 107", "content-type: text/html"]
    assert body == "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"


def h2_to_h1_config(port, server_port):
    return h2_config(port, server_port).replace(" proto h2\n", "\n").replace(
        f"bind 127.0.0.1:{port}\n", f"bind 127.0.0.1:{port} proto h2\n")


def curl_h2(port, path, *args):
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", *args, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, timeout=30)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return lines[0], sorted(l.lower() for l in lines[1:] if not l.lower().startswith("date:")), body


def test_h2_clients_reach_http1_servers_as_haproxy_sends_them(env, tmp_path):
    """The same h2 requests through each implementation to an HTTP/1.1 server: the request the
    server reads and the response the client gets are compared."""
    from harness import Backend, http_handler, make_response
    from conftest import selected_impls
    big = os.urandom(200_000)

    def respond(req, conn, srv):
        if req.target == "/chunked":
            return make_response(200, b"x" * 5000, {"Content-Type": "text/plain"}, chunked=True)
        if req.target == "/big":
            return make_response(200, big, {"Content-Type": "application/octet-stream"})
        return make_response(201, b"got " + str(len(req.body)).encode(), {"Content-Type": "text/plain", "X-Srv": "h1"})

    results = {}
    for impl in ("haproxy", "fulcrum"):
        backend = env.backend(http_handler(respond), name=f"h1-{impl}")
        port = free_port()
        rx = SyslogReceiver()
        cfg = h2_to_h1_config(port, backend.port).replace("global\n", f"global\n    log 127.0.0.1:{rx.port} local0\n")
        cfg = cfg.replace("defaults\n", "defaults\n    log global\n    option httplog\n")
        proxy = Proxy(impl, cfg, tmp_path, port, name=f"h2h1-{impl}")
        try:
            r = [curl_h2(port, "/a?q=1", "-H", "X-Test: one"),
                 curl_h2(port, "/post", "--data-binary", "hello world", "-H", "Content-Type: text/plain"),
                 curl_h2(port, "/chunked"),
                 curl_h2(port, "/big")]
            logs = [normalize_grpc(split_header(l)[2]) for l in rx.collect(4)]
        finally:
            proxy.stop()
            rx.close()
        seen = [(q.method, q.target, q.version,
                 sorted((k.lower(), v.replace(f":{port}", ":PORT")) for k, v in q.headers), q.body) for q in backend.requests]
        results[impl] = (r, seen, logs)
    hr, hs, hl = results["haproxy"]
    fr, fs, fl = results["fulcrum"]
    # The log lines too (haproxy's %B counts the HTTP/1 head it parsed: reason, chunked's end).
    assert len(fl) == 4 and fl == hl, f"\nhaproxy: {hl}\nfulcrum: {fl}"
    assert fr[3][2] == big and fr[2][2] == b"x" * 5000
    assert fr[1][0] == "HTTP/2 201 " and fr[1][2] == b"got 11"
    assert fs == hs, f"\nhaproxy server saw: {hs}\nfulcrum server saw: {fs}"
    assert fr == hr, f"\nhaproxy: {[x[:2] for x in hr]}\nfulcrum: {[x[:2] for x in fr]}"


@pytest.fixture
def nginx_h2c(tmp_path):
    """nginx with an h2c (prior knowledge) listener that ends each connection after 50 requests
    with a GOAWAY: the streams it received beyond that are not processed."""
    d = tmp_path / "nginx"
    d.mkdir()
    port = free_port()
    conf = d / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/cb; proxy_temp_path {d}/pt; fastcgi_temp_path {d}/ft;
    uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;
    keepalive_requests 50;
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{ default_type text/plain; return 200 "ok"; }}
    }}
}}
""")
    p = subprocess.Popen(["timeout", "120", "nginx", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from harness import is_listening
    wait_for(lambda: is_listening(port), 5, what="nginx listening")
    yield port
    p.terminate()
    p.wait(5)


def test_streams_a_server_refused_with_goaway_are_sent_again(impl, tmp_path, nginx_h2c):
    """nginx closes its h2 connections every 50 requests (GOAWAY); streams above the GOAWAY's last
    stream ID were not processed. Fulcrum sends them again on a new connection: no client sees an
    error. (haproxy 2.6 resets some of those client streams; it is held to its own count only.
    `pytest tests/test_h2.py -k goaway -s` prints both counts.)"""
    port = free_port()
    proxy = Proxy(impl, h2_config(port, nginx_h2c), tmp_path, port, name="goaway")
    try:
        out = subprocess.run(["h2load", "-n", "3000", "-c", "4", "-m", "16", f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, timeout=60)
    finally:
        proxy.stop()
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out.stdout)
    assert m, out.stdout + out.stderr
    total, done, ok, failed = map(int, m.groups())
    print(f"\n{impl}: {failed} of {total} requests failed while nginx sent GOAWAY every 50 requests")
    assert total == done == 3000 and ok + failed == 3000
    if impl == "fulcrum":
        assert failed == 0, out.stdout
        assert re.search(r"status codes: 3000 2xx", out.stdout), out.stdout


def test_soft_stop_lets_streams_in_flight_finish(impl, tmp_path, tts, syslog):
    """SIGUSR1 (soft stop): the listener closes, h2 clients get a GOAWAY, a stream in flight runs
    to its end, then the process exits by itself."""
    proxy = start_proxy(impl, tmp_path, tts, syslog.port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as ch:
            stream = ch.unary_stream(SERVICE + "SpeakWav")(b"12,0.1", timeout=20)
            first = next(stream)
            proxy.proc.send_signal(signal.SIGUSR1)
            rest = list(stream)
            assert len(rest) == 11 and all(c[:5] == first[:5] for c in rest)
        wait_for(lambda: proxy.proc.poll() is not None, 10, what="the proxy to exit after its last stream")
        assert proxy.proc.returncode == 0, proxy.stderr()
    finally:
        proxy.stop()


def curl_h1(port, path, *args, out=None):
    cmd = ["curl", "-sS", "--http1.1", "-D", "-", *args, f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return lines[0], sorted(l.lower() for l in lines[1:] if not l.lower().startswith("date:")), body


def test_http1_clients_reach_h2_servers(tmp_path, nghttpd, request):
    """HTTP/1.1 clients (curl --http1.1, keep-alive) through a plain `bind` to a `server ... proto
    h2` (nghttpd): status, headers and bodies as haproxy gives them."""
    from conftest import selected_impls
    sport, docroot = nghttpd
    results = {}
    for impl in selected_impls(request.config):
        port = free_port()
        cfg = h2_config(port, sport).replace(f"bind 127.0.0.1:{port} proto h2", f"bind 127.0.0.1:{port}")
        proxy = Proxy(impl, cfg, tmp_path, port, name=f"h1h2-{impl}")
        try:
            results[impl] = [curl_h1(port, "/index.html"), curl_h1(port, "/big.bin"), curl_h1(port, "/missing"),
                             curl_h1(port, "/index.html", "-H", "X-Extra: 1", "-H", "Connection: close")]
            # several requests on one keep-alive connection
            two = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}%{num_connects} ",
                                  f"http://127.0.0.1:{port}/index.html", f"http://127.0.0.1:{port}/index.html"],
                                 capture_output=True, text=True, timeout=30)
            assert two.stdout.split() == ["2001", "2000"], two.stdout + two.stderr
        finally:
            proxy.stop()
    r = results.get("fulcrum") or results["haproxy"]
    assert r[0][0] == "HTTP/1.1 200 OK" or r[0][0].startswith("HTTP/1.1 200"), r[0][0]
    assert r[0][2] == (docroot / "index.html").read_bytes() and r[1][2] == (docroot / "big.bin").read_bytes()
    assert r[2][0].startswith("HTTP/1.1 404")
    if len(results) == 2:
        strip = lambda rs: [(a, [h for h in hs if not h.startswith(("server:", "last-modified:", "etag:"))], b) for a, hs, b in rs]
        assert strip(results["fulcrum"]) == strip(results["haproxy"]), \
            f"\nhaproxy: {[x[:2] for x in results['haproxy']]}\nfulcrum: {[x[:2] for x in results['fulcrum']]}"


@pytest.mark.fulcrum_only
def test_the_stdout_seed_as_shipped(tmp_path, tts):
    """`tts-grpc.cfg` exactly as shipped but for its addresses (haproxy 2.6 refuses it for
    `option http-use-htx`; Fulcrum loads it with a warning): calls alternate, streams come back,
    and the log lines go to stdout."""
    if not SEED_STDOUT.exists():
        pytest.fail(f"seed {SEED_STDOUT} not found beside the repository")
    port = free_port()
    text = SEED_STDOUT.read_text().replace("bind *:50050", f"bind 127.0.0.1:{port}")
    text = text.replace("10.122.64.166:50051", f"127.0.0.1:{tts[0].port}").replace("10.122.64.191:50051", f"127.0.0.1:{tts[1].port}")
    proxy = Proxy("fulcrum", text, tmp_path, port, name="tts-stdout")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            names = [unary(ch, "Echo", b"s%d" % i).split(b":")[0] for i in range(4)]
            assert names == [b"tts1", b"tts2"] * 2
            assert len(list(ch.unary_stream(SERVICE + "SpeakWav")(b"3", timeout=10))) == 3
        wait_for(lambda: proxy.stderr().count(' HTTP/2.0"') >= 5, 5, what="five log lines on stdout")
        out = proxy.stderr()
    finally:
        proxy.stop()
    assert "http-use-htx" in out and "obsolete" in out  # the warning
    lines = [l for l in out.splitlines() if ' HTTP/2.0"' in l]
    assert all(" tts_front tts_servers/tts" in l and "/+" in l for l in lines), lines


def test_a_client_that_does_not_read_holds_back_the_server_not_the_proxys_memory(impl, tmp_path, nghttpd):
    """Flow control end to end: an h2 client that stops granting window gets about one window of
    a 48 MiB response and the proxy does not buffer the rest (its RSS stays far below the file);
    another client is served meanwhile; once the window opens, the whole file arrives intact."""
    import hashlib
    import socket
    import h2.config
    import h2.connection
    import h2.events

    sport, docroot = nghttpd
    data = os.urandom(48 * 1024 * 1024)
    (docroot / "huge.bin").write_bytes(data)
    port = free_port()
    proxy = Proxy(impl, h2_config(port, sport), tmp_path, port, name="h2flow")

    def rss_kib():
        for line in open(f"/proc/{proxy.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    try:
        base_rss = rss_kib()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":path", "/huge.bin"), (":scheme", "http"),
                              (":authority", "test")], end_stream=True)
        s.sendall(conn.data_to_send())
        received = bytearray()
        ended = False

        def pump(until):
            nonlocal ended
            s.settimeout(0.2)
            while time.monotonic() < until and not ended:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    return "quiet"
                if not chunk:
                    return "closed"
                for ev in conn.receive_data(chunk):
                    if isinstance(ev, h2.events.DataReceived):
                        received.extend(ev.data)
                        window.append(ev.flow_controlled_length)
                    elif isinstance(ev, h2.events.StreamEnded):
                        ended = True
                s.sendall(conn.data_to_send())  # SETTINGS/PING acks only: no WINDOW_UPDATE yet
            return "deadline"

        window = []
        assert pump(time.monotonic() + 5) == "quiet"
        held = len(received)
        assert 0 < held <= 128 * 1024, held  # one stream window (64 KiB), not the file
        # The proxy keeps serving others, and it holds the rest back at the server, not in memory.
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                              f"http://127.0.0.1:{port}/index.html"], capture_output=True, text=True, timeout=20)
        assert out.stdout == "200", out.stderr
        grown = rss_kib() - base_rss
        assert grown < 24 * 1024, f"the proxy grew by {grown} KiB while the client did not read"
        # Open the windows wide: the rest arrives, byte for byte.
        conn.increment_flow_control_window(64 * 1024 * 1024, stream_id=1)
        conn.increment_flow_control_window(64 * 1024 * 1024)
        s.sendall(conn.data_to_send())
        deadline = time.monotonic() + 30
        while not ended and time.monotonic() < deadline:
            if pump(min(deadline, time.monotonic() + 1)) == "closed":
                break
        assert ended, len(received)
        assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
        s.close()
    finally:
        proxy.stop()
