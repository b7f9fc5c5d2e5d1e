/*
 * resources_internal.h — what the files of the resources module share (hd_resources.h is the
 * public side):
 *   resources.c         the registry: records, the key and id maps, lookups, observers, JSON
 *   resources_prepare.c validating documents (prepare): every error of a document, hints
 *   resources_apply.c   installing documents, apply and delete, flows' children
 *   resources_status.c  conditions, resolving destinations, refresh passes, flow status
 *   resources_load.c    loading from the state store at open; reading manifest files and folders
 *   resources_spec.c    pure spec parsing: kinds, Destinations, DeliverySpec, URLs, names
 * flows.c (hd_flows.h) uses the spec parsing only. Loop thread only, except where a declaration
 * says "pure".
 */
#ifndef HERALD_RESOURCES_INTERNAL_H
#define HERALD_RESOURCES_INTERNAL_H

#include <cjson/cJSON.h>

#include "hd_filter.h"
#include "hd_map.h"
#include "hd_resources.h"
#include "hd_state.h"

/* ---- spec parsing (resources_spec.c; pure, any thread) ------------------------------------- */

/* A destination (Knative duck Destination): uri, or ref (+ optional relative uri). */
typedef struct {
    bool set;
    char *uri;                      /* owned or NULL */
    const hd_kind_info_t *ref_kind; /* NULL when no ref */
    char *ref_ns, *ref_name;        /* owned */
} hd_dest_t;

/* Frees what a destination owns and zeroes it. Accepts NULL. */
void hd_resources__dest_free(hd_dest_t *d);
typedef struct hd_errs hd_errs_t;
/* Parses a Destination at `path` (for messages). ns is the default namespace of a ref. On
 * success *out owns its strings (free with hd_resources__dest_free); on error *out is zeroed
 * and each of its errors is added to es, naming the field. Errors: HD_E_INVAL, HD_E_NOMEM. Pure;
 * any thread. */
hd_err_t hd_resources__dest_parse(const cJSON *j, const char *path, const char *ns, hd_dest_t *out,
                                  hd_errs_t *es);
/* True when apiVersion `api` ("group/version", or "v1" for the core group) serves kind ki. */
bool hd_resources__api_matches(const char *api, const hd_kind_info_t *ki);
/* True when `s` is an absolute http(s) URL with a host (and a numeric port if any). */
bool hd_resources__url_ok(const char *s);
/* Joins a base URL and a (relative) uri path; returns owned (hd_free) or NULL. */
char *hd_resources__url_join(const char *base, const char *rel);

/* Parses a DeliverySpec (absent or null: nothing set); the HD_DLV_* bits of out->set say which
 * fields were given. The dead-letter sink goes to *dls (owned by the caller on success;
 * out->dead_letter_uri stays NULL until resolved). Errors: HD_E_INVAL with every bad field
 * added to es, HD_E_NOMEM. Pure; any thread. */
hd_err_t hd_resources__delivery_parse(const cJSON *j, const char *path, const char *ns,
                                      hd_delivery_t *out, hd_dest_t *dls, hd_errs_t *es);

/* DNS-1123 label (namespace) and subdomain (name) checks, Kubernetes' rules. */
bool hd_resources__dns_label_ok(const char *s);
bool hd_resources__dns_name_ok(const char *s);

/* The string member `name` of object o (borrowed from o), or NULL when o is not an object or the
 * member is absent or not a string. Pure; any thread. */
const char *hd_resources__jstr(const cJSON *o, const char *name);

/* ---- the registry's records (resources.c) -------------------------------------------------- */

/* Room for the error messages of one document (each of its errors, "; "-separated); apply
 * reports every invalid document, in up to HD_RESOURCES__APPLY_ERRCAP. */
#define HD_RESOURCES__ERRCAP 2048
#define HD_RESOURCES__APPLY_ERRCAP 8192

/* The errors of one document, appended "; "-separated into buf (truncated at cap): every
 * validator of a document (metadata, each kind's spec, Destinations, DeliverySpecs, flows) adds
 * each error it finds to the same collector and goes on checking, so one answer names them all.
 * Pure; any thread. */
