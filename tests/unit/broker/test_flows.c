/* test_flows.c — Sequence and Parallel expanded into Knative's channels and subscriptions, and
 * the apply-time errors a user gets for a flow that cannot work. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hd_flows.h"
#include "hd_manifest.h"
#include "hd_resources.h"

static cJSON *one_doc(const char *yaml)
{
    cJSON *docs = NULL;
    char err[256] = "";
    ck_assert_msg(hd_manifest_parse(yaml, strlen(yaml), &docs, err, sizeof err) == HD_E_OK,
                  "manifest: %s", err);
    cJSON *d = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    return d;
}

static cJSON *expand_ok(const char *yaml)
{
    cJSON *flow = one_doc(yaml), *out = NULL;
    char err[256] = "";
    hd_err_t rc = hd_flows_expand(flow, &out, err, sizeof err);
    ck_assert_msg(rc == HD_E_OK, "expand failed: %s", err);
    cJSON_Delete(flow);
    return out;
}

static void expand_fail(const char *yaml, const char *expect)
{
    cJSON *flow = one_doc(yaml), *out = NULL;
    char err[256] = "";
    ck_assert_int_eq(hd_flows_expand(flow, &out, err, sizeof err), HD_E_INVAL);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err, expect), "error '%s' lacks '%s'", err, expect);
    cJSON_Delete(flow);
}

static const char *str_at(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

/* The i-th child: kind and name. */
static const cJSON *child(const cJSON *arr, int i, const char *kind, const char *name)
{
    const cJSON *c = cJSON_GetArrayItem(arr, i);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(str_at(c, "kind"), kind);
    ck_assert_str_eq(str_at(c, "metadata.name"), name);
    ck_assert_str_eq(str_at(c, "metadata.namespace"), "demo");
    return c;
}

/* Knative's documented terminal Sequence: three steps, no reply. */
START_TEST(sequence_terminal)
{
    cJSON *out =
        expand_ok("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                  "metadata: {name: sequence, namespace: demo}\n"
                  "spec:\n"
                  "  channelTemplate:\n"
                  "    apiVersion: messaging.knative.dev/v1\n"
                  "    kind: InMemoryChannel\n"
                  "  steps:\n"
                  "  - ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: first}\n"
                  "  - ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: second}\n"
                  "  - uri: http://127.0.0.1:9/third\n"
                  "    delivery: {retry: 3}\n");
    ck_assert_int_eq(cJSON_GetArraySize(out), 6);
    child(out, 0, "InMemoryChannel", "sequence-kn-sequence-0");
    child(out, 1, "InMemoryChannel", "sequence-kn-sequence-1");
    child(out, 2, "InMemoryChannel", "sequence-kn-sequence-2");
    const cJSON *s0 = child(out, 3, "Subscription", "sequence-kn-sequence-0");
    ck_assert_str_eq(str_at(s0, "spec.channel.name"), "sequence-kn-sequence-0");
    ck_assert_str_eq(str_at(s0, "spec.channel.kind"), "InMemoryChannel");
    ck_assert_str_eq(str_at(s0, "spec.subscriber.ref.name"), "first");
    ck_assert_str_eq(str_at(s0, "spec.reply.ref.name"), "sequence-kn-sequence-1");
    ck_assert_str_eq(str_at(s0, "spec.reply.ref.kind"), "InMemoryChannel");
    const cJSON *s2 = child(out, 5, "Subscription", "sequence-kn-sequence-2");
    ck_assert_str_eq(str_at(s2, "spec.subscriber.uri"), "http://127.0.0.1:9/third");
    /* a step's delivery belongs to its subscription, not to the subscriber destination */
    ck_assert_ptr_null(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(s2, "spec"), "subscriber"), "delivery"));
    ck_assert_int_eq(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(cJSON_GetObjectItem(s2, "spec"), "delivery"), "retry")
                         ->valueint,
                     3);
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(s2, "spec"), "reply"));
    /* every child is owned by the Sequence */
    const char *k = NULL, *n = NULL;
    ck_assert(hd_flows_owner(s2, &k, &n));
    ck_assert_str_eq(k, "Sequence");
    ck_assert_str_eq(n, "sequence");
    cJSON_Delete(out);
}
END_TEST

