#!/usr/bin/env bash
# shellcheck disable=SC2154  # PORT_<name> variables are set by sub() through eval
# channels_heraldd.sh — Channels, Subscriptions, Sequence and Parallel through a real heraldd to
# real subscribers (tests/integration/subscriber.c), as a user sees them: manifests POSTed to
# /apply, events POSTed with curl to the addresses in status.address.url, what the subscribers
# received, /metrics, the apply errors, Knative's documented manifests, and a kill -9 in the
# middle of a Sequence.
#
#   channels_heraldd.sh HERALDD SUBSCRIBER EXAMPLES_DIR
# EXAMPLES_DIR is conf/examples: its runnable flow examples are applied with their fixed ports
# (8091, 8101, ...) replaced by the test subscribers' ports, and its knative/ originals must
# apply unchanged. Prints "N passed, N failed"; exit 1 on any failure. Everything listens on
# 127.0.0.1 only; every wait is bounded (a case whose first delivery never comes skips its later
# waits, so a heraldd without the feature fails in about two minutes, not at the ctest timeout).
set -uo pipefail
HERALDD=$1
SUB=$2
EX=$3
TMP=$(mktemp -d)
HPID=
SENDER=
SUB_MAX_SECONDS=280
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cleanup() {
    [ -n "$SENDER" ] && kill "$SENDER" 2>/dev/null
    kill_all
    rm -rf "$TMP"
}
trap cleanup EXIT

has() { [ -f "$TMP/$1.jsonl" ] && grep -qF -- "$2" "$TMP/$1.jsonl"; } # has NAME FIXED-STRING
# (grep -c prints 0 itself when nothing matches, and exits 1: do not print a second 0)
lines_with() { if [ -f "$TMP/$1.jsonl" ]; then grep -cF -- "$2" "$TMP/$1.jsonl" || true; else echo 0; fi; }
ids() { [ -f "$TMP/$1.jsonl" ] && grep -o '"ce-id":"[^"]*"' "$TMP/$1.jsonl" | sort -u | wc -l || echo 0; }

