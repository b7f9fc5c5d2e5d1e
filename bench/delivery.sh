#!/usr/bin/env bash
# bench/delivery.sh — ingest + delivery throughput of heraldd, against nginx's ceiling, and the
# cost of many non-matching triggers; optionally the memory of a large backlog.
#
#   bench/delivery.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [--durability fsync|batch|none]
#                     [--backlog N] [--skip-throughput]
#
# Scenarios, each with a fresh heraldd (Release build into $BUILD, default build-bench) and data
# dir, all on 127.0.0.1, subscriber = nginx `return 202` (shared/bench/nginx-202.conf):
#   nginx   wrk straight to nginx: the HTTP ceiling (exchanges/s)
#   t1      1 trigger (type com.example.bench) -> nginx
#   t5      5 triggers on that type -> nginx
#   t10k    10,000 triggers with exact type filters, one of them com.example.bench -> nginx
# wrk -t1 -cCONNS -dSECONDS -s ce-unique.lua loads the ingress. An "exchange" is one HTTP
# request/answer: each ingest POST, and each delivery POST (counted from herald_dispatch_total
# code="202" in /metrics, before and after the run, so deliveries still queued at the end do not
# count). Printed per round and as medians: exchanges/s, the ratio to nginx (goal >= 0.5 for t1
# and t5) and t10k/t1 (goal >= 0.9).
# --backlog N: ingest N events (batch mode, 1000 per request) to a trigger whose subscriber is
# down (connection refused, long backoff), then sample heraldd's VmRSS for 10 s (goal <= 64 MiB).
# Every process started here is stopped by its PID on exit; every run is bounded by `timeout`.
# Needs: nginx-light, wrk, cmake, curl, python3.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${HERALD_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd || echo /work/shared)}
BUILD=${BUILD:-$ROOT/build-bench}
DURATION=8
ROUNDS=3
CONNS=64
DURABILITY=batch
BACKLOG=0
THROUGHPUT=1
while [ $# -gt 0 ]; do
    case "$1" in
    -d) DURATION=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    --durability) DURABILITY=$2; shift 2 ;;
    --backlog) BACKLOG=$2; shift 2 ;;
    --skip-throughput) THROUGHPUT=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

for tool in nginx wrk curl python3 cmake; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is needed" >&2; exit 2; }
done

