#!/usr/bin/env bash
# bench/channels.sh — a Channel against a Broker, side by side in one run, and the cost of
# in-process hops between channels.
#
#   bench/channels.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [--durability fsync|batch|none]
#                     [--only "b5 c5"]
#
# Scenarios, each with a fresh heraldd (Release build into $BUILD, default build-bench, or
# $HERALDD) and data dir, all on 127.0.0.1, subscriber = nginx `return 202`
# (shared/bench/nginx-202.conf), run one after the other in every round (the VM drifts):
#   b1 / c1   a Broker with 1 Trigger      / an InMemoryChannel with 1 Subscription  -> nginx
#   b5 / c5   a Broker with 5 Triggers     / an InMemoryChannel with 5 Subscriptions -> nginx
#   hop3      Channel c0 -> Subscription (no subscriber, reply ref Channel c1) -> c1 -> ... -> c3
#             -> Subscription -> nginx: three in-process hops, then one delivery
# wrk -t1 -cCONNS -dSECONDS -s ce-unique.lua loads the ingress. An "exchange" is one HTTP
# request/answer: each ingest POST, and each delivery POST to nginx (herald_dispatch_total
# code="202" of the trigger/subscription that targets nginx, before and after the run). Printed
# per round and as medians: exchanges/s, the channel/broker ratios (goal >= 0.95), hop3's
# end-to-end events/s against b1's, and heraldd CPU (utime+stime from /proc/PID/stat) per event
# and per hop ((hop3 - b1) / 3). A scenario whose address does not answer 202 is reported and
# skipped. Every process started here is stopped by its PID on exit; every run is bounded by
# `timeout`. Needs: nginx-light, wrk, cmake, curl, python3.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${HERALD_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd || echo /work/shared)}
BUILD=${BUILD:-$ROOT/build-bench}
DURATION=5
ROUNDS=3
CONNS=64
DURABILITY="batch"
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
    -d) DURATION=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    --durability) DURABILITY=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
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

TMP=$(mktemp -d /tmp/herald-channels.XXXXXX)
PIDS=()
HPID=
cleanup() {
    if [ -n "$HPID" ]; then kill "$HPID" 2>/dev/null || true; fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}" $HPID; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
start_nginx
wait_up "http://127.0.0.1:$NGINX_PORT/"

# manifests SCENARIO -> $TMP/m-SCENARIO/all.yaml; the path wrk loads is printed in $TMP/m-SCENARIO/path
manifests() {
    local sc=$1 dir=$TMP/m-$1
    mkdir -p "$dir"
    python3 - "$sc" "$NGINX_PORT" "$dir" <<'EOF'
import sys
sc, port, d = sys.argv[1], sys.argv[2], sys.argv[3]
nginx = "http://127.0.0.1:%s/" % port
docs = []
def broker():
    docs.append("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: default, namespace: bench}")
def trig(name):
    docs.append("""apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: %s, namespace: bench}
spec:
  broker: default
  filter: {attributes: {type: com.example.bench}}
  subscriber: {uri: "%s"}""" % (name, nginx))
def chan(name):
    docs.append("apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: {name: %s, namespace: bench}" % name)
def subs(name, ch, subscriber=None, reply=None):
    s = """apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: %s, namespace: bench}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: %s}""" % (name, ch)
    if subscriber:
        s += '\n  subscriber: {uri: "%s"}' % subscriber
    if reply:
        s += "\n  reply: {ref: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: %s}}" % reply
    docs.append(s)
path = "/bench/default"
if sc in ("b1", "b5"):
    broker()
    for i in range(int(sc[1])):
        trig("sink" if i == 0 else "t%d" % i)
elif sc in ("c1", "c5"):
    chan("ch")
    for i in range(int(sc[1])):
        subs("sink" if i == 0 else "s%d" % i, "ch", subscriber=nginx)
    path = "/bench/channels/ch"
elif sc == "hop3":
    for i in range(4):
        chan("c%d" % i)
    for i in range(3):
        subs("hop%d" % i, "c%d" % i, reply="c%d" % (i + 1))
    subs("sink", "c3", subscriber=nginx)
    path = "/bench/channels/c0"
open(d + "/all.yaml", "w").write("\n---\n".join(docs) + "\n")
open(d + "/path", "w").write(path)
EOF
}

