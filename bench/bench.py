#!/usr/bin/env python3
"""Fulcrum vs HAProxy side-by-side benchmark (driven by bench/run.sh).

For each workload and round, runs direct-to-backend, fulcrum and haproxy in
turn (alternating, so drift hits all alike). The proxy runs on CPU 0 with
nbthread 1; nginx (the backend) and the load generator run on CPU 1. Per run:
rate, p50/p99 latency (wrk --latency), the proxy's CPU time per request
(utime+stime from /proc/PID/stat), peak RSS (VmHWM) and, when perf works,
syscalls per request. Prints medians and fulcrum/haproxy ratios and writes
bench/results/latest.md. Everything listens on 127.0.0.1 only.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
WORKLOADS = ["http-keepalive", "http-close", "http-1m", "tcp-bulk", "http-log-stuck", "h2c", "grpc-unary", "http-rules"]
IMPLS = ["direct", "fulcrum", "haproxy"]


_given_ports = set()


def free_port():
    """A free loopback port, never one already handed out in this run (the kernel may give the
    same ephemeral port twice once the probing socket is closed)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def listening(port):
    want = f":{port:04X}"
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[1].endswith(want) and p[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if listening(port):
            return True
        time.sleep(0.02)
    return False


def stop(proc, timeout=5.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def perf_works():
    if not shutil.which("perf"):
        return False
    try:
        r = subprocess.run(["perf", "stat", "-e", "raw_syscalls:sys_enter", "--", "true"],
                           capture_output=True, timeout=20)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def to_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    if not m:
        return None
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v if m.group(2) == "ms" else v * 1000


def parse_wrk(out):
    res = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rate"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{pct}"] = to_ms(m.group(1)) if m else None
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] = (errs.group(1) if errs else "") + (f" non2xx={non2xx.group(1)}" if non2xx else "")
    return res


def parse_h2load(out, duration):
    """h2load's summary: rate from succeeded requests over the run (h2load reports no latency
    percentiles, so p50/p99 stay empty), errors = failed + non-2xx."""
    res = {"rate": None, "requests": 0, "p50": None, "p99": None, "errors": ""}
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if not m:
        res["errors"] = "h2load output not understood: " + out.strip()[-200:]
        return res
    succeeded, failed = int(m.group(3)), int(m.group(4))
    m2 = re.search(r"finished in ([\d.]+)(ms|s),", out)
    elapsed = float(m2.group(1)) / (1000 if m2 and m2.group(2) == "ms" else 1) if m2 else duration
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    bad = sum(int(x) for x in codes.groups()[1:]) if codes else 0
    res["requests"] = succeeded
    res["rate"] = succeeded / elapsed if elapsed > 0 else None
    if failed or bad:
        res["errors"] = f"failed={failed} non2xx={bad}"
    return res


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="fulcrum-bench-"))
        os.chmod(self.tmp, 0o755)
        self.nginx_port = free_port()
        self.http_port = free_port()
        self.tcp_port = free_port()
        # `h2c`: h2load, many streams on few connections, through `bind proto h2` to nginx's h2c
        # listener (`server proto h2`); `grpc-unary`: gRPC-framed POSTs from h2load to a grpcio server.
        self.nginx_h2_port = free_port()
        self.h2_port = free_port()
        self.grpc_port = free_port()
        self.grpc_backend_port = free_port()
        self.grpc_server = None
        # `http-log-stuck`: keep-alive through a frontend whose `option httplog` goes to a unix
        # datagram socket nobody reads (its buffer fills: every further line must be dropped).
        self.log_port = free_port()
        self.rules_port = free_port()
        self.stuck_path = self.tmp / "stuck-log.sock"
        self.stuck = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.stuck.bind(str(self.stuck_path))
        os.chmod(self.stuck_path, 0o777)
        self.perf = perf_works() if not args.no_perf else False
        self.nginx = None
        self.fulcrum = args.fulcrum_bin
        self.results = []  # dicts

    # -------------------------------------------------------------- backend
    def start_nginx(self):
        www = self.tmp / "www"
        www.mkdir()
        (www / "1m").write_bytes(os.urandom(1 << 20))
        with open(www / "100m", "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(100):
                f.write(block)
        conf = self.tmp / "nginx.conf"
        conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.tmp}/cb;
    proxy_temp_path {self.tmp}/pt;
    fastcgi_temp_path {self.tmp}/ft;
    uwsgi_temp_path {self.tmp}/ut;
    scgi_temp_path {self.tmp}/st;
    keepalive_requests 1000000;
    sendfile on;
    server {{
        listen 127.0.0.1:{self.nginx_port} backlog=4096;
        root {www};
        location = / {{ default_type text/plain; return 200 "ok"; }}
    }}
    server {{
        listen 127.0.0.1:{self.nginx_h2_port} http2 backlog=4096;
        http2_max_requests 10000000;
        root {www};
        location = / {{ default_type text/plain; return 200 "ok"; }}
    }}
}}
""")
        self.nginx = subprocess.Popen(["taskset", "-c", "1", "nginx", "-c", str(conf)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=open(self.tmp / "nginx.stderr", "wb"))
        if not wait_listening(self.nginx_port, self.nginx):
            sys.exit(f"nginx did not start: {(self.tmp / 'nginx.stderr').read_text()}")
        if "grpc-unary" in self.args.only:
            self.grpc_server = subprocess.Popen(
                ["taskset", "-c", "1", sys.executable, str(REPO / "tests" / "grpc_tts.py"), "tts1",
                 str(self.grpc_backend_port), "3600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not wait_listening(self.grpc_backend_port, self.grpc_server):
                sys.exit("the grpcio server did not start (pip install grpcio)")
            # one gRPC message: 5-byte prefix (uncompressed, length) + payload
            payload = b"hello"
            (self.tmp / "grpc-body").write_bytes(b"\x00" + len(payload).to_bytes(4, "big") + payload)

    # -------------------------------------------------------------- proxies
    def proxy_cfg(self):
        return f"""global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_http
    bind 127.0.0.1:{self.http_port}
    default_backend be_http
