/*
 * resources_spec.c — spec parsing for the control plane: the kind table, DeliverySpec,
 * Destinations, ISO 8601 durations, URLs, and the delivery precedence merge. Pure; no I/O.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hd_time.h"
#include "resources_internal.h"

#define DURATION_MAX_MS 1000000000000000ull /* about 31,700 years */

static const hd_kind_info_t kinds[] = {
    {"Broker", "eventing.knative.dev", "v1", "brokers", "broker", "bk", HD_RK_BROKER},
    {"Trigger", "eventing.knative.dev", "v1", "triggers", "trigger", "tr", HD_RK_TRIGGER},
    {"KafkaSink", "eventing.knative.dev", "v1alpha1", "kafkasinks", "kafkasink", "", HD_RK_OTHER},
    {"EventPolicy", "eventing.knative.dev", "v1alpha1", "eventpolicies", "eventpolicy", "",
     HD_RK_OTHER},
    {"EventType", "eventing.knative.dev", "v1beta2", "eventtypes", "eventtype", "", HD_RK_OTHER},
    {"Channel", "messaging.knative.dev", "v1", "channels", "channel", "ch", HD_RK_CHANNEL},
    {"InMemoryChannel", "messaging.knative.dev", "v1", "inmemorychannels", "inmemorychannel", "imc",
     HD_RK_CHANNEL},
    {"KafkaChannel", "messaging.knative.dev", "v1beta1", "kafkachannels", "kafkachannel", "",
     HD_RK_OTHER},
    {"Subscription", "messaging.knative.dev", "v1", "subscriptions", "subscription", "sub",
     HD_RK_SUBSCRIPTION},
    {"PingSource", "sources.knative.dev", "v1", "pingsources", "pingsource", "", HD_RK_OTHER},
    {"ContainerSource", "sources.knative.dev", "v1", "containersources", "containersource", "",
     HD_RK_OTHER},
    {"SinkBinding", "sources.knative.dev", "v1", "sinkbindings", "sinkbinding", "", HD_RK_OTHER},
    {"ApiServerSource", "sources.knative.dev", "v1", "apiserversources", "apiserversource", "",
     HD_RK_OTHER},
    {"KafkaSource", "sources.knative.dev", "v1", "kafkasources", "kafkasource", "", HD_RK_OTHER},
    {"Service", "serving.knative.dev", "v1", "services", "service", "ksvc", HD_RK_OTHER},
    /* Kubernetes' core Service (apiVersion v1, no group). Its plural in keys and paths is "svc"
     * (kubectl's short name) because "services" has long named Knative's Service here. */
    {"Service", "", "v1", "svc", "svc", "svc", HD_RK_SERVICE},
    {"Sequence", "flows.knative.dev", "v1", "sequences", "sequence", "", HD_RK_FLOW},
    {"Parallel", "flows.knative.dev", "v1", "parallels", "parallel", "", HD_RK_FLOW},
    {"NatsSource", "herald.dev", "v1alpha1", "natssources", "natssource", "", HD_RK_OTHER},
    {"NatsSink", "herald.dev", "v1alpha1", "natssinks", "natssink", "", HD_RK_OTHER},
};

const hd_kind_info_t *hd_resources_kind_lookup(const char *s)
{
    if (!s || !*s)
        return NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const hd_kind_info_t *k = &kinds[i];
        if (!strcasecmp(s, k->kind) || !strcasecmp(s, k->plural) || !strcasecmp(s, k->singular) ||
            (k->shortname[0] && !strcasecmp(s, k->shortname)))
            return k;
    }
    return NULL;
}

const hd_kind_info_t *hd_resources_kind_for(const char *api, const char *kind)
{
    if (!kind || !*kind)
        return NULL;
    const hd_kind_info_t *first = NULL;
    const char *slash = api ? strchr(api, '/') : NULL;
    size_t glen = slash ? (size_t)(slash - api) : 0; /* "v1": the core group, "" */
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const hd_kind_info_t *k = &kinds[i];
        if (strcmp(k->kind, kind))
            continue;
        if (!first)
            first = k;
        if (api && strlen(k->group) == glen && !strncmp(api, k->group, glen))
            return k;
    }
    return first;
}

