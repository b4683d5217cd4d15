/* SPDX-License-Identifier: MIT */
/*
 * pd_notify.c - see pd_notify.h.
 *
 * Three parts: the table of open alerts (a sorted array of pointers, found
 * by binary search on the dedup key), the decisions made in collectd's
 * threads, and the state file (yajl_gen out, yajl_tree in, every field
 * checked).
 */
#include "pd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

typedef struct {
  char *key;
  char *identifier;
  int severity;
  pd_id_t incident_id;
  cdtime_t opened;
  cdtime_t last_note;
} alert_t;

struct pd_notify_s {
  const pd_notify_config_t *cfg;
  pd_spool_t *spool;
  bool has_account;

  pthread_mutex_t lock; /* the table and the change counter */
  alert_t **alerts;     /* sorted by key */
  size_t num, cap;
  uint64_t changes;     /* bumped by every change of the table */
  uint64_t applied_seq; /* the newest spooled event the table reflects */

  pthread_mutex_t save_lock; /* one save at a time */
  uint64_t saved;            /* `changes` as of the last save */
  uint64_t saved_seq;        /* `applied_seq` as of the last save */
  bool save_failing;         /* logged once until a save works again */

  void (*wake)(void *ctx);
  void *wake_ctx;

  char dir[PATH_MAX - 64]; /* the spool's, which leaves room for names */
  char state_path[PATH_MAX];
  char tmp_path[PATH_MAX];
  char bad_path[PATH_MAX];
};

/* Severity order for "raise": FAILURE > WARNING > anything else. */
static int pd_severity_rank(int severity) {
  switch (severity) {
  case NOTIF_FAILURE:
    return 2;
  case NOTIF_WARNING:
    return 1;
  default:
    return 0;
  }
}

/* ------------------------------------------------------------ the table */

static void alert_free(alert_t *a) {
  if (a == NULL)
    return;
  free(a->key);
  free(a->identifier);
  free(a);
}

