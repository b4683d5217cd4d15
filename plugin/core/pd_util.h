/* SPDX-License-Identifier: MIT */
/*
 * pd_util.h - the few helpers every room of the plugin uses: the clock,
 * secret wiping and a blank test for text.
 */
#ifndef PD_UTIL_H
#define PD_UTIL_H

#include <stdbool.h>

/* Seconds on CLOCK_MONOTONIC: the clock of every interval, deadline and
 * rate-limit decision in the plugin. */
double pd_monotonic_now(void);

/* Wipes a secret string (a token, a routing key) and frees it; NULL is
 * fine. Every module that holds a secret frees it with this. */
void pd_secret_free(char *secret);

/* Is s empty or white space only (isspace)? */
bool pd_is_blank(const char *s);

#endif /* PD_UTIL_H */
