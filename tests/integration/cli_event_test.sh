#!/usr/bin/env bash
# cli_event_test.sh — tests of `herald event decode|encode|send` as a user runs them: exact
# stdout, exact stderr and exit code for each case. Prints "N passed, N failed" at the end.
#
#   cli_event_test.sh HERALD CLI_RECEIVER GROUP
# GROUP: decode_http | decode_errors | decode_kafka | decode_nats | encode | send
set -uo pipefail
HERALD=$1
RECEIVER=$2
GROUP=$3
TMP=$(mktemp -d)
RECV_PID=
cleanup() {
    if [ -n "$RECV_PID" ]; then kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
pass=0
fail=0

# expect NAME RC STDOUT STDERR INPUT -- ARGS...
# Runs `herald ARGS` with INPUT on stdin and compares the exit code, stdout and stderr exactly.
expect() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4 input=$5
    shift 6
    input=${input%"$EOM"}
    printf '%s' "$input" | "$HERALD" "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    printf '%s' "$want_out" >"$TMP/want_out"
    printf '%s' "$want_err" >"$TMP/want_err"
    local ok=1
    if [ "$rc" != "$want_rc" ]; then
        echo "FAIL $name: exit code $rc, want $want_rc"
        ok=0
    fi
    if ! cmp -s "$TMP/out" "$TMP/want_out"; then
        echo "FAIL $name: stdout differs (- want, + got)"
        diff -u "$TMP/want_out" "$TMP/out" | sed -n '3,40p' | cat -A
        ok=0
    fi
    if ! cmp -s "$TMP/err" "$TMP/want_err"; then
        echo "FAIL $name: stderr differs (- want, + got)"
        diff -u "$TMP/want_err" "$TMP/err" | sed -n '3,40p'
        ok=0
    fi
    if [ $ok = 1 ]; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1))
    fi
}

# err NAME RC MESSAGE INPUT -- ARGS...: a failing case: nothing on stdout, "error: MESSAGE".
err() {
    local name=$1 rc=$2 msg=$3 input=$4
    shift 4
    expect "$name" "$rc" "" "error: $msg"$'\n' "$input" "$@"
}

CRLF=$'\r\n'
# Command substitution drops trailing newlines, so req ends its output with this marker, which
# expect removes again.
EOM='<end of message>'
# req HEAD_LINES... -- BODY: an HTTP request with CRLF line ends and a Content-Length.
req() {
    local head="POST /default/default HTTP/1.1${CRLF}Host: localhost${CRLF}"
    while [ "$1" != "--" ]; do
        head+="$1${CRLF}"
        shift
    done
    shift
    local body=${1-}
    printf '%sContent-Length: %d%s%s%s%s' "$head" "${#body}" "$CRLF" "$CRLF" "$body" "$EOM"
}
BIN_HEADERS=("ce-specversion: 1.0" "ce-id: 1" "ce-source: /sensors/1" "ce-type: com.example.t")
EV1='{"specversion":"1.0","id":"1","source":"/sensors/1","type":"com.example.t"'

