/* SPDX-License-Identifier: MIT */
/*
 * pd_reconcile.c - see pd_reconcile.h.
 */
#include "pd_reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectd/core/daemon/globals.h"

pd_reconcile_action_t pd_reconcile_decide(pd_value_state_t value,
                                          pd_remote_state_t remote) {
  if (remote == PD_REMOTE_GONE)
    return PD_RECONCILE_FORGET; /* whatever the value: nothing to resolve */
  if (value == PD_VALUE_OKAY)
    return PD_RECONCILE_RESOLVE;
  return PD_RECONCILE_KEEP;
}

/* The host part of an identifier, for payload.source. */
static void host_of(const char *identifier, char *out, size_t size) {
  size_t len = strcspn(identifier, "/");
  if (len == 0 || len >= size) {
    snprintf(out, size, "%s", hostname_g != NULL ? hostname_g : "collectd");
    return;
  }
  memcpy(out, identifier, len);
  out[len] = '\0';
}

static int make_event(const pd_open_alert_t *a, const char *notify,
                      pd_action_t action, const char *text, pd_event_t *ev) {
  pd_event_init(ev);
  ev->notify = strdup(notify);
  if (ev->notify == NULL || pd_event_set_text(&ev->note, text) != 0 ||
      (a->incident_id[0] != '\0' &&
       pd_event_set_text(&ev->incident_id, a->incident_id) != 0)) {
    pd_event_free(ev);
    return -1;
  }
  ev->created = cdtime();
  ev->time = ev->created;
  ev->action = action;
  ev->severity = NOTIF_OKAY;
  snprintf(ev->dedup_key, sizeof(ev->dedup_key), "%s", a->key);
  snprintf(ev->identifier, sizeof(ev->identifier), "%s", a->identifier);
  pd_utf8_copy(ev->message, sizeof(ev->message), text);
  pd_event_set_summary(ev, text);
  char host[DATA_MAX_NAME_LEN];
  host_of(a->identifier, host, sizeof(host));
  pd_utf8_copy(ev->source, sizeof(ev->source), host);
  return 0;
}

int pd_reconcile_events(const pd_open_alert_t *a, const char *notify,
                        bool with_note, pd_event_t ev[2], size_t *num) {
  *num = 0;
  size_t size = strlen(PD_RECONCILE_TEXT) + strlen(a->identifier) + 1;
  char *text = malloc(size);
  if (text == NULL)
    return -1;
  snprintf(text, size, PD_RECONCILE_TEXT, a->identifier);

  int status = 0;
  if (with_note) {
    status = make_event(a, notify, PD_ACTION_NOTE, text, &ev[*num]);
    if (status == 0)
      (*num)++;
  }
  if (status == 0) {
    status = make_event(a, notify, PD_ACTION_RESOLVE, text, &ev[*num]);
    if (status == 0)
      (*num)++;
  }
  free(text);
  if (status != 0) {
    for (size_t i = 0; i < *num; i++)
      pd_event_free(&ev[i]);
    *num = 0;
  }
  return status;
}

/* ------------------------------------------------------------ schedule */

static void pass_free(pd_reconcile_t *rc) {
  pd_notify_free_keys(rc->keys, rc->num);
  free(rc->queued);
  rc->keys = NULL;
  rc->queued = NULL;
  rc->num = rc->pos = rc->queued_num = 0;
}

void pd_reconcile_init(pd_reconcile_t *rc, double interval_s, cdtime_t now) {
  memset(rc, 0, sizeof(*rc));
  rc->interval = interval_s > 0 ? DOUBLE_TO_CDTIME_T(interval_s) : 0;
  rc->next_run = now + rc->interval;
}

void pd_reconcile_free(pd_reconcile_t *rc) { pass_free(rc); }

void pd_reconcile_due_now(pd_reconcile_t *rc) { rc->next_run = 0; }

static int compare_u64(const void *x, const void *y) {
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return a < b ? -1 : a > b ? 1 : 0;
}

static bool is_queued(const pd_reconcile_t *rc, const char *key) {
  uint64_t h = pd_hash64(key, strlen(key));
  return rc->queued_num > 0 && bsearch(&h, rc->queued, rc->queued_num,
                                       sizeof(h), compare_u64) != NULL;
}

/* Snapshots what a pass works through. false when it cannot start. */
static bool pass_start(pd_reconcile_t *rc, pd_notify_t *nt) {
  char **keys;
  ssize_t num = pd_notify_open_keys(nt, &keys);
  if (num <= 0)
    return false;
  pd_spool_entry_t *entries;
  ssize_t queued = pd_spool_list(pd_notify_spool(nt), &entries);
  if (queued < 0) {
    pd_notify_free_keys(keys, (size_t)num);
    return false;
  }
  rc->queued = queued > 0 ? malloc((size_t)queued * sizeof(uint64_t)) : NULL;
  if (queued > 0 && rc->queued == NULL) {
    free(entries);
    pd_notify_free_keys(keys, (size_t)num);
    return false;
  }
  for (ssize_t i = 0; i < queued; i++)
    rc->queued[i] = entries[i].key_hash;
  free(entries);
  rc->queued_num = (size_t)queued;
  if (rc->queued_num > 0)
    qsort(rc->queued, rc->queued_num, sizeof(uint64_t), compare_u64);
  rc->keys = keys;
  rc->num = (size_t)num;
  rc->pos = 0;
  return true;
}

bool pd_reconcile_next(pd_reconcile_t *rc, pd_notify_t *nt, cdtime_t now,
                       char *key, size_t key_size, cdtime_t *wake_at) {
  if (wake_at != NULL)
    *wake_at = 0;
  if (rc->interval == 0)
    return false;
  if (rc->keys == NULL) {
    if (now < rc->next_run) {
      if (wake_at != NULL)
        *wake_at = rc->next_run;
      return false;
    }
    rc->next_run = now + rc->interval;
    if (!pass_start(rc, nt)) {
      if (wake_at != NULL)
        *wake_at = rc->next_run;
      return false;
    }
  }
  while (rc->pos < rc->num) {
    const char *k = rc->keys[rc->pos++];
    if (is_queued(rc, k))
      continue;
    snprintf(key, key_size, "%s", k);
    return true;
  }
  pass_free(rc);
  if (wake_at != NULL)
    *wake_at = rc->next_run;
  return false;
}
