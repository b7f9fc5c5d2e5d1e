#!/usr/bin/env bash
# admin_test.sh — heraldd's admin API and the `herald` broker commands against a real heraldd
# on free ports (port 0, read back from its "heraldd ready" log line), over real HTTP.
# Each check compares exact stdout, stderr and exit code (or an HTTP status and body fragment).
#
#   admin_test.sh HERALDD HERALD GROUP [SUBSCRIBER]
# GROUP: roundtrip | badfilter | lateready | restart | cli | tail | slowtail | deliver | examples
#        | metrics | channels   (deliver and channels need SUBSCRIBER, tests/integration/subscriber.c)
set -uo pipefail
HERALDD=$1
HERALD=$2
GROUP=$3
TMP=$(mktemp -d)
HPID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

stop_daemon() {
    if [ -n "$HPID" ]; then
        heraldd_stop 10
        # in a sanitizer build heraldd reports leaks and memory errors at exit
        if grep -q "Sanitizer" "$TMP/heraldd.log"; then
            bad "heraldd exited with a sanitizer report"; grep -A30 "Sanitizer" "$TMP/heraldd.log" | head -60
        fi
    fi
}
cleanup() {
    stop_daemon
    rm -rf "$TMP"
    [ $fail = 0 ] || exit 1
}
trap cleanup EXIT

# Starts heraldd with a fresh config on port 0 (data kept in $TMP/data across restarts), plus
# the YAML in $EXTRA_CONFIG; a heraldd that does not get ready ends the test.
start_daemon() {
    heraldd_config "$TMP/herald.yaml" "$TMP/data" none "" "${EXTRA_CONFIG:-}"
    heraldd_start "$TMP/herald.yaml"
    [ -n "$IN" ] || { echo "heraldd did not start:"; cat "$TMP/heraldd.log"; exit 1; }
    INGRESS_PORT=$IN
    ADMIN_PORT=$ADM
    export HERALD_ADMIN="http://127.0.0.1:$ADMIN_PORT"
    ING="http://127.0.0.1:$INGRESS_PORT"
}

# expect NAME RC STDOUT STDERR -- ARGS...   (stdin from $STDIN when set)
expect() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5
    if [ -n "${STDIN:-}" ]; then
        printf '%s' "$STDIN" | "$HERALD" "$@" >"$TMP/out" 2>"$TMP/err"
    else
        "$HERALD" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    fi
    local rc=$?
    # describe's ages (a test runs in under 10 s) read "Ns", its creation time "T"
    sed -E -i 's/^(Age: +)[0-9]s \(created [^)]*\)$/\1Ns (created T)/; s/^(  [A-Za-z]+ +(True|False|Unknown) +)[0-9]s /\1Ns /; s/^(Failing: +failing since )[^ ]+ \([0-9]+s ago\)/\1T (Ns ago)/' "$TMP/out"
    check "$name" same_run "$rc" "$want_rc" "$want_out" "$want_err"
}

# http NAME WANT_STATUS WANT_FRAGMENT CURL_ARGS...  (body must contain the fragment)
http() {
    local name=$1 want=$2 frag=$3
    shift 3
    local code
    code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$@")
    if [ "$code" = "$want" ] && grep -qF -- "$frag" "$TMP/body"; then
        ok "$name"
    else
        bad "$name"; echo "  got $code, want $want with '$frag' in:"; head -c 600 "$TMP/body"; echo
    fi
}

# tbl ROW... — the expected table: cells separated by '|', columns padded to the widest cell
# plus 3 spaces, the last column unpadded (an independent oracle for the CLI's tables).
tbl() {
    printf '%s\n' "$@" | awk -F'|' '
        { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n[NR] = NF }
        END { for (r = 1; r <= NR; r++) { line = ""
                for (i = 1; i <= n[r]; i++) line = line (i < n[r] ? sprintf("%-" w[i] "s   ", c[r, i]) : c[r, i])
                print line } }'
}

# json_field FILE EXPR — a field of a JSON file through the CLI-free way: grep -o
field() { grep -o "\"$2\":\"[^\"]*\"" "$1" | head -1 | sed 's/.*:"\(.*\)"/\1/'; }

BROKER_YAML='apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: shop
'
TRIGGERS_YAML='apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders
  namespace: shop
spec:
  broker: default
  filters:
  - exact: {type: order.created}
  - cesql: "source LIKE '"'"'/shop/%'"'"'"
  subscriber:
    uri: http://127.0.0.1:1/orders
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: audit
  namespace: shop
spec:
  broker: default
  subscriber:
    ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}
    uri: /audit
'

case "$GROUP" in
roundtrip)
    start_daemon
    printf '%s---\n%s' "$BROKER_YAML" "$TRIGGERS_YAML" >"$TMP/m.yaml"
    expect "apply prints each resource with its readiness" 0 \
"Broker shop/default applied (generation 1): Ready
Trigger shop/orders applied (generation 1): Ready
Trigger shop/audit applied (generation 1): Ready
" "" -- apply -f "$TMP/m.yaml"
    expect "get triggers -n shop: table" 0 "$(tbl "NAME|BROKER|SUBSCRIBER|READY|REASON" \
        "audit|default|http://127.0.0.1:$INGRESS_PORT/shop/default/audit|True|TriggerReady" \
        "orders|default|http://127.0.0.1:1/orders|True|TriggerReady")
" "" -- get triggers -n shop
    expect "get Brokers -A (any case, all namespaces)" 0 "$(tbl "NAMESPACE|NAME|READY|REASON|URL" \
        "shop|default|True|BrokerReady|http://127.0.0.1:$INGRESS_PORT/shop/default")
" "" -- get Brokers -A
    expect "get brokers without -n is namespace default, as kubectl" 0 "" \
        "No brokers found in namespace default.
