/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_journal.c - the journal of a spool (pd_spool.h, "Durability",
 * "Conversion"): its frames, the callback's append, the conversion of its
 * events into record files, replay at open, and emptying (cut) or
 * replacing (rotate) it after a sync.
 */
#define _GNU_SOURCE /* memmem() */

#include "pd_spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Frames of JOURNAL_HEADER bytes, then the payload. Header: "PDJ1", kind,
 * 3 zero bytes, payload length (u32), 4 zero bytes, seq (u64), hash of the
 * payload (u64), hash of the 32 bytes before it (u64); integers
 * little-endian. */
#define JOURNAL_MAGIC "PDJ1"
#define JOURNAL_HEADER 40
#define JOURNAL_EVENT 'E' /* an event: seq, its record as payload */
#define JOURNAL_DONE 'D'  /* no payload: every event up to seq is a file */
/* At open the journal is read whole; larger than this is not ours. */
#define JOURNAL_MAX_BYTES ((size_t)1 << 30)
/* After this long without events the journal is closed (pd_spool_sync). */
#define JOURNAL_IDLE_S 1.0

static void put_le(unsigned char *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* Fills the header of a frame (see JOURNAL_HEADER). */
static void journal_header(unsigned char *h, char kind, uint64_t seq,
                           const char *data, size_t len) {
  memset(h, 0, JOURNAL_HEADER);
  memcpy(h, JOURNAL_MAGIC, 4);
  h[4] = (unsigned char)kind;
  put_le(h + 8, len, 4);
  put_le(h + 16, seq, 8);
  put_le(h + 24, pd_hash64(data, len), 8);
  put_le(h + 32, pd_hash64(h, 32), 8);
}

/* A whole, undamaged frame at p (avail bytes): its kind, seq and payload.
 * Torn (cut short by a crash) or damaged frames are not. */
static bool journal_frame(const unsigned char *p, size_t avail, char *kind,
                          uint64_t *seq, const char **payload, size_t *len) {
  if (avail < JOURNAL_HEADER || memcmp(p, JOURNAL_MAGIC, 4) != 0 ||
      get_le(p + 32, 8) != pd_hash64(p, 32))
    return false;
  *kind = (char)p[4];
  *len = (size_t)get_le(p + 8, 4);
  *seq = get_le(p + 16, 8);
  *payload = (const char *)p + JOURNAL_HEADER;
  if ((*kind != JOURNAL_EVENT && *kind != JOURNAL_DONE) ||
      *len > PD_EVENT_RECORD_MAX_BYTES || *len > avail - JOURNAL_HEADER)
    return false;
  return get_le(p + 24, 8) == pd_hash64(*payload, *len);
}

static void journal_path(const pd_spool_t *s, char *buf, size_t size) {
  snprintf(buf, size, "%s/" JOURNAL_NAME, s->dir);
}

/* Opens (creating) the journal. The caller holds the lock. 0 or -1. */
static int journal_open(pd_spool_t *s) {
  char path[PATH_MAX];
  journal_path(s, path, sizeof(path));
  /* O_NONBLOCK: a FIFO put in its place must not hang the callback. */
  int fd = open(
      path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
      0600);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = S_ISREG(st.st_mode) ? errno : EINVAL;
    close(fd);
    errno = err;
    return -1;
  }
  s->jfd = fd;
  s->jsize = st.st_size;
  s->jsynced = st.st_size;
  return 0;
}

/*
 * Appends one frame with one write: a crash (kill -9) leaves it whole or,
 * when the callback never returned, torn at the end. *payload_off (may be
 * NULL) is where its payload starts. The caller holds the lock. 0, or -1
 * with errno; a partial write is cut off again, so the next frame does
 * not start behind garbage.
 */
static int journal_append(pd_spool_t *s, char kind, uint64_t seq,
                          const char *data, size_t len, off_t *payload_off) {
  if (s->jfd < 0 && journal_open(s) != 0)
    return -1;
  unsigned char h[JOURNAL_HEADER];
  journal_header(h, kind, seq, data, len);
  struct iovec iov[2] = {{.iov_base = h, .iov_len = sizeof(h)},
                         {.iov_base = (void *)data, .iov_len = len}};
  ssize_t want = (ssize_t)(sizeof(h) + len);
  ssize_t n = writev(s->jfd, iov, len > 0 ? 2 : 1);
  if (n == want) {
    if (payload_off != NULL)
      *payload_off = s->jsize + JOURNAL_HEADER;
    s->jsize += n;
    return 0;
  }
  int err = n < 0 ? errno : ENOSPC;
  if (n > 0 && ftruncate(s->jfd, s->jsize) != 0) {
    /* Left as it is: reading skips a damaged frame, with a WARNING. */
  }
  errno = err;
  return -1;
}

