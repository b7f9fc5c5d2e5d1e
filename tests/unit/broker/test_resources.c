/* test_resources.c — the control plane: apply-time validation with messages naming document and
 * field, Ready conditions and their reasons, references resolved when their target appears,
 * delivery precedence, generations, other kinds, and persistence across a reopen (real LMDB). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hd_resources.h"
#include "hd_lmdb.h"
#include "resources_internal.h"

typedef struct {
    int calls;
    hd_err_t status;
    char error[4096];
    cJSON *result;
} res_t;

static void done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    res_t *r = arg;
    r->calls++;
    r->status = status;
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    cJSON_Delete(r->result);
    r->result = result ? cJSON_Duplicate(result, 1) : NULL;
}

static hd_resources_t *open_mem(void)
{
    hd_resources_t *r = NULL;
    ck_assert_int_eq(hd_resources_open(NULL, NULL, &r), HD_E_OK);
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
    cJSON_Delete(o.result);
}

static void apply_err(hd_resources_t *r, const char *yaml, const char *expect)
{
    res_t o = apply(r, yaml);
    ck_assert_int_eq(o.status, HD_E_INVAL);
    ck_assert_msg(strstr(o.error, expect), "error '%s' lacks '%s'", o.error, expect);
    ck_assert_ptr_null(o.result);
}

/* The Ready condition of a resource: status "True"/"False" and reason, message copied out. */
static void ready_of(hd_resources_t *r, const char *plural, const char *ns, const char *name,
                     char *status, char *reason, char *message)
{
    cJSON *o = hd_resources_get_json(r, plural, ns, name);
    ck_assert_msg(o != NULL, "%s %s/%s missing", plural, ns, name);
    cJSON *c;
    bool found = false;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "conditions"))
    {
        if (!strcmp(cJSON_GetObjectItem(c, "type")->valuestring, "Ready")) {
            strcpy(status, cJSON_GetObjectItem(c, "status")->valuestring);
            strcpy(reason, cJSON_GetObjectItem(c, "reason")->valuestring);
            cJSON *m = cJSON_GetObjectItem(c, "message");
            snprintf(message, 512, "%s", m ? m->valuestring : ""); /* callers' msg[512] */
            found = true;
        }
    }
    ck_assert(found);
    cJSON_Delete(o);
}

#define BROKER(ns, name)                                                                           \
    "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: " name                  \
    "\n  namespace: " ns "\n"
#define TRIGGER(ns, name, broker, extra)                                                           \
    "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: " name                 \
    "\n  namespace: " ns "\nspec:\n  broker: " broker "\n" extra
#define SUB_URI "  subscriber:\n    uri: http://127.0.0.1:9999/hook\n"

START_TEST(broker_and_trigger_ready)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, BROKER("ns1", "default") "---\n" TRIGGER(
                    "ns1", "t1", "default", SUB_URI "  filters:\n  - exact: {type: a.b}\n"));
    hd_broker_t *b = hd_resources_broker(r, "ns1", 3, "default", 7);
    ck_assert_ptr_nonnull(b);
    ck_assert(b->ready);
    ck_assert_str_eq(b->address_url, "http://127.0.0.1:8080/ns1/default");
    ck_assert_ptr_eq(hd_resources_broker_by_id(r, b->id), b);
    hd_trigger_t *t = hd_resources_trigger(r, "ns1", "t1");
    ck_assert_ptr_nonnull(t);
    ck_assert(t->ready);
    ck_assert_ptr_eq(t->broker, b);
    ck_assert_str_eq(t->subscriber_uri, "http://127.0.0.1:9999/hook");
    ck_assert_ptr_nonnull(t->filter);
    ck_assert_uint_ne(t->id, b->id);
    ck_assert_ptr_eq(hd_resources_trigger_by_id(r, t->id), t);
    ck_assert_int_eq((int)hd_router_count(b->router), 1);
    char st[16], reason[64], msg[512];
    ready_of(r, "brokers", "ns1", "default", st, reason, msg);
    ck_assert_str_eq(st, "True");
    cJSON *o = hd_resources_get_json(r, "broker", "ns1", "default");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "address"), "url")
            ->valuestring,
        "http://127.0.0.1:8080/ns1/default");
    cJSON *md = cJSON_GetObjectItem(o, "metadata");
    ck_assert_int_eq(cJSON_GetObjectItem(md, "generation")->valueint, 1);
    ck_assert_int_eq((int)strlen(cJSON_GetObjectItem(md, "uid")->valuestring), 36);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(md, "creationTimestamp"));
    cJSON_Delete(o);
    ready_of(r, "Trigger", "ns1", "t1", st, reason, msg);
    ck_assert_str_eq(st, "True");
    hd_resources_close(r);
}
END_TEST

START_TEST(trigger_waits_for_broker)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, TRIGGER("default", "early", "later", SUB_URI));
    char st[16], reason[64], msg[512];
    ready_of(r, "triggers", "default", "early", st, reason, msg);
    ck_assert_str_eq(st, "False");
    ck_assert_str_eq(reason, "BrokerDoesNotExist");
    ck_assert_msg(strstr(msg, "Broker \"default/later\" does not exist"), "%s", msg);
    hd_trigger_t *t = hd_resources_trigger(r, "default", "early");
    ck_assert(!t->ready);
    ck_assert_ptr_null(t->broker);

    apply_ok(r, BROKER("default", "later"));
    ready_of(r, "triggers", "default", "early", st, reason, msg);
    ck_assert_str_eq(st, "True");
    ck_assert(t->ready);
    ck_assert_ptr_nonnull(t->broker);
    ck_assert_int_eq((int)hd_router_count(t->broker->router), 1);

    res_t d = {0};
    hd_resources_delete(r, "brokers", "default", "later", done, &d);
    ck_assert_int_eq(d.status, HD_E_OK);
    cJSON_Delete(d.result);
    ready_of(r, "triggers", "default", "early", st, reason, msg);
    ck_assert_str_eq(reason, "BrokerDoesNotExist");
    ck_assert_ptr_null(t->broker);
    hd_resources_close(r);
}
END_TEST