bool hd_resources__api_matches(const char *api, const hd_kind_info_t *ki)
{
    const char *slash = strchr(api, '/');
    size_t glen = slash ? (size_t)(slash - api) : 0;
    const char *ver = slash ? slash + 1 : api;
    return strlen(ki->group) == glen && !strncmp(api, ki->group, glen) && !strcmp(ver, ki->version);
}

const char *hd_resources_kind_versions(const hd_kind_info_t *ki, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const hd_kind_info_t *k = &kinds[i];
        if (strcmp(k->kind, ki->kind))
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s%s%s", n ? ", " : "", k->group,
                         k->group[0] ? "/" : "", k->version);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return buf;
}

const char *hd_resources_kind_names(void)
{
    return "Broker, Trigger, KafkaSink, EventPolicy, EventType, Channel, InMemoryChannel, "
           "KafkaChannel, Subscription, PingSource, ContainerSource, SinkBinding, "
           "ApiServerSource, KafkaSource, Service (serving.knative.dev/v1 or v1), Sequence, "
           "Parallel, "
           "NatsSource, NatsSink";
}

bool hd_resources__dns_label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

bool hd_resources__dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !((c == '-' || c == '.') && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

bool hd_resources__url_ok(const char *s)
{
    const char *p;
    if (!strncmp(s, "http://", 7))
        p = s + 7;
    else if (!strncmp(s, "https://", 8))
        p = s + 8;
    else
        return false;
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return false;
    const char *host = p;
    const char *end = p + strcspn(p, "/?#");
    if (end == host)
        return false;
    /* [v6]:port or host:port */
    const char *colon = NULL;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (!rb || rb == host + 1)
            return false;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return false;
            colon = rb + 1;
        }
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if (colon == host)
            return false;
        for (const char *q = host; q < (colon ? colon : end); q++)
            if (!(isalnum((unsigned char)*q) || *q == '-' || *q == '.' || *q == '_'))
                return false;
    }
    if (colon) {
        const char *q = colon + 1;
        if (q == end || end - q > 5)
            return false;
        long port = 0;
        for (; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return false;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return false;
    }
    return true;
}

char *hd_resources__url_join(const char *base, const char *rel)
{
    if (!rel || !*rel)
        return hd_strdup(base);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t rl = strlen(rel);
    bool slash = rel[0] != '/';
    char *out = hd_malloc(bl + rl + 2);
    if (!out)
        return NULL;
    memcpy(out, base, bl);
    if (slash)
        out[bl++] = '/';
    memcpy(out + bl, rel, rl + 1);
    return out;
}

void hd_resources__dest_free(hd_dest_t *d)
{
    if (!d)
        return;
    hd_free(d->uri);
    hd_free(d->ref_ns);
    hd_free(d->ref_name);
    memset(d, 0, sizeof *d);
}

