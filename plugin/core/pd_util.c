/* SPDX-License-Identifier: MIT */
/*
 * pd_util.c - see pd_util.h.
 */
#include "pd_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double pd_monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void pd_secret_free(char *secret) {
  if (secret == NULL)
    return;
  explicit_bzero(secret, strlen(secret));
  free(secret);
}

bool pd_is_blank(const char *s) {
  for (; *s != '\0'; s++)
    if (!isspace((unsigned char)*s))
      return false;
  return true;
}
