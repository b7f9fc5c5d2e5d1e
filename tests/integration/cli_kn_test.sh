#!/usr/bin/env bash
# shellcheck disable=SC2154  # PORT_<name> variables are set by sub() through eval
# cli_kn_test.sh — the `herald` commands a kn/kubectl user types, against a real heraldd on free
# ports and real subscribers (subscriber.c), over real HTTP: kn-style create/update/delete of
# brokers, triggers, channels and subscriptions, delete -f, -n defaulting to `default`, -A,
# --opt=value, -o json|yaml|wide, version, get -w, send/event send with --field, herald listen,
# and describe's conditions and last failing answer. Prints "N passed, N failed".
#
#   cli_kn_test.sh HERALDD HERALD SUBSCRIBER GROUP
# GROUP: resources | output | version | watch | send | listen | describe
set -uo pipefail
HERALDD=$1
HERALD=$2
SUB=$3
GROUP=$4
TMP=$(mktemp -d)
HPID=
LPID=
SUB_MAX_SECONDS=100
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cleanup() { # heraldd stopped with SIGTERM, not killed; the listener too
    [ -n "$LPID" ] && kill "$LPID" 2>/dev/null
    kill_all TERM
    rm -rf "$TMP"
}
trap cleanup EXIT

start_daemon() { # a heraldd that did not get ready ends the test
    heraldd_config "$TMP/herald.yaml" "$TMP/data" none
    heraldd_start "$TMP/herald.yaml"
    [ -n "$IN" ] || { echo "heraldd did not start"; cat "$TMP/heraldd.log"; exit 1; }
    INGRESS_PORT=$IN
    export HERALD_ADMIN="http://127.0.0.1:$ADM"
}

# expect NAME RC STDOUT STDERR -- ARGS...: exact stdout, stderr and exit code of herald ARGS
expect() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5
    "$HERALD" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$?
    check "$name" same_run "$rc" "$want_rc" "$want_out" "$want_err"
}

# jq_py EXPR < JSON: prints the Python expression EXPR evaluated with d = the parsed JSON
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

