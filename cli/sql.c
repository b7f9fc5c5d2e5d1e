/*
 * sql.c — `herald sql eval|check`: evaluate or check a CloudEvents SQL (CESQL v1.0.0) expression
 * offline, with libherald-ce's compiler and evaluator.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "herald/ce.h"
#include "herald/ce_json.h"
#include "herald/ce_sql.h"
#include "util_io.h"

/* The event used by `sql eval` without --event: the four required attributes only. */
#define DEFAULT_ID "herald-sql-eval"
#define DEFAULT_SOURCE "/herald/cli"
#define DEFAULT_TYPE "dev.herald.sql.eval"

static void usage_sql(FILE *out)
{
    fputs("usage: herald sql eval [--event FILE] EXPR\n"
          "       herald sql check EXPR\n"
          "\n"
          "Evaluate or check a CloudEvents SQL (CESQL v1.0.0) expression.\n"
          "Run `herald sql eval --help` or `herald sql check --help` for details.\n",
          out);
}

static void usage_eval(FILE *out)
{
    fputs(
        "usage: herald sql eval [--event FILE] [--] EXPR\n"
        "\n"
        "Evaluates EXPR against an event and prints one line of JSON:\n"
        "  {\"result\": VALUE, \"error\": ERROR}\n"
        "VALUE is the result as JSON (true/false, a number, a string), or null when EXPR does\n"
        "not parse. ERROR is null or one of \"parse\", \"math\", \"cast\", \"missing_attribute\",\n"
        "\"missing_function\", \"function_evaluation\", \"generic\". Evaluation is fail-fast: on\n"
        "an error VALUE is the zero value (false, 0, \"\") of the expression's type, except\n"
        "when a function returns a value with its error (LEFT('abc', -2) is \"abc\").\n"
        "\n"
        "  --event FILE   the event in JSON format (FILE \"-\" reads stdin). Without it the\n"
        "                 event has only the required attributes: specversion \"1.0\",\n"
        "                 id \"" DEFAULT_ID "\", source \"" DEFAULT_SOURCE "\",\n"
        "                 type \"" DEFAULT_TYPE "\".\n"
        "  --             ends the options (for an EXPR that starts with \"--\").\n"
        "\n"
        "AND, OR and XOR have one precedence and are evaluated left to right (spec text):\n"
        "`a AND b OR c` is `(a AND b) OR c`. Parenthesise to be portable.\n"
        "Exit status: 0 when it ran (whatever the result), 1 when the event cannot be read,\n"
        "2 on a usage error. A parse error also prints \"error: position N: ...\" on stderr.\n",
        out);
}

static void usage_check(FILE *out)
{
    fputs("usage: herald sql check [--] EXPR\n"
          "\n"
          "Parses EXPR. Prints \"ok\" and exits 0 when it is valid CESQL; otherwise prints\n"
          "\"error: position N: MESSAGE\" on stderr (N is the byte offset from 0) and exits 1.\n"
          "A chain mixing AND, OR and XOR without parentheses is valid but gets a\n"
          "\"warning: position N: ...\" on stderr: it is evaluated left to right here, while\n"
          "sdk-go and sdk-java group it from the right.\n"
          "A call of an unknown function is valid: it fails when evaluated (missing_function).\n"
          "An expression that is not a condition (an Integer or String, or a bare attribute\n"
          "such as `type`) is an error: as a trigger filter it would never match.\n",
          out);
}

/* AND/OR/XOR chains without parentheses mean something else in the generated SDKs. */
static void warn_mixed_logic(const ce_sql_expr_t *expr)
{
    size_t pos = ce_sql_expr_mixed_logic(expr);
    if (pos != SIZE_MAX)
        fprintf(stderr,
                "warning: position %zu: AND, OR and XOR have one precedence and are evaluated left "
                "to right (sdk-go and sdk-java group them from the right); add parentheses\n",
                pos);
}

static const char *error_name(ce_sql_err_kind_t k)
{
    switch (k) {
    case CE_SQL_ERR_NONE:
        return NULL;
    case CE_SQL_ERR_PARSE:
        return "parse";
    case CE_SQL_ERR_MATH:
        return "math";
    case CE_SQL_ERR_CAST:
        return "cast";
    case CE_SQL_ERR_MISSING_ATTRIBUTE:
        return "missing_attribute";
    case CE_SQL_ERR_MISSING_FUNCTION:
        return "missing_function";
    case CE_SQL_ERR_FUNCTION_EVALUATION:
        return "function_evaluation";
    default:
        return "generic";
    }
}