/* The journal's events that are no record file yet are lost (its
 * directory was deleted): they leave the index, counted as dropped. The
 * caller holds the lock. */
void spool_journal_lost(pd_spool_t *s) {
  size_t lost = 0;
  for (size_t i = 0; i < s->jpend_num; i++) {
    ssize_t at = spool_index_find(s, s->jpend[i].seq);
    if (at >= 0) {
      spool_index_remove_at(s, (size_t)at);
      lost++;
    }
  }
  s->jpend_num = 0;
  s->convert_stuck = false;
  if (s->jfd >= 0)
    close(s->jfd);
  s->jfd = -1;
  s->jsize = s->jsynced = 0;
  s->jgen++;
  s->dropped += lost;
  s->jlost += lost;
}

/* Before an append: is the open journal still in its directory? When it
 * was deleted, what it held is lost (counted) and -1 returned with ENOENT
 * (the directories are made again). The caller holds the lock. */
static int journal_check(pd_spool_t *s) {
  struct stat st;
  if (s->jfd < 0 || (fstat(s->jfd, &st) == 0 && st.st_nlink > 0))
    return 0;
  spool_journal_lost(s);
  errno = ENOENT;
  return -1;
}

/* Appends the event's record to the journal as seq; *off: where. The
 * caller holds the lock. 0, or -1 with errno. */
int spool_store_event(pd_spool_t *s, uint64_t seq, const char *json, size_t len,
                      off_t *off) {
  if (journal_check(s) != 0)
    return -1;
  return journal_append(s, JOURNAL_EVENT, seq, json, len, off);
}

/* Reads the payload of r from the journal open as fd into *data (caller
 * frees). 0 or -1. */
static int journal_read(int fd, const jrec_t *r, char **data) {
  *data = malloc(r->len + 1);
  if (*data == NULL)
    return -1;
  ssize_t n = pread(fd, *data, r->len, r->off);
  if (n != (ssize_t)r->len) {
    free(*data);
    *data = NULL;
    errno = n < 0 ? errno : EIO;
    return -1;
  }
  (*data)[r->len] = '\0';
  return 0;
}

/* Puts the unconverted rest of a batch back in front of the pending
 * events, or, when its journal is gone, counts them as lost. The caller
 * holds the lock. */
static void journal_requeue(pd_spool_t *s, const jrec_t *rest, size_t num,
                            uint64_t gen) {
  size_t need = s->jpend_num + num;
  if (gen == s->jgen && need > s->jpend_cap) {
    jrec_t *grown = realloc(s->jpend, need * sizeof(*grown));
    if (grown != NULL) {
      s->jpend = grown;
      s->jpend_cap = need;
    }
  }
  if (gen == s->jgen && need <= s->jpend_cap) {
    memmove(s->jpend + num, s->jpend, s->jpend_num * sizeof(*s->jpend));
    memcpy(s->jpend, rest, num * sizeof(*rest));
    s->jpend_num = need;
    return;
  }
  for (size_t i = 0; i < num; i++) {
    ssize_t at = spool_index_find(s, rest[i].seq);
    if (at >= 0) {
      spool_index_remove_at(s, (size_t)at);
      s->dropped++;
    }
  }
}

/*
 * Turns the journal's pending events into record files, in order, then
 * appends a "done up to" frame, so that a restart does not make a file
 * again for an event that may have been delivered and removed since. Files
 * are written without the lock (collectd's threads must not wait on the
 * disk); one conversion at a time. Stops at the first event the disk
 * refuses (it stays pending).
 */