START_TEST(subscriber_refs)
{
    hd_resources_t *r = open_mem();
    apply_ok(r,
             BROKER("default", "a") "---\n" TRIGGER("default", "fwd", "a",
                                                    "  subscriber:\n    ref:\n      apiVersion: "
                                                    "eventing.knative.dev/v1\n      kind: Broker\n"
                                                    "      name: b\n    uri: /extra\n"));
    char st[16], reason[64], msg[512];
    ready_of(r, "triggers", "default", "fwd", st, reason, msg);
    ck_assert_str_eq(reason, "SubscriberResolveFailed");
    ck_assert_msg(strstr(msg, "Broker \"default/b\" does not exist"), "%s", msg);
    /* not ready => not routed nor dispatched: the dispatcher never sees a NULL subscriber */
    hd_trigger_t *t = hd_resources_trigger(r, "default", "fwd");
    ck_assert(!t->ready);
    ck_assert_ptr_null(t->broker);
    ck_assert_int_eq((int)hd_router_count(hd_resources_broker(r, "default", 7, "a", 1)->router), 0);
    apply_ok(r, BROKER("default", "b"));
    ck_assert(t->ready);
    ck_assert_ptr_eq(t->broker, hd_resources_broker(r, "default", 7, "a", 1));
    ck_assert_int_eq((int)hd_router_count(t->broker->router), 1);
    ck_assert_str_eq(t->subscriber_uri, "http://127.0.0.1:8080/default/b/extra");
    /* the subscriber's broker goes away: unbound again, with a reason */
    res_t d = {0};
    hd_resources_delete(r, "brokers", "default", "b", done, &d);
    ck_assert_int_eq(d.status, HD_E_OK);
    cJSON_Delete(d.result);
    ck_assert(!t->ready);
    ck_assert_ptr_null(t->broker);
    ck_assert_ptr_null(t->subscriber_uri);
    ready_of(r, "triggers", "default", "fwd", st, reason, msg);
    ck_assert_str_eq(reason, "SubscriberResolveFailed");
    apply_ok(r, BROKER("default", "b"));
    ck_assert(t->ready);

    /* a Service: stored, not run => has no address until its module sets one */
    apply_ok(
        r, TRIGGER(
               "default", "svc", "a",
               "  subscriber:\n    ref: {apiVersion: serving.knative.dev/v1, kind: "
               "Service, name: hello}\n") "---\n"
                                          "apiVersion: serving.knative.dev/v1\nkind: "
                                          "Service\nmetadata: {name: hello}\n"
                                          "spec: {template: {spec: {containers: [{image: x}]}}}\n");
    ready_of(r, "services", "default", "hello", st, reason, msg);
    ck_assert_str_eq(st, "False");
    ck_assert_str_eq(reason, "NotImplemented");
    ready_of(r, "triggers", "default", "svc", st, reason, msg);
    ck_assert_str_eq(reason, "SubscriberResolveFailed");
    ck_assert_msg(strstr(msg, "has no address"), "%s", msg);
    ck_assert_int_eq(hd_resources_set_status(r, "Service", "default", "hello", true, "Ready",
                                             "running", "http://127.0.0.1:7000"),
                     HD_E_OK);
    ready_of(r, "triggers", "default", "svc", st, reason, msg);
    ck_assert_str_eq(st, "True");
    ck_assert_str_eq(hd_resources_trigger(r, "default", "svc")->subscriber_uri,
                     "http://127.0.0.1:7000");
    hd_resources_close(r);
}
END_TEST

/* ---- Kubernetes v1 Services as destinations ---------------------------------------------- */

/* The condition `type` of a resource: its status ("True"/"False") and its message (owned). */
static char *condition_of(hd_resources_t *r, const char *plural, const char *ns, const char *name,
                          const char *type, char *status, char *severity)
{
    cJSON *o = hd_resources_get_json(r, plural, ns, name);
    ck_assert_msg(o != NULL, "%s %s/%s missing", plural, ns, name);
    char *msg = NULL;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "conditions"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "type")->valuestring, type))
            continue;
        strcpy(status, cJSON_GetObjectItem(c, "status")->valuestring);
        cJSON *sv = cJSON_GetObjectItem(c, "severity");
        if (severity)
            strcpy(severity, sv ? sv->valuestring : "");
        cJSON *m = cJSON_GetObjectItem(c, "message");
        msg = strdup(m ? m->valuestring : "");
    }
    cJSON_Delete(o);
    ck_assert_msg(msg != NULL, "%s %s/%s has no condition %s", plural, ns, name, type);
    return msg;
}

#define SVC_REF(name) "  subscriber:\n    ref: {apiVersion: v1, kind: Service, name: " name "}\n"