static void print_json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

static void print_result(FILE *out, const ce_sql_value_t *v, ce_sql_err_kind_t err)
{
    fputs("{\"result\": ", out);
    if (!v)
        fputs("null", out);
    else if (v->type == CE_SQL_BOOLEAN)
        fputs(v->b ? "true" : "false", out);
    else if (v->type == CE_SQL_INTEGER)
        fprintf(out, "%d", (int)v->i);
    else
        print_json_string(out, v->s, v->len);
    fputs(", \"error\": ", out);
    const char *name = error_name(err);
    if (name)
        fprintf(out, "\"%s\"", name);
    else
        fputs("null", out);
    fputs("}\n", out);
}

/*
 * Parses [--event FILE] [--] EXPR. Returns CLI_OK, CLI_USAGE (message printed) or -1 when
 * --help was printed.
 */
static int parse_args(int argc, char **argv, bool allow_event, void (*help)(FILE *),
                      const char **event_path, const char **expr)
{
    bool opts = true;
    *expr = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            help(stdout);
            return -1;
        }
        if (opts && !strcmp(a, "--")) {
            opts = false;
            continue;
        }
        if (opts && allow_event && !strcmp(a, "--event")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: --event needs a FILE\n");
                return CLI_USAGE;
            }
            *event_path = argv[++i];
            continue;
        }
        if (opts && allow_event && !strncmp(a, "--event=", 8)) {
            *event_path = a + 8;
            continue;
        }
        /* Any other "--x" is an unknown option; "-10" or "-TRUE" is an expression. */
        if (opts && !strncmp(a, "--", 2) && a[2] && !(a[2] >= '0' && a[2] <= '9')) {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            help(stderr);
            return CLI_USAGE;
        }
        if (*expr) {
            fprintf(stderr, "error: give one expression (quote it for the shell)\n");
            return CLI_USAGE;
        }
        *expr = a;
    }
    if (!*expr) {
        fprintf(stderr, "error: no expression given\n");
        help(stderr);
        return CLI_USAGE;
    }
    return CLI_OK;
}

static ce_event_t *default_event(void)
{
    ce_event_t *ev = ce_event_new();
    if (!ev)
        return NULL;
    if (ce_event_set(ev, "specversion", "1.0", 3, NULL) != CE_E_OK ||
        ce_event_set(ev, "id", DEFAULT_ID, strlen(DEFAULT_ID), NULL) != CE_E_OK ||
        ce_event_set(ev, "source", DEFAULT_SOURCE, strlen(DEFAULT_SOURCE), NULL) != CE_E_OK ||
        ce_event_set(ev, "type", DEFAULT_TYPE, strlen(DEFAULT_TYPE), NULL) != CE_E_OK) {
        ce_event_free(ev);
        return NULL;
    }
    return ev;
}

static int cmd_eval(int argc, char **argv)
{
    const char *event_path = NULL, *src = NULL;
    int rc = parse_args(argc, argv, true, usage_eval, &event_path, &src);
    if (rc)
        return rc < 0 ? CLI_OK : rc;

    ce_event_t *ev = NULL;
    if (event_path) {
        char *buf = NULL, msg[256];
        size_t len = 0;
        if (cli_read_file(event_path, CLI_MAX_INPUT, &buf, &len, msg, sizeof msg) != 0) {
            fprintf(stderr, "error: %s: %s\n", event_path, msg);
            return CLI_INVALID;
        }
        ce_error_t err = {0};
        ce_err_t e = ce_json_decode(buf, len, &ev, &err);
        free(buf);
        if (e != CE_E_OK) {
            fprintf(stderr, "error: %s: %s\n", event_path,
                    err.message[0] ? err.message : ce_err_message(e));
            return CLI_INVALID;
        }
    } else {
        ev = default_event();
        if (!ev) {
            fprintf(stderr, "error: out of memory\n");
            return CLI_INVALID;
        }
    }

    ce_sql_expr_t *expr = NULL;
    ce_sql_parse_error_t perr;
    ce_err_t e = ce_sql_compile(src, strlen(src), &expr, &perr);
    if (e == CE_E_PARSE) {
        fprintf(stderr, "error: position %zu: %s\n", perr.position, perr.message);
        print_result(stdout, NULL, CE_SQL_ERR_PARSE);
        ce_event_free(ev);
        return CLI_OK;
    }
    if (e != CE_E_OK) {
        fprintf(stderr, "error: %s\n", ce_err_message(e));
        ce_event_free(ev);
        return CLI_INVALID;
    }
    warn_mixed_logic(expr);
    ce_sql_value_t v;
    ce_sql_err_kind_t kind = ce_sql_eval(expr, ev, &v);
    print_result(stdout, &v, kind);
    ce_sql_value_clear(&v);
    ce_sql_free(expr);
    ce_event_free(ev);
    return fflush(stdout) == 0 ? CLI_OK : CLI_INVALID;
}

