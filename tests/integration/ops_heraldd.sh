#!/usr/bin/env bash
# ops_heraldd.sh — heraldd as an operator runs it: the settings messages (a directory, an empty
# file, one port for ingress and admin, a store that cannot open), where the data lives, log
# numbers as JSON numbers, the signals (HUP reloads the manifests and reopens log.file, USR1
# status, USR2 debug, QUIT stops cleanly), and a stderr nobody reads (heraldd stays healthy,
# counts the lines it dropped, and still stops).
#
#   ops_heraldd.sh HERALDD
# Prints "N passed, N failed"; exit 1 on any failure. Everything listens on 127.0.0.1 only;
# every wait is bounded.
set -uo pipefail
HERALDD=$1
TMP=$(mktemp -d)
HPID=
export SUB=/nonexistent # lib.sh's subscriber is not used here
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cleanup() {
    kill_all
    exec 3>&- 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

alive() { kill -0 "$HPID" 2>/dev/null; }
# wait_log FIXED-STRING FILE: up to 5 s for a line containing it
wait_log() {
    for _ in $(seq 100); do grep -qF -- "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
# refused NAME ARGS... -> heraldd ARGS exits 2; its stderr in $TMP/refused.err
refused() {
    local name=$1
    shift
    timeout -s KILL 10 "$HERALDD" "$@" >/dev/null 2>"$TMP/refused.err" </dev/null
    local rc=$?
    if [ "$rc" = 2 ]; then ok "$name (exit 2)"; else bad "$name (exit $rc, want 2)"; cat "$TMP/refused.err"; fi
}

# ---- 1. settings messages ---------------------------------------------------------------------
mkdir "$TMP/conf.d"
refused "a directory as config is refused" -c "$TMP/conf.d"
check "  ... saying it is a directory" grep -q "config $TMP/conf.d is a directory" "$TMP/refused.err"
check "  ... not as a YAML error" bash -c "! grep -q 'YAML' '$TMP/refused.err'"

printf '# nothing here yet\n' >"$TMP/empty.yaml"
refused "an empty settings file is refused" -c "$TMP/empty.yaml"
check "  ... saying it is empty" grep -q "empty.yaml: the settings file is empty" "$TMP/refused.err"

printf 'ingress.listen: 127.0.0.1:18099\nadmin.listen: 127.0.0.1:18099\ndata_dir: %s/d0\n' "$TMP" \
    >"$TMP/sameport.yaml"
refused "ingress and admin on one port are refused" -c "$TMP/sameport.yaml"
check "  ... naming both settings and the port" \
    grep -q "ingress.listen (127.0.0.1:18099) and admin.listen (127.0.0.1:18099) use the same port 18099" \
    "$TMP/refused.err"

: >"$TMP/not-a-dir"
printf 'ingress.listen: 127.0.0.1:0\nadmin.listen: 127.0.0.1:0\ndata_dir: %s/not-a-dir/data\n' \
    "$TMP" >"$TMP/badstore.yaml"
timeout -s KILL 10 "$HERALDD" -c "$TMP/badstore.yaml" >/dev/null 2>"$TMP/badstore.err" </dev/null
check "a store that cannot open stops heraldd" test $? != 0
check "  ... with one error line naming the cause" \
    test "$(grep -c '"level":"error"' "$TMP/badstore.err")" = 1
check "  ... and no misleading 'I/O error' line" bash -c "! grep -q 'I/O error' '$TMP/badstore.err'"

# ---- 2. a running heraldd: data dir, JSON numbers, signals --------------------------------------
mkdir -p "$TMP/run/manifests"
cat >"$TMP/run/manifests/brokers.yaml" <<'EOF'
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: keep, namespace: default}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: old, namespace: default}
EOF
cat >"$TMP/run/manifests/triggers.yaml" <<'EOF'
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: dls, namespace: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-fail, namespace: default}
spec:
  broker: keep
  filter: {attributes: {type: to.nowhere}}
  subscriber: {uri: "http://127.0.0.1:1/"}
  delivery:
    retry: 1
    backoffDelay: PT0.1S
    deadLetterSink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: dls}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-dead, namespace: default}
spec:
  broker: keep
  filter: {attributes: {type: to.dead}}
  subscriber: {uri: "http://127.0.0.1:1/"}
EOF
heraldd_config "$TMP/run/herald.yaml" ./rel-data none manifests # paths relative to $TMP/run
LOG=$TMP/run/heraldd.log
(cd "$TMP/run" && exec "$HERALDD" -c herald.yaml 2>"$LOG") &
HPID=$!
wait_log '"heraldd ready"' "$LOG"
heraldd_ports "$LOG"
check "heraldd starts" test -n "$IN"
check "it says where its data lives, as an absolute path" \
    grep -q "\"msg\":\"store opened\",\"data_dir\":\"$TMP/run/rel-data\"" "$LOG"