START_TEST(v1_service_refs_resolve)
{
    hd_resources_t *r = open_mem();
    apply_ok(r,
             BROKER("default", "b") "---\n" TRIGGER("default", "t", "b", SVC_REF("event-display")));
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    ck_assert(!t->ready);
    char st[16];
    char *msg = condition_of(r, "triggers", "default", "t", "Ready", st, NULL);
    ck_assert_str_eq(st, "False");
    /* the message names the three ways, each with something to copy */
    ck_assert_msg(strstr(msg, "Service \"default/event-display\" (v1) does not exist") &&
                      strstr(msg, "{apiVersion: v1, kind: Service, metadata: {name: "
                                  "event-display, namespace: default, annotations: "
                                  "{herald.dev/url: \"http://127.0.0.1:9000/\"}}}") &&
                      strstr(msg, "type: ExternalName, externalName: HOST") &&
                      strstr(msg, "services: {default/event-display: \"http://127.0.0.1:9000/\"}"),
                  "%s", msg);
    free(msg);

    /* (1) the annotation */
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata:\n  name: event-display\n  annotations:\n"
                "    herald.dev/url: http://127.0.0.1:9000/\nspec:\n  selector: {app: x}\n"
                "  ports: [{port: 80, targetPort: 8080}]\n");
    ck_assert(t->ready);
    ck_assert_str_eq(t->subscriber_uri, "http://127.0.0.1:9000/");
    msg = condition_of(r, "svc", "default", "event-display", "Ready", st, NULL);
    ck_assert_str_eq(st, "True");
    free(msg);
    /* a relative uri with the ref is joined to its address */
    apply_ok(r, TRIGGER("default", "t2", "b",
                        "  subscriber:\n    ref: {apiVersion: v1, kind: Service, name: "
                        "event-display}\n    uri: /hook\n"));
    ck_assert_str_eq(hd_resources_trigger(r, "default", "t2")->subscriber_uri,
                     "http://127.0.0.1:9000/hook");
    /* deleting the Service unresolves the ref again */
    res_t d = {0};
    hd_resources_delete(r, "svc", "default", "event-display", done, &d);
    ck_assert_int_eq(d.status, HD_E_OK);
    cJSON_Delete(d.result);
    ck_assert(!t->ready);
    ck_assert_ptr_null(t->subscriber_uri);

    /* (2) ExternalName: the port named http wins over the first */
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata: {name: event-display}\nspec:\n"
                "  type: ExternalName\n  externalName: localhost\n"
                "  ports: [{name: metrics, port: 9090}, {name: http, port: 8081}]\n");
    ck_assert(t->ready);
    ck_assert_str_eq(t->subscriber_uri, "http://localhost:8081");
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata: {name: event-display}\nspec:\n"
                "  type: ExternalName\n  externalName: display.example.com\n"
                "  ports: [{port: 443}]\n");
    ck_assert_str_eq(t->subscriber_uri, "https://display.example.com");

    /* a plain Service without an address: it exists but Herald cannot reach it */
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata: {name: event-display}\nspec:\n"
                "  ports: [{port: 80}]\n");
    ck_assert(!t->ready);
    msg = condition_of(r, "triggers", "default", "t", "Ready", st, NULL);
    ck_assert_msg(strstr(msg, "has no address Herald can reach") && strstr(msg, "herald.dev/url"),
                  "%s", msg);
    free(msg);
    msg = condition_of(r, "svc", "default", "event-display", "Ready", st, NULL);
    ck_assert_str_eq(st, "False");
    free(msg);

    /* a Knative Service says it waits for Serving and what to do meanwhile */
    apply_ok(r, TRIGGER("default", "k", "b",
                        "  subscriber:\n    ref: {apiVersion: serving.knative.dev/v1, kind: "
                        "Service, name: event-display}\n"));
    msg = condition_of(r, "triggers", "default", "k", "Ready", st, NULL);
    ck_assert_msg(strstr(msg, "does not run Knative Serving") &&
                      strstr(msg, "ref: {apiVersion: v1, kind: Service, name: event-display}") &&
                      strstr(msg, "herald.dev/url"),
                  "%s", msg);
    free(msg);

    /* bad Services are refused at apply */
    apply_err(r,
              "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  annotations:\n"
              "    herald.dev/url: not-a-url\n",
              "metadata.annotations.herald.dev/url: 'not-a-url' is not an absolute");
    apply_err(r, "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ExternalName}\n",
              "spec.externalName: required with type ExternalName");
    apply_err(r, "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{name: a}]}\n",
              "spec.ports[0].port: required");
    hd_resources_close(r);
}
END_TEST

START_TEST(v1_service_refs_from_services_map)
{
    static const char *const services[] = {"default/mapped=http://127.0.0.1:7000/in",
                                           "bare=http://127.0.0.1:7001"};
    hd_resources_opts_t o = {.services = services, .service_count = 2};
    hd_resources_t *r = NULL;
    ck_assert_int_eq(hd_resources_open(&o, NULL, &r), HD_E_OK);
    apply_ok(
        r,
        BROKER("default", "b") "---\n" TRIGGER(
            "default", "t", "b",
            SVC_REF(
                "mapped")) "---\n" BROKER("other",
                                          "b") "---\n" TRIGGER("other", "t", "b",
                                                               SVC_REF(
                                                                   "bare")) "---\n" TRIGGER("other",
                                                                                            "u",
                                                                                            "b",
                                                                                            SVC_REF(
                                                                                                "ma"
                                                                                                "pp"
                                                                                                "e"
                                                                                                "d")));
    ck_assert_str_eq(hd_resources_trigger(r, "default", "t")->subscriber_uri,
                     "http://127.0.0.1:7000/in");
    ck_assert_str_eq(hd_resources_trigger(r, "other", "t")->subscriber_uri,
                     "http://127.0.0.1:7001");
    /* "default/mapped" is for namespace default only */
    ck_assert(!hd_resources_trigger(r, "other", "u")->ready);
    /* a plain Service named in the map takes the map's address; the annotation wins over it */
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata: {name: mapped}\nspec: {ports: [{port: "
                "80}]}\n");
    ck_assert_str_eq(hd_resources_trigger(r, "default", "t")->subscriber_uri,
                     "http://127.0.0.1:7000/in");
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata:\n  name: mapped\n  annotations: "
                "{herald.dev/url: 'http://127.0.0.1:7002'}\n");
    ck_assert_str_eq(hd_resources_trigger(r, "default", "t")->subscriber_uri,
                     "http://127.0.0.1:7002");
    hd_resources_close(r);
    /* a bad entry fails the open */
    static const char *const bad[] = {"x=ftp://h/"};
    o.services = bad;
    o.service_count = 1;
    r = NULL;
    ck_assert_int_eq(hd_resources_open(&o, NULL, &r), HD_E_CONFIG);
    ck_assert_ptr_null(r);
}
END_TEST

START_TEST(unresolved_dead_letter_sink_does_not_stop_delivery)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\nspec:\n"
                "  delivery:\n    deadLetterSink:\n      ref: {apiVersion: v1, kind: Service, "
                "name: dls}\n---\n" TRIGGER("default", "t", "b", SUB_URI));
    hd_broker_t *b = hd_resources_broker(r, "default", 7, "b", 1);
    ck_assert(b->ready);
    char st[16], sev[16];
    char *msg = condition_of(r, "brokers", "default", "b", "Ready", st, NULL);
    ck_assert_str_eq(st, "True");
    ck_assert_msg(strstr(msg, "the dead-letter sink does not resolve"), "%s", msg);
    free(msg);
    msg = condition_of(r, "brokers", "default", "b", "DeadLetterSinkResolved", st, sev);
    ck_assert_str_eq(st, "False");
    ck_assert_str_eq(sev, "Warning");
    ck_assert_msg(strstr(msg, "Service \"default/dls\" (v1) does not exist"), "%s", msg);
    free(msg);
    /* the trigger is bound and delivers; events that exhaust retries wait for the sink */
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    ck_assert(t->ready);
    ck_assert_ptr_eq(t->broker, b);
    ck_assert(t->delivery.dead_letter_unresolved);
    ck_assert_ptr_null(t->delivery.dead_letter_uri);
    msg = condition_of(r, "triggers", "default", "t", "DeadLetterSinkResolved", st, sev);
    ck_assert_str_eq(st, "False");
    ck_assert_str_eq(sev, "Warning");
    ck_assert_msg(strstr(msg, "Broker \"default/b\"") && strstr(msg, "herald.dev/url"), "%s", msg);
    free(msg);
    /* a trigger's own unresolved sink is waited for too (not replaced by the broker's) */
    apply_ok(r, TRIGGER("default", "own", "b",
                        SUB_URI "  delivery:\n    deadLetterSink:\n      ref: {apiVersion: v1, "
                                "kind: Service, name: own-dls}\n"));
    hd_trigger_t *own = hd_resources_trigger(r, "default", "own");
    ck_assert(own->ready);
    ck_assert(own->delivery.dead_letter_unresolved);
    /* the Service appears: the sink resolves */
    apply_ok(r, "apiVersion: v1\nkind: Service\nmetadata:\n  name: dls\n  annotations: "
                "{herald.dev/url: 'http://127.0.0.1:7100/'}\n");
    ck_assert(!t->delivery.dead_letter_unresolved);
    ck_assert_str_eq(t->delivery.dead_letter_uri, "http://127.0.0.1:7100/");
    ck_assert(own->delivery.dead_letter_unresolved);
    msg = condition_of(r, "triggers", "default", "t", "DeadLetterSinkResolved", st, sev);
    ck_assert_str_eq(st, "True");
    free(msg);
    hd_resources_close(r);
}
END_TEST

