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
cleanup() {
    [ -n "$HPID" ] && kill -9 "$HPID" 2>/dev/null
    stop_subs
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

start_heraldd() { # start_heraldd CONFIG-FILE
    [ -f "$TMP/heraldd.log" ] && cat "$TMP/heraldd.log" >>"$TMP/heraldd-all.log"
    : >"$TMP/heraldd.log"
    "$HERALDD" -c "$1" 2>>"$TMP/heraldd.log" &
    HPID=$!
    for _ in $(seq 200); do grep -q '"heraldd ready"' "$TMP/heraldd.log" && break; sleep 0.05; done
    IN=$(grep -oE '"ingress_port":"?[0-9]+' "$TMP/heraldd.log" | tail -1 | grep -oE '[0-9]+$')
    ADM=$(grep -oE '"admin_port":"?[0-9]+' "$TMP/heraldd.log" | tail -1 | grep -oE '[0-9]+$')
}
stop_heraldd() {
    kill "$HPID"
    wait "$HPID" 2>/dev/null
    HPID=
}
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
cat >"$TMP/herald1.yaml" <<EOF2
ingress: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0"}
data_dir: $TMP/data1
durability: none
manifests: [$TMP/m1]
log: {format: json, level: info}
EOF2
start_heraldd "$TMP/herald1.yaml"
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

stop_heraldd
cat "$TMP/heraldd.log" >>"$TMP/heraldd-all.log"
finish "$TMP/heraldd-all.log"
