/*
 * dispatch_delivery.c — one event to one subscriber (dispatch_internal.h): attempts over HTTP or
 * in process, answers, retries with their pending records, the dead-letter phase, replies.
 * What to do after each fact is decided by hd_dispatch__decide (dispatch_decide.c); this file
 * carries it out.
 *
 * Retries keep their slot (so a failing subscriber gets at most maxInFlight events at once);
 * each failed attempt writes a pending record (attempts, due time) so a restart resumes with the
 * remaining attempts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dispatch_internal.h"
#include "herald/ce_json.h"

static void delivery_attempt(delivery_t *v);

static hd_metric_t *code_metric(trigger_run_t *tr, int code)
{
    for (size_t i = 0; i < tr->ncodes; i++)
        if (tr->codes[i].code == code)
            return tr->codes[i].m;
    hd_metrics_t *m = tr->d->metrics;
    if (m == NULL || !tr->ns || !tr->name || !tr->log_name ||
        tr->ncodes == sizeof tr->codes / sizeof tr->codes[0])
        return NULL;
    char code_s[16];
    if (code > 0)
        snprintf(code_s, sizeof code_s, "%d", code);
    else
        snprintf(code_s, sizeof code_s, "%s", code == -2 ? "timeout" : "network");
    hd_metric_t *h = hd_metrics_counter(
        m, "herald_dispatch_total", "Delivery attempts by trigger and answer", "namespace", tr->ns,
        tr->log_label, tr->log_name, tr->kind_label, tr->name, "code", code_s);
    tr->codes[tr->ncodes].code = code;
    tr->codes[tr->ncodes].m = h;
    tr->ncodes++;
    return h;
}

/* ---- deliveries ----------------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    hd_free(h);
}

void hd_dispatch__delivery_free(delivery_t *v)
{
    trigger_run_t *tr = v->tr;
    hd_dispatch__set_awaiting_dls(v, false);
    if (tr) {
        if (v->prev)
            v->prev->next = v->next;
        else
            tr->deliveries = v->next;
        if (v->next)
            v->next->prev = v->prev;
        tr->nlive--;
    }
    if (v->timer) {
        uv_timer_stop(v->timer);
        uv_close((uv_handle_t *)v->timer, timer_closed);
    }
    hd_dispatch__event_unref(v->e);
    hd_dispatch__event_unref(v->dls_e);
    if (v->reply_enc_ok)
        ce_http_out_free(&v->reply_enc);
    hd_free(v->last_body);
    hd_free(v);
}

void hd_dispatch__set_awaiting_dls(delivery_t *v, bool awaiting)
{
    trigger_run_t *tr = v->tr;
    if (tr == NULL || v->awaiting_dls == awaiting)
        return;
    v->awaiting_dls = awaiting;
    if (awaiting) {
        tr->awaiting_dls++;
        char seqs[24];
        snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)v->seq);
        hd_log(HD_LOG_WARN,
               "event exhausted its retries; kept pending until the dead-letter sink resolves",
               "namespace", tr->ns, tr->kind_label, tr->name, HD_LOG_NUM("seq"), seqs, NULL);
    } else {
        tr->awaiting_dls--;
    }
    hd_metric_set(tr->m_awaiting_dls, (int64_t)tr->awaiting_dls);
}

/* The delivery is over (delivered, dead-lettered or dead): release its slot. */
static void delivery_done(delivery_t *v)
{
    trigger_run_t *tr = v->tr;
    hd_dispatch_t *d = tr->d;
    if (v->had_pending || v->replayed_dead) {
        hd_evlog_txn_t *b = hd_dispatch__txn(d);
        if (b) {
            if (v->had_pending && hd_evlog_txn_pending_del(b, tr->id, v->seq) == HD_E_OK)
                d->batch_ops++;
            if (v->replayed_dead && hd_evlog_txn_dead_del(b, tr->id, v->seq) == HD_E_OK)
                d->batch_ops++;
        }
    }
    hd_dispatch__delivery_free(v);
    hd_dispatch__mark_dirty(tr);
    hd_dispatch__pump(tr);
}

static void delivery_timer_cb(uv_timer_t *t)
{
    delivery_t *v = t->data;
    if (v->tr->d->draining)
        return; /* shutting down: stays pending, attempted again after the restart */
    v->waiting = false;
    v->tr->nwaiting--;
    delivery_attempt(v);
}