START_TEST(herald_delivery_fields_as_annotations)
{
    hd_resources_t *r = open_mem();
    apply_ok(
        r, BROKER("default",
                  "b") "---\n"
                       "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\n"
                       "  annotations:\n    herald.dev/delivery.maxInFlight: \"7\"\n"
                       "    herald.dev/delivery.ordering: ordered\n"
                       "    herald.dev/delivery.backoffMax: PT10S\n"
                       "spec:\n  broker: b\n" SUB_URI "  delivery: {retry: 2, maxInFlight: 3}\n");
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    ck_assert_uint_eq(t->delivery.max_in_flight, 3); /* spec.delivery wins */
    ck_assert_int_eq(t->delivery.ordering, HD_ORDER_ORDERED);
    ck_assert_uint_eq(t->delivery.backoff_max_ms, 10000);
    ck_assert_uint_eq(t->delivery.retry, 2);
    apply_err(
        r,
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\n"
        "  annotations: {herald.dev/delivery.maxInFlight: \"0\"}\nspec:\n  broker: b\n" SUB_URI,
        "metadata.annotations.herald.dev/delivery.maxInFlight: must be an integer from 1");
    apply_err(r,
              "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\n"
              "  annotations: {herald.dev/delivery.retry: \"1\"}\nspec:\n  broker: b\n" SUB_URI,
              "metadata.annotations.herald.dev/delivery.retry: unknown");
    hd_resources_close(r);
}
END_TEST

START_TEST(validation_errors_name_document_and_field)
{
    hd_resources_t *r = open_mem();
    apply_err(r,
              BROKER("default", "ok") "---\n" TRIGGER(
                  "default", "t", "ok", SUB_URI "  filters:\n  - cesql: \"type = 'a' AND\"\n"),
              "document 2 (Trigger default/t): spec.filters[0].cesql: invalid CESQL expression at "
              "position");
    /* nothing of a failed apply is applied, not even the valid first document */
    ck_assert_ptr_null(hd_resources_broker(r, "default", 7, "ok", 2));
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  filters:\n  - regex: {type: a}\n"),
              "spec.filters[0]: unknown filter dialect 'regex'");
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  filters:\n  - exact: {type: \"\"}\n"),
              "spec.filters[0].exact.type: value is empty");
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  delivery:\n    backoffDelay: 5s\n"),
              "spec.delivery.backoffDelay: '5s' is not an ISO 8601 duration");
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  delivery:\n    timeout: PT1S1S\n"),
              "spec.delivery.timeout: 'PT1S1S' is not an ISO 8601 duration");
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  delivery:\n    retry: -1\n"),
              "spec.delivery.retry: must be an integer from 0");
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  delivery:\n    timeout: PT0S\n"),
              "spec.delivery.timeout: must be greater than zero");
    apply_err(r, TRIGGER("default", "t", "b", "  subscriber:\n    uri: localhost:80/x\n"),
              "spec.subscriber.uri: 'localhost:80/x' is not an absolute http:// or https:// URL");
    apply_err(r, TRIGGER("default", "t", "b", ""), "spec.subscriber: required");
    apply_err(r,
              TRIGGER("default", "t", "b",
                      SUB_URI "  delivery:\n    deadLetterSink:\n"
                              "      uri: ftp://x\n"),
              "spec.delivery.deadLetterSink.uri");
    /* a sink parsed before the bad field is freed (the ASan build checks) */
    apply_err(r,
              TRIGGER("default", "t", "b",
                      SUB_URI "  delivery:\n    deadLetterSink:\n"
                              "      uri: http://127.0.0.1:1/\n"
                              "    retry: x\n"),
              "spec.delivery.retry: must be an integer");
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  delivery:\n    retries: 3\n"),
              "spec.delivery.retries: unknown field");
    apply_err(r, "apiVersion: eventing.knative.dev/v1\nkind: Brokr\nmetadata: {name: x}\n",
              "kind: 'Brokr' is not a kind Herald knows");
    apply_err(r, "apiVersion: serving.knative.dev/v1\nkind: Broker\nmetadata: {name: x}\n",
              "apiVersion: 'serving.knative.dev/v1' does not serve kind Broker (served: "
              "eventing.knative.dev/v1)");
    apply_err(r, "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: Bad_Name}\n",
              "metadata.name: 'Bad_Name' is not a DNS-1123 name");
    apply_err(r, "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {}\n",
              "document 1: metadata.name: required");
    apply_err(r, "kind: [\n", "document 1: line");
    apply_err(r, "", "no documents");
    /* broker is immutable */
    apply_ok(r, TRIGGER("default", "imm", "b1", SUB_URI));
    apply_err(r, TRIGGER("default", "imm", "b2", SUB_URI), "spec.broker: is immutable");
    hd_resources_close(r);
}
END_TEST