group_resources() {
    start_daemon
    expect "broker create" 0 "Broker 'default' successfully created in namespace 'default'.
" "" -- broker create default
    expect "broker create of an existing one" 1 "" \
        "error: Broker 'default' already exists in namespace 'default' (use update to change it)
" -- broker create default
    expect "broker create -n with --opt=value forms" 0 \
        "Broker 'b2' successfully created in namespace 'team'.
" "" -- broker create b2 --namespace=team --dl-sink=http://127.0.0.1:1/dls
    "$HERALD" get broker b2 -n team -o json >"$TMP/b2.json"
    check "--dl-sink is spec.delivery.deadLetterSink" \
        [ "$(jq_py 'd["spec"]["delivery"]["deadLetterSink"]["uri"]' <"$TMP/b2.json")" = "http://127.0.0.1:1/dls" ]

    sub recv
    expect "trigger create with filters and a URL sink" 0 \
        "Trigger 'orders' successfully created in namespace 'default'.
" "" -- trigger create orders --broker default --filter type=order.created \
        --filter=source=/shop --sink "http://127.0.0.1:$PORT_recv/orders"
    "$HERALD" get trigger orders -o json >"$TMP/t.json"
    check "the trigger's filter and subscriber" [ "$(jq_py '(d["spec"]["broker"], d["spec"]["filter"]["attributes"], d["spec"]["subscriber"])' <"$TMP/t.json")" = \
        "('default', {'type': 'order.created', 'source': '/shop'}, {'uri': 'http://127.0.0.1:$PORT_recv/orders'})" ]
    curl -s -o /dev/null -X POST "http://127.0.0.1:$INGRESS_PORT/default/default" -H 'ce-specversion: 1.0' \
        -H 'ce-id: o1' -H 'ce-source: /shop' -H 'ce-type: order.created' -H 'Content-Type: text/plain' --data 'x'
    check "the created trigger delivers" wait_count recv 1 20
    expect "trigger update: filter added and removed, sink to a ksvc" 0 \
        "Trigger 'orders' updated in namespace 'default'.
  not ready yet: SubscriberResolveFailed: Knative Service \"default/display\" (serving.knative.dev/v1) does not exist: this heraldd does not run Knative Serving, so it resolves only once Serving runs it. To deliver now, refer to a Kubernetes Service instead (ref: {apiVersion: v1, kind: Service, name: display}); give it an address in one of three ways: (1) apply it with the annotation herald.dev/url: {apiVersion: v1, kind: Service, metadata: {name: display, namespace: default, annotations: {herald.dev/url: \"http://127.0.0.1:9000/\"}}}; (2) apply it as type ExternalName: spec: {type: ExternalName, externalName: HOST, ports: [{name: http, port: 9000}]}; (3) map it in herald.yaml: services: {default/display: \"http://127.0.0.1:9000/\"}
" "" -- trigger update orders --filter source- --filter subject=s1 --sink ksvc:display
    "$HERALD" get trigger orders -o json >"$TMP/t.json"
    check "update kept the broker and changed filter and sink" [ "$(jq_py '(d["spec"]["broker"], d["spec"]["filter"]["attributes"], d["spec"]["subscriber"], d["metadata"]["generation"])' <"$TMP/t.json")" = \
        "('default', {'type': 'order.created', 'subject': 's1'}, {'ref': {'apiVersion': 'serving.knative.dev/v1', 'kind': 'Service', 'name': 'display'}}, 2)" ]
    expect "trigger update of a missing trigger" 1 "" "error: Trigger 'nope' not found in namespace 'default'
" -- trigger update nope --sink http://127.0.0.1:1/
    expect "trigger create with broker: and channel: sinks" 0 \
        "Trigger 'fwd' successfully created in namespace 'default'.
  not ready yet: SubscriberResolveFailed: Broker \"default/b3\" does not exist; it is resolved as soon as it is applied
" "" -- trigger create fwd --sink broker:b3 --dl-sink channel:c1
    "$HERALD" get trigger fwd -o json >"$TMP/t.json"
    check "broker:NAME and channel:NAME are Knative refs" [ "$(jq_py '(d["spec"]["broker"], d["spec"]["subscriber"]["ref"], d["spec"]["delivery"]["deadLetterSink"]["ref"])' <"$TMP/t.json")" = \
        "('default', {'apiVersion': 'eventing.knative.dev/v1', 'kind': 'Broker', 'name': 'b3'}, {'apiVersion': 'messaging.knative.dev/v1', 'kind': 'Channel', 'name': 'c1'})" ]
    expect "a sink in no known form" 2 "" \
        "error: --sink 'svc:x': give a URL (http://... or https://...), ksvc:NAME, broker:NAME or channel:NAME
" -- trigger create bad --sink svc:x
    expect "trigger create needs --sink" 2 "" "error: trigger create needs --sink
$("$HERALD" trigger --help)
" -- trigger create bad

    expect "channel create (imc)" 0 "Channel 'c1' successfully created in namespace 'default'.
" "" -- channel create c1 --type imc
    check "--type imc made an InMemoryChannel" [ "$("$HERALD" get imc c1 -o json | jq_py 'd["kind"]')" = InMemoryChannel ]
    expect "subscription create with --reply" 0 \
        "Subscription 's1' successfully created in namespace 'default'.
" "" -- subscription create s1 --channel c1 --sink "http://127.0.0.1:$PORT_recv/s1" --reply broker:default
    expect "subscription update" 0 "Subscription 's1' updated in namespace 'default'.
" "" -- subscription update s1 --sink-reply=http://127.0.0.1:1/r
    "$HERALD" get subscription s1 -o json >"$TMP/s.json"
    check "the subscription's channel (an InMemoryChannel), subscriber and new reply" [ "$(jq_py '(d["spec"]["channel"]["kind"], d["spec"]["channel"]["name"], d["spec"]["subscriber"]["uri"], d["spec"]["reply"])' <"$TMP/s.json")" = \
        "('InMemoryChannel', 'c1', 'http://127.0.0.1:$PORT_recv/s1', {'uri': 'http://127.0.0.1:1/r'})" ]
    expect "list triggers (kn's list is get)" 0 \
        "$(printf '%-6s   %-7s   %-10s   %-5s   %s\n' NAME BROKER SUBSCRIBER READY REASON)
$(printf '%-6s   %-7s   %-10s   %-5s   %s\n' fwd default '' False SubscriberResolveFailed)
$(printf '%-6s   %-7s   %-10s   %-5s   %s\n' orders default '' False SubscriberResolveFailed)
" "" -- trigger list
    expect "-A lists every namespace" 0 \
        "$(printf '%-9s   %-7s   %-5s   %-11s   %s\n' NAMESPACE NAME READY REASON URL)
$(printf '%-9s   %-7s   %-5s   %-11s   %s\n' default default True BrokerReady "http://127.0.0.1:$INGRESS_PORT/default/default")
$(printf '%-9s   %-7s   %-5s   %-11s   %s\n' team b2 True BrokerReady "http://127.0.0.1:$INGRESS_PORT/team/b2")
" "" -- get brokers -A
    expect "without -n, get lists namespace default only" 0 \
        "$(printf '%-7s   %-5s   %-11s   %s\n' NAME READY REASON URL)
$(printf '%-7s   %-5s   %-11s   %s\n' default True BrokerReady "http://127.0.0.1:$INGRESS_PORT/default/default")
" "" -- get brokers
    expect "subscription delete" 0 "Subscription 's1' deleted in namespace 'default'.
" "" -- subscription delete s1
    expect "channel delete (an InMemoryChannel)" 0 "Channel 'c1' deleted in namespace 'default'.
" "" -- channel delete c1
    expect "trigger delete" 0 "Trigger 'fwd' deleted in namespace 'default'.
" "" -- trigger delete fwd
    expect "trigger delete again" 1 "" "error: Trigger \"default/fwd\" not found
" -- trigger delete fwd
    expect "broker delete -n" 0 "Broker 'b2' deleted in namespace 'team'.
" "" -- broker delete b2 -n team

    cat >"$TMP/m.yaml" <<'EOF'
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata:
  name: m1
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: m2, namespace: default}
spec: {broker: default, subscriber: {uri: "http://127.0.0.1:1/"}}
EOF
    "$HERALD" apply -f "$TMP/m.yaml" >/dev/null
    expect "delete -f deletes what the file names" 0 "InMemoryChannel default/m1 deleted
