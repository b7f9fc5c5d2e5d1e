#!/usr/bin/env bash
# store_damage_heraldd.sh — a damaged store against a real heraldd (issue #8 item 3). A stopped
# heraldd's data_dir holding 60 undelivered events is damaged the ways an operator found
# (random bytes over records, a file truncated to a quarter, 20 small random writes, a 0-byte
# data.mdb); heraldd must then refuse to start with a message naming the file, or start with
# the bad records quarantined in the dead table: never a crash, never a payload other than the
# one sent. `heraldd --check` is run on each and on a clean copy.
#
#   store_damage_heraldd.sh HERALDD SUBSCRIBER
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only.
set -uo pipefail
HERALDD=$1
SUB=$2
TMP=$(mktemp -d)
HPID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
N=60

# the subscriber's port is taken now and the subscriber stopped: events stay undelivered
# t delivers at most 2 at a time (the others wait behind its cursor and are routed after the
# restart); t2 has all 60 in flight (each a pending record restored after the restart)
free_port rec
free_port rec2
mkdir -p "$TMP/manifests" "$TMP/data"
cat >"$TMP/manifests/all.yaml" <<EOF2
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: ns1}
spec:
  broker: b
  subscriber: {uri: "http://127.0.0.1:$PORT_rec/in"}
  delivery: {retry: 1000, backoffPolicy: linear, backoffDelay: PT0.2S, maxInFlight: 2}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t2, namespace: ns1}
spec:
  broker: b
  subscriber: {uri: "http://127.0.0.1:$PORT_rec2/in"}
  delivery: {retry: 1000, backoffPolicy: linear, backoffDelay: PT0.2S}
EOF2
conf() { # conf DATA_DIR [MANIFESTS] -> $TMP/herald-<basename>.yaml
    heraldd_config "$TMP/herald-$(basename "$1").yaml" "$1" fsync "${2:-$TMP/manifests}"
    echo "$TMP/herald-$(basename "$1").yaml"
}

# start_heraldd DATA_DIR LOG [MANIFESTS]: runs heraldd until ready or exited; sets HPID, IN, ADM
start_heraldd() { heraldd_start "$(conf "$1" "${3:-}")" "$2"; }
# exits_with_message DATA_DIR NAME PATTERN: heraldd exits (no signal) with a log line matching
exits_with_message() {
    local log="$TMP/$2.log"
    : >"$log"
    timeout 20 "$HERALDD" -c "$(conf "$1")" 2>>"$log"
    local rc=$?
    check "$2: heraldd refuses to start (exit 1-127, not a signal; got $rc)" \
        test "$rc" -ge 1 -a "$rc" -lt 124
    check "$2: the refusal says why" grep -qE "$3" "$log"
    grep -h '"level":"error"' "$log" | head -3
}

# payload of event i: unique, 3000 bytes (a record of its own overflow page)
payload() { python3 -c "import sys;i=int(sys.argv[1]);s='{\"n\":%d,\"pad\":\"'%i;print(s+('ev%04d-'%i*600)[:2990-len(s)]+'\"}',end='')" "$1"; }
mkdir -p "$TMP/sent"
start_heraldd "$TMP/data" "$TMP/first.log"
check "heraldd starts on a new data_dir" test -n "$IN"
check "herald.id marks the data_dir" test -s "$TMP/data/herald.id"
codes=""
for i in $(seq 1 $N); do
    payload "$i" >"$TMP/sent/e$i"
    codes+=$(curl -s -o /dev/null -w '%{http_code} ' -X POST "http://127.0.0.1:$IN/ns1/b" \
        -H "ce-specversion: 1.0" -H "ce-id: e$i" -H "ce-source: /test" -H "ce-type: t.x" \
        -H "content-type: application/json" --data-binary @"$TMP/sent/e$i")
done
check "$N events accepted" test "$(echo "$codes" | tr ' ' '\n' | grep -c 202)" = "$N"
heraldd_stop
check "heraldd stops cleanly" test "$HRC" = 0
cp -a "$TMP/data" "$TMP/pristine"
rm -f "$TMP/pristine/heraldd.lock"

out=$("$HERALDD" --check -c "$(conf "$TMP/pristine")" 2>&1)
rc=$?
check "--check on a clean store: exit 0 (got $rc)" test "$rc" = 0
check "--check on a clean store: says clean and counts $N events" \
    bash -c '[[ "$1" == *"check: clean"* && "$1" == *"events: '$N' records"* ]]' _ "$out"
echo "$out" | sed 's/^/    | /'

