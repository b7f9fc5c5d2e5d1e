/*
 * ce.c — the CloudEvents v1.0.2 event model: attributes, type checks, validation, the compact
 * storage encoding (pack/unpack), the error table and the allocator hook.
 */
#include "ce_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

static const char *const err_names[] = {
#define X(name, msg) #name,
    CE_ERR_MAP(X)
#undef X
};
static const char *const err_messages[] = {
#define X(name, msg) msg,
    CE_ERR_MAP(X)
#undef X
};

const char *ce_err_name(ce_err_t err)
{
    if ((unsigned)err >= CE_E__COUNT)
        return "UNKNOWN";
    return err_names[err];
}

const char *ce_err_message(ce_err_t err)
{
    if ((unsigned)err >= CE_E__COUNT)
        return "unknown error";
    return err_messages[err];
}

ce_err_t ce_error_set(ce_error_t *err, ce_err_t code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->message, sizeof err->message, fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->message, sizeof err->message, "%s", ce_err_message(code));
        }
    }
    return code;
}

/* ---------------------------------------------------------------------------------------- */
/* Allocator                                                                                */

static ce_allocator_t g_alloc = {malloc, realloc, free};

void *ce__malloc(size_t n)
{
    return g_alloc.malloc(n ? n : 1);
}
void *ce__realloc(void *p, size_t n)
{
    return g_alloc.realloc(p, n ? n : 1);
}
void ce__free(void *p)
{
    if (p)
        g_alloc.free(p);
}

char *ce__strndup(const char *s, size_t n)
{
    char *d = ce__malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void ce_set_allocator(const ce_allocator_t *a)
{
    if (a && a->malloc && a->realloc && a->free) {
        g_alloc = *a;
    } else {
        g_alloc.malloc = malloc;
        g_alloc.realloc = realloc;
        g_alloc.free = free;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Small string helpers shared by the codecs                                                */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void ce__media_type(const char *ct, size_t len, const char **mt, size_t *mt_len)
{
    size_t i = 0, e;
    while (i < len && is_ows(ct[i]))
        i++;
    e = i;
    while (e < len && ct[e] != ';')
        e++;
    while (e > i && is_ows(ct[e - 1]))
        e--;
    *mt = ct + i;
    *mt_len = e - i;
}

bool ce_media_type_is_json(const char *ct, size_t len)
{
    if (!ct)
        return false;
    const char *mt;
    size_t n;
    ce__media_type(ct, len, &mt, &n);
    const char *slash = memchr(mt, '/', n);
    if (!slash || slash == mt)
        return false;
    size_t sub_off = (size_t)(slash - mt) + 1;
    const char *sub = mt + sub_off;
    size_t sn = n - sub_off;
    if (ce__ieq(sub, sn, "json"))
        return true;
    return sn > 5 && ce__ieq(sub + sn - 5, 5, "+json");
}

bool ce__is_text_media(const char *ct, size_t len)
{
    const char *mt;
    size_t n;
    ce__media_type(ct, len, &mt, &n);
    if (ce__iprefix(mt, n, "text/"))
        return true;
    const char *slash = memchr(mt, '/', n);
    if (!slash)
        return false;
    size_t sub_off = (size_t)(slash - mt) + 1;
    const char *sub = mt + sub_off;
    size_t sn = n - sub_off;
    return ce__ieq(sub, sn, "xml") || (sn > 4 && ce__ieq(sub + sn - 4, 4, "+xml"));
}

/* ---------------------------------------------------------------------------------------- */
/* UTF-8 and type checks                                                                    */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return need;
}

bool ce_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_next(p + i, len - i, &cp);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* The String rule: UTF-8 and none of the forbidden code points. */
static ce_err_t check_string(const char *s, size_t len, const char **why)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k;
        if (p[i] >= 0x20 && p[i] < 0x7F) { /* printable ASCII: the common case */
            i++;
            continue;
        }
        if (p[i] < 0x80) {
            cp = p[i];
            k = 1;
        } else {
            k = utf8_next(p + i, len - i, &cp);
            if (!k) {
                *why = "invalid UTF-8";
                return CE_E_UTF8;
            }
        }
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            *why = "control characters (U+0000-U+001F, U+007F-U+009F) are not allowed in a String";
            return CE_E_TYPE;
        }
        if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
            *why = "Unicode noncharacters are not allowed in a String";
            return CE_E_TYPE;
        }
        i += k;
    }
    return CE_E_OK;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * URI-reference shape, deliberately close to Go's url.Parse (what sdk-go accepts): no ASCII
 * control characters or spaces, every '%' followed by two hex digits, and when a ':' comes
 * before any '/', '?' or '#', the part before it must be a valid scheme.
 */
