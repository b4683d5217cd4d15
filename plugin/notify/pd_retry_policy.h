/* SPDX-License-Identifier: MIT */
/*
 * pd_retry_policy.h - how long a Notify block waits after a failed
 * delivery attempt (the "Outcomes" table of pd_sender.h): the server's
 * named wait, the Events API's undocumented one, exponential backoff with
 * jitter, and SlowInterval after a 401 / 403. Pure functions: the caller
 * draws the randomness (jitter01 in [0, 1)).
 */
#ifndef PD_RETRY_POLICY_H
#define PD_RETRY_POLICY_H

#include <stdbool.h>

#include "pd_rest.h"
#include "pd_sender_actions.h"

/* Backoff for retried deliveries: BASE * 2^(attempt-1), capped; each wait
 * drawn uniformly from [d/2, d]. */
#define PD_SENDER_BACKOFF_BASE_S 1.0
#define PD_SENDER_BACKOFF_CAP_S 300.0
/* Waits named by the server (ratelimit-reset, Retry-After) are honoured up
 * to this long. */
#define PD_SENDER_NAMED_WAIT_CAP_S 3600.0
/* Events API 429: PagerDuty documents no rate-limit headers there and
 * advises retrying about 30 s apart (events-API-v2/05-Rate-Limits.md,
 * doc/pagerduty-api.md). Each wait is stretched by up to this share, at random,
 * so many collectd instances throttled together do not retry in step. */
#define PD_SENDER_EVENTS_THROTTLE_S 30.0
#define PD_SENDER_EVENTS_THROTTLE_JITTER 0.2
/* 401/403 without an Account's SlowInterval. */
#define PD_SENDER_SLOW_RETRY_S 300.0

/*
 * How long a block waits after the Events API answered 429 (the block
 * sends nothing meanwhile, so each dedup key's events stay in order): the
 * wait the answer named (Retry-After, or ratelimit-reset if an answer ever
 * carries it; named_s < 0: none), capped at PD_SENDER_NAMED_WAIT_CAP_S;
 * otherwise base_s (0 = PD_SENDER_EVENTS_THROTTLE_S) stretched by
 * PD_SENDER_EVENTS_THROTTLE_JITTER * jitter01 (jitter01 in [0, 1)): never
 * sooner than base_s, never later than base_s * 1.2.
 * Exported for tests only.
 */
double pd_sender_events_throttle_wait(double named_s, double base_s,
                                      double jitter01);

/*
 * How long an event waits after the attempt r (kind PD_SEND_RETRY): an
 * Events 429 per pd_sender_events_throttle_wait (events_throttle_s as its
 * base_s); else a wait the server or the limiter named, capped at
 * PD_SENDER_NAMED_WAIT_CAP_S; else exponential backoff: attempt 1 waits
 * up to PD_SENDER_BACKOFF_BASE_S, each attempt twice as long up to
 * PD_SENDER_BACKOFF_CAP_S, the wait drawn from [d/2, d] by jitter01.
 */
double pd_retry_wait_s(const pd_send_result_t *r, unsigned attempt,
                       double events_throttle_s, double jitter01);

/* true when the failure concerns every event of the block, not only this
 * one (a rate limit, or a server that does not answer): the whole block
 * waits, rather than try each event in turn. */
bool pd_retry_holds_block(const pd_send_result_t *r);

/* How long the block waits after a 401 or 403: its Account's
 * SlowInterval, or PD_SENDER_SLOW_RETRY_S (rest NULL, or none set). */
double pd_retry_slow_s(const pd_rest_t *rest);

#endif /* PD_RETRY_POLICY_H */
