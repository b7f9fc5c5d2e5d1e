/*
 * event.c — `herald event decode|encode|send`: the CloudEvents codecs of libherald-ce on the
 * command line. decode and encode are offline (stdin to stdout); send talks HTTP to any URL
 * through the SDK's libcurl client.
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "herald/ce.h"
#include "herald/ce_http.h"
#include "herald/ce_json.h"
#include "util_io.h"
#include "util_envelope.h"
#include "util_event.h"

#define DEFAULT_URL "http://localhost:8080/"

static const char EVENT_USAGE[] =
    "usage: herald event decode [--binding http|kafka|nats]\n"
    "       herald event encode --binding http --mode binary|structured|batch\n"
    "                           [--header-encoding compat|strict] [--url URL]\n"
    "       herald event send --url URL [--mode binary|structured]\n"
    "                         [--header-encoding compat|strict]\n"
    "                         (-f FILE|- | --type T --source S [--id I] [--data D]\n"
    "                          [--datacontenttype CT] [--subject S] [--time T]\n"
    "                          [--ext NAME=VALUE]... [--field PATH=VALUE]...)\n"
    "\n"
    "Events in the CloudEvents JSON format are what decode prints, what encode reads and what\n"
    "send -f reads. Run `herald event COMMAND --help` for details.\n"
    "\n"
    "Exit codes: 0 success, 1 invalid input or a non-2xx answer (\"error: ...\" on stderr),\n"
    "2 usage error, 3 the URL could not be reached.\n";

static const char DECODE_USAGE[] =
    "usage: herald event decode [--binding http|kafka|nats]\n"
    "\n"
    "Reads one raw message on stdin and prints the CloudEvent it carries in the JSON format on\n"
    "stdout (a batch as a JSON array). Attribute headers are decoded leniently (valid %XY\n"
    "sequences decoded, anything else kept as sent).\n"
    "\n"
    "--binding http (default): a full HTTP/1.1 request: request line, headers, an empty line and\n"
    "  the body (framed by Content-Length or Transfer-Encoding: chunked). The mode is decided by\n"
    "  Content-Type: application/cloudevents-batch+json is a batch, application/cloudevents+json\n"
    "  structured, anything else binary (ce-* headers).\n"
    "--binding kafka | nats: a JSON envelope describing one record/message:\n"
    "    {\"headers\": {\"ce_id\": \"1\", \"content-type\": \"text/plain\"},\n"
    "     \"key\": \"k\",\n"
    "     \"value\": \"payload as UTF-8 text\"}\n"
    "  \"headers\" is an object or a list of [name, value] pairs (the list may repeat a name, as\n"
    "  Kafka allows); give the payload as \"value\" (text) or \"value_base64\" (bytes); a\n"
    "  missing or null value is an empty payload (a Kafka tombstone). \"key\" (Kafka only) is a\n"
    "  string or null; \"subject\" (NATS only) is informative. Kafka binary mode uses ce_*\n"
    "  headers, NATS binary mode ce-* headers; a message whose content-type starts with\n"
    "  application/cloudevents is structured.\n"
    "\n"
    "Exit codes: 0 decoded, 1 not a valid message or event (\"error: ...\" on stderr), 2 usage.\n";

static const char ENCODE_USAGE[] =
    "usage: herald event encode --binding http --mode binary|structured|batch\n"
    "                           [--header-encoding compat|strict] [--url URL]\n"
    "\n"
    "Reads an event in the CloudEvents JSON format on stdin (for --mode batch a JSON array of\n"
    "events) and prints the HTTP/1.1 request that carries it: `POST /path HTTP/1.1`, Host, the\n"
    "binding's headers, Content-Length, an empty line and the body, with CRLF line ends.\n"
    "\n"
    "  --mode binary       attributes as ce-* headers, data as the body (default)\n"
    "  --mode structured   application/cloudevents+json body\n"
    "  --mode batch        application/cloudevents-batch+json body\n"
    "  --header-encoding compat   ce-* values written raw, only control characters\n"
    "                             percent-encoded: what the Go/Java/JS/Rust SDKs read (default)\n"
    "  --header-encoding strict   the spec's percent-encoding (space, '\"', '%' and non-ASCII)\n"
    "  --url URL           where the request goes (default " DEFAULT_URL ")\n"
    "\n"
    "Exit codes: 0 encoded, 1 invalid event (\"error: ...\" on stderr), 2 usage.\n";

static const char SEND_USAGE[] =
    "usage: herald event send --url URL [--mode binary|structured]\n"
    "                         [--header-encoding compat|strict] [--timeout SECONDS]\n"
    "                         (-f FILE|- | --type T --source S [options])\n"
    "\n"
    "Sends one event with an HTTP POST to any URL (a broker's ingress, `herald listen`, a\n"
    "service) and prints \"event ID accepted by URL (STATUS)\" on a 2xx answer, as\n"
    "`herald send` does, then the reply event in the JSON format if the answer carries one.\n"
    "The options that build the event are those of `herald send`:\n" CLI_EVENT_OPTIONS_HELP
    "  --mode            binary (default) or structured\n"
    "  --header-encoding compat (default) or strict, see `herald event encode --help`\n"
    "  --timeout         seconds for the whole exchange (default 30)\n"
    "\n"
    "Exit codes: 0 a 2xx answer, 1 invalid event or a non-2xx answer (its status and body on\n"
    "stderr), 2 usage, 3 the URL could not be reached (connection refused, DNS, timeout).\n";

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fputs("error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return CLI_USAGE;
}

static bool is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/*
 * Option parsing: matches argv[*i] against `name` in the forms `--name VALUE` and
 * `--name=VALUE`. Returns 1 and sets *val when it matched, 0 when it did not, -1 when the value
 * is missing.
 */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Writes the events as JSON on stdout: a single event as an object, a batch as an array. */
