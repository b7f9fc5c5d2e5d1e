/*
 * hd_resources.h — the control plane: Knative-shaped resources (Broker, Trigger, ...) applied
 * from manifests (YAML or JSON, several documents per file) and the admin API, persisted in the
 * local state (hd_state.h), with status.conditions. Also owns the compiled filters and the
 * per-broker router index (hd_filter.h).
 *
 * Resource lifetime: a hd_broker_t / hd_trigger_t stays valid until the resource is deleted or
 * replaced; the observers (hd_resources_observe) are told before a trigger or broker goes away.
 * Loop thread only.
 */
#ifndef HERALD_HD_RESOURCES_H
#define HERALD_HD_RESOURCES_H

#include <cjson/cJSON.h>

#include "hd.h"
#include "hd_filter.h"
#include "hd_router.h"

typedef enum { HD_BACKOFF_EXPONENTIAL, HD_BACKOFF_LINEAR } hd_backoff_policy_t;
typedef enum { HD_ORDER_UNORDERED, HD_ORDER_ORDERED } hd_ordering_t;

/* Bits of hd_delivery_t.set: which fields a spec gave explicitly (for precedence merging). */
enum {
    HD_DLV_RETRY = 1u << 0,
    HD_DLV_BACKOFF_POLICY = 1u << 1,
    HD_DLV_BACKOFF_DELAY = 1u << 2,
    HD_DLV_BACKOFF_MAX = 1u << 3,
    HD_DLV_TIMEOUT = 1u << 4,
    HD_DLV_DLS = 1u << 5,
    HD_DLV_RETRY_AFTER_MAX = 1u << 6,
    HD_DLV_MAX_IN_FLIGHT = 1u << 7,
    HD_DLV_ORDERING = 1u << 8,
    HD_DLV_HEADER_ENC = 1u << 9,
    HD_DLV_FORMAT = 1u << 10,
};

/* A DeliverySpec (Knative's, plus our backoffMax, maxInFlight, ordering, headerEncoding). */
typedef struct {
    unsigned set;   /* HD_DLV_* bits */
    uint32_t retry; /* retries after the first attempt (default 0) */
    hd_backoff_policy_t backoff_policy;
    uint64_t backoff_delay_ms;   /* ISO 8601 duration in the manifest; default 100 ms */
    uint64_t backoff_max_ms;     /* 0 = no cap */
    uint64_t timeout_ms;         /* per attempt; default 30 s */
    uint64_t retry_after_max_ms; /* cap on an honoured Retry-After; 0 = honour any (bounded) */
    char *dead_letter_uri;       /* resolved URL, or NULL */
    bool dead_letter_unresolved; /* a sink is set (HD_DLV_DLS) but does not resolve yet: events
                                  * that exhaust their retries wait for it, pending */
    uint32_t max_in_flight;      /* default 100 */
    hd_ordering_t ordering;
    bool header_strict; /* headerEncoding: strict */
    bool structured;    /* format: json */
} hd_delivery_t;

/* The effective delivery of a trigger: its own fields win, field by field (the HD_DLV_* bits
 * of `set`), then its broker's, then the defaults (retry 0, exponential, 100 ms, timeout 30 s,
 * maxInFlight 100, unordered, compat headers, binary). Either input may be NULL. Herald merges
 * field by field where Knative's spec drops the broker's delivery as soon as the trigger sets any
 * field: a trigger that only sets `retry` keeps its broker's dead-letter sink.
 * out->dead_letter_uri is borrowed from the input that supplied it. Pure; any thread. */
void hd_delivery_merge(hd_delivery_t *out, const hd_delivery_t *trigger,
                       const hd_delivery_t *broker);

/*
 * An event log with an address: a Broker (its triggers filter) or a Channel / InMemoryChannel
 * (`channel` true: its subscriptions take every event). Both run on the same log, router and
 * dispatcher; only names, addresses and metric labels differ.
 */
typedef struct hd_broker {
    uint32_t id;  /* stable, stored; keys its log */
    bool channel; /* a Channel or InMemoryChannel, not a Broker */
    char *ns, *name;
    char *address_url;      /* status.address.url */
    hd_delivery_t delivery; /* spec.delivery (defaults for its triggers) */
    uint64_t retention_ms;  /* events older than this are deleted (default 7 days) */
    hd_router_t *router;    /* compiled filters of its triggers */
    bool ready;
} hd_broker_t;

