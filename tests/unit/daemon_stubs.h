/* SPDX-License-Identifier: MIT */
/*
 * daemon_stubs.h - stand-ins for the collectd daemon symbols libpdcore uses,
 * so unit tests link without the daemon. plugin_log() records every line so
 * tests can assert on what users would read.
 */
#ifndef DAEMON_STUBS_H
#define DAEMON_STUBS_H

#include <stdbool.h>
#include <stddef.h>

/* Forget every recorded log line. */
void stub_log_reset(void);
/* Number of lines recorded at exactly this level (LOG_ERR, LOG_WARNING...). */
size_t stub_log_count(int level);
/* Does any line at this level (-1: any level) contain needle? */
bool stub_log_contains(int level, const char *needle);
/* All recorded lines joined by '\n' (for failure messages); static buffer. */
const char *stub_log_dump(void);

#endif /* DAEMON_STUBS_H */
