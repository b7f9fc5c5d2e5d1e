/*
 * manifest.c — manifest text (YAML or JSON, one or many documents) to a cJSON array of objects.
 *
 * YAML goes through libyaml's event parser into cJSON with the typing a Kubernetes user expects:
 * quoted and block scalars are strings; plain scalars are null (`~`, `null`, empty), Booleans
 * (`true`/`false` in any of the three YAML 1.2 core spellings), integers (decimal, 0x, 0o),
 * floats, or else strings. Anchors and aliases are supported with a node budget so an alias bomb
 * cannot blow up memory. JSON input (first non-space byte `{` or `[`) goes through cJSON: one
 * object, an array of objects, or a `List` with `items`. Pure: no I/O.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "hd_manifest.h"
#include "hd_resources.h"

#define MANIFEST_MAX_DEPTH 64
#define MANIFEST_MAX_NODES 200000
#define MANIFEST_MAX_ANCHORS 1024

typedef struct {
    char *name;
    cJSON *node; /* borrowed from the document being built */
} anchor_t;

typedef struct {
    yaml_parser_t parser;
    size_t nodes;
    anchor_t anchors[MANIFEST_MAX_ANCHORS];
    size_t anchor_count;
    char *err;
    size_t err_cap;
    int doc;
} ystate_t;

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static void anchors_clear(ystate_t *st)
{
    for (size_t i = 0; i < st->anchor_count; i++)
        free(st->anchors[i].name);
    st->anchor_count = 0;
}

static bool anchor_add(ystate_t *st, const yaml_char_t *name, cJSON *node)
{
    if (!name)
        return true;
    if (st->anchor_count == MANIFEST_MAX_ANCHORS) {
        seterr(st->err, st->err_cap, "document %d: more than %d anchors", st->doc,
               MANIFEST_MAX_ANCHORS);
        return false;
    }
    char *n = strdup((const char *)name);
    if (!n) {
        seterr(st->err, st->err_cap, "out of memory");
        return false;
    }
    st->anchors[st->anchor_count].name = n;
    st->anchors[st->anchor_count].node = node;
    st->anchor_count++;
    return true;
}

static size_t count_nodes(const cJSON *n)
{
    size_t c = 1;
    for (const cJSON *k = n->child; k; k = k->next)
        c += count_nodes(k);
    return c;
}

static bool match_any(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

/* Plain scalar typing (YAML 1.2 core schema, as Kubernetes' decoder does). */
static cJSON *plain_scalar(const char *s, size_t len)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (strlen(s) != len) /* embedded NUL: keep as is, as a string */
        return cJSON_CreateString(s);
    if (match_any(s, nulls))
        return cJSON_CreateNull();
    if (match_any(s, trues))
        return cJSON_CreateTrue();
    if (match_any(s, falses))
        return cJSON_CreateFalse();
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p) {
        char *end = NULL;
        errno = 0;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o') && p[2]) {
            long long v = strtoll(p + 2, &end, p[1] == 'x' ? 16 : 8);
            if (!*end && !errno)
                return cJSON_CreateNumber((double)(s[0] == '-' ? -v : v));
        } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
            /* Only the YAML number shapes: digits, optional fraction, optional exponent. */
            const char *q = p;
            while (isdigit((unsigned char)*q))
                q++;
            if (*q == '.') {
                q++;
                while (isdigit((unsigned char)*q))
                    q++;
            }
            if ((*q == 'e' || *q == 'E')) {
                q++;
                if (*q == '+' || *q == '-')
                    q++;
                if (!isdigit((unsigned char)*q))
                    return cJSON_CreateString(s);
                while (isdigit((unsigned char)*q))
                    q++;
            }
            if (!*q) {
                double d = strtod(s, &end);
                if (!*end)
                    return cJSON_CreateNumber(d);
            }
        }
    }
    return cJSON_CreateString(s);
}

static bool parse_event(ystate_t *st, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&st->parser, ev)) {
        seterr(st->err, st->err_cap, "document %d: line %zu column %zu: %s%s%s", st->doc,
               st->parser.problem_mark.line + 1, st->parser.problem_mark.column + 1,
               st->parser.problem ? st->parser.problem : "YAML syntax error",
               st->parser.context ? " " : "", st->parser.context ? st->parser.context : "");
        return false;
    }
    return true;
}

static cJSON *parse_node(ystate_t *st, yaml_event_t *ev, int depth);

