/* SPDX-License-Identifier: MIT */
/*
 * daemon_stubs.c - see daemon_stubs.h. Prototypes are exactly the daemon's.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_stubs.h"

#define STUB_LOG_MAX 256

typedef struct {
  int level;
  char text[1024];
} stub_line_t;

static stub_line_t stub_lines[STUB_LOG_MAX];
static size_t stub_lines_num;
static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;

char *hostname_g = "stubhost";
cdtime_t interval_g = 10 * (((cdtime_t)1) << 30);

void plugin_log(int level, const char *format, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(text, sizeof(text), format, ap);
  va_end(ap);
  if (getenv("STUB_LOG_ECHO") != NULL)
    fprintf(stderr, "[log %d] %s\n", level, text);
  pthread_mutex_lock(&stub_lock);
  if (stub_lines_num < STUB_LOG_MAX) {
    stub_lines[stub_lines_num].level = level;
    memcpy(stub_lines[stub_lines_num].text, text, sizeof(text));
    stub_lines_num++;
  }
  pthread_mutex_unlock(&stub_lock);
}

cdtime_t cdtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

void stub_log_reset(void) {
  pthread_mutex_lock(&stub_lock);
  stub_lines_num = 0;
  pthread_mutex_unlock(&stub_lock);
}

size_t stub_log_count(int level) {
  size_t n = 0;
  pthread_mutex_lock(&stub_lock);
  for (size_t i = 0; i < stub_lines_num; i++)
    if (stub_lines[i].level == level)
      n++;
  pthread_mutex_unlock(&stub_lock);
  return n;
}

bool stub_log_contains(int level, const char *needle) {
  bool found = false;
  pthread_mutex_lock(&stub_lock);
  for (size_t i = 0; i < stub_lines_num && !found; i++)
    if ((level < 0 || stub_lines[i].level == level) &&
        strstr(stub_lines[i].text, needle) != NULL)
      found = true;
  pthread_mutex_unlock(&stub_lock);
  return found;
}

const char *stub_log_dump(void) {
  static char dump[STUB_LOG_MAX * 128];
  size_t used = 0;
  dump[0] = '\0';
  pthread_mutex_lock(&stub_lock);
  for (size_t i = 0; i < stub_lines_num && used + 2 < sizeof(dump); i++) {
    int n = snprintf(dump + used, sizeof(dump) - used, "%d: %s\n",
                     stub_lines[i].level, stub_lines[i].text);
    if (n < 0)
      break;
    used += (size_t)n;
  }
  pthread_mutex_unlock(&stub_lock);
  return dump;
}
