/* SPDX-License-Identifier: MIT */
/*
 * pd_log.h - the plugin's log line prefixes.
 *
 * Every line starts "pagerduty plugin: "; lines about one account continue
 * "account \"<name>\": ", lines about one Notify block "notify \"<name>\": "
 * (doc/contract.md §7) so users can grep for their account or block.
 * Secrets never reach these macros: callers log names, URLs without
 * credentials and HTTP statuses, never tokens or routing keys.
 */
#ifndef PD_LOG_H
#define PD_LOG_H

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#define PD_LOG_PREFIX "pagerduty plugin: "

#define PD_ERROR(...) plugin_log(LOG_ERR, PD_LOG_PREFIX __VA_ARGS__)
#define PD_WARNING(...) plugin_log(LOG_WARNING, PD_LOG_PREFIX __VA_ARGS__)
#define PD_NOTICE(...) plugin_log(LOG_NOTICE, PD_LOG_PREFIX __VA_ARGS__)
#define PD_INFO(...) plugin_log(LOG_INFO, PD_LOG_PREFIX __VA_ARGS__)

/* Account-scoped lines: PD_ACCOUNT_ERROR("acme", "HTTP %ld", status). */
#define PD_ACCOUNT_LOG(level, account, fmt, ...)                               \
  plugin_log((level), PD_LOG_PREFIX "account \"%s\": " fmt, (account),         \
             ##__VA_ARGS__)
#define PD_ACCOUNT_ERROR(a, ...) PD_ACCOUNT_LOG(LOG_ERR, a, __VA_ARGS__)
#define PD_ACCOUNT_WARNING(a, ...) PD_ACCOUNT_LOG(LOG_WARNING, a, __VA_ARGS__)
#define PD_ACCOUNT_NOTICE(a, ...) PD_ACCOUNT_LOG(LOG_NOTICE, a, __VA_ARGS__)
#define PD_ACCOUNT_INFO(a, ...) PD_ACCOUNT_LOG(LOG_INFO, a, __VA_ARGS__)

/* Lines about one Notify block: "pagerduty plugin: notify "web": ...". */
#define PD_NOTIFY_LOG(level, notify, fmt, ...)                                 \
  plugin_log((level), PD_LOG_PREFIX "notify \"%s\": " fmt, (notify),           \
             ##__VA_ARGS__)
#define PD_NOTIFY_ERROR(n, ...) PD_NOTIFY_LOG(LOG_ERR, n, __VA_ARGS__)
#define PD_NOTIFY_WARNING(n, ...) PD_NOTIFY_LOG(LOG_WARNING, n, __VA_ARGS__)
#define PD_NOTIFY_NOTICE(n, ...) PD_NOTIFY_LOG(LOG_NOTICE, n, __VA_ARGS__)
#define PD_NOTIFY_INFO(n, ...) PD_NOTIFY_LOG(LOG_INFO, n, __VA_ARGS__)

#endif /* PD_LOG_H */
