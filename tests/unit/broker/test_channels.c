/* test_channels.c — Channels, Subscriptions, Sequence and Parallel in the registry: addresses,
 * Ready conditions that say what is wrong, in-process destinations, what the observer (the
 * dispatcher's view) is told, apply-time errors, a flow's children owned by it, and a flow and
 * its children across a restart (real LMDB). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hd_lmdb.h"
#include "hd_resources.h"

typedef struct {
    int calls;
    hd_err_t status;
    char error[1200];
} res_t;

static void done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    (void)result;
    res_t *r = arg;
    r->calls++;
    r->status = status;
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

/* What the dispatcher would be told. */
typedef struct {
    int brokers_added, brokers_removed, brokers_dropped;
    int added, updated, removed, forgotten;
} seen_t;

static void o_broker_added(void *arg, hd_broker_t *b)
{
    (void)b;
    ((seen_t *)arg)->brokers_added++;
}

static void o_broker_removed(void *arg, hd_broker_t *b, bool drop)
{
    (void)b;
    seen_t *s = arg;
    s->brokers_removed++;
    s->brokers_dropped += drop;
}

static void o_trigger_added(void *arg, hd_trigger_t *t)
{
    (void)t;
    ((seen_t *)arg)->added++;
}

static void o_trigger_updated(void *arg, hd_trigger_t *t)
{
    (void)t;
    ((seen_t *)arg)->updated++;
}

static void o_trigger_removed(void *arg, hd_trigger_t *t, bool forget)
{
    (void)t;
    seen_t *s = arg;
    s->removed++;
    s->forgotten += forget;
}

static const hd_resources_observer_t OBS = {o_broker_added, o_broker_removed, o_trigger_added,
                                            o_trigger_updated, o_trigger_removed};

static seen_t seen;

static hd_resources_t *open_mem(void)
{
    memset(&seen, 0, sizeof seen);
    hd_resources_t *r = NULL;
    ck_assert_int_eq(hd_resources_open(NULL, NULL, &r), HD_E_OK);
    ck_assert_int_eq(hd_resources_observe(r, &OBS, &seen), HD_E_OK);
    return r;
}

static res_t apply(hd_resources_t *r, const char *yaml)
{
    res_t out = {0};
    hd_resources_apply(r, yaml, strlen(yaml), done, &out);
    ck_assert_int_eq(out.calls, 1);
    return out;
}

static void apply_ok(hd_resources_t *r, const char *yaml)
{
    res_t o = apply(r, yaml);
    ck_assert_msg(o.status == HD_E_OK, "apply failed: %s", o.error);
}

static void apply_err(hd_resources_t *r, const char *yaml, const char *expect)
{
    res_t o = apply(r, yaml);
    ck_assert_int_eq(o.status, HD_E_INVAL);
    ck_assert_msg(strstr(o.error, expect), "error '%s' lacks '%s'", o.error, expect);
}

static res_t del(hd_resources_t *r, const char *kind, const char *name)
{
    res_t out = {0};
    hd_resources_delete(r, kind, "default", name, done, &out);
    ck_assert_int_eq(out.calls, 1);
    return out;
}

/* The Ready condition's status and reason; the message copied into msg (may be NULL). */
static void ready_of(hd_resources_t *r, const char *plural, const char *name, const char *status,
                     const char *reason, char *msg, size_t cap)
{
    cJSON *o = hd_resources_get_json(r, plural, "default", name);
    ck_assert_msg(o != NULL, "%s %s missing", plural, name);
    cJSON *c;
    bool found = false;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "conditions"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "type")->valuestring, "Ready"))
            continue;
        found = true;
        ck_assert_str_eq(cJSON_GetObjectItem(c, "status")->valuestring, status);
        ck_assert_str_eq(cJSON_GetObjectItem(c, "reason")->valuestring, reason);
        cJSON *m = cJSON_GetObjectItem(c, "message");
        if (msg)
            snprintf(msg, cap, "%s", m ? m->valuestring : "");
    }
    ck_assert(found);
    cJSON_Delete(o);
}

static const char *status_str(hd_resources_t *r, const char *plural, const char *name,
                              const char *a, const char *b, char *buf, size_t cap)
{
    cJSON *o = hd_resources_get_json(r, plural, "default", name);
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), a);
    if (b)
        v = cJSON_GetObjectItem(v, b);
    snprintf(buf, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(o);
    return buf;
}

