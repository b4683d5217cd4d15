/* SPDX-License-Identifier: MIT */
/*
 * fuzz_notification.c - libFuzzer target: DedupKey template expansion
 * (pd_template.h) and what a Notify block makes of a notification and its
 * meta overrides (pagerduty_action / _note / _dedup_key / _incident;
 * pd_event.h, pd_notify.h).
 *
 * The input is text, one field per line:
 *   flags          one byte: bits 0-1 severity (FAILURE, WARNING, OKAY, or
 *                  an invalid one), bit 2 ResolveOnOkay, bit 3 the block has
 *                  an Account, bits 4-7 how small the second expansion
 *                  buffer is
 *   template       the DedupKey
 *   host, plugin, plugin_instance, type, type_instance, message
 *   meta...        one per line: a type letter (s i u d b), the name, '=',
 *                  the value ("s pagerduty_action=note")
 * Missing lines are empty. The template is validated and expanded into a
 * full and a small buffer; the notification is mapped directly, and also
 * handled twice by a block (a repeat 700 s later, so notes are due) whose
 * spool is then drained. Every event made is checked by fuzz_check_event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "pd_event.h"
#include "pd_notify.h"
#include "pd_spool.h"
#include "pd_template.h"

#define META_MAX 16

typedef struct {
  const char *p, *end;
} cursor_t;

/* The next line (without its '\n') as a NUL-terminated copy; the caller
 * frees. "" when the input is used up. */
static char *next_line(cursor_t *c) {
  const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
  const char *stop = nl != NULL ? nl : c->end;
  char *line = strndup(c->p, (size_t)(stop - c->p));
  require(line != NULL);
  c->p = nl != NULL ? nl + 1 : c->end;
  return line;
}

/* Copies a line into a fixed collectd field, cut as sstrncpy would. */
static void field(cursor_t *c, char *dst, size_t size) {
  char *line = next_line(c);
  snprintf(dst, size, "%s", line);
  free(line);
}

typedef struct {
  notification_t n;
  notification_meta_t meta[META_MAX];
  char *strings[META_MAX];
  char *tmpl;
  unsigned flags;
} input_t;

static void parse_meta(notification_meta_t *m, char **owned, char *line) {
  char type = line[0];
  char *name = line[0] != '\0' ? line + 1 : line;
  while (*name == ' ')
    name++;
  char *eq = strchr(name, '=');
  char *value = eq != NULL ? eq + 1 : name + strlen(name);
  if (eq != NULL)
    *eq = '\0';
  snprintf(m->name, sizeof(m->name), "%s", name);
  switch (type) {
  case 'i':
    m->type = NM_TYPE_SIGNED_INT;
    m->nm_value.nm_signed_int = strtoll(value, NULL, 0);
    break;
  case 'u':
    m->type = NM_TYPE_UNSIGNED_INT;
    m->nm_value.nm_unsigned_int = strtoull(value, NULL, 0);
    break;
  case 'd':
    m->type = NM_TYPE_DOUBLE;
    m->nm_value.nm_double = strtod(value, NULL);
    break;
  case 'b':
    m->type = NM_TYPE_BOOLEAN;
    m->nm_value.nm_boolean = strcmp(value, "0") != 0;
    break;
  default:
    m->type = NM_TYPE_STRING;
    *owned = strdup(value);
    require(*owned != NULL);
    m->nm_value.nm_string = *owned;
  }
}

static void input_read(input_t *in, const uint8_t *data, size_t size) {
  static const int severities[] = {NOTIF_FAILURE, NOTIF_WARNING, NOTIF_OKAY, 0};
  memset(in, 0, sizeof(*in));
  cursor_t c = {(const char *)data, (const char *)data + size};
  in->flags = size > 0 ? data[0] : 0;
  if (size > 0)
    c.p++;
  in->n.severity = severities[in->flags & 3];
  in->n.time = TIME_T_TO_CDTIME_T(1700000000);
  in->tmpl = next_line(&c);
  field(&c, in->n.host, sizeof(in->n.host));
  field(&c, in->n.plugin, sizeof(in->n.plugin));
  field(&c, in->n.plugin_instance, sizeof(in->n.plugin_instance));
  field(&c, in->n.type, sizeof(in->n.type));
  field(&c, in->n.type_instance, sizeof(in->n.type_instance));
  field(&c, in->n.message, sizeof(in->n.message));
  notification_meta_t **tail = &in->n.meta;
  for (size_t i = 0; i < META_MAX && c.p < c.end; i++) {
    char *line = next_line(&c);
    parse_meta(&in->meta[i], &in->strings[i], line);
    free(line);
    *tail = &in->meta[i];
    tail = &in->meta[i].next;
  }
}