static int print_events(ce_event_t *const *evs, size_t count, bool as_batch)
{
    ce_buf_t out = {0};
    ce_err_t rc = as_batch ? ce_json_encode_batch((const ce_event_t *const *)evs, count, &out)
                           : ce_json_encode(evs[0], &out);
    if (rc != CE_E_OK) {
        ce_buf_free(&out);
        return cli_error(CLI_INVALID, "%s", ce_err_message(rc));
    }
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
    ce_buf_free(&out);
    return fflush(stdout) ? cli_error(CLI_INVALID, "cannot write to stdout") : CLI_OK;
}

static void free_events(ce_event_t **evs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ce_event_free(evs[i]);
    free(evs);
}

/* ---- decode ---------------------------------------------------------------------------- */

static int decode_http(const char *in, size_t len)
{
    cli_http_request_t *req = malloc(sizeof *req);
    if (!req)
        return cli_error(CLI_INVALID, "out of memory");
    char why[256];
    int rc = CLI_INVALID;
    if (cli_http_request_parse(in, len, CLI_MAX_INPUT, req, why, sizeof why)) {
        rc = cli_error(CLI_INVALID, "%s", why);
        goto fail_parse;
    }
    ce_http_msg_t msg = {.headers = req->headers,
                         .header_count = req->header_count,
                         .body = req->body,
                         .body_len = req->body_len};
    ce_event_t **evs = NULL;
    size_t count = 0;
    ce_error_t err = {0};
    if (ce_http_decode(&msg, &evs, &count, &err) != CE_E_OK) {
        rc = cli_error(CLI_INVALID, "%s", err.message[0] ? err.message : ce_err_message(err.code));
        goto fail_decode;
    }
    bool batch = ce_http_mode(&msg) == CE_HTTP_BATCH;
    if (!batch && count != 1) {
        rc = cli_error(CLI_INVALID, "expected one event, got %zu", count);
        free_events(evs, count);
        goto fail_decode;
    }
    rc = print_events(evs, count, batch);
    free_events(evs, count);
fail_decode:
    cli_http_request_free(req);
fail_parse:
    free(req);
    return rc;
}