" -- get brokers
    http "GET one trigger over the Kubernetes path" 200 '"name":"orders","namespace":"shop"' \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/orders"
    http "list across namespaces" 200 '"kind":"BrokerList"' \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/brokers"
    http "wrong group is 404" 404 '"error"' \
        "$HERALD_ADMIN/apis/serving.knative.dev/v1/namespaces/shop/triggers/orders"
    http "unknown trigger is 404 with a message" 404 'Trigger \"shop/nope\" not found' \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/nope"
    http "POST on a resource is 405" 405 'allowed: GET, PUT, DELETE' -X POST \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/orders"
    http "PUT updates and bumps the generation" 200 '"generation":2' -X PUT \
        -H 'Content-Type: application/json' \
        --data '{"spec":{"broker":"default","subscriber":{"uri":"http://127.0.0.1:2/x"}}}' \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/orders"
    http "PUT with another name in the body is 400" 400 'metadata.name: does not match the URL' \
        -X PUT --data '{"metadata":{"name":"other"},"spec":{}}' \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/brokers/default"
    "$HERALD" get trigger orders -n shop -o yaml >"$TMP/out"
    if grep -q '^    uri: http://127.0.0.1:2/x$' "$TMP/out" && grep -q '^  generation: 2$' "$TMP/out"; then
        ok "yaml has generation 2 and the new uri"
    else bad "yaml has generation 2 and the new uri"; cat "$TMP/out"; fi
    http "DELETE over the Kubernetes path answers the deleted object" 200 '"name":"audit"' -X DELETE \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/audit"
    http "PUT creates" 200 '"generation":1' -X PUT --data \
        '{"spec":{"broker":"default","subscriber":{"uri":"http://127.0.0.1:3/"}}}' \
        "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/created"
    expect "delete a trigger" 0 "Trigger shop/orders deleted
" "" -- delete trigger orders -n shop
    expect "get a deleted trigger: 1 with a message" 1 "" 'error: Trigger "shop/orders" not found
' -- get trigger orders -n shop
    expect "delete again: 1" 1 "" 'error: Trigger "shop/orders" not found
' -- delete triggers orders -n shop
    expect "get an unknown kind" 1 "" "error: unknown kind 'widgets' (one of Broker, Trigger, KafkaSink, EventPolicy, EventType, Channel, InMemoryChannel, KafkaChannel, Subscription, PingSource, ContainerSource, SinkBinding, ApiServerSource, KafkaSource, Service (serving.knative.dev/v1 or v1), Sequence, Parallel, NatsSource, NatsSink)
" -- get widgets
    expect "empty list" 0 "" "No triggers found in namespace nowhere.
" -- get triggers -n nowhere
    STDIN='{"apiVersion":"sources.knative.dev/v1","kind":"PingSource","metadata":{"name":"tick"},"spec":{"schedule":"* * * * *"}}'
    expect "other kinds are stored, not run, and say so" 0 \
"PingSource default/tick applied (generation 1): not ready: NotImplemented: Herald stores PingSource resources but does not run them in this version; it is kept so your manifests apply unchanged
" "" -- apply -f -
    STDIN=
    ;;
badfilter)
    start_daemon
    printf '%s' "$BROKER_YAML" >"$TMP/b.yaml"
    cat >"$TMP/t.yaml" <<'EOF'
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: ok, namespace: shop}
spec: {broker: default, subscriber: {uri: "http://127.0.0.1:1/"}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: bad, namespace: shop}
spec:
  broker: default
  subscriber: {uri: "http://127.0.0.1:1/"}
  filters:
  - cesql: "type = 'a' AND AND"
EOF
    expect "a bad CESQL filter is refused with its position" 1 "" \
"error: document 2 (Trigger shop/bad): spec.filters[0].cesql: invalid CESQL expression at position 15: unexpected operator 'AND', expected a value, an attribute, a function call, NOT, '-', EXISTS or '(' (in \"type = 'a' AND >>>AND\")
" -- apply -f "$TMP/t.yaml"
    expect "nothing of the refused file was applied" 0 "" "No triggers found in namespace shop.
" -- get triggers -n shop
    http "POST /apply answers 400 naming the document and field" 400 \
        'document 2 (Trigger shop/bad): spec.filters[0].cesql: invalid CESQL expression at position 15' \
        -X POST --data-binary @"$TMP/t.yaml" "$HERALD_ADMIN/apply"
    http "unknown dialect" 400 "spec.filters[0]: unknown filter dialect 'regex'" -X POST \
        --data-binary $'apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: x}\nspec: {broker: b, subscriber: {uri: "http://h/"}, filters: [{regex: {type: a}}]}\n' \
        "$HERALD_ADMIN/apply"
    http "bad duration" 400 "spec.delivery.backoffDelay: '1s' is not an ISO 8601 duration" -X POST \
        --data-binary $'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: x}\nspec: {delivery: {backoffDelay: 1s}}\n' \
        "$HERALD_ADMIN/apply"
    http "negative retry" 400 "spec.delivery.retry: must be an integer from 0 to 1000" -X POST \
        --data-binary $'{"apiVersion":"eventing.knative.dev/v1","kind":"Broker","metadata":{"name":"x"},"spec":{"delivery":{"retry":-1}}}' \
        "$HERALD_ADMIN/apply"
    http "bad subscriber URI" 400 "spec.subscriber.uri: 'not a url' is not an absolute http:// or https:// URL" -X POST \
        --data-binary $'apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: x}\nspec: {broker: b, subscriber: {uri: "not a url"}}\n' \
        "$HERALD_ADMIN/apply"
    http "malformed YAML names the line" 400 "document 1: line" -X POST --data-binary $'kind: [\n' \
        "$HERALD_ADMIN/apply"
    http "GET /apply is 405" 405 "allowed: POST" "$HERALD_ADMIN/apply"
    ;;