/* Builds the node that starts with `ev` (consumed by the caller after return). */
static cJSON *parse_node(ystate_t *st, yaml_event_t *ev, int depth)
{
    if (depth > MANIFEST_MAX_DEPTH) {
        seterr(st->err, st->err_cap, "document %d: line %zu: nesting deeper than %d", st->doc,
               ev->start_mark.line + 1, MANIFEST_MAX_DEPTH);
        return NULL;
    }
    if (++st->nodes > MANIFEST_MAX_NODES) {
        seterr(st->err, st->err_cap, "document %d: more than %d nodes", st->doc,
               MANIFEST_MAX_NODES);
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        for (size_t i = st->anchor_count; i-- > 0;) {
            if (!strcmp(st->anchors[i].name, (const char *)ev->data.alias.anchor)) {
                size_t n = count_nodes(st->anchors[i].node);
                if (st->nodes + n > MANIFEST_MAX_NODES) {
                    seterr(st->err, st->err_cap, "document %d: aliases expand past %d nodes",
                           st->doc, MANIFEST_MAX_NODES);
                    return NULL;
                }
                st->nodes += n;
                cJSON *c = cJSON_Duplicate(st->anchors[i].node, 1);
                if (!c)
                    seterr(st->err, st->err_cap, "out of memory");
                return c;
            }
        }
        seterr(st->err, st->err_cap, "document %d: line %zu: unknown alias '*%s'", st->doc,
               ev->start_mark.line + 1, (const char *)ev->data.alias.anchor);
        return NULL;
    }
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        cJSON *n;
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.quoted_implicit)
            n = plain_scalar(v, ev->data.scalar.length);
        else
            n = cJSON_CreateString(v);
        if (ev->data.scalar.tag) {
            const char *tag = (const char *)ev->data.scalar.tag;
            if (!strcmp(tag, YAML_STR_TAG) && n && !cJSON_IsString(n)) {
                cJSON_Delete(n);
                n = cJSON_CreateString(v);
            }
        }
        if (!n) {
            seterr(st->err, st->err_cap, "out of memory");
            return NULL;
        }
        if (!anchor_add(st, ev->data.scalar.anchor, n)) {
            cJSON_Delete(n);
            return NULL;
        }
        return n;
    }
    case YAML_SEQUENCE_START_EVENT: {
        cJSON *arr = cJSON_CreateArray();
        if (!arr) {
            seterr(st->err, st->err_cap, "out of memory");
            return NULL;
        }
        const yaml_char_t *anchor = ev->data.sequence_start.anchor;
        for (;;) {
            yaml_event_t e;
            if (!parse_event(st, &e))
                goto fail_arr;
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                break;
            }
            cJSON *item = parse_node(st, &e, depth + 1);
            yaml_event_delete(&e);
            if (!item)
                goto fail_arr;
            cJSON_AddItemToArray(arr, item);
        }
        if (!anchor_add(st, anchor, arr))
            goto fail_arr;
        return arr;
    fail_arr:
        cJSON_Delete(arr);
        return NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        cJSON *obj = cJSON_CreateObject();
        if (!obj) {
            seterr(st->err, st->err_cap, "out of memory");
            return NULL;
        }
        const yaml_char_t *anchor = ev->data.mapping_start.anchor;
        for (;;) {
            yaml_event_t ke;
            if (!parse_event(st, &ke))
                goto fail_obj;
            if (ke.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&ke);
                break;
            }
            if (ke.type != YAML_SCALAR_EVENT) {
                seterr(st->err, st->err_cap,
                       "document %d: line %zu column %zu: mapping keys must be scalars", st->doc,
                       ke.start_mark.line + 1, ke.start_mark.column + 1);
                yaml_event_delete(&ke);
                goto fail_obj;
            }
            char *key = strdup((const char *)ke.data.scalar.value);
            size_t kline = ke.start_mark.line + 1;
            yaml_event_delete(&ke);
            if (!key) {
                seterr(st->err, st->err_cap, "out of memory");
                goto fail_obj;
            }
            yaml_event_t ve;
            if (!parse_event(st, &ve)) {
                free(key);
                goto fail_obj;
            }
            cJSON *val = parse_node(st, &ve, depth + 1);
            yaml_event_delete(&ve);
            if (!val) {
                free(key);
                goto fail_obj;
            }
            if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
                seterr(st->err, st->err_cap, "document %d: line %zu: duplicate key '%s'", st->doc,
                       kline, key);
                free(key);
                cJSON_Delete(val);
                goto fail_obj;
            }
            cJSON_AddItemToObject(obj, key, val);
            free(key);
        }
        if (!anchor_add(st, anchor, obj))
            goto fail_obj;
        return obj;
    fail_obj:
        cJSON_Delete(obj);
        return NULL;
    }
    default:
        seterr(st->err, st->err_cap, "document %d: line %zu: unexpected YAML event", st->doc,
               ev->start_mark.line + 1);
        return NULL;
    }
}