/* The last step replies to spec.reply (Knative's "sequence with reply to a broker"); no
 * channelTemplate means InMemoryChannel. */
START_TEST(sequence_reply_default_template)
{
    cJSON *out =
        expand_ok("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                  "metadata: {name: s, namespace: demo}\n"
                  "spec:\n"
                  "  steps:\n  - uri: http://127.0.0.1:9/a\n"
                  "  reply:\n"
                  "    ref: {kind: Broker, apiVersion: eventing.knative.dev/v1, name: default}\n");
    ck_assert_int_eq(cJSON_GetArraySize(out), 2);
    const cJSON *c = child(out, 0, "InMemoryChannel", "s-kn-sequence-0");
    ck_assert_str_eq(str_at(c, "apiVersion"), "messaging.knative.dev/v1");
    const cJSON *s = child(out, 1, "Subscription", "s-kn-sequence-0");
    ck_assert_str_eq(str_at(s, "spec.reply.ref.kind"), "Broker");
    ck_assert_str_eq(str_at(s, "spec.reply.ref.name"), "default");
    char buf[64];
    ck_assert(hd_flows_entry_channel("Sequence", "s", buf, sizeof buf));
    ck_assert_str_eq(buf, "s-kn-sequence-0");
    cJSON_Delete(out);
}
END_TEST

/* Knative's documented Parallel with filters: two branches, each a filter and a subscriber. */
START_TEST(parallel_with_filters)
{
    cJSON *out = expand_ok("apiVersion: flows.knative.dev/v1\nkind: Parallel\n"
                           "metadata: {name: odd-even-parallel, namespace: demo}\n"
                           "spec:\n"
                           "  channelTemplate:\n"
                           "    apiVersion: messaging.knative.dev/v1\n"
                           "    kind: InMemoryChannel\n"
                           "  branches:\n"
                           "  - filter: {uri: 'http://127.0.0.1:9/even-filter'}\n"
                           "    subscriber: {uri: 'http://127.0.0.1:9/even'}\n"
                           "  - filter: {uri: 'http://127.0.0.1:9/odd-filter'}\n"
                           "    subscriber: {uri: 'http://127.0.0.1:9/odd'}\n"
                           "    reply: {uri: 'http://127.0.0.1:9/odd-reply'}\n"
                           "  reply: {uri: 'http://127.0.0.1:9/display'}\n");
    ck_assert_int_eq(cJSON_GetArraySize(out), 7);
    child(out, 0, "InMemoryChannel", "odd-even-parallel-kn-parallel");
    child(out, 1, "InMemoryChannel", "odd-even-parallel-kn-parallel-0");
    child(out, 2, "InMemoryChannel", "odd-even-parallel-kn-parallel-1");
    const cJSON *f0 = child(out, 3, "Subscription", "odd-even-parallel-kn-parallel-filter-0");
    ck_assert_str_eq(str_at(f0, "spec.channel.name"), "odd-even-parallel-kn-parallel");
    ck_assert_str_eq(str_at(f0, "spec.subscriber.uri"), "http://127.0.0.1:9/even-filter");
    ck_assert_str_eq(str_at(f0, "spec.reply.ref.name"), "odd-even-parallel-kn-parallel-0");
    const cJSON *b0 = child(out, 4, "Subscription", "odd-even-parallel-kn-parallel-0");
    ck_assert_str_eq(str_at(b0, "spec.channel.name"), "odd-even-parallel-kn-parallel-0");
    ck_assert_str_eq(str_at(b0, "spec.subscriber.uri"), "http://127.0.0.1:9/even");
    ck_assert_str_eq(str_at(b0, "spec.reply.uri"), "http://127.0.0.1:9/display");
    const cJSON *b1 = child(out, 6, "Subscription", "odd-even-parallel-kn-parallel-1");
    ck_assert_str_eq(str_at(b1, "spec.reply.uri"), "http://127.0.0.1:9/odd-reply");
    cJSON_Delete(out);
}
END_TEST

