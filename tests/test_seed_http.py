"""The seeds' web services as shipped (../shared/seed-configs): web-cookie.cfg and the HTTP part of
openstack-vip.cfg, with only what a test machine needs changed: the addresses to loopback ports, the
distribution's global lines that need root or a syslog socket (chroot, user/group, daemon, the stats
socket, `log /dev/log`), the `mariadb` listen section (the TCP part, tests/test_health_mariadb.py) and a
test certificate for `bind ... ssl crt`. A browser-like client (it keeps the cookies it is given and
sends them back) makes the same requests through haproxy and Fulcrum; compared are which server answered
each request, the Set-Cookie lines the client got, and the X-Forwarded-* lines the servers read."""

import http.client
import re
import ssl
import subprocess

import pytest

from harness import SEEDS, free_port, http_cfg, http_handler, make_response, wait_for

WEB_COOKIE = SEEDS / "web-cookie.cfg"
OPENSTACK = SEEDS / "openstack-vip.cfg"

pytestmark = pytest.mark.skipif(not (WEB_COOKIE.exists() and OPENSTACK.exists()),
                                reason=f"seed configs not found in {SEEDS}")


def app(req, conn, srv):
    """A web application: its name in the body, the X-Forwarded-* and Cookie lines it read; it starts a
    session (JSESSIONID) for a client that has none, as a servlet container does."""
    seen = {k.lower(): v for k, v in req.headers if k.lower().startswith("x-forwarded")}
    cookies = [v for k, v in req.headers if k.lower() == "cookie"]
    headers = {"Content-Type": "text/plain"}
    if not any("JSESSIONID=" in c for c in cookies):
        headers["Set-Cookie"] = f"JSESSIONID=sess-{srv.name}; Path=/"
    elif "appserverid" in req.target and not any("SERVERID=" in c for c in cookies):
        # An application that names its server itself (what `cookie SERVERID rewrite` expects).
        headers["Set-Cookie"] = f"SERVERID=app-{srv.name}; Path=/"
    body = f"{srv.name}\n{sorted(seen.items())}\n{cookies}"
    return make_response(200, body.encode(), headers)


def strip_for_test(text):
    """The seed less its root-only and syslog-socket global lines and its TCP listen section."""
    out, skipping = [], False
    for line in text.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("listen", "frontend", "backend", "defaults", "global"):
            skipping = word == "listen"
        if skipping:
            continue
        if word in ("chroot", "user", "group", "daemon") or line.strip().startswith(("stats socket", "stats timeout")):
            continue
        if word == "log" and "/dev/log" in line:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def web_cookie_config(port, server_ports, server_cookies):
    text = strip_for_test(WEB_COOKIE.read_text())
    text = text.replace("bind *:80", f"bind 127.0.0.1:{port}")
    for i, p in enumerate(server_ports):
        text = re.sub(rf"(server sample-be-{i}) \S+", rf"\1 127.0.0.1:{p}" + (f" cookie s{i}" if server_cookies else ""), text)
    return text


def browse(port, n, tls=False, path="/"):
    """n requests as a browser: the cookies of each Set-Cookie kept (name=value) and sent back."""
    jar = {}
    seen = []
    for _ in range(n):
        if tls:
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl._create_unverified_context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        body = r.read().decode()
        set_cookies = r.headers.get_all("Set-Cookie") or []
        c.close()
        for sc in set_cookies:
            name, _, value = sc.split(";")[0].partition("=")
            jar[name.strip()] = value
        server, forwarded, cookies = body.split("\n")
        # X-Forwarded-For names the client and X-Forwarded-Port the port it reached: stable here.
        seen.append({"status": r.status, "server": server, "set-cookie": set_cookies,
                     "x-forwarded": forwarded.replace(str(port), "{port}"), "cookies-read": cookies})
    return seen


def web_cookie_scenario(env, impl, server_cookies):
    servers = [env.backend(http_handler(app), name=f"sample-be-{i}") for i in range(3)]
    port = free_port()
    env.proxy(impl, web_cookie_config(port, [s.port for s in servers], server_cookies), port, name=f"seed-web-{impl}")
    return {"requests": browse(port, 6)}