static int decode_envelope(const char *in, size_t len, cli_binding_t binding)
{
    cli_envelope_t env;
    char why[256];
    if (cli_envelope_parse(in, len, binding, &env, why, sizeof why))
        return cli_error(CLI_INVALID, "%s", why);
    ce_event_t *ev = NULL;
    int rc;
    if (cli_envelope_decode(&env, binding, &ev, why, sizeof why)) {
        rc = cli_error(CLI_INVALID, "%s", why);
        goto fail_decode;
    }
    rc = print_events(&ev, 1, false);
    ce_event_free(ev);
fail_decode:
    cli_envelope_free(&env);
    return rc;
}

static int cmd_decode(int argc, char **argv)
{
    const char *binding = "http";
    for (int i = 1; i < argc; i++) {
        const char *v;
        int m;
        if (is_help(argv[i])) {
            fputs(DECODE_USAGE, stdout);
            return CLI_OK;
        } else if ((m = opt_value(argc, argv, &i, "--binding", &v))) {
            if (m < 0)
                return usage_error(DECODE_USAGE, "%s needs a value", "--binding");
            binding = v;
        } else {
            return usage_error(DECODE_USAGE, "unknown argument '%s'", argv[i]);
        }
    }
    cli_binding_t b;
    if (!strcmp(binding, "http"))
        b = CLI_BINDING_HTTP;
    else if (!strcmp(binding, "kafka"))
        b = CLI_BINDING_KAFKA;
    else if (!strcmp(binding, "nats"))
        b = CLI_BINDING_NATS;
    else
        return usage_error(DECODE_USAGE, "unknown binding '%s' (http, kafka or nats)", binding);

    char *in = NULL;
    size_t len = 0;
    char why[256];
    if (cli_read_all(stdin, CLI_MAX_INPUT, &in, &len, why, sizeof why))
        return cli_error(CLI_INVALID, "stdin: %s", why);
    int rc = b == CLI_BINDING_HTTP ? decode_http(in, len) : decode_envelope(in, len, b);
    free(in);
    return rc;
}

/* ---- encode ---------------------------------------------------------------------------- */

/* The parts of an http:// or https:// URL a request line and Host header need. */
typedef struct {
    char host[1024];   /* host[:port] as written, for the Host header */
    char target[8192]; /* path and query, "/" when empty */
} url_parts_t;

static int split_url(const char *url, url_parts_t *u)
{
    struct http_parser_url pu;
    http_parser_url_init(&pu);
    if (http_parser_parse_url(url, strlen(url), 0, &pu) || !(pu.field_set & (1 << UF_SCHEMA)) ||
        !(pu.field_set & (1 << UF_HOST)))
        return -1;
    const char *schema = url + pu.field_data[UF_SCHEMA].off;
    size_t schema_len = pu.field_data[UF_SCHEMA].len;
    if (!(schema_len == 4 && !strncasecmp(schema, "http", 4)) &&
        !(schema_len == 5 && !strncasecmp(schema, "https", 5)))
        return -1;
    /* Host header: everything between "//" (after any userinfo) and the path. */
    size_t hoff = pu.field_data[UF_HOST].off, hend = hoff + pu.field_data[UF_HOST].len;
    if (hoff > 0 && url[hoff - 1] == '[')
        hoff--, hend++; /* IPv6 literal keeps its brackets */
    if (pu.field_set & (1 << UF_PORT))
        hend = pu.field_data[UF_PORT].off + pu.field_data[UF_PORT].len;
    if (hend - hoff >= sizeof u->host)
        return -1;
    memcpy(u->host, url + hoff, hend - hoff);
    u->host[hend - hoff] = '\0';
    size_t tlen = 0;
    u->target[0] = '\0';
    if (pu.field_set & (1 << UF_PATH)) {
        tlen = pu.field_data[UF_PATH].len;
        if (tlen >= sizeof u->target)
            return -1;
        memcpy(u->target, url + pu.field_data[UF_PATH].off, tlen);
    } else {
        u->target[tlen++] = '/';
    }
    if (pu.field_set & (1 << UF_QUERY)) {
        size_t qlen = pu.field_data[UF_QUERY].len;
        if (tlen + 1 + qlen >= sizeof u->target)
            return -1;
        u->target[tlen++] = '?';
        memcpy(u->target + tlen, url + pu.field_data[UF_QUERY].off, qlen);
        tlen += qlen;
    }
    u->target[tlen] = '\0';
    return 0;
}

