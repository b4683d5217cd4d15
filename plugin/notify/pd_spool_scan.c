/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_scan.c - reading a block's directory at open (and when it
 * reappears): records into the index, corrupt ones to failed/, leftovers
 * of interrupted writes removed (pd_spool.h, "Crash leftovers").
 */

#include "pd_spool_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int compare_seq(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Reads and validates one record found at open; adds it to the index or
 * moves it to failed/. */
static void load_found(pd_spool_t *s, uint64_t seq) {
  char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 64], reason[512];
  spool_record_path(s, seq, path, sizeof(path));
  snprintf(base, sizeof(base), "%s-%0*" PRIu64 RECORD_SUFFIX, s->name,
           SEQ_DIGITS, seq);

  char *data;
  size_t len;
  const char *why;
  if (pd_spool_read_file(path, PD_EVENT_RECORD_MAX_BYTES, &data, &len, &why) !=
      0) {
    snprintf(reason, sizeof(reason), "unreadable at start: %s", why);
    if (spool_move_to_failed(s, path, base, reason, true) == 0)
      PD_NOTIFY_WARNING(s->notify, "spool file %s %s; moved to %s/", path,
                        reason, s->failed_dir);
    return;
  }
  pd_event_t ev;
  char err[256];
  int status = pd_event_from_record(data, len, &ev, err, sizeof(err));
  free(data);
  if (status != 0) {
    snprintf(reason, sizeof(reason), "corrupt record found at start: %s", err);
    if (spool_move_to_failed(s, path, base, reason, true) == 0)
      PD_NOTIFY_WARNING(s->notify, "spool file %s: %s; moved to %s/", path,
                        reason, s->failed_dir);
    pd_event_free(&ev);
    return;
  }
  pd_spool_entry_t entry = spool_entry_of(seq, &ev);
  pd_event_free(&ev);

  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
    chmod(path, 0600);
    PD_NOTIFY_WARNING(s->notify, "spool file %s was mode %03o; changed to 0600",
                      path, (unsigned)(st.st_mode & 0777));
  }
  if (spool_index_append(s, &entry) != 0)
    PD_NOTIFY_ERROR(s->notify, "out of memory indexing %s", path);
}

/* The highest seq this block left in failed/, so numbers never repeat. */
static uint64_t highest_failed_seq(const pd_spool_t *s) {
  DIR *d = opendir(s->failed_dir);
  if (d == NULL)
    return 0;
  size_t prefix_len = strlen(s->name);
  uint64_t highest = 0;
  struct dirent *de;
  char record[SEQ_DIGITS + sizeof(RECORD_SUFFIX)];
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, s->name, prefix_len) != 0 ||
        de->d_name[prefix_len] != '-')
      continue;
    const char *rest = de->d_name + prefix_len + 1;
    if (strlen(rest) < sizeof(record) - 1)
      continue;
    memcpy(record, rest, sizeof(record) - 1);
    record[sizeof(record) - 1] = '\0';
    uint64_t seq;
    if (spool_parse_record_name(record, &seq) && seq > highest)
      highest = seq;
  }
  closedir(d);
  return highest;
}

/* A prepared file left over (from the last run, or a pool given up) that
 * is still empty: removed, true. One with data was being written when
 * collectd died: false, and it is handled like a temporary file. */
static bool unused_prepared(const pd_spool_t *s, const char *name) {
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%s", s->dir, name);
  if (lstat(path, &st) != 0)
    return errno == ENOENT;
  if (!S_ISREG(st.st_mode) || st.st_size != 0)
    return false;
  unlink(path);
  return true;
}

/* Reads the directory: records into the index, leftovers to failed/. */
int spool_scan(pd_spool_t *s) {
  DIR *d = opendir(s->dir);
  if (d == NULL) {
    PD_NOTIFY_ERROR(s->notify, "cannot read spool directory %s: %s", s->dir,
                    strerror(errno));
    return -1;
  }
  uint64_t *seqs = NULL;
  size_t num = 0, cap = 0;
  int status = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *name = de->d_name;
    uint64_t seq;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strcmp(name, LOCK_NAME) == 0 ||
        strncmp(name, JOURNAL_NAME, strlen(JOURNAL_NAME)) == 0 ||
        strncmp(name, PD_SPOOL_STATE_PREFIX, strlen(PD_SPOOL_STATE_PREFIX)) ==
            0)
      continue;
    if (spool_parse_record_name(name, &seq)) {
      if (num == cap) {
        size_t new_cap = cap == 0 ? 256 : cap * 2;
        uint64_t *grown = realloc(seqs, new_cap * sizeof(*grown));
        if (grown == NULL) {
          status = -1;
          break;
        }
        seqs = grown;
        cap = new_cap;
      }
      seqs[num++] = seq;
    } else if (strncmp(name, PRE_PREFIX, strlen(PRE_PREFIX)) == 0 &&
               unused_prepared(s, name)) {
      continue; /* removed: it never held an event */
    } else if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
               strncmp(name, PRE_PREFIX, strlen(PRE_PREFIX)) == 0) {
      /* A write interrupted by a crash: a conversion from the journal
       * (the journal, read before this scan, held the event: it is in
       * its record file now) or an update (the record is still in
       * place). Nothing is lost with it. */
      char path[PATH_MAX];
      snprintf(path, sizeof(path), "%s/%s", s->dir, name);
      if (unlink(path) == 0)
        PD_NOTIFY_INFO(s->notify,
                       "removed %s, left by an interrupted write (its event "
                       "is in its record file)",
                       path);
    } else {
      PD_NOTIFY_WARNING(s->notify,
                        "unexpected file %s/%s in the spool directory; "
                        "ignored",
                        s->dir, name);
    }
  }
  closedir(d);
  if (status != 0) {
    PD_NOTIFY_ERROR(s->notify, "out of memory reading %s", s->dir);
    free(seqs);
    return -1;
  }

  if (num > 0)
    qsort(seqs, num, sizeof(*seqs), compare_seq);
  uint64_t highest = highest_failed_seq(s);
  for (size_t i = 0; i < num; i++) {
    load_found(s, seqs[i]);
    if (seqs[i] > highest)
      highest = seqs[i];
  }
  free(seqs);
  if (highest + 1 > s->next_seq) /* never back: a re-scan keeps going up */
    s->next_seq = highest + 1;
  return 0;
}
