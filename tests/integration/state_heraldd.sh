#!/usr/bin/env bash
# state_heraldd.sh — what heraldd says about its state, checked as a user sees it through a real
# heraldd, real subscribers (subscriber.c) and the herald CLI:
#   1. a trigger whose subscriber answers 500 is failing (since, attempts, last answer and body)
#      while it stays Ready, and stops failing once a delivery succeeds;
#   2. the backlog counts only the events the trigger's filter matches;
#   3. replay and tail --from say how many events they replay and which are gone, and never hang;
#   4. retention.min_age keeps consumed events so replay has something to replay;
#   5. /metrics: trigger series carry broker, deleted resources' series disappear, process and
#      build metrics are there and plausible.
#
#   state_heraldd.sh HERALDD SUBSCRIBER HERALD
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only.
set -uo pipefail
HERALDD=$1
SUB=$2
HERALD=$3
TMP=$(mktemp -d)
HPID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

send() { # send BROKER ID TYPE
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/ns1/$1" \
        -H "ce-specversion: 1.0" -H "ce-id: $2" -H "ce-source: /test" -H "ce-type: $3" \
        -H "content-type: application/json" -d '{"hello":"world"}'
}
# jq_admin PATH EXPR: evaluates the Python expression EXPR on the admin's JSON answer `d`
jq_admin() {
    curl -s "http://127.0.0.1:$ADM$1" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print(json.dumps(v) if not isinstance(v, str) else v)' "$2" 2>/dev/null
}
# wait_admin PATH EXPR SECONDS: until EXPR is true
wait_admin() {
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        [ "$(jq_admin "$1" "$2")" = true ] && return 0
        sleep 0.1
    done
    return 1
}
stat_of() { jq_admin "/v1/triggers/ns1/$1/describe" "d['stats'].get('$2')"; }

sub flaky --script-all "500,500" --body "database down: ünavailable"
sub ok
sub held --delay-ms 100000 # never answers within the test: its trigger's events pile up
sub held2 --delay-ms 100000

mkdir -p "$TMP/m1" "$TMP/data1"
cat >"$TMP/m1/all.yaml" <<EOF2
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-flaky, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.flaky}}
  subscriber: {uri: "http://127.0.0.1:$PORT_flaky/"}
  delivery: {retry: 0}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b2, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-half, namespace: ns1}
spec:
  broker: b2
  filter: {attributes: {type: com.example.half}}
  subscriber: {uri: "http://127.0.0.1:$PORT_held/"}
  delivery: {maxInFlight: 1}
EOF2
heraldd_config "$TMP/herald1.yaml" "$TMP/data1" none "$TMP/m1"
heraldd_start "$TMP/herald1.yaml"
check "heraldd starts" test -n "$ADM"

# ---- 1. failing state --------------------------------------------------------------------------
check "a new trigger is not failing" test "$(stat_of t-flaky failing)" = false
check "a new trigger has no last attempt" test "$(stat_of t-flaky lastAttemptAt)" = null
send b f1 com.example.flaky >/dev/null
check "first attempt answered 500" wait_count flaky 1 5
check "failing after a 500" wait_admin /v1/triggers/ns1/t-flaky/describe "d['stats']['failing']" 5
send b f2 com.example.flaky >/dev/null
check "second attempt answered 500" wait_count flaky 2 5
check "two failed attempts counted" wait_admin /v1/triggers/ns1/t-flaky/describe "d['stats']['failedAttempts'] == 2" 5
check "lastStatus 500" test "$(stat_of t-flaky lastStatus)" = 500
check "lastBody is the answer's body" test "$(stat_of t-flaky lastBody)" = "database down: ünavailable"
since=$(stat_of t-flaky failingSince)
check "failingSince is an RFC 3339 time" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$since"
check "lastAttemptAt is an RFC 3339 time" grep -qE '^[0-9]{4}-' <<<"$(stat_of t-flaky lastAttemptAt)"
check "still Ready while failing" test "$(jq_admin /v1/triggers/ns1/t-flaky/describe "d['ready']['status']")" = True
send b f3 com.example.flaky >/dev/null
check "third attempt delivered" wait_count flaky 3 5
check "not failing after a success" wait_admin /v1/triggers/ns1/t-flaky/describe "not d['stats']['failing']" 5
check "failedAttempts back to 0" test "$(stat_of t-flaky failedAttempts)" = 0
check "failingSince null again" test "$(stat_of t-flaky failingSince)" = null

# ---- 2. the backlog counts only matching events -------------------------------------------------
batch() { # batch BROKER FROM TO: events FROM..TO, odd ones of type com.example.half
    python3 -c '
import json, sys
a, b = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps([{"specversion": "1.0", "id": "e%d" % i, "source": "/test",
                   "type": "com.example.half" if i % 2 else "com.example.other"}
                  for i in range(a, b + 1)]))' "$2" "$3" |
        curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/ns1/$1" \
            -H "content-type: application/cloudevents-batch+json" --data-binary @-
}
check "200 events stored" test "$(batch b2 1 200)" = 202
check "the held subscriber got the first matching event" wait_count held 1 5
check "backlog counts the 100 matching events of 200" \
    wait_admin /v1/triggers/ns1/t-half/describe "d['stats']['backlog'] == 100" 5