hd_err_t hd_resources__dest_parse(const cJSON *j, const char *path, const char *ns, hd_dest_t *out,
                                  hd_errs_t *es)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j))
        return hd_resources__errf(es, "%s: must be an object with 'uri' and/or 'ref'", path);
    int n0 = es->n;
    for (const cJSON *it = j->child; it; it = it->next)
        if (strcmp(it->string, "uri") && strcmp(it->string, "ref") &&
            strcmp(it->string, "CACerts") && strcmp(it->string, "audience"))
            hd_resources__errf(es, "%s.%s: unknown field (expected uri or ref)", path, it->string);
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(j, "uri");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "ref");
    bool bad_uri = uri && !cJSON_IsNull(uri) && (!cJSON_IsString(uri) || !*uri->valuestring);
    if (bad_uri)
        hd_resources__errf(es, "%s.uri: must be a non-empty string", path);
    bool has_uri = uri && cJSON_IsString(uri) && !bad_uri;
    bool has_ref = ref && !cJSON_IsNull(ref);
    if (!has_uri && !has_ref && !bad_uri)
        hd_resources__errf(es, "%s: needs 'uri' or 'ref'", path);
    const hd_kind_info_t *ki = NULL;
    const cJSON *name = NULL, *rns = NULL;
    if (has_ref && !cJSON_IsObject(ref)) {
        hd_resources__errf(es, "%s.ref: must be an object with kind and name", path);
    } else if (has_ref) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ref, "kind");
        name = cJSON_GetObjectItemCaseSensitive(ref, "name");
        rns = cJSON_GetObjectItemCaseSensitive(ref, "namespace");
        const char *rapi = hd_resources__jstr(ref, "apiVersion");
        if (!cJSON_IsString(kind) || !*kind->valuestring) {
            hd_resources__errf(es, "%s.ref.kind: required", path);
        } else {
            ki = hd_resources_kind_for(rapi, kind->valuestring);
            if (!ki || strcmp(ki->kind, kind->valuestring) || ki->type == HD_RK_TRIGGER ||
                ki->type == HD_RK_SUBSCRIPTION) {
                hd_resources__errf(es,
                                   "%s.ref.kind: '%s' is not an addressable kind Herald knows "
                                   "(Broker, Channel, InMemoryChannel, Sequence, Parallel, "
                                   "Service, ...)",
                                   path, kind->valuestring);
                ki = NULL;
            } else if (rapi && !hd_resources__api_matches(rapi, ki)) {
                char served[200];
                hd_resources__errf(
                    es, "%s.ref.apiVersion: '%s' does not serve kind %s (served: %s)", path, rapi,
                    ki->kind, hd_resources_kind_versions(ki, served, sizeof served));
            }
        }
        if (!cJSON_IsString(name) || !hd_resources__dns_name_ok(name->valuestring))
            hd_resources__errf(es, "%s.ref.name: required, a DNS-1123 name", path);
        if (rns && !cJSON_IsNull(rns) &&
            (!cJSON_IsString(rns) || !hd_resources__dns_label_ok(rns->valuestring)))
            hd_resources__errf(es, "%s.ref.namespace: must be a DNS-1123 label", path);
        /* with a ref, uri is relative to the ref's address: a path, not a URL */
        if (has_uri && strstr(uri->valuestring, "://")) {
            hd_resources__errf(es, "%s.uri: with 'ref' the uri must be a relative path, got '%s'",
                               path, uri->valuestring);
        } else if (has_uri) {
            for (const char *q = uri->valuestring; *q; q++)
                if ((unsigned char)*q <= ' ') {
                    hd_resources__errf(es, "%s.uri: contains spaces or control characters", path);
                    break;
                }
        }
    } else if (has_uri && !hd_resources__url_ok(uri->valuestring)) {
        hd_resources__errf(es,
                           "%s.uri: '%s' is not an absolute http:// or https:// URL with a host",
                           path, uri->valuestring);
    }
    if (es->n > n0)
        return HD_E_INVAL;
    if (has_ref) {
        out->ref_kind = ki;
        out->ref_name = hd_strdup(name->valuestring);
        out->ref_ns = hd_strdup(cJSON_IsString(rns) ? rns->valuestring : ns);
        if (!out->ref_name || !out->ref_ns)
            goto nomem;
    }
    if (has_uri && !(out->uri = hd_strdup(uri->valuestring)))
        goto nomem;
    out->set = true;
    return HD_E_OK;
nomem:
    hd_resources__dest_free(out);
    return HD_E_NOMEM;
}

/* Adds an error to es and returns false when v is not a duration (ISO 8601, bounded; > 0 when
 * `positive`). */
