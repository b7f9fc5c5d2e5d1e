#!/usr/bin/env bash
# bench/ingest.sh — durable ingest throughput of heraldd against nginx answering `return 202`,
# measured side by side in one run (DESIGN §13, /work/shared/bench/README.md).
#
#   bench/ingest.sh [-d SECONDS] [-p PAIRS] [-c CONNS] [--durability fsync|batch|none] [--bare]
#
# --bare puts bench/http202.c (heraldd's HTTP server answering 202 at once, no decode, no store)
# in heraldd's place: the HTTP layer alone against nginx.
#
# Builds heraldd (Release) into $BUILD (default build-bench), starts nginx (nginx-202.conf) and
# heraldd (one broker bench/default) on free 127.0.0.1 ports with a temp data dir, runs
# `wrk -t1 -c64 -d8s --latency -s ce-unique.lua` alternating nginx, heraldd (A B A B ...), and
# prints each run, the heraldd/nginx ratio (median of the pairs) and heraldd's p99 (median).
# Every process it starts is stopped by its PID on exit; every run is bounded by `timeout`.
# Needs: nginx-light, wrk, cmake, curl, python3 (free ports).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${HERALD_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd || echo /work/shared)}
BUILD=${BUILD:-$ROOT/build-bench}
DURATION=8
PAIRS=3
CONNS=64
DURABILITY=fsync
BARE=0
while [ $# -gt 0 ]; do
    case "$1" in
    -d) DURATION=$2; shift 2 ;;
    -p) PAIRS=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    --durability) DURABILITY=$2; shift 2 ;;
    --bare) BARE=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

for tool in nginx wrk curl python3 cmake; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is needed" >&2; exit 2; }
done

if [ -z "${HERALDD:-}" ] || { [ "$BARE" = 1 ] && [ -z "${HTTP202:-}" ]; }; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j2 --target heraldd http202 >/dev/null
    HERALDD=${HERALDD:-$BUILD/broker/heraldd}
    HTTP202=${HTTP202:-$BUILD/bench/http202}
fi

