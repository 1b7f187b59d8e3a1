"""pytest fixtures for the Fulcrum end-to-end suite.

Implementations: `haproxy` (the reference) and `fulcrum` ($FULCRUM_BIN, default
<repo>/.build/release/fulcrum). Choose with `--impls haproxy` or IMPLS=haproxy.
A missing fulcrum binary makes the fulcrum tests FAIL (never skip).
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import harness
from harness import ALL_IMPLS, Backend, Proxy, compare, free_port


def pytest_addoption(parser):
    parser.addoption("--impls", default=None,
                     help="comma-separated implementations to test (haproxy,fulcrum); env IMPLS")


def selected_impls(config):
    raw = config.getoption("--impls") or os.environ.get("IMPLS") or ",".join(ALL_IMPLS)
    impls = [x.strip() for x in raw.split(",") if x.strip()]
    for x in impls:
        if x not in ALL_IMPLS:
            raise pytest.UsageError(f"unknown implementation {x!r} (choose from {ALL_IMPLS})")
    return impls


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slower tests (run by default)")
    config.addinivalue_line("markers", "fulcrum_only: tests of the fulcrum CLI, not differential")


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames:
        metafunc.parametrize("impl", selected_impls(metafunc.config))


def pytest_collection_modifyitems(config, items):
    if "fulcrum" not in selected_impls(config):
        skip = pytest.mark.skip(reason="fulcrum not selected (IMPLS)")
        for it in items:
            if it.get_closest_marker("fulcrum_only"):
                it.add_marker(skip)


class Env:
    """Backends and proxies of one scenario run; everything is stopped by close()."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.backends = []
        self.proxies = []

    def backend(self, handler, name="b") -> Backend:
        b = Backend(handler, name)
        self.backends.append(b)
        return b

    def proxy(self, impl, cfg_text, port, name="proxy", wait_port=True) -> Proxy:
        p = Proxy(impl, cfg_text, self.workdir, port, name=name, wait_port=wait_port)
        self.proxies.append(p)
        return p

    def close(self):
        for p in self.proxies:
            p.stop()
        for b in self.backends:
            b.stop()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.close()


_reference_cache = {}


@pytest.fixture
def differ(impl, tmp_path, request):
    """differ(scenario, check=None, **kw): run scenario(env, impl, **kw) -> dict.

    For haproxy: run it and apply check() (the absolute expectations verified
    against haproxy). For fulcrum: run haproxy as the reference too (cached per
    scenario), compare the two results (readable diff), then apply check().
    """
    def run(scenario, check=None, **kw):
        def one(which):
            d = Path(tempfile.mkdtemp(prefix=f"{which}-", dir=tmp_path))
            e = Env(d)
            try:
                return scenario(e, which, **kw)
            finally:
                e.close()

        key = (scenario.__module__, scenario.__qualname__, repr(sorted(kw.items())))
        if key not in _reference_cache:
            _reference_cache[key] = one("haproxy")
        ref = _reference_cache[key]
        if check:
            check(ref)  # if this fails the reference itself is off: a test bug
        if impl == "haproxy":
            return ref
        got = one(impl)
        diffs = compare(ref, got)
        if len(diffs) > 40:
            diffs = diffs[:40] + [f"... and {len(diffs) - 40} more differences"]
        assert not diffs, "fulcrum differs from haproxy:\n  " + "\n  ".join(diffs)
        if check:
            check(got)
        return got
    return run


@pytest.fixture
def fulcrum_binary():
    """Path of the fulcrum binary (test_cli's run() fails the test if it is missing)."""
    return harness.fulcrum_bin()