backend be_http
    server nginx 127.0.0.1:{self.nginx_port}
frontend fe_tcp
    mode tcp
    bind 127.0.0.1:{self.tcp_port}
    default_backend be_tcp
backend be_tcp
    mode tcp
    server nginx 127.0.0.1:{self.nginx_port}
frontend fe_h2
    bind 127.0.0.1:{self.h2_port} proto h2
    default_backend be_h2
backend be_h2
    server nginx 127.0.0.1:{self.nginx_h2_port} proto h2
frontend fe_grpc
    bind 127.0.0.1:{self.grpc_port} proto h2
    default_backend be_grpc
backend be_grpc
    server tts1 127.0.0.1:{self.grpc_backend_port} proto h2
frontend fe_log
    bind 127.0.0.1:{self.log_port}
    option httplog
    log {self.stuck_path} local0
    default_backend be_http
# http-rules: keep-alive with 5 rules (4 http-request, 1 use_backend) and a cookie insert
frontend fe_rules
    bind 127.0.0.1:{self.rules_port}
    acl is_api path_beg /api
    acl is_static path_end .css .js
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request add-header X-Forwarded-Proto http
    http-request deny if {{ path_beg /admin }} !LOCALHOST
    http-request set-header X-Route api if is_api
    use_backend be_rules if !is_static
    default_backend be_http
backend be_rules
    cookie SERVERID insert indirect nocache
    server nginx 127.0.0.1:{self.nginx_port} cookie s1