/* Applies yaml, expecting one HD_E_INVAL whose message names every one of the NULL-terminated
 * expected strings. */
static void apply_errs(hd_resources_t *r, const char *yaml, ...)
{
    res_t o = apply(r, yaml);
    ck_assert_int_eq(o.status, HD_E_INVAL);
    ck_assert_ptr_null(o.result);
    va_list ap;
    va_start(ap, yaml);
    for (const char *e = va_arg(ap, const char *); e; e = va_arg(ap, const char *))
        ck_assert_msg(strstr(o.error, e), "error '%s' lacks '%s'", o.error, e);
    va_end(ap);
}

/* Every kind reports every error of its document in one answer, not only the first of its
 * spec: the same collector runs through metadata, spec fields, Destinations, DeliverySpecs,
 * flows and a flow's children. */
START_TEST(every_error_of_every_kind)
{
    hd_resources_t *r = open_mem();
    apply_errs(r,
               BROKER("ns1", "b") "  lables: {a: b}\nspec:\n  extra: 1\n"
                                  "  delivery:\n    retry: -1\n    backoffPolicy: sideways\n"
                                  "    deadLetterSink: {uri: not-a-url}\n",
               "metadata.lables: unknown field", "spec.extra: unknown field",
               "spec.delivery.retry: must be an integer", "spec.delivery.backoffPolicy: must be",
               "spec.delivery.deadLetterSink.uri: 'not-a-url'", NULL);
    apply_errs(r,
               "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: {name: c}\n"
               "spec:\n  channelTemplate: {apiVersion: x/v1, kind: Queue}\n  bogus: 1\n"
               "  delivery: {timeout: PT0S, ordering: random}\n",
               "spec.bogus: unknown field", "spec.channelTemplate.kind: 'Queue'",
               "spec.delivery.timeout: must be greater than zero",
               "spec.delivery.ordering: must be", NULL);
    apply_errs(r,
               "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: {name: c}\n"
               "spec:\n  channelTemplate: {}\n  delivery: {retry: x, format: xml}\n",
               "spec.channelTemplate: unknown field", "spec.delivery.retry: must be an integer",
               "spec.delivery.format: must be", NULL);
    apply_errs(r,
               "apiVersion: messaging.knative.dev/v1\nkind: Subscription\nmetadata: {name: s}\n"
               "spec:\n  channel: {apiVersion: messaging.knative.dev/v1, kind: Trigger, name: c,"
               " namespace: other}\n"
               "  subscriber: {uri: not-a-url, extra: 1}\n  reply: {ref: {kind: Broker}}\n"
               "  delivery: {maxInFlight: 0}\n",
               "spec.channel.kind: 'Trigger'", "spec.channel.namespace: a subscription must",
               "spec.subscriber.extra: unknown field", "spec.subscriber.uri: 'not-a-url'",
               "spec.reply.ref.name: required", "spec.delivery.maxInFlight: must be", NULL);
    apply_errs(r,
               "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n"
               "  annotations: {herald.dev/url: nope}\n"
               "spec:\n  type: Magic\n  ports: [{port: 0}, {port: 70000}]\n  foo: 1\n",
               "metadata.annotations.herald.dev/url: 'nope'", "spec.foo: unknown field",
               "spec.type: must be", "spec.ports[0].port", "spec.ports[1].port", NULL);
    apply_errs(r,
               "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata:\n  name: q\n"
               "  labels: {n: 1}\nspec:\n"
               "  channelTemplate: {apiVersion: messaging.knative.dev/v1, kind: Queue}\n"
               "  steps:\n  - uri: not-a-url\n  - ref: {kind: Sequence, name: q}\n"
               "    delivery: {retry: x}\n  reply: {uri: 'http://127.0.0.1:1/', bogus: 1}\n",
               "metadata.labels.n: value must be a string", "spec.channelTemplate.kind: 'Queue'",
               "spec.steps[0].uri: 'not-a-url'", "spec.steps[1].delivery.retry: must be",
               "spec.steps[1]: refers to this Sequence itself", "spec.reply.bogus: unknown field",
               NULL);
    apply_errs(r,
               "apiVersion: flows.knative.dev/v1\nkind: Parallel\nmetadata: {name: p}\nspec:\n"
               "  branches:\n  - filter: {uri: x}\n  - subscriber: {uri: 'http://127.0.0.1:1/'}\n"
               "    delivery: {timeout: 5s}\n    extra: 1\n  extra: 1\n",
               "spec.extra: unknown field", "spec.branches[0].subscriber: required",
               "spec.branches[0].filter.uri: 'x'", "spec.branches[1].extra: unknown field",
               "spec.branches[1].delivery.timeout: '5s'", NULL);
    /* a kind stored, not run: what is checked of it is reported together too */
    apply_errs(r,
               "apiVersion: sources.knative.dev/v1beta2\nkind: PingSource\n"
               "metadata: {name: Bad, labels: {a: 1}, ns: x}\nspec: {}\nextra: 1\n",
               "apiVersion: 'sources.knative.dev/v1beta2' does not serve kind PingSource",
               "metadata.ns: unknown field", "metadata.name: 'Bad'",
               "metadata.labels.a: value must be a string", "extra: unknown field", NULL);
    /* a flow's children: each one that cannot be made is named */
    apply_ok(r, "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: "
                "{name: q-kn-sequence-0}\n---\n"
                "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: "
                "{name: q-kn-sequence-1}\n");
    apply_errs(
        r,
        "apiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: q}\nspec:\n"
        "  steps:\n  - uri: 'http://127.0.0.1:1/a'\n  - uri: 'http://127.0.0.1:1/b'\n",
        "InMemoryChannel q-kn-sequence-0: metadata.name: Channel \"default/q-kn-sequence-0\"",
        "InMemoryChannel q-kn-sequence-1: metadata.name: Channel \"default/q-kn-sequence-1\"",
        NULL);
    hd_resources_close(r);
}
END_TEST