#define IMC(name)                                                                                  \
    "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: {name: " name "}\n"
#define SUB(name, chan, extra)                                                                     \
    "apiVersion: messaging.knative.dev/v1\nkind: Subscription\nmetadata: {name: " name "}\n"       \
    "spec:\n  channel: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: " chan  \
    "}\n" extra

START_TEST(channel_and_subscriptions)
{
    hd_resources_t *r = open_mem();
    apply_ok(
        r,
        IMC("orders") "---\n" SUB(
            "a", "orders",
            "  subscriber: {uri: 'http://127.0.0.1:9/a'}\n") "---\n" SUB("b", "orders",
                                                                         "  subscriber: {uri: "
                                                                         "'http://127.0.0.1:9/b'}\n"
                                                                         "  reply: {uri: "
                                                                         "'http://127.0.0.1:9/"
                                                                         "r'}\n"));
    hd_broker_t *c = hd_resources_channel(r, "default", 7, "orders", 6);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->channel && c->ready);
    ck_assert_str_eq(c->address_url, "http://127.0.0.1:8080/default/channels/orders");
    /* a channel is not a broker: /{ns}/{name} does not reach it */
    ck_assert_ptr_null(hd_resources_broker(r, "default", 7, "orders", 6));
    ck_assert_ptr_eq(
        hd_resources_channel_by_host(r, "orders-kn-channel.default.svc.cluster.local", 43), c);
    ck_assert_ptr_eq(hd_resources_channel_by_host(r, "orders-kn-channel.default.svc:80", 32), c);
    ck_assert_ptr_null(hd_resources_channel_by_host(r, "orders-kn-channel.other.svc", 27));
    ck_assert_ptr_null(hd_resources_channel_by_host(r, "127.0.0.1:8080", 14));
    hd_trigger_t *a = hd_resources_subscription(r, "default", "a");
    hd_trigger_t *b = hd_resources_subscription(r, "default", "b");
    ck_assert(a && b && a->subscription && a->ready && b->ready);
    ck_assert_ptr_eq(a->broker, c);
    ck_assert_ptr_null(a->filter); /* every event of the channel */
    ck_assert_ptr_null(a->reply_uri);
    ck_assert_str_eq(b->reply_uri, "http://127.0.0.1:9/r");
    ck_assert_int_eq(seen.added, 2);
    char buf[256];
    ck_assert_str_eq(status_str(r, "subscriptions", "b", "physicalSubscription", "subscriberUri",
                                buf, sizeof buf),
                     "http://127.0.0.1:9/b");
    ck_assert_str_eq(
        status_str(r, "subscriptions", "b", "physicalSubscription", "replyUri", buf, sizeof buf),
        "http://127.0.0.1:9/r");
    cJSON *o = hd_resources_get_json(r, "inmemorychannels", "default", "orders");
    cJSON *subs = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "subscribers");
    ck_assert_int_eq(cJSON_GetArraySize(subs), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(subs, 0), "ready")->valuestring,
                     "True");
    cJSON_Delete(o);
    /* deleting the channel deletes its events and makes its subscriptions forget their records */
    ck_assert_int_eq(del(r, "imc", "orders").status, HD_E_OK);
    ck_assert_int_eq(seen.brokers_dropped, 1);
    ck_assert_int_eq(seen.forgotten, 2);
    ready_of(r, "subscriptions", "a", "False", "ChannelDoesNotExist", buf, sizeof buf);
    ck_assert_msg(strstr(buf, "InMemoryChannel \"default/orders\" does not exist"), "%s", buf);
    hd_resources_close(r);
}
END_TEST

START_TEST(subscription_waits_for_its_channel)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, SUB("early", "later", "  subscriber: {uri: 'http://127.0.0.1:9/a'}\n"));
    char msg[512];
    ready_of(r, "subscriptions", "early", "False", "ChannelDoesNotExist", msg, sizeof msg);
    ck_assert_int_eq(seen.added, 0);
    apply_ok(r, IMC("later"));
    ready_of(r, "subscriptions", "early", "True", "SubscriptionReady", NULL, 0);
    ck_assert_int_eq(seen.added, 1);
    /* a reply that cannot be resolved keeps it from delivering, and says so */
    apply_ok(
        r, SUB("r", "later",
               "  subscriber: {uri: 'http://127.0.0.1:9/a'}\n"
               "  reply: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: nb}}\n"));
    ready_of(r, "subscriptions", "r", "False", "ReplyResolveFailed", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "Broker \"default/nb\" does not exist"), "%s", msg);
    hd_resources_close(r);
}
END_TEST

