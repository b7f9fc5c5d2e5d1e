/*
 * hd_router.h — the per-broker router. It indexes the triggers of one broker on their exact
 * `type` and `source` filters (hd_filter_required_exact) so that matching an event costs
 * O(candidates), not O(triggers). Loop thread only.
 */
#ifndef HERALD_HD_ROUTER_H
#define HERALD_HD_ROUTER_H

#include "hd.h"

typedef struct hd_router hd_router_t;
struct hd_trigger;

/* A new, empty router, or NULL when out of memory. Free with hd_router_free (accepts NULL); the
 * triggers in it are not freed. */
hd_router_t *hd_router_new(void);
void hd_router_free(hd_router_t *r);
/* Adds or removes a trigger (its `filter` must not change while it is in the router). The
 * router holds every trigger bound to the broker, ready or not (a trigger whose subscriber is
 * unresolved has subscriber_uri NULL: the dispatcher holds its events). Errors: HD_E_NOMEM,
 * HD_E_EXISTS (already in). The trigger is borrowed. */
hd_err_t hd_router_add(hd_router_t *r, struct hd_trigger *t);
void hd_router_remove(hd_router_t *r, struct hd_trigger *t);
/* Calls fn for every trigger whose filter passes `ev`, each at most once, in no particular
 * order. fn must not add or remove triggers of this router. */
void hd_router_match(const hd_router_t *r, const ce_event_t *ev,
                     void (*fn)(void *arg, struct hd_trigger *t), void *arg);
size_t hd_router_count(const hd_router_t *r);
/* Triggers evaluated for every event (no exact type/source to index on): for tests, describe. */
size_t hd_router_scan_count(const hd_router_t *r);

#endif /* HERALD_HD_ROUTER_H */