/* Adds a document to out: a `List` contributes its items; null (empty document) nothing. */
static bool add_document(cJSON *out, cJSON *doc, char *err, size_t cap, int index)
{
    if (cJSON_IsNull(doc)) {
        cJSON_Delete(doc);
        return true;
    }
    if (!cJSON_IsObject(doc)) {
        seterr(err, cap,
               "document %d: not an object (a manifest is a mapping with apiVersion, "
               "kind, metadata and spec)",
               index);
        cJSON_Delete(doc);
        return false;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "List")) {
        if (!cJSON_IsArray(items)) {
            seterr(err, cap, "document %d: a List needs an 'items' array", index);
            cJSON_Delete(doc);
            return false;
        }
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(items, 0))) {
            if (!cJSON_IsObject(it)) {
                seterr(err, cap, "document %d: List items must be objects", index);
                cJSON_Delete(it);
                cJSON_Delete(doc);
                return false;
            }
            cJSON_AddItemToArray(out, it);
        }
        cJSON_Delete(doc);
        return true;
    }
    cJSON_AddItemToArray(out, doc);
    return true;
}

static hd_err_t parse_json(const char *text, size_t len, cJSON **out, char *err, size_t cap)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        seterr(err, cap, "malformed JSON at byte %zu", off);
        return HD_E_PARSE;
    }
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        cJSON_Delete(root);
        return HD_E_NOMEM;
    }
    if (cJSON_IsArray(root)) {
        int i = 1;
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(root, 0))) {
            if (!add_document(arr, it, err, cap, i++)) {
                cJSON_Delete(root);
                cJSON_Delete(arr);
                return HD_E_PARSE;
            }
        }
        cJSON_Delete(root);
    } else if (!add_document(arr, root, err, cap, 1)) {
        cJSON_Delete(arr);
        return HD_E_PARSE;
    }
    *out = arr;
    return HD_E_OK;
}

hd_err_t hd_manifest_parse(const char *text, size_t len, cJSON **out, char *err, size_t err_cap)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i < len && (text[i] == '{' || text[i] == '['))
        return parse_json(text + i, len - i, out, err, err_cap);

    ystate_t *st = calloc(1, sizeof *st);
    cJSON *arr = cJSON_CreateArray();
    hd_err_t rc = HD_E_NOMEM;
    if (!st || !arr)
        goto fail;
    if (!yaml_parser_initialize(&st->parser))
        goto fail;
    yaml_parser_set_input_string(&st->parser, (const unsigned char *)text, len);
    st->err = err;
    st->err_cap = err_cap;
    rc = HD_E_PARSE;
    for (;;) {
        yaml_event_t ev;
        if (!parse_event(st, &ev))
            goto fail_parser;
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (type != YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue; /* stream start */
        }
        yaml_event_delete(&ev);
        st->doc++;
        yaml_event_t root;
        if (!parse_event(st, &root))
            goto fail_parser;
        cJSON *doc;
        if (root.type == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&root);
            anchors_clear(st);
            continue;
        }
        doc = parse_node(st, &root, 0);
        yaml_event_delete(&root);
        anchors_clear(st);
        if (!doc)
            goto fail_parser;
        yaml_event_t end;
        if (!parse_event(st, &end)) {
            cJSON_Delete(doc);
            goto fail_parser;
        }
        yaml_event_delete(&end);
        if (!add_document(arr, doc, err, err_cap, st->doc))
            goto fail_parser;
    }
    yaml_parser_delete(&st->parser);
    free(st);
    *out = arr;
    return HD_E_OK;

fail_parser:
    anchors_clear(st);
    yaml_parser_delete(&st->parser);
fail:
    free(st);
    cJSON_Delete(arr);
    if (rc == HD_E_NOMEM)
        seterr(err, err_cap, "out of memory");
    return rc;
}