check "numbers are JSON numbers in the log (ports, counts)" python3 -c '
import json, sys
ready = [json.loads(l) for l in open(sys.argv[1]) if "heraldd ready" in l][-1]
applied = [json.loads(l) for l in open(sys.argv[1]) if "\"manifest applied\"" in l][-1]
assert isinstance(ready["ingress_port"], int) and ready["ingress_port"] > 0, ready
assert isinstance(ready["admin_port"], int), ready
assert applied["resources"] in (2, 3), applied
' "$LOG"
check "applied resources are logged at info" grep -q '"level":"info","msg":"resource applied","kind":"Broker","namespace":"default","name":"old"' "$LOG"

status_of() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/v1/resources/brokers/default/$1"; }
check "broker 'old' exists before the reload" test "$(status_of old)" = 200

# HUP: a changed manifest file is applied, what it no longer names is pruned
sed -i 's/name: old,/name: new,/' "$TMP/run/manifests/brokers.yaml"
kill -HUP "$HPID"
wait_log '"manifests reloaded"' "$LOG"
check "SIGHUP: heraldd stays up" alive
check "SIGHUP: logged" grep -q '"msg":"SIGHUP: reloading the manifests' "$LOG"
check "SIGHUP: the changed manifest is applied (broker 'new')" test "$(status_of new)" = 200
check "SIGHUP: what the manifests no longer name is pruned (broker 'old')" test "$(status_of old)" = 404
check "SIGHUP: what they still name is kept (broker 'keep')" test "$(status_of keep)" = 200
check "SIGHUP: the reload is summarised with numbers" python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "\"manifests reloaded\"" in l][-1]
assert r["pruned"] == 1 and r["resources"] == 5 and r["failed_files"] == 0, r
' "$LOG"
# an admin-applied broker is never pruned; a bad file prunes nothing
curl -s -m 5 -o /dev/null -X POST -H 'Content-Type: application/yaml' --data-binary \
    $'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: byhand, namespace: default}\n' \
    "http://127.0.0.1:$ADM/apply"
printf 'kind: Nonsense\n' >"$TMP/run/manifests/zz-bad.yaml"
sed -i 's/name: new,/name: newer,/' "$TMP/run/manifests/brokers.yaml"
: >"$LOG.mark"
kill -HUP "$HPID"
for _ in $(seq 100); do [ "$(grep -c '"manifests reloaded"' "$LOG")" -ge 2 ] && break; sleep 0.05; done
check "SIGHUP with a bad file: the bad file is logged" grep -q '"msg":"bad manifest","file":"manifests/zz-bad.yaml"' "$LOG"
check "SIGHUP with a bad file: the good files still apply" test "$(status_of newer)" = 200
check "SIGHUP with a bad file: nothing is pruned" test "$(status_of new)" = 200
check "SIGHUP: a resource applied through the admin API is not pruned" test "$(status_of byhand)" = 200
rm -f "$TMP/run/manifests/zz-bad.yaml"

kill -USR1 "$HPID"
wait_log '"SIGUSR1: status"' "$LOG"
check "SIGUSR1: heraldd stays up" alive
check "SIGUSR1: a status line with numbers" python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "SIGUSR1: status" in l][-1]
assert r["brokers_and_channels"] >= 3 and isinstance(r["uptime_s"], int) and r["ready"] == "true", r
' "$LOG"

send() { # send ID TYPE
    curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/default/keep" \
        -H "ce-specversion: 1.0" -H "ce-id: $1" -H "ce-source: /ops" -H "ce-type: $2" -d '{}'
}
send info-1 to.nowhere >/dev/null
wait_log '"event sent to the dead-letter sink"' "$LOG"
check "at info, no line per delivery attempt" bash -c "! grep -q '\"delivery attempt' '$LOG'"
check "a dead-lettered event's id is in the line" \
    grep -q '"msg":"event sent to the dead-letter sink".*"id":"info-1"' "$LOG"
kill -USR2 "$HPID"
wait_log '"SIGUSR2: debug logging on"' "$LOG"
check "SIGUSR2: heraldd stays up, debug on, logged" alive
send dbg-1 to.nowhere >/dev/null
send dbg-2 to.dead >/dev/null
wait_log '"id":"dbg-2"' "$LOG"
wait_log '"msg":"event sent to the dead-letter sink","namespace":"default","trigger":"t-fail","id":"dbg-1"' "$LOG"
check "debug: each delivery attempt is logged with the event id and numbers" python3 -c '
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1]) if "dbg-1" in l]
att = [l for l in ls if l["msg"] == "delivery attempt"]
assert len(att) == 2 and att[0]["level"] == "debug" and [a["attempt"] for a in att] == [1, 2], att
assert any(l["msg"] == "delivery failed; retrying" and isinstance(l["retry_in_ms"], int) for l in ls), ls
assert any(l["msg"] == "delivery attempt to the dead-letter sink" for l in ls), ls
' "$LOG"
check "an event dead without a sink is logged with its id" \
    grep -q '"msg":"event dead after its last attempt (no dead-letter sink)".*"id":"dbg-2","seq":[0-9]' "$LOG"
