#!/usr/bin/env python3
"""The rule engine's micro-benchmark: ACL evaluation and header rewriting in-process, no sockets.

Runs `fulcrum-rules-bench` (bench/rules-micro, built with the package) on the keep-alive bench's
`http-rules` frontend (5 rules, use_backend, cookie insert) over four request heads, pinned to one
core, a few rounds; prints the median ns per request of each phase. With --count (needs perf and
root: uprobes on malloc and swift_retain), also prints the allocations and retains per request,
the steady figures on a shared machine: they come from the difference of a run with N
iterations and one with none, so start-up does not count.

    swift build -c release --product fulcrum-rules-bench
    python3 bench/rules_micro.py [--rounds 5] [-n 200000] [--count]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CONFIG = """defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_rules
    bind 127.0.0.1:1
    acl is_api path_beg /api
    acl is_static path_end .css .js
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request add-header X-Forwarded-Proto http
    http-request deny if { path_beg /admin } !LOCALHOST
    http-request set-header X-Route api if is_api
    use_backend be_rules if !is_static
    default_backend be_http
backend be_rules
    cookie SERVERID insert indirect nocache
    server s1 127.0.0.1:1 cookie s1
backend be_http
    server s2 127.0.0.1:1
"""

PROBES = ("probe_libc:malloc", "probe_libswiftCore:swift_retain")


def run(binary, cfg, n, pin=True):
    cmd = (["taskset", "-c", "0"] if pin else []) + [binary, "-f", cfg, "-F", "fe_rules", "-n", str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    figures = {}
    for line in out.splitlines():
        name, count, ns = line.split()
        figures[name] = (int(count), float(ns))
    return figures


def counts(binary, cfg, n):
    """Per request and phase: allocations and retains (uprobes; None when perf cannot)."""
    def stat(iterations):
        with tempfile.NamedTemporaryFile("r", suffix=".txt") as f:
            r = subprocess.run(["perf", "stat", "-x,", "-e", ",".join(PROBES), "-o", f.name, binary, "-f", cfg,
                                "-F", "fe_rules", "-n", str(iterations)], capture_output=True, text=True)
            if r.returncode != 0:
                return None
            values = {}
            for line in f.read().splitlines():
                parts = line.split(",")
                if len(parts) > 2 and parts[2] in PROBES and parts[0].isdigit():
                    values[parts[2]] = int(parts[0])
            return values if len(values) == len(PROBES) else None
    base, loaded = stat(0), stat(n)
    if base is None or loaded is None:
        return None
    requests = n * 4 * 2  # four heads, two phases
    return {p: (loaded[p] - base[p]) / requests for p in PROBES}


def ensure_probes():
    for probe, lib, fn in (("probe_libc:malloc", "/lib/x86_64-linux-gnu/libc.so.6", "malloc"),):
        subprocess.run(["perf", "probe", "-q", "-x", lib, "--add", fn], capture_output=True)
    for path in ("/opt/swift/usr/lib/swift/linux/libswiftCore.so", "/usr/lib/swift/linux/libswiftCore.so"):
        if os.path.exists(path):
            subprocess.run(["perf", "probe", "-q", "-x", path, "--add", "swift_retain"], capture_output=True)
            break


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / ".build/release/fulcrum-rules-bench"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=200000, help="iterations over the four heads per phase")
    ap.add_argument("--count", action="store_true", help="also count allocations and retains (perf uprobes)")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"no binary at {args.bin}: swift build -c release --product fulcrum-rules-bench")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "rules.cfg")
        Path(cfg).write_text(CONFIG)
        samples = {}
        for _ in range(args.rounds):
            for name, (_, ns) in run(args.bin, cfg, args.n).items():
                samples.setdefault(name, []).append(ns)
        for name, values in samples.items():
            print(f"{name:28s} median {statistics.median(values):8.1f} ns/request  (rounds: {', '.join(f'{v:.0f}' for v in values)})")
        if args.count:
            ensure_probes()
            c = counts(args.bin, cfg, 5000)
            if c is None:
                print("allocation counts: perf uprobes unavailable (needs perf and root)")
            else:
                print(f"per request and phase: {c['probe_libc:malloc']:.2f} mallocs, {c['probe_libswiftCore:swift_retain']:.1f} swift_retain")


if __name__ == "__main__":
    main()
