/* SPDX-License-Identifier: MIT */
/*
 * notif_fixture.h - collectd notifications built for unit tests.
 *
 *   notification_meta_t meta[2] = {meta_string("DataSource", "value"),
 *                                  meta_double("CurrentValue", 95.5)};
 *   notification_t n = make_notification(NOTIF_FAILURE, "web01", "df", "root",
 *                                        "percent_bytes", "used", "too full");
 *   attach_meta(&n, meta, 2);
 *
 * Meta items live in the caller's array (usually on the stack) and string
 * values are borrowed, not copied: nothing here allocates or needs freeing.
 */
#ifndef NOTIF_FIXTURE_H
#define NOTIF_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

/* The time of every made notification: 2025-11-28T08:29:56.500Z. */
#define NOTIF_FIXTURE_TIME (TIME_T_TO_CDTIME_T(1764318596) + (1 << 29))

/* A notification with these fields (each cut to its collectd size), time
 * NOTIF_FIXTURE_TIME and no meta. */
notification_t make_notification(int severity, const char *host,
                                 const char *plugin, const char *pi,
                                 const char *type, const char *ti,
                                 const char *message);

/* Links meta[0..num) into n's meta list, in order. */
void attach_meta(notification_t *n, notification_meta_t *meta, size_t num);

notification_meta_t meta_string(const char *name, const char *value);
notification_meta_t meta_double(const char *name, double value);
notification_meta_t meta_signed(const char *name, int64_t value);
notification_meta_t meta_unsigned(const char *name, uint64_t value);
notification_meta_t meta_bool(const char *name, bool value);

#endif /* NOTIF_FIXTURE_H */