group_decode_http() {
    expect "binary, text data" 0 \
        "$EV1"',"datacontenttype":"text/plain","data":"hello"}'$'\n' "" \
        "$(req "${BIN_HEADERS[@]}" "Content-Type: text/plain" -- "hello")" -- event decode

    expect "binary, the default binding is http" 0 \
        "$EV1"',"datacontenttype":"text/plain","data":"hello"}'$'\n' "" \
        "$(req "${BIN_HEADERS[@]}" "Content-Type: text/plain" -- "hello")" \
        -- event decode --binding=http

    expect "binary, JSON data, percent-encoded and raw header values, extensions" 0 \
        "$EV1"',"datacontenttype":"application/json","subject":"a b €","myext":"100% raw","n":"5","data":{"a":[1,true,null]}}'$'\n' "" \
        "$(req "${BIN_HEADERS[@]}" "Content-Type: application/json" "ce-subject: a%20b%20%E2%82%AC" \
            "ce-myext: 100% raw" "CE-N: 5" -- '{"a":[1,true,null]}')" -- event decode

    expect "binary, no body is no data" 0 \
        "$EV1"'}'$'\n' "" "$(req "${BIN_HEADERS[@]}" --)" -- event decode

    expect "binary, chunked body" 0 \
        "$EV1"',"datacontenttype":"text/plain","data":"hello, world"}'$'\n' "" \
        "POST /a/b HTTP/1.1${CRLF}Host: x${CRLF}ce-specversion: 1.0${CRLF}ce-id: 1${CRLF}ce-source: /sensors/1${CRLF}ce-type: com.example.t${CRLF}Content-Type: text/plain${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}5${CRLF}hello${CRLF}7;ext=1${CRLF}, world${CRLF}0${CRLF}${CRLF}" \
        -- event decode

    expect "binary, bytes data becomes data_base64" 0 \
        "$EV1"',"datacontenttype":"application/octet-stream","data_base64":"AQL/"}'$'\n' "" \
        "$(req "${BIN_HEADERS[@]}" "Content-Type: application/octet-stream" -- "$(printf '\001\002\377')")" \
        -- event decode

    local s='{"specversion":"1.0","id":"2","source":"/s","type":"t","time":"2026-11-27T13:00:00.5+01:00","myint":7,"mybool":false,"data":{"k":"v"}}'
    expect "structured, typed extensions and time kept as sent" 0 \
        "$s"$'\n' "" \
        "$(req "Content-Type: application/cloudevents+json; charset=utf-8" "ce-id: ignored" -- "$s")" \
        -- event decode

    expect "structured, chunked" 0 \
        "$s"$'\n' "" \
        "POST / HTTP/1.1${CRLF}Content-Type: application/cloudevents+json${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}$(printf '%x' 16)${CRLF}${s:0:16}${CRLF}$(printf '%x' $((${#s} - 16)))${CRLF}${s:16}${CRLF}0${CRLF}${CRLF}" \
        -- event decode

    local b='[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","id":"2","source":"/s","type":"t","datacontenttype":"text/plain","data":"x"}]'
    expect "batch of two" 0 "$b"$'\n' "" \
        "$(req "Content-Type: application/cloudevents-batch+json" -- "$b")" -- event decode
    expect "batch of one is still an array" 0 \
        '[{"specversion":"1.0","id":"1","source":"/s","type":"t"}]'$'\n' "" \
        "$(req "Content-Type: application/cloudevents-batch+json" -- '[{"specversion":"1.0","id":"1","source":"/s","type":"t"}]')" \
        -- event decode
    expect "empty batch" 0 "[]"$'\n' "" \
        "$(req "Content-Type: application/cloudevents-batch+json" -- "[]")" -- event decode
    local r
    r=$(req "${BIN_HEADERS[@]}" --)
    r=${r%"$EOM"}
    expect "trailing newline after the request is ignored" 0 \
        "$EV1"'}'$'\n' "" "$r"$'\r\n\n' -- event decode
    expect "help" 0 "$("$HERALD" event decode --help)"$'\n' "" "" -- event decode --help
}

