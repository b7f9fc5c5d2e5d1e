/*
 * hd_filter.h — trigger filters (the router that indexes them is hd_router.h).
 *
 * A filter is compiled once when its trigger is applied: `filter.attributes` (exact, all must
 * match) or `filters` (dialects exact, prefix, suffix, all, any, not, cesql; `filters` wins when it
 * is non-empty). Comparisons use the attribute's canonical string. An unknown dialect, an empty
 * name or a bad CESQL expression is an apply error with a message.
 * Loop thread only; a compiled filter is immutable.
 */
#ifndef HERALD_HD_FILTER_H
#define HERALD_HD_FILTER_H

#include <cjson/cJSON.h>

#include "hd.h"
#include "herald/ce_sql.h"

typedef struct hd_filter hd_filter_t;

/* Compiles a trigger's filter from its spec's `filter` and `filters` members (either may be
 * NULL). *out is NULL when there is no filter (everything matches). Errors: HD_E_INVAL with
 * `err` (a message naming the dialect/attribute/position), HD_E_NOMEM. */
/* True when a compiled CESQL filter `expr` (source `src`) can match: its type is Boolean and it
 * is not a bare core attribute (`type`, a String per event). Else false with `why` saying so,
 * with an example. Pure; any thread. */
bool hd_filter_sql_is_condition(const ce_sql_expr_t *expr, const char *src, char *why, size_t cap);
/* As hd_filter_compile; `lenient` accepts what apply used to accept and now refuses (filter values
 * that are numbers or Booleans, CESQL that is not a condition), for resources already stored. */
hd_err_t hd_filter_compile_opts(const cJSON *filter, const cJSON *filters, bool lenient,
                                hd_filter_t **out, char *err, size_t err_cap);
hd_err_t hd_filter_compile(const cJSON *filter, const cJSON *filters, hd_filter_t **out, char *err,
                           size_t err_cap);
void hd_filter_free(hd_filter_t *f);
/* True when the event passes. NULL passes everything. No allocation on exact/prefix/suffix. */
bool hd_filter_match(const hd_filter_t *f, const ce_event_t *ev);
/* When every event passing `f` must have attribute `attr` equal to one exact value (an `exact`
 * leaf at the top or inside a chain of `all`s / filter.attributes), sets *value (borrowed from
 * the filter, valid while it lives) and *len and returns true. The router indexes on this. */
bool hd_filter_required_exact(const hd_filter_t *f, const char *attr, const char **value,
                              size_t *len);

#endif /* HERALD_HD_FILTER_H */
