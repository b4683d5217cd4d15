/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_faults.c - what the spool does when the disk refuses
 * (pd_spool.h, "Disk faults"): the write-failure and overflow states, each
 * logged once per change; directories made again when they vanished;
 * files that left the queue but not the disk, retried at each sync.
 */

#include "pd_spool_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Overflow is over when an enqueue leaves the queue at most this share of
 * MaxSpoolEvents: a queue hovering at the limit logs once, not per event. */
#define OVERFLOW_END_SHARE 0.9

/* Logs, once until writes work again, that the disk refuses: what cannot
 * be stored from now on is dropped and counted. The caller holds the
 * lock. */
void spool_note_write_failure(pd_spool_t *s, const char *what, const char *path,
                              int err) {
  if (s->write_failing)
    return;
  s->write_failing = true;
  s->unstored = 0;
  PD_NOTIFY_ERROR(s->notify,
                  "cannot %s %s: %s. Until the spool can be written again, "
                  "events that cannot be stored are dropped (counted in "
                  "derive-dropped)",
                  what, path, strerror(err));
}

/* The disk took a write again: says so once. The caller holds the lock. */
void spool_note_write_ok(pd_spool_t *s) {
  if (!s->write_failing)
    return;
  s->write_failing = false;
  PD_NOTIFY_INFO(s->notify,
                 "spool %s can be written again; %" PRIu64 " events could "
                 "not be stored meanwhile",
                 s->dir, s->unstored);
}

/* Counts one event the disk refused. The caller holds the lock. */
void spool_count_unstored(pd_spool_t *s) {
  s->dropped++;
  s->unstored++;
}

/*
 * The directories are missing (SpoolDir deleted, or never made at open):
 * makes them again. Events queued in a directory that vanished are gone:
 * they leave the index, counted as dropped. Whatever the directory holds
 * (it may have reappeared, e.g. a file system mounted late) is scanned.
 * The caller holds the lock. 0, or -1 (reported once) when it cannot yet.
 */
int spool_restore_dirs(pd_spool_t *s) {
  struct stat st;
  bool existed = stat(s->dir, &st) == 0;
  char why[PATH_MAX + 128];
  int status = spool_open_dirs(s, why, sizeof(why));
  if (status != 0) {
    if (!s->write_failing) { /* once, until it works again */
      s->write_failing = true;
      s->unstored = 0;
      PD_NOTIFY_ERROR(s->notify,
                      "%s. Until it can be, events are dropped "
                      "(counted in derive-dropped)",
                      why);
    }
    s->dirs_ok = false;
    return -1;
  }
  if (!existed)
    spool_journal_lost(s); /* it was in the directory that went */
  size_t lost = existed ? 0 : spool_index_size(s);
  if (lost > 0) {
    s->head = s->end = 0;
    s->dropped += lost;
  }
  lost += s->jlost;
  s->jlost = 0;
  if (s->dirs_ok || lost > 0)
    PD_NOTIFY_WARNING(s->notify,
                      "spool directory %s had disappeared; "
                      "created again (%zu queued events were lost with it)",
                      s->dir, lost);
  s->dirs_ok = true;
  s->unsynced_num = 0; /* their files are gone */
  spool_prepared_give_up(s);
  s->dir_dirty = s->failed_dirty = true;
  if (spool_index_size(s) == 0)
    spool_scan(s);
  spool_note_write_ok(s);
  return 0;
}

/* Makes sure the directories exist, restoring them when they do not.
 * Cheap when they do. The caller holds the lock. */
int spool_check_dirs(pd_spool_t *s) {
  struct stat st;
  if (s->dirs_ok && stat(s->dir, &st) == 0)
    return 0;
  return spool_restore_dirs(s);
}

/* Logs MaxSpoolEvents overflow when it begins, and when the queue has
 * room again; dropped: events the enqueue just dropped. Caller locks. */
void spool_note_overflow(pd_spool_t *s, size_t dropped) {
  if (dropped > 0) {
    s->overflowed += dropped;
    if (!s->overflowing) {
      s->overflowing = true;
      PD_NOTIFY_WARNING(s->notify,
                        "spool full (MaxSpoolEvents %zu): the oldest queued "
                        "events are dropped (counted in derive-dropped) "
                        "until the queue has room again",
                        s->max_events);
    }
  } else if (s->overflowing && (double)spool_index_size(s) <=
                                   OVERFLOW_END_SHARE * (double)s->max_events) {
    s->overflowing = false;
    PD_NOTIFY_INFO(s->notify,
                   "spool has room again (%zu of MaxSpoolEvents %zu "
                   "queued); %" PRIu64 " oldest events were dropped",
                   spool_index_size(s), s->max_events, s->overflowed);
    s->overflowed = 0;
  }
}

/* Remembers a file that left the queue but could not leave the disk:
 * removed (reason NULL) or moved to failed/ at the next sync. */
void spool_add_stale(pd_spool_t *s, uint64_t seq, const char *reason) {
  if (s->stale_num == s->stale_cap) {
    size_t cap = s->stale_cap == 0 ? 16 : s->stale_cap * 2;
    stale_t *grown = realloc(s->stale, cap * sizeof(*grown));
    if (grown == NULL)
      return; /* then it is replayed after a restart: sent again, or
                 found corrupt - a harmless duplicate either way */
    s->stale = grown;
    s->stale_cap = cap;
  }
  char *copy = reason != NULL ? strdup(reason) : NULL;
  if (reason != NULL && copy == NULL)
    return;
  s->stale[s->stale_num++] = (stale_t){.seq = seq, .reason = copy};
}

/* Retries the stale files. The caller holds the lock. */
void spool_retry_stale(pd_spool_t *s) {
  size_t kept = 0, num = s->stale_num;
  for (size_t i = 0; i < s->stale_num; i++) {
    stale_t *st = &s->stale[i];
    char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 64];
    spool_record_path(s, st->seq, path, sizeof(path));
    bool done;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
      done = true;
    } else if (st->reason == NULL) {
      done = unlink(path) == 0 || errno == ENOENT;
    } else {
      snprintf(base, sizeof(base), "%s-%0*" PRIu64 RECORD_SUFFIX, s->name,
               SEQ_DIGITS, st->seq);
      done = spool_move_to_failed(s, path, base, st->reason, true) == 0;
    }
    if (done) {
      free(st->reason);
      s->dir_dirty = true;
    } else {
      s->stale[kept++] = *st;
    }
  }
  s->stale_num = kept;
  if (kept == 0 && num > 0)
    spool_note_write_ok(s); /* the disk let every one go */
}