group_decode_errors() {
    local r
    r=$(req "${BIN_HEADERS[@]}" --)
    r=${r%"$EOM"}
    err "empty input" 1 "empty input: expected an HTTP request" "" -- event decode
    err "not HTTP" 1 "malformed HTTP request: invalid HTTP method" \
        "hello world${CRLF}${CRLF}" -- event decode
    err "headers cut short" 1 "incomplete HTTP request: input ended before the end of the headers" \
        "POST / HTTP/1.1${CRLF}ce-id: 1${CRLF}" -- event decode
    err "body cut short" 1 "incomplete HTTP request: input ended before the end of the body" \
        "POST / HTTP/1.1${CRLF}Content-Length: 10${CRLF}${CRLF}abc" -- event decode
    err "chunked body cut short" 1 "incomplete HTTP request: input ended before the end of the body" \
        "POST / HTTP/1.1${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}5${CRLF}hel" -- event decode
    err "bad chunk size" 1 "malformed HTTP request: invalid character in chunk size header" \
        "POST / HTTP/1.1${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}zz${CRLF}hello${CRLF}0${CRLF}${CRLF}" \
        -- event decode
    err "data after the request" 1 "unexpected data after the end of the HTTP request (5 bytes)" \
        "${r}extra" -- event decode
    err "a second request" 1 "unexpected data after the end of the HTTP request (38 bytes)" \
        "${r}POST / HTTP/1.1${CRLF}Content-Length: 0${CRLF}${CRLF}" \
        -- event decode
    local many=()
    for i in $(seq 1 300); do many+=("x-h$i: v"); done
    err "request target over 8 KiB" 1 "malformed HTTP request: request target longer than 8191 bytes" \
        "POST /$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1${CRLF}${CRLF}" -- event decode
    err "head over 64 KiB" 1 "request head larger than 65536 bytes" \
        "$(req "x-big: $(head -c 70000 /dev/zero | tr '\0' a)" --)" -- event decode
    err "too many headers" 1 "malformed HTTP request: more than 256 headers" \
        "$(req "${many[@]}" --)" -- event decode

    err "binary without ce-id" 1 "attribute 'id': required attribute missing" \
        "$(req "ce-specversion: 1.0" "ce-source: /s" "ce-type: t" --)" -- event decode
    err "binary without any ce- header" 1 "attribute 'specversion': required attribute missing" \
        "$(req "Content-Type: text/plain" -- "hi")" -- event decode
    err "binary, unsupported specversion" 1 "attribute 'specversion': unsupported value '2.0' (only '1.0')" \
        "$(req "ce-specversion: 2.0" "ce-id: 1" "ce-source: /s" "ce-type: t" --)" -- event decode
    expect "binary, v0.3 is mapped to 1.0" 0 \
        '{"specversion":"1.0","id":"1","source":"/s","type":"t","dataschema":"https://x/s"}'$'\n' "" \
        "$(req "ce-specversion: 0.3" "ce-id: 1" "ce-source: /s" "ce-type: t" "ce-schemaurl: https://x/s" --)" \
        -- event decode
    err "binary, invalid UTF-8 after percent-decoding" 1 \
        "attribute 'subject': invalid UTF-8 after percent-decoding" \
        "$(req "${BIN_HEADERS[@]}" "ce-subject: %C0%A0" --)" -- event decode
    err "binary, bad time" 1 "attribute 'time': not an RFC 3339 timestamp" \
        "$(req "${BIN_HEADERS[@]}" "ce-time: yesterday" --)" -- event decode
    err "binary, repeated attribute header" 1 "attribute 'id': header given more than once" \
        "$(req "${BIN_HEADERS[@]}" "ce-id: 2" --)" -- event decode
    err "structured, malformed JSON" 1 "malformed JSON: expected a member name" \
        "$(req "Content-Type: application/cloudevents+json" -- '{"id":"1", nope}')" -- event decode
    err "structured, format we do not read" 1 \
        "unsupported event format 'application/cloudevents+xml' (only application/cloudevents+json)" \
        "$(req "Content-Type: application/cloudevents+xml" -- '<x/>')" -- event decode
    err "structured, data and data_base64" 1 \
        "members 'data' and 'data_base64' must not both be present" \
        "$(req "Content-Type: application/cloudevents+json" -- "${EV1},\"data\":1,\"data_base64\":\"AA==\"}")" \
        -- event decode
    err "batch, one bad event" 1 "batch event 1: attribute 'type': required attribute missing" \
        "$(req "Content-Type: application/cloudevents-batch+json" -- "[${EV1}},{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/s\"}]")" \
        -- event decode
    err "batch that is not an array" 1 "malformed JSON: a batch must be a JSON array" \
        "$(req "Content-Type: application/cloudevents-batch+json" -- "${EV1}}")" -- event decode

    expect "unknown binding" 2 "" \
        "error: unknown binding 'amqp' (http, kafka or nats)"$'\n'"$("$HERALD" event decode --help)"$'\n' \
        "" -- event decode --binding amqp
    expect "unknown argument" 2 "" \
        "error: unknown argument '--frob'"$'\n'"$("$HERALD" event decode --help)"$'\n' \
        "" -- event decode --frob
    expect "event without a command" 2 "" "$("$HERALD" event --help)"$'\n' "" -- event
    expect "unknown event command" 2 "" \
        "error: unknown event command 'frob'"$'\n'"$("$HERALD" event --help)"$'\n' \
        "" -- event frob
}

# jstr TEXT: TEXT as a JSON string literal.
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

