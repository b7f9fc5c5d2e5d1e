# lib.sh — what the shell integration tests share, sourced after TMP (and SUB, for sub) are set:
# counters and checks that print "ok"/"FAIL" lines (the script ends with "N passed, N failed"),
# same_run for exact exit code/stdout/stderr comparisons, and the test subscriber (subscriber.c)
# started on a free port with its requests recorded in $TMP/NAME.jsonl (free_port: a port for one
# that is not running yet). Every subscriber started here is in SUB_PIDS[NAME]; cleanup stops them.
# For a real heraldd ($HERALDD; its pid in HPID): heraldd_config writes a config, heraldd_start
# starts it and waits for its "heraldd ready" line (IN, ADM: its ports), heraldd_stop stops it,
# finish_heraldd checks every log it wrote, and `trap cleanup EXIT` kills what is left
# (kill_all) and removes $TMP. Each is described where it is defined.
declare -A SUB_PIDS=()
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # check NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

# sub NAME ARGS... -> starts a subscriber that exits by itself after $SUB_MAX_SECONDS (default
# 120), sets PORT_<NAME>
sub() {
    local name=$1
    shift
    rm -f "$TMP/$name.port"
    "$SUB" --port 0 --port-file "$TMP/$name.port" --record "$TMP/$name.jsonl" \
        --max-seconds "${SUB_MAX_SECONDS:-120}" "$@" >/dev/null &
    SUB_PIDS[$name]=$!
    for _ in $(seq 100); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
    eval "PORT_$name=$(cat "$TMP/$name.port")"
}
unsub() { # unsub NAME: stops that subscriber (connection refused from now on)
    kill "${SUB_PIDS[$1]}" 2>/dev/null
    wait "${SUB_PIDS[$1]}" 2>/dev/null
    unset "SUB_PIDS[$1]"
}
# free_port NAME -> sets PORT_<NAME> to a port nobody listens on yet (a subscriber bound it and
# stopped): manifests can name it before `sub NAME --port "$PORT_<NAME>"` starts one there
free_port() {
    sub "$1"
    unsub "$1"
}
stop_subs() { for p in "${SUB_PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
count() { [ -f "$TMP/$1.jsonl" ] && wc -l <"$TMP/$1.jsonl" || echo 0; }
wait_count() { # wait_count NAME N SECONDS
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        [ "$(count "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# finish LOG: under -DHERALD_SANITIZE=ON, no sanitizer report in heraldd's log (leaks at the clean
# stop included); then the summary line, and the exit status (0 only when nothing failed)
finish() {
    if grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$1"; then
        bad "sanitizer report in heraldd's log"
        grep -E -A20 "AddressSanitizer|LeakSanitizer|runtime error" "$1" | head -60
    else
        ok "no sanitizer report in heraldd's log"
    fi
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
}

# heraldd_ports LOG -> IN, ADM: the ports of the last "heraldd ready" line of a heraldd log
# (numbers in the JSON log; the optional quote also reads logs of older builds)
# shellcheck disable=SC2034  # IN and ADM are for the caller
heraldd_ports() {
    IN=$(grep -o '"ingress_port":"\?[0-9]*' "$1" | tail -1 | grep -o '[0-9]*$')
    ADM=$(grep -o '"admin_port":"\?[0-9]*' "$1" | tail -1 | grep -o '[0-9]*$')
}

# heraldd_config FILE DATA_DIR DURABILITY [MANIFESTS_DIR [YAML-LINE...]]: writes a heraldd config
# to FILE: ingress and admin on port 0 of 127.0.0.1 (heraldd_start reads the ports back), the
# JSON log at level info, the given data_dir and durability, manifests from MANIFESTS_DIR (no
# manifests: line when it is empty or absent), then each YAML-LINE as it is (extra settings)
heraldd_config() {
    local file=$1 data=$2 durability=$3 manifests=${4:-}
    shift $(($# < 4 ? $# : 4))
    {
        echo 'ingress: {listen: "127.0.0.1:0"}'
        echo 'admin: {listen: "127.0.0.1:0"}'
        echo "data_dir: $data"
        echo "durability: $durability"
        [ -n "$manifests" ] && echo "manifests: [$manifests]"
        echo 'log: {format: json, level: info}'
        [ $# -gt 0 ] && printf '%s\n' "$@"
    } >"$file"
}

# heraldd_start CONFIG [LOG [NOFILE]]: starts $HERALDD -c CONFIG in the background (HPID), its
# stderr into LOG (default $TMP/heraldd.log; what an earlier start wrote there is moved to the end
# of LOG's "-all.log" twin first, e.g. $TMP/heraldd-all.log), under `ulimit -n NOFILE` when given;
# waits (10 s at most) until it logs "heraldd ready" or exits, then sets IN and ADM to its ports
# (both empty when it did not get ready)
heraldd_start() {
    local conf=$1 log=${2:-$TMP/heraldd.log} nofile=${3:-}
    [ -f "$log" ] && cat "$log" >>"${log%.log}-all.log"
    : >"$log"
    if [ -n "$nofile" ]; then
        (ulimit -n "$nofile" && exec "$HERALDD" -c "$conf") 2>>"$log" &
    else
        "$HERALDD" -c "$conf" 2>>"$log" &
    fi
    HPID=$!
    for _ in $(seq 200); do
        grep -q '"heraldd ready"' "$log" && break
        kill -0 "$HPID" 2>/dev/null || break
        sleep 0.05
    done
    heraldd_ports "$log"
}

# heraldd_stop [SECONDS]: SIGTERM to heraldd and waits for its exit; with SECONDS, waits at most
# that long and then sends SIGKILL. Sets HRC to its exit status and clears HPID.
# shellcheck disable=SC2034  # HRC is for the caller
heraldd_stop() {
    kill -TERM "$HPID" 2>/dev/null
    if [ -n "${1:-}" ]; then
        for _ in $(seq $(($1 * 20))); do
            kill -0 "$HPID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$HPID" 2>/dev/null
    fi
    wait "$HPID" 2>/dev/null
    HRC=$?
    HPID=
}

# finish_heraldd: finish on everything heraldd logged to $TMP/heraldd.log over all its starts
finish_heraldd() {
    [ -f "$TMP/heraldd.log" ] && cat "$TMP/heraldd.log" >>"$TMP/heraldd-all.log"
    finish "$TMP/heraldd-all.log"
}

# kill_all [SIGNAL]: heraldd ($HPID, when running) gets SIGNAL (default KILL: what it has not
# made durable is lost, as in a crash), every subscriber SIGTERM; then waits for all of them.
# cleanup: kill_all, then $TMP removed; a script with more to undo defines its own after sourcing.
# shellcheck disable=SC2120  # SIGNAL is for the scripts' own cleanups
kill_all() {
    [ -n "${HPID:-}" ] && kill -"${1:-KILL}" "$HPID" 2>/dev/null
    stop_subs
    wait 2>/dev/null
}
cleanup() {
    kill_all
    rm -rf "$TMP"
}

# same_run RC WANT_RC WANT_OUT WANT_ERR: whether a command that exited with RC, its stdout in
# $TMP/out and its stderr in $TMP/err, gave exactly the wanted exit code, stdout and stderr; says
# what differs (the diffs at most 38 lines each). For the scripts' own `expect` functions.
same_run() {
    local same=0
    printf '%s' "$3" >"$TMP/want_out"
    printf '%s' "$4" >"$TMP/want_err"
    if [ "$1" != "$2" ]; then echo "  exit code $1, want $2"; same=1; fi
    if ! cmp -s "$TMP/out" "$TMP/want_out"; then
        echo "  stdout differs (- want, + got)"; diff -u "$TMP/want_out" "$TMP/out" | sed -n '3,40p'; same=1
    fi
    if ! cmp -s "$TMP/err" "$TMP/want_err"; then
        echo "  stderr differs (- want, + got)"; diff -u "$TMP/want_err" "$TMP/err" | sed -n '3,40p'; same=1
    fi
    return $same
}
