#!/usr/bin/env bash
# http_hardening.sh — heraldd's HTTP server against clients that misbehave (issue #8): a client
# that pipelines and never reads (ingress and admin /metrics, RSS bounded), a reading client
# pipelining /metrics does not keep another connection waiting, connection limits and file
# descriptor exhaustion are counted, bodies above the shared budget get 503, unsupported HTTP
# versions get 505, and SIGTERM drains:
# deliveries in flight finish (not resent after the restart), a request arriving on an open
# connection gets 503 + Retry-After instead of a reset.
#
#   http_hardening.sh HERALDD SUBSCRIBER
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only.
set -uo pipefail
HERALDD=$1
SUB=$2
TMP=$(mktemp -d)
HPID=
PY="python3 $(dirname "$0")/http_clients.py"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT

sub slow --delay-ms 2500
mkdir -p "$TMP/manifests" "$TMP/data"
{
    printf 'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b, namespace: ns1}\n'
    printf -- '---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t-slow, namespace: ns1}\n'
    printf 'spec:\n  broker: b\n  filter: {attributes: {type: com.example.slow}}\n'
    printf '  subscriber: {uri: "http://127.0.0.1:%s/"}\n' "$PORT_slow"
    # triggers that only make /metrics larger (more work per /metrics answer)
    for i in $(seq 60); do
        printf -- '---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t-%s, namespace: ns1}\n' "$i"
        printf 'spec:\n  broker: b\n  filter: {attributes: {type: com.example.none%s}}\n' "$i"
        printf '  subscriber: {uri: "http://127.0.0.1:%s/"}\n' "$PORT_slow"
    done
} >"$TMP/manifests/all.yaml"

config() { heraldd_config "$TMP/herald.yaml" "$TMP/data" batch "$TMP/manifests" "$@"; } # [YAML LINES]
start_heraldd() { heraldd_start "$TMP/herald.yaml" "$TMP/heraldd.log" "${1:-}"; } # [ULIMIT_N]
stop_heraldd() { heraldd_stop 30; } # SIGTERM, wait for the exit (30 s at most)
metric() { # metric NAME_WITH_LABELS -> value (0 when absent)
    local v
    v=$(curl -s "http://127.0.0.1:$ADM/metrics" | grep -F "$1 " | awk '{print $2}' | head -1)
    echo "${v:-0}"
}
healthy() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$IN/healthz" | grep -q 200; }
kv() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; } # kv "a=1 b=2" b -> 2

config "limits: {max_connections: 20}"
start_heraldd
check "heraldd starts" test -n "$IN"

# 1. a client pipelining GET /healthz that never reads: heraldd stops reading it
out=$($PY flood "$IN" /healthz $((48 << 20)) 20 "$HPID")
echo "   ingress flood: $out"
check "ingress: RSS grows < 64 MiB under a non-reading pipelining client" \
    test "$(kv "$out" growth_kib)" -lt 65536
check "ingress: the flooding client could not push everything (reading stopped)" \
    test "$(kv "$out" sent)" -lt $((48 << 20))
check "ingress still answers another client" healthy

# 2. the same on the admin port with /metrics (each answer is ~1000x the request)
out=$($PY flood "$ADM" /metrics $((128 << 10)) 20 "$HPID")
echo "   admin /metrics flood: $out"
check "admin: RSS grows < 64 MiB under non-reading pipelined /metrics" \
    test "$(kv "$out" growth_kib)" -lt 65536
check "ingress still answers after the admin flood" healthy

# 3. a reading client pipelining /metrics does not keep another connection waiting: the other
#    request is served while the pipeline is still being answered
out=$($PY progress "$ADM" "$IN" 400)
echo "   progress: $out"
check "the other connection's request is answered" test "$(kv "$out" b_answered)" = 1
check "all 400 pipelined /metrics answered" test "$(kv "$out" total)" = 400
check "the other request was served while the pipeline was still being answered" \
    test "$(kv "$out" after_b)" -gt 0

# 4. unsupported HTTP versions: 505
for v in 9.9 2.0 0.9; do
    line=$($PY raw "$IN" "$(printf 'GET /healthz HTTP/%s\r\nHost: x\r\n\r\n' "$v" | od -An -tx1 | tr -d ' \n')")
    check "HTTP/$v gets 505 ($line)" test "${line:0:12}" = "HTTP/1.1 505"