/* A branch without a filter: its filter subscription has no subscriber, so every event goes
 * straight to the branch's channel. */
START_TEST(parallel_without_filter)
{
    cJSON *out = expand_ok("apiVersion: flows.knative.dev/v1\nkind: Parallel\n"
                           "metadata: {name: p, namespace: demo}\n"
                           "spec:\n  branches:\n  - subscriber: {uri: 'http://127.0.0.1:9/a'}\n");
    ck_assert_int_eq(cJSON_GetArraySize(out), 4);
    const cJSON *f0 = child(out, 2, "Subscription", "p-kn-parallel-filter-0");
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(f0, "spec"), "subscriber"));
    ck_assert_str_eq(str_at(f0, "spec.reply.ref.name"), "p-kn-parallel-0");
    const cJSON *b0 = child(out, 3, "Subscription", "p-kn-parallel-0");
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(b0, "spec"), "reply"));
    cJSON_Delete(out);
}
END_TEST

START_TEST(bad_flows_are_refused)
{
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\nspec: {steps: []}\n",
                "spec.steps: a Sequence needs at least one step");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\nspec: {}\n",
                "spec.steps: a Sequence needs at least one step");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\n"
                "spec:\n  steps:\n  - uri: http://127.0.0.1:9/a\n"
                "  - ref: {apiVersion: flows.knative.dev/v1, kind: Sequence, name: s}\n",
                "spec.steps[1]: refers to this Sequence itself: a cycle");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\n"
                "spec:\n  steps:\n  - uri: http://127.0.0.1:9/a\n"
                "  reply: {ref: {apiVersion: flows.knative.dev/v1, kind: Sequence, name: s}}\n",
                "spec.reply: refers to this Sequence itself");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\n"
                "spec:\n  steps:\n  - {}\n",
                "spec.steps[0]: needs 'uri' or 'ref'");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\n"
                "spec:\n  steps:\n  - uri: http://127.0.0.1:9/a\n    delivery: {retry: many}\n",
                "spec.steps[0].delivery.retry");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\n"
                "spec:\n  channelTemplate: {apiVersion: example.com/v1, kind: PigeonChannel}\n"
                "  steps:\n  - uri: http://127.0.0.1:9/a\n",
                "spec.channelTemplate.kind: 'PigeonChannel' is not a channel kind");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
                "metadata: {name: s, namespace: demo}\n"
                "spec:\n  stpes:\n  - uri: http://127.0.0.1:9/a\n",
                "spec.stpes: unknown field");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Parallel\n"
                "metadata: {name: p, namespace: demo}\n"
                "spec:\n  branches:\n  - filter: {uri: 'http://127.0.0.1:9/f'}\n",
                "spec.branches[0].subscriber: required");
    expand_fail("apiVersion: flows.knative.dev/v1\nkind: Parallel\n"
                "metadata: {name: p, namespace: demo}\nspec: {branches: []}\n",
                "spec.branches: a Parallel needs at least one branch");
    expand_fail(
        "apiVersion: flows.knative.dev/v1\nkind: Parallel\n"
        "metadata: {name: p, namespace: demo}\n"
        "spec:\n  branches:\n"
        "  - subscriber: {ref: {apiVersion: flows.knative.dev/v1, kind: Parallel, name: p}}\n",
        "spec.branches[0].subscriber: refers to this Parallel itself: a cycle");
}
END_TEST

START_TEST(long_names_are_refused)
{
    char yaml[1024], name[251];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(yaml, sizeof yaml,
             "apiVersion: flows.knative.dev/v1\nkind: Sequence\n"
             "metadata: {name: %s, namespace: demo}\n"
             "spec:\n  steps:\n  - uri: http://127.0.0.1:9/a\n",
             name);
    expand_fail(yaml, "is too long for the names of its channels");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("flows");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sequence_terminal);
    tcase_add_test(tc, sequence_reply_default_template);
    tcase_add_test(tc, parallel_with_filters);
    tcase_add_test(tc, parallel_without_filter);
    tcase_add_test(tc, bad_flows_are_refused);
    tcase_add_test(tc, long_names_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