/* Index of key, or of where it would go (*found says which). */
static size_t table_search(const pd_notify_t *nt, const char *key,
                           bool *found) {
  size_t lo = 0, hi = nt->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(nt->alerts[mid]->key, key);
    if (cmp == 0) {
      *found = true;
      return mid;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

static alert_t *table_find(const pd_notify_t *nt, const char *key) {
  bool found;
  size_t i = table_search(nt, key, &found);
  return found ? nt->alerts[i] : NULL;
}

static void table_remove_at(pd_notify_t *nt, size_t i) {
  alert_free(nt->alerts[i]);
  memmove(nt->alerts + i, nt->alerts + i + 1,
          (nt->num - i - 1) * sizeof(*nt->alerts));
  nt->num--;
  nt->changes++;
}

static bool table_remove(pd_notify_t *nt, const char *key) {
  bool found;
  size_t i = table_search(nt, key, &found);
  if (found)
    table_remove_at(nt, i);
  return found;
}

/* Forgets the alert opened longest ago, to stay within PD_NOTIFY_MAX_OPEN. */
static void table_forget_oldest(pd_notify_t *nt) {
  size_t oldest = 0;
  for (size_t i = 1; i < nt->num; i++)
    if (nt->alerts[i]->opened < nt->alerts[oldest]->opened)
      oldest = i;
  PD_NOTIFY_WARNING(nt->cfg->name,
                    "more than %d alerts open; forgetting the oldest (%s)",
                    PD_NOTIFY_MAX_OPEN, nt->alerts[oldest]->key);
  table_remove_at(nt, oldest);
}

/* Inserts a new alert for key (which must not be open). NULL when memory
 * runs out. */
static alert_t *table_insert(pd_notify_t *nt, const char *key,
                             const char *identifier) {
  if (nt->num >= PD_NOTIFY_MAX_OPEN)
    table_forget_oldest(nt);
  if (nt->num == nt->cap) {
    size_t cap = nt->cap == 0 ? 16 : nt->cap * 2;
    alert_t **grown = realloc(nt->alerts, cap * sizeof(*grown));
    if (grown == NULL)
      return NULL;
    nt->alerts = grown;
    nt->cap = cap;
  }
  alert_t *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return NULL;
  a->key = strdup(key);
  a->identifier = strdup(identifier);
  if (a->key == NULL || a->identifier == NULL) {
    alert_free(a);
    return NULL;
  }
  bool found;
  size_t i = table_search(nt, key, &found);
  memmove(nt->alerts + i + 1, nt->alerts + i,
          (nt->num - i) * sizeof(*nt->alerts));
  nt->alerts[i] = a;
  nt->num++;
  nt->changes++;
  return a;
}

static void copy_out(const alert_t *a, pd_open_alert_t *out) {
  memset(out, 0, sizeof(*out));
  snprintf(out->key, sizeof(out->key), "%s", a->key);
  snprintf(out->identifier, sizeof(out->identifier), "%s", a->identifier);
  out->severity = a->severity;
  memcpy(out->incident_id, a->incident_id, sizeof(out->incident_id));
  out->opened = a->opened;
  out->last_note = a->last_note;
}

/* ---------------------------------------------------------- decisions */

/* What a spooled event does to the table. Used for fresh decisions and
 * for the replay of the spool at open (at = the event's decision time). */
static int apply_effect(pd_notify_t *nt, const pd_event_t *ev, cdtime_t at) {
  alert_t *a = table_find(nt, ev->dedup_key);
  switch (ev->action) {
  case PD_ACTION_TRIGGER:
    if (a == NULL) {
      a = table_insert(nt, ev->dedup_key, ev->identifier);
      if (a == NULL)
        return -1;
      a->severity = ev->severity;
      a->opened = at;
      a->last_note = at;
    } else if (pd_severity_rank(ev->severity) > pd_severity_rank(a->severity)) {
      a->severity = ev->severity;
      nt->changes++;
    }
    return 0;
  case PD_ACTION_NOTE:
    if (a != NULL && at > a->last_note) {
      a->last_note = at;
      nt->changes++;
    }
    return 0;
  case PD_ACTION_RESOLVE:
    table_remove(nt, ev->dedup_key);
    /* An operator's resolve naming an incident closes whatever alert of
     * ours it was. */
    if (ev->incident != NULL)
      for (size_t i = nt->num; i-- > 0;)
        if (strcmp(nt->alerts[i]->incident_id, ev->incident) == 0)
          table_remove_at(nt, i);
    return 0;
  default: /* acknowledge: the alert stays open */
    return 0;
  }
}

static bool is_blank(const char *s) {
  for (; *s != '\0'; s++)
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
      return false;
  return true;
}

/* Turns a repeated trigger into the "still failing" note (doc/contract.md
 * §6). */
static int make_repeat_note(pd_event_t *ev) {
  if (ev->note == NULL || is_blank(ev->note)) {
    const char *text = is_blank(ev->message) ? ev->summary : ev->message;
    size_t size = strlen(text) + 32;
    char *note = malloc(size);
    if (note == NULL)
      return -1;
    snprintf(note, size, "still %s: %s", pd_severity_name(ev->severity), text);
    int status = pd_event_set_text(&ev->note, note);
    free(note);
    if (status != 0)
      return -1;
  }
  ev->action = PD_ACTION_NOTE;
  return 0;
}

/* Hands the incident id of an open alert to the event, so the sender need
 * not look it up again. */
static int carry_incident(const alert_t *a, pd_event_t *ev) {
  if (a == NULL || a->incident_id[0] == '\0' || ev->incident_id != NULL)
    return 0;
  return pd_event_set_text(&ev->incident_id, a->incident_id);
}

typedef enum { DECIDE_NOTHING = 0, DECIDE_SEND, DECIDE_REFUSE } decision_t;

/* Decides what ev (as mapped) becomes, under the block's lock. May turn a
 * trigger into a note or mark it a raise. */
static decision_t decide(pd_notify_t *nt, pd_event_t *ev, bool override,
                         cdtime_t now) {
  const pd_notify_config_t *cfg = nt->cfg;
  alert_t *a = table_find(nt, ev->dedup_key);

  if (ev->incident != NULL && !nt->has_account) {
    PD_NOTIFY_WARNING(cfg->name,
                      "%s: " PD_META_INCIDENT " needs an Account on the "
                      "Notify block; acting by dedup key instead",
                      ev->identifier);
    pd_event_set_text(&ev->incident, NULL);
  }

  switch (ev->action) {
  case PD_ACTION_TRIGGER:
    if (a == NULL || override)
      return DECIDE_SEND;
    if (pd_severity_rank(ev->severity) > pd_severity_rank(a->severity)) {
      ev->step = PD_STEP_RAISE;
      return carry_incident(a, ev) == 0 ? DECIDE_SEND : DECIDE_REFUSE;
    }
    if (now < a->last_note) {
      /* The wall clock went back: NoteInterval counts from now rather than
       * from a last note that seems to lie in the future (which would hold
       * notes back for as long as the clock stepped). */
      a->last_note = now;
      nt->changes++;
    }
    if (nt->has_account && cfg->note_interval_s > 0 &&
        now >= a->last_note + DOUBLE_TO_CDTIME_T(cfg->note_interval_s)) {
      if (make_repeat_note(ev) != 0 || carry_incident(a, ev) != 0)
        return DECIDE_REFUSE;
      return DECIDE_SEND; /* apply_effect() moves last_note */
    }
    return DECIDE_NOTHING;

  case PD_ACTION_RESOLVE:
    if (a == NULL && !override)
      return DECIDE_NOTHING; /* nothing of ours is open: start-up OKAY */
    return carry_incident(a, ev) == 0 ? DECIDE_SEND : DECIDE_REFUSE;

  case PD_ACTION_ACKNOWLEDGE:
    return carry_incident(a, ev) == 0 ? DECIDE_SEND : DECIDE_REFUSE;

  case PD_ACTION_NOTE:
    if (!nt->has_account) {
      PD_NOTIFY_ERROR(cfg->name,
                      "%s: " PD_META_ACTION " note needs an Account on the "
                      "Notify block (the Events API cannot add notes); "
                      "notification ignored",
                      ev->identifier);
      return DECIDE_REFUSE;
    }
    return carry_incident(a, ev) == 0 ? DECIDE_SEND : DECIDE_REFUSE;

  default:
    return DECIDE_NOTHING;
  }
}

pd_notify_result_t pd_notify_handle(pd_notify_t *nt, const notification_t *n,
                                    cdtime_t now) {
  if (!pd_notify_matches(nt->cfg, n))
    return PD_NOTIFY_IGNORED;

  pd_event_t ev;
  int mapped = pd_event_from_notification(nt->cfg, n, &ev);
  if (mapped != PD_MAP_EVENT) {
    pd_event_free(&ev);
    return mapped == PD_MAP_NO_ACTION ? PD_NOTIFY_NOTHING : PD_NOTIFY_FAILED;
  }
  bool override = pd_meta_find(n, PD_META_ACTION) != NULL;

  pd_notify_result_t result = PD_NOTIFY_NOTHING;
  pthread_mutex_lock(&nt->lock);
  decision_t d = decide(nt, &ev, override, now);
  if (d == DECIDE_REFUSE) {
    result = PD_NOTIFY_FAILED;
  } else if (d == DECIDE_SEND) {
    /* Overflow and a refusing disk are counted and logged by the spool. */
    if (pd_spool_enqueue(nt->spool, &ev, NULL) != 0) {
      result = PD_NOTIFY_FAILED; /* logged by the spool */
    } else {
      result = PD_NOTIFY_QUEUED;
      nt->applied_seq = ev.seq;
      if (apply_effect(nt, &ev, now) != 0)
        PD_NOTIFY_ERROR(nt->cfg->name,
                        "%s: out of memory recording the "
                        "open alert",
                        ev.identifier);
    }
  }
  pthread_mutex_unlock(&nt->lock);
  pd_event_free(&ev);

  if (result == PD_NOTIFY_QUEUED && nt->wake != NULL)
    nt->wake(nt->wake_ctx);
  return result;
}

/* ------------------------------------------------- state for the sender */

int pd_notify_lookup(pd_notify_t *nt, const char *key, pd_open_alert_t *out) {
  pthread_mutex_lock(&nt->lock);
  alert_t *a = table_find(nt, key);
  if (a != NULL && out != NULL)
    copy_out(a, out);
  pthread_mutex_unlock(&nt->lock);
  return a != NULL ? 0 : -1;
}

size_t pd_notify_open_count(pd_notify_t *nt) {
  pthread_mutex_lock(&nt->lock);
  size_t num = nt->num;
  pthread_mutex_unlock(&nt->lock);
  return num;
}

void pd_notify_free_keys(char **keys, size_t num) {
  if (keys == NULL)
    return;
  for (size_t i = 0; i < num; i++)
    free(keys[i]);
  free(keys);
}

static int compare_opened(const void *x, const void *y) {
  const alert_t *a = *(alert_t *const *)x, *b = *(alert_t *const *)y;
  return a->opened < b->opened ? -1 : a->opened > b->opened ? 1 : 0;
}

ssize_t pd_notify_open_keys(pd_notify_t *nt, char ***keys) {
  *keys = NULL;
  pthread_mutex_lock(&nt->lock);
  size_t num = nt->num;
  alert_t **order = num > 0 ? malloc(num * sizeof(*order)) : NULL;
  char **out = num > 0 ? calloc(num, sizeof(*out)) : NULL;
  bool ok = num == 0 || (order != NULL && out != NULL);
  if (ok && num > 0) {
    memcpy(order, nt->alerts, num * sizeof(*order));
    qsort(order, num, sizeof(*order), compare_opened);
    for (size_t i = 0; i < num && ok; i++)
      ok = (out[i] = strdup(order[i]->key)) != NULL;
  }
  pthread_mutex_unlock(&nt->lock);
  free(order);
  if (!ok) {
    pd_notify_free_keys(out, num);
    return -1;
  }
  *keys = out;
  return (ssize_t)num;
}

/* The alert of key when it is the same opening (opened 0: any). */
static alert_t *find_opening(pd_notify_t *nt, const char *key,
                             cdtime_t opened) {
  alert_t *a = table_find(nt, key);
  if (a != NULL && opened != 0 && a->opened != opened)
    return NULL;
  return a;
}

void pd_notify_set_incident(pd_notify_t *nt, const char *key, cdtime_t opened,
                            const char *incident_id) {
  pthread_mutex_lock(&nt->lock);
  alert_t *a = find_opening(nt, key, opened);
  if (a != NULL && strcmp(a->incident_id, incident_id) != 0 &&
      pd_id_set(a->incident_id, incident_id, strlen(incident_id)) == 0)
    nt->changes++;
  pthread_mutex_unlock(&nt->lock);
}

bool pd_notify_forget(pd_notify_t *nt, const char *key, cdtime_t opened) {
  pthread_mutex_lock(&nt->lock);
  bool forgotten = find_opening(nt, key, opened) != NULL;
  if (forgotten)
    table_remove(nt, key);
  pthread_mutex_unlock(&nt->lock);
  return forgotten;
}

int pd_notify_close_with(pd_notify_t *nt, const char *key, cdtime_t opened,
                         pd_event_t *ev, size_t num) {
  int result = 0;
  pthread_mutex_lock(&nt->lock);
  if (find_opening(nt, key, opened) != NULL) {
    result = 1;
    for (size_t i = 0; i < num && result == 1; i++) {
      if (pd_spool_enqueue(nt->spool, &ev[i], NULL) != 0)
        result = -1;
      else
        nt->applied_seq = ev[i].seq;
    }
    if (result == 1)
      table_remove(nt, key);
  }
  pthread_mutex_unlock(&nt->lock);
  if (result == 1 && nt->wake != NULL)
    nt->wake(nt->wake_ctx);
  return result;
}

const pd_notify_config_t *pd_notify_config(const pd_notify_t *nt) {
  return nt->cfg;
}

pd_spool_t *pd_notify_spool(const pd_notify_t *nt) { return nt->spool; }

void pd_notify_set_wake(pd_notify_t *nt, void (*wake)(void *ctx), void *ctx) {
  pthread_mutex_lock(&nt->lock);
  nt->wake = wake;
  nt->wake_ctx = ctx;
  pthread_mutex_unlock(&nt->lock);
}

/* ---------------------------------------------------------- state file */

/* {"v":1,"notify":..,"alerts":[{"key":..,"identifier":..,"severity":..,
 *  "incident_id":..|null,"opened":<s>,"last_note":<s>},...]} */
static int state_serialise(const pd_notify_t *nt, char **json, size_t *len) {
  *json = NULL;
  yajl_gen g = yajl_gen_alloc(NULL);
  if (g == NULL)
    return -1;
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  int ok = 1;
#define STR(s)                                                                 \
  (ok = ok && yajl_gen_string(g, (const unsigned char *)(s), strlen(s)) ==     \
                  yajl_gen_status_ok)
#define NUM(d) (ok = ok && yajl_gen_double(g, (d)) == yajl_gen_status_ok)
  ok = yajl_gen_map_open(g) == yajl_gen_status_ok;
  STR("v");
  ok = ok && yajl_gen_integer(g, PD_NOTIFY_STATE_VERSION) == yajl_gen_status_ok;
  STR("notify");
  STR(nt->cfg->name);
  STR("alerts");
  ok = ok && yajl_gen_array_open(g) == yajl_gen_status_ok;
  for (size_t i = 0; i < nt->num && ok; i++) {
    const alert_t *a = nt->alerts[i];
    ok = yajl_gen_map_open(g) == yajl_gen_status_ok;
    STR("key");
    STR(a->key);
    STR("identifier");
    STR(a->identifier);
    STR("severity");
    STR(pd_severity_name(a->severity));
    STR("incident_id");
    if (a->incident_id[0] != '\0')
      STR(a->incident_id);
    else
      ok = ok && yajl_gen_null(g) == yajl_gen_status_ok;
    STR("opened");
    NUM(CDTIME_T_TO_DOUBLE(a->opened));
    STR("last_note");
    NUM(CDTIME_T_TO_DOUBLE(a->last_note));
    ok = ok && yajl_gen_map_close(g) == yajl_gen_status_ok;
  }
  ok = ok && yajl_gen_array_close(g) == yajl_gen_status_ok;
  ok = ok && yajl_gen_map_close(g) == yajl_gen_status_ok;
#undef STR
#undef NUM
  const unsigned char *buf;
  size_t buf_len;
  if (ok && yajl_gen_get_buf(g, &buf, &buf_len) == yajl_gen_status_ok) {
    *json = malloc(buf_len + 1);
    if (*json != NULL) {
      memcpy(*json, buf, buf_len);
      (*json)[buf_len] = '\0';
      *len = buf_len;
    }
  }
  yajl_gen_free(g);
  return *json != NULL ? 0 : -1;
}

static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Temporary file, fsync, rename, fsync of the directory. */
static int state_write(pd_notify_t *nt, const char *json, size_t len) {
  int fd = open(nt->tmp_path,
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -1;
  int status = write_all(fd, json, len);
  if (status == 0)
    status = fsync(fd);
  int saved = errno;
  if (close(fd) != 0 && status == 0) {
    status = -1;
    saved = errno;
  }
  if (status == 0 && rename(nt->tmp_path, nt->state_path) != 0) {
    status = -1;
    saved = errno;
  }
  if (status != 0) {
    unlink(nt->tmp_path);
    errno = saved;
    return -1;
  }
  int dfd = open(nt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int pd_notify_save(pd_notify_t *nt) {
  pthread_mutex_lock(&nt->save_lock);
  /* Serialise under the lock (memory only), write without it: collectd's
   * threads never wait on the disk for us. */
  pthread_mutex_lock(&nt->lock);
  uint64_t changes = nt->changes, applied = nt->applied_seq;
  char *json = NULL;
  size_t len = 0;
  int status = 0;
  if (changes != nt->saved)
    status = state_serialise(nt, &json, &len);
  pthread_mutex_unlock(&nt->lock);

  if (changes == nt->saved) {
    nt->saved_seq = applied; /* the file already says what memory says */
  } else {
    if (status == 0)
      status = state_write(nt, json, len);
    if (status == 0) {
      nt->saved = changes;
      nt->saved_seq = applied;
      if (nt->save_failing)
        PD_NOTIFY_INFO(nt->cfg->name, "state file %s written again",
                       nt->state_path);
      nt->save_failing = false;
    } else if (!nt->save_failing) {
      nt->save_failing = true;
      PD_NOTIFY_ERROR(nt->cfg->name, "cannot write state file %s: %s",
                      nt->state_path,
                      json == NULL ? "out of memory" : strerror(errno));
    }
  }
  free(json);
  pthread_mutex_unlock(&nt->save_lock);
  return status;
}

int pd_notify_save_through(pd_notify_t *nt, uint64_t seq) {
  pthread_mutex_lock(&nt->save_lock);
  bool saved = nt->saved_seq >= seq;
  pthread_mutex_unlock(&nt->save_lock);
  return saved ? 0 : pd_notify_save(nt);
}

/* ---- reading the state file back */

static yajl_val member(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  return yajl_tree_get(obj, path, yajl_t_any);
}

static int parse_severity(const char *text) {
  if (strcmp(text, "FAILURE") == 0)
    return NOTIF_FAILURE;
  if (strcmp(text, "WARNING") == 0)
    return NOTIF_WARNING;
  return -1;
}

/* One alert of the file into the table. 0, or -1 with a reason. */
static int load_alert(pd_notify_t *nt, yajl_val v, char *err, size_t err_size) {
  yajl_val key = member(v, "key"), ident = member(v, "identifier"),
           sev = member(v, "severity"), inc = member(v, "incident_id"),
           opened = member(v, "opened"), note = member(v, "last_note");
  if (!YAJL_IS_STRING(key) || !YAJL_IS_STRING(ident) || !YAJL_IS_STRING(sev) ||
      !(inc == NULL || YAJL_IS_NULL(inc) || YAJL_IS_STRING(inc)) ||
      !YAJL_IS_NUMBER(opened) || !YAJL_IS_NUMBER(note)) {
    snprintf(err, err_size, "an alert lacks a field or has a wrong type");
    return -1;
  }
  const char *k = key->u.string, *id = ident->u.string;
  const char *inc_text = YAJL_IS_STRING(inc) ? inc->u.string : NULL;
  int severity = parse_severity(sev->u.string);
  /* Times beyond what cdtime_t spans (about 2^34 s, as the spool record
   * bounds them) would overflow the conversion. */
  double opened_s = YAJL_GET_DOUBLE(opened), note_s = YAJL_GET_DOUBLE(note);
  if (k[0] == '\0' || strlen(k) > PD_DEDUP_KEY_MAX ||
      strlen(id) >= PD_IDENTIFIER_MAX || severity < 0 ||
      !(opened_s >= 0 && opened_s <= 1.6e10) ||
      !(note_s >= 0 && note_s <= 1.6e10)) {
    snprintf(err, err_size, "an alert has a value out of bounds");
    return -1;
  }
  pd_id_t incident = "";
  if (inc_text != NULL &&
      pd_id_set(incident, inc_text, strlen(inc_text)) != 0) {
    snprintf(err, err_size, "an alert has an invalid incident id");
    return -1;
  }
  if (table_find(nt, k) != NULL)
    return 0; /* a duplicate: the first one stands */
  alert_t *a = table_insert(nt, k, id);
  if (a == NULL) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  a->severity = severity;
  memcpy(a->incident_id, incident, sizeof(incident));
  a->opened = DOUBLE_TO_CDTIME_T(opened_s);
  a->last_note = DOUBLE_TO_CDTIME_T(note_s);
  return 0;
}

static int state_parse(pd_notify_t *nt, const char *json, char *err,
                       size_t err_size) {
  char perr[256];
  yajl_val root = yajl_tree_parse(json, perr, sizeof(perr));
  if (root == NULL) {
    snprintf(err, err_size, "not JSON: %s", perr);
    for (char *p = err; *p != '\0'; p++)
      if (*p == '\n')
        *p = ' ';
    return -1;
  }
  int status = 0;
  yajl_val version = member(root, "v"), alerts = member(root, "alerts");
  if (!YAJL_IS_OBJECT(root) || !YAJL_IS_INTEGER(version) ||
      YAJL_GET_INTEGER(version) != PD_NOTIFY_STATE_VERSION) {
    snprintf(err, err_size, "not a version %d state file",
             PD_NOTIFY_STATE_VERSION);
    status = -1;
  } else if (!YAJL_IS_ARRAY(alerts)) {
    snprintf(err, err_size, "\"alerts\" is not an array");
    status = -1;
  } else {
    for (size_t i = 0; i < alerts->u.array.len && status == 0; i++)
      status = load_alert(nt, alerts->u.array.values[i], err, err_size);
  }
  yajl_tree_free(root);
  return status;
}

static void state_load(pd_notify_t *nt) {
  char *json;
  size_t len;
  const char *why = NULL;
  int status = pd_spool_read_file(nt->state_path, PD_NOTIFY_STATE_MAX_BYTES,
                                  &json, &len, &why);
  if (status != 0 && errno == ENOENT)
    return; /* first start */
  char err[512] = "";
  if (status != 0)
    snprintf(err, sizeof(err), "unreadable: %s", why);
  else if (state_parse(nt, json, err, sizeof(err)) == 0) {
    free(json);
    return;
  }
  free(json);
  /* Start over from what the spool holds; keep the bad file for a look,
   * in failed/ with the reason like every damaged file (beside the old
   * one, under PD_NOTIFY_STATE_BAD, when failed/ cannot take it). */
  for (size_t i = nt->num; i-- > 0;)
    table_remove_at(nt, i);
  char reason[600];
  snprintf(reason, sizeof(reason), "state file of notify \"%s\": %s",
           nt->cfg->name, err);
  const char *where = "SpoolDir/" PD_SPOOL_FAILED_DIR "/";
  if (pd_spool_quarantine(nt->spool, PD_NOTIFY_STATE_FILE, reason) != 0) {
    where = nt->bad_path;
    if (rename(nt->state_path, nt->bad_path) != 0)
      where = "nowhere (it cannot be moved; it is replaced at the next save)";
  }
  PD_NOTIFY_ERROR(nt->cfg->name,
                  "state file %s: %s; moved to %s, open alerts are rebuilt "
                  "from the spool",
                  nt->state_path, err, where);
}

/* Every event still queued was decided after (or while) the state file was
 * last written: applying them again, in order, gives the state as of the
 * last decision. */
static void replay_spool(pd_notify_t *nt) {
  pd_spool_entry_t *entries;
  ssize_t num = pd_spool_list(nt->spool, &entries);
  for (ssize_t i = 0; i < num; i++) {
    pd_event_t ev;
    if (pd_spool_load(nt->spool, entries[i].seq, &ev) == PD_SPOOL_OK &&
        apply_effect(nt, &ev, ev.created) != 0)
      PD_NOTIFY_ERROR(nt->cfg->name, "out of memory replaying the spool");
    nt->applied_seq = entries[i].seq;
    pd_event_free(&ev);
  }
  free(entries);
}

/* ------------------------------------------------------------ lifecycle */

pd_notify_t *pd_notify_open(const pd_notify_config_t *cfg, pd_spool_t *spool,
                            bool has_account) {
  pd_notify_t *nt = calloc(1, sizeof(*nt));
  if (nt == NULL) {
    PD_NOTIFY_ERROR(cfg->name, "out of memory");
    return NULL;
  }
  nt->cfg = cfg;
  nt->spool = spool;
  nt->has_account = has_account;
  pthread_mutex_init(&nt->lock, NULL);
  pthread_mutex_init(&nt->save_lock, NULL);
  snprintf(nt->dir, sizeof(nt->dir), "%s", pd_spool_path(spool));
  snprintf(nt->state_path, sizeof(nt->state_path), "%s/%s", nt->dir,
           PD_NOTIFY_STATE_FILE);
  snprintf(nt->tmp_path, sizeof(nt->tmp_path), "%s/%s", nt->dir,
           PD_NOTIFY_STATE_TMP);
  snprintf(nt->bad_path, sizeof(nt->bad_path), "%s/%s", nt->dir,
           PD_NOTIFY_STATE_BAD);
  unlink(nt->tmp_path); /* an interrupted save: the old file stands */

  state_load(nt);
  uint64_t loaded = nt->changes;
  replay_spool(nt);
  /* Loading counts as changes; only the replay may differ from the file. */
  nt->saved = loaded;
  return nt;
}

void pd_notify_close(pd_notify_t *nt) {
  if (nt == NULL)
    return;
  pd_notify_save(nt);
  for (size_t i = 0; i < nt->num; i++)
    alert_free(nt->alerts[i]);
  free(nt->alerts);
  pthread_mutex_destroy(&nt->save_lock);
  pthread_mutex_destroy(&nt->lock);
  free(nt);
}