START_TEST(delivery_precedence)
{
    hd_resources_t *r = open_mem();
    apply_ok(r,
             BROKER("default", "b") "spec:\n  delivery:\n    retry: 5\n    backoffDelay: PT0.5S\n"
                                    "    deadLetterSink:\n      uri: http://127.0.0.1:1/dls\n"
                                    "---\n" TRIGGER("default", "t", "b",
                                                    SUB_URI "  delivery:\n    retry: 2\n"
                                                            "    backoffPolicy: linear\n"));
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    ck_assert_uint_eq(t->delivery.retry, 2); /* trigger wins */
    ck_assert_int_eq(t->delivery.backoff_policy, HD_BACKOFF_LINEAR);
    ck_assert_uint_eq(t->delivery.backoff_delay_ms, 500); /* broker's */
    ck_assert_str_eq(t->delivery.dead_letter_uri, "http://127.0.0.1:1/dls");
    ck_assert_uint_eq(t->delivery.timeout_ms, 30000); /* default */
    ck_assert_uint_eq(t->delivery.max_in_flight, 100);
    cJSON *o = hd_resources_get_json(r, "triggers", "default", "t");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "deadLetterSinkUri")->valuestring,
        "http://127.0.0.1:1/dls");
    cJSON_Delete(o);

    /* changing the broker's delivery changes its triggers' effective delivery */
    apply_ok(r, BROKER("default", "b") "spec:\n  delivery:\n    backoffDelay: PT2S\n"
                                       "    timeout: PT1.5S\n");
    ck_assert_uint_eq(t->delivery.backoff_delay_ms, 2000);
    ck_assert_uint_eq(t->delivery.timeout_ms, 1500);
    ck_assert_ptr_null(t->delivery.dead_letter_uri);

    hd_delivery_t tr = {0}, br = {0}, out;
    br.set = HD_DLV_RETRY | HD_DLV_MAX_IN_FLIGHT;
    br.retry = 10;
    br.max_in_flight = 7;
    tr.set = HD_DLV_MAX_IN_FLIGHT;
    tr.max_in_flight = 3;
    hd_delivery_merge(&out, &tr, &br);
    ck_assert_uint_eq(out.retry, 10);
    ck_assert_uint_eq(out.max_in_flight, 3);
    hd_delivery_merge(&out, NULL, NULL);
    ck_assert_uint_eq(out.backoff_delay_ms, 100);
    ck_assert_uint_eq(out.retry, 0);
    hd_resources_close(r);
}
END_TEST

START_TEST(generation_and_update)
{
    hd_resources_t *r = open_mem();
    apply_ok(r, BROKER("default", "b") "---\n" TRIGGER("default", "t", "b",
                                                       SUB_URI "  filter:\n    attributes:\n"
                                                               "      type: x\n"));
    cJSON *o = hd_resources_get_json(r, "triggers", "default", "t");
    char uid[64];
    strcpy(uid, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "uid")->valuestring);
    cJSON_Delete(o);
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    uint32_t id = t->id;
    apply_ok(r,
             TRIGGER("default", "t", "b", SUB_URI "  filter:\n    attributes:\n      type: x\n"));
    o = hd_resources_get_json(r, "triggers", "default", "t");
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "generation")->valueint, 1);
    cJSON_Delete(o);
    apply_ok(r,
             TRIGGER("default", "t", "b", SUB_URI "  filter:\n    attributes:\n      type: y\n"));
    o = hd_resources_get_json(r, "triggers", "default", "t");
    cJSON *md = cJSON_GetObjectItem(o, "metadata");
    ck_assert_int_eq(cJSON_GetObjectItem(md, "generation")->valueint, 2);
    ck_assert_str_eq(cJSON_GetObjectItem(md, "uid")->valuestring, uid);
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "observedGeneration")->valueint, 2);
    cJSON_Delete(o);
    /* same trigger object, same id, new filter in the router */
    ck_assert_ptr_eq(hd_resources_trigger(r, "default", "t"), t);
    ck_assert_uint_eq(t->id, id);
    ck_assert_int_eq((int)hd_router_count(t->broker->router), 1);
    const char *v;
    size_t n;
    ck_assert(hd_filter_required_exact(t->filter, "type", &v, &n));
    ck_assert(n == 1 && v[0] == 'y');
    /* ids are never reused: delete and re-create gives a new one */
    res_t d = {0};
    hd_resources_delete(r, "trigger", "default", "t", done, &d);
    ck_assert_int_eq(d.status, HD_E_OK);
    cJSON_Delete(d.result);
    ck_assert_ptr_null(hd_resources_trigger(r, "default", "t"));
    ck_assert_ptr_null(hd_resources_trigger_by_id(r, id));
    apply_ok(r, TRIGGER("default", "t", "b", SUB_URI));
    ck_assert_uint_gt(hd_resources_trigger(r, "default", "t")->id, id);
    hd_resources_close(r);
}
END_TEST