/*
 * A consumer of one log with its own cursor: a Trigger (a filter; a reply goes back into its
 * broker) or a Subscription (`subscription` true: no filter; a reply goes to its reply
 * destination, or is dropped and counted when it has none).
 */
typedef struct hd_trigger {
    uint32_t id; /* stable, stored; keys cursor/pending/dead */
    bool subscription;
    char *ns, *name;
    hd_broker_t *broker;     /* borrowed; set only while the trigger is bound: Ready, in its
                              * broker's router and announced to the dispatcher. NULL while its
                              * broker does not exist or it is not Ready (its cursor is kept, so
                              * delivery catches up once it is Ready again). */
    hd_filter_t *filter;     /* compiled; NULL matches everything */
    char *subscriber_uri;    /* resolved; NULL when unresolvable (Ready=False) */
    uint32_t subscriber_log; /* non-zero: the subscriber is a broker/channel/flow of this
                              * heraldd, delivered in process by appending to this log */
    char *reply_uri;         /* subscriptions: the resolved reply, NULL when none */
    uint32_t reply_log;      /* subscriptions: non-zero when the reply is local (in process) */
    hd_delivery_t delivery;  /* effective (merged) */
    bool ready;
    void *dispatch; /* the dispatcher's runtime state of this consumer, owned by it: reached from
                     * the router's match without a lookup per event */
} hd_trigger_t;

/* The annotation that gives a Kubernetes v1 Service its address on one machine. */
#define HD_RESOURCES_URL_ANNOTATION "herald.dev/url"

/* The host:port of broker and channel addresses until hd_resources_set_ingress_address. */
#define HD_RESOURCES_INGRESS_ADDRESS "127.0.0.1:8080"

/* What the registry needs besides its state. A zeroed struct (or NULL) gives the defaults. */
typedef struct {
    const char *ingress_address;  /* host:port in status.address.url of brokers and channels
                                   * (borrowed for the call); NULL: HD_RESOURCES_INGRESS_ADDRESS */
    uint64_t retention_ms;        /* retention of every broker and channel; 0: 7 days */
    const char *const *manifests; /* files or folders applied at open (borrowed for the call) */
    size_t manifest_count;
    /* Addresses of Kubernetes v1 Services: "name=URL" (any namespace) or "ns/name=URL" items,
     * herald.yaml's `services:` (borrowed for the call). A bad URL fails the open: HD_E_CONFIG. */
    const char *const *services;
    size_t service_count;
} hd_resources_opts_t;

/* Creates the registry, loads the resources stored in `state` (borrowed; NULL: in memory only,
 * nothing persisted; else it must stay open while resources are applied or deleted), then
 * applies every manifest of opts->manifests. Errors: HD_E_CONFIG (a bad manifest at start:
 * logged with file and document), HD_E_NOMEM, HD_E_STORE. *out is owned: free with
 * hd_resources_close. */
hd_err_t hd_resources_open(const hd_resources_opts_t *opts, hd_state_t *state,
                           hd_resources_t **out);
/* Re-reads the manifest files and folders (SIGHUP): applies every file that validates (each
 * file all or nothing; a bad one is logged and the others still apply), then, only when every
 * file applied, deletes what the previous load (start-up or the last reload) applied from the
 * manifests and no file names any more, like `kubectl apply --prune`; resources applied through
 * the admin API are never pruned. Everything is logged. Returns the number of files that
 * failed (0: all applied). */
size_t hd_resources_reload_manifests(hd_resources_t *r, const char *const *paths, size_t n);
/* Sets the host:port of broker and channel addresses (copied), e.g. once the ingress is bound
 * and its port known, and re-resolves every address and what refers to one. Errors:
 * HD_E_NOMEM (the address then unchanged). */
hd_err_t hd_resources_set_ingress_address(hd_resources_t *r, const char *host_port);
/* Tells the observers that every trigger and broker goes away (records kept), then frees
 * everything; every hd_broker_t / hd_trigger_t pointer becomes invalid. Accepts
 * NULL. */
void hd_resources_close(hd_resources_t *r);

/* Lookups (borrowed, valid until the resource is deleted or the registry closed; NULL when
 * absent). hd_resources_broker is the ingress hot path: one hash probe, no allocation; ns and
 * name need not be NUL-terminated. */