static bool duration_field(const cJSON *v, const char *path, const char *field, bool positive,
                           uint64_t *ms, hd_errs_t *es)
{
    /* the bound keeps later sums of delays and clocks far from overflow */
    if (!cJSON_IsString(v) || !hd_time_iso_duration_parse(v->valuestring, ms) ||
        *ms > DURATION_MAX_MS) {
        hd_resources__errf(es, "%s.%s: '%s' is not an ISO 8601 duration (e.g. PT0.5S, PT10S, PT1M)",
                           path, field, cJSON_IsString(v) ? v->valuestring : "(not a string)");
        return false;
    }
    if (positive && *ms == 0) {
        hd_resources__errf(es, "%s.%s: must be greater than zero", path, field);
        return false;
    }
    return true;
}

static bool int_value(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble)
        return false;
    *out = (long long)v->valuedouble;
    return true;
}

/* One of two words, as a DeliverySpec's enums are: true with *second set when the value is
 * `b`, false with an error added when it is neither. */
static bool one_of(const cJSON *v, const char *path, const char *field, const char *a,
                   const char *b, bool *second, hd_errs_t *es)
{
    if (cJSON_IsString(v) && (!strcmp(v->valuestring, a) || !strcmp(v->valuestring, b))) {
        *second = !strcmp(v->valuestring, b);
        return true;
    }
    hd_resources__errf(es, "%s.%s: must be '%s' or '%s'", path, field, a, b);
    return false;
}

hd_err_t hd_resources__delivery_parse(const cJSON *j, const char *path, const char *ns,
                                      hd_delivery_t *out, hd_dest_t *dls, hd_errs_t *es)
{
    memset(out, 0, sizeof *out);
    memset(dls, 0, sizeof *dls);
    if (!j || cJSON_IsNull(j))
        return HD_E_OK;
    if (!cJSON_IsObject(j))
        return hd_resources__errf(es, "%s: must be an object", path);
    int n0 = es->n;
    for (const cJSON *it = j->child; it; it = it->next) {
        const char *f = it->string;
        long long n;
        bool second;
        if (cJSON_IsNull(it))
            continue;
        if (!strcmp(f, "retry")) {
            if (!int_value(it, &n) || n < 0 || n > 1000) {
                hd_resources__errf(es, "%s.retry: must be an integer from 0 to 1000", path);
                continue;
            }
            out->retry = (uint32_t)n;
            out->set |= HD_DLV_RETRY;
        } else if (!strcmp(f, "backoffPolicy")) {
            if (!one_of(it, path, f, "exponential", "linear", &second, es))
                continue;
            out->backoff_policy = second ? HD_BACKOFF_LINEAR : HD_BACKOFF_EXPONENTIAL;
            out->set |= HD_DLV_BACKOFF_POLICY;
        } else if (!strcmp(f, "backoffDelay")) {
            if (duration_field(it, path, f, false, &out->backoff_delay_ms, es))
                out->set |= HD_DLV_BACKOFF_DELAY;
        } else if (!strcmp(f, "backoffMax")) {
            if (duration_field(it, path, f, false, &out->backoff_max_ms, es))
                out->set |= HD_DLV_BACKOFF_MAX;
        } else if (!strcmp(f, "timeout")) {
            if (duration_field(it, path, f, true, &out->timeout_ms, es))
                out->set |= HD_DLV_TIMEOUT;
        } else if (!strcmp(f, "retryAfterMax")) {
            if (duration_field(it, path, f, false, &out->retry_after_max_ms, es))
                out->set |= HD_DLV_RETRY_AFTER_MAX;
        } else if (!strcmp(f, "maxInFlight")) {
            if (!int_value(it, &n) || n < 1 || n > 100000) {
                hd_resources__errf(es, "%s.maxInFlight: must be an integer from 1 to 100000", path);
                continue;
            }
            out->max_in_flight = (uint32_t)n;
            out->set |= HD_DLV_MAX_IN_FLIGHT;
        } else if (!strcmp(f, "ordering")) {
            if (!one_of(it, path, f, "unordered", "ordered", &second, es))
                continue;
            out->ordering = second ? HD_ORDER_ORDERED : HD_ORDER_UNORDERED;
            out->set |= HD_DLV_ORDERING;
        } else if (!strcmp(f, "headerEncoding")) {
            if (!one_of(it, path, f, "compat", "strict", &out->header_strict, es))
                continue;
            out->set |= HD_DLV_HEADER_ENC;
        } else if (!strcmp(f, "format")) {
            if (!one_of(it, path, f, "json", "binary", &second, es))
                continue;
            out->structured = !second;
            out->set |= HD_DLV_FORMAT;
        } else if (!strcmp(f, "deadLetterSink")) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.deadLetterSink", path);
            hd_resources__dest_free(dls); /* a sink given twice: the last one */
            hd_err_t rc = hd_resources__dest_parse(it, sub, ns, dls, es);
            if (rc == HD_E_NOMEM)
                return rc;
            if (rc == HD_E_OK)
                out->set |= HD_DLV_DLS;
        } else {
            hd_resources__errf(es,
                               "%s.%s: unknown field (known: retry, backoffPolicy, backoffDelay, "
                               "backoffMax, timeout, retryAfterMax, deadLetterSink, maxInFlight, "
                               "ordering, headerEncoding, format)",
                               path, f);
        }
    }
    if (es->n == n0)
        return HD_E_OK;
    hd_resources__dest_free(dls); /* a sink parsed before or after a bad field */
    return HD_E_INVAL;
}