START_TEST(other_kinds_list_get_delete)
{
    hd_resources_t *r = open_mem();
    apply_ok(
        r,
        "{\"kind\":\"List\",\"items\":["
        "{\"apiVersion\":\"sources.knative.dev/v1\",\"kind\":\"PingSource\","
        "\"metadata\":{\"name\":\"p\",\"namespace\":\"z\"},\"spec\":{\"schedule\":\"* * * * *\"}},"
        "{\"apiVersion\":\"eventing.knative.dev/v1\",\"kind\":\"Broker\","
        "\"metadata\":{\"name\":\"b2\",\"namespace\":\"z\"}},"
        "{\"apiVersion\":\"eventing.knative.dev/v1\",\"kind\":\"Broker\","
        "\"metadata\":{\"name\":\"b1\",\"namespace\":\"a\"}}]}");
    char st[16], reason[64], msg[512];
    ready_of(r, "pingsources", "z", "p", st, reason, msg);
    ck_assert_str_eq(st, "False");
    ck_assert_str_eq(reason, "NotImplemented");
    ck_assert_msg(strstr(msg, "does not run"), "%s", msg);
    cJSON *l = hd_resources_list_json(r, "brokers", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(l), 2);
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "metadata"), "name")
            ->valuestring,
        "b1"); /* sorted by namespace a < z */
    cJSON_Delete(l);
    l = hd_resources_list_json(r, "brokers", "z");
    ck_assert_int_eq(cJSON_GetArraySize(l), 1);
    cJSON_Delete(l);
    l = hd_resources_list_json(r, NULL, "z");
    ck_assert_int_eq(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);
    ck_assert_ptr_null(hd_resources_list_json(r, "widgets", NULL));
    ck_assert_ptr_null(hd_resources_get_json(r, "brokers", "z", "nope"));
    res_t d = {0};
    hd_resources_delete(r, "brokers", "z", "nope", done, &d);
    ck_assert_int_eq(d.status, HD_E_NOTFOUND);
    ck_assert_msg(strstr(d.error, "Broker \"z/nope\" not found"), "%s", d.error);
    hd_resources_delete(r, "PingSource", "z", "p", done, &d);
    ck_assert_int_eq(d.status, HD_E_OK);
    ck_assert_int_eq(cJSON_GetArraySize(d.result), 1);
    cJSON_Delete(d.result);
    ck_assert_ptr_null(hd_resources_get_json(r, "pingsources", "z", "p"));
    hd_resources_close(r);
}
END_TEST

START_TEST(spec_helpers)
{
    ck_assert(hd_resources__url_ok("http://127.0.0.1:8080/x?y"));
    ck_assert(hd_resources__url_ok("https://example.com"));
    ck_assert(hd_resources__url_ok("http://[::1]:80/"));
    ck_assert(!hd_resources__url_ok("http://"));
    ck_assert(!hd_resources__url_ok("http://host:99999/"));
    ck_assert(!hd_resources__url_ok("http://ho st/"));
    ck_assert(!hd_resources__url_ok("mailto:x@y"));
    char *u = hd_resources__url_join("http://h/a/", "b");
    ck_assert_str_eq(u, "http://h/a/b");
    hd_free(u);
    ck_assert_ptr_nonnull(hd_resources_kind_lookup("TRIGGERS"));
    ck_assert_str_eq(hd_resources_kind_lookup("ksvc")->kind, "Service");
    ck_assert_ptr_null(hd_resources_kind_lookup("widget"));
}
END_TEST

/* Real LMDB: resources, ids, uids survive closing and reopening; ids are not reused. */
static int stored_calls;
static void stored_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    (void)result;
    (void)arg;
    ck_assert_msg(status == HD_E_OK, "store: %s", error ? error : "");
    stored_calls++;
}

START_TEST(survives_reopen)
{
    char dir[] = "/tmp/herald-res-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t so = {.data_dir = dir,
                         .durability = HD_DURABILITY_NONE,
                         .map_size_initial = 1 << 20,
                         .map_size_max = 64 << 20,
                         .queue_max = 64};
    uint32_t bid = 0, tid = 0;
    char uid[64];
    for (int round = 0; round < 2; round++) {
        hd_lmdb_t *lm = NULL;
        ck_assert_int_eq(hd_lmdb_open(&loop, &so, &lm), HD_E_OK);
        hd_resources_t *r = NULL;
        ck_assert_int_eq(hd_resources_open(NULL, hd_lmdb_state(lm), &r), HD_E_OK);
        if (round == 0) {
            stored_calls = 0;
            const char *y =
                BROKER("default", "b") "---\n" TRIGGER("default", "t", "b",
                                                       SUB_URI "  filters:\n"
                                                               "  - prefix: {type: a}\n");
            hd_resources_apply(r, y, strlen(y), stored_done, NULL);
            const char *y2 = TRIGGER("default", "gone", "b", SUB_URI);
            hd_resources_apply(r, y2, strlen(y2), stored_done, NULL);
            uint64_t start = hd_now_ms();
            while (stored_calls < 2 && hd_now_ms() - start < 10000)
                uv_run(&loop, UV_RUN_ONCE);
            ck_assert_int_eq(stored_calls, 2);
            res_t d = {0};
            hd_resources_delete(r, "triggers", "default", "gone", done, &d);
            start = hd_now_ms();
            while (d.calls < 1 && hd_now_ms() - start < 10000)
                uv_run(&loop, UV_RUN_ONCE);
            ck_assert_int_eq(d.status, HD_E_OK);
            cJSON_Delete(d.result);
            bid = hd_resources_broker(r, "default", 7, "b", 1)->id;
            tid = hd_resources_trigger(r, "default", "t")->id;
            cJSON *o = hd_resources_get_json(r, "triggers", "default", "t");
            strcpy(uid,
                   cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "uid")->valuestring);
            cJSON_Delete(o);
        } else {
            hd_broker_t *b = hd_resources_broker(r, "default", 7, "b", 1);
            hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
            ck_assert_ptr_nonnull(b);
            ck_assert_ptr_nonnull(t);
            ck_assert_ptr_null(hd_resources_trigger(r, "default", "gone"));
            ck_assert_uint_eq(b->id, bid);
            ck_assert_uint_eq(t->id, tid);
            ck_assert(t->ready);
            ck_assert_ptr_eq(t->broker, b);
            ck_assert_ptr_nonnull(t->filter);
            cJSON *o = hd_resources_get_json(r, "triggers", "default", "t");
            ck_assert_str_eq(
                cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "uid")->valuestring, uid);
            cJSON_Delete(o);
            /* a new resource gets an id above every id ever given (the deleted one included) */
            const char *y = TRIGGER("default", "new", "b", SUB_URI);
            stored_calls = 0;
            hd_resources_apply(r, y, strlen(y), stored_done, NULL);
            ck_assert_uint_gt(hd_resources_trigger(r, "default", "new")->id, tid + 1);
            uint64_t start = hd_now_ms();
            while (stored_calls < 1 && hd_now_ms() - start < 10000)
                uv_run(&loop, UV_RUN_ONCE);
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