# apply FILE -> prints the HTTP status of POST /apply; the answer is in $TMP/apply.body
apply() {
    curl -s -m 10 -o "$TMP/apply.body" -w '%{http_code}' -X POST -H 'Content-Type: application/yaml' \
        --data-binary @"$1" "http://127.0.0.1:$ADM/apply"
}
apply_ok() { # apply_ok NAME FILE
    local code
    code=$(apply "$2")
    if [ "$code" = 200 ]; then ok "$1"; else bad "$1 (HTTP $code)"; head -c 600 "$TMP/apply.body"; echo; fi
}
apply_err() { # apply_err NAME FILE FRAGMENT: 400 with a JSON error containing FRAGMENT
    local code
    code=$(apply "$2")
    if [ "$code" = 400 ] && grep -q '"error"' "$TMP/apply.body" && grep -qF -- "$3" "$TMP/apply.body"; then
        ok "$1"
    else
        bad "$1 (HTTP $code, want 400 naming '$3')"; head -c 600 "$TMP/apply.body"; echo
    fi
}
# example FILE 8091=NAME ... -> $TMP/ex-FILE: the example with its ports replaced
example() {
    local f=$1 out=$TMP/ex-$1 sedargs=() map port name
    shift
    for map in "$@"; do
        port=${map%%=*}
        name=${map#*=}
        sedargs+=(-e "s#127\\.0\\.0\\.1:$port/#127.0.0.1:$(eval echo "\$PORT_$name")/#g")
    done
    sed "${sedargs[@]}" "$EX/$f" >"$out"
    echo "$out"
}
# res KIND NS NAME -> the resource's JSON from /v1/resources into $TMP/res.json, prints the status
res() {
    curl -s -m 10 -o "$TMP/res.json" -w '%{http_code}' "http://127.0.0.1:$ADM/v1/resources/$1/$2/$3"
}
jfield() { # jfield PYTHON-EXPR (on d = $TMP/res.json; prints "" when absent)
    python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    if isinstance(d, dict) and "items" in d and len(d["items"]) == 1:
        d = d["items"][0]
    v = eval(sys.argv[2])
    print("" if v is None else v)
except Exception:
    print("")' "$TMP/res.json" "$1"
}
ready() { # ready KIND NS NAME -> prints True/False/"" (the Ready condition's status)
    res "$1" "$2" "$3" >/dev/null
    jfield '[c for c in d["status"]["conditions"] if c["type"] == "Ready"][0]["status"]'
}
ready_reason() {
    res "$1" "$2" "$3" >/dev/null
    jfield '[c for c in d["status"]["conditions"] if c["type"] == "Ready"][0].get("reason")'
}
address() { # address KIND NS NAME -> status.address.url
    res "$1" "$2" "$3" >/dev/null
    jfield 'd["status"]["address"]["url"]'
}
post() { # post URL ID [DATA [extra curl args]] -> HTTP status (binary mode)
    local url=$1 id=$2 data=${3:-'{"message":"Hello world!"}'}
    shift 3 2>/dev/null || shift $#
    curl -s -m 10 -o "$TMP/post.body" -w '%{http_code}' -X POST "$url" \
        -H "ce-specversion: 1.0" -H "ce-id: $id" -H "ce-source: /test" \
        -H "ce-type: dev.knative.sources.ping" -H "content-type: application/json" "$@" -d "$data"
}
metric() { # metric EXACT-SERIES -> its value (0 when absent)
    curl -s -m 10 "http://127.0.0.1:$ADM/metrics" |
        awk -v s="$1" 'index($0, s " ") == 1 {v = $2} END {print v + 0}'
}
wait_metric() { # wait_metric SERIES MIN SECONDS
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        [ "$(metric "$1")" -ge "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

mkdir -p "$TMP/data"
heraldd_config "$TMP/herald.yaml" "$TMP/data" batch
start_heraldd() {
    heraldd_start "$TMP/herald.yaml"
    ING="http://127.0.0.1:$IN"
}

start_heraldd
check "heraldd starts" test -n "$IN"
[ -n "$IN" ] || { echo "$pass passed, $fail failed"; exit 1; }

# ---- 1. a Channel with two Subscriptions (conf/examples/channel.yaml) -------------------------
sub c1
sub c2
apply_ok "apply channel.yaml" "$(example channel.yaml 8091=c1 8092=c2)"
check "InMemoryChannel Ready" test "$(ready inmemorychannels default orders)" = True
check "channel address is /{ns}/channels/{name}" \
    test "$(address inmemorychannels default orders)" = "$ING/default/channels/orders"
check "Subscription sub-1 Ready" test "$(ready subscriptions default sub-1)" = True
code=$(post "$ING/default/channels/orders" m1)
check "POST to the channel answers 202" test "$code" = 202
curl -s -m 10 -o /dev/null -X POST "$ING/default/channels/orders" \
    -H 'content-type: application/cloudevents+json' \
    -d '{"specversion":"1.0","id":"m2","source":"/test","type":"com.example.structured","data":{"k":1}}'
post "$ING/default/channels/orders" m3 >/dev/null
if wait_count c1 3 10; then
    ok "subscription 1 receives every event"
    check "subscription 2 receives every event" wait_count c2 3 10
    check "each event once to each subscriber" test "$(ids c1)$(ids c2)" = 33
    check "structured event delivered" has c2 '"ce-type":"com.example.structured"'
    check "Prefer: reply sent to subscribers" has c1 '"prefer":"reply"'
    check "body as sent" has c1 '"body":"{\"message\":\"Hello world!\"}"'
else
    bad "subscription 1 receives every event"
fi

# ---- 2. Host-header addressing, 404, the admin events endpoint ---------------------------------
code=$(post "$ING/any/path" h1 '{"message":"by host"}' -H "Host: orders-kn-channel.default.svc.cluster.local")
check "POST with Host {name}-kn-channel.{ns}.svc.cluster.local answers 202" test "$code" = 202
check "Host-addressed event reaches the channel's subscribers" wait_count c1 4 10
check "Host-addressed event is h1" has c1 '"ce-id":"h1"'
code=$(post "$ING/default/channels/nope" n1)
check "unknown channel is 404" test "$code" = 404
check "404 body names the channel" grep -q nope "$TMP/post.body"
code=$(curl -s -m 10 -o "$TMP/adm.body" -w '%{http_code}' -X POST \
    "http://127.0.0.1:$ADM/v1/channels/default/orders/events" -H 'ce-specversion: 1.0' \
    -H 'ce-id: adm1' -H 'ce-source: /test' -H 'ce-type: com.example.admin' -d 'x')
check "admin POST /v1/channels/{ns}/{name}/events answers 202" test "$code" = 202
check "admin-sent event delivered" wait_count c2 5 10

# ---- 3. replies: to spec.reply, dropped and counted without one, reply-only forwarding ----------
sub replier --status 200 --reply-type com.example.reply
sub replies
sub noreply --status 200 --reply-type com.example.reply
sub fwd
cat >"$TMP/replies.yaml" <<EOF
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: {name: ch-reply, namespace: ns1}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sub-reply, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: ch-reply}
  subscriber: {uri: "http://127.0.0.1:$PORT_replier/"}
  reply: {uri: "http://127.0.0.1:$PORT_replies/r"}
---
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: {name: ch-noreply, namespace: ns1}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sub-noreply, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: ch-noreply}
  subscriber: {uri: "http://127.0.0.1:$PORT_noreply/"}
---
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: {name: ch-fwd, namespace: ns1}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sub-fwd, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: ch-fwd}
  reply: {uri: "http://127.0.0.1:$PORT_fwd/f"}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sub-orphan, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: no-such-channel}
  subscriber: {uri: "http://127.0.0.1:$PORT_fwd/"}
