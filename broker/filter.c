/*
 * filter.c — compiled trigger filters (hd_filter.h): Knative's `filter.attributes` and the
 * Subscriptions API dialects of `filters`, compiled once into a small tree. Matching compares the
 * canonical strings of ce_event_get and allocates nothing except inside CESQL string functions.
 */
#include <stdio.h>
#include <string.h>

#include "hd_filter.h"
#include "herald/ce_sql.h"

typedef enum {
    F_EXACT,
    F_PREFIX,
    F_SUFFIX,
    F_PRESENT, /* filter.attributes with "": present and non-empty */
    F_ALL,
    F_ANY,
    F_NOT,
    F_SQL,
} fkind_t;

struct hd_filter {
    fkind_t kind;
    char *attr;
    size_t attr_len;
    char *value;
    size_t value_len;
    hd_filter_t **kids;
    size_t nkids;
    ce_sql_expr_t *sql;
};

#define FILTER_MAX_DEPTH 32

void hd_filter_free(hd_filter_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nkids; i++)
        hd_filter_free(f->kids[i]);
    hd_free(f->kids);
    hd_free(f->attr);
    hd_free(f->value);
    ce_sql_free(f->sql);
    hd_free(f);
}

static hd_filter_t *node_new(fkind_t kind)
{
    hd_filter_t *f = hd_calloc(1, sizeof *f);
    if (f)
        f->kind = kind;
    return f;
}

static hd_err_t node_add(hd_filter_t *parent, hd_filter_t *kid)
{
    hd_filter_t **k = hd_realloc(parent->kids, (parent->nkids + 1) * sizeof *k);
    if (!k)
        return HD_E_NOMEM;
    parent->kids = k;
    parent->kids[parent->nkids++] = kid;
    return HD_E_OK;
}

/* Attribute names as Knative's webhook takes them: lower-case letters and digits. */
static bool attr_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* A filter value must be a string, as Knative's API types it (map[string]string): a YAML 1 or
 * true is refused on a cluster, so here too. buf gets the quoted form a user should write. */
static bool scalar_text(const cJSON *v, char *buf, size_t cap, const char **out)
{
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return true;
    }
    if (cJSON_IsBool(v))
        snprintf(buf, cap, "\"%s\"", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble)
        snprintf(buf, cap, "\"%lld\"", (long long)v->valuedouble);
    else
        buf[0] = '\0';
    return false;
}

/* A map of attribute -> value for exact/prefix/suffix (or filter.attributes when legacy). */
static hd_err_t compile_map(const cJSON *map, fkind_t kind, bool legacy, bool lenient,
                            const char *path, hd_filter_t **out, char *err, size_t cap)
{
    if (!cJSON_IsObject(map)) {
        snprintf(err, cap, "%s: must be a map of attribute name to value", path);
        return HD_E_INVAL;
    }
    hd_filter_t *all = NULL;
    hd_filter_t *single = NULL;
    size_t n = 0;
    for (const cJSON *it = map->child; it; it = it->next)
        n++;
    if (n == 0) {
        if (legacy) {
            *out = NULL;
            return HD_E_OK;
        }
        snprintf(err, cap, "%s: needs at least one attribute", path);
        return HD_E_INVAL;
    }
    if (n > 1 && !(all = node_new(F_ALL)))
        return HD_E_NOMEM;
    for (const cJSON *it = map->child; it; it = it->next) {
        char num[32];
        const char *val = NULL;
        if (!attr_name_ok(it->string)) {
            if (!*it->string)
                snprintf(err, cap, "%s: attribute name is empty", path);
            else
                snprintf(err, cap,
                         "%s: attribute name '%s' is invalid (lower-case letters and digits only)",
                         path, it->string);
            goto fail;
        }
        if (!scalar_text(it, num, sizeof num, &val) && !(lenient && num[0])) {
            snprintf(err, cap, "%s.%s: value must be a string%s%s%s", path, it->string,
                     num[0] ? " (quote it: " : "", num, num[0] ? ")" : "");
            goto fail;
        }
        if (!cJSON_IsString(it)) { /* lenient: the canonical text of 42 or true */
            memmove(num, num + 1, strlen(num));
            num[strlen(num) - 1] = '\0';
            val = num;
        }
        fkind_t k = kind;
        if (!*val) {
            if (!legacy) {
                snprintf(err, cap, "%s.%s: value is empty", path, it->string);
                goto fail;
            }
            k = F_PRESENT; /* Knative: "" means any value, but the attribute must be there */
        }
        hd_filter_t *leaf = node_new(k);
        if (!leaf)
            goto nomem;
        leaf->attr_len = strlen(it->string);
        leaf->value_len = strlen(val);
        leaf->attr = hd_strdup(it->string);
        leaf->value = hd_strdup(val);
        if (!leaf->attr || !leaf->value) {
            hd_filter_free(leaf);
            goto nomem;
        }
        if (all) {
            if (node_add(all, leaf)) {
                hd_filter_free(leaf);
                goto nomem;
            }
        } else {
            single = leaf;
        }
    }
    *out = all ? all : single;
    return HD_E_OK;
nomem:
    hd_filter_free(all);
    snprintf(err, cap, "out of memory");
    return HD_E_NOMEM;
fail:
    hd_filter_free(all);
    return HD_E_INVAL;
}