static int parse_mode(const char *s, ce_http_mode_t *mode, bool allow_batch)
{
    if (!strcmp(s, "binary"))
        *mode = CE_HTTP_BINARY;
    else if (!strcmp(s, "structured"))
        *mode = CE_HTTP_STRUCTURED;
    else if (allow_batch && !strcmp(s, "batch"))
        *mode = CE_HTTP_BATCH;
    else
        return -1;
    return 0;
}

static int parse_header_encoding(const char *s, ce_header_encoding_t *enc)
{
    if (!strcmp(s, "compat"))
        *enc = CE_HEADER_COMPAT;
    else if (!strcmp(s, "strict"))
        *enc = CE_HEADER_STRICT;
    else
        return -1;
    return 0;
}

static bool is_content_length(const ce_header_t *h)
{
    return h->name_len == 14 && !strncasecmp(h->name, "content-length", 14);
}

/* Writes a request line, Host, the encoded headers, Content-Length and the body. */
static void write_request(FILE *out, const url_parts_t *u, const ce_header_t *headers, size_t count,
                          const char *body, size_t body_len)
{
    fprintf(out, "POST %s HTTP/1.1\r\nHost: %s\r\n", u->target, u->host);
    for (size_t i = 0; i < count; i++) {
        if (is_content_length(&headers[i]))
            continue;
        fprintf(out, "%.*s: %.*s\r\n", (int)headers[i].name_len, headers[i].name,
                (int)headers[i].value_len, headers[i].value);
    }
    fprintf(out, "Content-Length: %zu\r\n\r\n", body_len);
    fwrite(body, 1, body_len, out);
}

