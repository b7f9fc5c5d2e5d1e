#!/usr/bin/env bash
# shellcheck disable=SC2154  # PORT_<name> variables are set by sub() through eval
# resolve_heraldd.sh — destinations that resolve, and apply's strictness, through a real heraldd
# and real subscribers (tests/integration/subscriber.c), as a user sees them over HTTP:
#   1. an unresolvable dead-letter sink does not stop a broker: a healthy trigger keeps
#      delivering, a failing trigger's exhausted events stay pending (stats.awaitingDeadLetterSink,
#      herald_trigger_awaiting_dead_letter_sink) and reach the sink once its Service is applied;
#   2. `ref: {apiVersion: v1, kind: Service}` resolves through herald.dev/url and through
#      herald.yaml's services:, and says how to make it resolve until it does;
#   3. a broker ingress refuses knativebrokerttl <= 0 or not an integer (400);
#   4. POST /apply: wrong apiVersion, unknown metadata fields, non-string filter values, every
#      error of a document in one answer (a Trigger, a Broker, a Subscription, a Sequence), hints,
#      non-Boolean CESQL, duplicates in one file.
#
#   resolve_heraldd.sh HERALDD SUBSCRIBER
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only; every
# wait is bounded.
set -uo pipefail
HERALDD=$1
SUB=$2
TMP=$(mktemp -d)
HPID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

sub ok
sub fail --status 500 --body "kaputt"
sub dls
sub display

mkdir -p "$TMP/data" "$TMP/manifests"
cat >"$TMP/manifests/all.yaml" <<EOF
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: ns1}
spec:
  delivery:
    deadLetterSink:
      ref: {apiVersion: v1, kind: Service, name: dead-letters}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-ok, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.ok}}
  subscriber: {uri: "http://127.0.0.1:$PORT_ok/in"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-fail, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.fail}}
  subscriber: {uri: "http://127.0.0.1:$PORT_fail/"}
  delivery: {retry: 1, backoffDelay: PT0.05S}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-display, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.display}}
  subscriber:
    ref: {apiVersion: v1, kind: Service, name: event-display}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-mapped, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.mapped}}
  subscriber:
    ref: {apiVersion: v1, kind: Service, name: mapped}
    uri: /from-map
EOF
heraldd_config "$TMP/herald.yaml" "$TMP/data" none "$TMP/manifests" \
    "services:" "  ns1/mapped: \"http://127.0.0.1:$PORT_ok\""
start_heraldd() { heraldd_start "$TMP/herald.yaml"; }
start_heraldd
check "heraldd starts with a services: map" test -n "$IN"