void spool_journal_convert(pd_spool_t *s) {
  pthread_mutex_lock(&s->convert_lock);
  pthread_mutex_lock(&s->lock);
  size_t num = s->jpend_num;
  uint64_t gen = s->jgen;
  jrec_t *batch = num > 0 ? malloc(num * sizeof(*batch)) : NULL;
  int fd = batch != NULL ? dup(s->jfd) : -1;
  if (fd >= 0) {
    memcpy(batch, s->jpend, num * sizeof(*batch));
    s->jpend_num = 0;
    s->jinflight = num;
  }
  pthread_mutex_unlock(&s->lock);
  if (fd < 0) {
    free(batch);
    pthread_mutex_unlock(&s->convert_lock);
    return;
  }

  size_t done = 0;
  int err = 0;
  for (; done < num; done++) {
    if (!spool_is_pending(s, batch[done].seq))
      continue; /* delivered from the journal, or dropped: no file */
    char *data;
    if (journal_read(fd, &batch[done], &data) != 0) {
      err = errno;
      break;
    }
    int status =
        spool_place_record(s, batch[done].seq, data, batch[done].len, false);
    err = errno;
    free(data);
    if (status != 0)
      break;
  }
  close(fd);

  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < done; i++) {
    if (spool_index_find(s, batch[i].seq) >= 0) {
      spool_note_unsynced(s, batch[i].seq);
    } else { /* dropped or lost meanwhile: not to come back */
      char path[PATH_MAX];
      spool_record_path(s, batch[i].seq, path, sizeof(path));
      unlink(path);
    }
  }
  if (done > 0 && gen == s->jgen)
    journal_append(s, JOURNAL_DONE, batch[done - 1].seq, "", 0, NULL);
  if (done < num) {
    journal_requeue(s, batch + done, num - done, gen);
    s->convert_stuck = gen == s->jgen;
    spool_note_write_failure(s, "write spool file in", s->dir, err);
  } else if (done > 0) {
    s->convert_stuck = false;
    spool_note_write_ok(s);
  }
  s->jinflight = 0;
  s->jconverted += done;
  if (done > 0)
    s->dir_dirty = true;
  pthread_mutex_unlock(&s->lock);
  free(batch);
  pthread_mutex_unlock(&s->convert_lock);
}

/* Does the journal hold events that are no files yet? */
bool spool_journal_waiting(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  bool waiting = s->jpend_num > 0 || s->jinflight > 0;
  pthread_mutex_unlock(&s->lock);
  return waiting;
}

/* The payload of pending event seq, read from the journal (for load when
 * the disk refuses its file). 0, or -1 when it is not there. */
int spool_journal_copy(pd_spool_t *s, uint64_t seq, char **data, size_t *len) {
  int status = -1;
  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < s->jpend_num; i++) {
    if (s->jpend[i].seq == seq && s->jfd >= 0) {
      status = journal_read(s->jfd, &s->jpend[i], data);
      *len = s->jpend[i].len;
      break;
    }
  }
  pthread_mutex_unlock(&s->lock);
  if (status != 0)
    errno = ENOENT;
  return status;
}

/*
 * After a sync that fsynced everything converted up to `converted`: when
 * every event of the journal is a file, it is emptied; after a second
 * without events it is also closed (a file open for writing would stop
 * the file system from being remounted read-only). The caller holds the
 * lock.
 */
void spool_journal_cut(pd_spool_t *s, uint64_t converted, bool closing) {
  if (s->jfd < 0 || s->jpend_num > 0 || s->jinflight > 0 ||
      s->jconverted != converted)
    return;
  if (s->jsize > 0 && ftruncate(s->jfd, 0) == 0)
    s->jsize = s->jsynced = 0;
  cdtime_t idle = DOUBLE_TO_CDTIME_T(JOURNAL_IDLE_S);
  if (s->jsize == 0 && (closing || pd_spool_now() - s->jlast >= idle)) {
    close(s->jfd);
    s->jfd = -1;
  }
}

/*
 * Under steady traffic the journal is rarely empty at the moment it could
 * be cut. Past JOURNAL_ROTATE_BYTES, its pending events (the few appended
 * since the last conversion) are copied into a new journal, made while the
 * callback goes on, which then replaces it by a rename. Same conditions as
 * spool_journal_cut(); called without the lock.
 */
void spool_journal_rotate(pd_spool_t *s, uint64_t converted) {
  char path[PATH_MAX], fresh[PATH_MAX + 8];
  journal_path(s, path, sizeof(path));
  snprintf(fresh, sizeof(fresh), "%s.new", path);
  unlink(fresh);
  int fd =
      open(fresh, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
           0600);
  if (fd < 0)
    return;
  pthread_mutex_lock(&s->lock);
  bool ok = s->jfd >= 0 && s->jinflight == 0 && s->jconverted == converted;
  off_t *offs = ok ? malloc((s->jpend_num + 1) * sizeof(*offs)) : NULL;
  off_t size = 0;
  for (size_t i = 0; offs != NULL && i < s->jpend_num; i++) {
    const jrec_t *r = &s->jpend[i];
    char *data;
    if (journal_read(s->jfd, r, &data) != 0) {
      ok = false;
      break;
    }
    unsigned char h[JOURNAL_HEADER];
    journal_header(h, JOURNAL_EVENT, r->seq, data, r->len);
    struct iovec iov[2] = {{.iov_base = h, .iov_len = sizeof(h)},
                           {.iov_base = data, .iov_len = r->len}};
    ok = writev(fd, iov, 2) == (ssize_t)(sizeof(h) + r->len);
    free(data);
    if (!ok)
      break;
    offs[i] = size + JOURNAL_HEADER;
    size += (off_t)(sizeof(h) + r->len);
  }
  if (offs != NULL && ok && rename(fresh, path) == 0) {
    for (size_t i = 0; i < s->jpend_num; i++)
      s->jpend[i].off = offs[i];
    close(s->jfd);
    s->jfd = fd;
    s->jsize = size;
    s->jsynced = 0;
    fd = -1;
  }
  pthread_mutex_unlock(&s->lock);
  free(offs);
  if (fd >= 0) {
    close(fd);
    unlink(fresh);
  }
}

