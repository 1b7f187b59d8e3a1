"""Load-balancing through the proxy: absolute results, and the same as haproxy."""
import http.client
import threading
from collections import Counter

import pytest

from harness import (Client, free_port, hold_responder, http_cfg, http_get, http_handler,
                     name_responder, wait_for)


def start(env, impl, n, params=None, backend_extra="", respond=name_responder, timeouts=None):
    params = params or [""] * n
    bs = [env.backend(http_handler(respond), f"s{i + 1}") for i in range(n)]
    port = free_port()
    env.proxy(impl, http_cfg(port, [(b.name, b.port, p) for b, p in zip(bs, params)],
                             backend_extra=backend_extra, timeouts=timeouts), port)
    return bs, port


def keepalive_load(port, total, conns=4, path="/", headers=None):
    """`total` GETs spread over `conns` keep-alive connections; returns Counter of bodies."""
    counts = Counter()
    errors = []
    lock = threading.Lock()

    def worker(n):
        local = Counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(n):
                c.request("GET", path, headers=headers or {})
                r = c.getresponse()
                local[(r.status, r.read().decode())] += 1
            c.close()
        except Exception as e:  # reported below
            errors.append(repr(e))
        with lock:
            counts.update(local)

    per = [total // conns] * conns
    per[0] += total - sum(per)
    ts = [threading.Thread(target=worker, args=(n,), daemon=True) for n in per]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in ts), "load workers did not finish in time"
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["roundrobin", "static-rr"])
def test_weighted_round_robin_exact(differ, algo):
    def sc(env, impl, algo):
        bs, port = start(env, impl, 3, ["weight 1", "weight 2", "weight 3"], f"balance {algo}")
        counts = keepalive_load(port, 6000)
        return {"counts": sorted((f"{st} {body}", n) for (st, body), n in counts.items())}

    def check(r):
        assert r["counts"] == [("200 s1", 1000), ("200 s2", 2000), ("200 s3", 3000)]
    differ(sc, check, algo=algo)