void hd_dispatch__delivery_schedule(delivery_t *v, uint64_t delay_ms)
{
    trigger_run_t *tr = v->tr;
    hd_dispatch_t *d = tr->d;
    if (v->timer == NULL) {
        v->timer = hd_malloc(sizeof *v->timer);
        if (v->timer == NULL) {
            delay_ms = 0; /* no timer: try again at once rather than lose the event */
        } else {
            uv_timer_init(d->loop, v->timer);
            v->timer->data = v;
        }
    }
    hd_evlog_pending_t p = {
        .attempts = v->attempts + v->dls_attempts,
        .due_ms = hd_wall_ms() + delay_ms,
        .last_status = v->last_status,
        .body = v->last_body, /* knativeerrordata survives a restart */
        .body_len = v->last_body_len,
    };
    hd_evlog_txn_t *b = hd_dispatch__txn(d);
    if (b && hd_evlog_txn_pending_put(b, tr->id, v->seq, &p) == HD_E_OK) {
        d->batch_ops++;
        v->had_pending = true;
    }
    v->waiting = true;
    tr->nwaiting++;
    if (v->timer) {
        uv_timer_start(v->timer, delivery_timer_cb, delay_ms, 0);
    } else {
        v->waiting = false;
        tr->nwaiting--;
        delivery_attempt(v);
    }
}

/* Copies at most cap-1 bytes of body into out as valid UTF-8 without control characters: a
 * sequence that is invalid or cut by the bound becomes '?', tabs and line breaks a space, other
 * control characters '?'. */
