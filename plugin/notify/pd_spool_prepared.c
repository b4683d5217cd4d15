/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_prepared.c - prepared files (pd_spool.h, "Prepared files"):
 * the thread that makes them (and converts the journal once a second),
 * and placing a record file by filling one of them, or a new temporary
 * file when none is left, and renaming it into place.
 */
#define _GNU_SOURCE /* renameat2(), pthread_setname_np() */

#include "pd_spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Prepared files are made back up to this whenever fewer than
 * PREPARED_LOW are left. */
#define PREPARED_TARGET 128

/* Forgets the prepared files (the directory was deleted, or one of them
 * cannot be used): enqueue creates its files again until pd_spool_prepare()
 * makes new ones. What is left of the old ones goes at the next open.
 * The caller holds the lock. */
void spool_prepared_give_up(pd_spool_t *s) {
  s->pre_first = s->pre_end;
  s->pre_gen++;
}

/* Renames tmp to path unless path exists (then tmp is removed: the record
 * is there already, written by an update or an earlier conversion). */
static int rename_new(const char *tmp, const char *path) {
  int status = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
  if (status != 0 && errno == EINVAL) { /* not supported here */
    struct stat st;
    if (lstat(path, &st) == 0) {
      errno = EEXIST;
    } else {
      status = rename(tmp, path);
    }
  }
  if (status != 0 && errno == EEXIST) {
    unlink(tmp);
    return 0;
  }
  if (status != 0) {
    int err = errno;
    unlink(tmp);
    errno = err;
  }
  return status;
}

/* The next prepared file's path into tmp; false when there is none. */
static bool take_prepared(pd_spool_t *s, char *tmp, size_t size) {
  pthread_mutex_lock(&s->lock);
  bool have = s->pre_first != s->pre_end;
  if (have) {
    spool_pre_path(s, s->pre_first++, tmp, size);
    if (s->pre_end - s->pre_first == PREPARED_LOW - 1 && s->prep_running)
      pthread_cond_signal(&s->prep_wake); /* only when crossing: cheap */
  }
  pthread_mutex_unlock(&s->lock);
  return have;
}

/* Writes data into the next prepared file. 0; -1 with errno (nothing left
 * behind); 1 when there is no prepared file to use. */
static int write_prepared(pd_spool_t *s, const char *data, size_t len,
                          char *tmp, size_t size) {
  if (!take_prepared(s, tmp, size))
    return 1;
  /* O_NONBLOCK: a FIFO put in its place must not hang us. No O_TRUNC (the
   * file is empty): ext4 flushes a truncated file at close. */
  int fd = open(tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    pthread_mutex_lock(&s->lock);
    spool_prepared_give_up(s);
    pthread_mutex_unlock(&s->lock);
    return 1;
  }
  int status = spool_write_all(fd, data, len);
  int saved = errno;
  if (close(fd) != 0 && status == 0) {
    status = -1;
    saved = errno;
  }
  if (status != 0) {
    unlink(tmp);
    errno = saved;
  }
  return status;
}

/* Makes data the record file of seq, unless one is there: a prepared (or
 * else a new temporary) file renamed into place; fsynced first when asked
 * (recovery at open). Called without the lock. 0, or -1 with errno. */
int spool_place_record(pd_spool_t *s, uint64_t seq, const char *data,
                       size_t len, bool do_fsync) {
  char tmp[PATH_MAX], path[PATH_MAX];
  spool_record_path(s, seq, path, sizeof(path));
  int status = do_fsync ? 1 : write_prepared(s, data, len, tmp, sizeof(tmp));
  if (status == 1) {
    spool_tmp_path(s, seq, "", tmp, sizeof(tmp));
    status = spool_write_new_file(tmp, data, len, do_fsync);
  }
  return status == 0 ? rename_new(tmp, path) : -1;
}

/* Makes prepared file id; under the lock it joins the pool, unless the
 * pool was given up since gen (then it is removed again). *have becomes
 * the pool's size. false when it could not be made or joined. */
static bool prepare_one(pd_spool_t *s, uint64_t id, uint64_t gen,
                        uint64_t *have) {
  char path[PATH_MAX];
  spool_pre_path(s, id, path, sizeof(path));
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return false; /* the disk refuses: enqueue creates its own and reports */
  close(fd);
  pthread_mutex_lock(&s->lock);
  bool joined = s->pre_gen == gen;
  if (joined) {
    if (s->pre_first == s->pre_end) /* an empty pool starts anywhere */
      s->pre_first = s->pre_end = id;
    joined = s->pre_end == id;
    if (joined)
      s->pre_end = id + 1;
  }
  *have = s->pre_end - s->pre_first;
  pthread_mutex_unlock(&s->lock);
  if (!joined)
    unlink(path);
  return joined;
}

void pd_spool_prepare(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  bool usable = s->dirs_ok && !s->write_failing;
  uint64_t have = s->pre_end - s->pre_first, gen = s->pre_gen;
  pthread_mutex_unlock(&s->lock);
  if (!usable || have >= PREPARED_LOW)
    return;
  /* Made without the lock, each one usable as soon as it exists: enqueue
   * never waits for this, and a burst takes them while more are made. */
  while (have < PREPARED_TARGET)
    if (!prepare_one(s, s->pre_next++, gen, &have))
      return;
}

/* Makes prepared files whenever half of them are used, and converts the
 * journal once a second or when JOURNAL_BATCH events wait in it (the
 * sender, which converts before it loads, may be stuck in a request);
 * retries once a second when the disk refuses (never in a busy loop). */
static void *prepare_main(void *arg) {
  pd_spool_t *s = arg;
  pthread_mutex_lock(&s->lock);
  while (!s->prep_stop) {
    pthread_mutex_unlock(&s->lock);
    pd_spool_prepare(s);
    spool_journal_convert(s);
    pthread_mutex_lock(&s->lock);
    if (s->prep_stop)
      break;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&s->prep_wake, &s->lock, &ts);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

int pd_spool_start_preparing(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  bool running = s->prep_running;
  s->prep_stop = false;
  pthread_mutex_unlock(&s->lock);
  if (running)
    return 0;
  int err = pthread_create(&s->prep_thread, NULL, prepare_main, s);
  if (err != 0) {
    PD_NOTIFY_WARNING(s->notify,
                      "cannot start the thread that prepares "
                      "spool files: %s; the notification callback creates "
                      "them itself",
                      strerror(err));
    return -1;
  }
  pthread_setname_np(s->prep_thread, "pagerduty-prep");
  pthread_mutex_lock(&s->lock);
  s->prep_running = true;
  pthread_mutex_unlock(&s->lock);
  return 0;
}

void pd_spool_stop_preparing(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  bool running = s->prep_running;
  s->prep_stop = true;
  s->prep_running = false;
  pthread_cond_signal(&s->prep_wake);
  pthread_mutex_unlock(&s->lock);
  if (running)
    pthread_join(s->prep_thread, NULL);
}

/* Removes the unused prepared files (at close: the thread is stopped). */
void spool_prepared_remove(pd_spool_t *s) {
  for (uint64_t id = s->pre_first; id < s->pre_end; id++) {
    char path[PATH_MAX];
    spool_pre_path(s, id, path, sizeof(path));
    unlink(path);
  }
}