/* A bare core attribute (`type`, `(source)`): a String per event, never a condition. The same
 * rule as the broker's filter check (broker/filter.c), which refuses such a filter at apply. */
static bool bare_core_attribute(const char *src, char *buf, size_t cap)
{
    static const char *const core[] = {"specversion", "id",   "source",          "type",
                                       "subject",     "time", "datacontenttype", "dataschema"};
    const char *a = src, *b = src + strlen(src);
    for (;;) {
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b - a < 2 || *a != '(' || b[-1] != ')')
            break;
        a++;
        b--;
    }
    size_t n = (size_t)(b - a);
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)a[i]))
            return false;
        buf[i] = (char)tolower((unsigned char)a[i]);
    }
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof core / sizeof core[0]; i++)
        if (!strcmp(buf, core[i]))
            return true;
    return false;
}

/* A filter must be a condition: Boolean, and not a bare String attribute. */
static bool check_condition(const ce_sql_expr_t *expr, const char *src)
{
    static const char *const names[] = {"a Boolean", "an Integer", "a String"};
    ce_sql_type_t t = ce_sql_expr_type(expr);
    char attr[32];
    if (t != CE_SQL_BOOLEAN) {
        fprintf(stderr,
                "error: the expression is %s, not a Boolean, so as a trigger filter it never "
                "matches; compare it (e.g. INT(x) + 1 = 2, or type = 'com.example')\n",
                names[t > CE_SQL_STRING ? CE_SQL_STRING : t]);
        return false;
    }
    if (bare_core_attribute(src, attr, sizeof attr)) {
        fprintf(stderr,
                "error: the expression is the attribute '%s' alone, a String, not a Boolean, so "
                "as a trigger filter it never matches; compare it (e.g. %s = 'value', or EXISTS "
                "%s)\n",
                attr, attr, attr);
        return false;
    }
    return true;
}

static int cmd_check(int argc, char **argv)
{
    const char *event_path = NULL, *src = NULL;
    int rc = parse_args(argc, argv, false, usage_check, &event_path, &src);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    ce_sql_expr_t *expr = NULL;
    ce_sql_parse_error_t perr;
    ce_err_t e = ce_sql_compile(src, strlen(src), &expr, &perr);
    if (e == CE_E_PARSE) {
        fprintf(stderr, "error: position %zu: %s%s\n", perr.position, perr.message,
                strstr(src, "==") ? " (CESQL compares with a single '=': use = instead of ==)"
                                  : "");
        return CLI_INVALID;
    }
    if (e != CE_E_OK) {
        fprintf(stderr, "error: %s\n", ce_err_message(e));
        return CLI_INVALID;
    }
    if (!check_condition(expr, src)) {
        ce_sql_free(expr);
        return CLI_INVALID;
    }
    warn_mixed_logic(expr);
    ce_sql_free(expr);
    puts("ok");
    return CLI_OK;
}

int cli_sql(int argc, char **argv)
{
    if (argc < 2) {
        usage_sql(stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage_sql(stdout);
        return CLI_OK;
    }
    if (!strcmp(sub, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(sub, "check"))
        return cmd_check(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown sql command '%s'\n", sub);
    usage_sql(stderr);
    return CLI_USAGE;
}
