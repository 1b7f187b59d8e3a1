"""Request buffering, differential against haproxy 2.6: `option http-buffer-request` and
`http-request wait-for-body` hold the request body so rules can read it (req.body, req.body_len,
req.body_size, req.body_param): routing and denying by body content, headers set from body
parameters, bodies larger than the buffer (what the rules see, all of it forwarded), slow bodies
(408 when the wait ends), Expect: 100-continue; and `tcp-request inspect-delay` with content rules
that wait for the client's bytes (req.len, req.payload, TLS ClientHello: req.ssl_hello_type,
req.ssl_sni routing, req.ssl_ver)."""

import socket
import ssl
import threading
import time

import pytest

from harness import Client, cfg_head, free_port, http_handler, make_response, wait_for


def echo(req, conn, srv):
    """The server's name, request line, X-* lines (lowercased) and how much body it read."""
    lines = [f"{k.lower()}: {v}" for k, v in req.headers if k.lower().startswith("x-") or k.lower() == "expect"]
    body = "\n".join([srv.name, f"{req.method} {req.target}"] + lines + [f"body={len(req.body)}"]) + "\n"
    return make_response(200, body.encode(), {"Content-Type": "text/plain"})


def http_config(port, servers, fe_lines, timeouts=None, be_a_lines=(), default="be_b"):
    text = cfg_head(timeouts=timeouts) + f"frontend fe\n    bind 127.0.0.1:{port}\n"
    text += "".join(f"    {l}\n" for l in fe_lines)
    text += f"    default_backend {default}\n"
    text += "backend be_a\n" + "".join(f"    {l}\n" for l in be_a_lines) + f"    server s_a 127.0.0.1:{servers['a']}\n"
    text += f"backend be_b\n    server s_b 127.0.0.1:{servers['b']}\n"
    return text


def exchange(port, parts, pause=0.0, timeout=6.0):
    """Sends the parts (pausing between them), reads until the proxy closes; returns the
    normalised response bytes (header names lowercased, no Date) and the seconds it took."""
    c = Client(port, timeout=timeout)
    t0 = time.monotonic()
    try:
        for i, p in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            c.send(p)
        try:
            raw = c.read_until_close(timeout)
        except TimeoutError:
            raw = c.buf + b"<timeout>"
    finally:
        c.close()
    elapsed = time.monotonic() - t0
    out = []
    for block in raw.split(b"\r\n\r\n"):
        if block.startswith(b"HTTP/"):
            lines = block.split(b"\r\n")
            heads = [l.partition(b":") for l in lines[1:]]
            block = b"\r\n".join([lines[0]] + [k.lower() + b":" + v for k, _, v in heads if k.lower() != b"date"])
        out.append(block)
    return b"\r\n\r\n".join(out).decode("latin-1"), elapsed


def post(path, body, extra=b"", chunked=False):
    head = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra
    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in body) + b"0\r\n\r\n"
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


BODY_RULES = [
    "option http-buffer-request",
    "http-request set-header X-Len %[req.body_len]",
    "http-request set-header X-Size %[req.body_size]",
    "http-request set-header X-User %[req.body_param(user)]",
    "http-request set-header X-First %[req.body_param]",
    "http-request deny deny_status 403 if { req.body -m sub forbidden }",
    "use_backend be_a if { req.body_param(route) -m str alpha }",
]