lateready)
    start_daemon
    cat >"$TMP/t.yaml" <<'EOF'
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: early, namespace: shop}
spec: {broker: default, subscriber: {uri: "http://127.0.0.1:1/"}}
EOF
    expect "a trigger before its broker is not ready, and says why" 0 \
'Trigger shop/early applied (generation 1): not ready: BrokerDoesNotExist: Broker "shop/default" does not exist; apply it and this trigger becomes ready
' "" -- apply -f "$TMP/t.yaml"
    expect "get shows the reason" 0 \
"$(tbl "NAME|BROKER|SUBSCRIBER|READY|REASON" "early|default|http://127.0.0.1:1/|False|BrokerDoesNotExist")
" "" -- get triggers -n shop
    http "events to a missing broker are 404" 404 "no broker" -X POST "$ING/shop/default" \
        -H 'ce-specversion: 1.0' -H 'ce-id: 1' -H 'ce-source: s' -H 'ce-type: t'
    printf '%s' "$BROKER_YAML" >"$TMP/b.yaml"
    expect "apply the broker" 0 "Broker shop/default applied (generation 1): Ready
" "" -- apply -f "$TMP/b.yaml"
    expect "the trigger became ready by itself" 0 \
"$(tbl "NAME|BROKER|SUBSCRIBER|READY|REASON" "early|default|http://127.0.0.1:1/|True|TriggerReady")
" "" -- get triggers -n shop
    expect "delete the broker" 0 "Broker shop/default deleted
" "" -- delete broker default -n shop
    expect "the trigger waits again" 0 \
"$(tbl "NAME|BROKER|SUBSCRIBER|READY|REASON" "early|default|http://127.0.0.1:1/|False|BrokerDoesNotExist")
" "" -- get triggers -n shop
    ;;
restart)
    start_daemon
    printf '%s---\n%s' "$BROKER_YAML" "$TRIGGERS_YAML" >"$TMP/m.yaml"
    expect "apply" 0 \
"Broker shop/default applied (generation 1): Ready
Trigger shop/orders applied (generation 1): Ready
Trigger shop/audit applied (generation 1): Ready
" "" -- apply -f "$TMP/m.yaml"
    curl -s "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/orders" >"$TMP/before.json"
    uid_before=$(field "$TMP/before.json" uid)
    expect "send one event" 0 "event e1 accepted by broker shop/default (202)
" "" -- send shop/default --type order.created --source /shop/1 --id e1 --time 2026-01-02T03:04:05Z
    stop_daemon
    # the second start also applies a manifest folder from the config, after the stored resources
    mkdir "$TMP/manifests"
    printf 'apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: boot, namespace: shop}\nspec: {broker: default, subscriber: {uri: "http://127.0.0.1:1/boot"}}\n' >"$TMP/manifests/boot.yaml"
    EXTRA_CONFIG="manifests:
  - $TMP/manifests" start_daemon
    curl -s "$HERALD_ADMIN/apis/eventing.knative.dev/v1/namespaces/shop/triggers/orders" >"$TMP/after.json"
    uid_after=$(field "$TMP/after.json" uid)
    if [ -n "$uid_before" ] && [ "$uid_before" = "$uid_after" ]; then ok "same uid after restart"
    else bad "same uid after restart ($uid_before vs $uid_after)"; fi
    expect "resources survive a restart; config manifests are applied too" 0 "$(tbl \
        "NAME|BROKER|SUBSCRIBER|READY|REASON" \
        "audit|default|http://127.0.0.1:$INGRESS_PORT/shop/default/audit|True|TriggerReady" \
        "boot|default|http://127.0.0.1:1/boot|True|TriggerReady" \
        "orders|default|http://127.0.0.1:1/orders|True|TriggerReady")
" "" -- get triggers -n shop
    expect "the broker kept its event" 0 '{"specversion":"1.0","id":"e1","source":"/shop/1","type":"order.created","time":"2026-01-02T03:04:05Z"}
' "tail of broker shop/default from seq 1: 1 stored event (up to seq 1), then new ones
" -- tail shop/default --from 1 --count 1
    stop_daemon
    # a bad manifest stops startup, and the log names the file, the document and the field
    printf 'apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: broken, namespace: shop}\nspec: {broker: default, subscriber: {uri: "http://127.0.0.1:1/"}, delivery: {timeout: soon}}\n' >"$TMP/manifests/zz.yaml"
    # (herald.yaml of the last start already lists $TMP/manifests)
    timeout 10 "$HERALDD" -c "$TMP/herald.yaml" 2>"$TMP/bad.log"
    rc=$?
    if [ $rc != 0 ] && [ $rc != 124 ] &&
       grep -q "zz.yaml.*document 1 (Trigger shop/broken): spec.delivery.timeout: 'soon' is not an ISO 8601 duration" "$TMP/bad.log"; then
        ok "a bad startup manifest stops heraldd with file, document and field"
    else bad "bad startup manifest (exit $rc)"; cat "$TMP/bad.log"; fi
    ;;
cli)
    start_daemon
    printf '%s---\n%s' "$BROKER_YAML" "$TRIGGERS_YAML" >"$TMP/m.yaml"
    "$HERALD" apply -f "$TMP/m.yaml" >/dev/null
    expect "send with JSON data" 0 "event o1 accepted by broker shop/default (202)
" "" -- send shop/default --type order.created --source /shop/7 --id o1 --data '{"n":1}'
    expect "send to a missing broker" 1 "" 'error: Broker "shop/nope" not found
' -- send shop/nope --type t --source s --id x
    expect "send an invalid event" 1 "" "error: attribute 'source': required attribute missing
