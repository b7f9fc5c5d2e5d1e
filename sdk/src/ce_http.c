/*
 * ce_http.c — the CloudEvents HTTP protocol binding over ce_http_msg_t (no sockets).
 *
 * Decisions (documented for users):
 * - Mode by Content-Type alone: application/cloudevents-batch* → batch (checked first),
 *   application/cloudevents* → structured, anything else → binary. Structured or batch in a
 *   format other than +json → CE_E_MEDIA_TYPE (answer 415).
 * - Binary mode: a `ce-datacontenttype` header is IGNORED (Content-Type is authoritative, as the
 *   spec allows); it is never written. A `ce-` header whose remainder is not a valid attribute
 *   name (e.g. `ce-foo-bar`) is REJECTED with CE_E_NAME, so the producer learns about it rather
 *   than losing the attribute silently. A repeated `ce-` header (any case) is CE_E_DUPLICATE.
 *   Every required attribute must be present (CE_E_MISSING otherwise). An empty body is no data.
 * - ce- header values are decoded leniently: a quoted-string is undone first, then each valid
 *   %XY is decoded once; a '%' not followed by two hex digits is kept as sent. Invalid UTF-8
 *   after decoding (including overlongs such as %C0%A0) is CE_E_UTF8; control characters such
 *   as a decoded %0A are then rejected by the String rule (CE_E_TYPE).
 * - v0.3 binary messages are mapped to 1.0 (ce-schemaurl → dataschema).
 */
#include "ce_internal.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Header builder: (name, value) pairs appended to `storage` as offsets, then turned by      */
/* hdr_finish into a header array pointing into storage                                     */

typedef struct {
    size_t name_off, name_len, value_off, value_len;
} hdr_off_t;

typedef struct {
    ce_buf_t storage;
    hdr_off_t *offs;
    size_t count, cap;
} hdr_builder_t;

/*
 * Appends one header prefix+name: value to the builder; the value is percent-encoded in mode
 * *enc, or copied as is when enc is NULL. Returns CE_E_NOMEM or CE_E_OK.
 */
static ce_err_t hdr_push(hdr_builder_t *hb, const char *prefix, const char *name, size_t name_len,
                         const char *value, size_t value_len, const ce_header_encoding_t *enc)
{
    if (hb->count == hb->cap) {
        size_t ncap = hb->cap ? hb->cap * 2 : 16;
        hdr_off_t *n = ce__realloc(hb->offs, ncap * sizeof *n);
        if (!n)
            return CE_E_NOMEM;
        hb->offs = n;
        hb->cap = ncap;
    }
    size_t plen = strlen(prefix);
    hdr_off_t o = {hb->storage.len, plen + name_len, 0, 0};
    if (ce_buf_append(&hb->storage, prefix, plen) != CE_E_OK ||
        ce_buf_append(&hb->storage, name, name_len) != CE_E_OK ||
        ce_buf_append(&hb->storage, "", 1) != CE_E_OK)
        return CE_E_NOMEM;
    o.value_off = hb->storage.len;
    if ((enc ? ce_http_header_encode(value, value_len, *enc, &hb->storage)
             : ce_buf_append(&hb->storage, value, value_len)) != CE_E_OK)
        return CE_E_NOMEM;
    o.value_len = hb->storage.len - o.value_off;
    if (ce_buf_append(&hb->storage, "", 1) != CE_E_OK)
        return CE_E_NOMEM;
    hb->offs[hb->count++] = o;
    return CE_E_OK;
}

/* Appends the header name: value, both as given. */
static ce_err_t hdr_add(hdr_builder_t *hb, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    return hdr_push(hb, "", name, name_len, value, value_len, NULL);
}

