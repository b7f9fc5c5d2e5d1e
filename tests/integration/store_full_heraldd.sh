#!/usr/bin/env bash
# store_full_heraldd.sh — a full disk, as an operator meets it (issue #8, item 2): heraldd with its
# data_dir on a 20 MiB tmpfs and a trigger whose subscriber is down. Events are POSTed until the
# store is full (503 + Retry-After), /readyz answers 503 saying the store is full, the refused
# POSTs are summarised in the log instead of one line each; then another program fills what is
# left of the filesystem, the subscriber comes back, consumes everything, and POST answers 202
# again with no restart and no operator action. A clean
# restart on the full disk starts, serves, and recovers the same way. Every acknowledged event
# reaches the subscriber.
#
#   store_full_heraldd.sh HERALDD SUBSCRIBER [DURABILITY]
# DURABILITY (default fsync): fsync keeps zeroed blocks ahead of LMDB's last page anyway; batch
# has only the reserve's own preallocation to survive the filesystem being filled by others.
# Needs root to mount the tmpfs: otherwise prints SKIP and exits 77 (ctest reports it skipped).
set -uo pipefail
HERALDD=$1
SUB=$2
DURABILITY=${3:-fsync}
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: mounting a small tmpfs needs root"
    exit 77
fi
TMP=$(mktemp -d)
MNT=$TMP/disk
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=20m tmpfs "$MNT" 2>"$TMP/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here: $(cat "$TMP/mount.err")"
    rm -rf "$TMP"
    exit 77
fi
HPID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cleanup() {
    kill_all
    umount "$MNT" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# The subscriber's port is known before it runs (connection refused until sub_at starts it)
free_port probe
PORT=$PORT_probe
sub_at() { # sub_at NAME: the subscriber on $PORT, recording into $TMP/NAME.jsonl
    SUB_MAX_SECONDS=300 sub "$1" --port "$PORT"
}

mkdir -p "$TMP/manifests"
cat >"$TMP/manifests/all.yaml" <<EOF
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: ns1}
spec:
  broker: b
  subscriber: {uri: "http://127.0.0.1:$PORT/in"}
  delivery: {retry: 1000, backoffPolicy: linear, backoffDelay: PT0.1S}
EOF
heraldd_config "$TMP/herald.yaml" "$MNT/data" "$DURABILITY" "$TMP/manifests"
start_heraldd() { heraldd_start "$TMP/herald.yaml"; }

head -c $((48 * 1024)) /dev/zero | tr '\0' 'x' >"$TMP/payload"
N=0
: >"$TMP/acked"
post() { # post: one 48 KiB event; prints the status; the acknowledged ids go to $TMP/acked
    N=$((N + 1))
    local code
    code=$(curl -s -o "$TMP/post.body" -D "$TMP/post.headers" -w '%{http_code}' -X POST \
        "http://127.0.0.1:$IN/ns1/b" -H "ce-specversion: 1.0" -H "ce-id: e$N" \
        -H "ce-source: /fill" -H "ce-type: com.example.fill" \
        -H "content-type: text/plain" --data-binary @"$TMP/payload")
    [ "$code" = 202 ] && echo "e$N" >>"$TMP/acked"
    echo "$code"
}
fill() { # fill: POSTs until the first 503; sets FILLED (202s) and LAST (the last status)
    FILLED=0
    LAST=
    for _ in $(seq 2000); do
        LAST=$(post)
        [ "$LAST" = 202 ] || break
        FILLED=$((FILLED + 1))
    done
}
readyz() { curl -s -o "$TMP/readyz.body" -w '%{http_code}' "http://127.0.0.1:$1/readyz"; }
# wait_ready PORT SECONDS: /readyz of that port until it answers 200 (the store leaves "full" once
# an append of 256 KiB fits again, checked once a second, so it may lag the first 202 a little)
wait_ready() {
    local end=$((SECONDS + $2)) code
    while [ $SECONDS -lt $end ]; do
        code=$(readyz "$1")
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}
wait_202() { # wait_202 SECONDS: POSTs once a second until one answers 202
    local end=$((SECONDS + $1))
    while [ $SECONDS -lt $end ]; do
        [ "$(post)" = 202 ] && return 0
        sleep 1
    done
    return 1
}
# lines of the store about a full store (today's per-request line, or the summary)
refusal_lines() { grep -cE '"msg":"store[^"]*full|"status":"store full"' "$TMP/heraldd.log"; }

start_heraldd
check "heraldd starts with data_dir on a 20 MiB filesystem" test -n "$IN"
if [ -z "$IN" ]; then
    cat "$TMP/heraldd.log"
    finish "$TMP/heraldd.log"
    exit 1