# name: (frontend lines, timeouts, [(request bytes parts, pause between parts)])
SCENARIOS = {
    "route, deny and set-header from a content-length body": (
        BODY_RULES, None,
        [([post("/p1", b"user=bob&route=alpha&user=2")], 0),
         ([post("/p2", b"route=beta&user=carol")], 0),
         ([post("/p3", b"x=1&forbidden=yes")], 0),
         ([b"GET /g HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"], 0)]),
    "chunked bodies are decoded for the rules": (
        BODY_RULES, None,
        [([post("/c1", [b"route=al", b"pha&us", b"er=zed"], chunked=True)], 0),
         ([post("/c2", [b"a=1;", b"forbid", b"den"], chunked=True)], 0)]),
    "a body sent in pieces is waited for": (
        BODY_RULES, {"http-request": "3s"},
        [([post("/s1", b"user=dave&route=alpha")[:-12], b"&route=alpha"], 0.3),
         ([post("/s2", b"", chunked=True).replace(b"0\r\n\r\n", b"9\r\nuser=erin\r\n"), b"0\r\n\r\n"], 0.3)]),
    "a body larger than the buffer: the rules see what fits, the server gets all": (
        # (req.body_size of a chunked body larger than the buffer is haproxy's internal state: not compared)
        ["option http-buffer-request", "http-request set-header X-Len %[req.body_len]",
         "http-request set-header X-Size %[req.body_size] unless { path /bigc }"], None,
        [([post("/big", b"a" * 40000)], 0),
         ([post("/big2", b"b" * 20000, extra=b"X-Pad: " + b"p" * 300 + b"\r\n")], 0),
         ([post("/bigc", [b"c" * 1000] * 30, chunked=True)], 0)]),
    "a body that does not come in time is answered 408": (
        BODY_RULES, {"http-request": "700ms"},
        [([post("/slow", b"user=frank&route=alpha")[:-6]], 0),
         ([post("/ok", b"user=gina")], 0)]),
    "Expect: 100-continue is answered by the proxy": (
        BODY_RULES, None,
        [([post("/e1", b"user=hank")[:-9].replace(b"Host: t\r\n", b"Host: t\r\nExpect: 100-continue\r\n"), b"user=hank"], 0.3),
         ([post("/e2", b"route=alpha").replace(b"Host: t\r\n", b"Host: t\r\nExpect: 100-continue\r\n")], 0)]),
    "wait-for-body: at-least and its time": (
        ["http-request wait-for-body time 600ms at-least 8 if { method POST }",
         "http-request set-header X-Len %[req.body_len]",
         "use_backend be_a if { req.body -m beg alpha }"], None,
        [([post("/w1", b"alpha-and-more")[:-14], b"alpha-an", b"d-more"], 0.3),
         ([post("/w2", b"alphabet")[:-8], b"alp"], 0.2),
         ([post("/w3", b"alpha")], 0),
         ([b"PUT /w4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nal", b"pha"], 0.3)]),
}


def http_scenario(env, impl, name):
    fe, timeouts, requests = SCENARIOS[name]
    servers = {k: env.backend(http_handler(echo), name=f"s_{k}").port for k in ("a", "b")}
    port = free_port()
    env.proxy(impl, http_config(port, servers, fe, timeouts), port, name=f"buf-{impl}")
    out = []
    for parts, pause in requests:
        text, elapsed = exchange(port, parts, pause)
        out.append({"response": text, "seconds": round(elapsed, 1) if "408" in text else None})
    return {"exchanges": out}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_buffering_scenarios(differ, name):
    def check(result):
        texts = [x["response"] for x in result["exchanges"]]
        assert len(set(texts)) == len(texts), texts
        assert all(t.startswith("HTTP/1.1 ") for t in texts), texts
    differ(http_scenario, check, name=name)


def test_option_in_a_backend_holds_that_backends_body(differ):
    """The option on the default backend: the backend's rules see the whole body."""
    def run(env, impl):
        servers = {k: env.backend(http_handler(echo), name=f"s_{k}").port for k in ("a", "b")}
        port = free_port()
        text = http_config(port, servers, [], None, default="be_a",
                           be_a_lines=["option http-buffer-request", "http-request set-header X-BLen %[req.body_len]"])
        env.proxy(impl, text, port, name=f"bufbe-{impl}")
        return {"r": exchange(port, [post("/b", b"abcdef")[:-4], b"cdef"], 0.3)[0]}

    def check(result):
        assert "x-blen: 6" in result["r"] and "body=6" in result["r"], result
    differ(run, check)