Trigger default/m2 deleted
" "" -- delete -f "$TMP/m.yaml"
    expect "delete -f again: each missing object reported" 1 "" 'error: InMemoryChannel "default/m1" not found
error: Trigger "default/m2" not found
' -- delete -f "$TMP/m.yaml"
    printf '{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"eventing.knative.dev/v1","kind":"Trigger","metadata":{"name":"orders"}}]}' >"$TMP/l.json"
    expect "delete -f of a JSON List" 0 "Trigger default/orders deleted
" "" -- delete --filename="$TMP/l.json"
    printf 'kind: [\n' >"$TMP/bad.yaml"
    expect "delete -f of a file that is not YAML" 1 "" \
        "error: $TMP/bad.yaml: not valid YAML or JSON: did not find expected node content at line 2
" -- delete -f "$TMP/bad.yaml"
    for c in broker trigger channel subscription; do
        "$HERALD" "$c" --help >"$TMP/help" 2>&1
        check "$c --help" grep -q "^usage: herald $c create NAME" "$TMP/help"
    done
}

group_output() {
    start_daemon
    "$HERALD" broker create default >/dev/null
    "$HERALD" trigger create t1 --sink http://127.0.0.1:1/x --filter type=a >/dev/null
    "$HERALD" get triggers -o json >"$TMP/list.json"
    check "-o json is indented by 4 spaces, as kubectl" \
        grep -q '^    "kind": "List",$' "$TMP/list.json"
    check "-o json nests by 4 more spaces per level" grep -q '^            "kind": "Trigger",$' "$TMP/list.json"
    check "-o json parses as a v1 List" [ "$(jq_py '(d["kind"], d["items"][0]["metadata"]["name"])' <"$TMP/list.json")" = "('List', 't1')" ]
    "$HERALD" get triggers -o yaml >"$TMP/list.yaml"
    check "-o yaml parses (python3 yaml)" [ "$(python3 -c 'import yaml,sys; d=list(yaml.safe_load_all(sys.stdin)); print(d[0]["spec"]["filter"]["attributes"]["type"], d[0]["status"]["conditions"][0]["status"])' <"$TMP/list.yaml")" = "a True" ]
    "$HERALD" get triggers -o wide >"$TMP/wide"
    check "-o wide adds AGE, FAILING and LAST-ERROR" \
        grep -qE '^NAME +BROKER +SUBSCRIBER +READY +REASON +AGE +FAILING +LAST-ERROR$' "$TMP/wide"
    check "-o wide: the AGE of a new trigger" grep -qE '^t1 +default +http://127.0.0.1:1/x +True +TriggerReady +[0-9]s' "$TMP/wide"
    expect "-o takes json, yaml or wide" 2 "" "error: -o takes json, yaml or wide
$("$HERALD" get --help)
" -- get triggers -o table
    expect "--namespace=NS and --output=json: an empty List" 0 "{
    \"apiVersion\": \"v1\",
    \"kind\": \"List\",
    \"items\": []
}
" "" -- get brokers --namespace=other --output=json
}