fi
# store.map_size_max (8 GiB by default) is more than the filesystem holds: said at start, with both
check "the start warns that the filesystem holds less than store.map_size_max, naming both" \
    grep -qE '"map_size_max_bytes":8589934592,.*"filesystem_bytes":[0-9]+[,}]' "$TMP/heraldd.log"

# 1. fill until the store refuses: 503 with Retry-After, never 500
fill
check "events are stored until the store is full ($FILLED accepted)" test "$FILLED" -ge 50
check "a full store answers 503 (got $LAST)" test "$LAST" = 503
check "... with Retry-After" grep -qi '^Retry-After:' "$TMP/post.headers"
check "... and a body saying the store is full" grep -q 'full' "$TMP/post.body"
code=$(readyz "$IN")
check "/readyz on the ingress answers 503 while appends are refused (got $code)" test "$code" = 503
check "... saying the store is full" grep -q 'full' "$TMP/readyz.body"
code=$(readyz "$ADM")
check "/readyz on the admin port answers 503 too (got $code)" test "$code" = 503
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$IN/healthz")
check "/healthz still answers 200 (got $code)" test "$code" = 200

# 2. many refused POSTs make a summary in the log, not one line each
before=$(refusal_lines)
refused=0
for _ in $(seq 150); do [ "$(post)" = 503 ] && refused=$((refused + 1)); done
sleep 6 # one summary period
after=$(refusal_lines)
check "150 more POSTs are refused ($refused)" test "$refused" = 150
check "... and logged as a summary: $((after - before)) lines" test $((after - before)) -le 3
check "... which counts them" grep -qE '"refused":[0-9]{2,}[,}]' "$TMP/heraldd.log"

# 3. another program takes every byte left on the filesystem; then the subscriber comes back and
# consumes everything: trims still commit (the reserve is held inside data.mdb), appends resume,
# with no restart
dd if=/dev/zero of="$MNT/hog" bs=64k 2>/dev/null
avail=$(df -k --output=avail "$MNT" | tail -1 | tr -d ' ')
check "the filesystem is completely full (${avail} KiB left)" test "$avail" -lt 64
sub_at back
acked=$(wc -l <"$TMP/acked")
check "the subscriber receives every acknowledged event ($acked)" wait_count back "$acked" 60
check "POST answers 202 again once the subscriber has consumed, without a restart" wait_202 60
check "... the same heraldd" kill -0 "$HPID"
check "/readyz answers 200 again" wait_ready "$IN" 10
code=$(readyz "$ADM")
check "/readyz on the admin port answers 200 again (got $code)" test "$code" = 200
check "the recovery is logged" grep -q 'store: room again' "$TMP/heraldd.log"

# 4. full again, then a clean restart on the full disk: it starts, serves, and recovers.
# Retention may still free the consumed events meanwhile: fill until the store stays full.
rm -f "$MNT/hog"
unsub back
for _ in $(seq 10); do
    fill
    sleep 2
    [ "$(readyz "$IN")" = 503 ] && [ "$(post)" = 503 ] && break
done
check "the store fills again with events nobody consumed (then $LAST)" test "$LAST" = 503
heraldd_stop
start_heraldd
check "heraldd restarts on the full disk" test -n "$IN"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$IN/healthz")
check "... and serves /healthz (got $code)" test "$code" = 200
code=$(readyz "$IN")
check "... with /readyz 503: the store is still full (got $code)" test "$code" = 503
code=$(post)
check "... and POST answers 503 or 202, nothing else (got $code)" test "$code" = 503 -o "$code" = 202
sub_at again
acked=$(wc -l <"$TMP/acked")
check "after the restart the subscriber gets the backlog" wait_count again 1 60
check "POST answers 202 again after the restart, without operator action" wait_202 60
check "/readyz answers 200 again" wait_ready "$IN" 10

# 5. nothing acknowledged was lost: every 202'd id reached the subscriber
received() { cat "$TMP/back.jsonl" "$TMP/again.jsonl" 2>/dev/null | wc -l; }
for _ in $(seq 300); do [ "$(received)" -ge "$(wc -l <"$TMP/acked")" ] && break; sleep 0.1; done
cat "$TMP/back.jsonl" "$TMP/again.jsonl" 2>/dev/null | grep -o '"ce-id":"[^"]*"' |
    sed 's/.*:"\(.*\)"/\1/' | sort -u >"$TMP/received"
missing=$(sort -u "$TMP/acked" | comm -23 - "$TMP/received" | wc -l)
check "every acknowledged event was delivered ($missing missing of $(wc -l <"$TMP/acked"))" \
    test "$missing" = 0

heraldd_stop
cat "$TMP/heraldd.log" >>"$TMP/heraldd-all.log"
if [ "$fail" != 0 ]; then
    echo "--- heraldd log (last 40 lines) ---"
    tail -40 "$TMP/heraldd-all.log"
fi
finish "$TMP/heraldd-all.log"
