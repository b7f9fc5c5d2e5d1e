/*
 * ce_json.c — the CloudEvents JSON event format (one event and batch).
 *
 * A small hand-written JSON reader, not cJSON, because the format needs things cJSON hides:
 * duplicate member names (cJSON keeps both silently), the exact text of a number (`5.0` is not
 * an Integer, cJSON only gives a double) and the exact text of the `data` value (kept as bytes,
 * never re-serialised, so big numbers and key order survive).
 *
 * Decisions (documented for users):
 * - specversion "0.3" events are mapped to 1.0 on decode (schemaurl → dataschema,
 *   datacontentencoding "base64" → the data is decoded to bytes); other versions give
 *   CE_E_SPECVERSION. A batch must share one specversion as sent (before mapping).
 * - `"data": null` is kept as explicit JSON null data (4 bytes `null`, is_json), distinct from an
 *   absent `data`. `"data_base64": null` is treated as absent.
 * - A non-string `data` with a non-JSON datacontenttype is accepted and kept as JSON text.
 */
#include "ce_internal.h"

#include <string.h>

/* Nesting bound for `data` values; deeper input is CE_E_JSON, never a stack overflow. */
#define JSON_MAX_DEPTH 256

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                  */

ce_err_t ce_buf_append(ce_buf_t *b, const void *p, size_t n)
{
    if (!b)
        return CE_E_ARG;
    if (n == 0)
        return CE_E_OK;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n + 1) {
            if (ncap > SIZE_MAX / 2)
                return CE_E_NOMEM;
            ncap *= 2;
        }
        char *d = ce__realloc(b->data, ncap);
        if (!d)
            return CE_E_NOMEM;
        b->data = d;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0'; /* always terminated, not counted */
    return CE_E_OK;
}

void ce_buf_free(ce_buf_t *b)
{
    if (!b)
        return;
    ce__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Makes b a valid C string (allocating for an empty buffer); NULL when out of memory. */
static const char *buf_cstr(ce_buf_t *b)
{
    if (!b->data && ce_buf_append(b, "", 1) == CE_E_OK)
        b->len = 0;
    if (!b->data)
        return NULL;
    b->data[b->len] = '\0';
    return b->data;
}

static ce_err_t buf_puts(ce_buf_t *b, const char *s)
{
    return ce_buf_append(b, s, strlen(s));
}

/* ---------------------------------------------------------------------------------------- */
/* Base64                                                                                   */

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ce__b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static ce_err_t b64_encode(const void *in, size_t n, ce_buf_t *out)
{
    const unsigned char *s = in;
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = b64_alpha[(v >> 18) & 63];
        q[1] = b64_alpha[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64_alpha[v & 63] : '=';
        ce_err_t rc = ce_buf_append(out, q, 4);
        if (rc != CE_E_OK)
            return rc;
    }
    return CE_E_OK;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static ce_err_t b64_decode(const char *in, size_t n, ce_buf_t *out)
{
    if (n % 4)
        return CE_E_TYPE;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad)
                return CE_E_TYPE; /* data after padding */
            v[k] = b64_val(c);
            if (v[k] < 0)
                return CE_E_TYPE;
        }
        if (pad == 1 && in[i + 2] == '=')
            return CE_E_TYPE;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        unsigned char b[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        ce_err_t rc = ce_buf_append(out, b, (size_t)(3 - pad));
        if (rc != CE_E_OK)
            return rc;
    }
    return CE_E_OK;
}

ce_err_t ce_base64_encode(const void *in, size_t n, ce_buf_t *out)
{
    if (!out || (!in && n))
        return CE_E_ARG;
    size_t mark = out->len;
    ce_err_t rc = b64_encode(in, n, out);
    if (rc != CE_E_OK)
        out->len = mark;
    return rc;
}