static hd_err_t compile_one(const cJSON *obj, const char *path, int depth, bool lenient,
                            hd_filter_t **out, char *err, size_t cap);

static hd_err_t compile_list(const cJSON *arr, fkind_t kind, const char *path, int depth,
                             bool lenient, hd_filter_t **out, char *err, size_t cap)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        snprintf(err, cap, "%s: must be a non-empty list of filters", path);
        return HD_E_INVAL;
    }
    hd_filter_t *node = node_new(kind);
    if (!node)
        return HD_E_NOMEM;
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s[%d]", path, i);
        hd_filter_t *kid = NULL;
        hd_err_t rc = compile_one(it, sub, depth + 1, lenient, &kid, err, cap);
        if (rc) {
            hd_filter_free(node);
            return rc;
        }
        if (node_add(node, kid)) {
            hd_filter_free(kid);
            hd_filter_free(node);
            return HD_E_NOMEM;
        }
    }
    *out = node;
    return HD_E_OK;
}

/* A bare core attribute (`type`, `(source)`): always a String, never a condition. */
static const char *bare_core_attribute(const char *src, char *buf, size_t cap)
{
    static const char *const core[] = {"specversion", "id",   "source",          "type",
                                       "subject",     "time", "datacontenttype", "dataschema"};
    const char *a = src, *b = src + strlen(src);
    for (;;) {
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r'))
            b--;
        if (b - a >= 2 && *a == '(' && b[-1] == ')') {
            a++;
            b--;
            continue;
        }
        break;
    }
    size_t n = (size_t)(b - a);
    if (n == 0 || n >= cap)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return NULL;
        buf[i] = c;
    }
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof core / sizeof core[0]; i++)
        if (!strcmp(buf, core[i]))
            return buf;
    return NULL;
}

bool hd_filter_sql_is_condition(const ce_sql_expr_t *expr, const char *src, char *why, size_t cap)
{
    static const char *const names[] = {"a Boolean", "an Integer", "a String"};
    ce_sql_type_t t = ce_sql_expr_type(expr);
    char attr[32];
    if (t != CE_SQL_BOOLEAN) {
        snprintf(why, cap,
                 "the expression is %s, not a Boolean, so as a filter it never matches; "
                 "compare it (e.g. INT(x) + 1 = 2, or type = 'com.example')",
                 names[t > CE_SQL_STRING ? CE_SQL_STRING : t]);
        return false;
    }
    if (bare_core_attribute(src, attr, sizeof attr)) {
        snprintf(why, cap,
                 "the expression is the attribute '%s' alone, a String, not a Boolean, so as a "
                 "filter it never matches; compare it (e.g. %s = 'value', or EXISTS %s)",
                 attr, attr, attr);
        return false;
    }
    return true;
}