check "and says it is exact" test "$(stat_of t-half backlogExact)" = true
check "the broker's describe lists the same backlog" \
    test "$(jq_admin /v1/brokers/ns1/b2/describe "d['triggers'][0]['backlog']")" = 100
check "/metrics has the same backlog" grep -q \
    '^herald_trigger_backlog{namespace="ns1",broker="b2",trigger="t-half"} 100$' \
    <<<"$(curl -s "http://127.0.0.1:$ADM/metrics")"
check "1000 more events stored" test "$(batch b2 201 1200)" = 202
check "1000 more events stored again" test "$(batch b2 1201 2200)" = 202
check "past 1000 events to filter, the backlog says it is not exact" \
    wait_admin /v1/triggers/ns1/t-half/describe "not d['stats']['backlogExact']" 5
b=$(stat_of t-half backlog)
check "and is an upper bound: at least the 1100 matching, at most all 2200 ($b)" \
    test "$b" -ge 1100 -a "$b" -le 2200

# ---- 5. /metrics -------------------------------------------------------------------------------
metrics() { curl -s "http://127.0.0.1:$ADM/metrics"; }
wait_metric() { # wait_metric LINE SECONDS: until /metrics has exactly that line
    local end=$((SECONDS + $2))
    while [ $SECONDS -lt $end ]; do
        metrics | grep -qxF "$1" && return 0
        sleep 0.1
    done
    return 1
}
lacks() { ! grep -qF "$1" <<<"$m"; } # lacks TEXT: the last /metrics text $m does not hold TEXT
send b n1 com.example.nomatch >/dev/null
check "filter evaluations counted per trigger (3 matching, 1 not)" wait_metric \
    'herald_trigger_events_evaluated_total{namespace="ns1",broker="b",trigger="t-flaky"} 4' 5
m=$(metrics)
check "trigger series carry their broker" grep -q \
    '^herald_dispatch_total{namespace="ns1",broker="b",trigger="t-flaky",code="500"} 2$' <<<"$m"
check "filter matches counted per trigger" grep -q \
    '^herald_trigger_events_matched_total{namespace="ns1",broker="b",trigger="t-flaky"} 3$' <<<"$m"
check "herald_build_info has version and commit" \
    grep -qE '^herald_build_info\{version="[0-9]+\.[0-9]+\.[0-9]+",commit="[^"]+"\} 1$' <<<"$m"
mval() { grep -E "^$1 " <<<"$m" | awk '{print $2}'; }
rss=$(mval process_resident_memory_bytes)
check "process_resident_memory_bytes plausible ($rss)" \
    python3 -c "import sys; sys.exit(not 1e6 < float('$rss') < 1e10)"
cpu=$(mval process_cpu_seconds_total)
check "process_cpu_seconds_total plausible ($cpu)" \
    python3 -c "import sys; sys.exit(not 0 <= float('$cpu') < 3600)"
fds=$(mval process_open_fds)
check "process_open_fds plausible ($fds)" test "${fds:-0}" -ge 5 -a "${fds:-0}" -lt 10000
st=$(mval process_start_time_seconds)
check "process_start_time_seconds is when heraldd started ($st)" \
    python3 -c "import sys, time; sys.exit(not time.time() - 600 < float('$st') <= time.time() + 1)"
KAPI="http://127.0.0.1:$ADM/apis/eventing.knative.dev/v1/namespaces/ns1"
check "the trigger is deleted" test "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$KAPI/triggers/t-flaky")" = 200
m=$(metrics)
check "a deleted trigger's series are gone" lacks 'trigger="t-flaky"'
check "the other trigger's series stay" grep -q 'trigger="t-half"' <<<"$m"
check "the broker's series stay" grep -q 'herald_events_received_total{namespace="ns1",broker="b",' <<<"$m"
check "the broker is deleted" test "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$KAPI/brokers/b")" = 200
m=$(metrics)
check "a deleted broker's series are gone" lacks 'broker="b"'
check "the other broker's series stay" grep -q 'broker="b2"' <<<"$m"

heraldd_stop

# ---- 3 and 4. retention.min_age keeps delivered events; replay and tail --from say what they do --
mkdir -p "$TMP/m3" "$TMP/data3"
cat >"$TMP/m3/all.yaml" <<EOF2
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b3, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-ok, namespace: ns1}
spec:
  broker: b3
  filter: {attributes: {type: com.example.ok}}
  subscriber: {uri: "http://127.0.0.1:$PORT_ok/"}