ce_err_t ce_base64_decode(const char *in, size_t n, ce_buf_t *out)
{
    if (!out || (!in && n))
        return CE_E_ARG;
    size_t mark = out->len;
    ce_err_t rc = b64_decode(in, n, out);
    if (rc != CE_E_OK)
        out->len = mark;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON scanning                                                                            */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static bool read_hex4(const char *p, const char *end, uint32_t *v)
{
    if (end - p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ce__hexval(p[i]);
        if (h < 0)
            return false;
        *v = (*v << 4) | (uint32_t)h;
    }
    return true;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Scans a string starting at the opening quote. When out is non-NULL the unescaped UTF-8 is
 * appended to it (lone surrogate escapes are then CE_E_UTF8). Returns the position after the
 * closing quote in *after. Raw bytes must be valid UTF-8 and not control characters.
 */
static ce_err_t scan_string(const char *p, const char *end, const char **after, ce_buf_t *out)
{
    p++; /* opening quote */
    const char *run = p;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            if (out && p > run && ce_buf_append(out, run, (size_t)(p - run)) != CE_E_OK)
                return CE_E_NOMEM;
            *after = p + 1;
            return CE_E_OK;
        }
        if (c < 0x20)
            return CE_E_JSON;
        if (c >= 0x80) {
            /* validate one UTF-8 sequence */
            size_t k = 1;
            while (p + k < end && k < 4 && ((unsigned char)p[k] & 0xC0) == 0x80)
                k++;
            if (!ce_utf8_valid(p, k))
                return CE_E_UTF8;
            p += k;
            continue;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        if (out && p > run && ce_buf_append(out, run, (size_t)(p - run)) != CE_E_OK)
            return CE_E_NOMEM;
        if (end - p < 2)
            return CE_E_JSON;
        char e = p[1], ch;
        p += 2;
        switch (e) {
        case '"':
            ch = '"';
            break;
        case '\\':
            ch = '\\';
            break;
        case '/':
            ch = '/';
            break;
        case 'b':
            ch = '\b';
            break;
        case 'f':
            ch = '\f';
            break;
        case 'n':
            ch = '\n';
            break;
        case 'r':
            ch = '\r';
            break;
        case 't':
            ch = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (!read_hex4(p, end, &cp))
                return CE_E_JSON;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && read_hex4(p + 2, end, &lo) &&
                    lo >= 0xDC00 && lo <= 0xDFFF) {
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (out) {
                    return CE_E_UTF8;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF && out) {
                return CE_E_UTF8;
            }
            if (out) {
                char tmp[4];
                if (ce_buf_append(out, tmp, utf8_put(tmp, cp)) != CE_E_OK)
                    return CE_E_NOMEM;
            }
            run = p;
            continue;
        }
        default:
            return CE_E_JSON;
        }
        if (out && ce_buf_append(out, &ch, 1) != CE_E_OK)
            return CE_E_NOMEM;
        run = p;
    }
    return CE_E_JSON;
}

/* Scans a JSON number; returns its end or NULL. */
static const char *scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
    }
    return p;
}

static const char *scan_literal(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

const char *ce__json_value_span(const char *p, const char *end, const char **start, int depth)
{
    p = skip_ws(p, end);
    if (p >= end || depth <= 0)
        return NULL;
    *start = p;
    const char *after, *dummy;
    switch (*p) {
    case '"':
        return scan_string(p, end, &after, NULL) == CE_E_OK ? after : NULL;
    case '{':
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}')
            return p + 1;
        for (;;) {
            if (p >= end || *p != '"' || scan_string(p, end, &after, NULL) != CE_E_OK)
                return NULL;
            p = skip_ws(after, end);
            if (p >= end || *p != ':')
                return NULL;
            p = ce__json_value_span(p + 1, end, &dummy, depth - 1);
            if (!p)
                return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}')
                return p + 1;
            return NULL;
        }
    case '[':
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']')
            return p + 1;
        for (;;) {
            p = ce__json_value_span(p, end, &dummy, depth - 1);
            if (!p)
                return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']')
                return p + 1;
            return NULL;
        }
    case 't':
        return scan_literal(p, end, "true");
    case 'f':
        return scan_literal(p, end, "false");
    case 'n':
        return scan_literal(p, end, "null");
    default:
        return scan_number(p, end);
    }
}

bool ce__json_valid(const char *s, size_t len)
{
    const char *start, *end = s + len;
    const char *p = ce__json_value_span(s, end, &start, JSON_MAX_DEPTH);
    return p && skip_ws(p, end) == end;
}

ce_err_t ce__json_append_string(ce_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    ce_err_t rc = ce_buf_append(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len && rc == CE_E_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (i > run)
            rc = ce_buf_append(out, s + run, i - run);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t en = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            en = 6;
        }
        if (rc == CE_E_OK)
            rc = ce_buf_append(out, esc, en);
        run = i + 1;
    }
    if (rc == CE_E_OK && len > run)
        rc = ce_buf_append(out, s + run, len - run);
    if (rc == CE_E_OK)
        rc = ce_buf_append(out, "\"", 1);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding                                                                                 */