static hd_err_t compile_sql(const cJSON *v, const char *path, bool lenient, hd_filter_t **out,
                            char *err, size_t cap)
{
    if (!cJSON_IsString(v) || !*v->valuestring) {
        snprintf(err, cap, "%s: must be a non-empty CESQL expression string", path);
        return HD_E_INVAL;
    }
    hd_filter_t *f = node_new(F_SQL);
    if (!f)
        return HD_E_NOMEM;
    ce_sql_parse_error_t perr;
    memset(&perr, 0, sizeof perr);
    size_t len = strlen(v->valuestring);
    ce_err_t rc = ce_sql_compile(v->valuestring, len, &f->sql, &perr);
    if (rc == CE_E_NOMEM) {
        hd_filter_free(f);
        snprintf(err, cap, "out of memory");
        return HD_E_NOMEM;
    }
    if (rc != CE_E_OK) {
        hd_filter_free(f);
        /* Show the expression with a caret so a user sees where it went wrong. */
        size_t pos = perr.position > len ? len : perr.position;
        snprintf(err, cap, "%s: invalid CESQL expression at position %zu: %s (in \"%.*s>>>%s\")%s",
                 path, pos, perr.message[0] ? perr.message : "syntax error", (int)pos,
                 v->valuestring, v->valuestring + pos,
                 strstr(v->valuestring, "==") ? "; CESQL compares with a single '=': use = "
                                                "instead of =="
                                              : "");
        return HD_E_INVAL;
    }
    char why[200];
    if (!lenient && !hd_filter_sql_is_condition(f->sql, v->valuestring, why, sizeof why)) {
        hd_filter_free(f);
        snprintf(err, cap, "%s: %s", path, why);
        return HD_E_INVAL;
    }
    *out = f;
    return HD_E_OK;
}

static hd_err_t compile_one(const cJSON *obj, const char *path, int depth, bool lenient,
                            hd_filter_t **out, char *err, size_t cap)
{
    if (depth > FILTER_MAX_DEPTH) {
        snprintf(err, cap, "%s: filters nested deeper than %d", path, FILTER_MAX_DEPTH);
        return HD_E_INVAL;
    }
    if (!cJSON_IsObject(obj)) {
        snprintf(err, cap,
                 "%s: a filter must be an object with one dialect "
                 "(exact, prefix, suffix, all, any, not, cesql)",
                 path);
        return HD_E_INVAL;
    }
    int n = cJSON_GetArraySize(obj);
    if (n != 1) {
        snprintf(err, cap, "%s: a filter must set exactly one dialect, found %d%s", path, n,
                 n > 1 ? " (put each dialect in its own list item)" : "");
        return HD_E_INVAL;
    }
    const cJSON *d = obj->child;
    char sub[256];
    snprintf(sub, sizeof sub, "%s.%s", path, d->string);
    if (!strcmp(d->string, "exact"))
        return compile_map(d, F_EXACT, false, lenient, sub, out, err, cap);
    if (!strcmp(d->string, "prefix"))
        return compile_map(d, F_PREFIX, false, lenient, sub, out, err, cap);
    if (!strcmp(d->string, "suffix"))
        return compile_map(d, F_SUFFIX, false, lenient, sub, out, err, cap);
    if (!strcmp(d->string, "all"))
        return compile_list(d, F_ALL, sub, depth, lenient, out, err, cap);
    if (!strcmp(d->string, "any"))
        return compile_list(d, F_ANY, sub, depth, lenient, out, err, cap);
    if (!strcmp(d->string, "not")) {
        if (cJSON_IsArray(d)) {
            snprintf(err, cap,
                     "%s: takes one filter, not a list (to negate several, wrap them: not: "
                     "{any: [...]} or not: {all: [...]})",
                     sub);
            return HD_E_INVAL;
        }
        hd_filter_t *kid = NULL;
        hd_err_t rc = compile_one(d, sub, depth + 1, lenient, &kid, err, cap);
        if (rc)
            return rc;
        hd_filter_t *f = node_new(F_NOT);
        if (!f || node_add(f, kid)) {
            hd_filter_free(f);
            hd_filter_free(kid);
            return HD_E_NOMEM;
        }
        *out = f;
        return HD_E_OK;
    }
    if (!strcmp(d->string, "cesql") || !strcmp(d->string, "sql"))
        return compile_sql(d, sub, lenient, out, err, cap);
    snprintf(err, cap,
             "%s: unknown filter dialect '%s' (expected exact, prefix, suffix, all, any, not or "
             "cesql)",
             path, d->string);
    return HD_E_INVAL;
}