done
line=$($PY raw "$IN" "$(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' | od -An -tx1 | tr -d ' \n')")
check "HTTP/1.1 still 200 ($line)" test "${line:0:12}" = "HTTP/1.1 200"

# 5. connections over limits.max_connections are refused and counted
$PY conns "$IN" 30 2.5 >"$TMP/conns.out" &
cpid=$!
sleep 1.5
gauge=$(metric 'herald_http_connections{listener="ingress"}')
wait "$cpid"
out=$(cat "$TMP/conns.out")
check "20 of 30 connections kept ($out)" test "$(kv "$out" open)" = 20
check "herald_http_connections shows the 20 open ($gauge)" test "$gauge" = 20
check "rejected connections counted (reason limit)" \
    test "$(metric 'herald_http_connections_rejected_total{listener="ingress",reason="limit"}')" -ge 10
sleep 0.3
check "the connection gauge is back to 0 once they closed" \
    test "$(metric 'herald_http_connections{listener="ingress"}')" = 0

# 6. SIGTERM drains: 50 deliveries in flight to a slow subscriber finish and are not resent;
#    a request finishing on an open connection after SIGTERM gets 503 + Retry-After
for i in $(seq 50); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$IN/ns1/b" -H "ce-specversion: 1.0" \
        -H "ce-id: e$i" -H "ce-source: /t" -H "ce-type: com.example.slow" -d "{}"
done
wait_count slow 50 10
check "50 deliveries in flight" test "$(count slow)" = 50
out=$($PY drain "$IN" "$HPID")
echo "   drain: $out"
check "a request completed after SIGTERM gets 503 + Retry-After" \
    test "$(kv "$out" partial)/$(kv "$out" partial_retry)" = "503/1"
# the pipelined pair: the first is handled (202) or refused (503) depending on whether heraldd
# read it before the signal; what the drain does not handle gets 503 + Retry-After, none is lost
check "pipelined requests buffered at SIGTERM are answered, the last 503 + Retry-After" \
    bash -c "[[ '$(kv "$out" pipelined)' =~ ^(202,503|503)$ ]] && [ '$(kv "$out" pipelined_retry)' = 1 ]"
for _ in $(seq 300); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.05; done
check "heraldd exits within the drain time" bash -c "! kill -0 $HPID 2>/dev/null"
wait "$HPID" 2>/dev/null
HPID=
check "it stopped cleanly" grep -q '"stopped cleanly"' "$TMP/heraldd.log"
start_heraldd
check "heraldd restarts" test -n "$IN"
sleep 3.5 # a resent delivery would reach the slow subscriber within this
check "no delivery completed before the exit is resent ($(count slow) requests)" \
    test "$(count slow)" = 50
stop_heraldd

# 7. out of file descriptors: the soft limit cannot be raised, connections beyond it are
#    refused and counted, heraldd goes on serving
config "limits: {max_connections: 10000, body_budget: 1MiB, max_event_bytes: 512KiB}"
start_heraldd 128
check "heraldd starts with 128 descriptors" test -n "$IN"
check "it warns that the open-file limit is too low" \
    grep -q 'cannot raise the open-file limit' "$TMP/heraldd.log"
out=$($PY conns "$IN" 120 1)
echo "   fd-limited: $out"
check "rejected connections counted (reason emfile)" \
    test "$(metric 'herald_http_connections_rejected_total{listener="ingress",reason="emfile"}')" -gt 0
check "heraldd still answers once they closed" healthy

# 8. the body budget: 1 MiB for all connections, 400,000-byte bodies: the first two fit, the
#    others get 503 + Retry-After at once instead of pinning memory
out=$($PY bodies "$IN" 5 400000)
check "bodies above limits.body_budget get 503 + Retry-After ($out)" test "$out" = "refused=3"
check "a small event still gets 202 once they closed" bash -c "curl -s -o /dev/null -w '%{http_code}' \
    -X POST http://127.0.0.1:$IN/ns1/b -H 'ce-specversion: 1.0' -H 'ce-id: s1' -H 'ce-source: /t' \
    -H 'ce-type: com.example.none' -d '{}' | grep -q 202"
stop_heraldd

finish_heraldd
