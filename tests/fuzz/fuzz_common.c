/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.c - see fuzz_common.h.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "fuzz_common.h"
#include "pd_event.h"
#include "pd_event_body.h"
#include "pd_event_record.h"

static char scratch[256];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void remove_scratch(void) {
  if (scratch[0] != '\0')
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(void) {
  if (scratch[0] == '\0') {
    const char *base = getenv("PD_FUZZ_SCRATCH");
    if (base == NULL || base[0] == '\0')
      base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof(scratch), "%s/pd-fuzz-XXXXXX", base);
    require(mkdtemp(scratch) != NULL);
    atexit(remove_scratch);
  }
  return scratch;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  require(fd >= 0);
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    require(n > 0);
    done += (size_t)n;
  }
  require(close(fd) == 0);
}

/* ---- events ------------------------------------------------------------ */

#define ROUTING_KEY "R0123456789abcdef0123456789abcde"

static void require_json(const char *body) {
  yajl_val v = yajl_tree_parse(body, NULL, 0);
  require(v != NULL);
  yajl_tree_free(v);
}

static int same_text(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

/* The fields a record carries as text come back byte for byte. */
static void require_same(const pd_event_t *a, const pd_event_t *b) {
  require(a->action == b->action && a->severity == b->severity);
  require(same_text(a->notify, b->notify));
  require(strcmp(a->dedup_key, b->dedup_key) == 0);
  require(strcmp(a->summary, b->summary) == 0);
  require(strcmp(a->message, b->message) == 0);
  require(strcmp(a->source, b->source) == 0);
  require(strcmp(a->component, b->component) == 0);
  require(strcmp(a->group, b->group) == 0);
  require(strcmp(a->event_class, b->event_class) == 0);
  require(strcmp(a->identifier, b->identifier) == 0);
  require(same_text(a->note, b->note) && same_text(a->incident, b->incident));
  require(same_text(a->incident_id, b->incident_id));
  require(same_text(a->last_error, b->last_error));
  require(a->step == b->step && a->attempts == b->attempts);
  require(a->details_num == b->details_num);
  require(a->details_dropped == b->details_dropped);
  for (size_t i = 0; i < a->details_num; i++) {
    require(strcmp(a->details[i].name, b->details[i].name) == 0);
    require(a->details[i].type == b->details[i].type);
  }
}

static void round_trip(const pd_event_t *ev) {
  char *json = NULL, err[256];
  size_t len = 0;
  require(pd_event_to_record(ev, &json, &len) == 0);
  pd_event_t again;
  if (pd_event_from_record(json, len, &again, err, sizeof(err)) != 0) {
    fprintf(stderr, "a record written is not read back: %s\n%s\n", err, json);
    abort();
  }
  require_same(ev, &again);
  pd_event_free(&again);
  free(json);
}

static void wire_bodies(const pd_event_t *ev) {
  char *body = NULL;
  size_t len = 0;
  bool dropped = false;
  if (pd_event_events_body(ev, ROUTING_KEY, NULL, &body, &len, &dropped) == 0) {
    require(len <= PD_EVENT_MAX_BYTES && strlen(body) == len);
    require_json(body);
  }
  free(body);
  body = NULL;
  if (pd_event_rest_create_body(ev, "PSERVIC", &body, &len) == 0) {
    require(strlen(body) == len);
    require_json(body);
  }
  free(body);
  free(pd_event_details_text(ev));
}

/* Every string an event holds is valid UTF-8 within its bound. */
static void require_text(const char *s, size_t max) {
  if (s == NULL)
    return;
  size_t len = strlen(s);
  require(len <= max && pd_utf8_is_valid(s, len));
}

void fuzz_check_event(const pd_event_t *ev) {
  /* The spool record is written without validating UTF-8 (pd_event.h):
   * every string field, checked here. A record's block name is not bounded
   * by the reader (it only names the block in log lines). */
  require_text(ev->notify, PD_EVENT_RECORD_MAX_BYTES);
  require_text(ev->dedup_key, PD_DEDUP_KEY_MAX);
  require_text(ev->summary, PD_SUMMARY_MAX);
  require_text(ev->message, sizeof(ev->message) - 1);
  require_text(ev->source, sizeof(ev->source) - 1);
  require_text(ev->component, sizeof(ev->component) - 1);
  require_text(ev->group, sizeof(ev->group) - 1);
  require_text(ev->event_class, sizeof(ev->event_class) - 1);
  require_text(ev->identifier, sizeof(ev->identifier) - 1);
  require_text(ev->note, PD_EVENT_TEXT_MAX);
  require_text(ev->incident, PD_EVENT_TEXT_MAX);
  require_text(ev->incident_id, PD_EVENT_TEXT_MAX);
  require_text(ev->last_error, PD_EVENT_TEXT_MAX);
  for (size_t i = 0; i < ev->details_num; i++) {
    require_text(ev->details[i].name, PD_EVENT_TEXT_MAX);
    if (ev->details[i].type == PD_DETAIL_STRING)
      require_text(ev->details[i].value.string, PD_EVENT_MAX_BYTES);
  }
  round_trip(ev);
  wire_bodies(ev);
}