static ce_err_t check_uri(const char *s, size_t len, bool absolute, const char **why)
{
    ce_err_t rc = check_string(s, len, why);
    if (rc != CE_E_OK)
        return rc;
    size_t colon = len;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ':') {
            colon = i;
            break;
        }
        if (c == '/' || c == '?' || c == '#')
            break;
    }
    if (colon < len) {
        bool ok = colon > 0 && is_alpha(s[0]);
        for (size_t i = 1; ok && i < colon; i++)
            ok = is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.';
        if (!ok) {
            *why = "not a URI: invalid scheme before ':'";
            return CE_E_TYPE;
        }
    } else if (absolute) {
        *why = "not an absolute URI (RFC 3986 §4.3): no scheme";
        return CE_E_TYPE;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ') {
            *why =
                absolute ? "not a URI: contains a space" : "not a URI-reference: contains a space";
            return CE_E_TYPE;
        }
        if (c == '%') {
            if (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
                *why = "'%' not followed by two hex digits in a URI";
                return CE_E_TYPE;
            }
        }
    }
    return CE_E_OK;
}

static int dig2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DD(T|t)hh:mm:ss[.frac](Z|z|+hh:mm|-hh:mm). */
static bool rfc3339_valid(const char *s, size_t n)
{
    if (n < 20)
        return false;
    if (!all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' ||
        !all_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !all_digits(s + 11, 2) ||
        s[13] != ':' || !all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2))
        return false;
    int year = dig2(s) * 100 + dig2(s + 2), mon = dig2(s + 5), day = dig2(s + 8);
    int hh = dig2(s + 11), mm = dig2(s + 14), ss = dig2(s + 17);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 1 || mon > 12 || day < 1)
        return false;
    int md = mdays[mon - 1];
    if (mon == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        md = 29;
    if (day > md || hh > 23 || mm > 59 || ss > 60)
        return false;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == f)
            return false;
    }
    if (i >= n)
        return false;
    if (s[i] == 'Z' || s[i] == 'z')
        return i + 1 == n;
    if (s[i] != '+' && s[i] != '-')
        return false;
    i++;
    if (n - i != 5 || !all_digits(s + i, 2) || s[i + 2] != ':' || !all_digits(s + i + 3, 2))
        return false;
    return dig2(s + i) <= 23 && dig2(s + i + 3) <= 59;
}

/* Canonical Integer string: -?(0|[1-9][0-9]*) within int32. */
static bool parse_int32(const char *s, size_t n, int32_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || n - i > 10 || !all_digits(s + i, n - i))
        return false;
    if (s[i] == '0' && n - i > 1)
        return false;
    int64_t v = 0;
    for (; i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (neg)
        v = -v;
    if (v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

static bool b64_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '+' || c == '/';
}

static bool base64_valid(const char *s, size_t n)
{
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            /* padding: only in the last two positions, and only at the end */
            if (i < n - 2)
                return false;
            if (i == n - 2 && s[n - 1] != '=')
                return false;
        } else if (!b64_char(s[i])) {
            return false;
        }
    }
    return true;
}

