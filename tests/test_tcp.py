"""mode tcp: byte-exact forwarding both ways, and half-close."""
import hashlib
import socket
import threading

import pytest

from harness import Client, free_port, http_cfg, wait_for

MIB = 1024 * 1024
TOTAL = 100 * MIB


def stream(n, seed):
    """Yield n deterministic bytes in 1 MiB blocks (cheap to regenerate)."""
    base = hashlib.sha256(b"seed%d" % seed).digest() * (MIB // 32)
    sent = 0
    i = 0
    while sent < n:
        k = min(MIB, n - sent)
        block = i.to_bytes(8, "big") + base[8:k] if k >= 8 else base[:k]
        yield block
        sent += k
        i += 1


def stream_sha(n, seed):
    h = hashlib.sha256()
    for b in stream(n, seed):
        h.update(b)
    return h.hexdigest()


def tcp_proxy(env, impl, backend, **kw):
    port = free_port()
    env.proxy(impl, http_cfg(port, [("s1", backend.port, "")], mode="tcp", **kw), port)
    return port


@pytest.mark.slow
def test_tcp_100mib_both_ways(env, impl):
    def handler(conn):
        h = hashlib.sha256()
        got = 0
        sender_err = []

        def send_all():
            try:
                for b in stream(TOTAL, 2):
                    conn.send(b)
                conn.wsock.shutdown(socket.SHUT_WR)
            except OSError as e:
                sender_err.append(repr(e))
        t = threading.Thread(target=send_all, daemon=True)
        t.start()
        while got < TOTAL:
            d = conn.recv_some(20)
            if not d:
                break
            h.update(d)
            got += len(d)
        t.join(60)
        conn.server.extra.update(got=got, sha=h.hexdigest(), sender_err=sender_err)

    b = env.backend(handler, "bulk")
    port = tcp_proxy(env, impl, b)
    c = Client(port, timeout=30)
    send_err = []

    def client_send():
        try:
            for blk in stream(TOTAL, 1):
                c.sock.sendall(blk)
        except OSError as e:
            send_err.append(repr(e))
    t = threading.Thread(target=client_send, daemon=True)
    t.start()
    h = hashlib.sha256()
    got = 0
    c.sock.settimeout(30)
    while got < TOTAL:
        d = c.sock.recv(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
    t.join(60)
    wait_for(lambda: "sha" in b.extra, 30, what="backend to finish reading")
    c.close()
    info = f"client got {got}, backend got {b.extra.get('got')}, errors {send_err} {b.extra['sender_err']}"
    assert not send_err and not b.extra["sender_err"], info
    assert got == TOTAL, f"client received {got} of {TOTAL}"
    assert h.hexdigest() == stream_sha(TOTAL, 2), "server->client bytes differ"
    assert b.extra["got"] == TOTAL, f"backend received {b.extra['got']} of {TOTAL}"
    assert b.extra["sha"] == stream_sha(TOTAL, 1), "client->server bytes differ"


def test_tcp_half_close(env, impl):
    payload = b"request-bytes " * 1000

    def handler(conn):
        data = conn.read_until_eof(10)  # returns once the client's FIN came through
        conn.server.extra["got"] = data
        reply = b"got %d bytes;" % len(data) + b"R" * 200_000
        conn.send(reply)
        conn.server.extra["sent"] = len(reply)
        # then we close (handler returns)

    b = env.backend(handler, "hc")
    port = tcp_proxy(env, impl, b)
    c = Client(port, timeout=10)
    try:
        c.send(payload)
        c.shutdown_write()
        reply = c.read_until_close(10)
    finally:
        c.close()
    assert b.extra["got"] == payload
    assert reply.startswith(b"got %d bytes;" % len(payload))
    assert len(reply) == b.extra["sent"]


def test_tcp_server_down_closes(env, impl):
    port, dead = free_port(), free_port()
    env.proxy(impl, http_cfg(port, [("s1", dead, "")], mode="tcp", backend_extra="retries 1"), port)
    c = Client(port, timeout=10)
    try:
        c.send(b"hello")
        data = c.read_until_close(10)
    finally:
        c.close()
    assert data == b""
