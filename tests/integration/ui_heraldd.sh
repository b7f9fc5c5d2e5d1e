#!/usr/bin/env bash
# ui_heraldd.sh — the admin web page (GET /ui/) in a real browser: a real heraldd with a broker,
# a trigger whose subscriber answers 500 (no dead-letter sink, so its events become dead letters),
# a healthy one and one with a CESQL filter, and a channel with a healthy and a failing
# subscription; then ui_browser.js drives headless Chromium (Debian
# `chromium`) against the page and checks what it shows. A missing chromium or node is a failure,
# not a skip: CI installs both.
#
#   ui_heraldd.sh HERALDD SUBSCRIBER
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only.
set -uo pipefail
HERALDD=$1
SUB=$2
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
HPID=
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
cleanup() { # heraldd stopped with SIGTERM, not killed
    kill_all TERM
    rm -rf "$TMP"
}
trap cleanup EXIT

CHROMIUM=${HERALD_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ] || [ ! -x "$CHROMIUM" ]; then
    bad "chromium is installed (apt-get install chromium, or set HERALD_CHROMIUM)"
    echo "$pass passed, $fail failed"
    exit 1
fi
if ! command -v node >/dev/null; then
    bad "node is installed (scripts/deps.sh)"
    echo "$pass passed, $fail failed"
    exit 1
fi

sub ok
sub fail --status 500 --body "kaputt"
sub chfail --status 503

mkdir -p "$TMP/manifests" "$TMP/data"
cat >"$TMP/manifests/all.yaml" <<YAML
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
metadata: {name: t-sql, namespace: ns1}
spec:
  broker: b
  filters:
  - exact: {type: com.example.sql}
  - cesql: "source LIKE '/sql/%'"
  subscriber: {uri: "http://127.0.0.1:$PORT_ok/sql"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-fail, namespace: ns1}
spec:
  broker: b
  filter: {attributes: {type: com.example.fail}}
  subscriber: {uri: "http://127.0.0.1:$PORT_fail/"}
  delivery: {retry: 1, backoffPolicy: linear, backoffDelay: PT0.05S}
---
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: {name: c, namespace: ns1}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: s-ok, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: c}
  subscriber: {uri: "http://127.0.0.1:$PORT_ok/channel"}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: {name: s-fail, namespace: ns1}
spec:
  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: c}
  subscriber: {uri: "http://127.0.0.1:$PORT_chfail/"}
  delivery: {retry: 0}
YAML
heraldd_config "$TMP/herald.yaml" "$TMP/data" batch "$TMP/manifests"
heraldd_start "$TMP/herald.yaml"
check "heraldd starts" test -n "$IN" -a -n "$ADM"
ADMIN=http://127.0.0.1:$ADM

send() { # send ID TYPE SOURCE
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/ns1/b" \
        -H "ce-specversion: 1.0" -H "ce-id: $1" -H "ce-source: $3" -H "ce-type: $2" \
        -H "content-type: application/json" -d '{"hello":"world"}'
}
dead_count() {
    curl -s "$ADMIN/v1/triggers/ns1/t-fail/dlq" | grep -o '"seq":' | wc -l
}
wait_dead() { # wait_dead N SECONDS
    local end=$((SECONDS + $2))
    while [ $SECONDS -lt $end ]; do
        [ "$(dead_count)" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# without a browser: / redirects, the page's files are served with their types and nothing else
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$ADMIN/")
check "GET / is a redirect to /ui/ ($code)" test "$code" = "302 $ADMIN/ui/"
for f in "/ui/ text/html" "/ui/app.js text/javascript" "/ui/app.css text/css"; do
    set -- $f
    ct=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$ADMIN$1")
    check "GET $1 is $2 ($ct)" grep -q "^200 $2" <<<"$ct"
done
code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$ADMIN/ui/nope.js")
check "an unknown file of the page is 404 ($code)" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/ui")
check "GET /ui (no slash) is the page too ($code)" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ADMIN/ui/")
check "POST /ui/ is 405 ($code)" test "$code" = 405
check "the page's answer forbids other origins (CSP)" \
    grep -qi "^content-security-policy: default-src 'self'" <(curl -s -D - -o /dev/null "$ADMIN/ui/")

check "an event for the healthy trigger is accepted" test "$(send o1 com.example.ok /test)" = 202
check "an event for the CESQL trigger is accepted" test "$(send s1 com.example.sql /sql/x)" = 202
check "an event for the failing trigger is accepted" test "$(send x1 com.example.fail /test)" = 202
# an id with markup: the page must show it as text
check "an event with markup in its id is accepted" \
    test "$(send '<img src=x onerror=window.__xss=1>' com.example.fail /test)" = 202
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ADMIN/v1/channels/ns1/c/events" \
    -H "ce-specversion: 1.0" -H "ce-id: c1" -H "ce-source: /test" -H "ce-type: com.example.ch")
check "an event for the channel is accepted ($code)" test "$code" = 202
check "the healthy subscriber gets its 3 events (2 triggers, 1 subscription)" wait_count ok 3 10
check "the failing subscription's subscriber is called" wait_count chfail 1 10
check "the failing trigger's 2 events become dead letters" wait_dead 2 15

echo "# the browser (chromium: $CHROMIUM)"
if CHROMIUM=$CHROMIUM ADMIN=$ADMIN TMP=$TMP node "$HERE/ui_browser.js"; then
    ok "the page, in headless Chromium, shows what the checks above expect"
else
    bad "the page, in headless Chromium, shows what the checks above expect"
    echo "--- chromium's log (tail)"
    tail -n 30 "$TMP/chromium.log" 2>/dev/null
fi

heraldd_stop
finish "$TMP/heraldd.log"