static ce_err_t check_value(ce_type_t type, const char *v, size_t len, const char **why)
{
    ce_err_t rc;
    int32_t i32;
    switch (type) {
    case CE_TYPE_STRING:
        return check_string(v, len, why);
    case CE_TYPE_URI:
        return check_uri(v, len, true, why);
    case CE_TYPE_URI_REF:
        return check_uri(v, len, false, why);
    case CE_TYPE_TIMESTAMP:
        if ((rc = check_string(v, len, why)) != CE_E_OK)
            return rc;
        if (!rfc3339_valid(v, len)) {
            *why = "not an RFC 3339 timestamp";
            return CE_E_TYPE;
        }
        return CE_E_OK;
    case CE_TYPE_INTEGER:
        if (!parse_int32(v, len, &i32)) {
            *why = "not an Integer (decimal int32, no fraction or exponent)";
            return CE_E_TYPE;
        }
        return CE_E_OK;
    case CE_TYPE_BOOLEAN:
        if (!((len == 4 && memcmp(v, "true", 4) == 0) ||
              (len == 5 && memcmp(v, "false", 5) == 0))) {
            *why = "not a Boolean (exactly 'true' or 'false', case-sensitive)";
            return CE_E_TYPE;
        }
        return CE_E_OK;
    case CE_TYPE_BINARY:
        if (!base64_valid(v, len)) {
            *why = "not Binary (RFC 4648 base64, standard alphabet, padded)";
            return CE_E_TYPE;
        }
        return CE_E_OK;
    }
    *why = "unknown type";
    return CE_E_ARG;
}

ce_err_t ce_value_check(ce_type_t type, const char *value, size_t len, ce_error_t *err)
{
    const char *why = NULL;
    ce_err_t rc = check_value(type, value, len, &why);
    if (rc != CE_E_OK)
        return ce_error_set(err, rc, "%s", why);
    return CE_E_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Attribute names                                                                          */

/* Longest attribute name accepted; the spec says SHOULD be <= 20, we bound memory instead. */
#define CE_NAME_MAX CE_MAX_NAME_LEN

enum {
    CORE_SPECVERSION,
    CORE_ID,
    CORE_SOURCE,
    CORE_TYPE,
    CORE_DATACONTENTTYPE,
    CORE_DATASCHEMA,
    CORE_SUBJECT,
    CORE_TIME,
    CORE__COUNT
};

static const struct {
    const char *name;
    size_t len;
    ce_type_t type;
} core_attrs[CORE__COUNT] = {
    {"specversion", 11, CE_TYPE_STRING},     {"id", 2, CE_TYPE_STRING},
    {"source", 6, CE_TYPE_URI_REF},          {"type", 4, CE_TYPE_STRING},
    {"datacontenttype", 15, CE_TYPE_STRING}, {"dataschema", 10, CE_TYPE_URI},
    {"subject", 7, CE_TYPE_STRING},          {"time", 4, CE_TYPE_TIMESTAMP},
};

/* Index of a core attribute, or -1. A switch on the length keeps this to one memcmp. */
static int core_index(const char *n, size_t len)
{
    int idx = -1;
    switch (len) {
    case 2:
        idx = CORE_ID;
        break;
    case 4:
        idx = n[1] == 'y' ? CORE_TYPE : CORE_TIME;
        break;
    case 6:
        idx = CORE_SOURCE;
        break;
    case 7:
        idx = CORE_SUBJECT;
        break;
    case 10:
        idx = CORE_DATASCHEMA;
        break;
    case 11:
        idx = CORE_SPECVERSION;
        break;
    case 15:
        idx = CORE_DATACONTENTTYPE;
        break;
    default:
        return -1;
    }
    return memcmp(n, core_attrs[idx].name, len) == 0 ? idx : -1;
}

/* 1 for the bytes allowed in attribute names: a-z and 0-9. */
static const unsigned char name_chars[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool ce_attr_name_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > CE_NAME_MAX)
        return false;
    unsigned ok = 1;
    for (size_t i = 0; i < len; i++)
        ok &= name_chars[(unsigned char)name[i]];
    return ok && !(len == 4 && memcmp(name, "data", 4) == 0);
}

bool ce__is_core(const char *name, size_t len)
{
    return core_index(name, len) >= 0;
}