static int cmd_encode(int argc, char **argv)
{
    const char *binding = NULL, *mode_s = "binary", *enc_s = "compat", *url = DEFAULT_URL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (is_help(argv[i])) {
            fputs(ENCODE_USAGE, stdout);
            return CLI_OK;
        }
        if ((m = opt_value(argc, argv, &i, "--binding", &v)))
            binding = v;
        else if ((m = opt_value(argc, argv, &i, "--mode", &v)))
            mode_s = v;
        else if ((m = opt_value(argc, argv, &i, "--header-encoding", &v)))
            enc_s = v;
        else if ((m = opt_value(argc, argv, &i, "--url", &v)))
            url = v;
        else
            return usage_error(ENCODE_USAGE, "unknown argument '%s'", argv[i]);
        if (m < 0)
            return usage_error(ENCODE_USAGE, "%s needs a value", argv[i]);
    }
    if (!binding)
        return usage_error(ENCODE_USAGE, "%s is required", "--binding");
    if (strcmp(binding, "http"))
        return usage_error(ENCODE_USAGE, "encode supports --binding http only, not '%s'", binding);
    ce_http_mode_t mode;
    ce_header_encoding_t enc;
    url_parts_t *u = malloc(sizeof *u);
    if (!u)
        return cli_error(CLI_INVALID, "out of memory");
    int rc = CLI_USAGE;
    if (parse_mode(mode_s, &mode, true)) {
        rc = usage_error(ENCODE_USAGE, "unknown mode '%s' (binary, structured or batch)", mode_s);
        goto fail_args;
    }
    if (parse_header_encoding(enc_s, &enc)) {
        rc = usage_error(ENCODE_USAGE, "unknown header encoding '%s' (compat or strict)", enc_s);
        goto fail_args;
    }
    if (split_url(url, u)) {
        rc = usage_error(ENCODE_USAGE, "invalid URL '%s' (expected http://host[:port]/path)", url);
        goto fail_args;
    }

    char *in = NULL;
    size_t len = 0;
    char why[256];
    if (cli_read_all(stdin, CLI_MAX_INPUT, &in, &len, why, sizeof why)) {
        rc = cli_error(CLI_INVALID, "stdin: %s", why);
        goto fail_args;
    }
    ce_error_t err = {0};
    if (mode == CE_HTTP_BATCH) {
        ce_event_t **evs = NULL;
        size_t count = 0;
        if (ce_json_decode_batch(in, len, &evs, &count, &err) != CE_E_OK) {
            rc = cli_error(CLI_INVALID, "%s",
                           err.message[0] ? err.message : ce_err_message(err.code));
            goto fail_decode;
        }
        ce_buf_t body = {0};
        if (ce_json_encode_batch((const ce_event_t *const *)evs, count, &body) != CE_E_OK) {
            rc = cli_error(CLI_INVALID, "out of memory");
        } else {
            static const char ct[] = "application/cloudevents-batch+json";
            ce_header_t h = {"Content-Type", 12, ct, sizeof ct - 1};
            write_request(stdout, u, &h, 1, body.data ? body.data : "", body.len);
            rc = fflush(stdout) ? cli_error(CLI_INVALID, "cannot write to stdout") : CLI_OK;
        }
        ce_buf_free(&body);
        free_events(evs, count);
        goto fail_decode;
    }
    ce_event_t *ev = NULL;
    if (ce_json_decode(in, len, &ev, &err) != CE_E_OK) {
        rc = cli_error(CLI_INVALID, "%s", err.message[0] ? err.message : ce_err_message(err.code));
        goto fail_decode;
    }
    ce_http_out_t out = {0};
    ce_err_t erc = ce_http_encode(ev, mode, enc, &out);
    if (erc != CE_E_OK) {
        rc = cli_error(CLI_INVALID, "%s", ce_err_message(erc));
    } else {
        write_request(stdout, u, out.headers, out.header_count, out.body.data ? out.body.data : "",
                      out.body.len);
        rc = fflush(stdout) ? cli_error(CLI_INVALID, "cannot write to stdout") : CLI_OK;
    }
    ce_http_out_free(&out);
    ce_event_free(ev);
fail_decode:
    free(in);
fail_args:
    free(u);
    return rc;
}

/* ---- send ------------------------------------------------------------------------------ */

#define SEND_MAX_EXT 64

