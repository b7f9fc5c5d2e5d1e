/* util_envelope.c — the Kafka/NATS JSON envelope of `herald event decode`. */
#include "util_envelope.h"
#include "util_io.h"

#include <cjson/cJSON.h>
#include <herald/ce_json.h>
#include <herald/ce_kafka.h>
#include <herald/ce_nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Decodes standard padded base64 with the SDK's decoder into a new NUL-terminated buffer (free
 * with free()); -1 when malformed or out of memory.
 */
static int b64_decode(const char *s, size_t len, char **out, size_t *out_len)
{
    ce_buf_t b = {0};
    if (ce_base64_decode(s, len, &b) != CE_E_OK || ce_buf_append(&b, "", 1) != CE_E_OK) {
        ce_buf_free(&b);
        return -1;
    }
    *out = b.data;
    *out_len = b.len - 1;
    return 0;
}

static int add_header(cli_envelope_t *env, const char *name, const char *value, char *err,
                      size_t errsz)
{
    if (env->header_count == CLI_ENVELOPE_MAX_HEADERS) {
        cli_set_error(err, errsz, "envelope: more than %d headers", CLI_ENVELOPE_MAX_HEADERS);
        return -1;
    }
    ce_header_t *h = &env->headers[env->header_count++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
    return 0;
}

static int parse_headers(cJSON *headers, cli_envelope_t *env, char *err, size_t errsz)
{
    if (cJSON_IsObject(headers)) {
        for (cJSON *h = headers->child; h; h = h->next) {
            if (!cJSON_IsString(h)) {
                cli_set_error(err, errsz, "envelope: header '%s' must be a string", h->string);
                return -1;
            }
            if (add_header(env, h->string, h->valuestring, err, errsz))
                return -1;
        }
        return 0;
    }
    if (cJSON_IsArray(headers)) {
        int i = 0;
        for (cJSON *h = headers->child; h; h = h->next, i++) {
            cJSON *n = cJSON_GetArrayItem(h, 0), *v = cJSON_GetArrayItem(h, 1);
            if (!cJSON_IsArray(h) || cJSON_GetArraySize(h) != 2 || !cJSON_IsString(n) ||
                !cJSON_IsString(v)) {
                cli_set_error(err, errsz,
                              "envelope: headers[%d] must be a [name, value] pair of strings", i);
                return -1;
            }
            if (add_header(env, n->valuestring, v->valuestring, err, errsz))
                return -1;
        }
        return 0;
    }
    cli_set_error(err, errsz,
                  "envelope: \"headers\" must be an object or a list of [name, value] pairs");
    return -1;
}

int cli_envelope_parse(const char *json, size_t len, cli_binding_t binding, cli_envelope_t *env,
                       char *err, size_t errsz)
{
    memset(env, 0, sizeof *env);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        cli_set_error(err, errsz, "envelope: malformed JSON");
        return -1;
    }
    env->root = root;
    if (!cJSON_IsObject(root)) {
        cli_set_error(err, errsz, "envelope: expected a JSON object");
        goto fail_parse;
    }
    cJSON *value = NULL, *value64 = NULL;
    for (cJSON *m = root->child; m; m = m->next) {
        const char *k = m->string;
        if (!strcmp(k, "headers")) {
            if (parse_headers(m, env, err, errsz))
                goto fail_parse;
        } else if (!strcmp(k, "value")) {
            value = m;
        } else if (!strcmp(k, "value_base64")) {
            value64 = m;
        } else if (binding == CLI_BINDING_KAFKA && !strcmp(k, "key")) {
            if (cJSON_IsString(m)) {
                env->key = m->valuestring;
                env->key_len = strlen(m->valuestring);
            } else if (!cJSON_IsNull(m)) {
                cli_set_error(err, errsz, "envelope: \"key\" must be a string or null");
                goto fail_parse;
            }
        } else if ((binding == CLI_BINDING_KAFKA && !strcmp(k, "topic")) ||
                   (binding == CLI_BINDING_NATS && !strcmp(k, "subject"))) {
            if (!cJSON_IsString(m)) {
                cli_set_error(err, errsz, "envelope: \"%s\" must be a string", k);
                goto fail_parse;
            }
        } else {
            cli_set_error(err, errsz, "envelope: unknown member \"%s\"", k);
            goto fail_parse;
        }
    }
    if (value && value64 && !cJSON_IsNull(value) && !cJSON_IsNull(value64)) {
        cli_set_error(err, errsz, "envelope: give \"value\" or \"value_base64\", not both");
        goto fail_parse;
    }
    if (value && !cJSON_IsNull(value)) {
        if (!cJSON_IsString(value)) {
            cli_set_error(err, errsz, "envelope: \"value\" must be a string or null");
            goto fail_parse;
        }
        size_t n = strlen(value->valuestring);
        env->value = malloc(n + 1);
        if (!env->value) {
            cli_set_error(err, errsz, "out of memory");
            goto fail_parse;
        }
        memcpy(env->value, value->valuestring, n + 1);
        env->value_len = n;
    } else if (value64 && !cJSON_IsNull(value64)) {
        if (!cJSON_IsString(value64) ||
            b64_decode(value64->valuestring, strlen(value64->valuestring), &env->value,
                       &env->value_len)) {
            cli_set_error(err, errsz, "envelope: \"value_base64\" is not valid base64");
            goto fail_parse;
        }
    }
    return 0;

fail_parse:
    cli_envelope_free(env);
    return -1;
}

int cli_envelope_decode(const cli_envelope_t *env, cli_binding_t binding, ce_event_t **out,
                        char *err, size_t errsz)
{
    ce_error_t e = {0};
    ce_err_t rc;
    if (binding == CLI_BINDING_KAFKA) {
        ce_kafka_msg_t msg = {.headers = env->headers,
                              .header_count = env->header_count,
                              .key = env->key,
                              .key_len = env->key_len,
                              .value = env->value,
                              .value_len = env->value_len};
        rc = ce_kafka_decode(&msg, out, &e);
    } else if (binding == CLI_BINDING_NATS) {
        ce_nats_msg_t msg = {.headers = env->header_count ? env->headers : NULL,
                             .header_count = env->header_count,
                             .data = env->value ? env->value : "",
                             .data_len = env->value_len};
        rc = ce_nats_decode(&msg, out, &e);
    } else {
        cli_set_error(err, errsz, "the HTTP binding has no envelope");
        return -1;
    }
    if (rc != CE_E_OK) {
        cli_set_error(err, errsz, "%s", e.message[0] ? e.message : ce_err_message(rc));
        return -1;
    }
    return 0;
}

void cli_envelope_free(cli_envelope_t *env)
{
    if (!env)
        return;
    free(env->value);
    cJSON_Delete(env->root);
    memset(env, 0, sizeof *env);
}
