"""TLS termination (`bind ... ssl crt ...`), each case run through haproxy 2.6 and Fulcrum with the
same config: a test CA and certificates made here with openssl; HTTP/1.1 and HTTP/2 on one port
by ALPN (curl), the certificate chosen by SNI (openssl s_client), `ssl-min-ver` refusing an older
handshake, `verify required` with a client certificate, a `crt` directory."""

import re
import subprocess
from contextlib import contextmanager

import pytest

from harness import Proxy, free_port, http_cfg, http_handler, make_response


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.pem", "-subj", "/CN=Fulcrum Test CA", "-days", "2"],
        check=True)

    def issue(name, sans, client=False):
        run(["openssl", "req", "-new", *ec, "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", f"/CN={sans[0]}"],
            check=True)
        ext = d / f"{name}.ext"
        ext.write_text(("extendedKeyUsage=clientAuth\n" if client else "extendedKeyUsage=serverAuth\n") +
                       "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\n")
        run(["openssl", "x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
             "-CAcreateserial", "-out", d / f"{name}.crt", "-days", "2", "-extfile", ext], check=True)
        # HAProxy's PEM: the certificate chain and the private key in one file.
        (d / f"{name}.pem").write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())
    issue("a", ["a.test"])
    issue("b", ["b.test", "*.b.test"])
    issue("client", ["client.test"], client=True)
    certdir = d / "certs"
    certdir.mkdir()
    for n in ("a", "b"):
        (certdir / f"{n}.pem").write_text((d / f"{n}.pem").read_text())
    return d


@pytest.fixture
def backend(env):
    def respond(req, conn, srv):
        return make_response(200, b"over tls " + req.target.encode(), {"Content-Type": "text/plain"})
    return env.backend(http_handler(respond), name="tls-be")


def tls_config(port, server_port, bind_opts):
    return http_cfg(port, [server_port], bind_extra=bind_opts)


@contextmanager
def tls_proxy(impl, tmp_path, backend, bind_opts):
    """A proxy terminating TLS with `bind_opts` in front of `backend`; yields its port."""
    port = free_port()
    with Proxy(impl, tls_config(port, backend.port, bind_opts), tmp_path, port):
        yield port


def curl(port, name, pki, *args):
    r = run(["curl", "-sS", "--cacert", str(pki / "ca.pem"), "--resolve", f"{name}:{port}:127.0.0.1",
             "-w", "\n%{http_version} %{http_code}", *args, f"https://{name}:{port}/x"])
    body, _, tail = r.stdout.rpartition("\n")
    return body, tail, r.returncode, r.stderr


def peer_cn(port, servername, *args):
    r = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *(["-servername", servername] if servername else ["-noservername"]),
             *args], input="")
    m = re.search(r"^subject=.*?CN\s*=\s*([^,\s/]+)", r.stdout, re.M)
    return m.group(1) if m else None


def test_http11_and_h2_on_one_port_by_alpn(impl, tmp_path, pki, backend):
    with tls_proxy(impl, tmp_path, backend, f"ssl crt {pki / 'a.pem'} alpn h2,http/1.1") as port:
        assert curl(port, "a.test", pki, "--http1.1")[:2] == ("over tls /x", "1.1 200")
        assert curl(port, "a.test", pki, "--http2")[:2] == ("over tls /x", "2 200")
        # A client that verifies the name refuses a certificate for another one.
        _, _, rc, err = curl(port, "wrong.test", pki)
        assert rc != 0 and "certificate" in err.lower(), err


def test_sni_chooses_among_certificates(impl, tmp_path, pki, backend):
    with tls_proxy(impl, tmp_path, backend, f"ssl crt {pki / 'a.pem'} crt {pki / 'b.pem'}") as port:
        assert peer_cn(port, "a.test") == "a.test"
        assert peer_cn(port, "b.test") == "b.test"
        assert peer_cn(port, "www.b.test") == "b.test"     # *.b.test
        assert peer_cn(port, "unknown.test") == "a.test"   # the first crt is the default
        assert peer_cn(port, None) == "a.test"
        assert curl(port, "www.b.test", pki)[:2] == ("over tls /x", "1.1 200")


def test_crt_directory(impl, tmp_path, pki, backend):
    with tls_proxy(impl, tmp_path, backend, f"ssl crt {pki / 'certs'}") as port:
        assert peer_cn(port, "b.test") == "b.test"
        assert curl(port, "a.test", pki)[:2] == ("over tls /x", "1.1 200")


def test_ssl_min_ver_refuses_an_older_handshake(impl, tmp_path, pki, backend):
    with tls_proxy(impl, tmp_path, backend, f"ssl crt {pki / 'a.pem'} ssl-min-ver TLSv1.3") as port:
        assert peer_cn(port, "a.test", "-tls1_2") is None   # handshake must fail
        assert peer_cn(port, "a.test", "-tls1_3") == "a.test"
        assert curl(port, "a.test", pki, "--tlsv1.2", "--tls-max", "1.2")[2] != 0
        assert curl(port, "a.test", pki, "--tlsv1.3")[:2] == ("over tls /x", "1.1 200")


def test_default_minimum_is_tls12(impl, tmp_path, pki, backend):
    with tls_proxy(impl, tmp_path, backend, f"ssl crt {pki / 'a.pem'}") as port:
        assert peer_cn(port, "a.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0") is None
        assert peer_cn(port, "a.test", "-tls1_2") == "a.test"


