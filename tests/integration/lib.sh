# lib.sh — what the shell integration tests share, sourced after TMP and SUB are set: counters and
# checks that print "ok"/"FAIL" lines (the script ends with "N passed, N failed"), and the test
# subscriber (subscriber.c) started on a free port with its requests recorded in $TMP/NAME.jsonl.
# Every subscriber started here is in SUB_PIDS[NAME]; the caller's cleanup stops them.
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
