#!/usr/bin/env bash
# dispatch_heraldd.sh — delivery through a real heraldd to real subscribers (the test subscriber
# program), as a user sees it: manifests applied at startup, events POSTed with curl, what the
# subscribers received, /metrics, and a kill -9 in the middle of retries.
#
#   dispatch_heraldd.sh HERALDD SUBSCRIBER
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only.
set -uo pipefail
HERALDD=$1
SUB=$2
TMP=$(mktemp -d)
HPID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

sub ok
sub flaky --script "f1=503,500,202" --retry-after 0
sub fail --status 500 --body "kaputt"
sub dls
sub replier --status 200 --reply-type com.example.reply
sub slow --status 500

mkdir -p "$TMP/manifests" "$TMP/data"
cat >"$TMP/manifests/all.yaml" <<EOF
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: ns1}
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
metadata: {name: t-flaky, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.flaky}}
  subscriber: {uri: "http://127.0.0.1:$PORT_flaky/"}
  delivery: {retry: 3, backoffPolicy: linear, backoffDelay: PT0.1S}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-fail, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.fail}}
  subscriber: {uri: "http://127.0.0.1:$PORT_fail/"}
  delivery:
    retry: 1
    backoffDelay: PT0.05S
    deadLetterSink: {uri: "http://127.0.0.1:$PORT_dls/dead"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-reply, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.ask}}
  subscriber: {uri: "http://127.0.0.1:$PORT_replier/"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-replies, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.reply}}
  subscriber: {uri: "http://127.0.0.1:$PORT_ok/replies"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-slow, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.slow}}
  subscriber: {uri: "http://127.0.0.1:$PORT_slow/"}
  delivery: {retry: 3, backoffPolicy: linear, backoffDelay: PT1S}
EOF
heraldd_config "$TMP/herald.yaml" "$TMP/data" batch "$TMP/manifests"
start_heraldd() { heraldd_start "$TMP/herald.yaml"; }
send() { # send ID TYPE [extra curl args]
    local id=$1 type=$2
    shift 2
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/ns1/b" \
        -H "ce-specversion: 1.0" -H "ce-id: $id" -H "ce-source: /test" -H "ce-type: $type" \
        -H "content-type: application/json" "$@" -d '{"hello":"world"}'
}

start_heraldd
check "heraldd starts" test -n "$IN"

# 1. plain delivery in binary mode with Knative's headers
code=$(send o1 com.example.ok -H "ce-traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
check "ingress answers 202" test "$code" = 202
check "delivered to the matching trigger" wait_count ok 1 5
rec=$(head -1 "$TMP/ok.jsonl")
check "path kept" grep -q '"path":"/in"' <<<"$rec"
check "ce-id sent" grep -q '"ce-id":"o1"' <<<"$rec"
check "Prefer: reply sent" grep -q '"prefer":"reply"' <<<"$rec"
check "Kn-Namespace sent" grep -q '"kn-namespace":"ns1"' <<<"$rec"
check "traceparent passed through (ce- and plain header)" grep -q "\"ce-traceparent\":\"00-0af7651916cd43dd8448eb211c80319c.*\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c" <<<"$rec"
check "body as sent" grep -q '"body":"{\\"hello\\":\\"world\\"}"' <<<"$rec"

# 1b. trace context sent as plain HTTP headers (tracing middleware) survives the store
code=$(send o2 com.example.ok -H "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" \
    -H "tracestate: vendor=abc")
check "ingress answers 202 (plain traceparent)" test "$code" = 202
check "delivered (plain traceparent)" wait_count ok 2 5
rec=$(sed -n 2p "$TMP/ok.jsonl")
check "plain traceparent delivered as header and ce- attribute" grep -q "\"ce-traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736.*\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736" <<<"$rec"
check "plain tracestate kept" grep -q '"ce-tracestate":"vendor=abc"' <<<"$rec"

# 2. 503 then 500 then 202: retried twice, delivered once
send f1 com.example.flaky >/dev/null
check "retried until delivered (3 attempts)" wait_count flaky 3 5
sleep 0.5
check "no attempt after success" test "$(count flaky)" = 3

# 3. failing subscriber -> dead-letter sink with the error extensions
send x1 com.example.fail >/dev/null
check "dead-letter sink receives the event" wait_count dls 1 5
rec=$(head -1 "$TMP/dls.jsonl")
check "knativeerrordest" grep -q "\"ce-knativeerrordest\":\"http://127.0.0.1:$PORT_fail/\"" <<<"$rec"
check "knativeerrorcode" grep -q '"ce-knativeerrorcode":"500"' <<<"$rec"
check "knativeerrordata = base64(kaputt)" grep -q '"ce-knativeerrordata":"a2FwdXR0"' <<<"$rec"
check "two attempts to the subscriber (retry 1)" test "$(count fail)" = 2

# 4. a reply goes back into the broker and reaches the trigger for its type
send a1 com.example.ask >/dev/null
check "reply delivered to t-replies" wait_count ok 3 5
rec=$(grep '"/replies"' "$TMP/ok.jsonl" | head -1)
check "reply id" grep -q '"ce-id":"reply-a1"' <<<"$rec"
check "reply ttl decremented from 255" grep -q '"ce-knativebrokerttl":"254"' <<<"$rec"

# 5. metrics
metrics=$(curl -s "http://127.0.0.1:$ADM/metrics")
check "herald_dispatch_total per trigger and code" \
    grep -q 'herald_dispatch_total{namespace="ns1",broker="b",trigger="t-flaky",code="503"} 1' <<<"$metrics"
check "dead-letter counter" \
    grep -q 'herald_dead_letter_total{namespace="ns1",broker="b",trigger="t-fail",to="sink"} 1' <<<"$metrics"

# 6. kill -9 in the middle of retries: attempts resume, not restart (retry 3 = 4 attempts)
send s1 com.example.slow >/dev/null
wait_count slow 2 5 # attempt 1 at once, attempt 2 after 1 s
sleep 0.3           # the pending record is written within 50 ms
kill -9 "$HPID"
wait "$HPID" 2>/dev/null
HPID=
start_heraldd
check "heraldd restarts" test -n "$IN"
wait_count slow 4 10
sleep 3.5
check "4 attempts in all across the restart" test "$(count slow)" = 4
check "nothing delivered twice to t-ok after restart" test "$(grep -c '"ce-id":"o1"' "$TMP/ok.jsonl")" = 1

heraldd_stop
finish_heraldd
