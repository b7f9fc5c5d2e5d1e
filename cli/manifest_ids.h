/*
 * manifest_ids.h — what `herald delete -f` needs of a manifest file: the apiVersion, kind,
 * namespace and name of each object, read client-side from YAML (several documents separated
 * by ---) or JSON (an object, an array, or a List), as `herald apply -f` accepts them.
 * Not thread-safe; the CLI is single-threaded.
 */
#ifndef HERALD_CLI_MANIFEST_IDS_H
#define HERALD_CLI_MANIFEST_IDS_H

#include <stddef.h>

/* Most objects read from one file (more is an error). */
#define CLI_MANIFEST_MAX_OBJECTS 1000

/* One object; every string is owned by the list (NULL when the manifest does not give it). */
typedef struct {
    char *api_version, *kind, *ns, *name;
} cli_manifest_id_t;

typedef struct {
    cli_manifest_id_t *v;
    size_t n;
} cli_manifest_ids_t;

/*
 * Reads the objects of `text` (`len` bytes). Returns 0 with *out filled (free with
 * cli_manifest_ids_free), or -1 with the reason in err (errsz bytes): not YAML or JSON (with
 * the line), a document that is not an object, more than CLI_MANIFEST_MAX_OBJECTS objects.
 */
int cli_manifest_ids(const char *text, size_t len, cli_manifest_ids_t *out, char *err,
                     size_t errsz);
/* Frees what cli_manifest_ids filled. Accepts NULL. */
void cli_manifest_ids_free(cli_manifest_ids_t *ids);

#endif /* HERALD_CLI_MANIFEST_IDS_H */
