/* SPDX-License-Identifier: MIT */
/*
 * pd_service_status.c - service status from the listing's disabled flag,
 * the maintenance windows and the open incidents (pd_service_status.h).
 */
#include "pd_service_status.h"

#include <stdlib.h>
#include <string.h>

/* What the open incidents and windows say of one service. */
enum { SEEN_ACKNOWLEDGED = 1, SEEN_TRIGGERED = 2, SEEN_MAINTENANCE = 4 };

static long find(const pd_services_t *services, const char *id) {
  size_t lo = 0, hi = services->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(services->items[mid].id, id);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static void mark_incidents(const pd_services_t *services,
                           const pd_incident_recs_t *open,
                           unsigned char *seen) {
  for (size_t i = 0; i < open->num; i++) {
    const pd_incident_rec_t *inc = &open->items[i];
    unsigned char bit = inc->status == PD_INCIDENT_TRIGGERED ? SEEN_TRIGGERED
                        : inc->status == PD_INCIDENT_ACKNOWLEDGED
                            ? SEEN_ACKNOWLEDGED
                            : 0;
    long at = bit != 0 ? find(services, inc->service_id) : -1;
    if (at >= 0)
      seen[at] |= bit;
  }
}

/* Windows hold start <= now < end (an end in the past is over, a start
 * in the future has not come). */
static void mark_windows(const pd_services_t *services,
                         const pd_maintenance_windows_t *windows, time_t now,
                         unsigned char *seen) {
  for (size_t w = 0; w < windows->num; w++) {
    const pd_maintenance_window_t *win = &windows->items[w];
    if (now < win->start || now >= win->end)
      continue;
    for (size_t i = 0; i < win->service_ids.num; i++) {
      long at = find(services, win->service_ids.ids[i]);
      if (at >= 0)
        seen[at] |= SEEN_MAINTENANCE;
    }
  }
}

static pd_service_status_t status_of(pd_service_status_t listed,
                                     unsigned char seen) {
  if (listed == PD_SERVICE_UNKNOWN || listed == PD_SERVICE_DISABLED)
    return listed;
  if (seen & SEEN_MAINTENANCE)
    return PD_SERVICE_MAINTENANCE;
  if (seen & SEEN_TRIGGERED)
    return PD_SERVICE_CRITICAL;
  if (seen & SEEN_ACKNOWLEDGED)
    return PD_SERVICE_WARNING;
  return PD_SERVICE_ACTIVE;
}

int pd_service_status_derive(pd_services_t *services,
                             const pd_service_status_t *listed,
                             const pd_incident_recs_t *open,
                             const pd_maintenance_windows_t *windows,
                             time_t now) {
  unsigned char *seen = calloc(services->num ? services->num : 1, 1);
  if (seen == NULL)
    return -1;
  mark_incidents(services, open, seen);
  mark_windows(services, windows, now, seen);
  for (size_t i = 0; i < services->num; i++)
    services->items[i].status = status_of(listed[i], seen[i]);
  free(seen);
  return 0;
}
