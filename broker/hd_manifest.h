/*
 * hd_manifest.h — manifest text (YAML or JSON, several documents) to a JSON array of resource
 * objects. Pure, no I/O; the registry that applies them is hd_resources.h.
 */
#ifndef HERALD_HD_MANIFEST_H
#define HERALD_HD_MANIFEST_H

#include <cjson/cJSON.h>

#include "hd.h"

/*
 * Parses manifest text: YAML (one or many `---` documents; quoted scalars are strings, plain
 * ints/floats/bools/null typed) or JSON (one object, an array, or a `List` with `items`). A
 * `List` document contributes its items; empty documents are skipped. On success *out is a JSON
 * array of objects (returns owned, free with cJSON_Delete). Errors: HD_E_PARSE with `err` naming
 * the document and line, HD_E_NOMEM. Bounded: depth 64, 200,000 nodes (aliases included).
 * Any thread.
 */
hd_err_t hd_manifest_parse(const char *text, size_t len, cJSON **out, char *err, size_t err_cap);

#endif /* HERALD_HD_MANIFEST_H */
