/* SPDX-License-Identifier: MIT */
/*
 * pd_alerts.h - collectd notifications about PagerDuty's own state
 * (doc/contract.md §5, Account "Notifications true").
 *
 * Three conditions are watched, per entity, on the readings of each cycle:
 *   schedule  has an uncovered stretch inside CoverageWindow
 *             -> WARNING naming the schedule and the first gap's start and
 *                end (RFC 3339); OKAY when fully covered again.
 *             type "duration", type_instance "schedule-<sched>-gap".
 *   service   is critical -> FAILURE; OKAY when it no longer is.
 *             type "gauge", type_instance "service-<svc>-status".
 *   policy    has nobody on call at level 1 -> FAILURE; OKAY when somebody
 *             is again. type "count", type_instance "policy-<policy>-oncall".
 * Only changes are notified. The first time an entity is seen establishes
 * its state: a bad state is notified then (so a problem present at start-up
 * is not silent), a good one is not (no OKAY without a problem first). When
 * a cycle lacks the data for a condition (collection failed, not
 * collected), its states are kept as they were and nothing is sent. An
 * entity that leaves the scope is forgotten without a notification.
 *
 * Notifications leave through a sink, as metrics do: the glue dispatches
 * them with plugin "pagerduty", tests record them.
 */
#ifndef PD_ALERTS_H
#define PD_ALERTS_H

#include <time.h>

#include "pd_readmetrics.h"

/* Same values as collectd's NOTIF_FAILURE / NOTIF_WARNING / NOTIF_OKAY. */
typedef enum {
  PD_NOTIF_FAILURE = 1,
  PD_NOTIF_WARNING = 2,
  PD_NOTIF_OKAY = 4,
} pd_notif_severity_t;

/* collectd's NOTIF_MAX_MSG_LEN: messages are cut to fit on a UTF-8
 * boundary here, never by the daemon in the middle of a character. */
#define PD_NOTIF_MESSAGE_MAX 256

typedef struct {
  pd_notif_severity_t severity;
  time_t time;
  const char *host;            /* the Account's Host; "" = collectd's */
  const char *plugin_instance; /* the account name (plugin is "pagerduty") */
  const char *type;
  const char *type_instance;
  const char *message; /* < PD_NOTIF_MESSAGE_MAX bytes */
} pd_notification_t;

typedef struct {
  int (*emit)(void *ctx, const pd_notification_t *n);
  void *ctx;
} pd_notification_sink_t;

typedef struct pd_alerts_s pd_alerts_t;

/* NULL on allocation failure. */
pd_alerts_t *pd_alerts_create(void);
void pd_alerts_destroy(pd_alerts_t *a);

/*
 * Compares the readings with the states remembered and sends a
 * notification for every change. host / account fill the notifications'
 * host and plugin instance. Returns the number of notifications sent, or
 * -1 when memory ran out (the states are then left as they were).
 */
int pd_alerts_update(pd_alerts_t *a, const pd_readings_t *r, const char *host,
                     const char *account, const pd_notification_sink_t *sink);

#endif /* PD_ALERTS_H */
