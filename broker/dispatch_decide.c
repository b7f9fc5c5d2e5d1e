/*
 * dispatch_decide.c — the delivery decisions (hd_dispatch__decide in dispatch_internal.h): what
 * to do after each fact about a delivery, as a pure function of the facts, the trigger's
 * delivery settings and the wall clock. dispatch_delivery.c carries the decisions out; the unit
 * test (tests/unit/broker/test_delivery.c) drives every branch without a socket or a loop.
 */
#include "dispatch_internal.h"
#include "hd_backoff.h"

static hd_dispatch__decision_t act(hd_dispatch__action_t action, uint64_t delay_ms)
{
    return (hd_dispatch__decision_t){.action = action, .delay_ms = delay_ms};
}

/* Attempts to the subscriber are used up (or not worth making). */
static hd_dispatch__decision_t give_up(const hd_dispatch__facts_t *f)
{
    return act(f->has_dls || f->dls_unresolved ? HD_DISPATCH__TO_DEAD_LETTER
                                               : HD_DISPATCH__TO_DEAD_TABLE,
               0);
}

static uint64_t retry_after(const hd_delivery_t *dl, const hd_dispatch__facts_t *f,
                            uint64_t now_wall_ms)
{
    if (f->what != HD_DISPATCH__FACT_ANSWER || f->retry_after == NULL ||
        (f->status != 429 && f->status != 503))
        return 0;
    uint64_t cap =
        dl->retry_after_max_ms ? dl->retry_after_max_ms : HD_DISPATCH__RETRY_AFTER_CAP_MS;
    return hd_retry_after_ms(f->retry_after, f->retry_after_len, now_wall_ms, cap);
}

/* A failed attempt recorded with `status`. */
static hd_dispatch__decision_t failure(const hd_delivery_t *dl, const hd_dispatch__facts_t *f,
                                       int status, const char *why, uint64_t now_wall_ms)
{
    uint64_t ra = retry_after(dl, f, now_wall_ms);
    hd_dispatch__decision_t dec;
    if (f->to_dls) {
        /* the dead-letter sink failed too: the event stays pending, tried again later */
        uint64_t delay = hd_backoff_delay_ms(dl, f->dls_attempts + 1);
        if (delay < HD_DISPATCH__DLS_RETRY_MIN_MS)
            delay = HD_DISPATCH__DLS_RETRY_MIN_MS;
        if (delay > HD_DISPATCH__DLS_RETRY_CAP_MS)
            delay = HD_DISPATCH__DLS_RETRY_CAP_MS;
        dec = act(HD_DISPATCH__RETRY, ra > delay ? ra : delay);
    } else if (hd_status_retryable(status) && f->attempts <= dl->retry) {
        uint64_t delay = hd_backoff_delay_ms(dl, f->attempts);
        dec = act(HD_DISPATCH__RETRY, ra > delay ? ra : delay);
    } else {
        dec = give_up(f);
    }
    dec.failed = true;
    dec.status = status > 0 ? status : -1;
    dec.why = why;
    return dec;
}

static hd_dispatch__decision_t ready(const hd_delivery_t *dl, const hd_dispatch__facts_t *f)
{
    if (f->to_dls && !f->has_dls && f->dls_unresolved)
        /* the sink is set but does not resolve yet: the event waits for it, pending */
        return act(HD_DISPATCH__WAIT, HD_DISPATCH__DLS_AWAIT_MS);
    if (f->to_dls)
        /* a sink removed meanwhile: keep the event in the dead table instead */
        return act(f->has_dls ? HD_DISPATCH__SEND : HD_DISPATCH__TO_DEAD_TABLE, 0);
    if (f->attempts > dl->retry)
        return give_up(f); /* restored after a restart with no attempt left */
    if (!f->has_subscriber)
        return act(HD_DISPATCH__WAIT, HD_DISPATCH__LATER_MS);
    return act(HD_DISPATCH__SEND, 0);
}

static hd_dispatch__decision_t answer(const hd_delivery_t *dl, const hd_dispatch__facts_t *f,
                                      uint64_t now_wall_ms)
{
    int s = f->status;
    if (s < 200 || s >= 300)
        return failure(dl, f, s, NULL, now_wall_ms);
    if (f->to_dls)
        return act(HD_DISPATCH__DEAD_LETTERED, 0);
    if ((s == 200 || s == 201) && (f->body_is_event || (s == 200 && f->body_len > 0))) {
        if (f->body_is_event && !f->reply_bad)
            return act(HD_DISPATCH__REPLY, 0);
        /* a 200 whose body is not a CloudEvent: a proxy's page, not the subscriber's */
        return failure(dl, f, 502, "answer body is not a CloudEvent", now_wall_ms);
    }
    return act(HD_DISPATCH__DELIVERED, 0);
}

hd_dispatch__decision_t hd_dispatch__decide(const hd_delivery_t *dl,
                                            const hd_dispatch__facts_t *facts, uint64_t now_wall_ms)
{
    switch (facts->what) {
    case HD_DISPATCH__FACT_READY:
        return ready(dl, facts);
    case HD_DISPATCH__FACT_ANSWER:
        return answer(dl, facts, now_wall_ms);
    case HD_DISPATCH__FACT_STORED:
        return act(facts->to_dls ? HD_DISPATCH__DEAD_LETTERED : HD_DISPATCH__DELIVERED, 0);
    case HD_DISPATCH__FACT_FAILED:
        break;
    }
    return failure(dl, facts, facts->status, NULL, now_wall_ms);
}
