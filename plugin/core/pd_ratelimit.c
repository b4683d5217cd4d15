/* SPDX-License-Identifier: MIT */
/*
 * pd_ratelimit.c - see pd_ratelimit.h.
 *
 * Everything here is arithmetic on times passed in by the caller; there is
 * no clock, no lock and no sleeping, so each rule is tested on its own.
 */
#include "pd_ratelimit.h"

#include <stdlib.h>
#include <string.h>

int pd_ratelimit_init(pd_ratelimit_t *rl, int per_minute) {
  memset(rl, 0, sizeof(*rl));
  rl->server_remaining = -1;
  rl->server_limit = -1;
  if (per_minute <= 0)
    return 0;
  rl->sent = calloc((size_t)per_minute, sizeof(*rl->sent));
  if (rl->sent == NULL)
    return -1;
  rl->per_minute = per_minute;
  rl->sent_cap = (size_t)per_minute;
  return 0;
}

void pd_ratelimit_free(pd_ratelimit_t *rl) {
  free(rl->sent);
  memset(rl, 0, sizeof(*rl));
  rl->server_remaining = -1;
  rl->server_limit = -1;
}

/* The ceiling: with the ring full, the next request waits until the oldest
 * of the last per_minute sends leaves the sliding window. */
static double ceiling_delay(const pd_ratelimit_t *rl, double now) {
  if (rl->sent_cap == 0 || rl->sent_num < rl->sent_cap)
    return 0;
  double frees_at = rl->sent[rl->sent_head] + PD_RATELIMIT_WINDOW_S;
  return frees_at > now ? frees_at - now : 0;
}

/* A low server budget: keep server_spacing between requests until the
 * server's window resets. */
static double spacing_delay(const pd_ratelimit_t *rl, double now) {
  if (rl->server_spacing <= 0 || rl->last_sent <= 0 ||
      rl->server_reset_at <= now)
    return 0;
  double next = rl->last_sent + rl->server_spacing;
  if (next > rl->server_reset_at)
    next = rl->server_reset_at;
  return next > now ? next - now : 0;
}

double pd_ratelimit_delay_why(const pd_ratelimit_t *rl, double now,
                              pd_ratelimit_reason_t *reason) {
  pd_ratelimit_reason_t why = PD_RATELIMIT_NONE;
  double delay = 0;

  double d = rl->blocked_until > now ? rl->blocked_until - now : 0;
  if (d > delay) {
    delay = d;
    why = PD_RATELIMIT_BLOCKED;
  }
  d = ceiling_delay(rl, now);
  if (d > delay) {
    delay = d;
    why = PD_RATELIMIT_CEILING;
  }
  d = spacing_delay(rl, now);
  if (d > delay) {
    delay = d;
    why = PD_RATELIMIT_SERVER_LOW;
  }
  if (reason != NULL)
    *reason = why;
  return delay;
}

double pd_ratelimit_delay(const pd_ratelimit_t *rl, double now) {
  return pd_ratelimit_delay_why(rl, now, NULL);
}

void pd_ratelimit_on_send(pd_ratelimit_t *rl, double now) {
  rl->last_sent = now;
  if (rl->sent_cap == 0)
    return;
  if (rl->sent_num < rl->sent_cap) {
    rl->sent[(rl->sent_head + rl->sent_num) % rl->sent_cap] = now;
    rl->sent_num++;
    return;
  }
  /* Full: the newest send replaces the oldest. */
  rl->sent[rl->sent_head] = now;
  rl->sent_head = (rl->sent_head + 1) % rl->sent_cap;
}

void pd_ratelimit_set_server_limit(pd_ratelimit_t *rl, long limit) {
  rl->server_limit = limit > 0 ? limit : -1;
}

static int server_budget_is_low(const pd_ratelimit_t *rl, long remaining) {
  if (rl->server_limit > 0)
    return (double)remaining <= PD_RATELIMIT_LOW_SHARE * rl->server_limit;
  return remaining <= PD_RATELIMIT_LOW_REMAINING;
}

void pd_ratelimit_on_response(pd_ratelimit_t *rl, double now, long remaining,
                              long reset_s) {
  rl->consecutive_429 = 0;
  rl->server_remaining = remaining >= 0 ? remaining : -1;
  rl->server_reset_at = reset_s >= 0 ? now + (double)reset_s : 0;
  rl->server_spacing = 0;
  if (remaining < 0 || reset_s < 0)
    return; /* no usable hint: the ceiling and 429s still apply */

  if (remaining == 0) {
    /* Budget spent: the next request would only earn a 429. */
    if (rl->server_reset_at > rl->blocked_until)
      rl->blocked_until = rl->server_reset_at;
    return;
  }
  if (reset_s > 0 && server_budget_is_low(rl, remaining))
    rl->server_spacing = (double)reset_s / (double)remaining;
}

double pd_ratelimit_on_429(pd_ratelimit_t *rl, double now, double wait_s) {
  rl->consecutive_429++;
  double wait = wait_s;
  if (wait < 0) {
    wait = PD_RATELIMIT_BACKOFF_FIRST_S;
    for (unsigned i = 1;
         i < rl->consecutive_429 && wait < PD_RATELIMIT_BACKOFF_MAX_S; i++)
      wait *= 2;
    if (wait > PD_RATELIMIT_BACKOFF_MAX_S)
      wait = PD_RATELIMIT_BACKOFF_MAX_S;
  }
  if (now + wait > rl->blocked_until)
    rl->blocked_until = now + wait;
  return wait;
}

const char *pd_ratelimit_reason_name(pd_ratelimit_reason_t reason) {
  switch (reason) {
  case PD_RATELIMIT_CEILING:
    return "local request ceiling (MaxRequestsPerMinute) reached";
  case PD_RATELIMIT_SERVER_LOW:
    return "PagerDuty rate limit budget low (ratelimit-remaining)";
  case PD_RATELIMIT_BLOCKED:
    return "rate limited by PagerDuty";
  case PD_RATELIMIT_NONE:
    break;
  }
  return "no limit";
}