ce_type_t ce_attr_core_type(const char *name, size_t len)
{
    int idx = core_index(name, len);
    return idx < 0 ? CE_TYPE_STRING : core_attrs[idx].type;
}

/* ---------------------------------------------------------------------------------------- */
/* The event                                                                                */

typedef struct {
    char *name; /* owned (extensions only; core names are static) */
    size_t name_len;
    ce_value_t v; /* v.str owned */
    bool present;
} attr_t;

struct ce_event {
    attr_t core[CORE__COUNT];
    attr_t *ext;
    size_t ext_count, ext_cap;
    uint8_t *data;
    size_t data_len;
    bool has_data;
    bool data_json;
};

ce_event_t *ce_event_new(void)
{
    ce_event_t *ev = ce__malloc(sizeof *ev);
    if (!ev)
        return NULL;
    memset(ev, 0, sizeof *ev);
    for (int i = 0; i < CORE__COUNT; i++) {
        ev->core[i].name = (char *)core_attrs[i].name;
        ev->core[i].name_len = core_attrs[i].len;
        ev->core[i].v.type = core_attrs[i].type;
    }
    return ev;
}

void ce_event_free(ce_event_t *ev)
{
    if (!ev)
        return;
    for (int i = 0; i < CORE__COUNT; i++)
        ce__free((void *)ev->core[i].v.str);
    for (size_t i = 0; i < ev->ext_count; i++) {
        ce__free(ev->ext[i].name);
        ce__free((void *)ev->ext[i].v.str);
    }
    ce__free(ev->ext);
    ce__free(ev->data);
    ce__free(ev);
}

ce_event_t *ce_event_clone(const ce_event_t *ev)
{
    if (!ev)
        return NULL;
    ce_event_t *c = ce_event_new();
    if (!c)
        return NULL;
    for (int i = 0; i < CORE__COUNT; i++) {
        if (!ev->core[i].present)
            continue;
        c->core[i].v = ev->core[i].v;
        c->core[i].v.str = ce__strndup(ev->core[i].v.str, ev->core[i].v.len);
        if (!c->core[i].v.str)
            goto fail;
        c->core[i].present = true;
    }
    if (ev->ext_count) {
        c->ext = ce__malloc(ev->ext_count * sizeof *c->ext);
        if (!c->ext)
            goto fail;
        c->ext_cap = ev->ext_count;
        for (size_t i = 0; i < ev->ext_count; i++) {
            attr_t *d = &c->ext[i];
            *d = ev->ext[i];
            d->name = ce__strndup(ev->ext[i].name, ev->ext[i].name_len);
            d->v.str = d->name ? ce__strndup(ev->ext[i].v.str, ev->ext[i].v.len) : NULL;
            if (!d->v.str) {
                ce__free(d->name);
                goto fail;
            }
            c->ext_count++;
        }
    }
    if (ev->has_data && ce_event_set_data(c, ev->data, ev->data_len, ev->data_json) != CE_E_OK)
        goto fail;
    return c;
fail:
    ce_event_free(c);
    return NULL;
}

static attr_t *find_attr(const ce_event_t *ev, const char *name, size_t len)
{
    int idx = core_index(name, len);
    if (idx >= 0)
        return ev->core[idx].present ? (attr_t *)&ev->core[idx] : NULL;
    for (size_t i = 0; i < ev->ext_count; i++) {
        attr_t *a = &ev->ext[i];
        if (a->name_len == len && memcmp(a->name, name, len) == 0)
            return a;
    }
    return NULL;
}

const ce_value_t *ce_event_get(const ce_event_t *ev, const char *name, size_t name_len)
{
    if (!ev || !name)
        return NULL;
    attr_t *a = find_attr(ev, name, name_len);
    return a ? &a->v : NULL;
}

const char *ce_event_get_str(const ce_event_t *ev, const char *name)
{
    const ce_value_t *v = name ? ce_event_get(ev, name, strlen(name)) : NULL;
    return v ? v->str : NULL;
}