static void body_excerpt(char *out, size_t cap, const char *body, size_t len)
{
    size_t o = 0;
    const unsigned char *b = (const unsigned char *)body;
    for (size_t i = 0; i < len && o + 1 < cap;) {
        unsigned char c = b[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        bool valid = n > 0 && i + n <= len && (n == 1 || c >= 0xC2) && c <= 0xF4;
        for (size_t k = 1; valid && k < n; k++)
            valid = (b[i + k] & 0xC0) == 0x80;
        if (!valid || o + n >= cap) {
            out[o++] = '?';
            i += valid ? n : 1;
            continue;
        }
        if (n == 1 && (c < 0x20 || c == 0x7F)) {
            out[o++] = (c == '\t' || c == '\n' || c == '\r') ? ' ' : '?';
            i++;
            continue;
        }
        memcpy(out + o, b + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
}

/* Counts a failed attempt; in the subscriber phase also keeps its status, body and reason for
 * the dead letter (knativeerror*) or the dead record, and the trigger's failing state. */
static void record_failure(delivery_t *v, int status, const char *body, size_t body_len,
                           const char *errtext)
{
    trigger_run_t *tr = v->tr;
    tr->failed++;
    tr->last_status = status > 0 ? status : -1;
    if (status > 0)
        snprintf(tr->last_error, sizeof tr->last_error, "HTTP %d", status);
    else
        snprintf(tr->last_error, sizeof tr->last_error, "%s", errtext ? errtext : "network");
    if (v->to_dls)
        return; /* a dead letter reports the subscriber's failure, not the sink's */
    uint64_t now = hd_wall_ms();
    if (!tr->failing) {
        tr->failing = true;
        tr->failing_since_ms = now;
        tr->failed_attempts = 0;
    }
    tr->failed_attempts++;
    tr->last_attempt_ms = now;
    body_excerpt(tr->last_body, sizeof tr->last_body, body, body ? body_len : 0);
    v->last_status = status > 0 ? status : -1;
    hd_free(v->last_body);
    v->last_body = NULL;
    v->last_body_len = 0;
    if (body_len) {
        size_t n = body_len > HD_DISPATCH__ERRDATA_MAX ? HD_DISPATCH__ERRDATA_MAX : body_len;
        v->last_body = hd_malloc(n);
        if (v->last_body) {
            memcpy(v->last_body, body, n);
            v->last_body_len = n;
        }
    }
    snprintf(v->last_err, sizeof v->last_err, "%s", errtext ? errtext : "");
}

/* The subscriber took an event: counted, and it is not failing any more. */
static void note_delivered(trigger_run_t *tr)
{
    tr->delivered++;
    tr->failing = false;
    tr->failing_since_ms = 0;
    tr->failed_attempts = 0;
    tr->last_attempt_ms = hd_wall_ms();
}

/* Builds the dead letter: the event with knativeerrordest, knativeerrorcode and
 * knativeerrordata (the subscriber's last answer). False when out of memory. */
static bool build_dead_letter(delivery_t *v)
{
    trigger_run_t *tr = v->tr;
    ce_event_t *ev = ce_event_clone(v->e->ev);
    shared_event_t *e = ev ? hd_dispatch__event_new(v->seq, ev) : NULL;
    if (e == NULL) {
        ce_event_free(ev);
        return false;
    }
    const char *dest = tr->sub_uri ? tr->sub_uri : "";
    ce_event_set(ev, "knativeerrordest", dest, strlen(dest), NULL);
    char code[16];
    snprintf(code, sizeof code, "%d", v->last_status > 0 ? v->last_status : 500);
    ce_event_set(ev, "knativeerrorcode", code, strlen(code), NULL);
    if (v->last_body_len) {
        /* out of memory loses only this attribute, not the dead letter */
        ce_buf_t enc = {0};
        if (ce_base64_encode(v->last_body, v->last_body_len, &enc) == CE_E_OK)
            ce_event_set(ev, "knativeerrordata", enc.data, enc.len, NULL);
        ce_buf_free(&enc);
    }
    v->dls_e = e;
    return true;
}

/* The id of the delivery's event for log lines ("" until loaded). */
static const char *event_id(const delivery_t *v)
{
    const char *id = v->e && v->e->ev ? ce_event_get_str(v->e->ev, "id") : NULL;
    return id ? id : "";
}

/* Debug lines of one delivery: an attempt, a failure and its retry. Cheap when debug is off. */
static void log_delivery(const delivery_t *v, const char *msg, int status, uint64_t delay_ms,
                         const char *why)
{
    if (hd_log_level() != HD_LOG_DEBUG)
        return;
    const trigger_run_t *tr = v->tr;
    char seq[24], att[16], st[16], dl[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)v->seq);
    snprintf(att, sizeof att, "%u", v->to_dls ? v->dls_attempts + 1 : v->attempts + 1);
    snprintf(st, sizeof st, "%d", status);
    snprintf(dl, sizeof dl, "%llu", (unsigned long long)delay_ms);
    const char *to = v->to_dls ? tr->dls_uri : tr->sub_uri;
    if (status == 0) /* an attempt */
        hd_log(HD_LOG_DEBUG, msg, "namespace", tr->ns, "trigger", tr->name, "id", event_id(v),
               HD_LOG_NUM("seq"), seq, HD_LOG_NUM("attempt"), att, "to", to ? to : "in process",
               NULL);
    else
        hd_log(HD_LOG_DEBUG, msg, "namespace", tr->ns, "trigger", tr->name, "id", event_id(v),
               HD_LOG_NUM("seq"), seq, HD_LOG_NUM("status"), st, HD_LOG_NUM("retry_in_ms"), dl,
               "error", why ? why : "", NULL);
}

/* No dead-letter sink: the event is kept in the dead table for `herald dlq`. */
static void to_dead_table(delivery_t *v)
{
    trigger_run_t *tr = v->tr;
    hd_dispatch_t *d = tr->d;
    char err[1400];
    int n;
    if (v->last_status > 0 && v->last_body_len == 0)
        n = snprintf(err, sizeof err, "HTTP %d", v->last_status);
    else if (v->last_status > 0)
        n = snprintf(err, sizeof err, "HTTP %d: %.*s", v->last_status,
                     (int)(v->last_body_len > HD_DISPATCH__ERRDATA_MAX ? HD_DISPATCH__ERRDATA_MAX
                                                                       : v->last_body_len),
                     v->last_body ? v->last_body : "");
    else
        n = snprintf(err, sizeof err, "%s", v->last_err[0] ? v->last_err : "network error");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof err)
        n = sizeof err - 1;
    hd_evlog_txn_t *b = hd_dispatch__txn(d);
    if (b && hd_evlog_txn_dead_put(b, tr->id, v->seq, v->last_status, err, (size_t)n) == HD_E_OK)
        d->batch_ops++;
    v->replayed_dead = false; /* the dead record was just rewritten; do not delete it */
    tr->may_have_dead = true;
    tr->dead++;
    hd_metric_inc(tr->m_dead, 1);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)v->seq);
    hd_log(HD_LOG_WARN, "event dead after its last attempt (no dead-letter sink)", "namespace",
           tr->ns, "trigger", tr->name, "id", event_id(v), HD_LOG_NUM("seq"), seqs, "error", err,
           NULL);
    delivery_done(v);
}