# --- mode tcp: tcp-request inspect-delay and content rules on the client's first bytes ---

class Recorder:
    """A plain TCP server: answers each connection with its name and the bytes it read first
    (count and first byte); bounded: it stops accepting after 60 s or stop()."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        end = time.monotonic() + 60
        while not self.stopped and time.monotonic() < end:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            c.settimeout(2)
            try:
                data = c.recv(65536)
                c.sendall(f"{self.name} got {len(data)} first={data[:1].hex()}\n".encode())
            except OSError:
                pass
            c.close()

    def stop(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


def client_hello(sni):
    """The bytes of a TLS ClientHello (Python's ssl, with SNI when given)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def tcp_exchange(port, parts, pause=0.3):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    out = b""
    try:
        for i, x in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(x)
        while True:
            d = s.recv(1000)
            if not d:
                break
            out += d
    except OSError as ex:
        out += f"<{type(ex).__name__}>".encode()
    finally:
        s.close()
    return out.decode(), round(time.monotonic() - t0, 1)


TCP_SCENARIOS = {
    "req.len waits for enough bytes": ["tcp-request content accept if { req.len ge 6 }"],
    "req.ssl_hello_type waits for a whole ClientHello": ["tcp-request content accept if { req.ssl_hello_type 1 }"],
    "req.payload rejects": ["tcp-request content reject if { req.payload(0,4) -m str QUIT }"],
}


def tcp_scenario(env, impl, name):
    rec = {k: Recorder(k) for k in ("a", "b", "c")}
    try:
        port = free_port()
        text = cfg_head(mode="tcp") + f"frontend fe\n    bind 127.0.0.1:{port}\n    tcp-request inspect-delay 1s\n"
        text += "".join(f"    {l}\n" for l in TCP_SCENARIOS[name])
        text += ("    use_backend be_a if { req.ssl_sni -i a.test }\n"
                 "    use_backend be_c if { req.payload(0,3) -m str xyz }\n"
                 "    default_backend be_b\n")
        for k in rec:
            text += f"backend be_{k}\n    server {k} 127.0.0.1:{rec[k].port}\n"
        env.proxy(impl, text, port, name=f"insp-{impl}")
        hello_a, hello_b = client_hello("a.test"), client_hello("b.test")
        out = {}
        for label, parts in [("split", [b"ab", b"cdefgh"]), ("whole", [b"abcdefgh"]), ("short", [b"xyzzy"]),
                             ("quit", [b"QU", b"IT now"]), ("tls-a", [hello_a]), ("tls-b", [hello_b]),
                             ("tls-a-split", [hello_a[:40], hello_a[40:]])]:
            text_, seconds = tcp_exchange(port, parts)
            out[label] = {"answer": text_, "waited": seconds >= 0.9, "bounded": seconds < 3}
        return out
    finally:
        for r in rec.values():
            r.stop()


@pytest.mark.parametrize("name", sorted(TCP_SCENARIOS))
def test_inspect_delay_scenarios(differ, name):
    def check(result):
        assert result["tls-a"]["answer"].startswith("a got "), result
        assert result["tls-b"]["answer"].startswith("b got "), result
        assert all(x["bounded"] for x in result.values()), result
    differ(tcp_scenario, check, name=name)


# --- HTTP/2 clients: the same body buffering ---

def h2_exchange(port, path, parts, pause=0.0, method="POST", length=True, declared=None, timeout=5.0):
    """One request on a new h2 (prior knowledge) connection: the body in DATA frames `parts`
    (END_STREAM on the last, unless a larger length is `declared`; no parts: END_STREAM on the
    headers), with `pause` between them. Returns the
    status, the x-* response lines, the body and the seconds it took; reads until the stream ends,
    is reset or `timeout` passes."""
    import h2.config
    import h2.connection
    import h2.events
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    headers = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "t")]
    if (parts or declared is not None) and length:
        headers.append(("content-length", str(declared if declared is not None else sum(len(p) for p in parts))))
    c.send_headers(1, headers, end_stream=not parts and declared is None)
    s.sendall(c.data_to_send())
    t0 = time.monotonic()
    out = {"status": None, "lines": [], "body": b"", "end": None}
    try:
        for i, p in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            c.send_data(1, p, end_stream=i == len(parts) - 1 and declared is None)
            s.sendall(c.data_to_send())
        deadline = t0 + timeout
        while out["end"] is None and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            d = s.recv(65536)
            if not d:
                out["end"] = "eof"
                break
            for e in c.receive_data(d):
                if isinstance(e, h2.events.ResponseReceived):
                    hdrs = dict(e.headers)
                    out["status"] = hdrs.get(":status")
                elif isinstance(e, h2.events.DataReceived):
                    out["body"] += e.data
                    c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                elif isinstance(e, h2.events.StreamEnded):
                    out["end"] = "ended"
                elif isinstance(e, h2.events.StreamReset):
                    out["end"] = out["end"] or "reset"
            s.sendall(c.data_to_send())
    except (socket.timeout, OSError) as ex:
        out["end"] = out["end"] or type(ex).__name__
    finally:
        s.close()
    out["body"] = out["body"].decode("latin-1")
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