/* Stores an already-checked value under `name`. */
static ce_err_t store(ce_event_t *ev, const char *name, size_t nlen, ce_type_t type,
                      const char *value, size_t len, int32_t i, bool b, ce_error_t *err)
{
    char *copy = ce__strndup(value, len);
    if (!copy)
        return ce_error_set(err, CE_E_NOMEM, "attribute '%.*s': out of memory", (int)nlen, name);
    int idx = core_index(name, nlen);
    attr_t *a = NULL;
    if (idx >= 0) {
        a = &ev->core[idx];
    } else {
        for (size_t k = 0; k < ev->ext_count; k++)
            if (ev->ext[k].name_len == nlen && memcmp(ev->ext[k].name, name, nlen) == 0) {
                a = &ev->ext[k];
                break;
            }
        if (!a) {
            if (ev->ext_count >= CE_MAX_EXTENSIONS) {
                ce__free(copy);
                return ce_error_set(err, CE_E_TOO_LARGE,
                                    "attribute '%.*s': more than %d extension attributes",
                                    (int)(nlen > 64 ? 64 : nlen), name, CE_MAX_EXTENSIONS);
            }
            if (ev->ext_count == ev->ext_cap) {
                size_t ncap = ev->ext_cap ? ev->ext_cap * 2 : 4;
                attr_t *n = ce__realloc(ev->ext, ncap * sizeof *n);
                if (!n) {
                    ce__free(copy);
                    return ce_error_set(err, CE_E_NOMEM, "attribute '%.*s': out of memory",
                                        (int)nlen, name);
                }
                ev->ext = n;
                ev->ext_cap = ncap;
            }
            char *ncopy = ce__strndup(name, nlen);
            if (!ncopy) {
                ce__free(copy);
                return ce_error_set(err, CE_E_NOMEM, "attribute '%.*s': out of memory", (int)nlen,
                                    name);
            }
            a = &ev->ext[ev->ext_count++];
            memset(a, 0, sizeof *a);
            a->name = ncopy;
            a->name_len = nlen;
        }
    }
    ce__free((void *)a->v.str);
    a->v.type = type;
    a->v.str = copy;
    a->v.len = len;
    a->v.i = i;
    a->v.b = b;
    a->present = true;
    return CE_E_OK;
}

/* ce_event_set_typed with a known name length; the name is checked here, once. */
static ce_err_t set_typed_n(ce_event_t *ev, const char *name, size_t nlen, ce_type_t type,
                            const char *value, size_t len, ce_error_t *err)
{
    if (!ce_attr_name_valid(name, nlen))
        return ce_error_set(err, CE_E_NAME,
                            "attribute '%.*s': invalid name (1-%d characters of a-z and 0-9, not "
                            "'data')",
                            (int)(nlen > 64 ? 64 : nlen), name, CE_NAME_MAX);
    int idx = core_index(name, nlen);
    if (idx >= 0 && core_attrs[idx].type != type)
        return ce_error_set(err, CE_E_TYPE, "attribute '%.*s': has a fixed type", (int)nlen, name);
    if (!value)
        value = "";
    const char *why = NULL;
    ce_err_t rc = check_value(type, value, len, &why);
    if (rc != CE_E_OK)
        return ce_error_set(err, rc, "attribute '%.*s': %s", (int)nlen, name, why);
    int32_t i = 0;
    bool b = false;
    if (type == CE_TYPE_INTEGER)
        parse_int32(value, len, &i);
    else if (type == CE_TYPE_BOOLEAN)
        b = value[0] == 't';
    return store(ev, name, nlen, type, value, len, i, b, err);
}