" -- send shop/default -f <(printf '{"specversion":"1.0","id":"x","type":"t"}')
    expect "send usage" 2 "" "error: send needs --type and --source (or -f event.json)
$("$HERALD" send --help)
" -- send shop/default --type t
    # orders has no dead-letter sink and an unreachable subscriber: the event becomes a dead letter
    for _ in $(seq 1 100); do
        curl -s "$HERALD_ADMIN/v1/triggers/shop/orders/dlq" | grep -q '"seq":1' && break
        sleep 0.1
    done
    "$HERALD" dlq list orders -n shop >"$TMP/dlq" 2>&1
    if head -1 "$TMP/dlq" | grep -q '^SEQ   TIME  *STATUS   ID   TYPE  *ERROR$' &&
       sed -n 2p "$TMP/dlq" | grep -q '^1  .*  -  *o1   order.created   connect: connection refused$'; then
        ok "dlq list shows the dead letter with its error"
    else bad "dlq list shows the dead letter with its error"; cat "$TMP/dlq"; fi
    "$HERALD" describe trigger orders -n shop >"$TMP/desc"
    if grep -q '^Ready:        True (TriggerReady) delivering matching events$' "$TMP/desc" &&
       grep -q '^Subscriber:   http://127.0.0.1:1/orders$' "$TMP/desc" &&
       grep -qE '^Failing:      failing since 20[0-9T:.-]+Z \([0-9]+s ago\), 1 attempt, last error connect: connection refused$' "$TMP/desc" &&
       grep -q '^Dead stored:  1 (herald dlq list orders -n shop)$' "$TMP/desc"; then
        ok "describe trigger shows readiness, subscriber, the failing deliveries, dead letters"
    else bad "describe trigger"; cat "$TMP/desc"; fi
    "$HERALD" describe broker default -n shop >"$TMP/descb"
    if grep -q "^Address:      http://127.0.0.1:$INGRESS_PORT/shop/default$" "$TMP/descb" &&
       grep -q '^Events:       1 stored (seq 1..1)$' "$TMP/descb" &&
       grep -q '^Triggers:     2 (1 evaluated for every event, the rest indexed on type/source)$' "$TMP/descb"; then
        ok "describe broker shows address, events and the router index"
    else bad "describe broker"; cat "$TMP/descb"; fi
    expect "dlq replay one" 0 "1 dead letter of trigger shop/orders sent for delivery again
" "" -- dlq replay orders -n shop --seq 1
    expect "dlq replay a missing seq" 1 "" 'error: no dead letter with seq 99 for Trigger "shop/orders"
' -- dlq replay orders -n shop --seq 99
    expect "replay from a sequence" 0 "trigger shop/orders: 1 event replayed (seq 1..1)
" "" -- replay orders -n shop --from 1
    expect "replay from a time" 0 "trigger shop/orders: 1 event replayed (seq 1..1)
" "" -- replay orders -n shop --from 2000-01-01T00:00:00Z
    expect "replay from nonsense" 1 "" "error: from: 'yesterday' is neither a sequence number nor an RFC 3339 time (2026-01-02T15:04:05Z)
" -- replay orders -n shop --from yesterday
    expect "replay usage" 2 "" "error: replay takes TRIGGER --from SEQ|TIME
$("$HERALD" replay --help)
" -- replay orders
    expect "describe of another kind" 1 "" 'error: PingSource "default/x" not found
' -- describe pingsource x
    for c in apply get describe delete send tail dlq replay; do
        "$HERALD" $c --help >"$TMP/h" 2>&1
        if [ $? = 0 ] && head -1 "$TMP/h" | grep -q "^usage: herald $c"; then ok "$c --help"; else bad "$c --help"; fi
    done
    saved=$HERALD_ADMIN
    export HERALD_ADMIN=http://127.0.0.1:1
    expect "daemon unreachable: exit 3 naming the URL" 3 "" \
"error: cannot reach heraldd at http://127.0.0.1:1: Couldn't connect to server (start it, or set --admin / HERALD_ADMIN)
" -- get brokers
    export HERALD_ADMIN=$saved
    expect "--admin picks the daemon" 3 "" \
"error: cannot reach heraldd at http://127.0.0.1:1: Couldn't connect to server (start it, or set --admin / HERALD_ADMIN)
" -- get brokers --admin http://127.0.0.1:1
    expect "--admin before the command picks the daemon" 3 "" \
"error: cannot reach heraldd at http://127.0.0.1:1: Couldn't connect to server (start it, or set --admin / HERALD_ADMIN)
" -- --admin http://127.0.0.1:1 get brokers
    expect "--admin=URL before the command" 3 "" \
"error: cannot reach heraldd at http://127.0.0.1:1: Couldn't connect to server (start it, or set --admin / HERALD_ADMIN)
" -- --admin=http://127.0.0.1:1 get brokers
    expect "a global --admin with no URL is a usage error" 2 "" "error: --admin needs a URL
" -- --admin
    ;;
tail)
    start_daemon
    printf '%s' "$BROKER_YAML" >"$TMP/b.yaml"
    "$HERALD" apply -f "$TMP/b.yaml" >/dev/null
    "$HERALD" tail shop/default --count 3 >"$TMP/tail" 2>"$TMP/tail.err" &
    TAIL=$!
    # the stream is live once the daemon counts the listener; give the request a moment
    sleep 0.5
    curl -s -o /dev/null -X POST "$ING/shop/default" -H 'ce-specversion: 1.0' -H 'ce-id: a1' \
        -H 'ce-source: /s' -H 'ce-type: t.one' -H 'Content-Type: text/plain' --data 'hello'
    curl -s -o /dev/null -X POST "$ING/shop/default" -H 'Content-Type: application/cloudevents+json' \
        --data '{"specversion":"1.0","id":"a2","source":"/s","type":"t.two","data":{"x":1}}'
    "$HERALD" send shop/default --type t.three --source /cli --id a3 --time 2026-01-02T03:04:05Z >/dev/null
    for _ in $(seq 1 100); do kill -0 $TAIL 2>/dev/null || break; sleep 0.1; done
    if kill -0 $TAIL 2>/dev/null; then kill $TAIL; bad "tail ended after 3 events"; else ok "tail ended after 3 events"; fi
    wait $TAIL
    printf '%s\n' \