/* Returns the header array (owned; free with ce__free) and moves storage out. */
static ce_err_t hdr_finish(hdr_builder_t *hb, ce_header_t **headers, size_t *count,
                           ce_buf_t *storage)
{
    ce_header_t *h = ce__malloc((hb->count ? hb->count : 1) * sizeof *h);
    if (!h)
        return CE_E_NOMEM;
    for (size_t i = 0; i < hb->count; i++) {
        h[i].name = hb->storage.data + hb->offs[i].name_off;
        h[i].name_len = hb->offs[i].name_len;
        h[i].value = hb->storage.data + hb->offs[i].value_off;
        h[i].value_len = hb->offs[i].value_len;
    }
    *headers = h;
    *count = hb->count;
    *storage = hb->storage;
    memset(&hb->storage, 0, sizeof hb->storage);
    ce__free(hb->offs);
    hb->offs = NULL;
    hb->count = hb->cap = 0;
    return CE_E_OK;
}

static void hdr_builder_free(hdr_builder_t *hb)
{
    ce_buf_free(&hb->storage);
    ce__free(hb->offs);
    hb->offs = NULL;
    hb->count = hb->cap = 0;
}

/* The event's data as a binary-mode body (borrowed from ev); false when there is none. */
static bool binary_body(const ce_event_t *ev, const void **body, size_t *len)
{
    return ce_event_data(ev, body, len);
}

/* ---------------------------------------------------------------------------------------- */
/* Header value coding                                                                      */

static const char HEX[] = "0123456789ABCDEF";