static void delivery_send(delivery_t *v);

/* Carries out a decision of hd_dispatch__decide. body and errtext (borrowed): the failed
 * answer's body and the reason, when the decision says the attempt failed. */
static void apply(delivery_t *v, const hd_dispatch__decision_t *dec, const char *body,
                  size_t body_len, const char *errtext)
{
    trigger_run_t *tr = v->tr;
    if (dec->failed)
        record_failure(v, dec->status, body, body_len, errtext ? errtext : dec->why);
    switch (dec->action) {
    case HD_DISPATCH__SEND:
        hd_dispatch__set_awaiting_dls(v, false);
        delivery_send(v);
        return;
    case HD_DISPATCH__WAIT:
        hd_dispatch__set_awaiting_dls(v, v->to_dls);
        if (dec->failed)
            log_delivery(v, "delivery failed; retrying", dec->status > 0 ? dec->status : -1,
                         dec->delay_ms, errtext ? errtext : dec->why);
        hd_dispatch__delivery_schedule(v, dec->delay_ms);
        return;
    case HD_DISPATCH__DELIVERED:
        note_delivered(tr);
        delivery_done(v);
        return;
    case HD_DISPATCH__DEAD_LETTERED: {
        char seq[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)v->seq);
        hd_log(HD_LOG_WARN, "event sent to the dead-letter sink", "namespace", tr->ns, "trigger",
               tr->name, "id", event_id(v), HD_LOG_NUM("seq"), seq, "dls", tr->dls_uri, NULL);
        tr->dead_lettered++;
        hd_metric_inc(tr->m_dls, 1);
        delivery_done(v);
        return;
    }
    case HD_DISPATCH__REPLY:
        /* only an ANSWER fact leads here, and delivery_answer forwards the reply itself */
        return;
    case HD_DISPATCH__RETRY:
        if (v->to_dls) {
            v->dls_attempts++;
            char seq[24];
            snprintf(seq, sizeof seq, "%llu", (unsigned long long)v->seq);
            hd_log(HD_LOG_WARN, "dead-letter sink failed; event kept pending", "namespace", tr->ns,
                   "trigger", tr->name, "id", event_id(v), HD_LOG_NUM("seq"), seq, "dls",
                   tr->dls_uri, NULL);
        } else if (dec->failed) {
            log_delivery(v, "delivery failed; retrying", dec->status > 0 ? dec->status : -1,
                         dec->delay_ms, errtext ? errtext : dec->why);
        }
        hd_dispatch__delivery_schedule(v, dec->delay_ms);
        return;
    case HD_DISPATCH__TO_DEAD_LETTER:
        v->to_dls = true;
        delivery_attempt(v);
        return;
    case HD_DISPATCH__TO_DEAD_TABLE:
        hd_dispatch__set_awaiting_dls(v, false);
        v->to_dls = false;
        to_dead_table(v);
        return;
    }
}

/* The facts of a delivery and its trigger that every decision needs. */
static hd_dispatch__facts_t facts_of(const delivery_t *v, hd_dispatch__fact_t what)
{
    const trigger_run_t *tr = v->tr;
    return (hd_dispatch__facts_t){
        .what = what,
        .to_dls = v->to_dls,
        .has_dls = tr->dls_uri != NULL,
        .dls_unresolved = tr->dl.dead_letter_unresolved,
        .has_subscriber = tr->sub_uri != NULL,
        .attempts = v->attempts,
        .dls_attempts = v->dls_attempts,
    };
}

/* The reply destination or an in-process log took the event. */
static void delivery_stored(delivery_t *v)
{
    hd_dispatch__facts_t f = facts_of(v, HD_DISPATCH__FACT_STORED);
    hd_dispatch__decision_t dec = hd_dispatch__decide(&v->tr->dl, &f, 0);
    apply(v, &dec, NULL, 0, NULL);
}

/* An attempt, a reply or an in-process store failed without a usable answer. status: the one to
 * record (<= 0: no answer); body and why borrowed. */
static void delivery_failed(delivery_t *v, int status, const char *body, size_t body_len,
                            const char *why)
{
    hd_dispatch__facts_t f = facts_of(v, HD_DISPATCH__FACT_FAILED);
    f.status = status;
    hd_dispatch__decision_t dec = hd_dispatch__decide(&v->tr->dl, &f, 0);
    apply(v, &dec, body, body_len, why);
}