hd_err_t hd_filter_compile(const cJSON *filter, const cJSON *filters, hd_filter_t **out, char *err,
                           size_t err_cap)
{
    return hd_filter_compile_opts(filter, filters, false, out, err, err_cap);
}

hd_err_t hd_filter_compile_opts(const cJSON *filter, const cJSON *filters, bool lenient,
                                hd_filter_t **out, char *err, size_t err_cap)
{
    char dummy[8];
    if (!err || !err_cap) {
        err = dummy;
        err_cap = sizeof dummy;
    }
    err[0] = '\0';
    *out = NULL;
    /* A non-empty `filters` wins over `filter` (Knative); an empty one leaves `filter`. */
    if (filters && !cJSON_IsNull(filters) &&
        (!cJSON_IsArray(filters) || cJSON_GetArraySize(filters) > 0)) {
        if (!cJSON_IsArray(filters)) {
            snprintf(err, err_cap, "filters: must be a list of filters");
            return HD_E_INVAL;
        }
        if (cJSON_GetArraySize(filters) == 1)
            return compile_one(filters->child, "filters[0]", 0, lenient, out, err, err_cap);
        return compile_list(filters, F_ALL, "filters", -1, lenient, out, err, err_cap);
    }
    if (filter && !cJSON_IsNull(filter)) {
        if (!cJSON_IsObject(filter)) {
            snprintf(err, err_cap, "filter: must be an object with 'attributes'");
            return HD_E_INVAL;
        }
        for (const cJSON *it = filter->child; it; it = it->next) {
            if (strcmp(it->string, "attributes")) {
                snprintf(err, err_cap,
                         "filter.%s: unknown field (only 'attributes'; use "
                         "'filters' for dialects)",
                         it->string);
                return HD_E_INVAL;
            }
        }
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(filter, "attributes");
        if (!attrs || cJSON_IsNull(attrs))
            return HD_E_OK;
        return compile_map(attrs, F_EXACT, true, lenient, "filter.attributes", out, err, err_cap);
    }
    return HD_E_OK;
}

bool hd_filter_match(const hd_filter_t *f, const ce_event_t *ev)
{
    if (!f)
        return true;
    switch (f->kind) {
    case F_EXACT: {
        const ce_value_t *v = ce_event_get(ev, f->attr, f->attr_len);
        return v && v->len == f->value_len && !memcmp(v->str, f->value, f->value_len);
    }
    case F_PREFIX: {
        const ce_value_t *v = ce_event_get(ev, f->attr, f->attr_len);
        return v && v->len >= f->value_len && !memcmp(v->str, f->value, f->value_len);
    }
    case F_SUFFIX: {
        const ce_value_t *v = ce_event_get(ev, f->attr, f->attr_len);
        return v && v->len >= f->value_len &&
               !memcmp(v->str + v->len - f->value_len, f->value, f->value_len);
    }
    case F_PRESENT: {
        const ce_value_t *v = ce_event_get(ev, f->attr, f->attr_len);
        return v && v->len > 0;
    }
    case F_ALL:
        for (size_t i = 0; i < f->nkids; i++)
            if (!hd_filter_match(f->kids[i], ev))
                return false;
        return true;
    case F_ANY:
        for (size_t i = 0; i < f->nkids; i++)
            if (hd_filter_match(f->kids[i], ev))
                return true;
        return false;
    case F_NOT:
        return !hd_filter_match(f->kids[0], ev);
    case F_SQL:
        return ce_sql_matches(f->sql, ev);
    }
    return false;
}

bool hd_filter_required_exact(const hd_filter_t *f, const char *attr, const char **value,
                              size_t *len)
{
    if (!f)
        return false;
    size_t alen = strlen(attr);
    if (f->kind == F_EXACT) {
        if (f->attr_len == alen && !memcmp(f->attr, attr, alen)) {
            *value = f->value;
            *len = f->value_len;
            return true;
        }
        return false;
    }
    if (f->kind == F_ALL) {
        /* Every child of an AND must pass, so an exact child anywhere in the AND-tree binds. */
        for (size_t i = 0; i < f->nkids; i++)
            if (hd_filter_required_exact(f->kids[i], attr, value, len))
                return true;
    }
    return false;
}