send() { # send ID TYPE [extra curl args] -> HTTP status
    local id=$1 type=$2
    shift 2
    curl -s -m 10 -o "$TMP/send.body" -w '%{http_code}' -X POST "http://127.0.0.1:$IN/ns1/b" \
        -H "ce-specversion: 1.0" -H "ce-id: $id" -H "ce-source: /test" -H "ce-type: $type" \
        -H "content-type: application/json" "$@" -d '{"hello":"world"}'
}
get() { curl -s -m 10 "http://127.0.0.1:$ADM$1"; }
# stat TRIGGER FIELD -> the number in the trigger's stats
stat() { get "/v1/triggers/ns1/$1/describe" | grep -o "\"$2\":[0-9]*" | grep -o '[0-9]*$'; }
wait_stat() { # wait_stat TRIGGER FIELD N SECONDS
    local end=$((SECONDS + $4))
    while [ $SECONDS -lt $end ]; do
        [ "$(stat "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
# apply FILE -> the HTTP status of POST /apply; the answer in $TMP/apply.body
apply() {
    curl -s -m 10 -o "$TMP/apply.body" -w '%{http_code}' -X POST -H 'Content-Type: application/yaml' \
        --data-binary @"$1" "http://127.0.0.1:$ADM/apply"
}
apply_text() { printf '%s\n' "$1" >"$TMP/doc.yaml"; apply "$TMP/doc.yaml"; }
has_body() { grep -qF -- "$1" "$TMP/apply.body"; }

# ---- 1. an unresolvable dead-letter sink ------------------------------------------------------
broker=$(get /v1/resources/brokers/ns1/b)
check "broker with an unresolved dead-letter sink is Ready" \
    grep -q '"type":"Ready","status":"True"' <<<"$broker"
check "broker shows DeadLetterSinkResolved=False (severity Warning)" \
    grep -q '"type":"DeadLetterSinkResolved","status":"False","reason":"DeadLetterSinkResolveFailed".*"severity":"Warning"' <<<"$broker"
check "the condition says how to give the Service an address" \
    grep -q 'herald.dev/url' <<<"$broker"
code=$(send o1 com.example.ok)
check "ingress answers 202" test "$code" = 202
check "a healthy trigger delivers although the broker's sink does not resolve" wait_count ok 1 10
send f1 com.example.fail >/dev/null
send f2 com.example.fail >/dev/null
check "the failing trigger's exhausted events wait for the sink (awaitingDeadLetterSink 2)" \
    wait_stat t-fail awaitingDeadLetterSink 2 15
check "they were tried (2 attempts each)" wait_count fail 4 5
code=$(send o2 com.example.ok)
check "the healthy trigger keeps delivering meanwhile" wait_count ok 2 10
metrics=$(get /metrics)
check "herald_trigger_awaiting_dead_letter_sink counts them" \
    grep -qE '^herald_trigger_awaiting_dead_letter_sink\{[^}]*broker="b"[^}]*trigger="t-fail"[^}]*\} 2$' <<<"$metrics"
check "nothing went to the dead table" test "$(stat t-fail dead)" = 0
# a restart (kill -9) keeps them waiting: pending records, never dropped
sleep 0.3 # margin: their pending records were written at their first retry already
kill -9 "$HPID"
wait "$HPID" 2>/dev/null
start_heraldd
check "heraldd restarts" test -n "$IN"
check "after a kill -9 the 2 events still wait for the sink" \
    wait_stat t-fail awaitingDeadLetterSink 2 15
cat >"$TMP/dls.yaml" <<EOF
apiVersion: v1
kind: Service
metadata:
  name: dead-letters
  namespace: ns1
  annotations:
    herald.dev/url: "http://127.0.0.1:$PORT_dls/dead"
spec:
  ports: [{port: 80, targetPort: 8080}]
EOF
code=$(apply "$TMP/dls.yaml")
check "a v1 Service with herald.dev/url applies (200)" test "$code" = 200
check "the pending events reach the sink once it resolves" wait_count dls 2 15
check "with knativeerrorcode" grep -q '"ce-knativeerrorcode":"500"' "$TMP/dls.jsonl"
check "at the annotation's URL" grep -q '"path":"/dead"' "$TMP/dls.jsonl"
check "awaitingDeadLetterSink back to 0" wait_stat t-fail awaitingDeadLetterSink 0 5
check "deadLettered 2" test "$(stat t-fail deadLettered)" = 2
check "the broker's DeadLetterSinkResolved is True" \
    grep -q '"type":"DeadLetterSinkResolved","status":"True"' <<<"$(get /v1/resources/brokers/ns1/b)"

# ---- 2. ref: v1 Service -----------------------------------------------------------------------
trig=$(get /v1/resources/triggers/ns1/t-display)
check "a ref to a missing v1 Service is not ready, and says the three ways" \
    grep -q 'Service \\"ns1/event-display\\" (v1) does not exist.*herald.dev/url.*ExternalName.*services: {ns1/event-display' <<<"$trig"
cat >"$TMP/display.yaml" <<EOF
apiVersion: v1
kind: Service
metadata:
  name: event-display
  namespace: ns1
  annotations: {herald.dev/url: "http://127.0.0.1:$PORT_display/"}
spec:
  selector: {app: event-display}
  ports: [{protocol: TCP, port: 80, targetPort: 8080}]
EOF
code=$(apply "$TMP/display.yaml")
check "the event-display Service applies" test "$code" = 200
check "the trigger is Ready once it does" \
    grep -q '"type":"Ready","status":"True"' <<<"$(get /v1/resources/triggers/ns1/t-display)"
send d1 com.example.display >/dev/null
check "delivered to the Service's herald.dev/url" wait_count display 1 10
send m1 com.example.mapped >/dev/null
check "a ref resolved by herald.yaml's services: (with its uri path)" wait_count ok 3 10
check "at the mapped URL and path" grep -q '"path":"/from-map"' "$TMP/ok.jsonl"
svc=$(get /v1/resources/svc/ns1/event-display)
check "the Service shows its address" grep -q "\"url\":\"http://127.0.0.1:$PORT_display/\"" <<<"$svc"

# ---- 3. knativebrokerttl at the ingress ---------------------------------------------------------
for v in 0 -1 abc; do
    code=$(send ttl$v com.example.ok -H "ce-knativebrokerttl: $v")
    check "knativebrokerttl $v is refused with 400" test "$code" = 400
done
check "the message says why" grep -q 'knativebrokerttl is 0' <<<"$(send ttl0b com.example.ok -H 'ce-knativebrokerttl: 0'; cat "$TMP/send.body")"
code=$(send ttl5 com.example.ok -H "ce-knativebrokerttl: 5")
check "knativebrokerttl 5 is accepted" test "$code" = 202

# ---- 4. apply, stricter -------------------------------------------------------------------------
code=$(apply_text "apiVersion: eventing.knative.dev/v1beta1
kind: Broker
metadata: {name: x}")
check "a wrong apiVersion is refused (400)" test "$code" = 400
check "listing the versions served" has_body "apiVersion: 'eventing.knative.dev/v1beta1' does not serve kind Broker (served: eventing.knative.dev/v1)"
code=$(apply_text "apiVersion: apps/v1
kind: Service
metadata: {name: x}")
check "Service under another group: 400" test "$code" = 400
check "names both Service versions" has_body "(served: serving.knative.dev/v1, v1)"
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: x, lables: {a: b}}")
check "an unknown metadata field is refused (400)" test "$code" = 400
check "with a hint" has_body "metadata.lables: unknown field (did you mean metadata.labels?)"
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: x, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: 42}}
  subscriber: {uri: http://127.0.0.1:1/}")
check "a filter value that is not a string is refused (400)" test "$code" = 400
check "saying to quote it" has_body 'spec.filter.attributes.type: value must be a string (quote it: \"42\")'
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: x, namespace: ns1, bogus: 1}
spec:
  broker: b
  filters: [{cesql: \"type == 'a'\"}]
  subscriber: {uri: not-a-url}
  delivery: {retry: -1}
  extra: 1")
check "a document with five errors: 400" test "$code" = 400
check "every error in one answer: metadata" has_body "metadata.bogus: unknown field"
check "every error in one answer: spec field" has_body "spec.extra: unknown field"
check "every error in one answer: CESQL with the == hint" has_body "use = instead of =="
check "every error in one answer: subscriber" has_body "spec.subscriber.uri: 'not-a-url'"
check "every error in one answer: delivery" has_body "spec.delivery.retry: must be an integer"
# the other kinds: every mistake of a Broker, a Subscription and a Sequence in one answer each
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: bx, namespace: ns1}
spec:
  extra: 1
  delivery: {retry: -1, deadLetterSink: {uri: not-a-url}}")
check "a Broker with three mistakes: 400" test "$code" = 400
check "Broker: the unknown field" has_body "spec.extra: unknown field"
check "Broker: the retry" has_body "spec.delivery.retry: must be an integer"
check "Broker: the dead-letter sink" has_body "spec.delivery.deadLetterSink.uri: 'not-a-url'"
code=$(apply_text "apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sx, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Trigger, name: c}
  subscriber: {uri: not-a-url}
  delivery: {timeout: PT0S}")
check "a Subscription with three mistakes: 400" test "$code" = 400
check "Subscription: the channel kind" has_body "spec.channel.kind: 'Trigger' is not a channel kind"
check "Subscription: the subscriber" has_body "spec.subscriber.uri: 'not-a-url'"
check "Subscription: the timeout" has_body "spec.delivery.timeout: must be greater than zero"
code=$(apply_text "apiVersion: flows.knative.dev/v1
kind: Sequence
metadata: {name: qx, namespace: ns1}
spec:
  steps:
  - uri: not-a-url
  - ref: {kind: Sequence, name: qx}
  reply: {uri: http://127.0.0.1:1/, bogus: 1}")
check "a Sequence with three mistakes: 400" test "$code" = 400
check "Sequence: the first step" has_body "spec.steps[0].uri: 'not-a-url'"
check "Sequence: the cycle" has_body "spec.steps[1]: refers to this Sequence itself: a cycle"
check "Sequence: the reply" has_body "spec.reply.bogus: unknown field"
check "all under the one document" has_body "document 1 (Sequence ns1/qx): spec.steps[0].uri: 'not-a-url'"
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: x, namespace: ns1}
spec:
  broker: b
  filters: [{not: [{exact: {type: a}}]}]
  subscriber: {uri: http://127.0.0.1:1/}")
check "not: given a list: 400" test "$code" = 400
check "with the hint" has_body "spec.filters[0].not: takes one filter, not a list"
for e in "INT(type) + 'x'" "type"; do
    code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: x, namespace: ns1}
spec:
  broker: b
  filters: [{cesql: \"$e\"}]
  subscriber: {uri: http://127.0.0.1:1/}")
    check "a CESQL filter that is not a condition ($e) is refused (400)" test "$code" = 400
    check "saying it never matches ($e)" has_body "so as a filter it never matches"
done
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: dup, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: other, namespace: ns1}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: dup, namespace: ns1}
spec: {delivery: {retry: 2}}")
check "the same namespace/name twice in one file is refused (400)" test "$code" = 400
check "naming both documents" has_body "document 3 (Broker ns1/dup): the same Broker as document 1 (ns1/dup)"
check "nothing of it applied" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/v1/resources/brokers/ns1/other")" = 404
code=$(apply_text "apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: bad1, namespace: ns1, labels: {a: 1}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: bad2, namespace: ns1}
spec: {broker: b}")
check "two bad documents: 400" test "$code" = 400
check "both reported (document 1)" has_body "document 1 (Broker ns1/bad1): metadata.labels.a: value must be a string"
check "both reported (document 2)" has_body "document 2 (Trigger ns1/bad2): spec.subscriber: required"

finish "$TMP/heraldd.log"
