#!/usr/bin/env bash
# sql_cli_test.sh HERALD — asserts the exact output and exit status of `herald sql eval|check`.
set -u
HERALD=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
count=0

# expect NAME WANT_RC WANT_STDOUT WANT_STDERR_SUBSTRING -- ARGS...
expect() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5
    count=$((count + 1))
    local out err rc
    out=$("$HERALD" "$@" 2>"$TMP/err")
    rc=$?
    err=$(cat "$TMP/err")
    if [[ $rc -ne $want_rc ]]; then
        echo "FAIL $name: exit $rc, expected $want_rc (stderr: $err)"
        fails=$((fails + 1))
        return
    fi
    if [[ "$out" != "$want_out" ]]; then
        echo "FAIL $name: stdout"
        echo "  got:      $out"
        echo "  expected: $want_out"
        fails=$((fails + 1))
        return
    fi
    if [[ -n "$want_err" && "$err" != *"$want_err"* ]]; then
        echo "FAIL $name: stderr '$err' lacks '$want_err'"
        fails=$((fails + 1))
        return
    fi
    if [[ -z "$want_err" && -n "$err" ]]; then
        echo "FAIL $name: unexpected stderr '$err'"
        fails=$((fails + 1))
    fi
}

cat >"$TMP/order.json" <<'JSON'
{"specversion": "1.0", "id": "o-1", "source": "/shop/eu", "type": "com.example.order.created",
 "time": "2018-04-26T14:48:09+02:00", "subject": "Straße", "qty": 3, "vip": true,
 "datacontenttype": "application/json", "data": {"total": 12}}
JSON

# eval against the default event (required attributes only)
expect default_type 0 '{"result": true, "error": null}' '' -- sql eval "type = 'dev.herald.sql.eval' AND source = '/herald/cli' AND id = 'herald-sql-eval'"
expect default_specversion 0 '{"result": "1.0", "error": null}' '' -- sql eval specversion
expect default_no_time 0 '{"result": false, "error": null}' '' -- sql eval "EXISTS time"
expect int_result 0 '{"result": 3, "error": null}' '' -- sql eval "4 - 1"
expect negative 0 '{"result": -10, "error": null}' '' -- sql eval -10
expect double_minus 0 '{"result": 10, "error": null}' '' -- sql eval -- --10
expect string_escaped 0 '{"result": "a\"bab\\c\\\\", "error": null}' '' -- sql eval "CONCAT('a\"b', 'ab\\c', '\\\\')"
expect left_to_right 0 '{"result": true, "error": null}' 'warning: position 16: AND, OR and XOR' -- sql eval "false AND false OR true"
expect parenthesised 0 '{"result": false, "error": null}' '' -- sql eval "false AND (false OR true)"
# every error kind
expect parse 0 '{"result": null, "error": "parse"}' 'error: position 1: ' -- sql eval "4-1"
expect math 0 '{"result": 0, "error": "math"}' '' -- sql eval "5 / 0"
expect cast 0 '{"result": 0, "error": "cast"}' '' -- sql eval "INT('abc')"
expect missing_attribute 0 '{"result": false, "error": "missing_attribute"}' '' -- sql eval "subject = 'x'"
expect missing_function 0 '{"result": false, "error": "missing_function"}' '' -- sql eval "NOSUCH(1)"
expect function_evaluation 0 '{"result": "abc", "error": "function_evaluation"}' '' -- sql eval "LEFT('abc', -2)"
expect abs_overflow 0 '{"result": 2147483647, "error": "math"}' '' -- sql eval "ABS(-2147483648)"
# --event FILE, --event=FILE and stdin
expect event_filter 0 '{"result": true, "error": null}' '' -- sql eval --event "$TMP/order.json" "type = 'com.example.order.created' AND source LIKE '/shop/%'"
expect event_int 0 '{"result": 6, "error": null}' '' -- sql eval --event="$TMP/order.json" "qty * 2"
expect event_bool 0 '{"result": true, "error": null}' '' -- sql eval --event "$TMP/order.json" vip
expect event_time 0 '{"result": "2018-04-26T14:48:09+02:00", "error": null}' '' -- sql eval --event "$TMP/order.json" time
expect event_unicode 0 '{"result": "STRASSE", "error": null}' '' -- sql eval --event "$TMP/order.json" "CONCAT(UPPER(LEFT(subject, 4)), 'SSE')"
expect event_length 0 '{"result": 6, "error": null}' '' -- sql eval --event "$TMP/order.json" "LENGTH(subject)"
count=$((count + 1))
out=$("$HERALD" sql eval --event - "id" <"$TMP/order.json" 2>&1)
if [[ "$out" != '{"result": "o-1", "error": null}' ]]; then
    echo "FAIL event_stdin: $out"
    fails=$((fails + 1))
fi
echo '{"specversion": "1.0", "id": "x"}' >"$TMP/bad.json"
expect event_invalid 1 '' 'error: ' -- sql eval --event "$TMP/bad.json" "id"
expect event_missing_file 1 '' 'error: ' -- sql eval --event "$TMP/none.json" "id"
# usage errors
expect no_expr 2 '' 'error: no expression given' -- sql eval
expect two_exprs 2 '' 'error: give one expression' -- sql eval "1" "2"
expect bad_option 2 '' "error: unknown option '--nope'" -- sql eval --nope "1"
expect bad_sub 2 '' "error: unknown sql command 'nope'" -- sql nope
expect no_sub 2 '' 'usage: herald sql' -- sql
# check
expect check_ok 0 'ok' '' -- sql check "EXISTS subject AND subject LIKE 'a%'"
expect check_missing_fn_ok 0 'ok' '' -- sql check "NOSUCH(1)"
expect check_mixed_warns 0 'ok' 'warning: position 7: ' -- sql check "a OR b AND c"
expect check_same_op_quiet 0 'ok' '' -- sql check "a OR b OR (c AND d)"
expect check_sign 1 '' 'error: position 1: unexpected integer literal' -- sql check "4-1"
expect check_range 1 '' 'error: position 0: integer literal' -- sql check "2147483648"
expect check_like 1 '' 'error: position 7: ' -- sql check "x LIKE 123"
expect check_unclosed 1 '' 'error: position 3: ' -- sql check "ABC("
expect check_empty 1 '' 'error: position 0: empty expression' -- sql check ""
expect check_doubled_quote 1 '' 'error: position 4: ' -- sql check "'it''s'"
# a filter that is not a condition never matches: refused (issue #8)
expect check_not_boolean 1 '' 'error: the expression is an Integer, not a Boolean' -- sql check "INT(type) + 'x'"
expect check_bare_attribute 1 '' "error: the expression is the attribute 'type' alone" -- sql check "type"
expect check_string_value 1 '' 'error: the expression is a String, not a Boolean' -- sql check "'abc'"
expect check_bare_extension_ok 0 'ok' '' -- sql check "myflag"
expect check_double_equals_hint 1 '' "use = instead of ==" -- sql check "type == 'a'"
# --help of each
expect help_sql 0 "$("$HERALD" sql --help)" '' -- sql --help
count=$((count + 1))
"$HERALD" sql eval --help | grep -q 'usage: herald sql eval' || { echo "FAIL help_eval"; fails=$((fails + 1)); }
count=$((count + 1))
"$HERALD" sql check --help | grep -q 'usage: herald sql check' || { echo "FAIL help_check"; fails=$((fails + 1)); }

echo "$((count - fails))/$count passed"
[[ $fails -eq 0 ]]
