"""Test harness for Fulcrum's differential tests against HAProxy.

Everything here is bounded in time: servers stop when asked (or when the test
ends), sockets carry timeouts, and waits poll a condition until a deadline.
Traffic goes to 127.0.0.0/8 only.
"""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The seed configurations: beside the repository, or where $FULCRUM_SEEDS says.
SEEDS = Path(os.environ.get("FULCRUM_SEEDS") or REPO.parent / "shared" / "seed-configs")
DEFAULT_FULCRUM = REPO / ".build" / "release" / "fulcrum"
ALL_IMPLS = ("haproxy", "fulcrum")


def fulcrum_bin() -> str:
    return os.environ.get("FULCRUM_BIN") or str(DEFAULT_FULCRUM)


def haproxy_bin() -> str:
    return os.environ.get("HAPROXY_BIN") or "haproxy"


def config_check(impl, cfg, cwd=None):
    """`-c -f CFG` with the implementation's binary: (exit code, stdout + stderr)."""
    binary = fulcrum_bin() if impl == "fulcrum" else haproxy_bin()
    r = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=20, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float, interval: float = 0.01, what: str = "condition"):
    """Poll cond() until it is truthy or the deadline passes; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pattern_bytes(n: int, seed: int = 1) -> bytes:
    """Deterministic, non-repeating-looking bytes (fast to build)."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(block[:32] + i.to_bytes(4, "big")).digest() + block[32:65536]
        i += 1
    return bytes(out[:n])