if [ -z "${HERALDD:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j2 --target heraldd >/dev/null
    HERALDD=$BUILD/broker/heraldd
fi

TMP=$(mktemp -d /tmp/herald-delivery.XXXXXX)
PIDS=()
HPID=
cleanup() {
    [ -n "$HPID" ] && kill "$HPID" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}" $HPID; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
start_nginx
wait_up "http://127.0.0.1:$NGINX_PORT/"

# manifests SCENARIO -> writes $TMP/m-SCENARIO/all.yaml
manifests() {
    local sc=$1 dir=$TMP/m-$1
    mkdir -p "$dir"
    python3 - "$sc" "$NGINX_PORT" "$dir/all.yaml" <<'EOF'
import sys
sc, port, path = sys.argv[1], sys.argv[2], sys.argv[3]
docs = ["""apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default, namespace: bench}"""]
def trig(name, typ, uri, extra=""):
    docs.append("""apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: %s, namespace: bench}
spec:
  broker: default
  filter: {attributes: {type: %s}}
  subscriber: {uri: "%s"}%s""" % (name, typ, uri, extra))
nginx = "http://127.0.0.1:%s/" % port
if sc == "t1":
    trig("t0", "com.example.bench", nginx)
elif sc == "t5":
    for i in range(5):
        trig("t%d" % i, "com.example.bench", nginx)
elif sc == "t10k":
    trig("t0", "com.example.bench", nginx)
    for i in range(1, 10000):
        trig("t%d" % i, "com.example.other.%d" % i, nginx)
elif sc == "backlog":
    # a subscriber that is down: connection refused, retried with a long backoff
    trig("t0", "com.example.bench", "http://127.0.0.1:9/",
         "\n  delivery: {retry: 1000, backoffPolicy: linear, backoffDelay: PT30S}")
open(path, "w").write("\n---\n".join(docs) + "\n")
EOF
}

delivered() { # sum of herald_dispatch_total with code 202
    curl -s -m 10 "http://127.0.0.1:$APORT/metrics" |
        awk '/^herald_dispatch_total\{.*code="202"/ {s += $2} END {printf "%d\n", s + 0}'
}

LUA=$SHARED/bench/ce-unique.lua
CLK=$(getconf CLK_TCK)
run_wrk() { # port duration -> prints "req_per_s requests non2xx"
    local out
    out=$(timeout $(( $2 + 20 )) wrk -t1 -c"$CONNS" -d"$2"s -s "$LUA" \
        "http://127.0.0.1:$1/bench/default")
    echo "$out" >>"$TMP/wrk.log"
    echo "$out" | python3 -c '
import re, sys
t = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
n = int(re.search(r"(\d+) requests in", t).group(1))
b = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print("%.0f %d %d" % (rps, n, int(b.group(1)) if b else 0))'
}

echo "heraldd $HERALDD (durability $DURABILITY); wrk -t1 -c$CONNS -d${DURATION}s; $ROUNDS rounds"
echo "machine: $(nproc) vCPU, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"

if [ "$THROUGHPUT" = 1 ]; then
    for sc in t1 t10k t5; do manifests "$sc"; done
    run_wrk "$NGINX_PORT" 2 >/dev/null # warm-up
    ROWS=()
    for r in $(seq 1 "$ROUNDS"); do
        read -r n_rps _ _ <<<"$(run_wrk "$NGINX_PORT" "$DURATION")"
        line="round $r: nginx $(printf '%.0f' "$n_rps") x/s"
        row="$n_rps"
        for sc in t1 t10k t5; do # t1 next to t10k: the VM drifts
            start_heraldd "$sc"
            run_wrk "$HPORT" 1 >/dev/null # warm-up (connections, pools)
            sleep 1
            d0=$(delivered)
            c0=$(awk '{print $14 + $15}' "/proc/$HPID/stat")
            t0=$(date +%s.%N)
            read -r h_rps h_n h_bad <<<"$(run_wrk "$HPORT" "$DURATION")"
            t1=$(date +%s.%N)
            c1=$(awk '{print $14 + $15}' "/proc/$HPID/stat")
            d1=$(delivered)
            backlog=$(curl -s -m 10 "http://127.0.0.1:$APORT/metrics" |
                awk '/^herald_trigger_backlog/ {s += $2} END {printf "%d\n", s + 0}')
            x=$(python3 -c "print('%.0f' % (($h_n + $d1 - $d0) / ($t1 - $t0)))")
            cpu=$(python3 -c "print('%.1f' % (($c1 - $c0) * 1e6 / $CLK / max(1, $h_n + $d1 - $d0)))")
            line="$line | $sc: ingest $(printf '%.0f' "$h_rps")/s + deliveries $(python3 -c "print('%.0f' % (($d1 - $d0) / ($t1 - $t0)))")/s = $x x/s, heraldd $cpu us CPU/x (non-2xx $h_bad, backlog $backlog)"
            row="$row $x $cpu"
            stop_heraldd
        done
        echo "$line"
        ROWS+=("$row")
    done
    printf '%s\n' "${ROWS[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
# row: nginx, t1 x/s, t1 cpu, t10k x/s, t10k cpu, t5 x/s, t5 cpu
print("median exchanges/s: nginx %.0f, t1 %.0f, t5 %.0f, t10k %.0f" % (med(0), med(1), med(5), med(3)))
print("median heraldd CPU per exchange: t1 %.1f us, t5 %.1f us, t10k %.1f us" % (med(2), med(6), med(4)))
print("median ratio to nginx: t1 %.2f, t5 %.2f (goal >= 0.5)" % (
    statistics.median(r[1] / r[0] for r in rows), statistics.median(r[5] / r[0] for r in rows)))
print("t10k vs t1 (goal >= 0.9): by exchanges/s %.2f (median of rounds), by CPU per exchange %.2f" % (
    statistics.median(r[3] / r[1] for r in rows), med(2) / med(4)))'
fi

if [ "$BACKLOG" -gt 0 ]; then
    manifests backlog
    start_heraldd backlog
    n=$(( (BACKLOG + 999) / 1000 ))
    t0=$(date +%s)
    python3 - "$HPORT" "$n" <<'EOF'
import http.client, json, sys
head = '{"orderId":"ORD-0000012345","customer":{"id":"C-99812","tier":"gold"},"items":[{"sku":"SKU-1","qty":2}],"note":"'
data = json.loads(head + "x" * (300 - len(head) - 2) + '"}')
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for i in range(int(sys.argv[2])):
    evs = [{"specversion": "1.0", "id": "%d-%d" % (i, k), "source": "/bench/backlog",
            "type": "com.example.bench", "datacontenttype": "application/json", "data": data}
           for k in range(1000)]
    c.request("POST", "/bench/default", json.dumps(evs),
              {"Content-Type": "application/cloudevents-batch+json"})
    r = c.getresponse(); r.read()
    if r.status != 202:
        print("batch %d: HTTP %d" % (i, r.status), file=sys.stderr); sys.exit(1)
EOF
    t1=$(date +%s)
    echo "backlog: ingested $((n * 1000)) events in $((t1 - t0)) s to a trigger whose subscriber is down"
    sleep 2 # let the dispatcher settle: 100 deliveries in flight, the rest left in the store
    maxrss=0
    maxanon=0
    for _ in $(seq 1 20); do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$HPID/status")
        anon=$(awk '/^RssAnon/ {print $2}' "/proc/$HPID/status")
        [ "$rss" -gt "$maxrss" ] && maxrss=$rss
        [ "$anon" -gt "$maxanon" ] && maxanon=$anon
        sleep 0.5
    done
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$HPID/status")
    echo "backlog: RssAnon (heap) max $((maxanon / 1024)) MiB; the rest of VmRSS is LMDB's mapped file pages"
    curl -s -m 10 "http://127.0.0.1:$APORT/metrics" | grep -E '^herald_trigger_backlog' || true
    echo "backlog: heraldd VmRSS max over 10 s $((maxrss / 1024)) MiB, VmHWM (peak since start, incl. ingest) $((hwm / 1024)) MiB (goal <= 64 MiB)"
    # Restart with the backlog: kill -9 (no clean shutdown), start on the same data_dir, and
    # time exec -> /readyz 200 (store open, resources reloaded, cursors and pending read).
    kill -9 "$HPID" 2>/dev/null || true
    wait "$HPID" 2>/dev/null || true
    HPID=
    r0=$(date +%s%N)
    "$HERALDD" -c "$TMP/herald.yaml" 2>"$TMP/heraldd-restart.err" &
    HPID=$!
    ready=
    for _ in $(seq 1 3000); do # bounded: 30 s at most
        if curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$HPORT/readyz" | grep -q 200; then
            ready=1; break
        fi
        sleep 0.01
    done
    r1=$(date +%s%N)
    if [ -z "$ready" ]; then echo "backlog: restart did not become ready in 30 s" >&2; exit 1; fi
    sleep 2
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$HPID/status")
    anon=$(awk '/^RssAnon/ {print $2}' "/proc/$HPID/status")
    echo "backlog: restart after kill -9 with the backlog: ready in $(( (r1 - r0) / 1000000 )) ms (goal <= 1000 ms); VmRSS $((rss / 1024)) MiB, RssAnon $((anon / 1024)) MiB 2 s later"
    curl -s -m 10 "http://127.0.0.1:$APORT/metrics" | grep -E '^herald_trigger_backlog' || true
    stop_heraldd
fi