static void input_free(input_t *in) {
  for (size_t i = 0; i < META_MAX; i++)
    free(in->strings[i]);
  free(in->tmpl);
}

static void check_expansion(const input_t *in) {
  char err[256], out[PD_DEDUP_KEY_MAX + 1],
      small[PD_TEMPLATE_HASH_SUFFIX_LEN + 17];
  int valid = pd_template_validate(in->tmpl, err, sizeof(err));
  int len = pd_template_expand(in->tmpl, &in->n, out, sizeof(out));
  require((valid == 0) == (len >= 0));
  if (len < 0)
    return;
  require((size_t)len == strlen(out) && pd_utf8_is_valid(out, (size_t)len));
  size_t small_size = PD_TEMPLATE_HASH_SUFFIX_LEN + 1 + (in->flags >> 4);
  int cut = pd_template_expand(in->tmpl, &in->n, small, small_size);
  require(cut >= 0 && (size_t)cut < small_size && (size_t)cut == strlen(small));
  require(pd_utf8_is_valid(small, (size_t)cut));
  /* The same key always comes out the same. */
  char again[PD_DEDUP_KEY_MAX + 1];
  require(pd_template_expand(in->tmpl, &in->n, again, sizeof(again)) == len);
  require(strcmp(out, again) == 0);
}

static void check_meta_format(const notification_t *n) {
  char buf[24];
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next) {
    size_t full = pd_meta_format(m, buf, sizeof(buf));
    require(strlen(buf) == (full < sizeof(buf) ? full : sizeof(buf) - 1));
  }
}

/* A block on a spool in the scratch directory, opened once. */
static pd_spool_t *spool;

static void drain(void) {
  pd_spool_entry_t entry;
  while (pd_spool_next(spool, 0, &entry) == 0) {
    pd_event_t ev;
    require(pd_spool_load(spool, entry.seq, &ev) == PD_SPOOL_OK);
    fuzz_check_event(&ev);
    pd_event_free(&ev);
    require(pd_spool_remove(spool, entry.seq) == PD_SPOOL_OK);
  }
}

static void handle(const input_t *in, pd_notify_config_t *cfg) {
  if (spool == NULL) {
    spool = pd_spool_open(fuzz_scratch_dir(), "fuzz", 0);
    require(spool != NULL);
  }
  pd_notify_t *nt = pd_notify_open(cfg, spool, (in->flags & 8) != 0);
  require(nt != NULL);
  cdtime_t now = TIME_T_TO_CDTIME_T(1700000000);
  pd_notify_handle(nt, &in->n, now);
  pd_notify_handle(nt, &in->n, now + TIME_T_TO_CDTIME_T(700));
  drain();
  /* Forget what was decided, so every input starts from an empty block. */
  char **keys = NULL;
  ssize_t num = pd_notify_open_keys(nt, &keys);
  for (ssize_t i = 0; i < num; i++)
    pd_notify_forget(nt, keys[i], 0);
  pd_notify_free_keys(keys, num > 0 ? (size_t)num : 0);
  pd_notify_close(nt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in;
  input_read(&in, data, size);
  check_expansion(&in);
  check_meta_format(&in.n);

  char err[256];
  pd_notify_config_t cfg = {
      .name = "fuzz",
      .severities = PD_SEVERITY_ALL,
      .dedup_key =
          pd_template_validate(in.tmpl, err, sizeof(err)) == 0 ? in.tmpl : NULL,
      .resolve_on_okay = (in.flags & 4) != 0,
      .note_interval_s = 600,
  };
  pd_event_t ev;
  if (pd_event_from_notification(&cfg, &in.n, &ev) == PD_MAP_EVENT) {
    require(ev.dedup_key[0] != '\0' && ev.summary[0] != '\0');
    fuzz_check_event(&ev);
  }
  pd_event_free(&ev);

  handle(&in, &cfg);
  input_free(&in);
  return 0;
}