group_decode_kafka() {
    local hdr='"ce_specversion":"1.0","ce_id":"1","ce_source":"/sensors/1","ce_type":"com.example.t"'
    expect "kafka binary, headers as an object" 0 \
        "$EV1"',"datacontenttype":"text/plain","subject":"a b%20c","data":"hi"}'$'\n' "" \
        '{"headers":{'"$hdr"',"content-type":"text/plain","ce_subject":"a b%20c"},"key":"k1","topic":"t","value":"hi"}' \
        -- event decode --binding kafka
    expect "kafka binary, headers as pairs, bytes value" 0 \
        "$EV1"',"datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="}'$'\n' "" \
        '{"headers":[["ce_specversion","1.0"],["ce_id","1"],["ce_source","/sensors/1"],["ce_type","com.example.t"],["content-type","application/octet-stream"]],"value_base64":"AAEC/w=="}' \
        -- event decode --binding kafka
    expect "kafka binary, null value (tombstone) is no data" 0 \
        "$EV1"'}'$'\n' "" '{"headers":{'"$hdr"'},"key":null,"value":null}' \
        -- event decode --binding kafka
    local s='{"specversion":"1.0","id":"2","source":"/s","type":"t","partitionkey":"k","data":[1,2]}'
    expect "kafka structured" 0 "$s"$'\n' "" \
        '{"headers":{"content-type":"application/cloudevents+json; charset=UTF-8"},"key":"k","value":'"$(jstr "$s")"'}' \
        -- event decode --binding kafka

    expect "kafka headerless record with a JSON event value is structured" 0 "$s"$'\n' "" \
        '{"value":'"$(jstr "$s")"'}' -- event decode --binding kafka
    err "kafka, header name that is not an attribute name" 1 \
        "header 'ce_foo-bar': 'foo-bar' is not a valid attribute name (only a-z and 0-9)" \
        '{"headers":{'"$hdr"',"ce_foo-bar":"x"}}' -- event decode --binding kafka
    err "kafka, envelope not JSON" 1 "envelope: malformed JSON" '{"headers":' \
        -- event decode --binding kafka
    err "kafka, envelope not an object" 1 "envelope: expected a JSON object" '[1]' \
        -- event decode --binding kafka
    err "kafka, unknown member" 1 'envelope: unknown member "subject"' '{"subject":"x"}' \
        -- event decode --binding kafka
    err "kafka, value and value_base64" 1 'envelope: give "value" or "value_base64", not both' \
        '{"headers":{},"value":"a","value_base64":"YQ=="}' -- event decode --binding kafka
    err "kafka, bad base64" 1 'envelope: "value_base64" is not valid base64' \
        '{"headers":{},"value_base64":"YQ="}' -- event decode --binding kafka
    err "kafka, header pair malformed" 1 'envelope: headers[1] must be a [name, value] pair of strings' \
        '{"headers":[["ce_id","1"],["ce_type"]]}' -- event decode --binding kafka
    err "kafka, header not a string" 1 "envelope: header 'ce_id' must be a string" \
        '{"headers":{"ce_id":1}}' -- event decode --binding kafka
    err "kafka, duplicate ce_id header" 1 "attribute 'id': header given more than once" \
        '{"headers":[["ce_specversion","1.0"],["ce_id","1"],["ce_id","2"],["ce_source","/s"],["ce_type","t"]]}' \
        -- event decode --binding kafka
    err "kafka, missing type" 1 "attribute 'type': required attribute missing" \
        '{"headers":{"ce_specversion":"1.0","ce_id":"1","ce_source":"/s"}}' \
        -- event decode --binding kafka
}

group_decode_nats() {
    expect "nats binary, ce-datacontenttype header, percent-decoded value" 0 \
        "$EV1"',"datacontenttype":"text/plain","subject":"a b","data":"hi"}'$'\n' "" \
        '{"subject":"events.x","headers":{"ce-specversion":"1.0","ce-id":"1","ce-source":"/sensors/1","ce-type":"com.example.t","ce-datacontenttype":"text/plain","ce-subject":"a%20b"},"value":"hi"}' \
        -- event decode --binding nats
    local s='{"specversion":"1.0","id":"2","source":"/s","type":"t","data":"x"}'
    expect "nats structured without headers" 0 "$s"$'\n' "" \
        '{"value":'"$(jstr "$s")"'}' -- event decode --binding nats
    err "nats, key is Kafka's" 1 'envelope: unknown member "key"' '{"key":"k"}' \
        -- event decode --binding nats
    err "nats structured, malformed JSON" 1 "malformed JSON: expected a member name" '{"value":"{x"}' \
        -- event decode --binding nats
}