EOF
apply_ok "apply channels with reply, without reply, reply only" "$TMP/replies.yaml"
check "a Channel (default template) is Ready" test "$(ready channels ns1 ch-noreply)" = True
check "Subscription to a missing channel is Ready=False" test "$(ready subscriptions ns1 sub-orphan)" = False
reason=$(ready_reason subscriptions ns1 sub-orphan)
check "... with a reason of its own ($reason)" test -n "$reason" -a "$reason" != NotImplemented
post "$ING/ns1/channels/ch-reply" r1 >/dev/null
if wait_count replies 1 10; then
    ok "subscriber's reply goes to spec.reply"
    check "reply is the subscriber's event" has replies '"ce-id":"reply-r1"'
    check "reply path kept" has replies '"path":"/r"'
else
    bad "subscriber's reply goes to spec.reply"
fi
post "$ING/ns1/channels/ch-noreply" nr1 >/dev/null
post "$ING/ns1/channels/ch-noreply" nr2 >/dev/null
check "subscriber without reply destination receives" wait_count noreply 2 10
check "its replies are dropped and counted (no_reply)" wait_metric \
    'herald_dropped_total{namespace="ns1",channel="ch-noreply",subscription="sub-noreply",reason="no_reply"}' 2 10
post "$ING/ns1/channels/ch-fwd" fw1 '{"k":"fwd"}' >/dev/null
if wait_count fwd 1 10; then
    ok "reply-only subscription forwards the event"
    check "forwarded unchanged (id)" has fwd '"ce-id":"fw1"'
    check "forwarded unchanged (body)" has fwd '"body":"{\"k\":\"fwd\"}"'
else
    bad "reply-only subscription forwards the event"
fi

# ---- 4. one subscriber down (connection refused), the other keeps receiving; then it returns ---
sub up
sub down
DOWN_PORT=$PORT_down
unsub down
cat >"$TMP/down.yaml" <<EOF
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: {name: ch-down, namespace: ns1}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sub-up, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: ch-down}
  subscriber: {uri: "http://127.0.0.1:$PORT_up/"}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: sub-down, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: ch-down}
  subscriber: {uri: "http://127.0.0.1:$DOWN_PORT/"}
  delivery: {retry: 20, backoffPolicy: linear, backoffDelay: PT0.2S}
EOF
apply_ok "apply a channel with a subscriber that is down" "$TMP/down.yaml"
for i in 1 2 3 4 5; do post "$ING/ns1/channels/ch-down" "d$i" >/dev/null; done
if wait_count up 5 10; then
    ok "the other subscription keeps receiving while one subscriber is down"
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/v1/subscriptions/ns1/sub-down/dlq")
    check "admin /v1/subscriptions/{ns}/{name}/dlq answers 200" test "$code" = 200
    sleep 1
    sub down --port "$DOWN_PORT"
    check "the subscriber that came back receives" wait_count down 5 20
    check "... all 5 of its events" test "$(ids down)" = 5
else
    bad "the other subscription keeps receiving while one subscriber is down"
fi

