#!/usr/bin/env bash
# run.sh — installs what is missing, builds Herald and starts it with the example resources:
# heraldd on conf/herald.yaml (ingress 127.0.0.1:8080, admin 127.0.0.1:8081), the Broker
# default/default, the Trigger "orders" and `herald listen` on 127.0.0.1:8090 (an event display,
# like Knative's) that the trigger delivers to. It sends one event through and shows it arriving, then keeps running
# (Ctrl-C stops everything). `scripts/run.sh --once` stops after that first event.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ONCE=0
[ "${1:-}" = "--once" ] && ONCE=1
BUILD_DIR=${BUILD_DIR:-build}
RUN_DIR=${RUN_DIR:-$ROOT/build/run}

scripts/deps.sh
# Only what running needs is built (the tests and their dependencies come with scripts/test.sh);
# the SDK libraries are built too, so that `cmake --install build` works afterwards.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc 2>/dev/null || echo 2)" --target heraldd herald \
  herald_ce_static herald_ce_shared herald_ce_client
HERALDD=$BUILD_DIR/broker/heraldd
HERALD=$BUILD_DIR/cli/herald

for port in 8080 8081 8090; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run: port $port on 127.0.0.1 is already in use (another heraldd?); stop it first" >&2
    exit 1
  fi
done

mkdir -p "$RUN_DIR"
: >"$RUN_DIR/received.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The example subscriber: `herald listen` answers 202 and prints every event it receives.
"$HERALD" listen --port 8090 >"$RUN_DIR/received.log" 2>"$RUN_DIR/listen.log" &
pids+=($!)

"$HERALDD" -c conf/herald.yaml --log-format text 2>"$RUN_DIR/heraldd.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fs http://127.0.0.1:8080/readyz >/dev/null 2>&1; then
  echo "run: heraldd did not become ready; its log:" >&2
  cat "$RUN_DIR/heraldd.log" >&2
  exit 1
fi

echo
echo "heraldd is running: ingress http://127.0.0.1:8080, admin http://127.0.0.1:8081"
echo "resources:"
"$HERALD" get brokers -n default 2>/dev/null || true
"$HERALD" get triggers -n default 2>/dev/null || true
echo
echo "sending one event of type com.example.order.created to the broker default/default:"
echo "  \$ $HERALD event send --url http://127.0.0.1:8080/default/default \\"
echo "      --type com.example.order.created --source /run.sh --data '{\"order\": 1}'"
"$HERALD" event send --url http://127.0.0.1:8080/default/default \
  --type com.example.order.created --source /run.sh --data '{"order": 1}'
for _ in $(seq 1 100); do
  grep -q '^Data,' "$RUN_DIR/received.log" 2>/dev/null && break
  sleep 0.1
done
if grep -q '^Data,' "$RUN_DIR/received.log" 2>/dev/null; then
  sleep 0.2
  echo "herald listen on 127.0.0.1:8090 received it (the example Triggers \"orders\" and"
  echo "\"event-display\" both deliver there, so it may show twice; output in $RUN_DIR/received.log):"
  cat "$RUN_DIR/received.log"
else
  echo "run: the subscriber received nothing within 10 s; heraldd's log is $RUN_DIR/heraldd.log" >&2
  exit 1
fi
[ "$ONCE" = 1 ] && exit 0

cat <<EOT

Send more (from another terminal):
  curl -i http://127.0.0.1:8080/default/default -H 'ce-specversion: 1.0' -H 'ce-id: 2' \\
       -H 'ce-source: /curl' -H 'ce-type: com.example.order.created' \\
       -H 'content-type: application/json' -d '{"order": 2}'
  $HERALD event send --url http://127.0.0.1:8080/default/default --type com.example.order.created --source /me
Watch: tail -f $RUN_DIR/received.log        Logs: $RUN_DIR/heraldd.log
Put herald on your PATH:  export PATH=$ROOT/$BUILD_DIR/cli:$ROOT/$BUILD_DIR/broker:\$PATH
The web page: http://127.0.0.1:8081/
Ctrl-C stops heraldd and herald listen.
EOT
wait "${pids[1]}"
