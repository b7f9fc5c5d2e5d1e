/*
 * admin_http.c — the client of heraldd's admin API used by the broker commands: one libcurl
 * request per call, the answer read into memory up to CLI_MAX_RESPONSE, errors turned into the
 * CLI's messages and exit codes (3 when the daemon cannot be reached, naming the URL).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "cli.h"
#include "util_io.h"

size_t cli__buf_write(char *p, size_t size, size_t n, void *arg)
{
    cli_buf_t *b = arg;
    size_t len = size * n;
    if (b->len + len + 1 > CLI_MAX_RESPONSE) {
        b->too_big = true;
        return 0;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* Sends one request to the admin API. Returns CLI_OK, or CLI_UNREACHABLE with a message. */
int cli__http(const cli_opts_t *o, const char *method, const char *path, const char *body,
              size_t body_len, const char *content_type, cli_resp_t *r)
{
    memset(r, 0, sizeof *r);
    size_t ul = strlen(o->admin) + strlen(path) + 1;
    char *url = malloc(ul);
    if (!url)
        return cli_error(CLI_INVALID, "out of memory");
    snprintf(url, ul, "%s%s", o->admin, path);
    CURL *c = curl_easy_init();
    if (!c) {
        free(url);
        return cli_error(CLI_INVALID, "cannot initialise libcurl");
    }
    struct curl_slist *h = NULL;
    char ct[200];
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli__buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    CURLcode cc = curl_easy_perform(c);
    int rc = CLI_OK;
    if (cc != CURLE_OK) {
        if (r->body.too_big)
            rc = cli_error(CLI_INVALID, "the answer from %s is larger than %u bytes", o->admin,
                           CLI_MAX_RESPONSE);
        else
            rc = cli_error(CLI_UNREACHABLE,
                           "cannot reach heraldd at %s: %s (start it, or set "
                           "--admin / HERALD_ADMIN)",
                           o->admin, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    if (rc)
        free(r->body.data);
    return rc;
}

/* Prints the error of a non-2xx answer ({"error": ...} or the raw body) and returns CLI_INVALID. */
int cli__answer_error(cli_resp_t *r)
{
    cJSON *j = r->body.data ? cJSON_Parse(r->body.data) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsString(e))
        cli_error(CLI_INVALID, "%s", e->valuestring);
    else
        cli_error(CLI_INVALID, "heraldd answered %ld%s%.*s", r->status, r->body.len ? ": " : "",
                  (int)(r->body.len > 300 ? 300 : r->body.len), r->body.data ? r->body.data : "");
    cJSON_Delete(j);
    return CLI_INVALID;
}

/* Runs a request and parses the JSON answer. On success *out is owned (cJSON_Delete). */
int cli__call_json(const cli_opts_t *o, const char *method, const char *path, const char *body,
                   size_t len, const char *ct, cJSON **out)
{
    cli_resp_t r;
    int rc = cli__http(o, method, path, body, len, ct, &r);
    if (rc)
        return rc;
    if (r.status < 200 || r.status > 299) {
        rc = cli__answer_error(&r);
        free(r.body.data);
        return rc;
    }
    *out = r.body.data ? cJSON_Parse(r.body.data) : NULL;
    free(r.body.data);
    if (!*out)
        return cli_error(CLI_INVALID, "heraldd answered %ld with a body that is not JSON",
                         r.status);
    return CLI_OK;
}