static int cmd_send(int argc, char **argv)
{
    cli_event_args_t a = {0};
    const char *ext[SEND_MAX_EXT], *fields[SEND_MAX_EXT];
    a.ext = ext;
    a.fields = fields;
    const char *url = NULL, *mode_s = "binary", *enc_s = "compat", *timeout_s = "30";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (is_help(argv[i])) {
            fputs(SEND_USAGE, stdout);
            return CLI_OK;
        }
        if ((m = opt_value(argc, argv, &i, "--url", &v)))
            url = v;
        else if ((m = opt_value(argc, argv, &i, "--mode", &v)))
            mode_s = v;
        else if ((m = opt_value(argc, argv, &i, "--header-encoding", &v)))
            enc_s = v;
        else if ((m = opt_value(argc, argv, &i, "--timeout", &v)))
            timeout_s = v;
        else if ((m = opt_value(argc, argv, &i, "-f", &v)) ||
                 (m = opt_value(argc, argv, &i, "--file", &v)))
            a.file = v;
        else if ((m = opt_value(argc, argv, &i, "--type", &v)))
            a.type = v;
        else if ((m = opt_value(argc, argv, &i, "--source", &v)))
            a.source = v;
        else if ((m = opt_value(argc, argv, &i, "--id", &v)))
            a.id = v;
        else if ((m = opt_value(argc, argv, &i, "--data", &v)))
            a.data = v;
        else if ((m = opt_value(argc, argv, &i, "--datacontenttype", &v)) ||
                 (m = opt_value(argc, argv, &i, "--content-type", &v)))
            a.ct = v;
        else if ((m = opt_value(argc, argv, &i, "--subject", &v)))
            a.subject = v;
        else if ((m = opt_value(argc, argv, &i, "--time", &v)))
            a.time = v;
        else if ((m = opt_value(argc, argv, &i, "--ext", &v))) {
            if (m > 0) {
                if (!strchr(v, '=') || v[0] == '=')
                    return usage_error(SEND_USAGE, "--ext needs NAME=VALUE, got '%s'", v);
                if (a.ext_count == SEND_MAX_EXT)
                    return usage_error(SEND_USAGE, "at most %s --ext options", "64");
                ext[a.ext_count++] = v;
            }
        } else if ((m = opt_value(argc, argv, &i, "--field", &v))) {
            if (m > 0) {
                if (!strchr(v, '=') || v[0] == '=')
                    return usage_error(SEND_USAGE, "--field needs PATH=VALUE, got '%s'", v);
                if (a.field_count == SEND_MAX_EXT)
                    return usage_error(SEND_USAGE, "at most %s --field options", "64");
                fields[a.field_count++] = v;
            }
        } else
            return usage_error(SEND_USAGE, "unknown argument '%s'", argv[i]);
        if (m < 0)
            return usage_error(SEND_USAGE, "%s needs a value", argv[i]);
    }
    if (!url)
        return usage_error(SEND_USAGE, "%s is required", "--url");
    if (a.file && (a.type || a.source || a.id || a.data || a.ct || a.subject || a.time ||
                   a.ext_count || a.field_count))
        return usage_error(SEND_USAGE, "%s cannot be combined with attribute options", "-f");
    if (!a.file && (!a.type || !a.source))
        return usage_error(SEND_USAGE, "%s", "give -f FILE, or --type and --source");
    ce_http_mode_t mode;
    ce_header_encoding_t enc;
    if (parse_mode(mode_s, &mode, false))
        return usage_error(SEND_USAGE, "unknown mode '%s' (binary or structured)", mode_s);
    if (parse_header_encoding(enc_s, &enc))
        return usage_error(SEND_USAGE, "unknown header encoding '%s' (compat or strict)", enc_s);
    char *end = NULL;
    double timeout = strtod(timeout_s, &end);
    if (!end || *end || !(timeout > 0) || timeout > 3600)
        return usage_error(SEND_USAGE, "--timeout must be 0 < SECONDS <= 3600, got '%s'",
                           timeout_s);
    {
        url_parts_t *u = malloc(sizeof *u);
        int bad = !u || split_url(url, u);
        free(u);
        if (bad)
            return usage_error(SEND_USAGE, "invalid URL '%s' (expected http://host[:port]/path)",
                               url);
    }

    ce_event_t *ev = NULL;
    int rc = cli_build_event(&a, &ev);
    if (rc)
        return rc;
    rc = cli_send_event(url, ev, mode, enc, (long)(timeout * 1000));
    ce_event_free(ev);
    return rc;
}

int cli_event(int argc, char **argv)
{
    if (argc < 2) {
        fputs(EVENT_USAGE, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (is_help(sub) || !strcmp(sub, "help")) {
        fputs(EVENT_USAGE, stdout);
        return CLI_OK;
    }
    if (!strcmp(sub, "decode"))
        return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(sub, "encode"))
        return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(sub, "send"))
        return cmd_send(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown event command '%s'\n", sub);
    fputs(EVENT_USAGE, stderr);
    return CLI_USAGE;
}