/* Destinations that are logs of this heraldd are reached in process. */
START_TEST(local_destinations_in_process)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: default}\n"
                "---\n" IMC("in") "---\n" IMC("out") "---\n" SUB(
                    "fwd", "in",
                    "  reply: {ref: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, "
                    "name: out}}\n") "---\n" SUB("tob", "out",
                                                 "  subscriber: {ref: {apiVersion: "
                                                 "eventing.knative.dev/v1, kind: Broker, name: "
                                                 "default}}\n"
                                                 "  reply: {uri: 'http://127.0.0.1:9/x'}\n"));
    hd_broker_t *out = hd_resources_channel(r, "default", 7, "out", 3);
    hd_broker_t *b = hd_resources_broker(r, "default", 7, "default", 7);
    hd_trigger_t *fwd = hd_resources_subscription(r, "default", "fwd");
    hd_trigger_t *tob = hd_resources_subscription(r, "default", "tob");
    ck_assert(fwd->ready && tob->ready);
    /* no subscriber: every event goes to the reply, here a local channel */
    ck_assert_uint_eq(fwd->subscriber_log, out->id);
    ck_assert_str_eq(fwd->subscriber_uri, out->address_url);
    ck_assert_uint_eq(tob->subscriber_log, b->id);
    ck_assert_uint_eq(tob->reply_log, 0);
    /* a uri that is one of this heraldd's addresses, or Knative's in-cluster name for it, goes
     * in process too; any other stays HTTP */
    static const struct {
        const char *uri;
        int want; /* 1: the broker, 2: channel out, 0: HTTP */
    } uris[] = {
        {"http://127.0.0.1:8080/default/default", 1},
        {"http://broker-ingress.knative-eventing.svc.cluster.local/default/default", 1},
        {"http://127.0.0.1:8080/default/channels/out", 2},
        {"http://out-kn-channel.default.svc.cluster.local", 2},
        {"http://out-kn-channel.default.svc.cluster.local/", 2},
        {"http://127.0.0.1:8080/default/nope", 0},
        {"http://127.0.0.1:8080/default/default/sub", 0},
        {"http://127.0.0.1:9090/default/default", 0},
        {"https://127.0.0.1:8080/default/default", 0},
    };
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        char yaml[600];
        snprintf(yaml, sizeof yaml, SUB("u", "in", "  subscriber: {uri: '%s'}\n"), uris[i].uri);
        apply_ok(r, yaml);
        hd_trigger_t *u = hd_resources_subscription(r, "default", "u");
        uint32_t want = uris[i].want == 1 ? b->id : uris[i].want == 2 ? out->id : 0;
        ck_assert_msg(u->ready && u->subscriber_log == want, "%s: log %u, want %u", uris[i].uri,
                      u->subscriber_log, want);
        ck_assert_str_eq(u->subscriber_uri, uris[i].uri);
    }
    /* a trigger whose subscriber is a Sequence reaches its first channel */
    apply_ok(r,
             "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
             "spec:\n  steps:\n  - uri: 'http://127.0.0.1:9/step'\n"
             "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\n"
             "spec:\n  broker: default\n"
             "  subscriber: {ref: {apiVersion: flows.knative.dev/v1, kind: Sequence, name: s}}\n");
    hd_broker_t *s0 = hd_resources_channel(r, "default", 7, "s-kn-sequence-0", 15);
    ck_assert_ptr_nonnull(s0);
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    ck_assert(t->ready);
    ck_assert_uint_eq(t->subscriber_log, s0->id);
    hd_resources_close(r);
}
END_TEST

