/* SPDX-License-Identifier: MIT */
/*
 * pd_account.h - one configured PagerDuty account at run time.
 *
 * An account owns its token (with rotation) and its REST endpoint
 * (pd_rest: the HTTP client, with one request budget shared by the read
 * side and the REST notification senders, what GET /users/me said about
 * the token, and the failure states that keep the log to one line per
 * change of state, doc/contract.md §7). The read
 * callback of the account calls pd_account_read() once per Interval; the
 * collections (pd_collect), the metrics computed from them
 * (pd_readmetrics) and the doc/contract.md §5 notifications (pd_alerts) run
 * from there.
 */
#ifndef PD_ACCOUNT_H
#define PD_ACCOUNT_H

#include <stdbool.h>

#include "pd_alerts.h"
#include "pd_config.h"
#include "pd_metrics.h"
#include "pd_rest.h"

/* Opaque: the glue and the Notify blocks reach the Account through the
 * functions below and its REST endpoint (pd_rest.h). */
typedef struct pd_account_s pd_account_t;

/* Creates the run-time account (reads the token, sets up HTTP). Returns NULL
 * after logging. */
pd_account_t *pd_account_create(const pd_account_config_t *cfg);
void pd_account_destroy(pd_account_t *acct);

/* The read interval collectd runs this account at (cfg->interval_s when
 * set, else the plugin's or global one): it bounds how long one cycle may
 * wait on rate limits. Before it is set, cfg->interval_s or 60 s. */
void pd_account_set_interval(pd_account_t *acct, double interval_s);

/* Where doc/contract.md §5 notifications go (borrowed; NULL = nowhere). Only
 * used when the account has Notifications true. */
void pd_account_set_notification_sink(pd_account_t *acct,
                                      const pd_notification_sink_t *sink);

/* One read cycle: token rotation, identity check, collections, the
 * doc/contract.md §4 series, doc/contract.md §5 notifications and the api-*
 * self-metrics. Returns 0 (a failed cycle shows as api-up 0 and in the log; a
 * non-zero return would only make collectd back off the interval). */
int pd_account_read(pd_account_t *acct, const pd_metric_sink_t *sink);

/* The account's configuration (borrowed from the plugin config). */
const pd_account_config_t *pd_account_config(const pd_account_t *acct);

/* The account's REST endpoint: its HTTP client, request budget, identity
 * and failure log, which a REST Notify block naming the account shares. */
pd_rest_t *pd_account_rest(pd_account_t *acct);

#endif /* PD_ACCOUNT_H */
