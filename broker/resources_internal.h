/*
 * resources_internal.h — what resources.c and resources_spec.c share: the kind table, spec
 * parsing (delivery, destinations, ISO 8601 durations, URLs). Pure functions, no I/O.
 */
#ifndef HERALD_RESOURCES_INTERNAL_H
#define HERALD_RESOURCES_INTERNAL_H

#include <cjson/cJSON.h>

#include "hd_resources.h"

/* A destination (Knative duck Destination): uri, or ref (+ optional relative uri). */
typedef struct {
    bool set;
    char *uri;                      /* owned or NULL */
    const hd_kind_info_t *ref_kind; /* NULL when no ref */
    char *ref_ns, *ref_name;        /* owned */
} hd_dest_t;

/* Frees what a destination owns and zeroes it. Accepts NULL. */
void hd_resources__dest_free(hd_dest_t *d);
/* Parses a Destination at `path` (for messages). ns is the default namespace of a ref. On
 * success *out owns its strings (free with hd_resources__dest_free); on error *out is zeroed
 * and err names the field. Errors: HD_E_INVAL, HD_E_NOMEM. Pure; any thread. */
hd_err_t hd_resources__dest_parse(const cJSON *j, const char *path, const char *ns, hd_dest_t *out,
                                  char *err, size_t cap);
/* True when `s` is an absolute http(s) URL with a host (and a numeric port if any). */
bool hd_resources__url_ok(const char *s);
/* Joins a base URL and a (relative) uri path; returns owned (hd_free) or NULL. */
char *hd_resources__url_join(const char *base, const char *rel);

/* Parses a DeliverySpec (absent or null: nothing set); the HD_DLV_* bits of out->set say which
 * fields were given. The dead-letter sink goes to *dls (owned by the caller on success;
 * out->dead_letter_uri stays NULL until resolved). Errors: HD_E_INVAL with err naming the
 * field, HD_E_NOMEM. Pure; any thread. */
hd_err_t hd_resources__delivery_parse(const cJSON *j, const char *path, const char *ns,
                                      hd_delivery_t *out, hd_dest_t *dls, char *err, size_t cap);

/* DNS-1123 label (namespace) and subdomain (name) checks, Kubernetes' rules. */
bool hd_resources__dns_label_ok(const char *s);
bool hd_resources__dns_name_ok(const char *s);

#endif
