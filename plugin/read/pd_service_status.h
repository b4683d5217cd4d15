/* SPDX-License-Identifier: MIT */
/*
 * pd_service_status.h - a service's status without listing the services
 * every Interval.
 *
 * PagerDuty's rule (doc/pagerduty-api.md, GET /services: status), as the
 * listing would give it: disabled, then maintenance, then critical (a
 * triggered incident), warning (an acknowledged one), else active. Here
 * each part comes from what the read side keeps exact at its own pace:
 *   disabled      the last GET /services (refreshed every SlowInterval and
 *                 at every full read; no log entry says a service was
 *                 disabled);
 *   maintenance   the windows of the last GET /maintenance_windows
 *                 ?filter=open: start and end are known ahead, so "in
 *                 maintenance now" needs no request;
 *   critical, warning, active   the open incidents of this cycle.
 * A service whose listed status was not one this code knows stays unknown
 * (PD_SERVICE_UNKNOWN: no status gauge), never a guess.
 */
#ifndef PD_SERVICE_STATUS_H
#define PD_SERVICE_STATUS_H

#include <time.h>

#include "pd_model.h"
#include "pd_readmetrics.h"

/*
 * Sets services->items[i].status for time `now` from listed[i] (the status
 * the listing gave service i), the open incidents and the maintenance
 * windows. services must be sorted by ID (as deduplicated). -1 on
 * allocation failure (statuses then unchanged).
 */
int pd_service_status_derive(pd_services_t *services,
                             const pd_service_status_t *listed,
                             const pd_incident_recs_t *open,
                             const pd_maintenance_windows_t *windows,
                             time_t now);

#endif /* PD_SERVICE_STATUS_H */