void hd_delivery_merge(hd_delivery_t *out, const hd_delivery_t *trigger,
                       const hd_delivery_t *broker)
{
    static const hd_delivery_t none = {0};
    if (!trigger)
        trigger = &none;
    if (!broker)
        broker = &none;
    hd_delivery_t d = {
        .set = trigger->set | broker->set,
        .retry = 0,
        .backoff_policy = HD_BACKOFF_EXPONENTIAL,
        .backoff_delay_ms = 100,
        .backoff_max_ms = 0,
        .timeout_ms = 30000,
        .retry_after_max_ms = 0,
        .dead_letter_uri = NULL,
        .max_in_flight = 100,
        .ordering = HD_ORDER_UNORDERED,
        .header_strict = false,
        .structured = false,
    };
#define PICK(bit, field)                                                                           \
    do {                                                                                           \
        if (trigger->set & (bit))                                                                  \
            d.field = trigger->field;                                                              \
        else if (broker->set & (bit))                                                              \
            d.field = broker->field;                                                               \
    } while (0)
    PICK(HD_DLV_RETRY, retry);
    PICK(HD_DLV_BACKOFF_POLICY, backoff_policy);
    PICK(HD_DLV_BACKOFF_DELAY, backoff_delay_ms);
    PICK(HD_DLV_BACKOFF_MAX, backoff_max_ms);
    PICK(HD_DLV_TIMEOUT, timeout_ms);
    PICK(HD_DLV_RETRY_AFTER_MAX, retry_after_max_ms);
    PICK(HD_DLV_DLS, dead_letter_uri);
    PICK(HD_DLV_DLS, dead_letter_unresolved);
    PICK(HD_DLV_MAX_IN_FLIGHT, max_in_flight);
    PICK(HD_DLV_ORDERING, ordering);
    PICK(HD_DLV_HEADER_ENC, header_strict);
    PICK(HD_DLV_FORMAT, structured);
#undef PICK
    *out = d;
}

void hd_resources__errs_add(hd_errs_t *e, const char *msg)
{
    if (!msg || !*msg || e->cap == 0)
        return;
    int w = snprintf(e->buf + e->len, e->cap - e->len, "%s%s", e->n ? "; " : "", msg);
    e->n++;
    if (w > 0)
        e->len += (size_t)w < e->cap - e->len ? (size_t)w : e->cap - e->len - 1;
}

hd_err_t hd_resources__errf(hd_errs_t *e, const char *fmt, ...)
{
    char one[HD_RESOURCES__ERRCAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof one, fmt, ap);
    va_end(ap);
    hd_resources__errs_add(e, one);
    return HD_E_INVAL;
}

const char *hd_resources__jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