def test_leastconn_avoids_busy_server(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 2, backend_extra="balance leastconn", respond=hold_responder)
        held = Client(port)
        try:
            held.send(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            busy = wait_for(lambda: [b for b in bs if b.active == 1], 5, what="held request")[0]
            names = [http_get(port, "/fast").body.decode() for _ in range(10)]
            for b in bs:
                b.release.set()
            first = held.read_responses(["GET"])
            return {"fast_went_to_busy": names.count(busy.name), "fast_total": len(names),
                    "held_status": first[0].status}
        finally:
            held.close()

    def check(r):
        assert r["fast_went_to_busy"] == 0
        assert r["fast_total"] == 10 and r["held_status"] == 200
    differ(sc, check)


def test_first_fills_in_order(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 3, ["maxconn 2"] * 3, "balance first", respond=hold_responder)
        clients = []
        try:
            for i in range(5):
                c = Client(port)
                c.send(b"GET /hold%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                clients.append(c)
                wait_for(lambda: sum(b.active for b in bs) == i + 1, 5, what=f"request {i} at a backend")
            placement = [b.active for b in bs]
            for b in bs:
                b.release.set()
            statuses = [c.read_responses(["GET"])[0].status for c in clients]
            return {"placement": placement, "statuses": statuses}
        finally:
            for c in clients:
                c.close()

    def check(r):
        assert r["placement"] == [2, 2, 1]
        assert r["statuses"] == [200] * 5
    differ(sc, check)


def sticky_mapping(port, keys, send):
    """For each key, 3 requests; returns {key: [server names]}."""
    return {k: [send(port, k) for _ in range(3)] for k in keys}


def assert_sticky(mapping, nservers):
    for k, names in mapping.items():
        assert len(set(names)) == 1, f"key {k} moved between servers: {names}"
    assert len({v[0] for v in mapping.values()}) > 1, "all keys on one server: hashing looks broken"


def test_balance_source(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 3, backend_extra="balance source")
        keys = [f"127.0.0.{i}" for i in range(1, 17)]
        return {"map": sticky_mapping(port, keys, lambda p, k: http_get(p, "/", source=k).body.decode())}

    differ(sc, lambda r: assert_sticky(r["map"], 3))


def test_balance_source_consistent(differ):
    """Client addresses spread over 127/8: the same server as haproxy for each (HAProxy hashes the
    address as a number, not through sdbm)."""
    def sc(env, impl):
        bs, port = start(env, impl, 3, backend_extra="balance source\nhash-type consistent")
        keys = [f"127.{(i * 37) % 250 + 1}.{(i * 11) % 250 + 1}.{i % 250 + 2}" for i in range(24)]
        return {"map": sticky_mapping(port, keys, lambda p, k: http_get(p, "/", source=k).body.decode())}

    differ(sc, lambda r: assert_sticky(r["map"], 3))


def test_balance_uri(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 3, backend_extra="balance uri")
        keys = [f"/obj/{i}?v=1" for i in range(16)]
        return {"map": sticky_mapping(port, keys, lambda p, k: http_get(p, k).body.decode())}

    differ(sc, lambda r: assert_sticky(r["map"], 3))


def test_balance_url_param(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 3, backend_extra="balance url_param user")
        keys = [f"u{i}" for i in range(16)]
        return {"map": sticky_mapping(port, keys, lambda p, k: http_get(p, f"/x?a=1&user={k}").body.decode())}

    differ(sc, lambda r: assert_sticky(r["map"], 3))


def test_balance_hdr(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 3, backend_extra="balance hdr(X-Key)")
        keys = [f"key-{i}" for i in range(16)]
        return {"map": sticky_mapping(port, keys,
                                      lambda p, k: http_get(p, "/", headers={"X-Key": k}).body.decode())}

    differ(sc, lambda r: assert_sticky(r["map"], 3))


def test_balance_uri_consistent(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 3, backend_extra="balance uri\nhash-type consistent")
        keys = [f"/c/{i}" for i in range(16)]
        return {"map": sticky_mapping(port, keys, lambda p, k: http_get(p, k).body.decode())}

    differ(sc, lambda r: assert_sticky(r["map"], 3))


def test_balance_random_spreads(env, impl):
    bs, port = start(env, impl, 3, backend_extra="balance random")
    counts = keepalive_load(port, 600, conns=2)
    assert sum(counts.values()) == 600
    assert all(st == 200 for st, _ in counts), counts
    assert {body for _, body in counts} == {"s1", "s2", "s3"}


# ---------------------------------------------------------------- server maxconn and the queue

def slow_responder(req, conn, srv):
    srv.release.wait(0.3)  # never set: a bounded 300 ms of work
    return srv_ok(srv)


def srv_ok(srv):
    from harness import make_response
    return make_response(200, srv.name.encode())


def concurrent_gets(port, n, timeout=15):
    results = [None] * n

    def one(i):
        try:
            r = http_get(port, f"/q{i}", timeout=timeout)
            results[i] = r.status if r else "eof"
        except Exception as e:
            results[i] = repr(e)
    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return results


@pytest.mark.slow
def test_server_maxconn_queues(differ):
    def sc(env, impl):
        bs, port = start(env, impl, 1, ["maxconn 2"], respond=slow_responder, timeouts={"queue": "10s"})
        results = concurrent_gets(port, 10)
        return {"statuses": sorted(map(str, results)), "max_active": bs[0].max_active,
                "served": len(bs[0].requests)}

    def check(r):
        assert r["statuses"] == ["200"] * 10
        assert r["max_active"] <= 2
        assert r["served"] == 10
    differ(sc, check)


@pytest.mark.slow
def test_server_maxconn_queue_timeout(differ):
    def held(req, conn, srv):
        srv.release.wait(8)  # released by the test once the queue has timed out
        return srv_ok(srv)

    def sc(env, impl):
        bs, port = start(env, impl, 1, ["maxconn 2"], respond=held, timeouts={"queue": "200ms"})
        results = [None] * 10

        def one(i):
            try:
                r = http_get(port, f"/q{i}", timeout=15)
                results[i] = r.status if r else "eof"
            except Exception as e:
                results[i] = repr(e)
        ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(10)]
        for t in ts:
            t.start()
        try:
            wait_for(lambda: results.count(503) >= 8, 10, what="8 queue timeouts")
        except TimeoutError:
            pass  # reported by the comparison below
        bs[0].release.set()
        for t in ts:
            t.join(20)
        return {"statuses": sorted(map(str, results)), "max_active": bs[0].max_active,
                "served": len(bs[0].requests)}

    def check(r):
        assert r["statuses"] == ["200"] * 2 + ["503"] * 8
        assert r["max_active"] <= 2 and r["served"] == 2
    differ(sc, check)
