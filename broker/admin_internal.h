/*
 * admin_internal.h — what the files of the admin API share: the answer helpers of the router
 * (admin.c) and the handlers of each endpoint group, which the router calls once it has matched
 * the path and the method: resources (admin_resources.c), the operations on one broker, channel,
 * trigger or subscription (admin_triggers.c), the live tail (admin_tail.c) and the web page
 * (admin_ui.c). Every handler answers `req` (now, or later from a callback; req stays valid until
 * answered, hd_http.h). Loop thread only.
 */
#ifndef HERALD_ADMIN_INTERNAL_H
#define HERALD_ADMIN_INTERNAL_H

#include <cjson/cJSON.h>

#include "hd_admin.h"
#include "hd_path.h"
#include "hd_resources.h"

#define HD_ADMIN__RETRY_AFTER "Retry-After: 1\r\n"

/* The kind of object a /v1/{plural}/{ns}/{name}/{op} path names: a log with an address (a broker,
 * or a channel, which behaves as one) or a consumer of one (a trigger, or a subscription). */
typedef struct {
    const char *plural; /* the path segment: "brokers", "channels", "triggers", "subscriptions" */
    const char *kind;   /* in messages: "Broker", "Channel", "Trigger", "Subscription" */
    bool log;           /* a broker or channel, else a trigger or subscription */
    bool channel;       /* a channel or subscription, else a broker or trigger */
} hd_admin__kind_t;

/* ---- answers (admin.c) ---------------------------------------------------------------------- */

/* The value of query parameter `name` copied into buf (not percent-decoded except %3A and %2B,
 * which RFC 3339 times carry); false when absent. query may be NULL. */
bool hd_admin__query_get(const char *query, const char *name, char *buf, size_t cap);
/* Answers `status` with body (borrowed) as one line of JSON; 500 when it cannot be printed. */
void hd_admin__respond_json(hd_http_req_t *req, int status, const cJSON *body);
/* Answers the HTTP status of e (400, 404, 409, 413, else 503 with Retry-After) with msg, or e's
 * message when msg is NULL. */
void hd_admin__respond_err(hd_http_req_t *req, hd_err_t e, const char *msg);
/* Answers 404 with "<Kind> \"ns/name\" not found" (ns and name as the path gave them). */
void hd_admin__respond_not_found(hd_http_req_t *req, const char *kind, const char *ns,
                                 const char *name);
/* Answers 405 with an Allow header (e.g. "GET, PUT, DELETE"). */
void hd_admin__method_not_allowed(hd_http_req_t *req, const char *allow);

/* ---- resources (admin_resources.c) -------------------------------------------------------- */

/* POST /apply (single false: answers a List) and PUT of one object (single true: answers the
 * object). text is borrowed for the call. Needs a->res. */
void hd_admin__apply(hd_admin_ctx_t *a, hd_http_req_t *req, const char *text, size_t len,
                     bool single);
/* /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}] and /apis/{group}/{version}/{plural};
 * s[0..n) are the path's segments. Needs a->res. */
void hd_admin__route_apis(hd_admin_ctx_t *a, hd_http_req_t *req, hd_path_seg_t *s, size_t n);
/* /v1/resources/{kind}[/{ns}[/{name}]]. Needs a->res. */
void hd_admin__route_resources(hd_admin_ctx_t *a, hd_http_req_t *req, hd_path_seg_t *s, size_t n);

/* ---- one broker, channel, trigger or subscription (admin_triggers.c, admin_tail.c) -------- */

/* An operation of /v1/{plural}/{ns}/{name}/{op}: k is the kind the path names (static), ns and
 * name are NUL-terminated copies of its segments. Needs a->res. */
typedef void (*hd_admin__op_fn)(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                                const char *ns, const char *name);

/* Brokers and channels: GET .../describe, POST .../events. */
void hd_admin__describe_log(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                            const char *ns, const char *name);
void hd_admin__events(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                      const char *ns, const char *name);
/* Triggers and subscriptions: GET .../describe, GET .../dlq, POST .../dlq/replay, .../replay. */
void hd_admin__describe_consumer(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                                 const char *ns, const char *name);
void hd_admin__dlq_list(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                        const char *ns, const char *name);
void hd_admin__dlq_replay(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                          const char *ns, const char *name);
void hd_admin__replay(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                      const char *ns, const char *name);
/* Brokers and channels: GET .../tail (admin_tail.c), a chunked stream that outlives the call. */
void hd_admin__tail(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                    const char *ns, const char *name);

/* The broker (k->channel false) or channel ns/name (borrowed; NULL when absent). */
hd_broker_t *hd_admin__log_lookup(hd_admin_ctx_t *a, const hd_admin__kind_t *k, const char *ns,
                                  const char *name);

/* ---- the web page (admin_ui.c) ------------------------------------------------------------ */

/* GET|HEAD /ui/ (file empty: index.html) and /ui/{file}: the page's files, embedded at build time
 * from broker/ui/ (ui/embed.cmake); 404 for any other name, 405 for other methods. The page reads
 * the routes of hd_admin.h from the browser. file is borrowed (not NUL-terminated). */
void hd_admin__ui(hd_http_req_t *req, const char *file, size_t len);
/* GET|HEAD /: 302 to /ui/. */
void hd_admin__root(hd_http_req_t *req);

/* One embedded file of the page (the generated ui_assets.c defines the table). */
typedef struct {
    const char *name; /* "index.html", "app.js", ... */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t len;
} hd_admin__asset_t;
extern const hd_admin__asset_t hd_admin__ui_assets[];
extern const size_t hd_admin__ui_nassets;

#endif /* HERALD_ADMIN_INTERNAL_H */
