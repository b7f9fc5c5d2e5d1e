#!/usr/bin/env bash
# cli_admin_test.sh — the `herald` broker commands for channels, subscriptions, sequences and
# parallels, against a fake admin API: cli_receiver answers one canned response per command and
# records the request. Each case checks the request line `herald` sent, and its exact stdout,
# stderr and exit code. Prints "N passed, N failed" at the end.
#
#   cli_admin_test.sh HERALD CLI_RECEIVER GROUP
# GROUP: get | describe | send | tail | dlq | replay
set -uo pipefail
HERALD=$1
RECEIVER=$2
GROUP=$3
TMP=$(mktemp -d)
RECV_PID=
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cleanup() {
    if [ -n "$RECV_PID" ]; then kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# answer STATUS JSON: the response the next fake admin serves, then starts it (sets HERALD_ADMIN)
answer() {
    printf 'HTTP/1.1 %s X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "${#2}" "$2" >"$TMP/reply"
    rm -f "$TMP/port" "$TMP/dump"
    "$RECEIVER" --port-file "$TMP/port" --dump "$TMP/dump" --reply "$TMP/reply" --count 1 \
        --timeout 30 &
    RECV_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$TMP/port" ] && break
        sleep 0.05
    done
    export HERALD_ADMIN="http://127.0.0.1:$(cat "$TMP/port")"
}

# expect NAME REQUEST_LINE RC STDOUT STDERR -- ARGS...: runs herald against the fake admin
# started by `answer` (REQUEST_LINE "" when no request may be sent).
expect() {
    local name=$1 want_req=$2 want_rc=$3 want_out=$4 want_err=$5
    shift 6
    "$HERALD" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$? good=1
    if [ -n "$want_req" ]; then
        wait "$RECV_PID" 2>/dev/null
    else
        kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null
    fi
    RECV_PID=
    local got_req
    got_req=$(head -1 "$TMP/dump" 2>/dev/null | tr -d '\r')
    if [ "$got_req" != "$want_req" ]; then echo "  request '$got_req', want '$want_req'"; good=0; fi
    same_run "$rc" "$want_rc" "$want_out" "$want_err" || good=0
    if [ $good = 1 ]; then ok "$name"; else bad "$name"; fi
}

# the body of the last request
body() { sed '1,/^\r$/d' "$TMP/dump"; }

ready() { printf '"status":{%s"conditions":[{"type":"Ready","status":"%s","reason":"%s"}]}' "$3" "$1" "$2"; }
CH1='{"kind":"Channel","metadata":{"name":"ch1","namespace":"shop"},'$(ready True ChannelReady '"address":{"url":"http://h/shop/channels/ch1"},')'}'
CH2='{"kind":"Channel","metadata":{"name":"longer-name","namespace":"shop"},'$(ready False NotFound '')'}'
SUB1='{"kind":"Subscription","metadata":{"name":"s1","namespace":"shop"},"spec":{"channel":{"name":"ch1"},"subscriber":{"uri":"http://spec/"}},'$(ready True SubscriptionReady '"physicalSubscription":{"subscriberUri":"http://resolved/"},')'}'
SUB2='{"kind":"Subscription","metadata":{"name":"s2","namespace":"shop"},"spec":{"channel":{"name":"ch1"},"subscriber":{"uri":"http://spec/two"}}}'
SEQ='{"kind":"Sequence","metadata":{"name":"seq","namespace":"a"},'$(ready True Ready '"address":{"url":"http://h/seq"},')'}'
PAR='{"kind":"Parallel","metadata":{"name":"par","namespace":"a"},'$(ready Unknown Pending '')'}'

group_get() {
    answer 200 '{"items":['"$CH1,$CH2"']}'
    expect "get channels: NAME KIND READY REASON URL" "GET /v1/resources/channels/shop HTTP/1.1" 0 \
"NAME          KIND      READY   REASON         URL
ch1           Channel   True    ChannelReady   http://h/shop/channels/ch1
longer-name   Channel   False   NotFound       
" "" -- get channels -n shop
    answer 200 '{"items":['"$CH1"']}'
    expect "short name ch goes to the daemon as typed; -A lists every namespace" \
        "GET /v1/resources/ch HTTP/1.1" 0 \
"NAMESPACE   NAME   KIND      READY   REASON         URL
shop        ch1    Channel   True    ChannelReady   http://h/shop/channels/ch1
" "" -- get ch -A
    answer 200 '{"items":['"$CH1"']}'
    expect "--all-namespaces is -A" "GET /v1/resources/channels HTTP/1.1" 0 \
"NAMESPACE   NAME   KIND      READY   REASON         URL
shop        ch1    Channel   True    ChannelReady   http://h/shop/channels/ch1
" "" -- get channels --all-namespaces
    answer 200 '{"items":[]}'
    expect "without -n a list is of namespace default, as kubectl" \
        "GET /v1/resources/ch/default HTTP/1.1" 0 "" "No ch found in namespace default.
" -- get ch
    answer 200 '{"items":[]}'
    expect "-A and -n exclude each other" "" 2 "" "error: -A and -n exclude each other
$("$HERALD" get --help)
" -- get ch -A -n x
    answer 200 '{"items":['"$SUB1,$SUB2"']}'
    expect "get subscriptions: CHANNEL and SUBSCRIBER (resolved, else the spec's)" \
        "GET /v1/resources/sub/shop HTTP/1.1" 0 \
"NAME   READY     REASON              CHANNEL   SUBSCRIBER
s1     True      SubscriptionReady   ch1       http://resolved/
s2     Unknown                       ch1       http://spec/two
" "" -- get sub -n shop
    answer 200 "$SUB1"
    expect "get one subscription by Kind" "GET /v1/resources/Subscription/default/s1 HTTP/1.1" 0 \
"NAME   READY   REASON              CHANNEL   SUBSCRIBER
s1     True    SubscriptionReady   ch1       http://resolved/
" "" -- get Subscription s1
    answer 200 '{"items":['"$SEQ"']}'
    expect "get sequences" "GET /v1/resources/sequences/a HTTP/1.1" 0 \
"NAME   READY   REASON   URL
seq    True    Ready    http://h/seq
" "" -- get sequences -n a
    answer 200 '{"items":['"$PAR"']}'
    expect "get parallel (singular)" "GET /v1/resources/parallel/a HTTP/1.1" 0 \
"NAME   READY     REASON    URL
par    Unknown   Pending   
" "" -- get parallel -n a
    answer 200 '{"items":[]}'
    expect "no subscriptions" "GET /v1/resources/subscriptions/x HTTP/1.1" 0 "" \
        "No subscriptions found in namespace x.
" -- get subscriptions -n x
}

DELIVERY='"delivery":{"retry":3,"backoffPolicy":"exponential","backoffDelayMs":200,"timeoutMs":1000,"maxInFlight":8}'
group_describe() {
    answer 200 '{"ready":{"status":"True","reason":"ChannelReady","message":""},"address":"http://h/shop/channels/ch1",'"$DELIVERY"',"stats":{"events":4,"firstSeq":1,"lastSeq":4,"triggers":2,"scannedTriggers":2},"triggers":[{"name":"s1","ready":true,"backlog":0,"inFlight":1},{"name":"s2","ready":false,"backlog":3,"inFlight":0}]}'
    expect "describe channel" "GET /v1/channels/shop/ch1/describe HTTP/1.1" 0 \
"Name:         ch1
Namespace:    shop
Kind:         Channel
Ready:        True (ChannelReady)
Address:      http://h/shop/channels/ch1
Delivery:     retry 3, exponential backoff 200 ms, timeout 1000 ms, maxInFlight 8, unordered
Dead letters: kept by heraldd (herald dlq)
Events:       4 stored (seq 1..4)
Subscribers:  2

SUBSCRIPTION   READY   BACKLOG   IN-FLIGHT
s1             True    0         1
s2             False   3         0
" "" -- describe ch ch1 -n shop
    answer 200 '{"ready":{"status":"True","reason":"SubscriptionReady","message":"delivering"},"channel":"ch1","subscriberUri":"http://sub/","reply":"http://reply/",'"$DELIVERY"',"stats":{"cursor":4,"brokerLastSeq":4,"backlog":0,"inFlight":0,"pendingRetries":0,"delivered":3,"failed":1,"deadLettered":0,"dead":1,"lastError":"boom","lastStatus":500,"deadLetters":1}}'
    expect "describe subscription" "GET /v1/subscriptions/shop/s1/describe HTTP/1.1" 0 \
"Name:         s1
Namespace:    shop
Kind:         Subscription
Ready:        True (SubscriptionReady) delivering
Channel:      ch1
Subscriber:   http://sub/
Reply:        http://reply/
Delivery:     retry 3, exponential backoff 200 ms, timeout 1000 ms, maxInFlight 8, unordered
Dead letters: kept by heraldd (herald dlq)
Progress:     cursor 4 of 4, backlog 0, in flight 0, pending retries 0
Counters:     delivered 3, failed attempts 1, dead-lettered 0, dead 1
Last error:   HTTP 500: boom
Dead stored:  1 (herald dlq list subscription:s1 -n shop)
" "" -- describe subscriptions s1 -n shop
    answer 200 '{"ready":{"status":"False","reason":"ChannelNotFound"},"channel":"gone",'"$DELIVERY"',"stats":{}}'
    expect "describe a subscription with no reply, not ready" \
        "GET /v1/subscriptions/default/s2/describe HTTP/1.1" 0 \
"Name:         s2
Namespace:    default
Kind:         Subscription
Ready:        False (ChannelNotFound)
Channel:      gone
Subscriber:   (unresolved)
Reply:        (none: replies are dropped)
Delivery:     retry 3, exponential backoff 200 ms, timeout 1000 ms, maxInFlight 8, unordered
Dead letters: kept by heraldd (herald dlq)
Progress:     not delivering until the subscription is Ready
Dead stored:  0
" "" -- describe sub s2
    # the failing state of the contract in the admin JSON (stats.failing, failingSince, ...)
    local since
    since=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)
    answer 200 '{"ready":{"status":"True","reason":"TriggerReady","message":""},"broker":"default","subscriberUri":"http://sub/","filter":{"attributes":{"type":"t.bad"}},'"$DELIVERY"',"stats":{"cursor":9,"brokerLastSeq":9,"backlog":0,"inFlight":0,"pendingRetries":0,"delivered":4,"failed":12,"deadLettered":0,"dead":5,"lastError":"HTTP 500","lastStatus":500,"failing":true,"failingSince":"'"$since"'","failedAttempts":12,"lastBody":"database is down\ntry later","lastAttemptAt":"'"$since"'","deadLetters":5},"resource":{"kind":"Trigger","metadata":{"name":"bad","namespace":"default","creationTimestamp":"'"$since"'"},"status":{"conditions":[{"type":"Ready","status":"True","reason":"TriggerReady","lastTransitionTime":"'"$since"'"},{"type":"SubscriberResolved","status":"True","reason":"SubscriberResolved","lastTransitionTime":"'"$since"'"}]}}}'
    expect "describe a failing trigger: the Failing line even while Ready, conditions" \
        "GET /v1/triggers/default/bad/describe HTTP/1.1" 0 \
"Name:         bad
Namespace:    default
Kind:         Trigger
Age:          3h (created $since)
Ready:        True (TriggerReady)
Broker:       default
Subscriber:   http://sub/
Filter:
  attributes:
    type: t.bad
Delivery:     retry 3, exponential backoff 200 ms, timeout 1000 ms, maxInFlight 8, unordered
Dead letters: kept by heraldd (herald dlq)
Progress:     cursor 9 of 9, backlog 0, in flight 0, pending retries 0
Counters:     delivered 4, failed attempts 12, dead-lettered 0, dead 5
Failing:      failing since $since (3h ago), 12 attempts, last answer 500: database is down try later
Dead stored:  5 (herald dlq list bad -n default)

Conditions:
  TYPE                 STATUS   AGE   REASON
  Ready                True     3h    TriggerReady
  SubscriberResolved   True     3h    SubscriberResolved
" "" -- describe trigger bad
    answer 200 '{"ready":{"status":"True","reason":"TriggerReady"},"broker":"default","subscriberUri":"http://sub/","filter":null,'"$DELIVERY"',"stats":{"cursor":1,"brokerLastSeq":1,"failing":true,"failingSince":null,"failedAttempts":1,"lastStatus":-1,"lastError":"connection refused","lastBody":""}}'
    expect "describe: a failing trigger without an HTTP answer" \
        "GET /v1/triggers/default/t2/describe HTTP/1.1" 0 \
"Name:         t2
Namespace:    default
Kind:         Trigger
Ready:        True (TriggerReady)
Broker:       default
Subscriber:   http://sub/
Filter:       (none: every event)
Delivery:     retry 3, exponential backoff 200 ms, timeout 1000 ms, maxInFlight 8, unordered
Dead letters: kept by heraldd (herald dlq)
Progress:     cursor 1 of 1, backlog 0, in flight 0, pending retries 0
Counters:     delivered 0, failed attempts 0, dead-lettered 0, dead 0
Failing:      failing, 1 attempt, last error connection refused
Dead stored:  0
" "" -- describe trigger t2
    # ages as kubectl prints them (each stable for a minute: the test takes seconds)
    local t1 t2 t3 t4 t5
    t1=$(date -u -d '-25 minutes' +%Y-%m-%dT%H:%M:%SZ)
    t2=$(date -u -d '-5 hours -20 minutes' +%Y-%m-%dT%H:%M:%SZ)
    t3=$(date -u -d '-20 hours' +%Y-%m-%dT%H:%M:%SZ)
    t4=$(date -u -d '-3 days -4 hours' +%Y-%m-%dT%H:%M:%SZ)
    t5=$(date -u -d '-12 days' +%Y-%m-%dT%H:%M:%SZ)
    answer 200 '{"kind":"PingSource","metadata":{"name":"p","namespace":"a","creationTimestamp":"'"$t5"'"},"spec":{"schedule":"* * * * *"},"status":{"conditions":[{"type":"Ready","status":"False","reason":"NotImplemented","lastTransitionTime":"'"$t1"'"},{"type":"A","status":"True","reason":"X","lastTransitionTime":"'"$t2"'"},{"type":"B","status":"True","reason":"Y","lastTransitionTime":"'"$t3"'"},{"type":"C","status":"Unknown","reason":"Z","lastTransitionTime":"'"$t4"'"}]}}'
    expect "describe: ages and the conditions table" "GET /v1/resources/pingsource/a/p HTTP/1.1" 0 \
"Name:         p
Namespace:    a
Kind:         PingSource
Age:          12d (created $t5)
Ready:        False (NotImplemented)
Spec:
  schedule: \"* * * * *\"

Conditions:
  TYPE    STATUS    AGE     REASON
  Ready   False     25m     NotImplemented
  A       True      5h20m   X
  B       True      20h     Y
  C       Unknown   3d4h    Z
" "" -- describe pingsource p -n a
    answer 200 "$SEQ"
    expect "describe sequence shows the resource" "GET /v1/resources/sequence/a/seq HTTP/1.1" 0 \
"Name:         seq
Namespace:    a
Kind:         Sequence
Ready:        True (Ready)
Address:      http://h/seq
Spec:

Conditions:
  TYPE    STATUS   AGE   REASON
  Ready   True           Ready
" "" -- describe sequence seq -n a
}