group_version() {
    start_daemon
    local ver
    ver=$(curl -s "$HERALD_ADMIN/version" | jq_py 'd["version"]')
    check "GET /version answers the daemon's version" [ -n "$ver" ]
    "$HERALD" version >"$TMP/v" 2>"$TMP/ve"
    check "version: client and server lines" \
        grep -qE "^Client Version: $ver \(commit [^)]+\)$" "$TMP/v"
    check "version: the server's version from the admin API" \
        grep -qE "^Server Version: $ver \(commit [^)]+\)$" "$TMP/v"
    "$HERALD" version -o json | jq_py 'd["serverVersion"]["version"]' >"$TMP/vj"
    check "version -o json" [ "$(cat "$TMP/vj")" = "$ver" ]
    heraldd_stop
    "$HERALD" version >"$TMP/v" 2>"$TMP/ve"
    local rc=$? good=no
    [ "$rc" = 3 ] && grep -q "^Client Version: $ver" "$TMP/v" && grep -q "cannot reach heraldd" "$TMP/ve" && good=yes
    check "version without a daemon: the client's line, exit 3" [ $good = yes ]
    "$HERALD" --version >"$TMP/v" 2>/dev/null
    check "--version is version" grep -q "^Client Version: $ver" "$TMP/v"
}

group_watch() {
    start_daemon
    "$HERALD" broker create default >/dev/null
    "$HERALD" trigger create w1 --sink http://127.0.0.1:1/before >/dev/null
    "$HERALD" trigger create w3 --sink http://127.0.0.1:1/single >/dev/null
    "$HERALD" get triggers -w --watch-timeout 10 >"$TMP/watch" 2>"$TMP/watch.err" &
    local wp=$!
    "$HERALD" get trigger w3 -w -o yaml --watch-timeout 10 >"$TMP/watch1" 2>"$TMP/watch1.err" &
    local wp1=$!
    for _ in $(seq 100); do grep -q '^w1 ' "$TMP/watch" && break; sleep 0.05; done
    "$HERALD" trigger update w1 --sink http://127.0.0.1:1/after >/dev/null
    "$HERALD" trigger create w2 --sink http://127.0.0.1:1/new >/dev/null
    for _ in $(seq 100); do grep -q '^w2 ' "$TMP/watch" && break; sleep 0.05; done
    for _ in $(seq 100); do grep -q 'name: w3' "$TMP/watch1" && break; sleep 0.05; done
    "$HERALD" trigger delete w2 >/dev/null
    "$HERALD" trigger delete w3 >/dev/null
    wait $wp
    local rc=$?
    wait $wp1
    local rc1=$?
    check "get -w exits 0 after --watch-timeout" [ "$rc" = 0 ]
    check "get -w prints the header once" [ "$(grep -c '^NAME ' "$TMP/watch")" = 1 ]
    check "get -w prints the first state" grep -q '^w1 .*http://127.0.0.1:1/before ' "$TMP/watch"
    check "get -w prints the change" grep -q '^w1 .*http://127.0.0.1:1/after ' "$TMP/watch"
    check "get -w prints a new object" grep -q '^w2 .*http://127.0.0.1:1/new ' "$TMP/watch"
    check "get -w prints a deleted object, READY Deleted" \
        grep -Eq '^w2 +default +http://127.0.0.1:1/new +Deleted *$' "$TMP/watch"
    check "get -w prints nothing twice" [ "$(wc -l <"$TMP/watch")" = 7 ]
    [ "$(wc -l <"$TMP/watch")" = 7 ] || cat "$TMP/watch" "$TMP/watch.err"
    check "get NAME -w keeps watching after the object is deleted (exit 0)" [ "$rc1" = 0 ]
    check "get NAME -w -o yaml prints it deleted, with metadata.deletionTimestamp" \
        grep -q '^  deletionTimestamp: ' "$TMP/watch1"
    check "get NAME -w -o yaml: two documents, the object and its deletion" \
        [ "$(grep -c '^  name: w3$' "$TMP/watch1")" = 2 ]
    [ "$rc1" = 0 ] || cat "$TMP/watch1" "$TMP/watch1.err"
    expect "--watch-timeout needs -w" 2 "" "error: --watch-timeout goes with -w
$("$HERALD" get --help)
" -- get triggers --watch-timeout 1
}