hd_broker_t *hd_resources_broker(hd_resources_t *r, const char *ns, size_t ns_len, const char *name,
                                 size_t name_len);
hd_broker_t *hd_resources_broker_by_id(hd_resources_t *r, uint32_t id);
hd_trigger_t *hd_resources_trigger(hd_resources_t *r, const char *ns, const char *name);
hd_trigger_t *hd_resources_trigger_by_id(hd_resources_t *r, uint32_t id);
/* Calls fn for every trigger bound to a broker (Ready, in its router). O(resources); fn must
 * not apply or delete resources. */
void hd_resources_each_trigger(hd_resources_t *r, const hd_broker_t *b,
                               void (*fn)(void *arg, hd_trigger_t *t), void *arg);

/*
 * Applies one or many documents (YAML or JSON text). Every document is validated first
 * (filters compiled, CESQL parsed, durations, URLs, references' shape); if one is invalid
 * nothing at all is applied and `error` names the document, the field and the problem, e.g.
 * "document 2 (Trigger default/t): spec.filters[0].cesql: invalid CESQL expression at position
 * 7: ..." (the admin API's 400 body). Re-applying an unchanged spec keeps metadata.generation;
 * a changed spec increments it. spec.broker of a Trigger is immutable (as in Knative).
 * `result` (may be NULL) receives a JSON array of the applied objects with their status.
 * Completion is asynchronous (persisted through the store); cb runs on the loop thread.
 */
typedef void (*hd_resources_done_fn)(void *arg, hd_err_t status, cJSON *result, const char *error);
/* (result and error are borrowed: valid only during the callback. Status HD_E_INVAL: a document
 * is invalid (400); HD_E_NOTFOUND (404); HD_E_BUSY/HD_E_FULL/HD_E_IO: applied in memory but the
 * store refused it (503). Without a state (opened with NULL) cb runs before apply returns.) */
void hd_resources_apply(hd_resources_t *r, const char *text, size_t len, hd_resources_done_fn cb,
                        void *arg);
/* Deletes one resource by kind (plural, singular, Kind or short name, any case), namespace and
 * name; cb gets a one-element array with the deleted object, or HD_E_NOTFOUND / HD_E_INVAL
 * (unknown kind) with a message. A Trigger's cursor, pending and dead records go with it; a
 * Broker's events go with it and its triggers wait (BrokerDoesNotExist). */
void hd_resources_delete(hd_resources_t *r, const char *plural, const char *ns, const char *name,
                         hd_resources_done_fn cb, void *arg);
/* The resource as JSON (returns owned, free with cJSON_Delete), or NULL. */
cJSON *hd_resources_get_json(hd_resources_t *r, const char *plural, const char *ns,
                             const char *name);
/* A list of resources of a kind (plural, singular or Kind, case-insensitive; NULL for every
 * kind), in one namespace or all (ns NULL), sorted by kind, namespace, name. Owned JSON array;
 * NULL when the kind is unknown. */
cJSON *hd_resources_list_json(hd_resources_t *r, const char *plural, const char *ns);
/* Calls fn for every broker (borrowed pointers); fn must not apply or delete resources. */
void hd_resources_each_broker(hd_resources_t *r, void (*fn)(void *arg, hd_broker_t *b), void *arg);

/*
 * The typed observer through which the registry tells other modules (the dispatcher) what
 * changed, on the loop thread, as it happens. Registering replays the current state
 * (broker_added for every broker and channel, then trigger_added for every bound trigger and
 * subscription), so modules may register in any order. Every callback may be NULL.
 *   broker_added     a broker or channel exists (its log may be appended to)
 *   broker_removed   it is deleted (`drop`: its events go too) or the registry closes
 *   trigger_added    a trigger or subscription is bound: Ready, routed; deliver from its cursor
 *   trigger_updated  its filter, subscriber, reply or delivery changed
 *   trigger_removed  it is unbound; `forget`: it is deleted (or its log is), so its cursor,
 *                    pending and dead records go too; otherwise they stay for when it is bound
 *                    again
 * Pointers are borrowed and valid until the matching _removed call returns.
 */