# ---- 5. a 3-step Sequence whose reply goes to a final recipient --------------------------------
sub s0 --status 200 --append " - Handled by 0"
sub s1 --status 200 --append " - Handled by 1"
sub s2 --status 200 --append " - Handled by 2"
sub end
cat >"$TMP/seq.yaml" <<EOF
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata: {name: seq1, namespace: ns1}
spec:
  channelTemplate: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel}
  steps:
  - uri: "http://127.0.0.1:$PORT_s0/"
  - uri: "http://127.0.0.1:$PORT_s1/"
  - uri: "http://127.0.0.1:$PORT_s2/"
  reply: {uri: "http://127.0.0.1:$PORT_end/"}
EOF
apply_ok "apply a 3-step Sequence" "$TMP/seq.yaml"
check "Sequence Ready" test "$(ready sequences ns1 seq1)" = True
check "Sequence address is its first channel's" \
    test "$(address sequences ns1 seq1)" = "$ING/ns1/channels/seq1-kn-sequence-0"
for i in 0 1 2; do
    check "channel seq1-kn-sequence-$i exists" test "$(res inmemorychannels ns1 seq1-kn-sequence-$i)" = 200
    check "subscription seq1-kn-sequence-$i exists" test "$(res subscriptions ns1 seq1-kn-sequence-$i)" = 200
done
# herald get channels lists every channel kind: the Sequence's InMemoryChannels show there
check "the channel list (herald get channels) shows the Sequence's channels" test \
    "$(curl -s -m 5 "http://127.0.0.1:$ADM/v1/resources/channels/ns1" | grep -o '"name":"seq1-kn-sequence-[0-9]"' | sort -u | wc -l)" = 3
code=$(post "$ING/ns1/channels/seq1-kn-sequence-0" q1)
check "POST to the Sequence answers 202" test "$code" = 202
if wait_count end 1 10; then
    ok "the Sequence's reply reaches spec.reply"
    check "... with the three appends in order" \
        has end '"body":"{\"message\":\"Hello world! - Handled by 0 - Handled by 1 - Handled by 2\"}"'
    check "... as the third step's reply" has end '"ce-id":"q1-a-a-a"'
    check "step 2 got step 1's reply" has s1 '"ce-id":"q1-a"'
else
    bad "the Sequence's reply reaches spec.reply"
fi

# ---- 6. Knative's terminal Sequence (conf/examples/sequence-terminal.yaml) ---------------------
sub t0 --status 200 --append " - Handled by 0"
sub t1 --status 200 --append " - Handled by 1"
sub t2 --status 200 --append " - Handled by 2"
apply_ok "apply sequence-terminal.yaml" "$(example sequence-terminal.yaml 8101=t0 8102=t1 8103=t2)"
post "$ING/default/channels/sequence-kn-sequence-0" term1 >/dev/null
if wait_count t2 1 10; then
    ok "terminal Sequence reaches its last step"
    check "last step got both earlier appends" \
        has t2 '"body":"{\"message\":\"Hello world! - Handled by 0 - Handled by 1\"}"'
    check "the last step's reply is dropped and counted (no reply)" wait_metric \
        'herald_dropped_total{namespace="default",channel="sequence-kn-sequence-2",subscription="sequence-kn-sequence-2",reason="no_reply"}' 1 10
else
    bad "terminal Sequence reaches its last step"
fi

# ---- 7. a Sequence replying to a Broker (conf/examples/sequence-reply-to-broker.yaml) ----------
sub b0 --status 200 --append " - Handled by 0"
sub b1 --status 200 --append " - Handled by 1"
sub b2 --status 200 --append " - Handled by 2" --reply-type samples.http.mod3
sub bdisp
apply_ok "apply sequence-reply-to-broker.yaml" \
    "$(example sequence-reply-to-broker.yaml 8111=b0 8112=b1 8113=b2 8110=bdisp)"
check "Trigger to the Sequence (ref) Ready" test "$(ready triggers default sequence-trigger)" = True
code=$(post "$ING/default/default" bk1)
check "POST to the Broker answers 202" test "$code" = 202
if wait_count bdisp 1 10; then
    ok "the Sequence's reply goes back to the Broker and its display Trigger"
    check "display gets the new type" has bdisp '"ce-type":"samples.http.mod3"'
    check "display gets the three appends" \
        has bdisp '"body":"{\"message\":\"Hello world! - Handled by 0 - Handled by 1 - Handled by 2\"}"'
    sleep 1
    check "no loop: the Sequence ran once" test "$(count b0)$(count bdisp)" = 11