START_TEST(sequence_builds_and_owns_its_children)
{
    hd_resources_t *r = open_mem();
    apply_ok(r,
             "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
             "spec:\n  steps:\n  - uri: 'http://127.0.0.1:9/1'\n  - uri: 'http://127.0.0.1:9/2'\n"
             "  - uri: 'http://127.0.0.1:9/3'\n");
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "s-kn-sequence-%d", i);
        ready_of(r, "inmemorychannels", name, "True", "ChannelReady", NULL, 0);
        ready_of(r, "subscriptions", name, "True", "SubscriptionReady", NULL, 0);
    }
    ready_of(r, "sequences", "s", "True", "SequenceReady", NULL, 0);
    char buf[256];
    ck_assert_str_eq(status_str(r, "sequences", "s", "address", "url", buf, sizeof buf),
                     "http://127.0.0.1:8080/default/channels/s-kn-sequence-0");
    /* step i replies into channel i+1, in process */
    hd_trigger_t *s0 = hd_resources_subscription(r, "default", "s-kn-sequence-0");
    ck_assert_uint_eq(s0->reply_log,
                      hd_resources_channel(r, "default", 7, "s-kn-sequence-1", 15)->id);
    /* the children are the Sequence's: neither changed nor deleted directly */
    apply_err(r, SUB("s-kn-sequence-1", "s-kn-sequence-1", "  subscriber: {uri: 'http://x:1/'}\n"),
              "is built by Sequence \"default/s\"; change the Sequence instead");
    res_t d = del(r, "subscription", "s-kn-sequence-1");
    ck_assert_int_eq(d.status, HD_E_INVAL);
    ck_assert_msg(strstr(d.error, "delete the Sequence instead"), "%s", d.error);
    /* one step fewer: its channel and subscription go */
    apply_ok(r,
             "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
             "spec:\n  steps:\n  - uri: 'http://127.0.0.1:9/1'\n  - uri: 'http://127.0.0.1:9/2'\n");
    ck_assert_ptr_null(hd_resources_channel(r, "default", 7, "s-kn-sequence-2", 15));
    ck_assert_ptr_null(hd_resources_subscription(r, "default", "s-kn-sequence-2"));
    ck_assert_ptr_null(hd_resources_subscription(r, "default", "s-kn-sequence-1")->reply_uri);
    /* the template is immutable */
    apply_err(r,
              "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
              "spec:\n  channelTemplate: {apiVersion: messaging.knative.dev/v1beta1, kind: "
              "KafkaChannel}\n  steps:\n  - uri: 'http://127.0.0.1:9/1'\n",
              "spec.channelTemplate: is immutable");
    /* deleting the Sequence deletes what it built */
    ck_assert_int_eq(del(r, "sequence", "s").status, HD_E_OK);
    ck_assert_ptr_null(hd_resources_channel(r, "default", 7, "s-kn-sequence-0", 15));
    ck_assert_ptr_null(hd_resources_subscription(r, "default", "s-kn-sequence-0"));
    ck_assert_int_eq(seen.brokers_dropped, 3);
    hd_resources_close(r);
}
END_TEST

START_TEST(flow_status_names_the_step)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
                "spec:\n  steps:\n  - uri: 'http://127.0.0.1:9/1'\n"
                "  - ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: second}\n");
    char msg[900];
    ready_of(r, "sequences", "s", "False", "SubscriptionsNotReady", msg, sizeof msg);
    ck_assert_msg(
        strstr(msg, "step 1 (Subscription default/s-kn-sequence-1)") &&
            strstr(msg, "Service \"default/second\" (serving.knative.dev/v1) does not exist"),
        "%s", msg);
    apply_ok(r,
             "apiVersion: flows.knative.dev/v1\nkind: Parallel\nmetadata: {name: p}\n"
             "spec:\n  branches:\n  - subscriber: {uri: 'http://127.0.0.1:9/1'}\n"
             "  - filter: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: nope}}\n"
             "    subscriber: {uri: 'http://127.0.0.1:9/2'}\n");
    ready_of(r, "parallels", "p", "False", "SubscriptionsNotReady", msg, sizeof msg);
    ck_assert_msg(strstr(msg, "branch 1 filter"), "%s", msg);
    hd_resources_close(r);
}
END_TEST