# damage DIR MODE: writes into DIR/data.mdb inside the payloads of the events (found by their
# unique bytes), with a fixed seed; prints the damaged event numbers
damage() {
    python3 - "$1/data.mdb" "$2" "${3:-0}" <<'PY'
import random, sys
path, mode = sys.argv[1], sys.argv[2]
rnd = random.Random(8)
data = bytearray(open(path, 'rb').read())
spans = {}
for i in range(1, 61):
    # the live record is on an overflow page (flags 0x04 at byte 10 of the page); leaf pages may
    # hold stale copies in their free middle, which LMDB never reads
    at = data.find(b'{"n":%d,"pad":"' % i)
    while at >= 0 and not data[at - at % 4096 + 10] & 4:
        at = data.find(b'{"n":%d,"pad":"' % i, at + 1)
    if at >= 0:
        spans[i] = (at, at + 2990)
hit = set()
if mode == 'random64k':      # 64 KiB of random bytes laid over the records from event 10 on
    left = 65536
    for i in sorted(spans):
        if i < 10 or left <= 0:
            continue
        a, b = spans[i]
        n = min(b - a, left)
        data[a:a + n] = rnd.randbytes(n)
        left -= n
        hit.add(i)
elif mode == 'small20':      # 20 writes of 1..8 random bytes into random records
    for _ in range(20):
        i = rnd.choice(sorted(spans))
        a, b = spans[i]
        at = rnd.randrange(a, b - 8)
        n = rnd.randrange(1, 9)
        new = rnd.randbytes(n)
        if data[at:at + n] != new:
            data[at:at + n] = new
            hit.add(i)
elif mode == 'btree':        # random bytes over the pages in use, B-tree pages included
    for at in range(4096 * 2, int(sys.argv[3]), 4096):
        data[at + 16:at + 48] = rnd.randbytes(32)
open(path, 'r+b').write(data)
print(' '.join(str(i) for i in sorted(hit)))
PY
}

# verify_delivery NAME DAMAGED...: every received body is the one sent for its id; every event not
# damaged is received; each damaged one is a dead record
verify_delivery() { # verify_delivery SUBSCRIBER DAMAGED...
    local name=$1
    shift
    python3 - "$TMP/$name.jsonl" "$TMP/sent" "$N" "$@" <<'PY'
import json, sys
rec, sent, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
damaged = set(int(x) for x in sys.argv[4:])
got, bad = {}, []
for line in open(rec):
    r = json.loads(line)
    i = r['headers'].get('ce-id', '?')
    body = r['body']
    want = open('%s/%s' % (sent, i)).read() if i.startswith('e') else None
    if want != body:
        bad.append(i)
    got[i] = True
missing = [i for i in range(1, n + 1) if i not in damaged and 'e%d' % i not in got]
delivered_damaged = [i for i in damaged if 'e%d' % i in got]
print('received %d, garbage %s, missing %s, damaged delivered %s' % (len(got), bad, missing, delivered_damaged))
sys.exit(1 if bad or missing or delivered_damaged else 0)
PY
}

# run_damaged NAME MODE: damage a copy, --check it, start heraldd with the subscriber up, compare
run_damaged() {
    local name=$1 mode=$2 dir="$TMP/$1"
    rm -rf "$dir" "$TMP/rec.jsonl" "$TMP/rec2.jsonl"
    cp -a "$TMP/pristine" "$dir"
    local hit
    hit=$(damage "$dir" "$mode")
    echo "    $name: damaged events: $hit"
    out=$("$HERALDD" --check -c "$(conf "$dir")" 2>&1)
    rc=$?
    check "$name: --check finds the damage (exit 1, got $rc)" test "$rc" = 1
    check "$name: --check names a bad record" bash -c '[[ "$1" == *"checksum mismatch"* ]]' _ "$out"
    echo "$out" | grep -E "problems|checksum" | head -4 | sed 's/^/    | /'
    sub rec --port "$PORT_rec"
    sub rec2 --port "$PORT_rec2"
    start_heraldd "$dir" "$TMP/$name.log"
    check "$name: heraldd starts" test -n "$IN"
    local want=$((N - $(echo $hit | wc -w)))
    wait_count rec "$want" 20
    wait_count rec2 "$want" 20
    sleep 0.5 # any late (wrong) delivery would show now
    check "$name: t (routed after restart): every intact event delivered, byte for byte; no damaged one" \
        verify_delivery rec $hit
    check "$name: t2 (pending retries): every intact event delivered, byte for byte; no damaged one" \
        verify_delivery rec2 $hit
    local dead
    dead=$(curl -s "http://127.0.0.1:$ADM/metrics" | grep -E '^herald_store_corrupt_records_total' | awk '{print $2}')
    check "$name: herald_store_corrupt_records_total counts them ($dead)" \
        test "${dead:-0}" = "$(echo $hit | wc -w)"
    # any damaged seq (repeated errors past 20 in 10 s are folded into a summary line, so which
    # seqs are written one by one depends on the order the triggers meet them)
    local seqs
    seqs=$(echo $hit | tr ' ' '|')
    local tr dl
    for tr in t t2; do
        check "$name: the log names the sequence, broker and trigger $tr" grep -qE \
            "corrupt event skipped.*\"broker\":\"b\",\"trigger\":\"$tr\",\"seq\":($seqs)[,}]" \
            "$TMP/$name.log"
        dl=$(curl -s "http://127.0.0.1:$ADM/v1/triggers/ns1/$tr/dlq?limit=1000" 2>/dev/null)
        check "$name: $tr's dead table holds each with its reason" python3 -c '
import json, sys
items = json.loads(sys.argv[1])["items"]
seqs = sorted(i["seq"] for i in items if i["error"] == "corrupt record in the store (checksum mismatch); never delivered")
sys.exit(0 if seqs == sorted(int(x) for x in sys.argv[2:]) else 1)' "$dl" $hit
    done
    heraldd_stop
    check "$name: heraldd stops cleanly" test "$HRC" = 0
    unsub rec
    unsub rec2
}