/* An event stored in process (a reply, or a delivery to a local broker or channel). */
static void local_stored(void *arg, hd_err_t status)
{
    delivery_t *v = arg;
    v->in_ingest = false;
    if (v->tr == NULL) {
        hd_dispatch__delivery_free(v); /* the dispatcher or the trigger went away meanwhile */
        return;
    }
    if (v->local) {
        v->local = false;
        hd_metric_inc(code_metric(v->tr, status == HD_E_OK ? 202 : 503), 1);
        hd_metric_observe(v->tr->m_latency, (double)(hd_now_ms() - v->started_ms) / 1000.0);
    }
    if (status != HD_E_OK) {
        /* the spec: if storing the reply fails, the delivery fails and is retried */
        char why[96];
        snprintf(why, sizeof why, "storing the event in process failed: %s",
                 hd_err_message(status));
        delivery_failed(v, 503, NULL, 0, why);
        return;
    }
    delivery_stored(v);
}

/* Appends one event to a log of this heraldd through the ingest hook; local_stored finishes the
 * delivery. */
static void local_store(delivery_t *v, uint32_t log_id, ce_event_t *ev)
{
    hd_dispatch_t *d = v->tr->d;
    v->in_ingest = true;
    hd_err_t rc = d->hooks.ingest ? d->hooks.ingest(d->hooks.ctx, log_id, &ev, 1, local_stored, v)
                                  : HD_E_CLOSED;
    if (rc != HD_E_OK) {
        v->in_ingest = false;
        if (v->local) {
            v->local = false;
            hd_metric_inc(code_metric(v->tr, 503), 1);
        }
        char why[96];
        snprintf(why, sizeof why, "storing the event in process failed: %s", hd_err_message(rc));
        delivery_failed(v, rc == HD_E_NOTFOUND ? 404 : 503, NULL, 0, why);
    }
}

static bool is_ce_response(const hd_httpc_resp_t *r)
{
    size_t l;
    if (hd_httpc_resp_header(r, "ce-specversion", NULL))
        return true;
    const char *ct = hd_httpc_resp_header(r, "content-type", &l);
    return ct && l >= 24 && strncasecmp(ct, "application/cloudevents", 23) == 0;
}

/* The answer of a subscription's reply destination: the delivery is done only when it took the
 * reply (Knative retries the whole delivery otherwise). */
static void reply_answer(void *arg, const hd_httpc_resp_t *r)
{
    delivery_t *v = arg;
    trigger_run_t *tr = v->tr;
    v->call = NULL;
    tr->ninflight--;
    if (r->err == HD_E_OK && r->status >= 200 && r->status < 300) {
        delivery_stored(v);
        return;
    }
    char why[sizeof v->last_err];
    snprintf(why, sizeof why, "the reply destination %s: %s", tr->reply_uri,
             r->err == HD_E_OK ? "refused the reply" : r->error);
    delivery_failed(v, r->err == HD_E_OK ? r->status : -1, r->body, r->body_len, why);
}

/* Sends a subscription's reply to its reply URI (binary mode, the subscription's header
 * encoding). */
static void reply_send(delivery_t *v, ce_event_t *reply)
{
    trigger_run_t *tr = v->tr;
    if (v->reply_enc_ok) {
        ce_http_out_free(&v->reply_enc);
        v->reply_enc_ok = false;
    }
    if (ce_http_encode(reply, tr->dl.structured ? CE_HTTP_STRUCTURED : CE_HTTP_BINARY,
                       tr->dl.header_strict ? CE_HEADER_STRICT : CE_HEADER_COMPAT,
                       &v->reply_enc) != CE_E_OK) {
        delivery_failed(v, -1, NULL, 0, "the reply could not be encoded");
        return;
    }
    v->reply_enc_ok = true;
    hd_httpc_req_t req = {
        .url = tr->reply_uri,
        .headers = v->reply_enc.headers,
        .header_count = v->reply_enc.header_count,
        .body = v->reply_enc.body.data,
        .body_len = v->reply_enc.body.len,
        .timeout_ms = tr->dl.timeout_ms ? tr->dl.timeout_ms : 30000,
    };
    tr->ninflight++;
    hd_err_t rc = hd_httpc_request(tr->d->httpc, &req, reply_answer, v, &v->call);
    if (rc != HD_E_OK) {
        tr->ninflight--;
        v->call = NULL;
        char why[96];
        snprintf(why, sizeof why, "cannot send the reply: %s", hd_err_message(rc));
        delivery_failed(v, -1, NULL, 0, why);
    }
}

