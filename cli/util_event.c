/* util_event.c — events from command-line flags (util_event.h). */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli.h"
#include "herald/ce_json.h"
#include "util_event.h"
#include "util_io.h"
#include "util_time.h"

int cli_uuid_v4(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static int sdk_error(const ce_error_t *err)
{
    return cli_error(CLI_INVALID, "%s", err->message[0] ? err->message : ce_err_message(err->code));
}

/* Sets one attribute that must not be set yet; returns CLI_OK or prints the error. */
static int set_attr(ce_event_t *ev, const char *name, const char *value)
{
    ce_error_t err = {0};
    if (ce_event_get(ev, name, strlen(name)))
        return cli_error(CLI_USAGE, "--ext %s: the attribute is already set", name);
    if (ce_event_set(ev, name, value, strlen(value), &err) != CE_E_OK)
        return sdk_error(&err);
    return CLI_OK;
}

static int read_event(const char *file, ce_event_t **out)
{
    char *in = NULL, why[256];
    size_t len = 0;
    if (cli_read_file(file, CLI_MAX_INPUT, &in, &len, why, sizeof why))
        return cli_error(CLI_INVALID, "%s", why);
    ce_error_t err = {0};
    ce_err_t rc = ce_json_decode(in, len, out, &err);
    free(in);
    return rc == CE_E_OK ? CLI_OK : sdk_error(&err);
}

static int set_data(ce_event_t *ev, const char *data, const char *ct_opt)
{
    /* JSON only when the whole text is one JSON value: "1 2" is text */
    cJSON *parsed = cJSON_ParseWithOpts(data, NULL, 1);
    bool json = parsed != NULL;
    cJSON_Delete(parsed);
    const char *ct = ct_opt ? ct_opt : json ? "application/json" : "text/plain";
    int rc = set_attr(ev, "datacontenttype", ct);
    if (rc)
        return rc;
    bool embed = json && ce_media_type_is_json(ct, strlen(ct));
    if (ce_event_set_data(ev, data, strlen(data), embed) != CE_E_OK)
        return cli_error(CLI_INVALID, "out of memory");
    return CLI_OK;
}

/* Parses a --field VALUE: true/false, a JSON number, else the text as a string. */
static cJSON *field_value(const char *v)
{
    if (!strcmp(v, "true"))
        return cJSON_CreateTrue();
    if (!strcmp(v, "false"))
        return cJSON_CreateFalse();
    cJSON *n = cJSON_ParseWithOpts(v, NULL, 1);
    if (cJSON_IsNumber(n))
        return n;
    cJSON_Delete(n);
    return cJSON_CreateString(v);
}

/* Sets data to the JSON object the --field options build. */
static int set_fields(ce_event_t *ev, const cli_event_args_t *a)
{
    cJSON *root = cJSON_CreateObject();
    int rc = CLI_OK;
    for (size_t i = 0; i < a->field_count && rc == CLI_OK; i++) {
        const char *f = a->fields[i], *eq = strchr(f, '=');
        cJSON *at = root;
        const char *p = f;
        while (rc == CLI_OK) {
            const char *dot = memchr(p, '.', (size_t)(eq - p));
            const char *end = dot ? dot : eq;
            char name[256];
            if (end == p || (size_t)(end - p) >= sizeof name) {
                rc = cli_error(CLI_USAGE,
                               "--field '%s': every name of the path a.b.c needs 1 to "
                               "255 characters",
                               f);
                break;
            }
            snprintf(name, sizeof name, "%.*s", (int)(end - p), p);
            cJSON *child = cJSON_GetObjectItemCaseSensitive(at, name);
            if (!dot) {
                if (child)
                    rc = cli_error(CLI_USAGE, "--field '%s': '%.*s' is set twice", f, (int)(eq - f),
                                   f);
                else
                    cJSON_AddItemToObject(at, name, field_value(eq + 1));
                break;
            }
            if (!child)
                child = cJSON_AddObjectToObject(at, name);
            else if (!cJSON_IsObject(child))
                rc = cli_error(CLI_USAGE, "--field '%s': '%.*s' is a value, not an object", f,
                               (int)(end - f), f);
            at = child;
            p = dot + 1;
        }
    }
    char *text = rc == CLI_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (rc == CLI_OK && !text)
        rc = cli_error(CLI_INVALID, "out of memory");
    if (rc == CLI_OK)
        rc = set_data(ev, text, a->ct);
    free(text);
    return rc;
}

void cli_print_sent(const ce_event_t *ev, const char *where, long status)
{
    const char *id = ce_event_get_str(ev, "id");
    printf("event %s accepted by %s (%ld)\n", id ? id : "?", where, status);
}

int cli_build_event(const cli_event_args_t *a, ce_event_t **out)
{
    if (a->file)
        return read_event(a->file, out);
    ce_event_t *ev = ce_event_new();
    if (!ev)
        return cli_error(CLI_INVALID, "out of memory");
    char id[37];
    int rc;
    if (!a->id && cli_uuid_v4(id)) {
        rc = cli_error(CLI_INVALID, "cannot read random bytes for the id");
        goto fail_build;
    }
    if ((rc = set_attr(ev, "specversion", "1.0")) ||
        (rc = set_attr(ev, "id", a->id ? a->id : id)) || (rc = set_attr(ev, "source", a->source)) ||
        (rc = set_attr(ev, "type", a->type)))
        goto fail_build;
    if (a->subject && (rc = set_attr(ev, "subject", a->subject)))
        goto fail_build;
    char now[32];
    cli_now_rfc3339(now);
    if ((rc = set_attr(ev, "time", a->time ? a->time : now)))
        goto fail_build;
    for (size_t i = 0; i < a->ext_count; i++) {
        const char *eq = strchr(a->ext[i], '=');
        char name[CE_MAX_NAME_LEN + 1];
        size_t nlen = (size_t)(eq - a->ext[i]);
        if (nlen >= sizeof name) {
            rc = cli_error(CLI_INVALID, "extension name too long in '%s'", a->ext[i]);
            goto fail_build;
        }
        memcpy(name, a->ext[i], nlen);
        name[nlen] = '\0';
        if ((rc = set_attr(ev, name, eq + 1)))
            goto fail_build;
    }
    if (a->data && a->field_count)
        rc = cli_error(CLI_USAGE, "give --data or --field, not both");
    else if (a->field_count)
        rc = set_fields(ev, a);
    else if (a->data)
        rc = set_data(ev, a->data, a->ct);
    else if (a->ct)
        rc = set_attr(ev, "datacontenttype", a->ct);
    if (rc)
        goto fail_build;
    ce_error_t err = {0};
    if (ce_event_validate(ev, &err) != CE_E_OK) {
        rc = sdk_error(&err);
        goto fail_build;
    }
    *out = ev;
    return CLI_OK;

fail_build:
    ce_event_free(ev);
    return rc;
}