ce_err_t ce_event_set_typed(ce_event_t *ev, const char *name, ce_type_t type, const char *value,
                            size_t len, ce_error_t *err)
{
    if (!ev || !name || (!value && len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    return set_typed_n(ev, name, strlen(name), type, value, len, err);
}

ce_err_t ce_event_set(ce_event_t *ev, const char *name, const char *value, size_t len,
                      ce_error_t *err)
{
    if (!name)
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    return ce_event_set_typed(ev, name, ce_attr_core_type(name, strlen(name)), value, len, err);
}

ce_err_t ce_event_set_str(ce_event_t *ev, const char *name, const char *value, ce_error_t *err)
{
    if (!value)
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    return ce_event_set(ev, name, value, strlen(value), err);
}

ce_err_t ce_event_set_int(ce_event_t *ev, const char *name, int32_t value, ce_error_t *err)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%" PRId32, value);
    return ce_event_set_typed(ev, name, CE_TYPE_INTEGER, buf, (size_t)n, err);
}

ce_err_t ce_event_set_bool(ce_event_t *ev, const char *name, bool value, ce_error_t *err)
{
    return ce_event_set_typed(ev, name, CE_TYPE_BOOLEAN, value ? "true" : "false", value ? 4 : 5,
                              err);
}

bool ce_event_unset(ce_event_t *ev, const char *name)
{
    if (!ev || !name)
        return false;
    size_t nlen = strlen(name);
    int idx = core_index(name, nlen);
    if (idx >= 0) {
        attr_t *a = &ev->core[idx];
        if (!a->present)
            return false;
        ce__free((void *)a->v.str);
        a->v.str = NULL;
        a->v.len = 0;
        a->present = false;
        return true;
    }
    for (size_t k = 0; k < ev->ext_count; k++) {
        attr_t *a = &ev->ext[k];
        if (a->name_len == nlen && memcmp(a->name, name, nlen) == 0) {
            ce__free(a->name);
            ce__free((void *)a->v.str);
            memmove(a, a + 1, (ev->ext_count - k - 1) * sizeof *a);
            ev->ext_count--;
            return true;
        }
    }
    return false;
}

size_t ce_event_attr_count(const ce_event_t *ev)
{
    if (!ev)
        return 0;
    size_t n = ev->ext_count;
    for (int i = 0; i < CORE__COUNT; i++)
        n += ev->core[i].present;
    return n;
}

void ce_event_attr_at(const ce_event_t *ev, size_t i, const char **name, const ce_value_t **value)
{
    *name = NULL;
    *value = NULL;
    if (!ev)
        return;
    for (int k = 0; k < CORE__COUNT; k++) {
        if (!ev->core[k].present)
            continue;
        if (i == 0) {
            *name = ev->core[k].name;
            *value = &ev->core[k].v;
            return;
        }
        i--;
    }
    if (i < ev->ext_count) {
        *name = ev->ext[i].name;
        *value = &ev->ext[i].v;
    }
}

ce_err_t ce_event_set_data(ce_event_t *ev, const void *data, size_t len, bool is_json)
{
    if (!ev || (!data && len))
        return CE_E_ARG;
    uint8_t *copy = ce__malloc(len + 1);
    if (!copy)
        return CE_E_NOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = 0; /* convenience terminator, not counted */
    ce__free(ev->data);
    ev->data = copy;
    ev->data_len = len;
    ev->has_data = true;
    ev->data_json = is_json;
    return CE_E_OK;
}

void ce_event_clear_data(ce_event_t *ev)
{
    if (!ev)
        return;
    ce__free(ev->data);
    ev->data = NULL;
    ev->data_len = 0;
    ev->has_data = false;
    ev->data_json = false;
}

bool ce_event_data(const ce_event_t *ev, const void **data, size_t *len)
{
    if (!ev || !ev->has_data) {
        if (data)
            *data = NULL;
        if (len)
            *len = 0;
        return false;
    }
    if (data)
        *data = ev->data;
    if (len)
        *len = ev->data_len;
    return true;
}

bool ce_event_data_is_json(const ce_event_t *ev)
{
    return ev && ev->has_data && ev->data_json;
}

ce_err_t ce_event_validate(const ce_event_t *ev, ce_error_t *err)
{
    if (!ev)
        return ce_error_set(err, CE_E_ARG, "no event");
    static const int required[] = {CORE_SPECVERSION, CORE_ID, CORE_SOURCE, CORE_TYPE};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        const attr_t *a = &ev->core[required[k]];
        if (!a->present)
            return ce_error_set(err, CE_E_MISSING, "attribute '%s': required attribute missing",
                                a->name);
        if (a->v.len == 0)
            return ce_error_set(err, CE_E_MISSING, "attribute '%s': required attribute is empty",
                                a->name);
    }
    const attr_t *sv = &ev->core[CORE_SPECVERSION];
    if (!(sv->v.len == 3 && memcmp(sv->v.str, "1.0", 3) == 0))
        return ce_error_set(err, CE_E_SPECVERSION,
                            "attribute 'specversion': unsupported value '%.*s' (only '1.0')",
                            (int)(sv->v.len > 32 ? 32 : sv->v.len), sv->v.str);
    /* Non-empty rules of the optional attributes (URI dataschema is non-empty by its shape). */
    if (ev->core[CORE_SUBJECT].present && ev->core[CORE_SUBJECT].v.len == 0)
        return ce_error_set(err, CE_E_TYPE, "attribute 'subject': must not be empty");
    if (ev->core[CORE_DATACONTENTTYPE].present && ev->core[CORE_DATACONTENTTYPE].v.len == 0)
        return ce_error_set(err, CE_E_TYPE, "attribute 'datacontenttype': must not be empty");
    /*
     * Every value and name was checked by ce_event_set_typed, the only way into an event, so
     * there is nothing more to check here: validation stays O(1) on the ingress hot path.
     */
    return CE_E_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Legacy v0.3 mapping and helpers for decoders                                             */

ce_err_t ce__map_v03(ce_event_t *ev, ce_error_t *err)
{
    attr_t *sv = &ev->core[CORE_SPECVERSION];
    if (!(sv->present && sv->v.len == 3 && memcmp(sv->v.str, "0.3", 3) == 0))
        return CE_E_OK;
    ce_err_t rc = ce_event_set(ev, "specversion", "1.0", 3, err);
    if (rc != CE_E_OK)
        return rc;
    const ce_value_t *su = ce_event_get(ev, "schemaurl", 9);
    if (su) {
        if (ev->core[CORE_DATASCHEMA].present)
            return ce_error_set(err, CE_E_DUPLICATE,
                                "attribute 'dataschema': given as both schemaurl and dataschema");
        rc = ce_event_set(ev, "dataschema", su->str, su->len, err);
        if (rc != CE_E_OK)
            return rc;
        ce_event_unset(ev, "schemaurl");
    }
    ce_event_unset(ev, "datacontentencoding");
    return CE_E_OK;
}

ce_err_t ce__set_unique(ce_event_t *ev, const char *name, size_t name_len, const char *value,
                        size_t value_len, const char *what, ce_error_t *err)
{
    if (find_attr(ev, name, name_len))
        return ce_error_set(err, CE_E_DUPLICATE, "attribute '%.*s': %s given more than once",
                            (int)(name_len > 64 ? 64 : name_len), name, what);
    int idx = core_index(name, name_len);
    ce_type_t type = idx < 0 ? CE_TYPE_STRING : core_attrs[idx].type;
    return set_typed_n(ev, name, name_len, type, value, value_len, err);
}

void ce_events_free(ce_event_t **evs, size_t n)
{
    if (!evs)
        return;
    for (size_t i = 0; i < n; i++)
        ce_event_free(evs[i]);
    ce__free(evs);
}

/* ---------------------------------------------------------------------------------------- */
/* Compact storage encoding                                                                 */
/*
 * Layout (all integers big-endian):
 *   "CE" 0x01                       magic and version
 *   u16 attribute count
 *   per attribute: u8 name length, name, u8 type, u32 value length, value (canonical string)
 *   u8 data flags (bit 0: has data, bit 1: data is JSON text), u32 data length, data
 */
#define PACK_MAGIC0 'C'
#define PACK_MAGIC1 'E'
#define PACK_VERSION 1

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

ce_err_t ce_event_pack(const ce_event_t *ev, uint8_t **out, size_t *out_len)
{
    if (!ev || !out || !out_len)
        return CE_E_ARG;
    size_t n = ce_event_attr_count(ev);
    if (n > UINT16_MAX || ev->data_len > UINT32_MAX)
        return CE_E_TOO_LARGE;
    size_t total = 3 + 2 + 1 + 4 + ev->data_len;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const ce_value_t *v;
        ce_event_attr_at(ev, i, &name, &v);
        if (v->len > UINT32_MAX)
            return CE_E_TOO_LARGE;
        total += 1 + strlen(name) + 1 + 4 + v->len;
    }
    uint8_t *buf = ce__malloc(total);
    if (!buf)
        return CE_E_NOMEM;
    uint8_t *p = buf;
    *p++ = PACK_MAGIC0;
    *p++ = PACK_MAGIC1;
    *p++ = PACK_VERSION;
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const ce_value_t *v;
        ce_event_attr_at(ev, i, &name, &v);
        size_t nl = strlen(name);
        *p++ = (uint8_t)nl;
        memcpy(p, name, nl);
        p += nl;
        *p++ = (uint8_t)v->type;
        put_u32(p, (uint32_t)v->len);
        p += 4;
        if (v->len)
            memcpy(p, v->str, v->len);
        p += v->len;
    }
    *p++ = (uint8_t)((ev->has_data ? 1 : 0) | (ev->data_json ? 2 : 0));
    put_u32(p, (uint32_t)ev->data_len);
    p += 4;
    if (ev->data_len)
        memcpy(p, ev->data, ev->data_len);
    *out = buf;
    *out_len = total;
    return CE_E_OK;
}