/* A 200/201 answer carrying a CloudEvent. A trigger's reply goes back into its broker with the
 * knativebrokerttl guard; a subscription's goes to its reply destination (in process or over
 * HTTP), or is dropped and counted when it has none, as Knative does. Returns false when the
 * answer is not a CloudEvent (a failed delivery). */
static bool handle_reply(delivery_t *v, const hd_httpc_resp_t *r)
{
    trigger_run_t *tr = v->tr;
    ce_http_msg_t msg = {.headers = r->headers,
                         .header_count = r->header_count,
                         .body = r->body,
                         .body_len = r->body_len};
    ce_event_t **evs = NULL;
    size_t n = 0;
    ce_error_t err;
    if (r->body_truncated || ce_http_decode(&msg, &evs, &n, &err) != CE_E_OK || n != 1) {
        if (evs) {
            for (size_t i = 0; i < n; i++)
                ce_event_free(evs[i]);
            free(evs);
        }
        return false;
    }
    ce_event_t *reply = evs[0];
    free(evs);
    /* the trace continues into the reply */
    const char *traceparent = ce_event_get_str(v->e->ev, "traceparent");
    if (traceparent && !ce_event_get(reply, "traceparent", 11)) {
        ce_event_set(reply, "traceparent", traceparent, strlen(traceparent), NULL);
        const char *tracestate = ce_event_get_str(v->e->ev, "tracestate");
        if (tracestate)
            ce_event_set(reply, "tracestate", tracestate, strlen(tracestate), NULL);
    }
    if (tr->subscription) {
        if (tr->reply_log) {
            local_store(v, tr->reply_log, reply);
        } else if (tr->reply_uri) {
            reply_send(v, reply);
        } else {
            hd_metric_inc(tr->m_reply_drop, 1);
            note_delivered(tr);
            delivery_done(v);
        }
        ce_event_free(reply);
        return true;
    }
    int32_t ttl = HD_DISPATCH__DEFAULT_TTL;
    const ce_value_t *tv = ce_event_get(v->e->ev, "knativebrokerttl", 16);
    if (tv)
        ttl = tv->type == CE_TYPE_INTEGER ? tv->i : (int32_t)strtol(tv->str, NULL, 10);
    ttl -= 1;
    if (ttl <= 0) {
        hd_metric_inc(tr->br->m_ttl_drop, 1);
        hd_log(HD_LOG_WARN, "reply dropped: knativebrokerttl exhausted (event loop?)", "namespace",
               tr->ns, "trigger", tr->name, "id", ce_event_get_str(reply, "id"), NULL);
        ce_event_free(reply);
        note_delivered(tr);
        delivery_done(v);
        return true;
    }
    ce_event_set_int(reply, "knativebrokerttl", ttl, NULL);
    if (tr->br->b == NULL) {
        ce_event_free(reply);
        note_delivered(tr);
        delivery_done(v);
        return true;
    }
    local_store(v, tr->br->id, reply);
    ce_event_free(reply);
    return true;
}

static void delivery_answer(void *arg, const hd_httpc_resp_t *r)
{
    delivery_t *v = arg;
    trigger_run_t *tr = v->tr;
    v->call = NULL;
    tr->ninflight--;
    int code = r->err == HD_E_OK ? r->status : (r->err == HD_E_TIMEOUT ? -2 : -1);
    hd_metric_inc(code_metric(tr, code), 1);
    hd_metric_observe(tr->m_latency, (double)(hd_now_ms() - v->started_ms) / 1000.0);
    if (r->err != HD_E_OK) {
        delivery_failed(v, -1, NULL, 0, r->error);
        return;
    }
    hd_dispatch__facts_t f = facts_of(v, HD_DISPATCH__FACT_ANSWER);
    f.status = r->status;
    f.body_len = r->body_len;
    /* headers are looked up only for the answers whose decision depends on them */
    if (!v->to_dls && (r->status == 200 || r->status == 201))
        f.body_is_event = is_ce_response(r);
    if (r->status == 429 || r->status == 503)
        f.retry_after = hd_httpc_resp_header(r, "retry-after", &f.retry_after_len);
    uint64_t now = f.retry_after ? hd_wall_ms() : 0;
    hd_dispatch__decision_t dec = hd_dispatch__decide(&tr->dl, &f, now);
    if (dec.action == HD_DISPATCH__REPLY) {
        if (handle_reply(v, r))
            return;
        f.reply_bad = true;
        dec = hd_dispatch__decide(&tr->dl, &f, now);
    }
    apply(v, &dec, r->body, r->body_len, NULL);
}

