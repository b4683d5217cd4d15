/* SPDX-License-Identifier: MIT */
/*
 * notif_fixture.c - see notif_fixture.h.
 */
#include "notif_fixture.h"

#include <stdio.h>
#include <string.h>

notification_t make_notification(int severity, const char *host,
                                 const char *plugin, const char *pi,
                                 const char *type, const char *ti,
                                 const char *message) {
  notification_t n;
  memset(&n, 0, sizeof(n));
  n.severity = severity;
  n.time = NOTIF_FIXTURE_TIME;
  snprintf(n.host, sizeof(n.host), "%s", host);
  snprintf(n.plugin, sizeof(n.plugin), "%s", plugin);
  snprintf(n.plugin_instance, sizeof(n.plugin_instance), "%s", pi);
  snprintf(n.type, sizeof(n.type), "%s", type);
  snprintf(n.type_instance, sizeof(n.type_instance), "%s", ti);
  snprintf(n.message, sizeof(n.message), "%s", message);
  return n;
}

void attach_meta(notification_t *n, notification_meta_t *meta, size_t num) {
  for (size_t i = 0; i < num; i++)
    meta[i].next = i + 1 < num ? &meta[i + 1] : NULL;
  n->meta = num > 0 ? &meta[0] : NULL;
}

/* A meta item of this type and name; the caller sets the value. */
static notification_meta_t meta_named(const char *name,
                                      enum notification_meta_type_e type) {
  notification_meta_t m = {.type = type};
  snprintf(m.name, sizeof(m.name), "%s", name);
  return m;
}

notification_meta_t meta_string(const char *name, const char *value) {
  notification_meta_t m = meta_named(name, NM_TYPE_STRING);
  m.nm_value.nm_string = value;
  return m;
}

notification_meta_t meta_double(const char *name, double value) {
  notification_meta_t m = meta_named(name, NM_TYPE_DOUBLE);
  m.nm_value.nm_double = value;
  return m;
}

notification_meta_t meta_signed(const char *name, int64_t value) {
  notification_meta_t m = meta_named(name, NM_TYPE_SIGNED_INT);
  m.nm_value.nm_signed_int = value;
  return m;
}

notification_meta_t meta_unsigned(const char *name, uint64_t value) {
  notification_meta_t m = meta_named(name, NM_TYPE_UNSIGNED_INT);
  m.nm_value.nm_unsigned_int = value;
  return m;
}

notification_meta_t meta_bool(const char *name, bool value) {
  notification_meta_t m = meta_named(name, NM_TYPE_BOOLEAN);
  m.nm_value.nm_boolean = value;
  return m;
}
