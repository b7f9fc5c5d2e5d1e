/*
 * hd_backoff.h — the retry decisions of delivery (dispatch_backoff.c): the delay before a retry,
 * which answers are retried, and what a Retry-After header asks for. Pure functions, unit-tested
 * without a loop; any thread.
 */
#ifndef HERALD_HD_BACKOFF_H
#define HERALD_HD_BACKOFF_H

#include "hd.h"
#include "hd_resources.h"

/* Delay before retry k (k = 1..retry): exponential delay*2^(k-1), linear delay*k, capped by
 * backoff_max_ms when set; saturates instead of overflowing. */
uint64_t hd_backoff_delay_ms(const hd_delivery_t *dl, uint32_t k);
/* Knative's table: true for network errors (status <= 0), 404, 408, 409, 429, 5xx and codes not
 * listed; false for 2xx, 3xx, 400, 401, 403 and other 4xx. */
bool hd_status_retryable(int status);
/* The delay a Retry-After header asks for (delta-seconds or HTTP-date, relative to now_wall_ms),
 * capped by retry_after_max_ms when non-zero; 0 when absent or unparseable. */
uint64_t hd_retry_after_ms(const char *value, size_t len, uint64_t now_wall_ms,
                           uint64_t retry_after_max_ms);

#endif /* HERALD_HD_BACKOFF_H */
