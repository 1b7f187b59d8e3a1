#!/usr/bin/env bash
# Side-by-side benchmark: direct-to-nginx, fulcrum and haproxy, alternating run
# by run. Results: bench/results/latest.md.
#
#   bench/run.sh                      # all workloads, 3 rounds x 10 s
#   bench/run.sh --quick              # 1 round x 3 s
#   bench/run.sh --only http-keepalive[,http-close,http-1m,tcp-bulk]
#   bench/run.sh --no-build           # use the existing .build/release/fulcrum
# Other options (--rounds N, --duration S, --impls haproxy,direct, --no-perf): bench/bench.py --help
# Needs: haproxy, wrk, nginx (nginx-light), curl, taskset; perf optional (linux-perf).
set -uo pipefail
cd "$(dirname "$0")/.."

build=1
args=()
for a in "$@"; do
    if [[ "$a" == "--no-build" ]]; then build=0; else args+=("$a"); fi
done

if [[ $build -eq 1 ]]; then
    echo "==> swift build -c release"
    if ! swift build -c release; then
        if [[ -x .build/release/fulcrum ]]; then
            echo "bench: build failed; using the existing .build/release/fulcrum" >&2
        else
            echo "bench: build failed and no fulcrum binary; the fulcrum column will show failures" >&2
        fi
    fi
fi

exec python3 bench/bench.py "${args[@]}"