run_damaged random64k random64k
run_damaged small20 small20

# truncated to a quarter: refused before LMDB maps the file (was SIGBUS on every start)
rm -rf "$TMP/quarter" && cp -a "$TMP/pristine" "$TMP/quarter"
# a quarter of the bytes in use (fsync mode zero-fills ahead of them)
used=$(echo "$out" | grep -o 'needs [0-9]* bytes' | grep -o '[0-9]*')
size=$((used / 4))
truncate -s "$size" "$TMP/quarter/data.mdb"
exits_with_message "$TMP/quarter" quarter \
    "shorter than its meta page.*data.mdb.*\"file_bytes\":$size,.*\"needed_bytes\":$used[,}]"
"$HERALDD" --check -c "$(conf "$TMP/quarter")" >"$TMP/check.out" 2>&1
rc=$?
check "quarter: --check cannot open it (exit 2, got $rc) and says why" \
    bash -c '[ "$1" = 2 ] && grep -q "truncated" "$2"' _ "$rc" "$TMP/check.out"
sed 's/^/    | /' "$TMP/check.out" | grep -v "^    | store:"

# a 0-byte data.mdb in a used data_dir: refused, not a new empty store
rm -rf "$TMP/empty" && cp -a "$TMP/pristine" "$TMP/empty"
: >"$TMP/empty/data.mdb"
exits_with_message "$TMP/empty" empty "missing or empty, but data_dir holds a store"
check "empty: data.mdb left as it was (0 bytes)" test ! -s "$TMP/empty/data.mdb"
rm -f "$TMP/empty/data.mdb"
exits_with_message "$TMP/empty" missing "missing or empty, but data_dir holds a store"

# random bytes over B-tree pages: --check reports it (a database that crashes liblmdb included)
rm -rf "$TMP/btree" && cp -a "$TMP/pristine" "$TMP/btree"
damage "$TMP/btree" btree "$used" >/dev/null
cp "$TMP/btree/data.mdb" "$TMP/btree.copy"
"$HERALDD" --check -c "$(conf "$TMP/btree")" >"$TMP/check.out" 2>&1
rc=$?
check "btree: --check reports problems (exit 1, got $rc)" test "$rc" = 1
grep -E "problems|crashed|checksum|walk" "$TMP/check.out" | head -5 | sed 's/^/    | /'
check "btree: --check modified nothing" cmp -s "$TMP/btree.copy" "$TMP/btree/data.mdb"

# a dead letter waiting for its sink keeps the subscriber's answer (knativeerrordata) across a
# restart: the body excerpt is stored with the pending record
sub fail --status 500 --body kaputt
free_port dls
mkdir -p "$TMP/manifests-dls"
cat >"$TMP/manifests-dls/all.yaml" <<EOF2
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-fail, namespace: ns1}
spec:
  broker: b
  subscriber: {uri: "http://127.0.0.1:$PORT_fail/"}
  delivery:
    retry: 0
    deadLetterSink: {uri: "http://127.0.0.1:$PORT_dls/dead"}
EOF2
start_heraldd "$TMP/dls-data" "$TMP/dls.log" "$TMP/manifests-dls"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/ns1/b" \
    -H "ce-specversion: 1.0" -H "ce-id: f1" -H "ce-source: /test" -H "ce-type: t.fail" -d 'x')
check "dls: event accepted ($code)" test "$code" = 202
for _ in $(seq 200); do grep -q "dead-letter sink failed" "$TMP/dls.log" && break; sleep 0.05; done
check "dls: the sink is down, the dead letter waits" grep -q "dead-letter sink failed" "$TMP/dls.log"
heraldd_stop
sub dls --port "$PORT_dls"
start_heraldd "$TMP/dls-data" "$TMP/dls2.log" "$TMP/manifests-dls"
check "dls: the dead letter arrives after the restart" wait_count dls 1 15
check "dls: with knativeerrordata = base64(kaputt) after the restart" \
    grep -q '"ce-knativeerrordata":"a2FwdXR0"' "$TMP/dls.jsonl"
grep -o '"ce-knativeerror[a-z]*":"[^"]*"' "$TMP/dls.jsonl" | sed 's/^/    | /'
heraldd_stop
cat "$TMP/dls.log" "$TMP/dls2.log" "$TMP"/random64k.log "$TMP"/small20.log >>"$TMP/first.log"

finish "$TMP/first.log"