static void delivery_attempt(delivery_t *v)
{
    trigger_run_t *tr = v->tr;
    hd_dispatch_t *d = tr->d;
    if (v->e == NULL) {
        ce_event_t *ev = NULL;
        hd_err_t rc = hd_evlog_get(d->log, tr->br->id, v->seq, &ev);
        if (rc == HD_E_OK && (v->e = hd_dispatch__event_new(v->seq, ev)) != NULL)
            v->keyhash = v->e->keyhash;
        if (rc != HD_E_OK || v->e == NULL) {
            ce_event_free(ev);
            if (rc == HD_E_NOTFOUND) {
                /* trimmed by retention: nothing left to deliver */
                hd_log(HD_LOG_WARN, "pending event no longer stored; dropped", "namespace", tr->ns,
                       "trigger", tr->name, NULL);
                delivery_done(v);
            } else if (rc == HD_E_CORRUPT) {
                hd_dispatch__quarantine(tr, v->seq, d->log->corrupt_why);
                v->replayed_dead = false; /* the dead record was just rewritten: keep it */
                delivery_done(v);
            } else {
                hd_dispatch__delivery_schedule(v, HD_DISPATCH__LATER_MS);
            }
            return;
        }
    }
    hd_dispatch__facts_t f = facts_of(v, HD_DISPATCH__FACT_READY);
    hd_dispatch__decision_t dec = hd_dispatch__decide(&tr->dl, &f, 0);
    apply(v, &dec, NULL, 0, NULL);
}

/* Makes the attempt the decision asked for: in process, or over HTTP. */
static void delivery_send(delivery_t *v)
{
    trigger_run_t *tr = v->tr;
    hd_dispatch_t *d = tr->d;
    if (v->to_dls && v->dls_e == NULL && !build_dead_letter(v)) {
        hd_dispatch__delivery_schedule(v, HD_DISPATCH__LATER_MS);
        return;
    }
    log_delivery(v, v->to_dls ? "delivery attempt to the dead-letter sink" : "delivery attempt", 0,
                 0, NULL);
    if (!v->to_dls && tr->sub_log) {
        /* a broker, channel or flow of this heraldd: stored in process, no HTTP hop */
        v->attempts++;
        v->started_ms = hd_now_ms();
        v->local = true;
        local_store(v, tr->sub_log, v->e->ev);
        return;
    }
    shared_event_t *e = v->to_dls ? v->dls_e : v->e;
    int mode = tr->dl.structured ? 1 : 0, strict = tr->dl.header_strict ? 1 : 0;
    if (!e->enc_ok[mode][strict]) {
        if (ce_http_encode(e->ev, mode ? CE_HTTP_STRUCTURED : CE_HTTP_BINARY,
                           strict ? CE_HEADER_STRICT : CE_HEADER_COMPAT,
                           &e->enc[mode][strict]) != CE_E_OK) {
            hd_dispatch__delivery_schedule(v, HD_DISPATCH__LATER_MS);
            return;
        }
        e->enc_ok[mode][strict] = true;
    }
    ce_http_out_t *o = &e->enc[mode][strict];
    ce_header_t stack_hdrs[64];
    ce_header_t *hdrs = stack_hdrs;
    if (o->header_count + 4 > sizeof stack_hdrs / sizeof stack_hdrs[0]) {
        hdrs = hd_malloc((o->header_count + 4) * sizeof *hdrs);
        if (hdrs == NULL) {
            hd_dispatch__delivery_schedule(v, HD_DISPATCH__LATER_MS);
            return;
        }
    }
    size_t nh = 0;
    for (size_t i = 0; i < o->header_count; i++)
        hdrs[nh++] = o->headers[i];
    hdrs[nh++] = (ce_header_t){"Prefer", 6, "reply", 5};
    hdrs[nh++] = (ce_header_t){"Kn-Namespace", 12, tr->ns, strlen(tr->ns)};
    const ce_value_t *tp = ce_event_get(e->ev, "traceparent", 11);
    if (tp)
        hdrs[nh++] = (ce_header_t){"traceparent", 11, tp->str, tp->len};
    const ce_value_t *tracestate = ce_event_get(e->ev, "tracestate", 10);
    if (tracestate)
        hdrs[nh++] = (ce_header_t){"tracestate", 10, tracestate->str, tracestate->len};
    hd_httpc_req_t req = {
        .url = v->to_dls ? tr->dls_uri : tr->sub_uri,
        .headers = hdrs,
        .header_count = nh,
        .body = o->body.data,
        .body_len = o->body.len,
        .timeout_ms = tr->dl.timeout_ms ? tr->dl.timeout_ms : 30000,
    };
    if (!v->to_dls)
        v->attempts++;
    v->started_ms = hd_now_ms();
    tr->ninflight++;
    hd_err_t rc =
        req.url ? hd_httpc_request(d->httpc, &req, delivery_answer, v, &v->call) : HD_E_INVAL;
    if (hdrs != stack_hdrs)
        hd_free(hdrs); /* the request was serialized: headers are no longer needed */
    if (rc != HD_E_OK) {
        tr->ninflight--;
        v->call = NULL;
        /* a bad URL cannot improve by retrying now; keep the event and try later */
        char why[96];
        snprintf(why, sizeof why, "cannot send: %s", hd_err_message(rc));
        delivery_failed(v, -1, NULL, 0, why);
    }
}