typedef struct {
    void (*broker_added)(void *arg, hd_broker_t *b);
    void (*broker_removed)(void *arg, hd_broker_t *b, bool drop);
    void (*trigger_added)(void *arg, hd_trigger_t *t);
    void (*trigger_updated)(void *arg, hd_trigger_t *t);
    void (*trigger_removed)(void *arg, hd_trigger_t *t, bool forget);
} hd_resources_observer_t;

/* Registers an observer (`obs` borrowed, must outlive the registration) and replays the current
 * state to it. At most 8 observers. Errors: HD_E_FULL. */
hd_err_t hd_resources_observe(hd_resources_t *r, const hd_resources_observer_t *obs, void *arg);
/* Removes the observer registered with the same obs and arg, telling it nothing. */
void hd_resources_unobserve(hd_resources_t *r, const hd_resources_observer_t *obs, void *arg);

/* The channel (Channel or InMemoryChannel) `ns/name`, by the ingress address
 * /{ns}/channels/{name} (borrowed, NULL when absent). ns and name need not be NUL-terminated. */
hd_broker_t *hd_resources_channel(hd_resources_t *r, const char *ns, size_t ns_len,
                                  const char *name, size_t name_len);
/* The channel whose in-cluster host name `host` is ({name}-kn-channel.{ns}.svc.cluster.local,
 * also without the cluster suffix, and with an optional :port), or NULL. */
hd_broker_t *hd_resources_channel_by_host(hd_resources_t *r, const char *host, size_t len);
/* The subscription ns/name (borrowed, NULL when absent). */
hd_trigger_t *hd_resources_subscription(hd_resources_t *r, const char *ns, const char *name);

/* Sets the Ready condition of a resource of another kind (not Broker/Trigger), replacing the
 * default Ready=False NotImplemented; address_url (may be NULL) becomes status.address.url and
 * makes it resolvable as a `ref` destination. Strings are copied. Errors: HD_E_INVAL (kind),
 * HD_E_NOTFOUND, HD_E_NOMEM. */
hd_err_t hd_resources_set_status(hd_resources_t *r, const char *kind, const char *ns,
                                 const char *name, bool ready, const char *reason,
                                 const char *message, const char *address_url);

/* ---- kinds ---------------------------------------------------------------------------------- */

/* The resource kinds heraldd knows: Broker and Trigger are run, the others are stored. */
/* How the registry runs a kind: a log with an address (Broker; Channel and InMemoryChannel), a
 * consumer of one (Trigger; Subscription), a composition of those (Sequence, Parallel), or a kind
 * stored and listed only (OTHER: Ready=False NotImplemented unless a module sets its status). */
typedef enum {
    HD_RK_BROKER,
    HD_RK_TRIGGER,
    HD_RK_CHANNEL,
    HD_RK_SUBSCRIPTION,
    HD_RK_FLOW,
    HD_RK_SERVICE, /* Kubernetes' v1 Service: an address (herald.dev/url, ExternalName, services:)
                    */
    HD_RK_OTHER
} hd_rk_type_t;

/* One kind: its names in manifests and in the Kubernetes URL layout. */
typedef struct {
    const char *kind;      /* "Broker" */
    const char *group;     /* "eventing.knative.dev" */
    const char *version;   /* preferred version, "v1" */
    const char *plural;    /* "brokers" */
    const char *singular;  /* "broker" */
    const char *shortname; /* "" when none */
    hd_rk_type_t type;
} hd_kind_info_t;

/* The kind by Kind name, plural, singular or short name, case-insensitive; NULL if unknown.
 * Returns a pointer into a static table (never freed). Any thread. */
const hd_kind_info_t *hd_resources_kind_lookup(const char *s);
/* The kind `kind` (exact Kind name) of the API group of `api` ("group/version", or "v1" for
 * Kubernetes' core group); when no kind of that group has the name, the first kind of that name
 * (the caller then reports the apiVersion); NULL when no kind has it. Any thread. */
const hd_kind_info_t *hd_resources_kind_for(const char *api, const char *kind);
/* Every apiVersion served for kinds named like ki->kind, "serving.knative.dev/v1, v1", into buf
 * (returned). Any thread. */
const char *hd_resources_kind_versions(const hd_kind_info_t *ki, char *buf, size_t cap);
/* Every known kind, for messages: "Broker, Trigger, ..." (static string). */
const char *hd_resources_kind_names(void);

#endif /* HERALD_HD_RESOURCES_H */