static void state_stored(void *arg, hd_err_t status)
{
    (void)arg;
    ck_assert_int_eq(status, HD_E_OK);
    stored_calls++;
}

/* Resources an older heraldd stored with what apply now refuses (a non-string filter value, a
 * CESQL filter that is not a condition, another version of the group) still load: a stricter
 * apply must not lose a stored trigger and its cursor at an upgrade. */
START_TEST(stored_resources_load_despite_stricter_apply)
{
    char dir[] = "/tmp/herald-res-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t so = {.data_dir = dir,
                         .durability = HD_DURABILITY_NONE,
                         .map_size_initial = 1 << 20,
                         .map_size_max = 64 << 20,
                         .queue_max = 64};
    hd_lmdb_t *lm = NULL;
    ck_assert_int_eq(hd_lmdb_open(&loop, &so, &lm), HD_E_OK);
    static const char *const docs[][2] = {
        {"brokers/default/b",
         "{\"apiVersion\":\"eventing.knative.dev/v1beta1\",\"kind\":\"Broker\","
         "\"metadata\":{\"name\":\"b\",\"namespace\":\"default\"},"
         "\"status\":{\"id\":1}}"},
        {"triggers/default/t",
         "{\"apiVersion\":\"eventing.knative.dev/v1\",\"kind\":\"Trigger\",\"metadata\":{\"name\":"
         "\"t\",\"namespace\":\"default\"},\"spec\":{\"broker\":\"b\",\"filter\":{\"attributes\":{"
         "\"type\":42}},\"subscriber\":{\"uri\":\"http://127.0.0.1:1/\"}},\"status\":{\"id\":2}}"},
        {"triggers/default/s",
         "{\"apiVersion\":\"eventing.knative.dev/v1\",\"kind\":\"Trigger\",\"metadata\":{\"name\":"
         "\"s\",\"namespace\":\"default\"},\"spec\":{\"broker\":\"b\",\"filters\":[{\"cesql\":"
         "\"type\"}],\"subscriber\":{\"uri\":\"http://127.0.0.1:1/\"}},\"status\":{\"id\":3}}"}};
    hd_state_txn_t *txn = hd_state_txn_new(hd_lmdb_state(lm));
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(hd_state_resource_put(txn, docs[i][0], docs[i][1], strlen(docs[i][1])),
                         HD_E_OK);
    stored_calls = 0;
    ck_assert_int_eq(hd_state_txn_submit(txn, state_stored, NULL), HD_E_OK);
    uint64_t start = hd_now_ms();
    while (stored_calls < 1 && hd_now_ms() - start < 10000)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(stored_calls, 1);
    hd_resources_t *r = NULL;
    ck_assert_int_eq(hd_resources_open(NULL, hd_lmdb_state(lm), &r), HD_E_OK);
    ck_assert_ptr_nonnull(hd_resources_broker(r, "default", 7, "b", 1));
    hd_trigger_t *t = hd_resources_trigger(r, "default", "t");
    ck_assert_ptr_nonnull(t);
    ck_assert(t->ready);
    ce_event_t *ev = ce_event_new();
    ce_event_set(ev, "type", "42", 2, NULL);
    ck_assert(hd_filter_match(t->filter, ev)); /* 42 kept as its canonical text */
    ce_event_free(ev);
    ck_assert_ptr_nonnull(hd_resources_trigger(r, "default", "s"));
    /* applied again by a user, the same trigger is refused */
    apply_err(r, TRIGGER("default", "t", "b", SUB_URI "  filter: {attributes: {type: 42}}\n"),
              "value must be a string (quote it: \"42\")");
    hd_resources_close(r);
    hd_lmdb_close(lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(manifest_files_at_open)
{
    char dir[] = "/tmp/herald-man-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char p[300];
    snprintf(p, sizeof p, "%s/a.yaml", dir);
    FILE *f = fopen(p, "w");
    fputs(BROKER("default", "b"), f);
    fclose(f);
    snprintf(p, sizeof p, "%s/b.yml", dir);
    f = fopen(p, "w");
    fputs(TRIGGER("default", "t", "b", SUB_URI), f);
    fclose(f);
    snprintf(p, sizeof p, "%s/ignored.txt", dir);
    f = fopen(p, "w");
    fputs("not yaml: [", f);
    fclose(f);
    hd_resources_t *r = NULL;
    const char *paths[] = {dir};
    const hd_resources_opts_t opts = {.manifests = paths, .manifest_count = 1};
    ck_assert_int_eq(hd_resources_open(&opts, NULL, &r), HD_E_OK);
    ck_assert(hd_resources_trigger(r, "default", "t")->ready);
    hd_resources_close(r);
    /* a bad manifest stops startup */
    snprintf(p, sizeof p, "%s/c.yaml", dir);
    f = fopen(p, "w");
    fputs(TRIGGER("default", "bad", "b", SUB_URI "  filters:\n  - cesql: \"(\"\n"), f);
    fclose(f);
    ck_assert_int_eq(hd_resources_open(&opts, NULL, &r), HD_E_CONFIG);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resources");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, broker_and_trigger_ready);
    tcase_add_test(tc, trigger_waits_for_broker);
    tcase_add_test(tc, subscriber_refs);
    tcase_add_test(tc, v1_service_refs_resolve);
    tcase_add_test(tc, v1_service_refs_from_services_map);
    tcase_add_test(tc, unresolved_dead_letter_sink_does_not_stop_delivery);
    tcase_add_test(tc, herald_delivery_fields_as_annotations);
    tcase_add_test(tc, stored_resources_load_despite_stricter_apply);
    tcase_add_test(tc, validation_errors_name_document_and_field);
    tcase_add_test(tc, every_error_of_every_kind);
    tcase_add_test(tc, delivery_precedence);
    tcase_add_test(tc, generation_and_update);
    tcase_add_test(tc, other_kinds_list_get_delete);
    tcase_add_test(tc, spec_helpers);
    tcase_add_test(tc, survives_reopen);
    tcase_add_test(tc, manifest_files_at_open);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