struct hd_errs {
    char *buf;
    size_t cap, len;
    int n;
};
/* Appends one message. */
void hd_resources__errs_add(hd_errs_t *e, const char *msg);
/* Appends one formatted message; returns HD_E_INVAL (for `return hd_resources__errf(...)`). */
hd_err_t hd_resources__errf(hd_errs_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Room for a record key, plural/ns/name (names are DNS-1123: at most 253 characters). */
#define HD_RESOURCES__KEYCAP 600
#define HD_RESOURCES__MAX_OBSERVERS 8

typedef struct record record_t;

/* A Broker, Channel or InMemoryChannel: an event log with an address. */
typedef struct {
    hd_broker_t pub;
    record_t *rec;
    hd_dest_t dls;
    char *dls_url;     /* resolved broker DLS, owned */
    char dls_why[800]; /* why the DLS does not resolve ("" when it does or there is none) */
    char why[800];     /* why not ready */
    char reason[48];
} broker_rec_t;

/* A Trigger or Subscription: a consumer of one log. */
typedef struct {
    hd_trigger_t pub;
    record_t *rec;
    char *broker_name;            /* a trigger's broker, or a subscription's channel */
    const hd_kind_info_t *log_ki; /* Broker, or the channel's kind (Channel, InMemoryChannel) */
    hd_dest_t sub;                /* subscriptions: may be unset when reply is set */
    hd_dest_t reply;              /* subscriptions only */
    hd_dest_t dls;
    hd_delivery_t own; /* the trigger's own delivery; dead_letter_uri = dls_url */
    char *dls_url;     /* resolved own DLS */
    char *merged_dls;  /* pub.delivery.dead_letter_uri, owned */
    bool bound;        /* in the broker's router, announced to the observers */
    bool forgotten;    /* its progress records were forgotten since it was last bound */
} consumer_rec_t;

/* One resource of any kind. Brokers/channels have `b`, triggers/subscriptions `t`, flows
 * `children`; every other kind only its object and the status a module may set. */
struct record {
    hd_map_node_t node;    /* in hd_resources_t.recs, under key */
    hd_map_node_t id_node; /* in hd_resources_t.by_id under the bytes of id (when id != 0) */
    char *key;             /* plural/ns/name */
    const hd_kind_info_t *ki;
    char *ns, *name;
    uint32_t id; /* brokers and triggers */
    cJSON *obj;  /* full object, status included */
    broker_rec_t *b;
    consumer_rec_t *t;
    cJSON *children; /* flows: the channels and subscriptions built for it (hd_flows_expand) */
    /* Status set by the module that runs an "other" kind (hd_resources_set_status). */
    bool ext_set, ext_ready;
    char *ext_reason, *ext_message, *ext_url;
};

typedef struct {
    const hd_resources_observer_t *obs;
    void *arg;
} observer_t;

struct hd_resources {
    hd_state_t *state;     /* borrowed; NULL: in memory only */
    char *ingress_address; /* host:port of broker and channel addresses, owned */
    uint64_t retention_ms; /* of every new broker and channel */
    hd_map_t recs;         /* record_t by key */
    hd_map_t by_id;        /* record_t by id (brokers, channels, triggers, subscriptions) */
    uint32_t next_id;
    char **manifest_keys; /* keys of what the manifest files applied at the last (re)load:
                           * what a reload may prune (resources_load.c) */
    size_t manifest_nkeys;
    observer_t observers[HD_RESOURCES__MAX_OBSERVERS];
    size_t nobservers;
    bool loading;
    char **services; /* herald.yaml's services: "name=URL" / "ns/name=URL", owned */
    size_t service_count;
};

/* Calls `cb` of every observer that set it. Observers may not register or unregister from inside
 * a call. */
#define HD_RESOURCES__TELL(r, cb, ...)                                                             \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (r)->nobservers; i_++)                                            \
            if ((r)->observers[i_].obs->cb)                                                        \
                (r)->observers[i_].obs->cb((r)->observers[i_].arg, __VA_ARGS__);                   \
    } while (0)

/* Writes the key of a record, "plural/ns/name", into buf (truncated to cap). */
void hd_resources__key(char *buf, size_t cap, const char *plural, const char *ns, const char *name);
/* The record under key (borrowed), or NULL. */
record_t *hd_resources__find(const hd_resources_t *r, const char *key);
/* The record of kind ki ns/name; for Knative's Service, a Kubernetes v1 Service of that name
 * when there is no Knative one (both are "Service"). NULL when absent. */
record_t *hd_resources__find_named(hd_resources_t *r, const hd_kind_info_t *ki, const char *ns,
                                   const char *name);
/* Links a new record under its key, and under its id when it has one. Errors: HD_E_NOMEM, with
 * nothing linked. */
hd_err_t hd_resources__link(hd_resources_t *r, record_t *x);
/* Unlinks a record from both maps (it stays allocated). */
void hd_resources__unlink(hd_resources_t *r, record_t *x);
/* Calls fn for every record, in hash order. fn may not link or unlink records. */
void hd_resources__each(hd_resources_t *r, void (*fn)(hd_resources_t *r, record_t *x, void *arg),
                        void *arg);
/* Frees a record and all it owns (not linked any more). Accepts NULL. */
void hd_resources__record_free(record_t *x);

/* ---- status and resolution (resources_status.c) -------------------------------------------- */

/* metadata.generation of an object (1 when absent). */
long long hd_resources__generation(const cJSON *obj);
/* Rebuilds the status of a kind that is stored, not run (Ready=False NotImplemented unless a
 * module set it). */
void hd_resources__other_status(record_t *x);
/* Rebuilds a v1 Service's status (its address, or how to give it one). */
void hd_resources__service_refresh(hd_resources_t *r, record_t *x);
/* Re-resolves a broker's or channel's dead-letter sink, decides Ready and rebuilds its status. */
void hd_resources__broker_refresh(hd_resources_t *r, record_t *x);
/* Recomputes a trigger's or subscription's binding, resolutions, effective delivery and status,
 * telling the router and the observers what changed. */