ce_err_t ce_http_header_encode(const char *v, size_t len, ce_header_encoding_t enc, ce_buf_t *out)
{
    if (!out || (!v && len))
        return CE_E_ARG;
    size_t mark = out->len, run = 0;
    const unsigned char *s = (const unsigned char *)v;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        size_t nenc = 0; /* bytes to percent-encode starting at i */
        if (enc == CE_HEADER_STRICT) {
            if (c <= 0x20 || c == '"' || c == '%' || c >= 0x7F)
                nenc = 1;
        } else {
            if (c < 0x20 || c == 0x7F)
                nenc = 1;
            else if (c == 0xC2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
                nenc = 2; /* C1 control U+0080-U+009F */
        }
        if (!nenc)
            continue;
        if (i > run && ce_buf_append(out, v + run, i - run) != CE_E_OK)
            goto nomem;
        for (size_t k = 0; k < nenc; k++) {
            char pct[3] = {'%', HEX[s[i + k] >> 4], HEX[s[i + k] & 15]};
            if (ce_buf_append(out, pct, 3) != CE_E_OK)
                goto nomem;
        }
        i += nenc - 1;
        run = i + 1;
    }
    if (len > run && ce_buf_append(out, v + run, len - run) != CE_E_OK)
        goto nomem;
    if (!out->data && ce_buf_append(out, "", 1) == CE_E_OK)
        out->len = 0; /* an empty value still gives a valid C string */
    return out->data ? CE_E_OK : CE_E_NOMEM;
nomem:
    if (out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return CE_E_NOMEM;
}

/*
 * Undoes a quoted-string, then percent-decodes once, appending to out. No UTF-8 check (the
 * callers do it). Returns CE_E_NOMEM or CE_E_OK; out is unchanged on failure.
 */
static ce_err_t header_unescape(const char *v, size_t len, ce_buf_t *out)
{
    size_t mark = out->len;
    ce__trim_ows(&v, &len);
    /* 1. quoted-string (RFC 7230 §3.2.6) */
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        for (size_t i = 1; i + 1 < len; i++) {
            if (v[i] == '\\' && i + 2 < len)
                i++;
            if (ce_buf_append(out, v + i, 1) != CE_E_OK)
                goto nomem;
        }
    } else if (ce_buf_append(out, v, len) != CE_E_OK) {
        goto nomem;
    }
    if (!out->data && ce_buf_append(out, "", 1) == CE_E_OK)
        out->len = 0;
    if (!out->data)
        goto nomem;
    /* 2. percent-decode once, in place (never grows) */
    char *s = out->data + mark;
    size_t n = out->len - mark;
    char *pct = memchr(s, '%', n);
    if (!pct)
        return CE_E_OK; /* the common case: nothing to decode */
    size_t w = (size_t)(pct - s);
    for (size_t r = w; r < n; r++) {
        int h1, h2;
        if (s[r] == '%' && r + 2 < n && (h1 = ce__hexval(s[r + 1])) >= 0 &&
            (h2 = ce__hexval(s[r + 2])) >= 0) {
            s[w++] = (char)(h1 << 4 | h2);
            r += 2;
        } else {
            s[w++] = s[r]; /* lenient: a stray '%' is kept as sent */
        }
    }
    out->len = mark + w;
    out->data[out->len] = '\0';
    return CE_E_OK;
nomem:
    if (out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return CE_E_NOMEM;
}

ce_err_t ce_http_header_decode(const char *v, size_t len, ce_buf_t *out, ce_error_t *err)
{
    if (!out || (!v && len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    size_t mark = out->len;
    if (header_unescape(v, len, out) != CE_E_OK)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    /* 3. UTF-8 */
    if (!ce_utf8_valid(out->data + mark, out->len - mark)) {
        out->len = mark;
        out->data[mark] = '\0';
        return ce_error_set(err, CE_E_UTF8, "invalid UTF-8 after percent-decoding");
    }
    return CE_E_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding                                                                                 */

static const ce_header_t *find_header(const ce_http_msg_t *msg, const char *lname)
{
    for (size_t i = 0; i < msg->header_count; i++)
        if (ce__ieq(msg->headers[i].name, msg->headers[i].name_len, lname))
            return &msg->headers[i];
    return NULL;
}

ce_http_mode_t ce_http_mode(const ce_http_msg_t *msg)
{
    const ce_header_t *ct = msg ? find_header(msg, "content-type") : NULL;
    if (!ct)
        return CE_HTTP_BINARY;
    const char *mt;
    size_t n;
    ce__media_type(ct->value, ct->value_len, &mt, &n);
    if (ce__iprefix(mt, n, "application/cloudevents-batch"))
        return CE_HTTP_BATCH;
    if (ce__iprefix(mt, n, "application/cloudevents"))
        return CE_HTTP_STRUCTURED;
    return CE_HTTP_BINARY;
}

ce_err_t ce__decode_binary_headers(const ce_header_t *hs, size_t n, const char *prefix, bool pct,
                                   bool dct_header, ce_event_t *ev, ce_error_t *err)
{
    ce_buf_t val = {0};
    ce_err_t rc = CE_E_OK;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        const ce_header_t *h = &hs[i];
        if (!ce__iprefix(h->name, h->name_len, prefix))
            continue;
        const char *rest = h->name + plen;
        size_t rlen = h->name_len - plen;
        char name[129];
        if (rlen == 0 || rlen >= sizeof name) {
            rc = ce_error_set(err, CE_E_NAME, "header '%.*s': not a valid attribute name",
                              (int)(h->name_len > 64 ? 64 : h->name_len), h->name);
            break;
        }
        for (size_t k = 0; k < rlen; k++)
            name[k] = ce__lower(rest[k]);
        name[rlen] = '\0';
        if (!dct_header && rlen == 15 && memcmp(name, "datacontenttype", 15) == 0)
            continue; /* Content-Type is authoritative in this binding */
        val.len = 0;
        if (pct) {
            if (header_unescape(h->value, h->value_len, &val) != CE_E_OK) {
                rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
                break;
            }
        } else if (ce_buf_append(&val, h->value, h->value_len) != CE_E_OK) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            break;
        }
        rc = ce__set_unique(ev, name, rlen, val.len ? val.data : "", val.len, "header", err);
        if (rc == CE_E_UTF8)
            ce_error_set(err, rc, "attribute '%s': invalid UTF-8%s", name,
                         pct ? " after percent-decoding" : "");
        else if (rc == CE_E_NAME) /* the name is checked once, by the setter */
            ce_error_set(err, rc,
                         "header '%.*s': '%s' is not a valid attribute name (only a-z and 0-9)",
                         (int)(h->name_len > 64 ? 64 : h->name_len), h->name, name);
        if (rc != CE_E_OK)
            break;
    }
    ce_buf_free(&val);
    return rc;
}

ce_err_t ce__finish_binary(ce_event_t *ev, const char *ct, size_t ct_len, const void *data,
                           size_t data_len, ce_error_t *err)
{
    ce_err_t rc;
    if (ct && (rc = ce_event_set(ev, "datacontenttype", ct, ct_len, err)) != CE_E_OK)
        return rc;
    if (data && (rc = ce_event_set_data(ev, data, data_len, false)) != CE_E_OK)
        return ce_error_set(err, rc, "out of memory");
    if ((rc = ce__map_v03(ev, err)) != CE_E_OK)
        return rc;
    return ce_event_validate(ev, err);
}

static ce_err_t decode_binary(const ce_http_msg_t *msg, ce_event_t **out, ce_error_t *err)
{
    ce_event_t *ev = ce_event_new();
    ce_err_t rc;
    if (!ev)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    rc = ce__decode_binary_headers(msg->headers, msg->header_count, "ce-", true, false, ev, err);
    if (rc != CE_E_OK)
        goto fail;
    const ce_header_t *ct = NULL;
    for (size_t i = 0; i < msg->header_count; i++) {
        const ce_header_t *h = &msg->headers[i];
        if (!ce__ieq(h->name, h->name_len, "content-type"))
            continue;
        if (ct) {
            rc = ce_error_set(err, CE_E_DUPLICATE, "header 'Content-Type' given more than once");
            goto fail;
        }
        ct = h;
    }
    const char *ctv = NULL;
    size_t ctl = 0;
    if (ct) {
        ctv = ct->value;
        ctl = ct->value_len;
        ce__trim_ows(&ctv, &ctl);
    }
    rc = ce__finish_binary(ev, ctv, ctl, msg->body_len ? msg->body : NULL, msg->body_len, err);
    if (rc != CE_E_OK)
        goto fail;
    *out = ev;
    return CE_E_OK;
fail:
    ce_event_free(ev);
    return rc;
}

ce_err_t ce_http_decode(const ce_http_msg_t *msg, ce_event_t ***out, size_t *count, ce_error_t *err)
{
    if (!msg || !out || !count || (!msg->body && msg->body_len) ||
        (!msg->headers && msg->header_count))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    ce_http_mode_t mode = ce_http_mode(msg);
    const char *body = msg->body ? msg->body : "";
    if (mode == CE_HTTP_BATCH || mode == CE_HTTP_STRUCTURED) {
        const ce_header_t *ct = find_header(msg, "content-type");
        const char *mt;
        size_t n;
        ce__media_type(ct->value, ct->value_len, &mt, &n);
        const char *want = mode == CE_HTTP_BATCH ? "application/cloudevents-batch+json"
                                                 : "application/cloudevents+json";
        if (!ce__ieq(mt, n, want))
            return ce_error_set(err, CE_E_MEDIA_TYPE, "unsupported event format '%.*s' (only %s)",
                                (int)(n > 80 ? 80 : n), mt, want);
        if (mode == CE_HTTP_BATCH)
            return ce_json_decode_batch(body, msg->body_len, out, count, err);
    }
    ce_event_t **arr = ce__malloc(sizeof *arr);
    if (!arr)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    ce_err_t rc = mode == CE_HTTP_STRUCTURED ? ce_json_decode(body, msg->body_len, &arr[0], err)
                                             : decode_binary(msg, &arr[0], err);
    if (rc != CE_E_OK) {
        ce__free(arr);
        return rc;
    }
    *out = arr;
    *count = 1;
    return CE_E_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                 */

/*
 * The content type of a binary message: datacontenttype, or "application/json" (the JSON
 * format's implied value) when the data is JSON text; NULL for none. Borrowed from ev.
 */
static const char *binary_content_type(const ce_event_t *ev, size_t *len)
{
    const ce_value_t *ct = ce_event_get(ev, "datacontenttype", 15);
    if (ct) {
        *len = ct->len;
        return ct->str;
    }
    if (ce_event_data_is_json(ev)) {
        *len = 16;
        return "application/json";
    }
    return NULL;
}

/*
 * Binary mode: adds one header prefix+name per attribute of ev, in the event's order, skipping
 * datacontenttype when skip_dct. Values percent-encoded in mode *enc, raw when enc is NULL.
 */
static ce_err_t hdr_add_attrs(hdr_builder_t *hb, const ce_event_t *ev, const char *prefix,
                              bool skip_dct, const ce_header_encoding_t *enc)
{
    for (size_t i = 0, n = ce_event_attr_count(ev); i < n; i++) {
        const char *name;
        const ce_value_t *v;
        ce_event_attr_at(ev, i, &name, &v);
        if (skip_dct && strcmp(name, "datacontenttype") == 0)
            continue;
        ce_err_t rc = hdr_push(hb, prefix, name, strlen(name), v->str, v->len, enc);
        if (rc != CE_E_OK)
            return rc;
    }
    return CE_E_OK;
}

/* Structured mode: the header content-type: ct and the event's JSON form as the body. */
static ce_err_t encode_structured(hdr_builder_t *hb, const ce_event_t *ev, const char *ct,
                                  ce_buf_t *body)
{
    ce_err_t rc = hdr_add(hb, "content-type", 12, ct, strlen(ct));
    if (rc == CE_E_OK)
        rc = ce_json_encode(ev, body);
    return rc;
}

ce_err_t ce__encode(const ce_event_t *ev, bool structured, const ce__binding_t *b,
                    ce_header_t **headers, size_t *count, ce_buf_t *storage, ce_buf_t *body,
                    bool *has_body)
{
    hdr_builder_t hb = {0};
    ce_err_t rc;
    bool data = true;
    if (structured) {
        if ((rc = encode_structured(&hb, ev, b->structured_ct, body)) != CE_E_OK)
            goto fail;
    } else {
        if ((rc = hdr_add_attrs(&hb, ev, b->prefix, b->dct_as_content_type, b->enc)) != CE_E_OK)
            goto fail;
        size_t ctl;
        const char *ct = binary_content_type(ev, &ctl);
        if (b->dct_as_content_type) {
            if (ct && (rc = hdr_add(&hb, "content-type", 12, ct, ctl)) != CE_E_OK)
                goto fail;
        } else if (ct && !ce_event_get(ev, "datacontenttype", 15)) {
            /* the implied JSON type, written like the attribute it stands for */
            if ((rc = hdr_push(&hb, b->prefix, "datacontenttype", 15, ct, ctl, b->enc)) != CE_E_OK)
                goto fail;
        }
        const void *d;
        size_t dl;
        data = binary_body(ev, &d, &dl);
        if (data && (rc = ce_buf_append(body, d, dl)) != CE_E_OK)
            goto fail;
    }
    if ((rc = hdr_finish(&hb, headers, count, storage)) != CE_E_OK)
        goto fail;
    *has_body = data;
    return CE_E_OK;
fail:
    hdr_builder_free(&hb);
    ce_buf_free(body);
    return rc;
}

ce_err_t ce_http_encode(const ce_event_t *ev, ce_http_mode_t mode, ce_header_encoding_t enc,
                        ce_http_out_t *out)
{
    if (!ev || !out)
        return CE_E_ARG;
    if (mode != CE_HTTP_BINARY && mode != CE_HTTP_STRUCTURED)
        return CE_E_ARG;
    const ce__binding_t http = {"ce-", &enc, true, "application/cloudevents+json"};
    ce_http_out_t o;
    memset(&o, 0, sizeof o);
    bool has_body;
    ce_err_t rc = ce__encode(ev, mode == CE_HTTP_STRUCTURED, &http, &o.headers, &o.header_count,
                             &o.storage, &o.body, &has_body);
    if (rc != CE_E_OK)
        return rc;
    *out = o;
    return CE_E_OK;
}

void ce_http_out_free(ce_http_out_t *out)
{
    if (!out)
        return;
    ce__free(out->headers);
    ce_buf_free(&out->storage);
    ce_buf_free(&out->body);
    memset(out, 0, sizeof *out);
}