else
    bad "the Sequence's reply goes back to the Broker and its display Trigger"
fi

# ---- 8. Parallel with filters, even/odd (conf/examples/parallel.yaml) --------------------------
sub pfe --pass-if '"parity":"even"'
sub pfo --pass-if '"parity":"odd"'
sub pte --status 200 --append " - we are even!"
sub pto --status 200 --append " - this is odd!"
sub pdisp
apply_ok "apply parallel.yaml" \
    "$(example parallel.yaml 8121=pfe 8122=pfo 8123=pte 8124=pto 8120=pdisp)"
check "Parallel Ready" test "$(ready parallels default odd-even-parallel)" = True
check "Parallel address is its -kn-parallel channel's" \
    test "$(address parallels default odd-even-parallel)" = "$ING/default/channels/odd-even-parallel-kn-parallel"
for c in odd-even-parallel-kn-parallel odd-even-parallel-kn-parallel-0 odd-even-parallel-kn-parallel-1; do
    check "channel $c exists" test "$(res inmemorychannels default $c)" = 200
done
for s in filter-0 filter-1 0 1; do
    check "subscription odd-even-parallel-kn-parallel-$s exists" \
        test "$(res subscriptions default "odd-even-parallel-kn-parallel-$s")" = 200
done
for e in even-1 odd-1 even-2; do
    post "$ING/default/channels/odd-even-parallel-kn-parallel" "$e" \
        "{\"message\":\"Even or odd?\",\"parity\":\"${e%-*}\"}" >/dev/null
done
if wait_count pdisp 3 10; then
    ok "the reply destination gets every branch's replies"
    check "both filters see every event" test "$(count pfe)$(count pfo)" = 33
    check "even branch gets only even events" test "$(count pte)$(lines_with pte '"ce-id":"odd')" = 20
    check "odd branch gets only odd events" test "$(count pto)$(lines_with pto '"ce-id":"odd-1"')" = 11
    check "even replies at the reply destination" \
        test "$(lines_with pdisp 'Even or odd? - we are even!')" = 2
    check "odd reply at the reply destination" \
        test "$(lines_with pdisp 'Even or odd? - this is odd!')" = 1
else
    bad "the reply destination gets every branch's replies"
fi
# a branch's own reply wins over spec.reply
sub a0 --status 200 --append " a0"
sub a1 --status 200 --append " a1"
sub brep
sub prep
cat >"$TMP/par2.yaml" <<EOF
apiVersion: flows.knative.dev/v1
kind: Parallel
metadata: {name: par2, namespace: ns1}
spec:
  branches:
  - subscriber: {uri: "http://127.0.0.1:$PORT_a0/"}
    reply: {uri: "http://127.0.0.1:$PORT_brep/"}
  - subscriber: {uri: "http://127.0.0.1:$PORT_a1/"}
  reply: {uri: "http://127.0.0.1:$PORT_prep/"}
EOF
apply_ok "apply a Parallel with a branch reply" "$TMP/par2.yaml"
post "$ING/ns1/channels/par2-kn-parallel" p2 >/dev/null
if wait_count brep 1 10; then
    ok "a branch's reply goes to the branch's reply"
    check "the other branch's reply goes to spec.reply" wait_count prep 1 10
    check "branch reply content" has brep 'Hello world! a0'
    check "spec.reply content" has prep 'Hello world! a1'
    sleep 0.5
    check "each reply once, to its own destination" test "$(count brep)$(count prep)" = 11
else
    bad "a branch's reply goes to the branch's reply"
fi

# ---- 9. apply errors: 400 with the field ---------------------------------------------------------
printf 'apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: empty, namespace: ns1}\nspec: {steps: []}\n' >"$TMP/e1.yaml"
apply_err "Sequence with no steps is refused" "$TMP/e1.yaml" "spec.steps"
printf 'apiVersion: flows.knative.dev/v1\nkind: Parallel\nmetadata: {name: nosub, namespace: ns1}\nspec:\n  branches:\n  - filter: {uri: "http://127.0.0.1:1/"}\n' >"$TMP/e2.yaml"
apply_err "Parallel branch without subscriber is refused" "$TMP/e2.yaml" "spec.branches[0].subscriber"
cat >"$TMP/e3.yaml" <<'EOF'
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata: {name: selfy, namespace: ns1}
spec:
  steps:
  - uri: "http://127.0.0.1:1/"
  - ref: {apiVersion: flows.knative.dev/v1, kind: Sequence, name: selfy}
