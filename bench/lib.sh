# lib.sh — what the load scripts share, sourced after TMP, SHARED, HERALDD and DURABILITY are set
# and PIDS=() and HPID= are declared: a free loopback port, nginx answering `return 202` from
# shared/bench/nginx-202.conf (the ceiling every ratio is measured against), waiting for a server
# to answer, and a fresh heraldd per scenario (manifests in $TMP/m-SCENARIO, a new data dir).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_nginx -> sets NGINX_PORT; the process is added to PIDS (stopped by the caller's cleanup)
start_nginx() {
    NGINX_PORT=$(free_port)
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
    sed "s#@DIR@#$TMP/nginx#g; s#@PORT@#$NGINX_PORT#g" "$SHARED/bench/nginx-202.conf" \
        >"$TMP/nginx/nginx.conf"
    nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -g 'daemon off;' 2>"$TMP/nginx.err" &
    PIDS+=($!)
}

wait_up() { # url: up to 30 s, else print the servers' errors and exit
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null -m 1 "$1"; then return 0; fi
        sleep 0.1
    done
    echo "bench: $1 did not come up" >&2
    cat "$TMP"/heraldd*.err "$TMP/nginx.err" >&2 2>/dev/null || true
    exit 1
}

# start_heraldd SCENARIO -> HPID, HPORT, APORT (stops the previous one first)
start_heraldd() {
    local sc=$1
    stop_heraldd
    rm -rf "$TMP/data"
    mkdir -p "$TMP/data"
    HPORT=$(free_port)
    APORT=$(free_port)
    cat >"$TMP/herald.yaml" <<EOF
ingress: {listen: "127.0.0.1:$HPORT"}
admin: {listen: "127.0.0.1:$APORT"}
data_dir: $TMP/data
durability: $DURABILITY
manifests: [$TMP/m-$sc]
log: {level: warn}
EOF
    "$HERALDD" -c "$TMP/herald.yaml" 2>"$TMP/heraldd-$sc.err" &
    HPID=$!
    wait_up "http://127.0.0.1:$HPORT/readyz"
}
stop_heraldd() {
    if [ -n "$HPID" ]; then
        kill "$HPID" 2>/dev/null || true
        wait "$HPID" 2>/dev/null || true
        HPID=
    fi
}