'{"specversion":"1.0","id":"a1","source":"/s","type":"t.one","datacontenttype":"text/plain","data":"hello"}' \
'{"specversion":"1.0","id":"a2","source":"/s","type":"t.two","data":{"x":1}}' \
'{"specversion":"1.0","id":"a3","source":"/cli","type":"t.three","time":"2026-01-02T03:04:05Z"}' >"$TMP/want"
    if cmp -s "$TMP/want" "$TMP/tail"; then ok "tail printed each stored event as one JSON line"
    else bad "tail output"; diff -u "$TMP/want" "$TMP/tail"; cat "$TMP/tail.err"; fi
    expect "tail of a missing broker" 1 "" 'error: Broker "shop/nope" not found
' -- tail shop/nope
    # deleting the broker ends its tails
    "$HERALD" tail shop/default >/dev/null 2>"$TMP/tail2.err" &
    TAIL=$!
    sleep 0.3
    "$HERALD" delete broker default -n shop >/dev/null
    for _ in $(seq 1 50); do kill -0 $TAIL 2>/dev/null || break; sleep 0.1; done
    if kill -0 $TAIL 2>/dev/null; then kill $TAIL; wait $TAIL; bad "a deleted broker ends its tail"
    else wait $TAIL; rc=$?; if [ $rc = 0 ]; then ok "a deleted broker ends its tail"; else bad "tail exit $rc"; cat "$TMP/tail2.err"; fi; fi
    ;;
slowtail)
    start_daemon
    printf '%s' "$BROKER_YAML" >"$TMP/b.yaml"
    "$HERALD" apply -f "$TMP/b.yaml" >/dev/null
    # A tail client that never reads: its output passes the high-water mark and events are
    # dropped and counted, while the daemon and other clients carry on.
    exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"
    printf 'GET /v1/brokers/shop/default/tail HTTP/1.1\r\nHost: t\r\n\r\n' >&3
    sleep 0.3
    data=$(head -c 60000 /dev/zero | tr '\0' 'x')
    batch="["
    for i in $(seq 1 15); do
        batch+="{\"specversion\":\"1.0\",\"id\":\"b$i\",\"source\":\"/s\",\"type\":\"big\",\"data\":\"$data\"},"
    done
    batch="${batch%,}]"
    printf '%s' "$batch" >"$TMP/batch.json"
    for r in $(seq 1 20); do   # 300 events of 60 kB: 18 MB for a reader that reads nothing
        curl -s -o /dev/null -X POST "$ING/shop/default" \
            -H 'Content-Type: application/cloudevents-batch+json' --data-binary @"$TMP/batch.json"
    done
    curl -s "$HERALD_ADMIN/metrics" >"$TMP/m"
    dropped=$(sed -n 's/^herald_tail_dropped_total{namespace="shop",broker="default"} \([0-9]*\)$/\1/p' "$TMP/m")
    if [ -n "$dropped" ] && [ "$dropped" -gt 0 ]; then ok "a slow tail client loses events, counted ($dropped)"
    else bad "slow tail drops are counted"; grep tail "$TMP/m"; fi
    "$HERALD" tail shop/default --from 300 --count 1 >"$TMP/t" 2>&1
    if grep -q '"id":"b15"' "$TMP/t"; then ok "another tail client still works"; else bad "second tail"; cat "$TMP/t"; fi
    exec 3>&-
    sleep 0.2
    http "the daemon is healthy after the slow client went away" 200 "ok" "$HERALD_ADMIN/healthz"
    ;;
deliver)
    # filters applied through the CLI decide what a real subscriber receives
    SUBSCRIBER=${4:?deliver needs the subscriber program}
    "$SUBSCRIBER" --port 0 --port-file "$TMP/sub.port" --record "$TMP/sub.rec" --max-seconds 60 \
        >/dev/null 2>&1 &
    SUB_PID=$!
    for _ in $(seq 1 100); do [ -s "$TMP/sub.port" ] && break; sleep 0.05; done
    SUB_PORT=$(cat "$TMP/sub.port")
    start_daemon
    cat >"$TMP/d.yaml" <<EOF
$BROKER_YAML---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: typed, namespace: shop}
spec:
  broker: default
  filter: {attributes: {type: order.created}}
  subscriber: {uri: "http://127.0.0.1:$SUB_PORT/typed"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: eu, namespace: shop}
spec:
  broker: default
  filters:
  - any:
    - cesql: "source LIKE '/eu/%'"
    - suffix: {type: .eu}
  - not: {exact: {type: order.created}}
  subscriber: {uri: "http://127.0.0.1:$SUB_PORT/eu"}