EOF2
cp -r "$TMP/m3" "$TMP/m4"
cat >>"$TMP/m4/all.yaml" <<EOF2
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-stuck, namespace: ns1}
spec:
  broker: b3
  filter: {attributes: {type: com.example.stuck}}
  subscriber: {uri: "http://127.0.0.1:$PORT_held2/"}
EOF2
config3() { # config3 FILE MANIFESTS [min_age]
    heraldd_config "$1" "$TMP/data3" none "$2" "retention:" "  interval: 100ms" ${3:+"  min_age: $3"}
}
config3 "$TMP/herald3.yaml" "$TMP/m3"    # retention.min_age left at its default
config3 "$TMP/herald4.yaml" "$TMP/m4" 0s # delivered events deleted at once; t-stuck holds seq 5
heraldd_start "$TMP/herald3.yaml"
send b3 k0 com.example.other >/dev/null
for i in 1 2 3; do send b3 "k$i" com.example.ok >/dev/null; done
check "three events delivered" wait_count ok 3 5
check "the trigger's cursor passed them all" \
    wait_admin /v1/triggers/ns1/t-ok/describe "d['stats']['cursor'] == 4" 5
sleep 1 # ten retention runs: delivered events would be deleted without a minimum age
check "with the default retention.min_age, delivered events are kept" \
    test "$(jq_admin /v1/brokers/ns1/b3/describe "d['stats']['events']")" = 4
ADMIN="http://127.0.0.1:$ADM"
out=$("$HERALD" replay t-ok -n ns1 --from 1 --admin "$ADMIN" 2>&1)
check "replay says how many events it replays: $out" \
    test "$out" = "trigger ns1/t-ok: 3 events replayed (seq 1..4: 4 stored, the others do not match its filter)"
check "and they are delivered again" wait_count ok 6 5
out=$("$HERALD" replay t-ok -n ns1 --from 9 --admin "$ADMIN" 2>&1)
check "replay past the end answers at once: $out" \
    test "$out" = "trigger ns1/t-ok: 0 events replayed (nothing stored from seq 9 on; the broker's last is 4)"
timeout 5 "$HERALD" tail ns1/b3 --from 2 --count 3 --admin "$ADMIN" >"$TMP/tail.out" 2>"$TMP/tail.err"
check "tail --from 2 streams the stored events" test "$(grep -c '"id"' "$TMP/tail.out")" = 3
check "tail --from says how many stored events come first: $(head -1 "$TMP/tail.err")" \
    test "$(head -1 "$TMP/tail.err")" = "tail of broker ns1/b3 from seq 2: 3 stored events (up to seq 4), then new ones"
timeout 5 "$HERALD" tail ns1/b3 --from 7 --admin "$ADMIN" >"$TMP/tail.out" 2>"$TMP/tail.err" &
TPID=$!
for _ in $(seq 50); do [ -s "$TMP/tail.err" ] && break; sleep 0.1; done
check "tail --from past the end says so at once: $(head -1 "$TMP/tail.err")" \
    test "$(head -1 "$TMP/tail.err")" = "tail of broker ns1/b3 from seq 7: nothing stored there yet (the last is 4); waiting for new events"
kill "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null
heraldd_stop

heraldd_start "$TMP/herald4.yaml"
check "with retention.min_age 0s, delivered events are deleted" \
    wait_admin /v1/brokers/ns1/b3/describe "d['stats']['events'] == 0" 10
expected="trigger ns1/t-ok: 0 events replayed (nothing stored from seq 5 on; the broker's last is 4)
seq 1..4 already gone: deleted by retention (the broker keeps no events; retention.min_age keeps delivered events longer)"
ADMIN="http://127.0.0.1:$ADM"
out=$("$HERALD" replay t-ok -n ns1 --from 1 --admin "$ADMIN" 2>&1)
check "replay says which events are gone: $out" test "$out" = "$expected"
send b3 k5 com.example.stuck >/dev/null # t-stuck never finishes it: retention keeps it
check "an event t-stuck holds is sent to its subscriber" wait_count held2 1 5
out=$("$HERALD" replay t-ok -n ns1 --from 2 --admin "$ADMIN" 2>&1)
check "replay from a gone seq replays what is kept and names the gone ones: $out" test "$out" = \
    "trigger ns1/t-ok: 0 events replayed (seq 5..5: 1 stored, the others do not match its filter)
seq 2..4 already gone: deleted by retention (the first kept is 5; retention.min_age keeps delivered events longer)"
curl -s -m 3 -D "$TMP/hdr" -o /dev/null "$ADMIN/v1/brokers/ns1/b3/tail?from=1"
check "the tail answer's headers count the gone events" grep -qi '^x-herald-gone: 4' "$TMP/hdr"
check "and the stored ones it sends first" grep -qi '^x-herald-replayed: 1' "$TMP/hdr"
check "tail of a missing broker is a prompt 404" \
    test "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$ADMIN/v1/brokers/ns1/nope/tail?from=1")" = 404

heraldd_stop
finish_heraldd
