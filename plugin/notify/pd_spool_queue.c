/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_queue.c - see pd_spool.h: opening and closing a spool,
 * enqueue (the notification callback's path), sync, and the consumer's
 * calls that change the queue (load, update, retry, remove, fail). The
 * other files of the spool are listed in pd_spool_internal.h.
 */
#define _GNU_SOURCE /* syncfs() */

#include "pd_spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* More unsynced files than this: one syncfs() instead of an fsync each. */
#define SYNCFS_THRESHOLD 256

static int spool_sync(pd_spool_t *s, bool closing);

static void spool_free(pd_spool_t *s) {
  if (s->lock_fd >= 0)
    close(s->lock_fd); /* releases the flock */
  if (s->jfd >= 0)
    close(s->jfd);
  free(s->jpend);
  pthread_cond_destroy(&s->prep_wake);
  pthread_mutex_destroy(&s->convert_lock);
  pthread_mutex_destroy(&s->lock);
  for (size_t i = 0; i < s->stale_num; i++)
    free(s->stale[i].reason);
  free(s->stale);
  free(s->entries);
  free(s->unsynced);
  free(s->notify);
  free(s);
}

pd_spool_t *pd_spool_open(const char *spool_dir, const char *notify_name,
                          size_t max_events) {
  pd_spool_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->lock_fd = -1;
  s->jfd = -1;
  s->next_seq = 1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_init(&s->convert_lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&s->prep_wake, &attr);
  pthread_condattr_destroy(&attr);
  s->max_events = max_events;
  s->notify = strdup(notify_name);
  if (s->notify == NULL) {
    spool_free(s);
    return NULL;
  }
  pd_spool_dir_name(notify_name, s->name, sizeof(s->name));

  /* Leave room for "/<20 digits>.json.reason" and the like. */
  if (strlen(spool_dir) + sizeof(s->name) + 2 >= DIR_PATH_MAX) {
    PD_NOTIFY_ERROR(s->notify, "SpoolDir \"%s\" is too long", spool_dir);
    spool_free(s);
    return NULL;
  }
  snprintf(s->root, sizeof(s->root), "%s", spool_dir);
  snprintf(s->dir, sizeof(s->dir), "%s/%s", spool_dir, s->name);
  snprintf(s->failed_dir, sizeof(s->failed_dir), "%s/" PD_SPOOL_FAILED_DIR,
           spool_dir);

  char why[PATH_MAX + 128];
  int status = spool_open_dirs(s, why, sizeof(why));
  if (status == DIRS_FATAL) {
    PD_NOTIFY_ERROR(s->notify, "%s", why);
    spool_free(s);
    return NULL;
  }
  if (status != 0) {
    /* The disk refuses now (read-only, full, no permission): collectd
     * runs on; every enqueue and sync tries again. */
    s->write_failing = true;
    PD_NOTIFY_ERROR(s->notify,
                    "%s. Until it can be, events are dropped "
                    "(counted in derive-dropped)",
                    why);
    return s;
  }
  s->dirs_ok = true;
  /* SpoolDir itself may be a shared directory the user chose: only warn. */
  struct stat st;
  if (stat(spool_dir, &st) == 0 && (st.st_mode & 077) != 0)
    PD_NOTIFY_WARNING(s->notify,
                      "SpoolDir %s is accessible by group or others (mode "
                      "%03o); its spool directories are kept 0700",
                      spool_dir, (unsigned)(st.st_mode & 0777));
  spool_journal_recover(s);
  if (spool_scan(s) != 0) {
    spool_free(s);
    return NULL;
  }

  if (s->max_events > 0 && spool_index_size(s) > s->max_events) {
    size_t dropped = spool_drop_oldest(s, s->max_events + 1);
    PD_NOTIFY_WARNING(s->notify,
                      "%zu queued events exceed MaxSpoolEvents %zu: dropped "
                      "the %zu oldest",
                      spool_index_size(s) + dropped, s->max_events, dropped);
  }
  if (spool_index_size(s) > 0)
    PD_NOTIFY_INFO(s->notify, "replaying %zu queued events from %s",
                   spool_index_size(s), s->dir);
  return s;
}

void pd_spool_close(pd_spool_t *spool) {
  if (spool == NULL)
    return;
  pd_spool_stop_preparing(spool);
  spool_sync(spool, true); /* the journal's events become files */
  spool_prepared_remove(spool);
  spool_free(spool);
}

/* Room for one more index entry and one more pending journal event, so
 * that nothing can fail after the event is in the journal. The caller
 * holds the lock. 0 or -1. */
static int reserve_one(pd_spool_t *s) {
  if (spool_index_room(s) != 0)
    return -1;
  if (s->jpend_num == s->jpend_cap) {
    size_t cap = s->jpend_cap == 0 ? 64 : s->jpend_cap * 2;
    jrec_t *grown = realloc(s->jpend, cap * sizeof(*grown));
    if (grown == NULL)
      return -1;
    s->jpend = grown;
    s->jpend_cap = cap;
  }
  return 0;
}

int pd_spool_enqueue(pd_spool_t *s, pd_event_t *ev, size_t *dropped) {
  if (dropped != NULL)
    *dropped = 0;
  if (ev->created == 0)
    ev->created = cdtime();

  /* Serialise before taking the lock: the record does not hold seq. */
  char *json;
  size_t len;
  if (pd_event_to_record(ev, &json, &len) != 0) {
    PD_NOTIFY_ERROR(s->notify, "%s: cannot serialise the event; dropped",
                    ev->identifier);
    pthread_mutex_lock(&s->lock);
    s->dropped++;
    pthread_mutex_unlock(&s->lock);
    return -1;
  }

  pthread_mutex_lock(&s->lock);
  if (reserve_one(s) != 0) {
    s->dropped++;
    pthread_mutex_unlock(&s->lock);
    free(json);
    PD_NOTIFY_ERROR(s->notify, "%s: out of memory; event dropped",
                    ev->identifier);
    return -1;
  }
  /* Directories gone (or never made): one quick attempt to make them.
   * While a conversion could not make a journal event its file (disk
   * full...), new ones are not taken either: the event would only fit
   * into the journal's last block by chance. A journal append that
   * fails refuses nothing further: the next event tries again, and once
   * one fits, the ones behind it are taken until a conversion says the
   * disk still refuses files (so no event is refused for a disk that has
   * room again but has not been converted to yet). */
  int status = s->dirs_ok ? 0 : spool_restore_dirs(s);
  bool refused = status == 0 && s->convert_stuck && s->jpend_num > 0;
  uint64_t seq = s->next_seq;
  off_t off = 0;
  if (refused) {
    status = -1;
  } else if (status == 0) {
    status = spool_store_event(s, seq, json, len, &off);
    if (status != 0 && errno == ENOENT && spool_restore_dirs(s) == 0) {
      seq = s->next_seq; /* a re-scan may have found higher numbers */
      status = spool_store_event(s, seq, json, len, &off);
    }
    if (status != 0)
      spool_note_write_failure(s, "write spool file in", s->dir, errno);
  }
  free(json);
  if (status != 0) {
    spool_count_unstored(s); /* logged once, above or by spool_restore_dirs() */
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  s->next_seq = seq + 1;
  /* "Can be written again" is said by the conversion that makes its file. */

  size_t n = 0;
  if (s->max_events > 0)
    n = spool_drop_oldest(s, s->max_events);
  ev->seq = seq;
  pd_spool_entry_t entry = spool_entry_of(seq, ev);
  /* Reserved; only a drop that emptied the index can have given its
   * memory back. Pending either way: the conversion skips (and marks done)
   * an event that is not in the index. */
  status = spool_index_append(s, &entry);
  s->jpend[s->jpend_num++] = (jrec_t){.seq = seq, .off = off, .len = len};
  if (status != 0) {
    s->dropped++;
    pthread_mutex_unlock(&s->lock);
    PD_NOTIFY_ERROR(s->notify, "%s: out of memory; event dropped",
                    ev->identifier);
    ev->seq = 0;
    return -1;
  }
  if (s->jpend_num == JOURNAL_BATCH && s->prep_running)
    pthread_cond_signal(&s->prep_wake); /* only when crossing: cheap */
  s->jlast = pd_spool_now();
  if (s->max_events > 0)
    spool_note_overflow(s, n);
  s->enqueued++;
  pthread_mutex_unlock(&s->lock);

  if (dropped != NULL)
    *dropped = n;
  return 0;
}

void spool_note_unsynced(pd_spool_t *s, uint64_t seq) {
  if (s->unsynced_num == s->unsynced_cap) {
    size_t cap = s->unsynced_cap == 0 ? 64 : s->unsynced_cap * 2;
    uint64_t *grown = realloc(s->unsynced, cap * sizeof(*grown));
    if (grown == NULL) {
      s->sync_all = true;
      return;
    }
    s->unsynced = grown;
    s->unsynced_cap = cap;
  }
  s->unsynced[s->unsynced_num++] = seq;
}

/* fsyncs the record files of seqs (one syncfs() for many) and the
 * directories that changed. Called without the lock. 0 or -1 (logged). */
static int sync_files(pd_spool_t *s, const uint64_t *seqs, size_t num,
                      bool dir_dirty, bool failed_dirty) {
  /* After a burst, one syncfs() of the spool's file system is far cheaper
   * than an fsync per file (100,000 fsyncs take tens of seconds). */
  if (num > SYNCFS_THRESHOLD) {
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int status = fd >= 0 ? syncfs(fd) : -1;
    if (fd >= 0)
      close(fd);
    if (status == 0)
      return 0;
  }
  int status = 0;
  for (size_t i = 0; i < num; i++) {
    char path[PATH_MAX];
    spool_record_path(s, seqs[i], path, sizeof(path));
    if (spool_fsync_path(path, false) != 0) {
      PD_NOTIFY_ERROR(s->notify, "cannot fsync %s: %s", path, strerror(errno));
      status = -1;
    }
  }
  if (dir_dirty && spool_fsync_path(s->dir, true) != 0) {
    PD_NOTIFY_ERROR(s->notify, "cannot fsync %s: %s", s->dir, strerror(errno));
    status = -1;
  }
  if (failed_dirty && spool_fsync_path(s->failed_dir, true) != 0) {
    PD_NOTIFY_ERROR(s->notify, "cannot fsync %s: %s", s->failed_dir,
                    strerror(errno));
    status = -1;
  }
  return status;
}

static int spool_sync(pd_spool_t *s, bool closing) {
  /* The journal's events become files first, so that they are fsynced
   * below and the journal can be emptied. */
  spool_journal_convert(s);
  pthread_mutex_lock(&s->lock);
  /* Once a second: directories that vanished come back, files the disk
   * refused to let go go now, an overflow that ended says so. */
  spool_check_dirs(s);
  if (s->stale_num > 0)
    spool_retry_stale(s);
  if (s->max_events > 0)
    spool_note_overflow(s, 0);
  uint64_t *seqs = s->unsynced;
  size_t num = s->unsynced_num;
  bool dir_dirty = s->dir_dirty, failed_dirty = s->failed_dirty;
  s->unsynced = NULL;
  s->unsynced_num = s->unsynced_cap = 0;
  s->dir_dirty = s->failed_dirty = false;
  if (s->sync_all) {
    /* The list could not grow: sync every pending file instead. */
    uint64_t *all = malloc((spool_index_size(s) + 1) * sizeof(*all));
    if (all != NULL) {
      for (size_t i = s->head; i < s->end; i++)
        all[i - s->head] = s->entries[i].seq;
      free(seqs);
      seqs = all;
      num = spool_index_size(s);
      s->sync_all = false;
    }
  }
  /* Events still only in the journal (appended since the conversion)
   * are made durable there. */
  uint64_t converted = s->jconverted;
  off_t jsize = s->jsize;
  int jfd = s->jfd >= 0 && s->jsize != s->jsynced ? dup(s->jfd) : -1;
  if (s->jpend_num == 0 && s->jpend_cap > 64) { /* a drained burst */
    free(s->jpend);
    s->jpend = NULL;
    s->jpend_cap = 0;
  }
  pthread_mutex_unlock(&s->lock);

  /* The fsyncs run without the lock: enqueue must never wait on the disk. */
  int status = sync_files(s, seqs, num, dir_dirty, failed_dirty);
  free(seqs);
  if (jfd >= 0) {
    if (fdatasync(jfd) != 0) {
      PD_NOTIFY_ERROR(s->notify, "cannot fsync %s/" JOURNAL_NAME ": %s", s->dir,
                      strerror(errno));
      status = -1;
    }
    close(jfd);
  }
  pthread_mutex_lock(&s->lock);
  bool rotate = false;
  if (status == 0) {
    if (jfd >= 0 && jsize > s->jsynced)
      s->jsynced = jsize;
    spool_journal_cut(s, converted, closing);
    rotate = s->jsize > JOURNAL_ROTATE_BYTES;
  }
  pthread_mutex_unlock(&s->lock);
  if (rotate)
    spool_journal_rotate(s, converted);
  return status;
}

int pd_spool_sync(pd_spool_t *s) { return spool_sync(s, false); }

int pd_spool_load(pd_spool_t *s, uint64_t seq, pd_event_t *ev) {
  pd_event_init(ev);
  if (!spool_is_pending(s, seq))
    return PD_SPOOL_GONE;
  if (spool_journal_waiting(s))
    spool_journal_convert(s); /* the sender needs the file: now */

  /* Read without the lock: files are replaced by rename, never rewritten in
   * place, so a read sees a whole record; a dropped one reads as gone. */
  char path[PATH_MAX];
  spool_record_path(s, seq, path, sizeof(path));
  char *data;
  size_t len;
  char reason[512];
  const char *why;
  int status =
      pd_spool_read_file(path, PD_EVENT_RECORD_MAX_BYTES, &data, &len, &why);
  if (status != 0 && errno == ENOENT)
    /* Still only in the journal (the disk refused its file): from there. */
    status = spool_journal_copy(s, seq, &data, &len);
  if (status != 0) {
    if (errno == ENOENT || !spool_is_pending(s, seq))
      return PD_SPOOL_GONE;
    snprintf(reason, sizeof(reason), "unreadable: %s", why);
  } else {
    char err[256];
    int status = pd_event_from_record(data, len, ev, err, sizeof(err));
    free(data);
    if (status == 0) {
      ev->seq = seq;
      return PD_SPOOL_OK;
    }
    snprintf(reason, sizeof(reason), "corrupt record: %s", err);
  }
  PD_NOTIFY_ERROR(s->notify, "spool file %s: %s; moved to %s/", path, reason,
                  s->failed_dir);
  pd_spool_fail(s, seq, reason);
  return PD_SPOOL_ERROR;
}

/* Rewrites ev's record; the index's next attempt becomes spool_next (spool
 * clock), or, when that is 0, ev->next_attempt put on the spool clock. */
static int rewrite_record(pd_spool_t *s, const pd_event_t *ev,
                          cdtime_t spool_next) {
  char *json;
  size_t len;
  if (pd_event_to_record(ev, &json, &len) != 0)
    return PD_SPOOL_ERROR;

  /* Write and fsync the new version without the lock (the sender thread
   * may wait on the disk; collectd's threads must not). */
  char tmp[PATH_MAX], path[PATH_MAX];
  spool_tmp_path(s, ev->seq, ".u", tmp, sizeof(tmp));
  spool_record_path(s, ev->seq, path, sizeof(path));
  int status = spool_write_new_file(tmp, json, len, true);
  int saved = errno;
  free(json);

  pthread_mutex_lock(&s->lock);
  ssize_t i = spool_index_find(s, ev->seq);
  if (i < 0) { /* dropped or removed meanwhile: do not resurrect it */
    if (status == 0)
      unlink(tmp);
    pthread_mutex_unlock(&s->lock);
    return PD_SPOOL_GONE;
  }
  if (status == 0 && rename(tmp, path) != 0) {
    saved = errno;
    unlink(tmp);
    status = -1;
  }
  /* Even when the disk refused, the index takes the new schedule: the
   * event waits as decided instead of being retried in a busy loop. The
   * record keeps its old attempt; after a restart it is simply due. */
  s->entries[i].next_attempt =
      spool_next != 0 ? spool_next : spool_next_on_clock(ev->next_attempt);
  s->entries[i].key_hash = pd_hash64(ev->dedup_key, strlen(ev->dedup_key));
  if (status == 0) {
    s->dir_dirty = true;
    spool_note_write_ok(s);
  } else {
    spool_note_write_failure(s, "update spool file", path, saved);
  }
  pthread_mutex_unlock(&s->lock);
  return status == 0 ? PD_SPOOL_OK : PD_SPOOL_ERROR;
}

int pd_spool_update(pd_spool_t *s, const pd_event_t *ev) {
  return rewrite_record(s, ev, 0);
}

int pd_spool_retry_in(pd_spool_t *s, pd_event_t *ev, double wait_s) {
  if (!(wait_s >= 0))
    wait_s = 0;
  if (wait_s > PD_SPOOL_MAX_WAIT_S)
    wait_s = PD_SPOOL_MAX_WAIT_S;
  /* Both clocks read once, together: a wall-clock step after this point
   * moves neither the index's wait nor the record's. */
  cdtime_t wait = DOUBLE_TO_CDTIME_T(wait_s);
  ev->next_attempt = cdtime() + wait;
  return rewrite_record(s, ev, pd_spool_now() + wait);
}

int pd_spool_remove(pd_spool_t *s, uint64_t seq) {
  pthread_mutex_lock(&s->lock);
  ssize_t i = spool_index_find(s, seq);
  if (i < 0) {
    pthread_mutex_unlock(&s->lock);
    return PD_SPOOL_GONE;
  }
  char path[PATH_MAX];
  spool_record_path(s, seq, path, sizeof(path));
  if (unlink(path) != 0 && errno != ENOENT) {
    /* Delivered all the same: it leaves the queue (sending it again and
     * again would be a busy loop) and its file goes at a later sync. */
    spool_note_write_failure(s, "remove", path, errno);
    spool_add_stale(s, seq, NULL);
  }
  spool_index_remove_at(s, (size_t)i);
  s->dir_dirty = true;
  pthread_mutex_unlock(&s->lock);
  return PD_SPOOL_OK;
}

int pd_spool_fail(pd_spool_t *s, uint64_t seq, const char *reason) {
  if (spool_journal_waiting(s))
    spool_journal_convert(s); /* its file is what goes to failed/ */
  pthread_mutex_lock(&s->lock);
  ssize_t i = spool_index_find(s, seq);
  if (i < 0) {
    pthread_mutex_unlock(&s->lock);
    return PD_SPOOL_GONE;
  }
  char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 64];
  spool_record_path(s, seq, path, sizeof(path));
  snprintf(base, sizeof(base), "%s-%0*" PRIu64 RECORD_SUFFIX, s->name,
           SEQ_DIGITS, seq);
  if (spool_move_to_failed(s, path, base, reason, true) != 0)
    spool_add_stale(s, seq, reason); /* moved at a later sync */
  spool_index_remove_at(s, (size_t)i);
  pthread_mutex_unlock(&s->lock);
  return PD_SPOOL_OK;
}

int pd_spool_quarantine(pd_spool_t *s, const char *name, const char *reason) {
  char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 300];
  snprintf(path, sizeof(path), "%s/%s", s->dir, name);
  snprintf(base, sizeof(base), "%s-%s", s->name,
           name[0] == '.' ? name + 1 : name);
  pthread_mutex_lock(&s->lock);
  int status = spool_move_to_failed(s, path, base, reason, false);
  pthread_mutex_unlock(&s->lock);
  return status;
}

const char *pd_spool_path(const pd_spool_t *s) { return s->dir; }