# delivered ALL|SINK: deliveries answered 202 (every series, or only the trigger/subscription
# named "sink", the one whose deliveries reach nginx in every scenario)
delivered() {
    curl -s -m 10 "http://127.0.0.1:$APORT/metrics" | awk -v only="$1" '
        /^herald_dispatch_total\{.*code="202"/ {
            if (only == "SINK" && $0 !~ /(trigger|subscription)="sink"/) next
            s += $2
        }
        END {printf "%d\n", s + 0}'
}

LUA=$SHARED/bench/ce-unique.lua
CLK=$(getconf CLK_TCK)
run_wrk() { # port path duration -> prints "req_per_s requests non2xx"
    local out
    out=$(timeout $(($3 + 20)) wrk -t1 -c"$CONNS" -d"$3"s -s "$LUA" "http://127.0.0.1:$1$2")
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

SCENARIOS=${ONLY:-"b1 c1 b5 c5 hop3"}
for sc in $SCENARIOS; do manifests "$sc"; done
ROWS=()
for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    row="$r"
    order=$SCENARIOS
    # every other round runs each channel before its broker, so neither always runs second
    if [ $((r % 2)) = 0 ]; then
        order=$(sed 's/\bb\([0-9]\) c\1\b/c\1 b\1/g' <<<"$SCENARIOS")
    fi
    for sc in $order; do
        path=$(cat "$TMP/m-$sc/path")
        start_heraldd "$sc"
        code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$HPORT$path" \
            -H 'ce-specversion: 1.0' -H 'ce-id: probe' -H 'ce-source: /bench' \
            -H 'ce-type: com.example.bench' -d '{}')
        if [ "$code" != 202 ]; then
            line="$line | $sc: $path answered HTTP $code, skipped"
            row="$row $sc - - - -"
            stop_heraldd
            continue
        fi
        run_wrk "$HPORT" "$path" 1 >/dev/null # warm-up (connections, pools)
        sleep 1
        d0=$(delivered SINK)
        a0=$(delivered ALL)
        c0=$(awk '{print $14 + $15}' "/proc/$HPID/stat")
        t0=$(date +%s.%N)
        read -r h_rps h_n h_bad <<<"$(run_wrk "$HPORT" "$path" "$DURATION")"
        t1=$(date +%s.%N)
        c1=$(awk '{print $14 + $15}' "/proc/$HPID/stat")
        d1=$(delivered SINK)
        a1=$(delivered ALL)
        dall=$((a1 - a0))
        if [ "$sc" = hop3 ]; then dall=$((d1 - d0)); fi
        # x/s: ingest POSTs + deliveries to nginx; e2e/s: events delivered by "sink" per second;
        # cpu: heraldd CPU per ingested event (us)
        read -r x e2e cpu <<<"$(python3 -c "
dt = $t1 - $t0
print('%.0f %.0f %.2f' % (($h_n + $dall) / dt, ($d1 - $d0) / dt, ($c1 - $c0) * 1e6 / $CLK / max(1, $h_n)))")"
        line="$line | $sc: ingest $(printf '%.0f' "$h_rps")/s, $x x/s, end $e2e ev/s, $cpu us CPU/ev (non-2xx $h_bad)"
        row="$row $sc $x $e2e $cpu $h_rps"
        stop_heraldd
    done
    echo "$line"
    ROWS+=("$row")
done
printf '%s\n' "${ROWS[@]}" | SCENARIOS=$SCENARIOS python3 -c '
import statistics, sys
rows = {}
for l in sys.stdin:
    f = l.split()
    for i in range(1, len(f), 5):
        sc, vals = f[i], f[i + 1:i + 5]
        if "-" in vals:
            continue
        rows.setdefault(sc, []).append(list(map(float, vals)))
def med(sc, k):
    return statistics.median(v[k] for v in rows[sc]) if sc in rows else None
import os
for sc in os.environ["SCENARIOS"].split():
    if sc in rows:
        print("median %-4s: %.0f exchanges/s, %.0f ingested/s, %.0f delivered/s by sink, %.2f us heraldd CPU per event"
              % (sc, med(sc, 0), med(sc, 3), med(sc, 1), med(sc, 2)))
    else:
        print("median %-4s: not measured (its address did not answer 202)" % sc)
for c, b in (("c1", "b1"), ("c5", "b5")):
    if c in rows and b in rows:
        # the ratio of each round (measured side by side), then their median
        pr = [x[0] / y[0] for x, y in zip(rows[c], rows[b])]
        print("%s/%s (goal >= 0.95): by exchanges/s %.2f (median of rounds: %s), by CPU per event %.2f" % (
            c, b, statistics.median(pr), " ".join("%.2f" % v for v in pr),
            med(b, 2) / med(c, 2)))
if "hop3" in rows and "b1" in rows:
    print("hop3/b1 end-to-end events/s: %.2f" % (med("hop3", 1) / med("b1", 1)))
    print("heraldd CPU per event: hop3 %.2f us, b1 %.2f us -> %.2f us per in-process hop" % (
        med("hop3", 2), med("b1", 2), (med("hop3", 2) - med("b1", 2)) / 3))'