group_send() {
    start_daemon
    sub rec
    "$HERALD" broker create default >/dev/null
    "$HERALD" trigger create all --sink "http://127.0.0.1:$PORT_rec/" >/dev/null
    local before
    before=$(date -u +%s)
    expect "send prints the id sent" 0 "event f1 accepted by broker default/default (202)
" "" -- send default --type t.f --source /cli --id f1 --field a.b=1 --field a.c=true \
        --field=a.d.e=x --field n=-2.5 --field s="1 2" --field f=false
    check "the subscriber got it" wait_count rec 1 20
    local body
    body=$(jq_py 'd["body"]' <"$TMP/rec.jsonl")
    check "--field builds nested typed JSON data" [ "$body" = '{"a":{"b":1,"c":true,"d":{"e":"x"}},"n":-2.5,"s":"1 2","f":false}' ]
    [ "$body" = '{"a":{"b":1,"c":true,"d":{"e":"x"}},"n":-2.5,"s":"1 2","f":false}' ] || cat "$TMP/rec.jsonl"
    check "--field data is application/json" [ "$(jq_py 'd["headers"]["content-type"]' <"$TMP/rec.jsonl")" = application/json ]
    local t
    t=$(jq_py 'd["headers"]["ce-time"]' <"$TMP/rec.jsonl")
    check "time is set to now by default ($t)" python3 -c "
import datetime,sys
t=datetime.datetime.strptime('$t','%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp()
sys.exit(0 if $before - 1 <= t <= $before + 30 else 1)"
    expect "event send takes the same flags and prints the same line" 0 \
        "event f2 accepted by http://127.0.0.1:$INGRESS_PORT/default/default (202)
" "" -- event send --url "http://127.0.0.1:$INGRESS_PORT/default/default" --type t.f \
        --source /cli --id f2 --field x.y=2 --content-type application/json --time 2026-01-02T03:04:05Z
    check "the subscriber got the second" wait_count rec 2 20
    check "event send --field and --time" [ "$(tail -1 "$TMP/rec.jsonl" | jq_py '(d["body"], d["headers"]["ce-time"])')" = "('{\"x\":{\"y\":2}}', '2026-01-02T03:04:05Z')" ]
    expect "--field a=1 then a.b=2" 2 "" "error: --field 'a.b=2': 'a' is a value, not an object
" -- send default --type t --source /s --field a=1 --field a.b=2
    expect "--field and --data exclude each other" 2 "" "error: give --data or --field, not both
" -- event send --url http://127.0.0.1:1/ --type t --source /s --field a=1 --data x
}

group_listen() {
    start_daemon
    "$HERALD" listen --port 0 --max-events 3 --max-seconds 60 >"$TMP/listen" 2>"$TMP/listen.err" &
    LPID=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$TMP/listen.err" && break; sleep 0.05; done
    local port
    port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$TMP/listen.err")
    check "listen says where it listens" [ -n "$port" ]
    expect "an event sent to listen is answered 202" 0 "event l1 accepted by http://127.0.0.1:$port/ (202)
" "" -- event send --url "http://127.0.0.1:$port/" --type com.example.t --source /cli --id l1 \
        --time 2026-01-02T03:04:05Z --subject sub1 --ext traceid=abc --ext alpha=z --field a.b=1
    expect "a structured event too" 0 "event l2 accepted by http://127.0.0.1:$port/ (202)
" "" -- event send --mode structured --url "http://127.0.0.1:$port/" --type t2 --source /s \
        --id l2 --time 2026-01-02T03:04:05Z --data 'plain text'
    # the third comes through heraldd: a trigger delivering to listen
    "$HERALD" broker create default >/dev/null
    "$HERALD" trigger create show --sink "http://127.0.0.1:$port/" >/dev/null
    "$HERALD" send default --type t3 --source /b --id l3 --time 2026-01-02T03:04:05Z --data '[1]' >/dev/null
    for _ in $(seq 200); do kill -0 $LPID 2>/dev/null || break; sleep 0.1; done
    if kill -0 $LPID 2>/dev/null; then bad "listen exits after --max-events"; kill $LPID; else ok "listen exits after --max-events"; fi
    wait $LPID
    LPID=
    printf '%s\n' '☁️  cloudevents.Event' 'Context Attributes,' '  specversion: 1.0' \
        '  type: com.example.t' '  source: /cli' '  subject: sub1' '  id: l1' \
        '  time: 2026-01-02T03:04:05Z' '  datacontenttype: application/json' 'Extensions,' \
        '  alpha: z' '  traceid: abc' 'Data,' '  {' '    "a": {' '      "b": 1' '    }' '  }' \
        '☁️  cloudevents.Event' 'Context Attributes,' '  specversion: 1.0' '  type: t2' \
        '  source: /s' '  id: l2' '  time: 2026-01-02T03:04:05Z' '  datacontenttype: text/plain' \
        'Data,' '  plain text' >"$TMP/want"
    head -28 "$TMP/listen" >"$TMP/got"
    if cmp -s "$TMP/want" "$TMP/got"; then ok "listen prints each event as event-display does"
    else bad "listen output"; diff -u "$TMP/want" "$TMP/got"; fi
    check "listen prints an event heraldd delivered" grep -q '^  id: l3$' "$TMP/listen"
    check "listen pretty-prints JSON data" [ "$(tail -4 "$TMP/listen" | tr -d '\n')" = 'Data,  [    1  ]' ]
    "$HERALD" listen --help >"$TMP/help"
    check "listen --help" grep -q '^usage: herald listen \[--port N\]' "$TMP/help"
}

group_describe() {
    start_daemon
    sub fail --status 500 --body 'database is down
try later'
    "$HERALD" broker create default >/dev/null
    "$HERALD" trigger create bad --sink "http://127.0.0.1:$PORT_fail/" --filter type=t.bad >/dev/null
    "$HERALD" send default --type t.bad --source /s --id d1 >/dev/null
    check "the failing subscriber was called" wait_count fail 1 20
    sleep 0.3
    "$HERALD" describe trigger bad >"$TMP/d"
    check "describe: an Age line" grep -qE '^Age: +[0-9]s \(created [0-9T:-]+Z\)$' "$TMP/d"
    check "describe: the filter as YAML" \
        [ "$(sed -n '/^Filter:/,/^Delivery:/p' "$TMP/d")" = "Filter:
  attributes:
    type: t.bad
Delivery:     retry 0, exponential backoff 100 ms, timeout 30000 ms, maxInFlight 100, unordered" ]
    check "describe: a conditions table" \
        [ "$(sed -n '/^Conditions:/,$p' "$TMP/d" | sed -E 's/ [0-9]s / Ns /')" = "Conditions:
  TYPE                 STATUS   AGE   REASON
  Ready                True     Ns    TriggerReady
  BrokerReady          True     Ns    BrokerReady
  SubscriberResolved   True     Ns    SubscriberResolved" ]
    # a daemon with the failing state of the admin contract (stats.failing) gets the Failing
    # line; one without it, the last error it reports
    if curl -s "$HERALD_ADMIN/v1/triggers/default/bad/describe" | grep -q '"failing":true'; then
        check "describe: failing since, attempts, last answer 500 and its body" \
            grep -qE '^Failing: +failing since [0-9T:.-]+Z \([0-9]+s ago\), [0-9]+ attempts?, last answer 500: database is down try later$' "$TMP/d"
    else
        check "describe: the last answer, 500" grep -qE '^Last error: +HTTP 500$' "$TMP/d"
    fi
    grep -q 500 "$TMP/d" || cat "$TMP/d"
    "$HERALD" get triggers -o wide >"$TMP/w"
    check "get -o wide: LAST-ERROR shows the 500" grep -qE '^bad .* 500' "$TMP/w"
    "$HERALD" describe broker default >"$TMP/db"
    check "describe broker: conditions" grep -qE '^  Ready +True +[0-9]s +BrokerReady$' "$TMP/db"
}

case $GROUP in
resources | output | version | watch | send | listen | describe) "group_$GROUP" ;;
*) echo "unknown group $GROUP"; exit 2 ;;
esac
finish "$TMP/heraldd.log"
