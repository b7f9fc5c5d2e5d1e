/* manifest_ids.c — the identity of each object of a manifest file, with libyaml's document
 * loader (manifest_ids.h). JSON is YAML's flow style, so one loader reads both; aliases are
 * node references in a loaded document, never expanded. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "manifest_ids.h"
#include "util_io.h"

/* The value node of `key` in mapping node `m`, or NULL. */
static yaml_node_t *member(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
            !memcmp(k->data.scalar.value, key, k->data.scalar.length))
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* A copy of a scalar node's text, or NULL. */
static char *scalar(yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return strndup((const char *)n->data.scalar.value, n->data.scalar.length);
}

static int add(yaml_document_t *d, yaml_node_t *obj, cli_manifest_ids_t *out, char *err,
               size_t errsz)
{
    if (!obj || obj->type != YAML_MAPPING_NODE) {
        cli_set_error(err, errsz, "object %zu: not a mapping (apiVersion, kind, metadata, ...)",
                      out->n + 1);
        return -1;
    }
    if (out->n == CLI_MANIFEST_MAX_OBJECTS) {
        cli_set_error(err, errsz, "more than %d objects in one file", CLI_MANIFEST_MAX_OBJECTS);
        return -1;
    }
    cli_manifest_id_t *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v) {
        cli_set_error(err, errsz, "out of memory");
        return -1;
    }
    out->v = v;
    yaml_node_t *md = member(d, obj, "metadata");
    v[out->n++] =
        (cli_manifest_id_t){scalar(member(d, obj, "apiVersion")), scalar(member(d, obj, "kind")),
                            scalar(member(d, md, "namespace")), scalar(member(d, md, "name"))};
    return 0;
}

/* One document: an object, a sequence of objects, or a List with items. */
static int add_document(yaml_document_t *d, cli_manifest_ids_t *out, char *err, size_t errsz)
{
    yaml_node_t *root = yaml_document_get_root_node(d);
    if (!root || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        return 0; /* an empty document (a trailing ---) */
    yaml_node_t *items = NULL;
    if (root->type == YAML_SEQUENCE_NODE) {
        items = root;
    } else {
        char *kind = scalar(member(d, root, "kind"));
        yaml_node_t *it = member(d, root, "items");
        if (kind && !strcmp(kind, "List") && it && it->type == YAML_SEQUENCE_NODE)
            items = it;
        free(kind);
    }
    if (!items)
        return add(d, root, out, err, errsz);
    for (yaml_node_item_t *i = items->data.sequence.items.start; i < items->data.sequence.items.top;
         i++)
        if (add(d, yaml_document_get_node(d, *i), out, err, errsz))
            return -1;
    return 0;
}

int cli_manifest_ids(const char *text, size_t len, cli_manifest_ids_t *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        cli_set_error(err, errsz, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    for (;;) {
        yaml_document_t d;
        if (!yaml_parser_load(&p, &d)) {
            cli_set_error(err, errsz, "not valid YAML or JSON: %s at line %zu",
                          p.problem ? p.problem : "error", p.problem_mark.line + 1);
            rc = -1;
            break;
        }
        /* a document without a root node marks the end of the stream */
        bool end = !yaml_document_get_root_node(&d);
        rc = end ? 0 : add_document(&d, out, err, errsz);
        yaml_document_delete(&d);
        if (rc || end)
            break;
    }
    yaml_parser_delete(&p);
    if (rc)
        cli_manifest_ids_free(out);
    return rc;
}

void cli_manifest_ids_free(cli_manifest_ids_t *ids)
{
    if (!ids)
        return;
    for (size_t i = 0; i < ids->n; i++) {
        free(ids->v[i].api_version);
        free(ids->v[i].kind);
        free(ids->v[i].ns);
        free(ids->v[i].name);
    }
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}