kill -USR2 "$HPID"
wait_log '"SIGUSR2: debug logging off"' "$LOG"
check "SIGUSR2 again: debug off, logged" alive
check "/healthz still answers after the signals" \
    test "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/healthz")" = 200

kill -QUIT "$HPID"
rc=0
for _ in $(seq 200); do alive || break; sleep 0.05; done
wait "$HPID"
rc=$?
HPID=
check "SIGQUIT: heraldd stops as for SIGTERM (exit 0, no core)" test "$rc" = 0
check "SIGQUIT: logged, and the stop is clean" bash -c "grep -q 'SIGQUIT: stopping' '$LOG' && grep -q 'stopped cleanly' '$LOG'"
cat "$LOG" >"$TMP/all.log"

# ---- 2b. log.file, reopened by SIGHUP after a rotation ------------------------------------------
mkdir -p "$TMP/file"
cat >"$TMP/file/herald.yaml" <<EOF
ingress: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0"}
data_dir: $TMP/file/data
durability: none
log: {file: $TMP/file/heraldd.log}
EOF
FLOG=$TMP/file/heraldd.log
"$HERALDD" -c "$TMP/file/herald.yaml" 2>"$TMP/file/stderr" &
HPID=$!
wait_log '"heraldd ready"' "$FLOG"
check "log.file: heraldd logs to the file" grep -q '"heraldd ready"' "$FLOG"
check "log.file: ... not to stderr" bash -c "! grep -q 'heraldd ready' '$TMP/file/stderr'"
mv "$FLOG" "$FLOG.1"
kill -HUP "$HPID"
wait_log '"manifests reloaded"' "$FLOG"
check "SIGHUP: the log file is reopened (a new file after a rotation)" grep -q '"manifests reloaded"' "$FLOG"
kill -TERM "$HPID"
wait "$HPID"
check "log.file: the last lines are flushed at exit" grep -q '"stopped cleanly"' "$FLOG"
HPID=
cat "$FLOG.1" "$FLOG" "$TMP/file/stderr" >>"$TMP/all.log" 2>/dev/null

# ---- 3. a stderr nobody reads -----------------------------------------------------------------
mkdir -p "$TMP/pipe/manifests"
cat >"$TMP/pipe/manifests/flood.yaml" <<'EOF'
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, namespace: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: nowhere, namespace: default}
spec:
  broker: b
  subscriber: {uri: "http://127.0.0.1:1/"}
EOF
cat >"$TMP/pipe/herald.yaml" <<EOF
ingress: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0"}
data_dir: $TMP/pipe/data
durability: none
manifests: [$TMP/pipe/manifests]
log: {format: json, level: debug}
EOF
mkfifo "$TMP/pipe/fifo"
exec 3<>"$TMP/pipe/fifo" # held open and read only until heraldd is ready
"$HERALDD" -c "$TMP/pipe/herald.yaml" 2>"$TMP/pipe/fifo" &
HPID=$!
IN=""
ADM=""
while IFS= read -r -t 10 -u 3 line; do
    echo "$line" >>"$TMP/pipe/start.log"
    case $line in *'"heraldd ready"'*) heraldd_ports "$TMP/pipe/start.log"; break ;; esac
done
check "heraldd starts with stderr on a pipe" test -n "$ADM"
# from here on nobody reads the pipe: 40 batches of 100 events, each failing its one delivery
# attempt (connection refused) with a debug line for every attempt
batch() {
    python3 -c '
import json, sys
b = int(sys.argv[1])
print(json.dumps([{"specversion": "1.0", "id": "e%d-%d" % (b, i), "source": "/flood",
                   "type": "t", "data": {"pad": "x" * 200}} for i in range(100)]))' "$1"
}
healthy=1
for b in $(seq 40); do
    batch "$b" >"$TMP/pipe/batch.json"
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IN/default/b" \
        -H 'content-type: application/cloudevents-batch+json' --data-binary @"$TMP/pipe/batch.json")
    h=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/healthz")
    if [ "$code" != 202 ] || [ "$h" != 200 ]; then healthy=0; echo "batch $b: ingest $code, healthz $h"; break; fi
done
check "with nobody reading stderr, ingest and /healthz keep answering" test "$healthy" = 1
# deliveries go on after the last batch: /healthz answers for 3 more seconds
for _ in $(seq 6); do
    h=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/healthz")
    [ "$h" = 200 ] || { healthy=0; break; }
    sleep 0.5
done
check "  ... and for seconds after, while deliveries fail and log" test "$healthy" = 1
dropped=$(curl -s -m 3 "http://127.0.0.1:$ADM/metrics" | awk '$1 == "herald_log_dropped_lines_total" {print $2}')
check "the dropped log lines are counted in /metrics ($dropped)" test "${dropped:-0}" -gt 0
kill -TERM "$HPID"
stopped=0
for _ in $(seq 200); do kill -0 "$HPID" 2>/dev/null || { stopped=1; break; }; sleep 0.05; done
check "SIGTERM still stops it while nobody reads stderr" test "$stopped" = 1
wait "$HPID" 2>/dev/null
HPID=
exec 3>&-

finish "$TMP/all.log"