# The event used for the byte-exact encode tests.
ENC_EVENT='{"specversion":"1.0","id":"id 1","source":"/src","type":"com.example.t","subject":"100% € \"q\"","time":"2026-11-27T13:00:00Z","myext":"a b","count":7,"datacontenttype":"text/plain","data":"hello"}'

group_encode() {
    expect "binary, strict" 0 \
        "POST /ns/broker?x=1 HTTP/1.1${CRLF}Host: 127.0.0.1:8080${CRLF}ce-specversion: 1.0${CRLF}ce-id: id%201${CRLF}ce-source: /src${CRLF}ce-type: com.example.t${CRLF}ce-subject: 100%25%20%E2%82%AC%20%22q%22${CRLF}ce-time: 2026-11-27T13:00:00Z${CRLF}ce-myext: a%20b${CRLF}ce-count: 7${CRLF}content-type: text/plain${CRLF}Content-Length: 5${CRLF}${CRLF}hello" \
        "" "$ENC_EVENT" -- event encode --binding http --mode binary --header-encoding strict \
        --url "http://127.0.0.1:8080/ns/broker?x=1"
    expect "binary, compat (the default)" 0 \
        "POST / HTTP/1.1${CRLF}Host: localhost:8080${CRLF}ce-specversion: 1.0${CRLF}ce-id: id 1${CRLF}ce-source: /src${CRLF}ce-type: com.example.t${CRLF}ce-subject: 100% € \"q\"${CRLF}ce-time: 2026-11-27T13:00:00Z${CRLF}ce-myext: a b${CRLF}ce-count: 7${CRLF}content-type: text/plain${CRLF}Content-Length: 5${CRLF}${CRLF}hello" \
        "" "$ENC_EVENT" -- event encode --binding http
    local body='{"specversion":"1.0","id":"id 1","source":"/src","type":"com.example.t","datacontenttype":"text/plain","subject":"100% € \"q\"","time":"2026-11-27T13:00:00Z","myext":"a b","count":7,"data":"hello"}'
    local blen
    blen=$(printf '%s' "$body" | wc -c)
    expect "structured" 0 \
        "POST /in HTTP/1.1${CRLF}Host: example.com${CRLF}content-type: application/cloudevents+json${CRLF}Content-Length: ${blen}${CRLF}${CRLF}${body}" \
        "" "$ENC_EVENT" -- event encode --binding http --mode structured --url http://example.com/in
    local batch='[{"specversion":"1.0","id":"1","source":"/s","type":"t"}]'
    expect "batch" 0 \
        "POST / HTTP/1.1${CRLF}Host: h${CRLF}Content-Type: application/cloudevents-batch+json${CRLF}Content-Length: ${#batch}${CRLF}${CRLF}${batch}" \
        "" "$batch" -- event encode --binding http --mode batch --url http://h
    expect "binary, no data: no Content-Type, empty body" 0 \
        "POST / HTTP/1.1${CRLF}Host: h${CRLF}ce-specversion: 1.0${CRLF}ce-id: 1${CRLF}ce-source: /s${CRLF}ce-type: t${CRLF}Content-Length: 0${CRLF}${CRLF}" \
        "" '{"specversion":"1.0","id":"1","source":"/s","type":"t"}' \
        -- event encode --binding http --url http://h/

    # encode then decode gives the event back, in both modes and encodings
    local m e
    for m in binary structured; do
        for e in strict compat; do
            "$HERALD" event encode --binding http --mode $m --header-encoding $e <<<"$ENC_EVENT" >"$TMP/req"
            # binary mode carries every attribute as a string: the Integer 7 comes back as "7"
            local want=$body
            [ $m = binary ] && want=${body/\"count\":7/\"count\":\"7\"}
            expect "round trip $m/$e" 0 "$want"$'\n' "" "$(cat "$TMP/req"; printf '%s' "$EOM")" \
                -- event decode
        done
    done

    err "invalid event" 1 "attribute 'source': required attribute missing" \
        '{"specversion":"1.0","id":"1","type":"t"}' -- event encode --binding http
    err "not JSON" 1 "malformed JSON: an event must be a JSON object" 'nope' -- event encode --binding http
    local help
    help=$("$HERALD" event encode --help)$'\n'
    expect "missing --binding" 2 "" "error: --binding is required"$'\n'"$help" "" -- event encode
    expect "kafka encode is not offered" 2 "" \
        "error: encode supports --binding http only, not 'kafka'"$'\n'"$help" "" \
        -- event encode --binding kafka
    expect "bad mode" 2 "" "error: unknown mode 'text' (binary, structured or batch)"$'\n'"$help" \
        "" -- event encode --binding http --mode text
    expect "bad header encoding" 2 "" \
        "error: unknown header encoding 'raw' (compat or strict)"$'\n'"$help" "" \
        -- event encode --binding http --header-encoding raw
    expect "bad URL" 2 "" \
        "error: invalid URL 'ftp://x/' (expected http://host[:port]/path)"$'\n'"$help" "" \
        -- event encode --binding http --url ftp://x/
    expect "option without value" 2 "" "error: --mode needs a value"$'\n'"$help" "" \
        -- event encode --binding http --mode
}

# start_receiver REPLY_FILE [COUNT]: starts cli_receiver; sets PORT.
start_receiver() {
    rm -f "$TMP/port" "$TMP/dump"
    "$RECEIVER" --port-file "$TMP/port" --dump "$TMP/dump" --reply "$1" --count "${2:-1}" \
        --timeout 30 &
    RECV_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$TMP/port" ] && break
        sleep 0.05
    done
    PORT=$(cat "$TMP/port")
}
stop_receiver() {
    wait "$RECV_PID" 2>/dev/null
    RECV_PID=
}

group_send() {
    printf 'HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' >"$TMP/r202"
    start_receiver "$TMP/r202"
    expect "send, attributes from options, 202" 0 \
        "event abc accepted by http://127.0.0.1:$PORT/default/default (202)"$'\n' "" "" -- event send \
        --url "http://127.0.0.1:$PORT/default/default" --type com.example.t --source /cli \
        --id abc --subject "a b" --ext myext=x%y --data '{"k":1}' --time 2026-01-02T03:04:05Z
    stop_receiver
    expect "the receiver got the event in binary mode" 0 \
        '{"specversion":"1.0","id":"abc","source":"/cli","type":"com.example.t","datacontenttype":"application/json","subject":"a b","time":"2026-01-02T03:04:05Z","myext":"x%y","data":{"k":1}}'$'\n' \
        "" "$(cat "$TMP/dump")" -- event decode
    if grep -q '^POST /default/default HTTP/1.1' "$TMP/dump" && grep -qi '^ce-subject: a b' "$TMP/dump"; then
        pass=$((pass + 1)); echo "ok   request line and compat header on the wire"
    else
        fail=$((fail + 1)); echo "FAIL request line and compat header on the wire"; cat -A "$TMP/dump"
    fi

    start_receiver "$TMP/r202"
    printf '%s' "$ENC_EVENT" >"$TMP/ev.json"
    expect "send -f, structured" 0 "event id 1 accepted by http://127.0.0.1:$PORT/ (202)"$'\n' "" "" -- event send \
        --url "http://127.0.0.1:$PORT/" --mode structured -f "$TMP/ev.json"
    stop_receiver
    if grep -qi '^content-type: application/cloudevents+json' "$TMP/dump"; then
        pass=$((pass + 1)); echo "ok   structured content type on the wire"
    else
        fail=$((fail + 1)); echo "FAIL structured content type on the wire"; cat -A "$TMP/dump"
    fi

    # structured: JSON data of a +json media type is embedded as a value, of text/plain as a string
    local ct want
    for ct in 'application/vnd.x+json; charset=utf-8' 'text/plain'; do
        start_receiver "$TMP/r202"
        "$HERALD" event send --url "http://127.0.0.1:$PORT/" --mode structured --type t \
            --source /s --id 9 --data '{"k":1}' --datacontenttype "$ct" --time 2026-01-02T03:04:05Z >/dev/null
        stop_receiver
        want='{"k":1}'
        [ "$ct" = text/plain ] && want='"{\"k\":1}"'
        expect "structured send, --data with $ct" 0 \
            '{"specversion":"1.0","id":"9","source":"/s","type":"t","datacontenttype":"'"$ct"'","time":"2026-01-02T03:04:05Z","data":'"$want"'}'$'\n' \
            "" "$(cat "$TMP/dump"; printf '%s' "$EOM")" -- event decode
    done

    start_receiver "$TMP/r202"
    "$HERALD" event send --url "http://127.0.0.1:$PORT/" --type t --source /s >"$TMP/o" 2>&1
    stop_receiver
    local id
    id=$(sed -n 's/^ce-id: //Ip' "$TMP/dump" | tr -d '\r')
    if [[ "$id" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]; then
        pass=$((pass + 1)); echo "ok   default id is a UUID v4 ($id)"
    else
        fail=$((fail + 1)); echo "FAIL default id is a UUID v4: '$id'"; cat "$TMP/o"
    fi

    local reply='{"specversion":"1.0","id":"r1","source":"/subscriber","type":"com.example.reply","data":{"ok":true}}'
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/cloudevents+json\r\nContent-Length: %d\r\n\r\n%s' \
        "${#reply}" "$reply" >"$TMP/r200"
    start_receiver "$TMP/r200"
    expect "send, 200 with a structured reply event" 0 \
        "event s1 accepted by http://127.0.0.1:$PORT/ (200)"$'\n'"$reply"$'\n' "" "" -- event send \
        --url "http://127.0.0.1:$PORT/" --type t --source /s --id s1
    stop_receiver

    printf 'HTTP/1.1 200 OK\r\nce-specversion: 1.0\r\nce-id: r2\r\nce-source: /sub\r\nce-type: reply\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok' >"$TMP/r200b"
    start_receiver "$TMP/r200b"
    expect "send, 200 with a binary reply event" 0 \
        "event s2 accepted by http://127.0.0.1:$PORT/ (200)"$'\n''{"specversion":"1.0","id":"r2","source":"/sub","type":"reply","datacontenttype":"text/plain","data":"ok"}'$'\n' \
        "" "" -- event send --url "http://127.0.0.1:$PORT/" --type t --source /s --id s2
    stop_receiver

    printf 'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\n\r\n{"error": "attribute type: bad, go away"}' >"$TMP/r400"
    start_receiver "$TMP/r400"
    expect "send, 400 is exit 1" 1 "" \
        "error: http://127.0.0.1:$PORT/ answered 400: {\"error\": \"attribute type: bad, go away\"}"$'\n' "" \
        -- event send --url "http://127.0.0.1:$PORT/" --type t --source /s
    stop_receiver

    # A port that was free a moment ago: nothing listens there.
    start_receiver "$TMP/r202"
    local dead=$PORT
    "$HERALD" event send --url "http://127.0.0.1:$PORT/" --type t --source /s >/dev/null 2>&1
    stop_receiver
    "$HERALD" event send --url "http://127.0.0.1:$dead/" --type t --source /s >"$TMP/o" 2>"$TMP/e"
    local rc=$?
    if [ $rc = 3 ] && [ ! -s "$TMP/o" ] && grep -q "^error: cannot reach http://127.0.0.1:$dead/: " "$TMP/e"; then
        pass=$((pass + 1)); echo "ok   unreachable URL is exit 3 ($(cat "$TMP/e"))"
    else
        fail=$((fail + 1)); echo "FAIL unreachable URL: rc=$rc"; cat "$TMP/o" "$TMP/e"
    fi

    local help
    help=$("$HERALD" event send --help)$'\n'
    expect "send without --url" 2 "" "error: --url is required"$'\n'"$help" "" \
        -- event send --type t --source /s
    expect "send without type" 2 "" "error: give -f FILE, or --type and --source"$'\n'"$help" "" \
        -- event send --url http://127.0.0.1:1/ --source /s
    expect "send -f with attribute options" 2 "" \
        "error: -f cannot be combined with attribute options"$'\n'"$help" "" \
        -- event send --url http://127.0.0.1:1/ -f x.json --type t
    err "send, invalid attribute" 1 "attribute 'time': not an RFC 3339 timestamp" "" \
        -- event send --url http://127.0.0.1:1/ --type t --source /s --time now
    err "send, missing file" 1 "cannot open /nonexistent.json: No such file or directory" "" \
        -- event send --url http://127.0.0.1:1/ -f /nonexistent.json
}

case "$GROUP" in
decode_http | decode_errors | decode_kafka | decode_nats | encode | send) "group_$GROUP" ;;
*)
    echo "unknown group $GROUP"
    exit 2
    ;;
esac
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