"""

    def start_proxy(self, impl):
        cfg = self.tmp / f"{impl}.cfg"
        cfg.write_text(self.proxy_cfg())
        binary = self.fulcrum if impl == "fulcrum" else "haproxy"
        if impl == "fulcrum" and not os.path.exists(binary):
            return None, f"no binary at {binary}"
        errf = open(self.tmp / f"{impl}.stderr", "wb")
        try:
            proc = subprocess.Popen(["taskset", "-c", "0", binary, "-db", "-f", str(cfg)],
                                    stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        except OSError as e:
            return None, str(e)
        ok = wait_listening(self.http_port, proc) and wait_listening(self.tcp_port, proc)
        if not ok:
            stop(proc)
            tail = (self.tmp / f"{impl}.stderr").read_text(errors="replace").strip().splitlines()[-2:]
            return None, f"did not listen (exit {proc.returncode}): {' / '.join(tail)}"
        return proc, None

    # -------------------------------------------------------------- load
    def load(self, workload, port):
        d = self.args.duration
        base = ["taskset", "-c", "1"]
        if workload == "tcp-bulk":
            n = 0
            nbytes = 0
            t0 = time.monotonic()
            # downloads of 100 MiB until the duration is used (at least one)
            while n == 0 or time.monotonic() - t0 < d:
                r = subprocess.run(base + ["curl", "-sS", "-o", "/dev/null", "--max-time", "60", "-w",
                                           "%{size_download} %{http_code}",
                                           f"http://127.0.0.1:{port}/100m"],
                                   capture_output=True, text=True, timeout=90)
                parts = r.stdout.split()
                if r.returncode != 0 or len(parts) != 2 or parts[1] != "200":
                    return {"rate": None, "requests": n, "errors": f"curl rc={r.returncode} {r.stderr.strip()}"}
                nbytes += int(parts[0])
                n += 1
            el = time.monotonic() - t0
            return {"rate": nbytes / el / 1e6, "requests": n, "bytes": nbytes, "p50": None, "p99": None,
                    "errors": ""}
        if workload in ("h2c", "grpc-unary"):
            cmd = base + ["h2load", "-D", str(d), "-c", "4", "-m", "16", "-t", "1"]
            if workload == "grpc-unary":
                cmd += ["-d", str(self.tmp / "grpc-body"), "-H", "content-type: application/grpc", "-H", "te: trailers",
                        f"http://127.0.0.1:{port}/maum.brain.tts.NgTtsService/Echo"]
            else:
                cmd.append(f"http://127.0.0.1:{port}/")
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=d + 60)
            return parse_h2load(r.stdout, d)
        path = "/1m" if workload == "http-1m" else "/"
        conns = "10" if workload == "http-1m" else "50"
        cmd = base + ["wrk", "-t1", f"-c{conns}", f"-d{d}s", "--latency", "--timeout", "5s"]
        if workload == "http-close":
            cmd += ["-H", "Connection: close"]
        cmd.append(f"http://127.0.0.1:{port}{path}")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=d + 60)
        res = parse_wrk(r.stdout)
        if r.returncode != 0:
            res["errors"] += f" wrk rc={r.returncode} {r.stderr.strip()[:100]}"
        return res

    def run_one(self, workload, impl, rnd):
        row = {"workload": workload, "impl": impl, "round": rnd}
        proc = None
        if impl == "direct":
            port = {"h2c": self.nginx_h2_port, "grpc-unary": self.grpc_backend_port}.get(workload, self.nginx_port)
        else:
            proc, err = self.start_proxy(impl)
            if proc is None:
                row["failed"] = err
                return row
            port = {"tcp-bulk": self.tcp_port, "http-log-stuck": self.log_port, "h2c": self.h2_port,
                    "http-rules": self.rules_port,
                    "grpc-unary": self.grpc_port}.get(workload, self.http_port)
        perf = None
        perf_out = self.tmp / f"perf-{impl}-{workload}-{rnd}.txt"
        try:
            if proc is not None:
                t0 = cpu_ticks(proc.pid)
                if self.perf:
                    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p",
                                             str(proc.pid), "-o", str(perf_out)],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                    time.sleep(0.2)  # let perf attach (bounded, once per run)
            res = self.load(workload, port)
            row.update(res)
            if proc is not None:
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    try:
                        perf.wait(10)
                    except subprocess.TimeoutExpired:
                        perf.kill()
                        perf.wait(5)
                    perf = None
                if proc.poll() is not None:
                    row["failed"] = f"proxy exited with {proc.returncode} during the run"
                    return row
                ticks = cpu_ticks(proc.pid) - t0
                units = res.get("requests") or 0
                if workload == "tcp-bulk":
                    units = (res.get("bytes") or 0) / (1 << 20)  # per MiB
                if units:
                    row["cpu_us"] = ticks / CLK_TCK * 1e6 / units
                row["rss_mib"] = (vm_hwm_kib(proc.pid) or 0) / 1024
                if self.perf and perf_out.exists():
                    m = re.search(r"^([\d.]+),.*raw_syscalls:sys_enter", perf_out.read_text(), re.M)
                    if m and units:
                        row["syscalls"] = float(m.group(1)) / units
            if not res.get("rate"):
                row["failed"] = row.get("failed") or f"no result ({res.get('errors', '').strip()})"
        finally:
            if perf is not None:
                perf.kill()
                perf.wait(5)
            stop(proc)
        return row

    def run(self):
        self.start_nginx()
        try:
            for w in self.args.only:
                for rnd in range(1, self.args.rounds + 1):
                    for impl in self.args.impls:
                        row = self.run_one(w, impl, rnd)
                        self.results.append(row)
                        print(fmt_row(row), flush=True)
        finally:
            stop(self.nginx)
            stop(self.grpc_server)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def fmt_row(r):
    if r.get("failed"):
        return f"  {r['workload']:15} {r['impl']:8} round {r['round']}: FAILED: {r['failed']}"
    return (f"  {r['workload']:15} {r['impl']:8} round {r['round']}: rate={fmt(r.get('rate'))} "
            f"p50={fmt(r.get('p50'), 3)}ms p99={fmt(r.get('p99'), 3)}ms cpu={fmt(r.get('cpu_us'), 2)}us "
            f"rss={fmt(r.get('rss_mib'))}MiB syscalls={fmt(r.get('syscalls'), 2)} {r.get('errors', '').strip()}")


METRICS = [("rate", "rate", 1), ("p50", "p50 ms", 3), ("p99", "p99 ms", 3), ("cpu_us", "CPU µs/unit", 2),
           ("rss_mib", "peak RSS MiB", 1), ("syscalls", "syscalls/unit", 2)]


def median_of(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None and not r.get("failed")]
    return statistics.median(vals) if vals else None


def report(bench, args):
    lines = ["# Fulcrum vs HAProxy benchmark", "",
             f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
             f"- haproxy: {subprocess.run(['haproxy', '-v'], capture_output=True, text=True).stdout.splitlines()[0]}",
             f"- fulcrum: {args.fulcrum_bin}",
             f"- rounds: {args.rounds}, duration {args.duration}s per run; proxy on CPU 0 (nbthread 1), "
             "nginx + load generator on CPU 1",
             f"- perf syscalls: {'yes' if bench.perf else 'not available'}",
             "- units: rate is req/s (wrk), MB/s for tcp-bulk (100 MiB curl downloads); CPU µs and "
             "syscalls are per request, per MiB for tcp-bulk; medians over rounds", ""]
    header = "| workload | impl | " + " | ".join(m[1] for m in METRICS) + " | ok runs |"
    lines += [header, "|" + "---|" * (len(METRICS) + 3)]
    ratios = []
    for w in args.only:
        meds = {}
        for impl in args.impls:
            rows = [r for r in bench.results if r["workload"] == w and r["impl"] == impl]
            ok = [r for r in rows if not r.get("failed")]
            meds[impl] = {k: median_of(rows, k) for k, _, _ in METRICS}
            cells = [fmt(meds[impl][k], nd) for k, _, nd in METRICS]
            lines.append(f"| {w} | {impl} | " + " | ".join(cells) + f" | {len(ok)}/{len(rows)} |")
        if "fulcrum" in meds and "haproxy" in meds:
            cells = []
            for k, _, _ in METRICS:
                a, b = meds["fulcrum"][k], meds["haproxy"][k]
                cells.append(f"{a / b:.2f}" if a is not None and b else "-")
            ratios.append(f"| {w} | " + " | ".join(cells) + " |")
    lines += ["", "## fulcrum / haproxy (medians)", "",
              "| workload | " + " | ".join(m[1] for m in METRICS) + " |", "|" + "---|" * (len(METRICS) + 1)]
    lines += ratios
    if "http-log-stuck" in args.only and "http-keepalive" in args.only:
        lines += ["", "## a log sink that never reads (http-log-stuck / http-keepalive req/s, same impl)", ""]
        for impl in args.impls:
            if impl == "direct":
                continue
            a = median_of([r for r in bench.results if r["workload"] == "http-log-stuck" and r["impl"] == impl], "rate")
            b = median_of([r for r in bench.results if r["workload"] == "http-keepalive" and r["impl"] == impl], "rate")
            lines.append(f"- {impl}: {a / b:.3f}" if a and b else f"- {impl}: -")
    fails = [r for r in bench.results if r.get("failed")]
    if fails:
        lines += ["", "## failed runs", ""] + [f"- {r['workload']} {r['impl']} round {r['round']}: {r['failed']}"
                                                for r in fails]
    text = "\n".join(lines) + "\n"
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(text)
    print()
    print(text)
    print(f"written to {out / 'latest.md'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s per run")
    ap.add_argument("--only", default=None, help=f"comma list of workloads: {','.join(WORKLOADS)}")
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma list of direct,fulcrum,haproxy")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--duration", type=int, default=None, help="seconds per run (default 10, quick 3)")
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--fulcrum-bin", default=os.environ.get("FULCRUM_BIN", str(REPO / ".build/release/fulcrum")))
    args = ap.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3 if args.quick else 10)
    args.only = [w.strip() for w in (args.only or ",".join(WORKLOADS)).split(",") if w.strip()]
    args.impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    for w in args.only:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}; choose from {WORKLOADS}")
    for tool in ("wrk", "nginx", "haproxy", "curl", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"missing tool: {tool} (apt-get install -y wrk nginx-light haproxy curl util-linux)")
    if os.cpu_count() < 2:
        sys.exit("needs 2 CPUs (proxy on CPU 0, load on CPU 1)")
    b = Bench(args)
    print(f"bench: workloads={args.only} impls={args.impls} rounds={args.rounds} duration={args.duration}s "
          f"perf={'yes' if b.perf else 'no'} tmp={b.tmp}", flush=True)
    try:
        b.run()
        report(b, args)
    finally:
        b.cleanup()
    ok = any(not r.get("failed") for r in b.results if r["impl"] == "haproxy")
    return 0 if ok or "haproxy" not in args.impls else 1


if __name__ == "__main__":
    sys.exit(main())