H2_REQUESTS = [
    ("/p1", [b"user=bob&route=alpha&user=2"], 0),
    ("/p2", [b"route=beta&user=carol"], 0),
    ("/p3", [b"x=1&forbidden=yes"], 0),
    ("/g", [], 0),
    ("/s1", [b"user=dave", b"&route=alpha"], 0.3),
    ("/big", [b"a" * 16000, b"a" * 16000, b"a" * 8000], 0),
    ("/nolength", [b"user=ivy&", b"route=alpha"], 0.3),
    ("/slow", [b"user=frank"], 0),
    ("/empty", [], 0),
]


def h2_buffering_scenario(env, impl):
    servers = {k: env.backend(http_handler(echo), name=f"s_{k}").port for k in ("a", "b")}
    port = free_port()
    text = http_config(port, servers, BODY_RULES, {"http-request": "700ms"}).replace(
        f"bind 127.0.0.1:{port}", f"bind 127.0.0.1:{port} proto h2")
    env.proxy(impl, text, port, name=f"bufh2-{impl}")
    out = {}
    for path, parts, pause in H2_REQUESTS:
        if path == "/slow":
            r = h2_exchange(port, path, parts, declared=20, timeout=3.0)
        elif path == "/empty":
            # content-length: 0 and the stream left open: the body is complete, no wait.
            r = h2_exchange(port, path, [], declared=0, timeout=3.0)
        else:
            r = h2_exchange(port, path, parts, pause, length=path != "/nolength")
        r["seconds"] = r["seconds"] if path == "/slow" else None
        out[path] = r
    return out


def test_buffering_for_http2_clients(differ):
    """`option http-buffer-request` with h2 clients: the rules see the body (routing, deny,
    headers from body parameters), a body in pieces is waited for, a larger one is cut at the
    buffer for the rules and forwarded whole, a late one is answered 408."""
    def check(result):
        assert result["/p1"]["body"].startswith("s_a\nPOST /p1\nx-len: 27\n"), result
        assert "x-user: bob" in result["/p1"]["body"] and "body=27" in result["/p1"]["body"], result
        assert result["/p2"]["body"].startswith("s_b\n"), result
        assert result["/p3"]["status"] == "403", result
        assert result["/s1"]["body"].startswith("s_a\n") and "x-len: 21" in result["/s1"]["body"], result
        assert "body=40000" in result["/big"]["body"] and "x-size: 40000" in result["/big"]["body"], result
        assert result["/nolength"]["body"].startswith("s_a\n"), result
        assert result["/slow"]["status"] == "408" and 0.6 <= result["/slow"]["seconds"] <= 1.5, result
        assert result["/empty"]["status"] == "200" and "body=0" in result["/empty"]["body"], result
    differ(h2_buffering_scenario, check)