@pytest.mark.parametrize("server_cookies", [False, True], ids=["as-shipped", "servers-given-cookie-values"])
def test_web_cookie_seed(differ, server_cookies):
    """As shipped the servers have no `cookie` value, so nothing persists (haproxy balances each
    request, and JSESSIONID is not prefixed); with `cookie sN` on the servers, `cookie JSESSIONID
    prefix` (the seed's last cookie line wins) keeps the client on the server that started its session."""
    def check(result):
        rs = result["requests"]
        assert all(r["status"] == 200 for r in rs), rs
        assert all("x-forwarded-for" in r["x-forwarded"] and "x-forwarded-port" in r["x-forwarded"] for r in rs), rs
        servers = [r["server"] for r in rs]
        if server_cookies:
            assert len(set(servers)) == 1, servers
            assert any("~" in sc for r in rs for sc in r["set-cookie"]), rs
        else:
            assert len(set(servers)) == 3, servers
    differ(web_cookie_scenario, check, server_cookies=server_cookies)


def make_certificate(workdir):
    key, crt = workdir / "vip.key", workdir / "vip.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-subj", "/CN=vip.test", "-days", "2"],
                   check=True, capture_output=True, timeout=30)
    pem = workdir / "vip.pem"
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    return pem


def openstack_scenario(env, impl):
    servers = [env.backend(http_handler(app), name=n) for n in ("server1", "server2")]
    port = free_port()
    pem = make_certificate(env.workdir)
    text = strip_for_test(OPENSTACK.read_text())
    text = text.replace("bind 20.20.0.5:80 ssl crt /etc/wglee.pem", f"bind 127.0.0.1:{port} ssl crt {pem}")
    text = text.replace("server server1 10.0.1.3:80", f"server server1 127.0.0.1:{servers[0].port}")
    text = text.replace("server server2 10.0.1.4:80", f"server server2 127.0.0.1:{servers[1].port}")
    assert "20.20.0.5" not in text and "10.0.1." not in text, text
    env.proxy(impl, text, port, name=f"seed-vip-{impl}")
    # `option httpchk HEAD /` with `default-server check`: both servers up before browsing.
    wait_for(lambda: all(len(s.requests) > 0 for s in servers), 10, what="both servers checked")
    return {"requests": browse(port, 6, tls=True)}


def test_openstack_vip_seed_http_part(differ):
    """TLS termination, `option httpclose`, `option forwardfor`, `http-request add-header
    X-Forwarded-Proto https` and `cookie SERVERUSED insert indirect nocache`: the browser is given
    SERVERUSED once and stays on that server; the servers read X-Forwarded-For and X-Forwarded-Proto
    https and never the SERVERUSED cookie (indirect)."""
    def check(result):
        rs = result["requests"]
        assert all(r["status"] == 200 for r in rs), rs
        assert len({r["server"] for r in rs}) == 1, rs
        assert sum(1 for r in rs for sc in r["set-cookie"] if sc.startswith("SERVERUSED=")) == 1, rs
        assert all("('x-forwarded-proto', 'https')" in r["x-forwarded"] and "x-forwarded-for" in r["x-forwarded"]
                   for r in rs), rs
        assert not any("SERVERUSED" in r["cookies-read"] for r in rs), rs
    differ(openstack_scenario, check)


MODES = {"insert": "cookie SERVERID insert indirect nocache", "rewrite": "cookie SERVERID rewrite",
         "prefix": "cookie JSESSIONID prefix"}


def mode_scenario(env, impl, mode):
    servers = [env.backend(http_handler(app), name=n) for n in ("a", "b", "c")]
    port = free_port()
    text = http_cfg(port, [(s.name, s.port, f"cookie c{s.name}") for s in servers], backend_extra=MODES[mode],
                    frontend_extra="option forwardfor")
    env.proxy(impl, text, port, name=f"mode-{impl}")
    # The application starts its session on the first request, then (rewrite) names its server on the
    # second; from then on the browser's cookies hold it to that server.
    return {"requests": browse(port, 8, path="/appserverid")}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_browser_keeps_its_server_in_each_cookie_mode(differ, mode):
    def check(result):
        rs = result["requests"]
        assert all(r["status"] == 200 for r in rs), rs
        # rewrite: the first request is balanced before the application names its server.
        held = rs[1:] if mode == "rewrite" else rs
        assert len({r["server"] for r in held}) == 1, [r["server"] for r in rs]
    differ(mode_scenario, check, mode=mode)