typedef struct {
    ce_buf_t key;      /* scratch: current member name */
    ce_buf_t val;      /* scratch: current string value */
    ce_buf_t nulls;    /* names seen with null values, '\0'-separated, for duplicate checks */
    ce_buf_t bytes;    /* scratch: base64-decoded data */
    size_t null_count; /* entries in nulls (bounded by CE_MAX_EXTENSIONS) */
} scratch_t;

static void scratch_free(scratch_t *s)
{
    ce_buf_free(&s->key);
    ce_buf_free(&s->val);
    ce_buf_free(&s->nulls);
    ce_buf_free(&s->bytes);
}

static bool nulls_has(const ce_buf_t *nulls, const char *name, size_t n)
{
    size_t i = 0;
    while (i < nulls->len) {
        size_t l = strlen(nulls->data + i);
        if (l == n && memcmp(nulls->data + i, name, n) == 0)
            return true;
        i += l + 1;
    }
    return false;
}

static ce_err_t json_err(ce_error_t *err, ce_err_t rc, const char *where)
{
    if (rc == CE_E_NOMEM)
        return ce_error_set(err, rc, "out of memory");
    if (rc == CE_E_UTF8)
        return ce_error_set(err, rc, "invalid UTF-8 in JSON %s", where);
    return ce_error_set(err, CE_E_JSON, "malformed JSON: %s", where);
}

/*
 * Decodes one event object starting at p. On success sets *after and *out (owned) and copies
 * the specversion as sent into sv (for the batch rule).
 */