ce_err_t ce_event_unpack(const uint8_t *buf, size_t len, ce_event_t **out, ce_error_t *err)
{
    if (!out || (!buf && len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    const uint8_t *p = buf, *end = buf + len;
    ce_event_t *ev = NULL;
    ce_err_t rc;
    if (len < 5 || p[0] != PACK_MAGIC0 || p[1] != PACK_MAGIC1 || p[2] != PACK_VERSION)
        return ce_error_set(err, CE_E_INVALID, "packed event: bad header");
    size_t n = (size_t)p[3] << 8 | p[4];
    p += 5;
    ev = ce_event_new();
    if (!ev)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (end - p < 1)
            goto truncated;
        size_t nl = *p++;
        if ((size_t)(end - p) < nl + 1 + 4)
            goto truncated;
        char name[256];
        memcpy(name, p, nl);
        name[nl] = '\0';
        p += nl;
        unsigned type = *p++;
        size_t vl = get_u32(p);
        p += 4;
        if ((size_t)(end - p) < vl)
            goto truncated;
        if (type > CE_TYPE_BINARY) {
            rc = ce_error_set(err, CE_E_INVALID, "packed event: bad type");
            goto fail;
        }
        if (find_attr(ev, name, nl)) {
            rc = ce_error_set(err, CE_E_INVALID, "packed event: attribute '%s' twice", name);
            goto fail;
        }
        rc = ce_event_set_typed(ev, name, (ce_type_t)type, (const char *)p, vl, err);
        if (rc != CE_E_OK) {
            if (rc != CE_E_NOMEM)
                rc = CE_E_INVALID;
            if (err)
                err->code = rc;
            goto fail;
        }
        p += vl;
    }
    if (end - p < 5)
        goto truncated;
    unsigned flags = *p++;
    size_t dl = get_u32(p);
    p += 4;
    if ((size_t)(end - p) != dl || flags > 3 || (!(flags & 1) && (dl || flags))) {
        rc = ce_error_set(err, CE_E_INVALID, "packed event: bad data section");
        goto fail;
    }
    if (flags & 1) {
        rc = ce_event_set_data(ev, p, dl, (flags & 2) != 0);
        if (rc != CE_E_OK) {
            rc = ce_error_set(err, rc, "out of memory");
            goto fail;
        }
    }
    *out = ev;
    return CE_E_OK;
truncated:
    rc = ce_error_set(err, CE_E_INVALID, "packed event: truncated");
fail:
    ce_event_free(ev);
    return rc;
}