/* Reads the journal's frames: events not yet covered by a "done" frame
 * whose record file is missing are written (fsynced); a torn or damaged
 * frame is skipped with a WARNING. *highest: the largest seq seen. Returns
 * how many could not be written (-1: the journal cannot be read). */
static long journal_replay(pd_spool_t *s, const char *data, size_t len,
                           uint64_t *highest, size_t *recovered) {
  const unsigned char *p = (const unsigned char *)data;
  uint64_t done_upto = 0, seq;
  char kind;
  const char *payload;
  size_t plen;
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = 0, skipped = 0;
    long failures = 0;
    while (pos < len) {
      if (journal_frame(p + pos, len - pos, &kind, &seq, &payload, &plen)) {
        if (pass == 0 && kind == JOURNAL_DONE && seq > done_upto)
          done_upto = seq;
        if (seq > *highest)
          *highest = seq;
        if (pass == 1 && kind == JOURNAL_EVENT && seq > done_upto) {
          char path[PATH_MAX];
          struct stat st;
          spool_record_path(s, seq, path, sizeof(path));
          if (lstat(path, &st) == 0) {
            /* made before the crash */
          } else if (spool_place_record(s, seq, payload, plen, true) == 0) {
            (*recovered)++;
          } else {
            PD_NOTIFY_ERROR(s->notify, "cannot write %s from the journal: %s",
                            path, strerror(errno));
            failures++;
          }
        }
        pos += JOURNAL_HEADER + plen;
        continue;
      }
      /* Not a whole frame: look for the next one. */
      size_t next = pos + 1;
      bool found = false;
      while (next < len) {
        const unsigned char *m = memmem(p + next, len - next, JOURNAL_MAGIC, 4);
        if (m == NULL)
          break;
        next = (size_t)(m - p);
        if (journal_frame(p + next, len - next, &kind, &seq, &payload, &plen)) {
          found = true;
          break;
        }
        next++;
      }
      if (!found) {
        if (pass == 1)
          PD_NOTIFY_WARNING(s->notify,
                            "journal %s/" JOURNAL_NAME " ends in a torn "
                            "record (%zu bytes: a notification callback was "
                            "interrupted before it returned, or power was "
                            "lost); discarded",
                            s->dir, len - pos);
        break;
      }
      skipped += next - pos;
      pos = next;
    }
    if (pass == 1 && skipped > 0)
      PD_NOTIFY_WARNING(s->notify,
                        "journal %s/" JOURNAL_NAME ": %zu damaged bytes "
                        "skipped",
                        s->dir, skipped);
    if (pass == 1)
      return failures;
  }
  return 0;
}

/* At open, before the directory is scanned: events that are only in the
 * journal (collectd stopped before converting them) become record files,
 * then the journal is emptied. Keeps next_seq above every seq it held. */
void spool_journal_recover(pd_spool_t *s) {
  char path[PATH_MAX];
  journal_path(s, path, sizeof(path));
  char *data, fresh[PATH_MAX + 8];
  size_t len;
  const char *why;
  snprintf(fresh, sizeof(fresh), "%s.new", path);
  unlink(fresh); /* a rotation that did not finish: the journal holds all */
  if (pd_spool_read_file(path, JOURNAL_MAX_BYTES, &data, &len, &why) != 0) {
    if (errno != ENOENT)
      PD_NOTIFY_ERROR(s->notify, "cannot read journal %s: %s", path, why);
    return;
  }
  uint64_t highest = 0;
  size_t recovered = 0;
  long failures = journal_replay(s, data, len, &highest, &recovered);
  free(data);
  if (highest + 1 > s->next_seq)
    s->next_seq = highest + 1;
  if (recovered > 0)
    PD_NOTIFY_INFO(s->notify, "recovered %zu events from journal %s", recovered,
                   path);
  /* Emptied only when everything it held is a file on disk. Should that
   * fail (read-only), numbers go on above it, so "done" frames stay
   * right. */
  if (failures == 0 && len > 0 && spool_fsync_path(s->dir, true) == 0) {
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd >= 0) {
      if (ftruncate(fd, 0) != 0)
        PD_NOTIFY_WARNING(s->notify, "cannot empty journal %s: %s", path,
                          strerror(errno));
      close(fd);
    }
  }
}