static ce_err_t decode_object(const char *p, const char *end, const char **after, ce_event_t **out,
                              char *sv, size_t sv_cap, scratch_t *s, ce_error_t *err)
{
    ce_err_t rc;
    ce_event_t *ev = NULL;
    const char *data_start = NULL, *data_end = NULL, *b64_start = NULL, *b64_end = NULL;
    bool data_is_string = false;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return ce_error_set(err, CE_E_JSON, "malformed JSON: an event must be a JSON object");
    ev = ce_event_new();
    if (!ev)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    s->nulls.len = 0;
    s->null_count = 0;
    sv[0] = '\0';
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
        goto members_done;
    }
    for (;;) {
        if (p >= end || *p != '"') {
            rc = json_err(err, CE_E_JSON, "expected a member name");
            goto fail;
        }
        s->key.len = 0;
        rc = scan_string(p, end, &p, &s->key);
        if (rc != CE_E_OK) {
            rc = json_err(err, rc, "member name");
            goto fail;
        }
        if (!buf_cstr(&s->key)) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            goto fail;
        }
        const char *key = s->key.data;
        size_t klen = s->key.len;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') {
            rc = json_err(err, CE_E_JSON, "expected ':' after a member name");
            goto fail;
        }
        p = skip_ws(p + 1, end);
        if (p >= end) {
            rc = json_err(err, CE_E_JSON, "unexpected end of input");
            goto fail;
        }
        bool is_data = klen == 4 && memcmp(key, "data", 4) == 0;
        bool is_b64 = klen == 11 && memcmp(key, "data_base64", 11) == 0;
        if (is_data || is_b64) {
            const char *vs, *ve = ce__json_value_span(p, end, &vs, JSON_MAX_DEPTH);
            if (!ve) {
                rc = json_err(err, CE_E_JSON, is_data ? "member 'data'" : "member 'data_base64'");
                goto fail;
            }
            if ((is_data && data_start) || (is_b64 && b64_start)) {
                rc = ce_error_set(err, CE_E_DUPLICATE, "member '%s' given more than once", key);
                goto fail;
            }
            if (is_data) {
                data_start = vs, data_end = ve, data_is_string = *vs == '"';
            } else if (*vs != 'n') { /* "data_base64": null is absent */
                if (*vs != '"') {
                    rc = ce_error_set(err, CE_E_TYPE, "member 'data_base64': must be a string");
                    goto fail;
                }
                b64_start = vs, b64_end = ve;
            }
            p = ve;
        } else {
            if (!ce_attr_name_valid(key, klen)) {
                rc = ce_error_set(err, CE_E_NAME,
                                  "attribute '%.*s': invalid name (only a-z and 0-9)",
                                  (int)(klen > 64 ? 64 : klen), key);
                goto fail;
            }
            if (ce_event_get(ev, key, klen) || nulls_has(&s->nulls, key, klen)) {
                rc = ce_error_set(err, CE_E_DUPLICATE, "attribute '%s': given more than once", key);
                goto fail;
            }
            ce_type_t ctype = ce_attr_core_type(key, klen);
            bool core = ce__is_core(key, klen);
            char c = *p;
            if (c == '"') {
                s->val.len = 0;
                rc = scan_string(p, end, &p, &s->val);
                if (rc != CE_E_OK) {
                    rc = json_err(err, rc, "string value");
                    if (rc == CE_E_UTF8)
                        ce_error_set(err, rc, "attribute '%s': invalid UTF-8", key);
                    goto fail;
                }
                rc = ce_event_set_typed(ev, key, ctype, s->val.len ? s->val.data : "", s->val.len,
                                        err);
                if (rc != CE_E_OK)
                    goto fail;
                if (klen == 11 && !memcmp(key, "specversion", 11)) {
                    size_t n = s->val.len < sv_cap - 1 ? s->val.len : sv_cap - 1;
                    memcpy(sv, s->val.data ? s->val.data : "", n);
                    sv[n] = '\0';
                }
            } else if (c == 'n') {
                const char *q = scan_literal(p, end, "null");
                if (!q) {
                    rc = json_err(err, CE_E_JSON, "bad literal");
                    goto fail;
                }
                p = q;
                if (++s->null_count > CE_MAX_EXTENSIONS) {
                    rc = ce_error_set(err, CE_E_TOO_LARGE, "more than %d null attributes",
                                      CE_MAX_EXTENSIONS);
                    goto fail;
                }
                if (ce_buf_append(&s->nulls, key, klen + 1) != CE_E_OK) {
                    rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
                    goto fail;
                }
            } else if (c == 't' || c == 'f') {
                const char *q = scan_literal(p, end, c == 't' ? "true" : "false");
                if (!q) {
                    rc = json_err(err, CE_E_JSON, "bad literal");
                    goto fail;
                }
                if (core) {
                    rc = ce_error_set(err, CE_E_TYPE, "attribute '%s': must be a JSON string", key);
                    goto fail;
                }
                p = q;
                rc = ce_event_set_bool(ev, key, c == 't', err);
                if (rc != CE_E_OK)
                    goto fail;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                const char *q = scan_number(p, end);
                if (!q) {
                    rc = json_err(err, CE_E_JSON, "bad number");
                    goto fail;
                }
                if (core) {
                    rc = ce_error_set(err, CE_E_TYPE, "attribute '%s': must be a JSON string", key);
                    goto fail;
                }
                rc = ce_event_set_typed(ev, key, CE_TYPE_INTEGER, p, (size_t)(q - p), err);
                if (rc != CE_E_OK) {
                    if (rc == CE_E_TYPE)
                        ce_error_set(err, rc,
                                     "attribute '%s': %.*s is not an Integer (int32, no fraction "
                                     "or exponent)",
                                     key, (int)((q - p) > 32 ? 32 : (q - p)), p);
                    goto fail;
                }
                p = q;
            } else if (c == '{' || c == '[') {
                const char *vs;
                if (!ce__json_value_span(p, end, &vs, JSON_MAX_DEPTH)) {
                    rc = json_err(err, CE_E_JSON, "bad value");
                    goto fail;
                }
                rc = ce_error_set(err, CE_E_TYPE,
                                  "attribute '%s': objects and arrays are not attribute values",
                                  key);
                goto fail;
            } else {
                rc = json_err(err, CE_E_JSON, "unexpected character");
                goto fail;
            }
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            p++;
            break;
        }
        rc = json_err(err, CE_E_JSON, "expected ',' or '}'");
        goto fail;
    }
