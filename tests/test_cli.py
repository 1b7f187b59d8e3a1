"""fulcrum's command line (-c, -v): not differential, fulcrum only."""
import glob
import os
import subprocess

import pytest

from harness import REPO, SEEDS

pytestmark = pytest.mark.fulcrum_only

SEED_FILES = sorted(glob.glob(str(SEEDS / "*.cfg")))


def run(binary, *args, timeout=20, cwd=None):
    if binary != "haproxy" and not os.path.exists(binary):
        pytest.fail(f"fulcrum binary not found at {binary} (set FULCRUM_BIN or run swift build -c release)",
                    pytrace=False)
    p = subprocess.run([binary, *args], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       cwd=cwd)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def test_seed_configs_present():
    assert SEED_FILES, f"no seed configs found in {SEEDS}"


@pytest.mark.parametrize("path", SEED_FILES, ids=[os.path.basename(p) for p in SEED_FILES])
def test_check_seed_config(fulcrum_binary, path):
    rc, out = run(fulcrum_binary, "-c", "-f", path)
    assert rc in (0, 1), f"exit code {rc} (signal or crash?)\n{out}"
    assert "unknown keyword" not in out.lower(), out
    name = os.path.basename(path)
    if name == "legacy-reqadd.cfg":
        assert rc != 0, out
        assert ":13" in out, out
        assert "http-request add-header" in out, out
    if name.startswith("tts-grpc"):
        assert rc == 0, out  # HTTP/2 (h2c) both sides: the seeds load as they are
    if name == "tts-grpc.cfg":
        warn = [ln for ln in out.splitlines() if "http-use-htx" in ln]
        assert warn and any("WARNING" in ln.upper() for ln in warn), out


VALID = """\
global
    nbthread 1
    maxconn 100
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    option forwardfor
frontend fe
    bind 127.0.0.1:18080
    default_backend be
backend be
    balance {balance}
    server s1 127.0.0.1:18081 weight 1 maxconn 10
    server s2 127.0.0.1:18082 weight 2 backup
"""


def test_check_valid_config(fulcrum_binary, tmp_path):
    cfg = tmp_path / "ok.cfg"
    cfg.write_text(VALID.format(balance="roundrobin"))
    rc, out = run(fulcrum_binary, "-c", "-f", str(cfg))
    assert rc == 0, out
    assert "Configuration file is valid" in out


def test_check_valid_config_matches_haproxy(fulcrum_binary, tmp_path):
    cfg = tmp_path / "ok.cfg"
    cfg.write_text(VALID.format(balance="roundrobin"))
    rc_h, out_h = run("haproxy", "-c", "-f", str(cfg))
    rc_f, out_f = run(fulcrum_binary, "-c", "-f", str(cfg))
    assert rc_h == rc_f == 0, (out_h, out_f)


def test_check_typo_suggests(fulcrum_binary, tmp_path):
    cfg = tmp_path / "typo.cfg"
    cfg.write_text(VALID.format(balance="roundrobin").replace("balance roundrobin", "balnce roundrobin"))
    rc, out = run(fulcrum_binary, "-c", "-f", str(cfg))
    assert rc == 1, out
    assert "balance" in out.replace("balnce", ""), out


def test_version(fulcrum_binary):
    rc, out = run(fulcrum_binary, "-v")
    assert rc == 0, out
    first = out.strip().splitlines()[0]
    assert "version" in first.lower(), out
