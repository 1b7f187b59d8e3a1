"""Issue 7's acceptance asks that every fetch, converter and action it lists appears in at least one
differential scenario (haproxy and Fulcrum, same config, compared). This guard reads the other test
files and fails when one of the listed keywords no longer appears in any of them, so a scenario cannot
be dropped silently. It does not run traffic: the scenarios themselves do."""

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

FETCHES = ("src src_port dst dst_port fe_name be_name srv_name srv_id method path query url uri base url_param "
           "req.hdr hdr req.hdr_cnt req.fhdr req.cook cook req.body res.hdr res.cook status ssl_fc ssl_fc_sni "
           "req.ssl_sni nbsrv srv_is_up be_conn fe_conn queue avg_queue connslots date env var http_auth "
           "unique-id").split()
CONVERTERS = ("lower upper length base64 b64dec hex json map map_str map_beg map_reg field word regsub bytes "
              "ipmask add sub mul div mod and or concat sdbm crc32 xxh3 set-var").split()
ACTIONS = ["use_backend", "use-server", "set-header", "add-header", "del-header", "replace-header", "replace-value",
           "set-path", "set-pathq", "set-query", "set-uri", "set-method", "redirect", "deny_status", "allow",
           "tarpit", "return", "auth", "set-var", "unset-var", "capture", "set-log-level", "set-timeout",
           "normalize-uri", "wait-for-body", "set-status", "http-after-response", "tcp-request connection",
           "tcp-request content", "inspect-delay", "tcp-response content", "userlist", "monitor-uri",
           "option forwardfor", "http-errors", "force-persist", "ignore-persist", "option persist", "option redispatch",
           "insert", "rewrite", "prefix", "indirect", "nocache", "postonly", "preserve", "httponly", "secure",
           "domain", "maxidle", "maxlife", "dynamic", "attr", "stick-table", "stick on", "stick match",
           "stick store-request", "stick store-response", "track-sc0", "sc_http_req_rate"]


def sources():
    return {p.name: p.read_text() for p in HERE.glob("test_*.py") if p.name != Path(__file__).name}


def uses(pattern):
    return [name for name, text in sources().items() if re.search(pattern, text)]


@pytest.mark.parametrize("fetch", FETCHES)
def test_fetch_has_a_scenario(fetch):
    assert uses(r"(?<![\w.\-])" + re.escape(fetch) + r"(?=[\s(,\]}|\"']|$)"), f"no scenario uses the fetch {fetch}"


@pytest.mark.parametrize("converter", CONVERTERS)
def test_converter_has_a_scenario(converter):
    assert uses(r"," + re.escape(converter) + r"(?=[\s(,\]}|\"']|$)"), f"no scenario uses the converter {converter}"


@pytest.mark.parametrize("action", ACTIONS)
def test_action_has_a_scenario(action):
    assert uses(re.escape(action)), f"no scenario uses {action}"