members_done:
    if (data_start && b64_start) {
        rc = ce_error_set(err, CE_E_INVALID,
                          "members 'data' and 'data_base64' must not both "
                          "be present");
        goto fail;
    }
    const ce_value_t *ct = ce_event_get(ev, "datacontenttype", 15);
    const ce_value_t *enc = ce_event_get(ev, "datacontentencoding", 19);
    bool v03_b64 = strcmp(sv, "0.3") == 0 && enc && enc->len == 6 && !memcmp(enc->str, "base64", 6);
    if (b64_start || (v03_b64 && data_start && data_is_string)) {
        const char *bs = b64_start ? b64_start : data_start;
        const char *be = b64_start ? b64_end : data_end;
        const char *dummy;
        s->val.len = 0;
        s->bytes.len = 0;
        rc = scan_string(bs, be, &dummy, &s->val);
        if (rc == CE_E_OK)
            rc = ce_base64_decode(s->val.data ? s->val.data : "", s->val.len, &s->bytes);
        if (rc != CE_E_OK) {
            rc = rc == CE_E_NOMEM
                     ? ce_error_set(err, rc, "out of memory")
                     : ce_error_set(err, CE_E_TYPE, "member 'data_base64': not valid base64");
            goto fail;
        }
        rc = ce_event_set_data(ev, s->bytes.data ? s->bytes.data : "", s->bytes.len, false);
    } else if (data_start) {
        if (!ct || ce_media_type_is_json(ct->str, ct->len) || !data_is_string) {
            /* the JSON value itself, as text; a JSON string stays a (quoted) JSON string */
            rc = ce_event_set_data(ev, data_start, (size_t)(data_end - data_start), true);
        } else {
            const char *dummy;
            s->val.len = 0;
            rc = scan_string(data_start, data_end, &dummy, &s->val);
            if (rc == CE_E_OK)
                rc = ce_event_set_data(ev, s->val.data ? s->val.data : "", s->val.len, false);
            if (rc == CE_E_UTF8) {
                rc = ce_error_set(err, rc, "member 'data': invalid UTF-8 in string");
                goto fail;
            }
        }
    } else {
        rc = CE_E_OK;
    }
    if (rc != CE_E_OK) {
        rc = ce_error_set(err, rc, "out of memory");
        goto fail;
    }
    if ((rc = ce__map_v03(ev, err)) != CE_E_OK)
        goto fail;
    if ((rc = ce_event_validate(ev, err)) != CE_E_OK)
        goto fail;
    *after = p;
    *out = ev;
    return CE_E_OK;
fail:
    ce_event_free(ev);
    return rc;
}