EOF
    "$HERALD" apply -f "$TMP/d.yaml" >/dev/null
    "$HERALD" send shop/default --type order.created --source /eu/1 --id e1 >/dev/null
    "$HERALD" send shop/default --type order.paid --source /eu/2 --id e2 >/dev/null
    "$HERALD" send shop/default --type order.paid --source /us/3 --id e3 >/dev/null
    "$HERALD" send shop/default --type tax.eu --source /us/4 --id e4 >/dev/null
    for _ in $(seq 1 100); do
        [ "$(cat "$TMP/sub.rec" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.05
    done
    sleep 0.3 # a wrong extra delivery would show up now
    got=$(sed -n 's/.*"path":"\([^"]*\)".*"ce-id":"\([^"]*\)".*/\1 \2/p' "$TMP/sub.rec" | sort | tr '\n' ' ')
    if [ "$got" = "/eu e2 /eu e4 /typed e1 " ]; then ok "each subscriber got exactly its matching events"
    else bad "deliveries: got '$got', want '/eu e2 /eu e4 /typed e1 '"; cat "$TMP/sub.rec"; fi
    "$HERALD" describe trigger typed -n shop >"$TMP/desc"
    if grep -q '^Counters:     delivered 1, failed attempts 0, dead-lettered 0, dead 0$' "$TMP/desc"; then
        ok "describe counts the delivery"
    else bad "describe counts the delivery"; cat "$TMP/desc"; fi
    kill "$SUB_PID" 2>/dev/null; wait "$SUB_PID" 2>/dev/null
    ;;
examples)
    start_daemon
    # every example manifest of the repository applies (the folder at once) and ends up Ready
    "$HERALD" apply -f "$(dirname "$0")/../../conf/examples/" >"$TMP/out" 2>&1
    if [ $? = 0 ] && grep -q '^Trigger default/orders applied' "$TMP/out"; then ok "apply -f conf/examples/"
    else bad "apply -f conf/examples/"; cat "$TMP/out"; fi
    # a folder with a bad file: the others are applied, the bad one is named, exit 1
    mkdir "$TMP/dir"
    printf '%s' "$BROKER_YAML" >"$TMP/dir/a.yaml"
    printf 'apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, namespace: shop}\nspec: {broker: default, subscriber: {uri: "http://127.0.0.1:1/"}, filters: [{cesql: "("}]}\n' >"$TMP/dir/b.yml"
    printf '{"apiVersion":"eventing.knative.dev/v1","kind":"Broker","metadata":{"name":"c","namespace":"shop"}}' >"$TMP/dir/c.json"
    printf 'not applied\n' >"$TMP/dir/notes.txt"
    expect "apply a folder with one bad file" 1 "Broker shop/default applied (generation 1): Ready
Broker shop/c applied (generation 1): Ready
" "error: $TMP/dir/b.yml: document 1 (Trigger shop/t): spec.filters[0].cesql: invalid CESQL expression at position 1: unexpected end of expression, expected a value, an attribute, a function call, NOT, '-', EXISTS or '(' (in \"(>>>\")
" -- apply -f "$TMP/dir"
    "$HERALD" get triggers -n default >"$TMP/out"
    if ! grep -q "False" "$TMP/out"; then ok "every example trigger is ready"; else bad "example triggers ready"; cat "$TMP/out"; fi
    ;;
metrics)
    start_daemon
    printf '%s' "$BROKER_YAML" >"$TMP/b.yaml"
    "$HERALD" apply -f "$TMP/b.yaml" >/dev/null
    curl -s -o /dev/null -X POST "$ING/shop/default" -H 'ce-specversion: 1.0' -H 'ce-id: m1' \
        -H 'ce-source: /s' -H 'ce-type: t'
    http "metrics render in Prometheus text" 200 \
        'herald_events_received_total{namespace="shop",broker="default",code="202"} 1' \
        "$HERALD_ADMIN/metrics"
    if grep -q '^# TYPE herald_events_received_total counter$' "$TMP/body"; then ok "metrics TYPE line"
    else bad "metrics TYPE line"; fi
    # herald send goes through the admin API, which hands the POST to the ingress: same metrics
    "$HERALD" send shop/default --type t --source /s --id m2 >/dev/null
    http "events sent through the admin API are counted like the ingress's" 200 \
        'herald_events_received_total{namespace="shop",broker="default",code="202"} 2' \
        "$HERALD_ADMIN/metrics"
    http "POST /metrics is 405" 405 "allowed: GET" -X POST "$HERALD_ADMIN/metrics"
    http "healthz" 200 "ok" "$HERALD_ADMIN/healthz"
    http "the web page" 200 "<title>Herald</title>" "$HERALD_ADMIN/ui/"
    http "the web page's script" 200 "use strict" "$HERALD_ADMIN/ui/app.js"
    if command -v node >/dev/null; then
        # its script must at least parse (ui_heraldd.sh runs it in a browser)
        cp "$TMP/body" "$TMP/ui.js"
        if node -e "new Function(require('fs').readFileSync('$TMP/ui.js','utf8'))"; then
            ok "the page's script parses"
        else bad "the page's script parses"; fi
    fi
    http "unknown path is 404 JSON" 404 '"error"' "$HERALD_ADMIN/nope"
    # the operations on one broker or trigger: a wrong method is 405, an op of the other kind 404
    V1=$HERALD_ADMIN/v1
    http "POST broker tail is 405" 405 "allowed: GET" -X POST "$V1/brokers/shop/default/tail"
    http "GET broker events is 405" 405 "allowed: POST" "$V1/brokers/shop/default/events"
    http "POST broker describe is 405" 405 "allowed: GET" -X POST "$V1/brokers/shop/default/describe"
    http "POST trigger describe is 405" 405 "allowed: GET" -X POST "$V1/triggers/shop/t1/describe"
    http "POST trigger dlq is 405" 405 "allowed: GET" -X POST "$V1/triggers/shop/t1/dlq"
    http "GET trigger dlq/replay is 405" 405 "allowed: POST" "$V1/triggers/shop/t1/dlq/replay"
    http "GET trigger replay is 405" 405 "allowed: POST" "$V1/triggers/shop/t1/replay"
    http "a broker has no dlq" 404 "unknown admin path" "$V1/brokers/shop/default/dlq"
    http "a trigger has no tail" 404 "unknown admin path" -X POST "$V1/triggers/shop/t1/tail"
    http "a broker has no dlq/replay" 404 "unknown admin path" -X POST \
        "$V1/brokers/shop/default/dlq/replay"
    http "describe has no sub-path" 404 "unknown admin path" "$V1/brokers/shop/default/describe/x"
    http "describe a missing broker" 404 'Broker \"shop/nope\" not found' "$V1/brokers/shop/nope/describe"
    http "describe a missing trigger" 404 'Trigger \"shop/nope\" not found' \
        "$V1/triggers/shop/nope/describe"
    http "describe a broker" 200 '"kind":"Broker","namespace":"shop","name":"default"' \
        "$V1/brokers/shop/default/describe"
    ;;