TMP=$(mktemp -d /tmp/herald-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
NGINX_PORT=$(free_port)
HERALD_PORT=$(free_port)
ADMIN_PORT=$(free_port)

# nginx: the HTTP ceiling
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
sed "s#@DIR@#$TMP/nginx#g; s#@PORT@#$NGINX_PORT#g" "$SHARED/bench/nginx-202.conf" >"$TMP/nginx/nginx.conf"
nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -g 'daemon off;' 2>"$TMP/nginx.err" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

# heraldd: one broker bench/default, durable
mkdir -p "$TMP/manifests" "$TMP/data"
cat >"$TMP/manifests/bench.yaml" <<EOF
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: bench
EOF
cat >"$TMP/herald.yaml" <<EOF
ingress:
  listen: 127.0.0.1:$HERALD_PORT
admin:
  listen: 127.0.0.1:$ADMIN_PORT
data_dir: $TMP/data
durability: $DURABILITY
manifests:
  - $TMP/manifests
log:
  level: warn
EOF
if [ "$BARE" = 1 ]; then
    "$HTTP202" "$HERALD_PORT" 2>"$TMP/heraldd.err" &
else
    "$HERALDD" -c "$TMP/herald.yaml" 2>"$TMP/heraldd.err" &
fi
HERALDD_PID=$!
PIDS+=($HERALDD_PID)

wait_up() { # url
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null -m 1 "$1"; then return 0; fi
        sleep 0.1
    done
    echo "bench: $1 did not come up" >&2
    cat "$TMP/heraldd.err" "$TMP/nginx.err" >&2
    exit 1
}
wait_up "http://127.0.0.1:$NGINX_PORT/"
wait_up "http://127.0.0.1:$HERALD_PORT/readyz"
if [ "$BARE" = 1 ]; then HERALDD="$HTTP202 (bare HTTP server)"; DURABILITY="n/a"; fi

LUA=$SHARED/bench/ce-unique.lua
CLK=$(getconf CLK_TCK)
cpu_ticks() { # pid... -> utime+stime of the processes and their children threads/workers
    local t=0 pid
    for pid in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
        [ -r "/proc/$pid/stat" ] && t=$(( t + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
    done
    echo "$t"
}
run_wrk() { # port duration server_pid -> prints "req_per_s p99_ms non2xx cpu_us_per_req"
    local out c0 c1
    c0=$(cpu_ticks "$3")
    out=$(timeout $(( $2 + 20 )) wrk -t1 -c"$CONNS" -d"$2"s --latency -s "$LUA" \
        "http://127.0.0.1:$1/bench/default")
    c1=$(cpu_ticks "$3")
    echo "$out" >>"$TMP/wrk.log"
    echo "$out" | CPU_S=$(python3 -c "print(($c1 - $c0) / $CLK)") DUR=$2 python3 -c '
import re, sys
t = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
n = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
import os
cpu_us = float(os.environ["CPU_S"]) * 1e6 / max(1.0, rps * float(os.environ["DUR"]))
print("%.0f %.3f %d %.1f" % (rps, p99, int(n.group(1)) if n else 0, cpu_us))'
}

echo "heraldd $HERALDD (durability $DURABILITY) vs nginx-202, wrk -t1 -c$CONNS -d${DURATION}s, $PAIRS pairs"
echo "machine: $(nproc) vCPU, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
run_wrk "$NGINX_PORT" 2 "$NGINX_PID" >/dev/null   # warm-up
run_wrk "$HERALD_PORT" 2 "$HERALDD_PID" >/dev/null
RESULTS=()
for i in $(seq 1 "$PAIRS"); do
    read -r n_rps n_p99 n_bad n_cpu <<<"$(run_wrk "$NGINX_PORT" "$DURATION" "$NGINX_PID")"
    read -r h_rps h_p99 h_bad h_cpu <<<"$(run_wrk "$HERALD_PORT" "$DURATION" "$HERALDD_PID")"
    printf 'pair %d: nginx %6.0f req/s p99 %6.2f ms %5.1f us CPU/req | heraldd %6.0f req/s p99 %6.2f ms %5.1f us CPU/req non-2xx %d | ratio %.2f\n' \
        "$i" "$n_rps" "$n_p99" "$n_cpu" "$h_rps" "$h_p99" "$h_cpu" "$h_bad" "$(python3 -c "print($h_rps/$n_rps)")"
    RESULTS+=("$n_rps $n_p99 $h_rps $h_p99 $h_bad $n_cpu $h_cpu")
done
STORE0=$(curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E '^herald_store_(commits|batches|fsyncs)_total' | tr '\n' ' ' || true)
kill -0 "$HERALDD_PID" 2>/dev/null || { echo "bench: heraldd died" >&2; cat "$TMP/heraldd.err" >&2; exit 1; }
STORED=$(curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^herald_events_received_total\{.*code="202"/ {s += $2} END {print s + 0}' || true)
printf '%s\n' "${RESULTS[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
ratios = [r[2] / r[0] for r in rows]
print("median heraldd/nginx ratio: %.2f   (per pair: %s)" % (statistics.median(ratios), " ".join("%.2f" % x for x in ratios)))
print("median heraldd p99: %.2f ms   median nginx p99: %.2f ms" % (statistics.median(r[3] for r in rows), statistics.median(r[1] for r in rows)))
print("median req/s: heraldd %.0f, nginx %.0f; heraldd non-2xx answers: %d" % (statistics.median(r[2] for r in rows), statistics.median(r[0] for r in rows), sum(r[4] for r in rows)))
print("median server CPU per request: heraldd %.1f us, nginx %.1f us" % (statistics.median(r[6] for r in rows), statistics.median(r[5] for r in rows)))
'
echo "events acknowledged 202 by heraldd (from /metrics): $STORED"
echo "store after the runs: $STORE0"