ce_err_t ce_json_decode(const char *json, size_t len, ce_event_t **out, ce_error_t *err)
{
    if (!out || (!json && len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    if (!json)
        json = "";
    scratch_t s = {0};
    char sv[16];
    const char *after;
    ce_event_t *ev = NULL;
    ce_err_t rc = decode_object(json, json + len, &after, &ev, sv, sizeof sv, &s, err);
    scratch_free(&s);
    if (rc != CE_E_OK)
        return rc;
    if (skip_ws(after, json + len) != json + len) {
        ce_event_free(ev);
        return ce_error_set(err, CE_E_JSON, "malformed JSON: trailing characters after the event");
    }
    *out = ev;
    return CE_E_OK;
}

ce_err_t ce_json_decode_batch(const char *json, size_t len, ce_event_t ***out, size_t *count,
                              ce_error_t *err)
{
    if (!out || !count || (!json && len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    if (!json)
        json = "";
    const char *p = json, *end = json + len;
    scratch_t s = {0};
    ce_event_t **evs = NULL;
    size_t n = 0, cap = 0;
    char sv0[16] = "", sv[16];
    ce_err_t rc;
    p = skip_ws(p, end);
    if (p >= end || *p != '[') {
        rc = ce_error_set(err, CE_E_JSON, "malformed JSON: a batch must be a JSON array");
        goto fail;
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                ce_event_t **ne = ce__realloc(evs, ncap * sizeof *ne);
                if (!ne) {
                    rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
                    goto fail;
                }
                evs = ne;
                cap = ncap;
            }
            ce_event_t *ev;
            rc = decode_object(p, end, &p, &ev, sv, sizeof sv, &s, err);
            if (rc != CE_E_OK) {
                if (err) {
                    char tmp[sizeof err->message];
                    memcpy(tmp, err->message, sizeof tmp);
                    ce_error_set(err, rc, "batch event %zu: %s", n, tmp);
                }
                goto fail;
            }
            evs[n++] = ev;
            if (n == 1) {
                memcpy(sv0, sv, sizeof sv0);
            } else if (strcmp(sv0, sv) != 0) {
                rc = ce_error_set(err, CE_E_SPECVERSION,
                                  "batch event %zu: attribute 'specversion': '%s' differs from "
                                  "'%s' (a batch must share one specversion)",
                                  n - 1, sv, sv0);
                goto fail;
            }
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            rc = ce_error_set(err, CE_E_JSON, "malformed JSON: expected ',' or ']' in batch");
            goto fail;
        }
    }
    if (skip_ws(p, end) != end) {
        rc = ce_error_set(err, CE_E_JSON, "malformed JSON: trailing characters after the batch");
        goto fail;
    }
    if (!evs) {
        evs = ce__malloc(sizeof *evs);
        if (!evs) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            goto fail;
        }
    }
    scratch_free(&s);
    *out = evs;
    *count = n;
    return CE_E_OK;
fail:
    scratch_free(&s);
    ce_events_free(evs, n);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                 */

/* Trims JSON whitespace around a JSON text. */
static void trim_json(const char **s, size_t *n)
{
    const char *p = *s, *e = *s + *n;
    p = skip_ws(p, e);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    *s = p;
    *n = (size_t)(e - p);
}

static ce_err_t encode_data(const ce_event_t *ev, ce_buf_t *out)
{
    const void *d;
    size_t n;
    if (!ce_event_data(ev, &d, &n))
        return CE_E_OK;
    const char *s = d;
    const ce_value_t *ct = ce_event_get(ev, "datacontenttype", 15);
    bool json_ct = !ct || ce_media_type_is_json(ct->str, ct->len);
    ce_err_t rc;
    if ((ce_event_data_is_json(ev) || (ct && json_ct)) && ce__json_valid(s, n)) {
        /* a JSON value: embed it as is (the data member's own text, or a JSON body) */
        trim_json(&s, &n);
        if ((rc = buf_puts(out, ",\"data\":")) != CE_E_OK)
            return rc;
        return ce_buf_append(out, s, n);
    }
    if (ct && !json_ct && ce__is_text_media(ct->str, ct->len) && ce_utf8_valid(s, n)) {
        if ((rc = buf_puts(out, ",\"data\":")) != CE_E_OK)
            return rc;
        return ce__json_append_string(out, s, n);
    }
    if ((rc = buf_puts(out, ",\"data_base64\":\"")) != CE_E_OK ||
        (rc = ce_base64_encode(s, n, out)) != CE_E_OK)
        return rc;
    return ce_buf_append(out, "\"", 1);
}

static ce_err_t encode_one(const ce_event_t *ev, ce_buf_t *out)
{
    ce_err_t rc = ce_buf_append(out, "{", 1);
    for (size_t i = 0, n = ce_event_attr_count(ev); i < n && rc == CE_E_OK; i++) {
        const char *name;
        const ce_value_t *v;
        ce_event_attr_at(ev, i, &name, &v);
        if (i && (rc = ce_buf_append(out, ",", 1)) != CE_E_OK)
            break;
        if ((rc = ce__json_append_string(out, name, strlen(name))) != CE_E_OK ||
            (rc = ce_buf_append(out, ":", 1)) != CE_E_OK)
            break;
        if (v->type == CE_TYPE_INTEGER || v->type == CE_TYPE_BOOLEAN)
            rc = ce_buf_append(out, v->str, v->len);
        else
            rc = ce__json_append_string(out, v->str, v->len);
    }
    if (rc == CE_E_OK)
        rc = encode_data(ev, out);
    if (rc == CE_E_OK)
        rc = ce_buf_append(out, "}", 1);
    return rc;
}

ce_err_t ce_json_encode(const ce_event_t *ev, ce_buf_t *out)
{
    if (!ev || !out)
        return CE_E_ARG;
    size_t mark = out->len;
    ce_err_t rc = encode_one(ev, out);
    if (rc != CE_E_OK && out->data) {
        out->len = mark; /* leave the buffer as it was */
        out->data[mark] = '\0';
    }
    return rc;
}

ce_err_t ce_json_encode_batch(const ce_event_t *const *evs, size_t n, ce_buf_t *out)
{
    if (!out || (!evs && n))
        return CE_E_ARG;
    size_t mark = out->len;
    ce_err_t rc = ce_buf_append(out, "[", 1);
    for (size_t i = 0; i < n && rc == CE_E_OK; i++) {
        if (i)
            rc = ce_buf_append(out, ",", 1);
        if (rc == CE_E_OK)
            rc = encode_one(evs[i], out);
    }
    if (rc == CE_E_OK)
        rc = ce_buf_append(out, "]", 1);
    if (rc != CE_E_OK && out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return rc;
}