channels)
    # a channel answers as a broker and a subscription as a trigger, through the CLI: send, tail,
    # describe, dead letters (a subscriber answering 400, no dead-letter sink), replay
    SUBSCRIBER=${4:?channels needs the subscriber program}
    "$SUBSCRIBER" --port 0 --port-file "$TMP/sub.port" --record "$TMP/sub.rec" --status 400 \
        --max-seconds 100 >/dev/null 2>&1 &
    SUB_PID=$!
    for _ in $(seq 1 100); do [ -s "$TMP/sub.port" ] && break; sleep 0.05; done
    SUB_PORT=$(cat "$TMP/sub.port")
    start_daemon
    # a broker with the same name as the channel: each lists only its own consumers
    cat >"$TMP/c.yaml" <<YAML
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: {name: c, namespace: default}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: s, namespace: default}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: c}
  subscriber: {uri: "http://127.0.0.1:$SUB_PORT/s"}
  reply: {uri: "http://127.0.0.1:1/reply"}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: s2, namespace: default}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: c}
  subscriber: {uri: "http://127.0.0.1:$SUB_PORT/s2"}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: orphan, namespace: default}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: nope}
  subscriber: {uri: "http://127.0.0.1:$SUB_PORT/o"}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: c, namespace: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: bt, namespace: default}
spec: {broker: c, subscriber: {uri: "http://127.0.0.1:$SUB_PORT/bt"}}
---
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: {name: c2, namespace: default}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: fwd, namespace: default}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: c2}
  reply: {uri: "http://127.0.0.1:$SUB_PORT/fwd"}
YAML
    "$HERALD" apply -f "$TMP/c.yaml" >"$TMP/out" 2>&1 || { bad "apply the channel manifests"; cat "$TMP/out"; }
    "$HERALD" tail channel:default/c --count 1 >"$TMP/tail" 2>"$TMP/tail.err" &
    TAIL=$!
    sleep 0.5
    expect "send to a channel" 0 "event c1 accepted by channel default/c (202)
