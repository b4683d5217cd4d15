/* SPDX-License-Identifier: MIT */
/*
 * pd_ratelimit.h - staying under PagerDuty's rate limits before it says stop.
 *
 * One limiter per account, shared by the read side and the REST sender (one
 * token, one budget). Three inputs decide when the next request may go:
 *  - the account's own ceiling, MaxRequestsPerMinute, over a sliding minute;
 *  - the server's ratelimit-remaining / ratelimit-reset headers: when the
 *    remaining budget runs low, requests are spread over what is left of the
 *    window instead of being spent at once;
 *  - a 429, which blocks everything until ratelimit-reset / Retry-After (or a
 *    backoff when the response named no time).
 * Time is passed in (seconds, CLOCK_MONOTONIC-like) so it is testable. The
 * limiter does no locking: its owner (the HTTP client) serialises calls.
 */
#ifndef PD_RATELIMIT_H
#define PD_RATELIMIT_H

#include <stddef.h>

#define PD_RATELIMIT_WINDOW_S 60.0
/* Backoff after a 429 that named no wait: 1 s, doubling, capped. */
#define PD_RATELIMIT_BACKOFF_FIRST_S 1.0
#define PD_RATELIMIT_BACKOFF_MAX_S 60.0
/* The server's budget counts as low at this share of ratelimit-limit, or
 * below this many requests when the limit is unknown (10% of 960). */
#define PD_RATELIMIT_LOW_SHARE 0.10
#define PD_RATELIMIT_LOW_REMAINING 96

typedef struct {
  int per_minute;             /* own ceiling; 0 = none */
  double *sent;               /* ring of send times within the window */
  size_t sent_cap;            /* == per_minute */
  size_t sent_head, sent_num; /* sent_head: index of the oldest entry */
  double blocked_until;       /* after a 429 or an exhausted server budget */
  long server_remaining;      /* last ratelimit-remaining, -1 unknown */
  double server_reset_at;     /* when the server's window resets, 0 unknown */
  unsigned consecutive_429;
  /* Extensions to the lead's contract: */
  long server_limit;     /* last ratelimit-limit, -1 unknown */
  double server_spacing; /* gap between requests while the budget is low */
  double last_sent;      /* time of the last request, 0 none */
} pd_ratelimit_t;

/* Which input imposes the current delay (for messages). */
typedef enum {
  PD_RATELIMIT_NONE = 0,   /* no delay */
  PD_RATELIMIT_CEILING,    /* MaxRequestsPerMinute */
  PD_RATELIMIT_SERVER_LOW, /* spreading a low ratelimit-remaining */
  PD_RATELIMIT_BLOCKED,    /* after a 429 or ratelimit-remaining 0 */
} pd_ratelimit_reason_t;

/* Returns -1 when the ring cannot be allocated. */
int pd_ratelimit_init(pd_ratelimit_t *rl, int per_minute);
void pd_ratelimit_free(pd_ratelimit_t *rl);

/* Seconds to wait before the next request may be sent (0 = now).
 * Exported for tests only. */
double pd_ratelimit_delay(const pd_ratelimit_t *rl, double now);

/* Like pd_ratelimit_delay(), also saying which input imposes the delay
 * (the one that waits longest). reason may be NULL. */
double pd_ratelimit_delay_why(const pd_ratelimit_t *rl, double now,
                              pd_ratelimit_reason_t *reason);

/* Records that a request was sent at now. */
void pd_ratelimit_on_send(pd_ratelimit_t *rl, double now);

/*
 * Records the server's view from a response: remaining and reset_s are -1
 * when the headers were absent. A non-429 response clears the 429 streak.
 * When remaining is low (see PD_RATELIMIT_LOW_*), the next requests are
 * spaced reset_s / remaining apart; when it is 0, nothing is sent until the
 * reset.
 */
void pd_ratelimit_on_response(pd_ratelimit_t *rl, double now, long remaining,
                              long reset_s);

/* Records ratelimit-limit (call before pd_ratelimit_on_response; -1 when
 * the header was absent) so "low" can be judged against the real limit. */
void pd_ratelimit_set_server_limit(pd_ratelimit_t *rl, long limit);

/*
 * Records a 429. wait_s is the ratelimit-reset or Retry-After the response
 * named, or a negative value when it named none (then an exponential backoff
 * from 1 s, capped at 60 s, is used). Returns the wait imposed, in seconds.
 */
double pd_ratelimit_on_429(pd_ratelimit_t *rl, double now, double wait_s);

const char *pd_ratelimit_reason_name(pd_ratelimit_reason_t reason);

#endif /* PD_RATELIMIT_H */