START_TEST(bad_input_is_refused)
{
    hd_resources_t *r = open_mem();
    apply_err(r, SUB("s", "c", ""), "spec.subscriber: required unless spec.reply is set");
    apply_err(r,
              "apiVersion: messaging.knative.dev/v1\nkind: Subscription\nmetadata: {name: s}\n"
              "spec:\n  channel: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: b}\n"
              "  subscriber: {uri: 'http://127.0.0.1:9/'}\n",
              "spec.channel.kind: 'Broker' is not a channel kind");
    apply_err(r,
              "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: {name: c}\n"
              "spec:\n  channelTemplate: {apiVersion: x/v1, kind: PigeonChannel}\n",
              "spec.channelTemplate.kind: 'PigeonChannel' is not a channel kind");
    apply_err(r,
              "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\nspec: {}\n",
              "spec.steps: a Sequence needs at least one step");
    apply_err(r,
              "apiVersion: flows.knative.dev/v1\nkind: Parallel\nmetadata: {name: p}\n"
              "spec:\n  branches:\n  - filter: {uri: 'http://127.0.0.1:9/'}\n",
              "spec.branches[0].subscriber: required");
    apply_err(
        r,
        "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
        "spec:\n  steps:\n  - ref: {apiVersion: flows.knative.dev/v1, kind: Sequence, name: s}\n",
        "a cycle");
    /* a Channel's template cannot change; the default is spelled out */
    apply_ok(r, "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: {name: c}\n");
    char buf[128];
    cJSON *o = hd_resources_get_json(r, "channels", "default", "c");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "channelTemplate"),
                            "kind")
            ->valuestring,
        "InMemoryChannel");
    cJSON_Delete(o);
    apply_err(r,
              "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: {name: c}\n"
              "spec:\n  channelTemplate: {apiVersion: messaging.knative.dev/v1beta1, kind: "
              "KafkaChannel}\n",
              "spec.channelTemplate: is immutable");
    /* one name cannot be both a Channel and an InMemoryChannel: they would share an address */
    apply_err(r, IMC("c"), "Channel \"default/c\" already exists");
    /* a Channel on KafkaChannel applies and says why it does not run */
    apply_ok(r, "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: {name: k}\n"
                "spec:\n  channelTemplate: {apiVersion: messaging.knative.dev/v1beta1, kind: "
                "KafkaChannel}\n");
    ready_of(r, "channels", "k", "False", "ChannelTemplateNotSupported", buf, sizeof buf);
    /* a subscription's channel is immutable */
    apply_ok(r, IMC("c2") "---\n" SUB("s", "c2", "  subscriber: {uri: 'http://127.0.0.1:9/'}\n"));
    apply_err(r,
              "apiVersion: messaging.knative.dev/v1\nkind: Subscription\nmetadata: {name: s}\n"
              "spec:\n  channel: {apiVersion: messaging.knative.dev/v1, kind: Channel, name: c}\n"
              "  subscriber: {uri: 'http://127.0.0.1:9/'}\n",
              "spec.channel: is immutable");
    hd_resources_close(r);
}
END_TEST

/* Registering replays what exists, so the order modules open in does not matter. */
START_TEST(observe_replays_state)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, IMC("c") "---\n" SUB("s", "c", "  subscriber: {uri: 'http://127.0.0.1:9/'}\n"));
    seen_t late = {0};
    ck_assert_int_eq(hd_resources_observe(r, &OBS, &late), HD_E_OK);
    ck_assert_int_eq(late.brokers_added, 1);
    ck_assert_int_eq(late.added, 1);
    hd_resources_unobserve(r, &OBS, &late);
    ck_assert_int_eq(del(r, "subscription", "s").status, HD_E_OK);
    ck_assert_int_eq(late.removed, 0);
    ck_assert_int_eq(seen.forgotten, 1);
    hd_resources_close(r);
}
END_TEST

/* Runs the loop until the store answered `n` calls of o (apply and delete answer from the store's
 * commit when there is one). */
static void wait_calls(uv_loop_t *loop, const res_t *o, int n)
{
    uint64_t start = hd_now_ms();
    while (o->calls < n && hd_now_ms() - start < 10000)
        uv_run(loop, UV_RUN_ONCE);
    ck_assert_int_eq(o->calls, n);
    ck_assert_msg(o->status == HD_E_OK, "store: %s", o->error);
}

/* The ids of a Sequence's children: channel i, then subscription i. */
static void child_ids(hd_resources_t *r, uint32_t ids[4])
{
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "s-kn-sequence-%d", i);
        hd_broker_t *c = hd_resources_channel(r, "default", 7, name, strlen(name));
        hd_trigger_t *t = hd_resources_subscription(r, "default", name);
        ck_assert_msg(c && t, "%s missing", name);
        ids[2 * i] = c->id;
        ids[2 * i + 1] = t->id;
    }
}