delivery_t *hd_dispatch__delivery_new(trigger_run_t *tr, uint64_t seq, shared_event_t *e)
{
    delivery_t *v = hd_calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->tr = tr;
    v->seq = seq;
    v->e = e;
    v->keyhash = e ? e->keyhash : 0;
    v->next = tr->deliveries;
    if (tr->deliveries)
        tr->deliveries->prev = v;
    tr->deliveries = v;
    tr->nlive++;
    return v;
}

static bool key_busy(const trigger_run_t *tr, uint32_t key)
{
    for (const delivery_t *v = tr->deliveries; v; v = v->next)
        if (!v->replayed_dead && v->keyhash == key)
            return true;
    return false;
}

/* Starts deliveries while the trigger has free slots. */
static void trigger_pump_once(trigger_run_t *tr);

void hd_dispatch__pump(trigger_run_t *tr)
{
    if (tr->removed || tr->br == NULL || tr->d->closed || tr->d->draining)
        return;
    if (tr->sub_uri == NULL)
        return; /* unresolved subscriber (Ready=False): events wait, the cursor holds */
    if (tr->pumping) {
        /* a delivery finished synchronously inside the loop below: it loops again */
        tr->repump = true;
        return;
    }
    tr->pumping = true;
    do {
        tr->repump = false;
        trigger_pump_once(tr);
    } while (tr->repump && !tr->removed && tr->br != NULL && !tr->d->closed);
    tr->pumping = false;
}

static void trigger_pump_once(trigger_run_t *tr)
{
    uint32_t max = tr->dl.max_in_flight ? tr->dl.max_in_flight : 100;
    while (tr->nlive < max && tr->replayed_dead_n > 0) {
        uint64_t seq = tr->replayed_dead_q[--tr->replayed_dead_n];
        delivery_t *v = hd_dispatch__delivery_new(tr, seq, NULL);
        if (v == NULL)
            return;
        v->replayed_dead = true;
        delivery_attempt(v);
    }
    bool ordered = tr->dl.ordering == HD_ORDER_ORDERED;
    size_t i = 0;
    while (tr->nlive < max && i < tr->q_len) {
        shared_event_t *e = hd_dispatch__q_at(tr, i);
        if (ordered && key_busy(tr, e->keyhash)) {
            if (++i >= 256)
                break; /* bound the walk; the rest waits for a slot anyway */
            continue;
        }
        hd_dispatch__q_remove(tr, i);
        delivery_t *v = hd_dispatch__delivery_new(tr, e->seq, e); /* takes the queue's reference */
        if (v == NULL) {
            hd_dispatch__event_unref(e);
            break;
        }
        hd_dispatch__mark_dirty(tr);
        delivery_attempt(v);
    }
    if (!tr->attached && !hd_dispatch__q_full(tr) && tr->next_seq < tr->br->routed_next)
        hd_dispatch__schedule_trigger_work(tr->d, tr);
}