group_send() {
    answer 202 '{"accepted":1}'
    expect "send to a channel" "POST /v1/channels/shop/ch1/events HTTP/1.1" 0 \
        "event e1 accepted by channel shop/ch1 (202)
" "" -- send channel:shop/ch1 --type t --source /s --id e1 --data '{"n":1}' --ext trace=abc --time 2026-01-02T03:04:05Z
    if [ "$(body)" = '{"specversion":"1.0","id":"e1","source":"/s","type":"t","datacontenttype":"application/json","time":"2026-01-02T03:04:05Z","trace":"abc","data":{"n":1}}' ]
    then ok "the event is sent in the JSON format"; else bad "event body: $(body)"; fi
    answer 202 '{}'
    expect "broker: prefix is a broker" "POST /v1/brokers/shop/b/events HTTP/1.1" 0 \
        "event e2 accepted by broker shop/b (202)
" "" -- send broker:shop/b --type t --source /s --id e2 --data 'plain' --content-type=text/plain
    if [ "$(body | sed -E 's/"time":"[^"]*"/"time":"'2026-01-02T03:04:05Z'"/')" = '{"specversion":"1.0","id":"e2","source":"/s","type":"t","datacontenttype":"text/plain","time":"2026-01-02T03:04:05Z","data":"plain"}' ]
    then ok "text data is a JSON string"; else bad "text body: $(body)"; fi
    answer 202 '{}'
    expect "a bare NAME is a broker in -n's namespace" "POST /v1/brokers/x/b/events HTTP/1.1" 0 \
        "event e3 accepted by broker x/b (202)
" "" -- send b -n x --type t --source /s --id e3 --data '1 2'
    if body | grep -q '"datacontenttype":"text/plain","time":"[^"]*","data":"1 2"}$'; then ok "'1 2' is text, not JSON"
    else bad "'1 2' body: $(body)"; fi
    answer 202 '{}'
    expect "an attribute set twice is refused before sending" "" 2 "" \
        "error: --ext id: the attribute is already set
" -- send channel:shop/ch1 --type t --source /s --ext id=x
    answer 202 '{}'
    expect "an invalid event is refused before sending" "" 1 "" \
        "error: attribute 'source': required attribute missing
" -- send shop/b -f <(printf '{"specversion":"1.0","id":"x","type":"t"}')
    answer 202 '{}'
    expect "a bad channel target" "" 1 "" \
        "error: 'channel:Shop/x' is not channel:NAMESPACE/CHANNEL (lower-case letters, digits, '-' and '.')
" -- send channel:Shop/x --type t --source /s
}

group_tail() {
    local ev='{"specversion":"1.0","id":"1","source":"/s","type":"t"}'
    answer 200 "$ev"$'\n'
    expect "tail a channel" "GET /v1/channels/shop/ch1/tail?from=3 HTTP/1.1" 0 "$ev
" "" -- tail channel:shop/ch1 --from 3
    answer 200 "$ev"$'\n'
    expect "tail broker:NS/NAME" "GET /v1/brokers/shop/b/tail HTTP/1.1" 0 "$ev
" "" -- tail broker:shop/b
    answer 404 '{"error":"Channel \"shop/nope\" not found"}'
    expect "tail of a missing channel" "GET /v1/channels/shop/nope/tail HTTP/1.1" 1 "" \
        'error: Channel "shop/nope" not found
' -- tail channel:shop/nope
}

group_dlq() {
    answer 200 '{"items":[{"seq":7,"time":"2026-01-02T03:04:05Z","status":500,"event":{"id":"e7","type":"t"},"error":"boom"}]}'
    expect "dlq list subscription:NAME" "GET /v1/subscriptions/shop/s1/dlq HTTP/1.1" 0 \
"SEQ   TIME                   STATUS   ID   TYPE   ERROR
7     2026-01-02T03:04:05Z   500      e7   t      boom
" "" -- dlq list subscription:s1 -n shop
    answer 200 '{"items":[]}'
    expect "dlq list sub:NAME, empty" "GET /v1/subscriptions/default/s1/dlq HTTP/1.1" 0 \
        "No dead letters for subscription default/s1.
" "" -- dlq list sub:s1
    answer 200 '{"items":[]}'
    expect "dlq list trigger:NAME stays a trigger" "GET /v1/triggers/default/t1/dlq HTTP/1.1" 0 \
        "No dead letters for trigger default/t1.
" "" -- dlq list trigger:t1
    answer 200 '{"replayed":2}'
    expect "dlq replay sub:NAME" "POST /v1/subscriptions/shop/s1/dlq/replay?seq=7 HTTP/1.1" 0 \
        "2 dead letters of subscription shop/s1 sent for delivery again
" "" -- dlq replay sub:s1 -n shop --seq 7
}

group_replay() {
    answer 200 '{"from":5,"to":9}'
    expect "replay subscription:NAME" \
        "POST /v1/subscriptions/shop/s1/replay?from=2026-01-02T15%3A04%3A05Z HTTP/1.1" 0 \
        "subscription shop/s1 replays from seq 5 (the channel's last is 9)
" "" -- replay subscription:s1 -n shop --from 2026-01-02T15:04:05Z
    answer 200 '{"from":5,"to":9}'
    expect "replay a bare NAME is a trigger" "POST /v1/triggers/default/t1/replay?from=5 HTTP/1.1" 0 \
        "trigger default/t1 replays from seq 5 (the broker's last is 9)
" "" -- replay t1 --from 5
}

case $GROUP in
get | describe | send | tail | dlq | replay) "group_$GROUP" ;;
*) echo "unknown group $GROUP"; exit 2 ;;
esac
echo "$pass passed, $fail failed"
[ $fail = 0 ]
