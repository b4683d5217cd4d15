/* SPDX-License-Identifier: MIT */
/*
 * pd_retry_policy.c - see pd_retry_policy.h.
 */
#include "pd_retry_policy.h"

/* Exponential backoff with jitter: attempt 1 waits up to BASE. */
static double backoff_s(unsigned attempt, double jitter01) {
  double d = PD_SENDER_BACKOFF_BASE_S;
  for (unsigned i = 1; i < attempt && d < PD_SENDER_BACKOFF_CAP_S; i++)
    d *= 2;
  if (d > PD_SENDER_BACKOFF_CAP_S)
    d = PD_SENDER_BACKOFF_CAP_S;
  return d / 2 + jitter01 * d / 2;
}

double pd_sender_events_throttle_wait(double named_s, double base_s,
                                      double jitter01) {
  if (named_s >= 0)
    return named_s < PD_SENDER_NAMED_WAIT_CAP_S ? named_s
                                                : PD_SENDER_NAMED_WAIT_CAP_S;
  if (base_s <= 0)
    base_s = PD_SENDER_EVENTS_THROTTLE_S;
  if (!(jitter01 >= 0)) /* also NaN */
    jitter01 = 0;
  if (jitter01 > 1)
    jitter01 = 1;
  return base_s * (1.0 + PD_SENDER_EVENTS_THROTTLE_JITTER * jitter01);
}

double pd_retry_wait_s(const pd_send_result_t *r, unsigned attempt,
                       double events_throttle_s, double jitter01) {
  if (r->via_events && r->status == 429)
    return pd_sender_events_throttle_wait(r->wait_named ? r->retry_after_s : -1,
                                          events_throttle_s, jitter01);
  if (r->retry_after_s >= 0)
    return r->retry_after_s < PD_SENDER_NAMED_WAIT_CAP_S
               ? r->retry_after_s
               : PD_SENDER_NAMED_WAIT_CAP_S;
  return backoff_s(attempt, jitter01);
}

bool pd_retry_holds_block(const pd_send_result_t *r) {
  return r->throttled || r->no_response;
}

double pd_retry_slow_s(const pd_rest_t *rest) {
  if (rest != NULL && pd_rest_config(rest)->slow_interval_s > 0)
    return pd_rest_config(rest)->slow_interval_s;
  return PD_SENDER_SLOW_RETRY_S;
}
