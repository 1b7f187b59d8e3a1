"""HTTP rules, differential (the first slice of the rule engine): `http-request set-header`,
`add-header` and `del-header` in frontends and backends, with log-format values (`%[dst_port]`,
`%[src]`, converters, `%ci`). The request the server reads is compared with haproxy's; the
dst_port-dependent values are checked against each proxy's own port."""

import pytest

from harness import http_cfg, http_handler, http_get, make_response, free_port

SCENARIOS = {
    # name: (frontend lines, backend lines, request headers)
    "web-cookie seed: set X-Forwarded-Port": ([], ["http-request set-header X-Forwarded-Port %[dst_port]"], {}),
    "openstack seed: add X-Forwarded-Proto (kept with the client's)": (
        ["http-request add-header X-Forwarded-Proto https"], [], {"X-Forwarded-Proto": "http"}),
    "set replaces every occurrence": (["http-request set-header X-Test %[src]"], [], {"X-Test": "a", "x-test": "b"}),
    "del-header": (["http-request del-header X-Secret"], [], {"X-Secret": "s3cr3t", "X-Keep": "1"}),
    "frontend then backend, add then del": (
        ["http-request add-header X-Seq fe"], ["http-request add-header X-Seq be", "http-request del-header X-Seq"], {}),
    "set after add keeps one": (["http-request add-header X-A 1", "http-request set-header X-A 2"], [], {"X-A": "0"}),
    "values with samples and converters": (
        ["http-request set-header X-Info \"%[src] %[fe_name] %[str(abc),upper,base64] %[dst_port,add(1000)]\""],
        ["http-request set-header X-Be %[be_name],%[fe_name]"], {}),
    "log variables": (["http-request set-header X-Client %ci"], [], {}),
    "with forwardfor": (["option forwardfor", "http-request set-header X-Forwarded-For fake"], [], {}),
}


def rules_config(port, server_port, fe, be):
    return http_cfg(port, [server_port], frontend_extra="\n".join(fe), backend_extra="\n".join(be))


def scenario(env, impl, name):
    fe, be, headers = SCENARIOS[name]
    b = env.backend(http_handler(lambda req, conn, srv: make_response(200, b"ok")), name="rules")
    port = free_port()
    env.proxy(impl, rules_config(port, b.port, fe, be), port, name=f"rules-{impl}")
    r = http_get(port, "/x?y=1", headers=headers)
    assert r is not None and r.status == 200
    req = b.requests[-1]
    # Header names compared in lowercase (haproxy writes them so); values with this proxy's port
    # masked; the order of the lines kept (rules add at the end, before X-Forwarded-For).
    seen = [(k.lower(), v.replace(str(port), "PORT").replace(str(port + 1000), "PORT+1000")) for k, v in req.headers]
    return {"headers": seen, "port_rule": [v for k, v in req.headers if k.lower() == "x-forwarded-port"] == [str(port)]
            if "X-Forwarded-Port" in name else True}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_header_rules(differ, name):
    def check(result):
        assert result["port_rule"]
    differ(scenario, check, name=name)