def can_connect(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def is_listening(port: int) -> bool:
    """True if some socket listens on the TCP port (read from /proc/net, no
    connection is made: a probe connection would reach a mode tcp backend)."""
    want = f":{port:04X}"
    found_proc = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                found_proc = True
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except OSError:
            continue
    return False if found_proc else can_connect(port)


# --------------------------------------------------------------------------
# HTTP parsing (requests on the backend side, responses on the client side)
# --------------------------------------------------------------------------

class Incomplete(Exception):
    pass


def _split_head(buf: bytes, pos: int):
    """Find the end of a header block starting at pos (CRLFCRLF or LFLF)."""
    i = pos
    while True:
        j = buf.find(b"\n", i)
        if j < 0:
            raise Incomplete()
        # empty line?
        line = buf[i:j]
        if line in (b"", b"\r"):
            if i == pos:  # leading empty line: skip it
                pos = j + 1
                i = pos
                continue
            return pos, i, j + 1
        i = j + 1


def _parse_headers(lines):
    hdrs = []
    for ln in lines:
        if b":" in ln:
            k, v = ln.split(b":", 1)
            hdrs.append((k.decode("latin1"), v.strip(b" \t").decode("latin1")))
        else:
            hdrs.append((ln.decode("latin1"), None))
    return hdrs


def _hget(hdrs, name):
    name = name.lower()
    vals = [v for k, v in hdrs if k.lower() == name and v is not None]
    return ", ".join(vals) if vals else None


def _decode_chunked(buf: bytes, pos: int):
    body = bytearray()
    while True:
        j = buf.find(b"\n", pos)
        if j < 0:
            raise Incomplete()
        size_s = buf[pos:j].split(b";")[0].strip()
        size = int(size_s, 16)
        pos = j + 1
        if size == 0:
            # trailers until empty line
            while True:
                j = buf.find(b"\n", pos)
                if j < 0:
                    raise Incomplete()
                line = buf[pos:j]
                pos = j + 1
                if line in (b"", b"\r"):
                    return bytes(body), pos
        if len(buf) < pos + size + 2:
            raise Incomplete()
        body += buf[pos:pos + size]
        pos += size
        if buf[pos:pos + 2] == b"\r\n":
            pos += 2
        elif buf[pos:pos + 1] == b"\n":
            pos += 1
        else:
            raise ValueError("bad chunk terminator")


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list
    body: bytes
    interim: bool = False

    def header(self, name):
        return _hget(self.headers, name)

    def norm(self, big: int = 4096):
        """Comparable form: lowercase names, no Date, sorted; big bodies hashed."""
        hdrs = sorted((k.lower(), v) for k, v in self.headers if k.lower() != "date")
        body = self.body
        body_n = body.decode("latin1") if len(body) <= big else f"<{len(body)} bytes sha256={sha(body)}>"
        return {"version": self.version, "status": self.status, "reason": self.reason,
                "headers": hdrs, "body": body_n}


def parse_responses(buf: bytes, methods, eof: bool):
    """Parse successive responses to the requests whose methods are listed.

    Returns (responses, consumed, done). 1xx responses are returned with
    interim=True and do not consume a method; after a 101 parsing stops
    (the rest of the buffer is tunnel data).
    """
    out = []
    pos = 0
    i = 0
    while i < len(methods):
        try:
            start, hend, bstart = _split_head(buf, pos)
        except Incomplete:
            return out, pos, False
        lines = buf[start:hend].replace(b"\r\n", b"\n").split(b"\n")
        lines = [ln for ln in lines if ln != b""]
        status_line = lines[0].decode("latin1")
        parts = status_line.split(" ", 2)
        version = parts[0]
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        hdrs = _parse_headers(lines[1:])
        p = bstart
        if 100 <= status < 200:
            out.append(Response(version, status, reason, hdrs, b"", interim=True))
            pos = p
            if status == 101:
                return out, pos, True
            continue
        te = (_hget(hdrs, "transfer-encoding") or "").lower()
        cl = _hget(hdrs, "content-length")
        try:
            if methods[i] == "HEAD" or status in (204, 304):
                body = b""
            elif "chunked" in te:
                body, p = _decode_chunked(buf, p)
            elif cl is not None:
                n = int(cl.split(",")[0])
                if len(buf) < p + n:
                    raise Incomplete()
                body = buf[p:p + n]
                p += n
            else:
                if not eof:
                    raise Incomplete()
                body = buf[p:]
                p = len(buf)
        except Incomplete:
            return out, pos, False
        out.append(Response(version, status, reason, hdrs, body))
        pos = p
        i += 1
    return out, pos, True


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list
    body: bytes
    raw_head: bytes = b""
    chunked: bool = False

    def header(self, name):
        return _hget(self.headers, name)

    def norm(self):
        hdrs = sorted((k.lower(), v) for k, v in self.headers)
        return {"line": f"{self.method} {self.target} {self.version}", "headers": hdrs,
                "body_len": len(self.body), "body_sha": sha(self.body)[:16]}


# --------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------

class Client:
    """A raw socket client with a receive buffer and deadlines."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0, source: str | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False
        self.timeout = timeout

    def send(self, data: bytes):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _recv_once(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("client deadline")
        self.sock.settimeout(min(remaining, self.timeout))
        try:
            d = self.sock.recv(262144)
        except ConnectionResetError:
            d = b""
        except socket.timeout:
            raise TimeoutError("client recv timeout")
        if not d:
            self.eof = True
        self.buf += d
        return d

    def read_responses(self, methods, timeout: float = 10.0):
        """Read until the responses to `methods` are complete (or EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            resps, used, done = parse_responses(self.buf, methods, self.eof)
            if done:
                self.buf = self.buf[used:]
                return resps
            if self.eof:
                self.buf = self.buf[used:]
                return resps
            self._recv_once(deadline)

    def read_response(self, method="GET", timeout: float = 10.0):
        r = self.read_responses([method], timeout)
        return r

    def read_until_close(self, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._recv_once(deadline)
        data, self.buf = self.buf, b""
        return data

    def read_exactly(self, n: int, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n and not self.eof:
            self._recv_once(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def wait_closed(self, timeout: float = 3.0) -> bool:
        """True if the peer closes within timeout (data received meanwhile is kept)."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                self._recv_once(deadline)
        except TimeoutError:
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_get(port, path="/", headers=None, timeout=10.0, source=None, method="GET", body=b""):
    """One request on its own connection (Connection: close); returns Response or None."""
    h = {"Host": "test", "Connection": "close"}
    h.update(headers or {})
    if body:
        h["Content-Length"] = str(len(body))
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    c = Client(port, timeout=timeout, source=source)
    try:
        c.send(req.encode() + body)
        r = c.read_responses([method], timeout)
        return r[-1] if r else None
    finally:
        c.close()


def norm_responses(resps):
    return [r.norm() for r in resps]


def parse_partial(data: bytes):
    """Normalize whatever came back on a connection that was closed (possibly mid-response)."""
    if not data:
        return {"empty": True}
    try:
        resps, used, done = parse_responses(data, ["GET"], eof=True)
    except Exception:
        resps, used, done = [], 0, False
    if resps and done:
        out = {"responses": norm_responses(resps)}
        if data[used:]:
            out["trailing_bytes"] = len(data) - used
        return out
    # truncated: status line and headers, count the body bytes
    try:
        start, hend, bstart = _split_head(data, 0)
        lines = [ln for ln in data[start:hend].replace(b"\r\n", b"\n").split(b"\n") if ln]
        parts = lines[0].decode("latin1").split(" ", 2)
        hdrs = sorted((k.lower(), v) for k, v in _parse_headers(lines[1:]) if k.lower() != "date")
        return {"truncated": True, "status": int(parts[1]), "headers": hdrs,
                "body_received": len(data) - bstart}
    except Exception:
        return {"raw": data[:200].decode("latin1"), "len": len(data)}


# --------------------------------------------------------------------------
# Backend servers (socket level, in threads)
# --------------------------------------------------------------------------

class BackendConn:
    def __init__(self, sock: socket.socket, server: "Backend"):
        self.sock = sock
        self.server = server
        self.buf = b""
        self.eof = False
        sock.settimeout(0.2)
        # a separate socket object for writing, so a writer thread never
        # changes the reader's timeout (timeouts are per Python socket object)
        self.wsock = sock.dup()
        self.wsock.settimeout(20)

    def _recv(self, deadline):
        while True:
            if self.server.stopping.is_set():
                raise ConnectionError("server stopping")
            if time.monotonic() >= deadline:
                raise TimeoutError("backend recv deadline")
            try:
                d = self.sock.recv(262144)
            except (socket.timeout, BlockingIOError, InterruptedError):
                continue
            except OSError:  # reset and the like: treat as EOF
                d = b""
            if not d:
                self.eof = True
            self.buf += d
            return d

    def recv_some(self, timeout=10.0) -> bytes:
        """Whatever is buffered or the next chunk; b'' at EOF."""
        if self.buf:
            d, self.buf = self.buf, b""
            return d
        if self.eof:
            return b""
        d = self._recv(time.monotonic() + timeout)
        self.buf = b""
        return d

    def read_until_eof(self, timeout=10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._recv(deadline)
        d, self.buf = self.buf, b""
        return d

    def read_exactly(self, n, timeout=10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n and not self.eof:
            self._recv(deadline)
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_request(self, timeout=10.0, auto_continue=True):
        """Parse one request; None on clean EOF before a request."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                start, hend, bstart = _split_head(self.buf, 0)
                break
            except Incomplete:
                if self.eof:
                    return None
                self._recv(deadline)
        head = self.buf[start:hend]
        lines = [ln for ln in head.replace(b"\r\n", b"\n").split(b"\n") if ln]
        method, target, version = lines[0].decode("latin1").split(" ", 2)
        hdrs = _parse_headers(lines[1:])
        self.buf = self.buf[bstart:]
        req = Request(method, target, version, hdrs, b"", raw_head=head)
        if (req.header("expect") or "").lower() == "100-continue" and auto_continue:
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        te = (req.header("transfer-encoding") or "").lower()
        cl = req.header("content-length")
        if "chunked" in te:
            req.chunked = True
            while True:
                try:
                    body, p = _decode_chunked(self.buf, 0)
                    break
                except Incomplete:
                    if self.eof:
                        raise ConnectionError("EOF in chunked body")
                    self._recv(deadline)
            req.body = body
            self.buf = self.buf[p:]
        elif cl is not None:
            n = int(cl.split(",")[0])
            req.body = self.read_exactly(n, timeout=max(0.1, deadline - time.monotonic()))
        return req

    def send(self, data: bytes):
        self.wsock.sendall(data)

    def close(self):
        for s in (self.wsock, self.sock):
            try:
                s.close()
            except OSError:
                pass


def make_response(status=200, body=b"", headers=None, chunked=False, reason=None,
                  version="HTTP/1.1", content_length=True):
    reasons = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
               404: "Not Found", 500: "Internal Server Error", 101: "Switching Protocols"}
    reason = reason if reason is not None else reasons.get(status, "Status")
    hdrs = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    if chunked:
        hdrs.append(("Transfer-Encoding", "chunked"))
    elif content_length and status not in (204, 304) and not (100 <= status < 200):
        hdrs.append(("Content-Length", str(len(body))))
    head = f"{version} {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    if chunked:
        out = bytearray()
        step = 7 if len(body) < 100 else 65536
        for i in range(0, len(body), step):
            piece = body[i:i + step]
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        out += b"0\r\n\r\n"
        body = bytes(out)
    return head.encode("latin1") + body


class Backend:
    """A threaded TCP server. `handler(conn: BackendConn)` serves one connection.

    Records: requests (list of Request), connections count, concurrent
    requests (active / max_active, updated by the http helper).
    """

    def __init__(self, handler, name: str = "b", host: str = "127.0.0.1"):
        self.name = name
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.release = threading.Event()  # handlers that hold requests wait on this
        self.threads: list[threading.Thread] = []
        self.extra: dict = {}
        t = threading.Thread(target=self._accept_loop, daemon=True, name=f"backend-{name}")
        t.start()
        self._acceptor = t

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, s):
        c = BackendConn(s, self)
        try:
            self.handler(c)
        except (ConnectionError, TimeoutError, OSError, ValueError) as e:
            if not self.stopping.is_set():
                with self.lock:
                    self.errors.append(repr(e))
        finally:
            c.close()

    def record(self, req):
        with self.lock:
            self.requests.append(req)

    def enter(self):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def leave(self):
        with self.lock:
            self.active -= 1

    def stop(self):
        self.stopping.set()
        self.release.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self._acceptor.join(2)
        for t in self.threads:
            t.join(2)


def http_handler(respond, auto_continue=True):
    """Build a keep-alive HTTP handler around respond(req, conn, server) -> bytes | None.

    A None answer closes the connection without a response. Counts active
    requests on the server while respond() runs.
    """
    def handler(conn: BackendConn):
        srv = conn.server
        while True:
            req = conn.read_request(auto_continue=auto_continue)
            if req is None:
                return
            srv.record(req)
            srv.enter()
            try:
                resp = respond(req, conn, srv)
            finally:
                srv.leave()
            if resp is None:
                return
            conn.send(resp)
            close = (req.header("connection") or "").lower()
            if "close" in close or (req.version == "HTTP/1.0" and "keep-alive" not in close):
                return
            if b"connection: close" in resp.split(b"\r\n\r\n", 1)[0].lower():
                return
    return handler


def name_responder(req, conn, srv):
    """Answer with the server's name (used by the balancing tests)."""
    return make_response(200, srv.name.encode(), {"Content-Type": "text/plain"})


def hold_responder(req, conn, srv):
    """/hold waits for srv.release (bounded), anything else answers at once."""
    if req.target.startswith("/hold"):
        srv.release.wait(8)
    return make_response(200, srv.name.encode(), {"Content-Type": "text/plain"})


# --------------------------------------------------------------------------
# The proxy under test
# --------------------------------------------------------------------------

class Proxy:
    def __init__(self, impl: str, cfg_text: str, workdir: Path, port: int, name: str = "proxy",
                 wait_port: bool = True):
        self.impl = impl
        self.port = port
        self.workdir = workdir
        self.cfg = workdir / f"{name}-{impl}.cfg"
        self.cfg.write_text(cfg_text)
        self.errpath = workdir / f"{name}-{impl}.stderr"
        if impl == "haproxy":
            binary = haproxy_bin()
        elif impl == "fulcrum":
            binary = fulcrum_bin()
            if not os.path.exists(binary):
                raise RuntimeError(f"fulcrum binary not found at {binary} (set FULCRUM_BIN or build it)")
        else:
            raise ValueError(impl)
        self.errfile = open(self.errpath, "wb")
        self.proc = subprocess.Popen([binary, "-db", "-f", str(self.cfg)], stdin=subprocess.DEVNULL,
                                     stdout=self.errfile, stderr=subprocess.STDOUT)
        if wait_port:
            deadline = time.monotonic() + 10
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{impl} exited with {self.proc.returncode} before listening:\n"
                                       f"{self.stderr()}\n--- config ---\n{cfg_text}")
                if is_listening(port):
                    break
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{impl} did not listen on {port} within 10s:\n{self.stderr()}")
                time.sleep(0.02)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stderr(self) -> str:
        try:
            self.errfile.flush()
            return self.errpath.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.errfile.close()


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

def _diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: only in fulcrum: {b[k]!r}")
            elif k not in b:
                out.append(f"{path}.{k}: only in haproxy: {a[k]!r}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and path.endswith("headers"):
        sa, sb = [tuple(x) for x in a], [tuple(x) for x in b]
        for h in sa:
            if h not in sb:
                out.append(f"{path}: haproxy has {h[0]}: {h[1]!r}, fulcrum does not")
        for h in sb:
            if h not in sa:
                out.append(f"{path}: fulcrum has {h[0]}: {h[1]!r}, haproxy does not")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: haproxy has {len(a)} items, fulcrum {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: haproxy={a!r} fulcrum={b!r}")


def compare(a, b) -> list[str]:
    """Differences between the haproxy result a and the fulcrum result b, readable."""
    out: list[str] = []
    _diff(a, b, "result", out)
    return out


# --------------------------------------------------------------------------
# Config templates (only keywords Fulcrum supports)
# --------------------------------------------------------------------------

def cfg_head(mode="http", defaults_extra="", global_extra="", timeouts=None):
    """`global` (one thread) and `defaults` (mode, connect 2s / client 5s / server 5s): the lines
    every test config starts with."""
    t = {"connect": "2s", "client": "5s", "server": "5s"}
    t.update(timeouts or {})
    lines = ["global", "    nbthread 1"]
    lines += [f"    {x}" for x in global_extra.strip().splitlines() if x.strip()]
    lines += ["defaults", f"    mode {mode}"]
    lines += [f"    timeout {k} {v}" for k, v in t.items()]
    lines += [f"    {x}" for x in defaults_extra.strip().splitlines() if x.strip()]
    return "\n".join(lines) + "\n"


def http_cfg(port, servers, mode="http", backend_extra="", defaults_extra="", frontend_extra="",
             timeouts=None, bind_extra="", global_extra=""):
    """One frontend `fe` on 127.0.0.1:port, one backend `be`.

    servers: list of (name, port, params) tuples or ports.
    """
    lines = cfg_head(mode, defaults_extra, global_extra, timeouts).splitlines()
    lines += ["frontend fe", f"    bind 127.0.0.1:{port} {bind_extra}".rstrip(), "    default_backend be"]
    lines += [f"    {x}" for x in frontend_extra.strip().splitlines() if x.strip()]
    lines += ["backend be"]
    lines += [f"    {x}" for x in backend_extra.strip().splitlines() if x.strip()]
    for i, s in enumerate(servers):
        if isinstance(s, int):
            s = (f"s{i + 1}", s, "")
        name, sport, params = s
        lines.append(f"    server {name} 127.0.0.1:{sport} {params}".rstrip())
    return "\n".join(lines) + "\n"


def read_result(c: Client, methods=("GET",), timeout: float = 10.0, close_probe: float = 0.0):
    """Read the answers to `methods`; normalize complete ones, and whatever
    partial data came before an EOF. With close_probe > 0, also report whether
    the proxy closed the connection within that many seconds afterwards."""
    methods = list(methods)
    try:
        resps = c.read_responses(methods, timeout)
    except TimeoutError:
        return {"timeout": True, "partial": parse_partial(c.buf)}
    out = {"responses": norm_responses(resps)}
    finals = [r for r in resps if not r.interim]
    if len(finals) < len(methods):
        out["eof_after"] = parse_partial(c.buf) if c.buf else "nothing"
    elif close_probe:
        out["closed"] = c.wait_closed(close_probe)
    return out