/* After a restart the Sequence is re-expanded from its stored spec and its stored children come
 * back with their ids, Ready and wired (step 0 replies into channel 1 in process); deleting it
 * then deletes them, in the store too. */
START_TEST(sequence_survives_reopen)
{
    char dir[] = "/tmp/herald-seq-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t so = {.data_dir = dir,
                         .durability = HD_DURABILITY_NONE,
                         .map_size_initial = 1 << 20,
                         .map_size_max = 64 << 20,
                         .queue_max = 64};
    uint32_t ids[4] = {0};
    for (int round = 0; round < 3; round++) {
        hd_lmdb_t *lm = NULL;
        ck_assert_int_eq(hd_lmdb_open(&loop, &so, &lm), HD_E_OK);
        hd_resources_t *r = NULL;
        ck_assert_int_eq(hd_resources_open(NULL, hd_lmdb_state(lm), &r), HD_E_OK);
        memset(&seen, 0, sizeof seen);
        ck_assert_int_eq(hd_resources_observe(r, &OBS, &seen), HD_E_OK);
        if (round == 0) {
            const char *y =
                "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s}\n"
                "spec:\n  steps:\n  - uri: 'http://127.0.0.1:9/1'\n"
                "  - uri: 'http://127.0.0.1:9/2'\n";
            res_t a = {0};
            hd_resources_apply(r, y, strlen(y), done, &a);
            wait_calls(&loop, &a, 1);
            child_ids(r, ids);
        } else if (round == 1) {
            /* the dispatcher would learn both channels and both subscriptions, bound */
            ck_assert_int_eq(seen.brokers_added, 2);
            ck_assert_int_eq(seen.added, 2);
            uint32_t again[4];
            child_ids(r, again);
            for (int i = 0; i < 4; i++)
                ck_assert_uint_eq(again[i], ids[i]);
            for (int i = 0; i < 2; i++) {
                char name[32];
                snprintf(name, sizeof name, "s-kn-sequence-%d", i);
                ready_of(r, "inmemorychannels", name, "True", "ChannelReady", NULL, 0);
                ready_of(r, "subscriptions", name, "True", "SubscriptionReady", NULL, 0);
            }
            ready_of(r, "sequences", "s", "True", "SequenceReady", NULL, 0);
            char buf[256];
            ck_assert_str_eq(status_str(r, "sequences", "s", "address", "url", buf, sizeof buf),
                             "http://127.0.0.1:8080/default/channels/s-kn-sequence-0");
            ck_assert_uint_eq(hd_resources_subscription(r, "default", "s-kn-sequence-0")->reply_log,
                              ids[2]);
            /* still the Sequence's: not deleted directly */
            ck_assert_int_eq(del(r, "subscription", "s-kn-sequence-1").status, HD_E_INVAL);
            res_t d = {0};
            hd_resources_delete(r, "sequence", "default", "s", done, &d);
            wait_calls(&loop, &d, 1);
            ck_assert_ptr_null(hd_resources_channel(r, "default", 7, "s-kn-sequence-0", 15));
            ck_assert_ptr_null(hd_resources_channel(r, "default", 7, "s-kn-sequence-1", 15));
            ck_assert_ptr_null(hd_resources_subscription(r, "default", "s-kn-sequence-0"));
            ck_assert_ptr_null(hd_resources_subscription(r, "default", "s-kn-sequence-1"));
            ck_assert_int_eq(seen.brokers_dropped, 2);
            /* each subscription's progress is forgotten once, with its channel */
            ck_assert_int_eq(seen.forgotten, 2);
        } else {
            /* the deletion was stored: nothing comes back */
            cJSON *all = hd_resources_list_json(r, NULL, NULL);
            ck_assert_int_eq(cJSON_GetArraySize(all), 0);
            cJSON_Delete(all);
            ck_assert_int_eq(seen.brokers_added, 0);
        }
        hd_resources_close(r);
        hd_lmdb_close(lm);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channels");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, channel_and_subscriptions);
    tcase_add_test(tc, subscription_waits_for_its_channel);
    tcase_add_test(tc, local_destinations_in_process);
    tcase_add_test(tc, sequence_builds_and_owns_its_children);
    tcase_add_test(tc, flow_status_names_the_step);
    tcase_add_test(tc, bad_input_is_refused);
    tcase_add_test(tc, observe_replays_state);
    tcase_add_test(tc, sequence_survives_reopen);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
