"""Cookie persistence, differential: `cookie NAME insert|rewrite|prefix [indirect] [nocache]
[postonly] [preserve] [httponly] [secure] [domain] [attr]` with `server ... cookie VALUE`. The same
requests through haproxy 2.6 and Fulcrum; compared are which server answered, the Cookie lines the
server read, and the Set-Cookie / Cache-Control lines the client got."""

from urllib.parse import unquote

import pytest

from harness import free_port, http_cfg, http_get, http_handler, make_response


def responder(req, conn, srv):
    """Name and Cookie lines in the body; `?setck=NAME%3DV` makes the server set a cookie,
    `?maxage` / `?lastmod` make the response cacheable."""
    headers = {"Content-Type": "text/plain"}
    target = req.target
    if "maxage" in target:
        headers["Cache-Control"] = "max-age=60"
    if "lastmod" in target:
        headers["Last-Modified"] = "Wed, 21 Oct 2015 07:28:00 GMT"
    if "setck=" in target:
        headers["Set-Cookie"] = unquote(target.split("setck=")[1].split("&")[0]) + "; path=/"
    cookies = [v for k, v in req.headers if k.lower() == "cookie"]
    return make_response(200, f"{srv.name} cookie={cookies}".encode(), headers)


MODES = {
    # name: (cookie line, [(method, path, request cookie or None)])
    "insert indirect nocache": ("cookie SRV insert indirect nocache", [
        ("GET", "/", None), ("GET", "/", "SRV=cb"), ("GET", "/", "SRV=zz"), ("GET", "/", "a=1; SRV=ca; b=2"),
        ("GET", "/?setck=SRV%3Dmine", None), ("GET", "/?maxage", None), ("GET", "/?lastmod", None),
        ("POST", "/?maxage", None), ("GET", "/?maxage", "SRV=ca")]),
    "insert (not indirect) with attributes": ("cookie SRV insert httponly secure domain .example.test attr SameSite=Lax", [
        ("GET", "/", None), ("GET", "/", "SRV=cb"), ("GET", "/", "other=1; SRV=ca")]),
    "insert postonly preserve": ("cookie SRV insert postonly preserve indirect", [
        ("GET", "/", None), ("POST", "/", None), ("POST", "/?setck=SRV%3D", None), ("POST", "/", "SRV=cb")]),
    "prefix (the web-cookie seed's JSESSIONID)": ("cookie JSESSIONID prefix", [
        ("GET", "/?setck=JSESSIONID%3Dabc", None), ("GET", "/", "JSESSIONID=cb~abc"), ("GET", "/", "JSESSIONID=abc"),
        ("GET", "/", "x=1; JSESSIONID=ca~q1; y=2"), ("GET", "/", None)]),
    "rewrite (the web-cookie seed's SERVERID)": ("cookie SERVERID rewrite", [
        ("GET", "/?setck=SERVERID%3Dxyz", None), ("GET", "/", "SERVERID=cb"), ("GET", "/", None),
        ("GET", "/?setck=OTHER%3D1", None)]),
}


def config(port, servers, cookie_line):
    return http_cfg(port, [("a", servers[0], "cookie ca"), ("b", servers[1], "cookie cb")], backend_extra=cookie_line)


def scenario(env, impl, name):
    cookie_line, requests = MODES[name]
    servers = [env.backend(http_handler(responder), name=n).port for n in ("a", "b")]
    port = free_port()
    env.proxy(impl, config(port, servers, cookie_line), port, name=f"ck-{impl}")
    out = []
    for method, path, cookie in requests:
        headers = {"Cookie": cookie} if cookie else {}
        r = http_get(port, path, headers=headers, method=method, body=b"x" if method == "POST" else b"")
        assert r is not None and r.status == 200, (method, path)
        out.append({"request": f"{method} {path} {cookie}", "body": r.body.decode(),
                    "set-cookie": [v for k, v in r.headers if k.lower() == "set-cookie"],
                    "cache-control": [v for k, v in r.headers if k.lower() == "cache-control"]})
    return {"responses": out}


@pytest.mark.parametrize("name", sorted(MODES))
def test_cookie_modes(differ, name):
    def check(result):
        assert any(x["set-cookie"] for x in result["responses"]), result
    differ(scenario, check, name=name)


def test_a_browser_keeps_its_server_and_leaves_a_down_one(differ):
    """A client that keeps the cookie it is given stays on its server across requests (round robin
    would alternate); when that server stops answering checks, it is balanced elsewhere and gets a
    new cookie."""
    from harness import wait_for

    def run(env, impl):
        servers = [env.backend(http_handler(responder), name=n) for n in ("a", "b")]
        port = free_port()
        text = config(port, [s.port for s in servers], "cookie SERVERUSED insert indirect nocache")
        text = text.replace("cookie ca", "cookie ca check inter 100 fall 1 rise 1").replace("cookie cb", "cookie cb check inter 100 fall 1 rise 1")
        env.proxy(impl, text, port, name=f"ckb-{impl}")
        jar = None
        seen = []
        for i in range(6):
            r = http_get(port, "/", headers={"Cookie": jar} if jar else {})
            sc = [v for k, v in r.headers if k.lower() == "set-cookie"]
            if sc:
                jar = sc[0].split(";")[0]
            seen.append((r.body.decode().split(" ")[0], jar))
        first = seen[0][0]
        # The server holding the client goes away: its port stops accepting.
        down = servers[0] if first == "a" else servers[1]
        down.stop()
        wait_for(lambda: http_get(port, "/", headers={"Cookie": jar}).body.decode().split(" ")[0] != first, 10,
                 what="the client moved to the other server")
        r = http_get(port, "/", headers={"Cookie": jar})
        sc = [v for k, v in r.headers if k.lower() == "set-cookie"]
        return {"stayed": seen, "after": (r.body.decode().split(" ")[0] != first, [c.split(";")[0] != jar for c in sc])}

    def check(result):
        names = {s for s, _ in result["stayed"]}
        assert len(names) == 1, result
        assert result["after"] == (True, [True]), result
    differ(run, check)