def test_verify_required_wants_a_client_certificate(impl, tmp_path, pki, backend):
    opts = f"ssl crt {pki / 'a.pem'} ca-file {pki / 'ca.pem'} verify required"
    with tls_proxy(impl, tmp_path, backend, opts) as port:
        body, tail, rc, err = curl(port, "a.test", pki)
        assert rc != 0 or not tail.endswith("200"), (body, tail)
        assert curl(port, "a.test", pki, "--cert", str(pki / "client.crt"), "--key", str(pki / "client.key"))[:2] == \
            ("over tls /x", "1.1 200")
        # A certificate from another CA is refused.
        assert curl(port, "a.test", pki, "--cert", str(pki / "b.crt"), "--key", str(pki / "b.key"))[2] != 0


@pytest.mark.fulcrum_only
def test_missing_certificate_names_file_and_line(tmp_path):
    from harness import fulcrum_bin
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(tls_config(free_port(), 1, "ssl crt /nonexistent/site.pem"))
    line = next(i for i, l in enumerate(cfg.read_text().splitlines(), 1) if l.strip().startswith("bind "))
    r = run([fulcrum_bin(), "-db", "-f", str(cfg)])
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "/nonexistent/site.pem" in out and f"bad.cfg:{line}" in out, out


# --------------------------------------------------------------------------- server side

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HTTPSBackend:
    """A threaded HTTPS server (Python's ssl) answering with the SNI it received."""

    def __init__(self, pem):
        self.snis = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pem)
        ctx.sni_callback = lambda sock, name, c: self.snis.append(name)
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = f"https ok sni={outer.snis[-1] if outer.snis else None}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def https_backend(pki):
    b = HTTPSBackend(str(pki / "a.pem"))
    yield b
    b.stop()


def to_tls_server_config(port, server_port, server_opts, global_extra=""):
    return http_cfg(port, [("s1", server_port, server_opts)], global_extra=global_extra)


def get_plain(port):
    r = run(["curl", "-sS", "-w", "\n%{http_code}", f"http://127.0.0.1:{port}/"])
    body, _, code = r.stdout.rpartition("\n")
    return code, body


@pytest.mark.parametrize("opts,expect", [
    ("ssl verify required ca-file {ca} sni str(a.test)", ("200", "https ok sni=a.test")),
    ("ssl ca-file {ca} sni str(a.test)", ("200", "https ok sni=a.test")),          # verify required is the default
    ("ssl verify required ca-file {ca} sni str(wrong.test)", ("503", None)),      # name mismatch: no connection
    ("ssl verify none", ("200", "https ok sni=None")),
    ("ssl verify required ca-file {other}", ("503", None)),                      # another CA
])
def test_tls_to_servers(impl, tmp_path, pki, https_backend, opts, expect):
    port = free_port()
    other = tmp_path / "other-ca.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", tmp_path / "o.key", "-out", other, "-subj", "/CN=Other CA", "-days", "2"], check=True)
    cfg = to_tls_server_config(port, https_backend.port, opts.format(ca=pki / "ca.pem", other=other))
    proxy = Proxy(impl, cfg, tmp_path, port)
    try:
        code, body = get_plain(port)
        err = proxy.stderr()
    finally:
        proxy.stop()
    assert code == expect[0], (code, body, err)
    if expect[1] is not None:
        assert body == expect[1]


def test_verify_without_ca_file_is_a_config_error(impl, tmp_path):
    from harness import fulcrum_bin, haproxy_bin
    cfg = tmp_path / "noca.cfg"
    cfg.write_text(to_tls_server_config(free_port(), 1, "ssl"))
    binary = fulcrum_bin() if impl == "fulcrum" else haproxy_bin()
    # Both the check (-c) and a start refuse it, naming the server line.
    line = next(i for i, l in enumerate(cfg.read_text().splitlines(), 1) if l.strip().startswith("server "))
    for args in (["-c"], ["-db"]):
        r = run([binary, *args, "-f", str(cfg)])
        out = r.stdout + r.stderr
        assert r.returncode != 0, args
        assert "no CA file specified" in out and f"noca.cfg:{line}]" in out, out


def test_h2_over_tls_to_servers(impl, tmp_path, pki):
    """`server ... ssl verify required ca-file ... sni str(a.test) alpn h2 proto h2` to nghttpd over TLS."""
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "f.txt").write_bytes(b"h2 over tls\n")
    sport = free_port()
    p = subprocess.Popen(["timeout", "60", "nghttpd", "-d", str(docroot), "-a", "127.0.0.1", str(sport),
                          str(pki / "a.key"), str(pki / "a.crt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from harness import is_listening, wait_for
        wait_for(lambda: is_listening(sport), 5, what="nghttpd")
        port = free_port()
        cfg = to_tls_server_config(port, sport, f"ssl verify required ca-file {pki / 'ca.pem'} sni str(a.test) alpn h2 proto h2")
        proxy = Proxy(impl, cfg, tmp_path, port)
        try:
            r = run(["curl", "-sS", "-w", "%{http_code}", f"http://127.0.0.1:{port}/f.txt"])
        finally:
            proxy.stop()
        assert r.stdout == "h2 over tls\n200", r.stdout + r.stderr
    finally:
        p.terminate()
        p.wait(5)