" "" -- send channel:default/c --type t.one --source /s --id c1 --time 2026-01-02T03:04:05Z
    for _ in $(seq 1 100); do kill -0 $TAIL 2>/dev/null || break; sleep 0.1; done
    if kill -0 $TAIL 2>/dev/null; then kill $TAIL; bad "channel tail ended after 1 event"; fi
    wait $TAIL
    printf '%s\n' '{"specversion":"1.0","id":"c1","source":"/s","type":"t.one","time":"2026-01-02T03:04:05Z"}' >"$TMP/want"
    if cmp -s "$TMP/want" "$TMP/tail"; then ok "tail of a channel prints its stored event"
    else bad "channel tail output"; diff -u "$TMP/want" "$TMP/tail"; cat "$TMP/tail.err"; fi
    for _ in $(seq 1 100); do
        curl -s "$HERALD_ADMIN/v1/subscriptions/default/s/dlq" | grep -q '"seq":1' && break
        sleep 0.1
    done
    http "dlq of a subscription names it" 200 \
        '"subscription":"s","namespace":"default","items":[{"seq":1,"status":400' \
        "$HERALD_ADMIN/v1/subscriptions/default/s/dlq"
    dead_error=$(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' "$TMP/body")
    "$HERALD" dlq list subscription:s >"$TMP/dlq" 2>&1
    if head -1 "$TMP/dlq" | grep -q '^SEQ   TIME  *STATUS   ID   TYPE    ERROR$' &&
       sed -n 2p "$TMP/dlq" | grep -qF "   400      c1   t.one   $dead_error" &&
       [ "$(wc -l <"$TMP/dlq")" = 2 ]; then
        ok "dlq list subscription:s shows the dead letter with its status"
    else bad "dlq list subscription:s"; cat "$TMP/dlq"; fi
    expect "describe subscription" 0 "Name:         s
Namespace:    default
Kind:         Subscription
Age:          Ns (created T)
Ready:        True (SubscriptionReady) delivering every event of the channel
Channel:      c
Subscriber:   http://127.0.0.1:$SUB_PORT/s
Reply:        http://127.0.0.1:1/reply
Delivery:     retry 0, exponential backoff 100 ms, timeout 30000 ms, maxInFlight 100, unordered
Dead letters: kept by heraldd (herald dlq)
Progress:     cursor 1 of 1, backlog 0, in flight 0, pending retries 0
Counters:     delivered 0, failed attempts 1, dead-lettered 0, dead 1
Failing:      failing since T (Ns ago), 1 attempt, last answer 400
Dead stored:  1 (herald dlq list subscription:s -n default)

Conditions:
  TYPE                 STATUS   AGE   REASON
  Ready                True     Ns    SubscriptionReady
  ChannelReady         True     Ns    ChannelReady
  ReferencesResolved   True     Ns    ReferencesResolved
" "" -- describe subscription s
    "$HERALD" describe sub s2 >"$TMP/desc"
    if grep -q '^Reply:        (none: replies are dropped)$' "$TMP/desc"; then
        ok "a subscription without a reply says its replies are dropped"
    else bad "describe sub s2"; cat "$TMP/desc"; fi
    expect "describe channel: its subscriptions, not the broker's triggers" 0 "Name:         c
Namespace:    default
Kind:         Channel
Age:          Ns (created T)
Ready:        True (ChannelReady) accepting events at http://127.0.0.1:$INGRESS_PORT/default/channels/c
Address:      http://127.0.0.1:$INGRESS_PORT/default/channels/c
Delivery:     retry 0, exponential backoff 100 ms, timeout 30000 ms, maxInFlight 100, unordered
Dead letters: kept by heraldd (herald dlq)
Events:       1 stored (seq 1..1)
Subscribers:  2

$(tbl "SUBSCRIPTION|READY|BACKLOG|IN-FLIGHT" "s|True|0|0" "s2|True|0|0")

Conditions:
  TYPE    STATUS   AGE   REASON
  Ready   True     Ns    ChannelReady
" "" -- describe channel c
    "$HERALD" describe broker c >"$TMP/descb"
    if grep -q '^Events:       0 stored' "$TMP/descb" && grep -q '^bt  ' "$TMP/descb" &&
       ! grep -q '^s' "$TMP/descb"; then
        ok "describe broker of the same name: its triggers only, its own log"
    else bad "describe broker c"; cat "$TMP/descb"; fi
    expect "replay a subscription" 0 "subscription default/s: 1 event replayed (seq 1..1)
" "" -- replay subscription:s --from 1
    for _ in $(seq 1 100); do
        [ "$(grep -c '"path":"/s"' "$TMP/sub.rec")" -ge 2 ] && break; sleep 0.05
    done
    if [ "$(grep -c '"path":"/s"' "$TMP/sub.rec")" = 2 ]; then ok "the replayed event is delivered again"
    else bad "replayed delivery"; cat "$TMP/sub.rec"; fi
    expect "dlq replay a subscription's dead letter" 0 "1 dead letter of subscription default/s sent for delivery again
" "" -- dlq replay sub:s --seq 1
    expect "dlq replay a missing seq" 1 "" 'error: no dead letter with seq 9 for Subscription "default/s2"
' -- dlq replay sub:s2 --seq 9
    expect "replay an unbound subscription" 1 "" 'error: Subscription "default/orphan" is not bound to a channel yet (see herald describe subscription orphan -n default)
' -- replay subscription:orphan --from 1
    expect "send to a missing channel" 1 "" 'error: Channel "default/nope" not found
' -- send channel:default/nope --type t --source s --id x
    expect "tail of a missing channel" 1 "" 'error: Channel "default/nope" not found
' -- tail channel:default/nope
    expect "describe a missing subscription" 1 "" 'error: Subscription "default/nope" not found
' -- describe subscription nope
    expect "dlq of a missing subscription" 1 "" 'error: Subscription "default/nope" not found
' -- dlq list subscription:nope
    V1=$HERALD_ADMIN/v1
    http "a trigger is not a subscription" 404 'Subscription \"default/bt\" not found' \
        "$V1/subscriptions/default/bt/describe"
    http "a subscription is not a trigger" 404 'Trigger \"default/s\" not found' \
        "$V1/triggers/default/s/dlq"
    http "describe a channel: the broker's shape" 200 \
        '"kind":"Channel","namespace":"default","name":"c","id":' "$V1/channels/default/c/describe"
    if grep -qF '"triggers":[{"name":"s","ready":true,"backlog":0,"inFlight":0},{"name":"s2",' "$TMP/body" &&
       ! grep -qF '"name":"bt"' "$TMP/body"; then ok "a channel lists its subscriptions under triggers"
    else bad "channel describe lists"; cat "$TMP/body"; fi
    http "describe a subscription: channel and reply" 200 \
        "\"channel\":\"c\",\"subscriberUri\":\"http://127.0.0.1:$SUB_PORT/s\",\"reply\":\"http://127.0.0.1:1/reply\",\"delivery\":" \
        "$V1/subscriptions/default/s/describe"
    if ! grep -qF '"filter"' "$TMP/body" && ! grep -qF '"broker"' "$TMP/body"; then
        ok "a subscription's describe has no filter or broker"
    else bad "subscription describe members"; fi
    http "a reply-only subscription forwards to its reply" 200 \
        "\"subscriberUri\":\"http://127.0.0.1:$SUB_PORT/fwd\",\"reply\":\"http://127.0.0.1:$SUB_PORT/fwd\"" \
        "$V1/subscriptions/default/fwd/describe"
    http "describe an InMemoryChannel" 200 '"kind":"InMemoryChannel","namespace":"default","name":"c2"' \
        "$V1/channels/default/c2/describe"
    http "describe a broker lists no subscription" 200 '"triggers":[{"name":"bt",' \
        "$V1/brokers/default/c/describe"
    http "POST channel tail is 405" 405 "allowed: GET" -X POST "$V1/channels/default/c/tail"
    http "GET channel events is 405" 405 "allowed: POST" "$V1/channels/default/c/events"
    http "GET subscription replay is 405" 405 "allowed: POST" "$V1/subscriptions/default/s/replay"
    http "GET subscription dlq/replay is 405" 405 "allowed: POST" \
        "$V1/subscriptions/default/s/dlq/replay"
    http "a channel has no dlq" 404 "unknown admin path" "$V1/channels/default/c/dlq"
    http "a subscription has no tail" 404 "unknown admin path" "$V1/subscriptions/default/s/tail"
    kill "$SUB_PID" 2>/dev/null; wait "$SUB_PID" 2>/dev/null
    ;;
*)
    echo "unknown group $GROUP"; exit 2 ;;
esac

stop_daemon
echo "$pass passed, $fail failed"
[ $fail = 0 ]
