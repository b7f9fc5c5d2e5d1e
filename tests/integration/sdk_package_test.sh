#!/usr/bin/env bash
# sdk_package_test.sh BUILD_DIR SOURCE_DIR CC [EXTRA_CFLAGS] — installs the project into a
# temporary prefix, moves the tree, builds sdk/examples against it with pkg-config and runs them.
set -uo pipefail
BUILD=$1 SRC=$2 CC=$3 EXTRA=${4:-}
source "$SRC/tests/integration/lib.sh"
TMP=$(mktemp -d)
trap 'kill $rpid 2>/dev/null; rm -rf "$TMP"' EXIT
rpid=

echo "== cmake --install into a prefix, then the prefix moved"
cmake --install "$BUILD" --prefix "$TMP/first" >"$TMP/install.log" 2>&1
check "cmake --install succeeds" test $? -eq 0
mv "$TMP/first" "$TMP/moved"
PC=$(dirname "$(find "$TMP/moved" -name herald-ce.pc | head -n1)")
check "herald-ce.pc installed" test -f "$PC/herald-ce.pc"
check "herald-ce-client.pc installed" test -f "$PC/herald-ce-client.pc"
check "heraldd and herald installed" test -x "$TMP/moved/bin/heraldd" -a -x "$TMP/moved/bin/herald"
export PKG_CONFIG_PATH=$PC
incdir=$(realpath -m "$(pkg-config --variable=includedir herald-ce)")
check "pkg-config's includedir is in the moved tree ($incdir)" test "$incdir" = "$TMP/moved/include"

echo "== the examples, compiled out of tree against the installed headers and libraries"
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA -o "$TMP/sender" "$SRC/sdk/examples/sender.c" $(pkg-config --cflags --libs herald-ce-client) \
  2>"$TMP/cc-sender.log"
check "sender compiles with pkg-config herald-ce-client" test -x "$TMP/sender"
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA -o "$TMP/receiver" "$SRC/sdk/examples/receiver.c" $(pkg-config --cflags --libs herald-ce) \
  -lhttp_parser 2>"$TMP/cc-receiver.log"
check "receiver compiles with pkg-config herald-ce" test -x "$TMP/receiver"
cat "$TMP"/cc-*.log

export LD_LIBRARY_PATH=$(pkg-config --variable=libdir herald-ce)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
timeout 30 "$TMP/receiver" "$port" 1 >"$TMP/received.jsonl" 2>"$TMP/receiver.log" &
rpid=$!
for _ in $(seq 1 50); do grep -q listening "$TMP/receiver.log" && break; sleep 0.1; done
out=$(timeout 30 "$TMP/sender" "http://127.0.0.1:$port/" com.example.sdk.test '{"n": 7}')
check "sender exits 0 on the receiver's 202" test $? -eq 0
check "sender prints the id and the status ($out)" grep -qE '^sent [0-9]+-[0-9]+: 202' <<<"$out"
wait "$rpid"
rpid=
check "receiver got the event's type" grep -q '"type":"com.example.sdk.test"' "$TMP/received.jsonl"
check "receiver got the JSON data" grep -q '"data":{"n": *7}' "$TMP/received.jsonl"
check "receiver got the time the sender set" grep -qE '"time":"20[0-9-]+T' "$TMP/received.jsonl"

echo "== the shared library exports the public API and nothing else"
so=$(find "$TMP/moved" -name 'libherald-ce.so' | head -n1)
nm -D --defined-only "$so" | awk '{print $3}' | sort >"$TMP/exported"
check "no internal ce__/ce_sql__ symbol exported" test "$(grep -c '__' "$TMP/exported")" -eq 0
for f in ce_event_new ce_event_set ce_event_set_str ce_http_decode ce_json_encode ce_sql_compile; do
  check "$f exported" grep -qx "$f" "$TMP/exported"
done
finish "$TMP/receiver.log"
