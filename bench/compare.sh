#!/usr/bin/env bash
# bench/compare.sh — the existing benchmarks for two heraldd builds side by side in one run:
# durable ingest (bench/ingest.sh) and ingest + delivery with 1 and 5 triggers
# (bench/delivery.sh), alternating A B A B ... so that the machine's noise falls on both alike.
# Each run measures its own nginx `return 202` ceiling, so every figure is a ratio to nginx.
#
#   bench/compare.sh OLD_REV [-r ROUNDS] [-d SECONDS] [--skip-delivery] [--skip-ingest]
#
# Builds OLD_REV (a git revision) and the working tree as Release into build-bench-old/ and
# build-bench/, then prints per round and as medians: ingest ratio and p99 for each, and the
# t1/t5 delivery ratios for each. Bounded: every run inside is bounded by the scripts it calls.
# Needs what ingest.sh and delivery.sh need (nginx-light, wrk, cmake, curl, python3).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OLD_REV=${1:?usage: bench/compare.sh OLD_REV [-r ROUNDS] [-d SECONDS]}
shift
ROUNDS=3
DURATION=8
DO_INGEST=1
DO_DELIVERY=1
while [ $# -gt 0 ]; do
    case $1 in
        -r) ROUNDS=$2; shift 2 ;;
        -d) DURATION=$2; shift 2 ;;
        --skip-delivery) DO_DELIVERY=0; shift ;;
        --skip-ingest) DO_INGEST=0; shift ;;
        *) echo "compare: unknown argument $1" >&2; exit 2 ;;
    esac
done

TMP=$(mktemp -d)
OLD_SRC=$TMP/old-src
cleanup() {
    git -C "$ROOT" worktree remove --force "$OLD_SRC" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

git -C "$ROOT" worktree add -q --detach "$OLD_SRC" "$OLD_REV"
for side in old new; do
    src=$ROOT build=$ROOT/build-bench
    if [ $side = old ]; then
        src=$OLD_SRC build=$ROOT/build-bench-old
        rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles" # its source is a new temporary tree
    fi
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF >/dev/null
    cmake --build "$build" -j2 --target heraldd >/dev/null
done
OLD_BIN=$ROOT/build-bench-old/broker/heraldd
NEW_BIN=$ROOT/build-bench/broker/heraldd
echo "A = $OLD_REV ($(git -C "$ROOT" rev-parse --short "$OLD_REV")), B = working tree" \
     "($(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo '+changes'))"
echo "machine: $(nproc) vCPU, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); $ROUNDS rounds"

# one line per measured run: "side kind value..."
: >"$TMP/rows"
for i in $(seq 1 "$ROUNDS"); do
    for side in old new; do
        bin=$NEW_BIN
        [ $side = old ] && bin=$OLD_BIN
        if [ "$DO_INGEST" = 1 ]; then
            out=$(HERALDD=$bin "$HERE/ingest.sh" -d "$DURATION" -p 1)
            ratio=$(sed -n 's/^median heraldd\/nginx ratio: \([0-9.]*\).*/\1/p' <<<"$out")
            p99=$(sed -n 's/^median heraldd p99: \([0-9.]*\) ms.*/\1/p' <<<"$out")
            cpu=$(sed -n 's/^median server CPU per request: heraldd \([0-9.]*\) us.*/\1/p' <<<"$out")
            echo "round $i $side ingest: ratio $ratio p99 ${p99} ms, ${cpu} us CPU/req"
            echo "$side ingest $ratio $p99 $cpu" >>"$TMP/rows"
        fi
        if [ "$DO_DELIVERY" = 1 ]; then
            out=$(HERALDD=$bin "$HERE/delivery.sh" -r 1 -d "$DURATION")
            t1=$(sed -n 's/^median ratio to nginx: t1 \([0-9.]*\), t5 \([0-9.]*\).*/\1/p' <<<"$out")
            t5=$(sed -n 's/^median ratio to nginx: t1 \([0-9.]*\), t5 \([0-9.]*\).*/\2/p' <<<"$out")
            echo "round $i $side delivery: t1 $t1 t5 $t5"
            echo "$side delivery ${t1:-nan} ${t5:-nan}" >>"$TMP/rows"
        fi
    done
done
python3 - "$TMP/rows" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(side, kind, col):
    v = [float(r[col]) for r in rows if r[0] == side and r[1] == kind and r[col] != "nan"]
    return statistics.median(v) if v else float("nan")
for kind, cols in (("ingest", ((2, "ratio"), (3, "p99 ms"), (4, "us CPU/req"))),
                   ("delivery", ((2, "t1 ratio"), (3, "t5 ratio")))):
    if not any(r[1] == kind for r in rows):
        continue
    for col, name in cols:
        a, b = med("old", kind, col), med("new", kind, col)
        print("median %-8s %-10s A %.2f  B %.2f  (B/A %.2f)" % (kind, name, a, b, b / a if a else 0))
EOF