EOF
apply_err "self-referencing Sequence step is refused" "$TMP/e3.yaml" "spec.steps[1]"
printf 'apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: {name: ch-tmpl, namespace: ns1}\n' >"$TMP/e4a.yaml"
apply_ok "apply a Channel with the default template" "$TMP/e4a.yaml"
cat >"$TMP/e4b.yaml" <<'EOF'
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: {name: ch-tmpl, namespace: ns1}
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1beta1
    kind: KafkaChannel
    spec: {numPartitions: 3}
EOF
apply_err "changing a Channel's channelTemplate is refused" "$TMP/e4b.yaml" "spec.channelTemplate"
check "refused flows were not created" test "$(res sequences ns1 empty)$(res sequences ns1 selfy)" = 404404

# ---- 10. Knative's documentation manifests apply unchanged --------------------------------------
for f in "$EX"/knative/*.yaml; do
    apply_ok "knative/$(basename "$f") applies unchanged" "$f"
done
check "Knative's Sequence builds its channels" test "$(res inmemorychannels default sequence-kn-sequence-2)" = 200
check "Knative's Parallel builds its channels" \
    test "$(res inmemorychannels default odd-even-parallel-kn-parallel-1)" = 200

# ---- 11. kill -9 in the middle of a Sequence: every acknowledged event reaches the end ---------
sub k0 --status 200 --append " 0"
sub k1 --status 200 --append " 1" --delay-ms 50
sub k2 --status 200 --append " 2"
sub kend
cat >"$TMP/crash.yaml" <<EOF
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata: {name: kseq, namespace: crash}
spec:
  steps:
  - uri: "http://127.0.0.1:$PORT_k0/"
  - uri: "http://127.0.0.1:$PORT_k1/"
    delivery: {retry: 10, backoffPolicy: linear, backoffDelay: PT0.2S}
  - uri: "http://127.0.0.1:$PORT_k2/"
  reply: {uri: "http://127.0.0.1:$PORT_kend/"}
EOF
apply_ok "apply the Sequence for the crash test" "$TMP/crash.yaml"
code=$(post "$ING/crash/channels/kseq-kn-sequence-0" k-first)
if [ "$code" = 202 ]; then
    # 200 events, one POST each; the answers ("ID CODE") go to $TMP/acks
    (for i in $(seq 1 200); do
        c=$(post "$ING/crash/channels/kseq-kn-sequence-0" "k$i")
        echo "k$i $c" >>"$TMP/acks"
    done) &
    SENDER=$!
    for _ in $(seq 300); do [ "$(wc -l 2>/dev/null <"$TMP/acks" || echo 0)" -ge 100 ] && break; sleep 0.05; done
    kill -9 "$HPID"
    wait "$HPID" 2>/dev/null
    HPID=
    at_kill=$(count kend)
    for _ in $(seq 600); do kill -0 "$SENDER" 2>/dev/null || break; sleep 0.05; done
    kill "$SENDER" 2>/dev/null
    wait "$SENDER" 2>/dev/null
    SENDER=
    acked=$(awk '$2 == 202' "$TMP/acks" | wc -l)
    echo "     $acked events acknowledged, $at_kill at the end when heraldd was killed"
    check "at least 100 events acknowledged before the kill" test "$acked" -ge 100
    start_heraldd
    check "heraldd restarts on the same data dir" test -n "$IN"
    missing=
    end=$((SECONDS + 90))
    while [ $SECONDS -lt $end ]; do
        missing=$(awk '$2 == 202 {print $1}' "$TMP/acks" | while read -r id; do
            grep -qF "\"ce-id\":\"$id-a-a-a\"" "$TMP/kend.jsonl" 2>/dev/null || echo "$id"
        done | wc -l)
        [ "$missing" = 0 ] && break
        sleep 0.5
    done
    check "every acknowledged event reached the end at least once ($missing missing)" test "$missing" = 0
    check "... through all three steps" has kend '"body":"{\"message\":\"Hello world! 0 1 2\"}"'
else
    bad "the crash test's Sequence accepts events (HTTP $code)"
fi

[ -n "$HPID" ] && heraldd_stop
finish_heraldd