void hd_resources__consumer_refresh(hd_resources_t *r, record_t *x, bool spec_changed);
/* Takes a trigger or subscription out of its log's router and tells the observers; `forget`:
 * its cursor, pending and dead records go too. */
void hd_resources__unbind(hd_resources_t *r, consumer_rec_t *t, bool forget);
/* Re-resolves everything that may depend on other resources: logs, then their consumers, then
 * the channels' subscriber lists, then the flows. */
void hd_resources__refresh_all(hd_resources_t *r);
/* The address of the Kubernetes v1 Service ns/name: its herald.dev/url annotation, its
 * ExternalName, or herald.yaml's services: entry; x is its record (NULL when none is applied).
 * NULL with `why` saying which of these to use, with an example. Returns owned (hd_free). */
char *hd_resources__service_url(hd_resources_t *r, const record_t *x, const char *ns,
                                const char *name, char *why, size_t cap);
/* http://HOST:PORT/{ns}/{broker}, or /{ns}/channels/{name} for a channel. Returns owned
 * (hd_free), or NULL when out of memory. */
char *hd_resources__address(hd_resources_t *r, const char *ns, const char *name, bool channel);

/* ---- validating and installing (resources_apply.c) ----------------------------------------- */

/* A validated document, ready to install. */
typedef struct {
    const hd_kind_info_t *ki;
    char *ns, *name, *key;
    cJSON *obj;           /* normalized object without status */
    const cJSON *obj_src; /* the document being prepared (borrowed, during prepare only) */
    uint32_t stored_id;
    hd_filter_t *filter;
    hd_dest_t sub, reply, dls;
    hd_delivery_t dlv;
    char *broker_name;            /* a trigger's broker or a subscription's channel */
    const hd_kind_info_t *log_ki; /* that log's kind */
    cJSON *children;              /* flows: what hd_flows_expand built */
    bool child;                   /* built by a flow: stored, not reported in apply's result */
    bool lenient;                 /* loaded from the store: what an older apply accepted */
    int doc;                      /* the document's position in its apply (1-based), 0: a child */
} prep_t;

/* Where a document comes from: a user (admin API, manifest files), the store at start-up, or a
 * flow that builds it (the only writer of a flow's children). */
typedef enum { FROM_USER, FROM_STORE, FROM_FLOW } origin_t;

/* The record of kind `kind` (a Kind name) ns/name, or NULL (also when r is NULL). */
record_t *hd_resources__find_kind(hd_resources_t *r, const char *kind, const char *ns,
                                  const char *name);
/* Frees what a prepared document owns and zeroes it. */
void hd_resources__prep_free(prep_t *p);
/* Validates one document and builds its normalized object into *p (nothing in the registry
 * changes). FROM_STORE keeps uid, generation, creationTimestamp, id and status. Errors:
 * HD_E_INVAL with err naming the field, HD_E_NOMEM; *p is then empty. */
hd_err_t hd_resources__prepare(hd_resources_t *r, const cJSON *doc, origin_t origin, prep_t *p,
                               char *err, size_t cap);
/* Installs a prepared document (consumes p on success). *out is its record (borrowed). Sets
 * *others_changed when others may need re-resolving. Errors: HD_E_NOMEM, p then untouched. */
hd_err_t hd_resources__install(hd_resources_t *r, prep_t *p, record_t **out, bool *others_changed);
/* The synchronous part of apply: validates every document, then installs them all. Returns the
 * result array (owned) and the batch to submit (NULL without a store or while loading), or an
 * error with err set. */
hd_err_t hd_resources__apply_sync(hd_resources_t *r, const char *text, size_t len, cJSON **result,
                                  hd_state_txn_t **batch_out, char *err, size_t cap);
/* Submits the batch and calls cb once it is stored (or at once without a batch). Takes result
 * and batch. */
void hd_resources__finish(hd_resources_t *r, hd_state_txn_t *batch, cJSON *result,
                          hd_resources_done_fn cb, void *arg);

/* ---- loading (resources_load.c) ------------------------------------------------------------ */

/* Loads every stored resource of the state (its ids, next id and status kept), then refreshes.
 * A stored resource that no longer validates is logged and skipped. Errors: HD_E_STORE. */
hd_err_t hd_resources__load_state(hd_resources_t *r, hd_state_t *state);
/* Applies the manifest files and folders (*.yaml, *.yml, *.json, in name order) of paths.
 * Errors: HD_E_CONFIG (logged with the file and the document), HD_E_NOMEM. */
hd_err_t hd_resources__load_manifests(hd_resources_t *r, const char *const *paths, size_t n);
/* Frees the keys of what the manifests applied (at close). */
void hd_resources__manifest_keys_free(hd_resources_t *r);

#endif
