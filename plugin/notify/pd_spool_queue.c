/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_queue.c - see pd_spool.h.
 *
 * The index is an array of entries in sequence order, used as a deque:
 * events leave mostly from the front (delivered in order), so removing
 * there only advances `head`; a removal elsewhere (another dedup key got
 * through first) shifts the shorter side by one entry.
 */
#define _GNU_SOURCE /* syncfs(), pthread_setname_np() */

#include "pd_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pd_http.h" /* pd_monotonic_now() */

#define SEQ_DIGITS 20
#define RECORD_SUFFIX ".json"
#define REASON_SUFFIX ".reason"
#define TMP_PREFIX ".tmp-"
#define PRE_PREFIX ".pre-"
/* Prepared files (see pd_spool_prepare): made back up to PREPARED_TARGET
 * whenever fewer than PREPARED_LOW are left. */
#define PREPARED_TARGET 128
#define PREPARED_LOW 64
#define LOCK_NAME ".lock"
/* The journal (pd_spool.h): frames of JOURNAL_HEADER bytes, then the
 * payload. Header: "PDJ1", kind, 3 zero bytes, payload length (u32), 4 zero
 * bytes, seq (u64), hash of the payload (u64), hash of the 32 bytes before
 * it (u64); integers little-endian. */
#define JOURNAL_NAME ".journal"
#define JOURNAL_MAGIC "PDJ1"
#define JOURNAL_HEADER 40
#define JOURNAL_EVENT 'E' /* an event: seq, its record as payload */
#define JOURNAL_DONE 'D'  /* no payload: every event up to seq is a file */
/* The preparing thread converts the journal once a second, or as soon as
 * this many records wait. */
#define JOURNAL_BATCH 64
/* At open the journal is read whole; larger than this is not ours. */
#define JOURNAL_MAX_BYTES ((size_t)1 << 30)
/* After this long without events the journal is closed (pd_spool_sync). */
#define JOURNAL_IDLE_S 1.0
/* A journal that could not be emptied is replaced past this size. */
#define JOURNAL_ROTATE_BYTES ((off_t)1 << 20)
#define NAME_KEEP_MAX 64
/* More unsynced files than this: one syncfs() instead of an fsync each. */
#define SYNCFS_THRESHOLD 256
/* Directory paths leave room below PATH_MAX for the file names in them. */
#define DIR_PATH_MAX (PATH_MAX - 512)
/* Overflow is over when an enqueue leaves the queue at most this share of
 * MaxSpoolEvents: a queue hovering at the limit logs once, not per event. */
#define OVERFLOW_END_SHARE 0.9

/* An event in the journal that is not yet a record file. */
typedef struct {
  uint64_t seq;
  off_t off; /* of its payload in the journal */
  size_t len;
} jrec_t;

/* A file that left the queue but is still on disk (the disk refused). */
typedef struct {
  uint64_t seq;
  char *reason; /* NULL: delivered, remove it; else move it to failed/ */
} stale_t;

struct pd_spool_s {
  pthread_mutex_t lock;
  char *notify;                     /* the block's name, for log lines */
  char root[DIR_PATH_MAX];          /* SpoolDir */
  char name[PD_SPOOL_NAME_MAX + 1]; /* its directory's name */
  char dir[DIR_PATH_MAX];           /* SpoolDir/<name> */
  char failed_dir[DIR_PATH_MAX];    /* SpoolDir/failed */
  int lock_fd;
  size_t max_events; /* 0: unbounded */

  pd_spool_entry_t *entries; /* [head, end) pending, in seq order */
  size_t head, end, cap;
  uint64_t next_seq;

  /* Written since the last pd_spool_sync(). */
  uint64_t *unsynced;
  size_t unsynced_num, unsynced_cap;
  bool sync_all; /* the unsynced list could not grow: sync every file */
  bool dir_dirty, failed_dirty;

  uint64_t dropped, failed, enqueued;

  /* Disk faults (see the header); each logged once per change of state. */
  bool dirs_ok;        /* directories and lock in place */
  bool write_failing;  /* writes fail: events are dropped */
  bool convert_stuck;  /* the disk refused a journal event its file */
  uint64_t unstored;   /* events dropped since writes began to fail */
  bool overflowing;    /* MaxSpoolEvents reached: oldest dropped */
  uint64_t overflowed; /* events dropped since overflow began */
  stale_t *stale;      /* files to remove or move at the next sync */
  size_t stale_num, stale_cap;

  /* Prepared files .pre-<id>, ids [pre_first, pre_end): empty, made by
   * pd_spool_prepare() so that enqueue need not create a file. pre_next is
   * the next id to make (only pd_spool_prepare's thread touches it);
   * pre_gen changes when the pool is given up. */
  uint64_t pre_first, pre_end, pre_next, pre_gen;
  /* The thread that makes them (pd_spool_start_preparing), woken through
   * prep_wake when enqueue leaves fewer than PREPARED_LOW. */
  pthread_t prep_thread;
  bool prep_running, prep_stop;
  pthread_cond_t prep_wake; /* CLOCK_MONOTONIC */

  /* The journal (pd_spool.h). jfd: -1 while closed; opened read-write
   * (pread) and O_APPEND, jsize its length (we are its only writer).
   * jpend: its events that are no record file yet, in seq order; a batch
   * being converted has left jpend (jinflight). jgen changes when the
   * journal is lost with its directory. convert_lock: one conversion at a
   * time (taken before lock, never after). */
  int jfd;
  off_t jsize, jsynced; /* jsynced: its size at the last fdatasync */
  jrec_t *jpend;
  size_t jpend_num, jpend_cap;
  size_t jinflight;
  uint64_t jgen, jconverted; /* jconverted: conversions so far */
  uint64_t jlost;            /* events lost with a deleted journal, for
                                the message of restore_dirs() */
  cdtime_t jlast;            /* spool clock of the last event appended */
  pthread_mutex_t convert_lock;
};

/* ------------------------------------------------------------ clocks */

cdtime_t pd_spool_now(void) {
  return DOUBLE_TO_CDTIME_T(pd_monotonic_now() + PD_SPOOL_CLOCK_BASE_S);
}

/* A record's wall-clock creation time on the spool clock: its age now by
 * the wall clock (none when it lies in the future: the clock went back). */
static cdtime_t created_on_spool_clock(cdtime_t wall_created) {
  cdtime_t wall = cdtime(), now = pd_spool_now();
  cdtime_t age = wall > wall_created ? wall - wall_created : 0;
  cdtime_t base = DOUBLE_TO_CDTIME_T(PD_SPOOL_CLOCK_BASE_S);
  return age < base ? now - age : now - base;
}

/* A record's wall-clock next attempt on the spool clock, the wait bounded
 * by PD_SPOOL_MAX_WAIT_S. */
static cdtime_t next_on_spool_clock(cdtime_t wall_next) {
  if (wall_next == 0)
    return 0;
  cdtime_t wall = cdtime(), now = pd_spool_now();
  cdtime_t wait = wall_next > wall ? wall_next - wall : 0;
  cdtime_t max = DOUBLE_TO_CDTIME_T(PD_SPOOL_MAX_WAIT_S);
  return now + (wait < max ? wait : max);
}

/* ------------------------------------------------------------ names */

static bool name_is_safe(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > NAME_KEEP_MAX || name[0] == '.' ||
      strcmp(name, PD_SPOOL_FAILED_DIR) == 0)
    return false;
  for (const char *p = name; *p != '\0'; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok)
      return false;
  }
  return true;
}

void pd_spool_dir_name(const char *notify_name, char *out, size_t out_size) {
  if (name_is_safe(notify_name)) {
    snprintf(out, out_size, "%s", notify_name);
    return;
  }
  char safe[NAME_KEEP_MAX + 1];
  size_t n = 0;
  for (const char *p = notify_name; *p != '\0' && n < NAME_KEEP_MAX; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    safe[n++] = ok ? c : '_';
  }
  safe[n] = '\0';
  if (n > 0 && safe[0] == '.')
    safe[0] = '_';
  uint32_t hash = (uint32_t)pd_hash64(notify_name, strlen(notify_name));
  snprintf(out, out_size, "%s-%08" PRIx32, safe, hash);
}

static void record_path(const pd_spool_t *s, uint64_t seq, char *buf,
                        size_t size) {
  snprintf(buf, size, "%s/%0*" PRIu64 RECORD_SUFFIX, s->dir, SEQ_DIGITS, seq);
}

static void tmp_path(const pd_spool_t *s, uint64_t seq, const char *suffix,
                     char *buf, size_t size) {
  snprintf(buf, size, "%s/" TMP_PREFIX "%0*" PRIu64 "%s", s->dir, SEQ_DIGITS,
           seq, suffix);
}

static void pre_path(const pd_spool_t *s, uint64_t id, char *buf, size_t size) {
  snprintf(buf, size, "%s/" PRE_PREFIX "%0*" PRIu64, s->dir, SEQ_DIGITS, id);
}

/* Parses "<20 digits>.json" into *seq. */
static bool parse_record_name(const char *name, uint64_t *seq) {
  if (strlen(name) != SEQ_DIGITS + strlen(RECORD_SUFFIX) ||
      strcmp(name + SEQ_DIGITS, RECORD_SUFFIX) != 0)
    return false;
  uint64_t value = 0;
  for (int i = 0; i < SEQ_DIGITS; i++) {
    if (name[i] < '0' || name[i] > '9')
      return false;
    uint64_t digit = (uint64_t)(name[i] - '0');
    if (value > (UINT64_MAX - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  if (value == 0)
    return false;
  *seq = value;
  return true;
}

/* ------------------------------------------------------- files, dirs */

static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Creates path (0600, must not exist; a stale one is replaced) holding
 * data, fsynced when asked. On failure nothing is left behind. */
static int write_new_file(const char *path, const char *data, size_t len,
                          bool do_fsync) {
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
  int fd = open(path, flags, 0600);
  if (fd < 0 && errno == EEXIST) {
    unlink(path);
    fd = open(path, flags, 0600);
  }
  if (fd < 0)
    return -1;
  int status = write_all(fd, data, len);
  if (status == 0 && do_fsync)
    status = fsync(fd);
  int saved = errno;
  if (close(fd) != 0 && status == 0) {
    status = -1;
    saved = errno;
  }
  if (status != 0) {
    unlink(path);
    errno = saved;
  }
  return status;
}

int pd_spool_read_file(const char *path, size_t max_bytes, char **data,
                       size_t *len, const char **why) {
  *data = NULL;
  *len = 0;
  /* O_NONBLOCK: a FIFO planted under a record's name must not hang us. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    *why = errno == ELOOP ? "a symbolic link" : strerror(errno);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    *why = strerror(saved);
    return -1;
  }
  if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
    close(fd);
    errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
    *why =
        !S_ISREG(st.st_mode) ? "not a regular file" : "larger than it can be";
    return -1;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (buf == NULL) {
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      free(buf);
      errno = saved;
      *why = strerror(saved);
      return -1;
    }
    if (n == 0)
      break; /* shrank under us: parse what is there */
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return 0;
}

static int fsync_path(const char *path, bool directory) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0)
    return errno == ENOENT ? 0 : -1; /* removed meanwhile: nothing to sync */
  int status = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return status;
}

/* mkdir -p, new directories 0700. */
static int make_dirs(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = buf + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(buf, 0700) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

/* own_dir() and open_dirs(): the disk does not let us now (read-only,
 * full, no permission...) - try again later; or it never will. */
#define DIRS_RETRY (-1)
#define DIRS_FATAL (-2)

/* A directory of ours must be a directory and 0700; too open is fixed.
 * On failure *why (a buffer of why_size) says why. */
static int own_dir(const pd_spool_t *s, const char *path, char *why,
                   size_t why_size) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    int err = errno;
    snprintf(why, why_size, "cannot create spool directory %s: %s", path,
             strerror(err));
    return err == ENOTDIR ? DIRS_FATAL : DIRS_RETRY;
  }
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(why, why_size, "spool path %s is not a directory", path);
    return DIRS_FATAL;
  }
  if ((st.st_mode & 077) != 0) {
    if (chmod(path, 0700) == 0)
      PD_NOTIFY_WARNING(s->notify,
                        "spool directory %s was accessible by group or "
                        "others (mode %03o); changed to 0700",
                        path, (unsigned)(st.st_mode & 0777));
    else
      PD_NOTIFY_WARNING(s->notify,
                        "spool directory %s is accessible by group or others "
                        "(mode %03o) and cannot be changed: %s",
                        path, (unsigned)(st.st_mode & 0777), strerror(errno));
  }
  return 0;
}

/* One line of text for a .reason file: control characters become spaces. */
static void reason_line(const char *reason, char *out, size_t size) {
  pd_utf8_copy(out, size - 1, reason != NULL ? reason : "");
  for (char *p = out; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  strcat(out, "\n");
}

static void note_write_failure(pd_spool_t *s, const char *what,
                               const char *path, int err);
static void note_write_ok(pd_spool_t *s);
static void journal_lost(pd_spool_t *s);
static void prepared_give_up(pd_spool_t *s);
static int spool_sync(pd_spool_t *s, bool closing);
static bool is_pending(pd_spool_t *s, uint64_t seq);

/*
 * Moves src_path to failed/<base> (made unique with ".1", ".2"... when
 * taken) and writes the reason beside it; an event (counted) adds to the
 * failed count. The caller holds the lock. A failure is reported through
 * note_write_failure() (logged once while the disk refuses).
 */
static int move_to_failed(pd_spool_t *s, const char *src_path, const char *base,
                          const char *reason, bool counted) {
  char dst[PATH_MAX];
  struct stat st;
  snprintf(dst, sizeof(dst), "%s/%s", s->failed_dir, base);
  for (unsigned i = 1; lstat(dst, &st) == 0 && i < 1000; i++)
    snprintf(dst, sizeof(dst), "%s/%s.%u", s->failed_dir, base, i);
  int status = rename(src_path, dst);
  if (status != 0 && errno == ENOENT && access(src_path, F_OK) == 0 &&
      mkdir(s->failed_dir, 0700) == 0)
    status = rename(src_path, dst); /* failed/ was deleted: made again */
  if (status != 0) {
    note_write_failure(s, "move a file to", dst, errno);
    return -1;
  }
  chmod(dst, 0600);

  char reason_path[PATH_MAX + 16], text[1024];
  snprintf(reason_path, sizeof(reason_path), "%s" REASON_SUFFIX, dst);
  reason_line(reason, text, sizeof(text));
  if (write_new_file(reason_path, text, strlen(text), false) != 0)
    PD_NOTIFY_WARNING(s->notify, "cannot write %s: %s", reason_path,
                      strerror(errno));
  if (counted)
    s->failed++;
  s->failed_dirty = true;
  s->dir_dirty = true;
  return 0;
}

/* ------------------------------------------------------------- index */

/* Index of the first entry with seq >= seq (end when none). */
static size_t index_lower_bound(const pd_spool_t *s, uint64_t seq) {
  size_t lo = s->head, hi = s->end;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->entries[mid].seq < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static ssize_t index_find(const pd_spool_t *s, uint64_t seq) {
  size_t i = index_lower_bound(s, seq);
  if (i < s->end && s->entries[i].seq == seq)
    return (ssize_t)i;
  return -1;
}

static void index_remove_at(pd_spool_t *s, size_t i) {
  size_t sz = sizeof(*s->entries);
  if (i - s->head < s->end - 1 - i) {
    memmove(s->entries + s->head + 1, s->entries + s->head, (i - s->head) * sz);
    s->head++;
  } else {
    memmove(s->entries + i, s->entries + i + 1, (s->end - 1 - i) * sz);
    s->end--;
  }
  if (s->head == s->end) {
    s->head = s->end = 0;
    if (s->cap > 1024) { /* a drained burst gives its memory back */
      free(s->entries);
      s->entries = NULL;
      s->cap = 0;
    }
  }
}

/* Room for one more index entry at the end: the live part moves to the
 * front when at least half the array is spent, else the array doubles.
 * 0 or -1. */
static int index_room(pd_spool_t *s) {
  if (s->end == s->cap) {
    if (s->head >= s->cap / 2 && s->head > 0) {
      memmove(s->entries, s->entries + s->head,
              (s->end - s->head) * sizeof(*s->entries));
      s->end -= s->head;
      s->head = 0;
    } else {
      size_t cap = s->cap == 0 ? 64 : s->cap * 2;
      pd_spool_entry_t *grown = realloc(s->entries, cap * sizeof(*grown));
      if (grown == NULL)
        return -1;
      s->entries = grown;
      s->cap = cap;
    }
  }
  return 0;
}

/* Appends an entry whose seq is larger than all others. */
static int index_append(pd_spool_t *s, const pd_spool_entry_t *entry) {
  if (index_room(s) != 0)
    return -1;
  s->entries[s->end++] = *entry;
  return 0;
}

static size_t index_size(const pd_spool_t *s) { return s->end - s->head; }

/* Drops the oldest events until fewer than limit remain. The caller holds
 * the lock. Returns how many were dropped. */
static size_t drop_oldest(pd_spool_t *s, size_t limit) {
  size_t dropped = 0;
  while (index_size(s) > 0 && index_size(s) >= limit) {
    char path[PATH_MAX];
    record_path(s, s->entries[s->head].seq, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
      PD_NOTIFY_WARNING(s->notify, "cannot remove %s: %s", path,
                        strerror(errno));
    index_remove_at(s, s->head);
    dropped++;
  }
  s->dropped += dropped;
  if (dropped > 0)
    s->dir_dirty = true;
  return dropped;
}

static void note_unsynced(pd_spool_t *s, uint64_t seq) {
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

/* ------------------------------------------------------------- open */

/* The index entry of a record (its wall-clock times on the spool clock). */
static pd_spool_entry_t entry_of(uint64_t seq, const pd_event_t *ev) {
  return (pd_spool_entry_t){
      .seq = seq,
      .key_hash = pd_hash64(ev->dedup_key, strlen(ev->dedup_key)),
      .created = created_on_spool_clock(ev->created),
      .next_attempt = next_on_spool_clock(ev->next_attempt),
  };
}

static int compare_seq(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Reads and validates one record found at open; adds it to the index or
 * moves it to failed/. */
static void load_found(pd_spool_t *s, uint64_t seq) {
  char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 64], reason[512];
  record_path(s, seq, path, sizeof(path));
  snprintf(base, sizeof(base), "%s-%0*" PRIu64 RECORD_SUFFIX, s->name,
           SEQ_DIGITS, seq);

  char *data;
  size_t len;
  const char *why;
  if (pd_spool_read_file(path, PD_EVENT_RECORD_MAX_BYTES, &data, &len, &why) !=
      0) {
    snprintf(reason, sizeof(reason), "unreadable at start: %s", why);
    if (move_to_failed(s, path, base, reason, true) == 0)
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
    if (move_to_failed(s, path, base, reason, true) == 0)
      PD_NOTIFY_WARNING(s->notify, "spool file %s: %s; moved to %s/", path,
                        reason, s->failed_dir);
    pd_event_free(&ev);
    return;
  }
  pd_spool_entry_t entry = entry_of(seq, &ev);
  pd_event_free(&ev);

  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
    chmod(path, 0600);
    PD_NOTIFY_WARNING(s->notify, "spool file %s was mode %03o; changed to 0600",
                      path, (unsigned)(st.st_mode & 0777));
  }
  if (index_append(s, &entry) != 0)
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
    if (parse_record_name(record, &seq) && seq > highest)
      highest = seq;
  }
  closedir(d);
  return highest;
}

/* Reads the directory: records into the index, leftovers to failed/. */
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

static int scan(pd_spool_t *s) {
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
    if (parse_record_name(name, &seq)) {
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

/* Takes the block's lock (again: a deleted directory took the old file
 * with it). The descriptor is read-only (flock() needs no more): a file
 * held open for writing would stop the file system from being remounted
 * read-only, and a read-only spool still locks. 0, DIRS_RETRY, or
 * DIRS_FATAL when another process has the spool. */
static int take_lock(pd_spool_t *s, char *why, size_t why_size) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/" LOCK_NAME, s->dir);
  struct stat held, now;
  if (s->lock_fd >= 0 && fstat(s->lock_fd, &held) == 0 &&
      stat(path, &now) == 0 && held.st_dev == now.st_dev &&
      held.st_ino == now.st_ino)
    return 0; /* ours already: a second flock() would fight our own */
  int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
    return DIRS_RETRY;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(why, why_size,
             "spool %s is in use by another process (%s); two collectd "
             "instances cannot share a SpoolDir",
             s->dir, strerror(errno));
    close(fd);
    return DIRS_FATAL;
  }
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  s->lock_fd = fd;
  return 0;
}

/* Makes SpoolDir, the block's directory and failed/ as needed and takes
 * the lock. 0, DIRS_RETRY or DIRS_FATAL, with *why. */
static int open_dirs(pd_spool_t *s, char *why, size_t why_size) {
  if (make_dirs(s->root) != 0) {
    int err = errno;
    snprintf(why, why_size, "cannot create SpoolDir %s: %s", s->root,
             strerror(err));
    return err == ENOTDIR ? DIRS_FATAL : DIRS_RETRY;
  }
  int status = own_dir(s, s->dir, why, why_size);
  if (status == 0)
    status = own_dir(s, s->failed_dir, why, why_size);
  if (status == 0)
    status = take_lock(s, why, why_size);
  return status;
}

/* Logs, once until writes work again, that the disk refuses: what cannot
 * be stored from now on is dropped and counted. The caller holds the
 * lock. */
static void note_write_failure(pd_spool_t *s, const char *what,
                               const char *path, int err) {
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
static void note_write_ok(pd_spool_t *s) {
  if (!s->write_failing)
    return;
  s->write_failing = false;
  PD_NOTIFY_INFO(s->notify,
                 "spool %s can be written again; %" PRIu64 " events could "
                 "not be stored meanwhile",
                 s->dir, s->unstored);
}

/* Counts one event the disk refused. The caller holds the lock. */
static void count_unstored(pd_spool_t *s) {
  s->dropped++;
  s->unstored++;
}

/* Forgets the prepared files (the directory was deleted, or one of them
 * cannot be used): enqueue creates its files again until pd_spool_prepare()
 * makes new ones. What is left of the old ones goes at the next open.
 * The caller holds the lock. */
static void prepared_give_up(pd_spool_t *s) {
  s->pre_first = s->pre_end;
  s->pre_gen++;
}

/*
 * The directories are missing (SpoolDir deleted, or never made at open):
 * makes them again. Events queued in a directory that vanished are gone:
 * they leave the index, counted as dropped. Whatever the directory holds
 * (it may have reappeared, e.g. a file system mounted late) is scanned.
 * The caller holds the lock. 0, or -1 (reported once) when it cannot yet.
 */
static int restore_dirs(pd_spool_t *s) {
  struct stat st;
  bool existed = stat(s->dir, &st) == 0;
  char why[PATH_MAX + 128];
  int status = open_dirs(s, why, sizeof(why));
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
    journal_lost(s); /* it was in the directory that went */
  size_t lost = existed ? 0 : index_size(s);
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
  prepared_give_up(s);
  s->dir_dirty = s->failed_dirty = true;
  if (index_size(s) == 0)
    scan(s);
  note_write_ok(s);
  return 0;
}

/* Makes sure the directories exist, restoring them when they do not.
 * Cheap when they do. The caller holds the lock. */
static int check_dirs(pd_spool_t *s) {
  struct stat st;
  if (s->dirs_ok && stat(s->dir, &st) == 0)
    return 0;
  return restore_dirs(s);
}

/* Logs MaxSpoolEvents overflow when it begins, and when the queue has
 * room again; dropped: events the enqueue just dropped. Caller locks. */
static void note_overflow(pd_spool_t *s, size_t dropped) {
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
  } else if (s->overflowing && (double)index_size(s) <=
                                   OVERFLOW_END_SHARE * (double)s->max_events) {
    s->overflowing = false;
    PD_NOTIFY_INFO(s->notify,
                   "spool has room again (%zu of MaxSpoolEvents %zu "
                   "queued); %" PRIu64 " oldest events were dropped",
                   index_size(s), s->max_events, s->overflowed);
    s->overflowed = 0;
  }
}

/* Remembers a file that left the queue but could not leave the disk:
 * removed (reason NULL) or moved to failed/ at the next sync. */
static void add_stale(pd_spool_t *s, uint64_t seq, const char *reason) {
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
static void retry_stale(pd_spool_t *s) {
  size_t kept = 0, num = s->stale_num;
  for (size_t i = 0; i < s->stale_num; i++) {
    stale_t *st = &s->stale[i];
    char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 64];
    record_path(s, st->seq, path, sizeof(path));
    bool done;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
      done = true;
    } else if (st->reason == NULL) {
      done = unlink(path) == 0 || errno == ENOENT;
    } else {
      snprintf(base, sizeof(base), "%s-%0*" PRIu64 RECORD_SUFFIX, s->name,
               SEQ_DIGITS, st->seq);
      done = move_to_failed(s, path, base, st->reason, true) == 0;
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
    note_write_ok(s); /* the disk let every one go */
}

/* ----------------------------------------------------------- journal */

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
static void journal_lost(pd_spool_t *s) {
  size_t lost = 0;
  for (size_t i = 0; i < s->jpend_num; i++) {
    ssize_t at = index_find(s, s->jpend[i].seq);
    if (at >= 0) {
      index_remove_at(s, (size_t)at);
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
  journal_lost(s);
  errno = ENOENT;
  return -1;
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
    pre_path(s, s->pre_first++, tmp, size);
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
    prepared_give_up(s);
    pthread_mutex_unlock(&s->lock);
    return 1;
  }
  int status = write_all(fd, data, len);
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
static int place_record(pd_spool_t *s, uint64_t seq, const char *data,
                        size_t len, bool do_fsync) {
  char tmp[PATH_MAX], path[PATH_MAX];
  record_path(s, seq, path, sizeof(path));
  int status = do_fsync ? 1 : write_prepared(s, data, len, tmp, sizeof(tmp));
  if (status == 1) {
    tmp_path(s, seq, "", tmp, sizeof(tmp));
    status = write_new_file(tmp, data, len, do_fsync);
  }
  return status == 0 ? rename_new(tmp, path) : -1;
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
    ssize_t at = index_find(s, rest[i].seq);
    if (at >= 0) {
      index_remove_at(s, (size_t)at);
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
static void journal_convert(pd_spool_t *s) {
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
    if (!is_pending(s, batch[done].seq))
      continue; /* delivered from the journal, or dropped: no file */
    char *data;
    if (journal_read(fd, &batch[done], &data) != 0) {
      err = errno;
      break;
    }
    int status = place_record(s, batch[done].seq, data, batch[done].len, false);
    err = errno;
    free(data);
    if (status != 0)
      break;
  }
  close(fd);

  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < done; i++) {
    if (index_find(s, batch[i].seq) >= 0) {
      note_unsynced(s, batch[i].seq);
    } else { /* dropped or lost meanwhile: not to come back */
      char path[PATH_MAX];
      record_path(s, batch[i].seq, path, sizeof(path));
      unlink(path);
    }
  }
  if (done > 0 && gen == s->jgen)
    journal_append(s, JOURNAL_DONE, batch[done - 1].seq, "", 0, NULL);
  if (done < num) {
    journal_requeue(s, batch + done, num - done, gen);
    s->convert_stuck = gen == s->jgen;
    note_write_failure(s, "write spool file in", s->dir, err);
  } else if (done > 0) {
    s->convert_stuck = false;
    note_write_ok(s);
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
static bool journal_waiting(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  bool waiting = s->jpend_num > 0 || s->jinflight > 0;
  pthread_mutex_unlock(&s->lock);
  return waiting;
}

/* The payload of pending event seq, read from the journal (for load when
 * the disk refuses its file). 0, or -1 when it is not there. */
static int journal_copy(pd_spool_t *s, uint64_t seq, char **data, size_t *len) {
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
static void journal_cut(pd_spool_t *s, uint64_t converted, bool closing) {
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
 * journal_cut(); called without the lock.
 */
static void journal_rotate(pd_spool_t *s, uint64_t converted) {
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
          record_path(s, seq, path, sizeof(path));
          if (lstat(path, &st) == 0) {
            /* made before the crash */
          } else if (place_record(s, seq, payload, plen, true) == 0) {
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
static void journal_recover(pd_spool_t *s) {
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
  if (failures == 0 && len > 0 && fsync_path(s->dir, true) == 0) {
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd >= 0) {
      if (ftruncate(fd, 0) != 0)
        PD_NOTIFY_WARNING(s->notify, "cannot empty journal %s: %s", path,
                          strerror(errno));
      close(fd);
    }
  }
}

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
  int status = open_dirs(s, why, sizeof(why));
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
  journal_recover(s);
  if (scan(s) != 0) {
    spool_free(s);
    return NULL;
  }

  if (s->max_events > 0 && index_size(s) > s->max_events) {
    size_t dropped = drop_oldest(s, s->max_events + 1);
    PD_NOTIFY_WARNING(s->notify,
                      "%zu queued events exceed MaxSpoolEvents %zu: dropped "
                      "the %zu oldest",
                      index_size(s) + dropped, s->max_events, dropped);
  }
  if (index_size(s) > 0)
    PD_NOTIFY_INFO(s->notify, "replaying %zu queued events from %s",
                   index_size(s), s->dir);
  return s;
}

void pd_spool_close(pd_spool_t *spool) {
  if (spool == NULL)
    return;
  pd_spool_stop_preparing(spool);
  spool_sync(spool, true); /* the journal's events become files */
  for (uint64_t id = spool->pre_first; id < spool->pre_end; id++) {
    char path[PATH_MAX];
    pre_path(spool, id, path, sizeof(path));
    unlink(path);
  }
  spool_free(spool);
}

/* ------------------------------------------------------------ queue */

/* Room for one more index entry and one more pending journal event, so
 * that nothing can fail after the event is in the journal. The caller
 * holds the lock. 0 or -1. */
static int reserve_one(pd_spool_t *s) {
  if (index_room(s) != 0)
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

/* Appends the event's record to the journal as seq; *off: where. The
 * caller holds the lock. 0, or -1 with errno. */
static int store_event(pd_spool_t *s, uint64_t seq, const char *json,
                       size_t len, off_t *off) {
  if (journal_check(s) != 0)
    return -1;
  return journal_append(s, JOURNAL_EVENT, seq, json, len, off);
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
  int status = s->dirs_ok ? 0 : restore_dirs(s);
  bool refused = status == 0 && s->convert_stuck && s->jpend_num > 0;
  uint64_t seq = s->next_seq;
  off_t off = 0;
  if (refused) {
    status = -1;
  } else if (status == 0) {
    status = store_event(s, seq, json, len, &off);
    if (status != 0 && errno == ENOENT && restore_dirs(s) == 0) {
      seq = s->next_seq; /* a re-scan may have found higher numbers */
      status = store_event(s, seq, json, len, &off);
    }
    if (status != 0)
      note_write_failure(s, "write spool file in", s->dir, errno);
  }
  free(json);
  if (status != 0) {
    count_unstored(s); /* logged once, above or by restore_dirs() */
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  s->next_seq = seq + 1;
  /* "Can be written again" is said by the conversion that makes its file. */

  size_t n = 0;
  if (s->max_events > 0)
    n = drop_oldest(s, s->max_events);
  ev->seq = seq;
  pd_spool_entry_t entry = entry_of(seq, ev);
  /* Reserved; only a drop that emptied the index can have given its
   * memory back. Pending either way: the conversion skips (and marks done)
   * an event that is not in the index. */
  status = index_append(s, &entry);
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
    note_overflow(s, n);
  s->enqueued++;
  pthread_mutex_unlock(&s->lock);

  if (dropped != NULL)
    *dropped = n;
  return 0;
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
    record_path(s, seqs[i], path, sizeof(path));
    if (fsync_path(path, false) != 0) {
      PD_NOTIFY_ERROR(s->notify, "cannot fsync %s: %s", path, strerror(errno));
      status = -1;
    }
  }
  if (dir_dirty && fsync_path(s->dir, true) != 0) {
    PD_NOTIFY_ERROR(s->notify, "cannot fsync %s: %s", s->dir, strerror(errno));
    status = -1;
  }
  if (failed_dirty && fsync_path(s->failed_dir, true) != 0) {
    PD_NOTIFY_ERROR(s->notify, "cannot fsync %s: %s", s->failed_dir,
                    strerror(errno));
    status = -1;
  }
  return status;
}

static int spool_sync(pd_spool_t *s, bool closing) {
  /* The journal's events become files first, so that they are fsynced
   * below and the journal can be emptied. */
  journal_convert(s);
  pthread_mutex_lock(&s->lock);
  /* Once a second: directories that vanished come back, files the disk
   * refused to let go go now, an overflow that ended says so. */
  check_dirs(s);
  if (s->stale_num > 0)
    retry_stale(s);
  if (s->max_events > 0)
    note_overflow(s, 0);
  uint64_t *seqs = s->unsynced;
  size_t num = s->unsynced_num;
  bool dir_dirty = s->dir_dirty, failed_dirty = s->failed_dirty;
  s->unsynced = NULL;
  s->unsynced_num = s->unsynced_cap = 0;
  s->dir_dirty = s->failed_dirty = false;
  if (s->sync_all) {
    /* The list could not grow: sync every pending file instead. */
    uint64_t *all = malloc((index_size(s) + 1) * sizeof(*all));
    if (all != NULL) {
      for (size_t i = s->head; i < s->end; i++)
        all[i - s->head] = s->entries[i].seq;
      free(seqs);
      seqs = all;
      num = index_size(s);
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
    journal_cut(s, converted, closing);
    rotate = s->jsize > JOURNAL_ROTATE_BYTES;
  }
  pthread_mutex_unlock(&s->lock);
  if (rotate)
    journal_rotate(s, converted);
  return status;
}

int pd_spool_sync(pd_spool_t *s) { return spool_sync(s, false); }

/* Makes prepared file id; under the lock it joins the pool, unless the
 * pool was given up since gen (then it is removed again). *have becomes
 * the pool's size. false when it could not be made or joined. */
static bool prepare_one(pd_spool_t *s, uint64_t id, uint64_t gen,
                        uint64_t *have) {
  char path[PATH_MAX];
  pre_path(s, id, path, sizeof(path));
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
    journal_convert(s);
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

int pd_spool_next(pd_spool_t *s, uint64_t after_seq, pd_spool_entry_t *entry) {
  pthread_mutex_lock(&s->lock);
  size_t i = index_lower_bound(s, after_seq + 1);
  int status = -1;
  if (i < s->end) {
    *entry = s->entries[i];
    status = 0;
  }
  pthread_mutex_unlock(&s->lock);
  return status;
}

/* A set of dedup key hashes, for one scan of the index. */
typedef struct {
  uint64_t *slots; /* 0 = empty; hashes of 0 are stored as 1 */
  size_t mask;
} key_set_t;

static int key_set_init(key_set_t *set, size_t expected) {
  size_t size = 64;
  while (size < 2 * expected)
    size *= 2;
  set->slots = calloc(size, sizeof(*set->slots));
  set->mask = size - 1;
  return set->slots != NULL ? 0 : -1;
}

/* Adds key; returns true when it was there already. */
static bool key_set_add(key_set_t *set, uint64_t key) {
  if (key == 0)
    key = 1;
  for (size_t i = (size_t)key & set->mask;; i = (i + 1) & set->mask) {
    if (set->slots[i] == key)
      return true;
    if (set->slots[i] == 0) {
      set->slots[i] = key;
      return false;
    }
  }
}

int pd_spool_next_due(pd_spool_t *s, cdtime_t now, pd_spool_entry_t *entry,
                      cdtime_t *wake_at) {
  cdtime_t wake = 0;
  int status = -1;
  pthread_mutex_lock(&s->lock);
  if (index_size(s) > 0) {
    const pd_spool_entry_t *head = &s->entries[s->head];
    wake = head->next_attempt;
    if (head->next_attempt <= now) {
      *entry = *head; /* the usual case: no scan */
      status = 0;
    } else {
      /* The head waits (backoff): look past it, skipping every event whose
       * key already has an earlier one waiting. */
      key_set_t blocked;
      if (key_set_init(&blocked, index_size(s)) == 0) {
        key_set_add(&blocked, head->key_hash);
        for (size_t i = s->head + 1; i < s->end; i++) {
          const pd_spool_entry_t *e = &s->entries[i];
          if (key_set_add(&blocked, e->key_hash))
            continue;
          if (e->next_attempt <= now) {
            *entry = *e;
            status = 0;
            break;
          }
          if (e->next_attempt < wake)
            wake = e->next_attempt;
        }
        free(blocked.slots);
      }
    }
  }
  pthread_mutex_unlock(&s->lock);
  if (wake_at != NULL)
    *wake_at = status == 0 ? now : wake;
  return status;
}

ssize_t pd_spool_list(pd_spool_t *s, pd_spool_entry_t **entries) {
  *entries = NULL;
  pthread_mutex_lock(&s->lock);
  size_t num = index_size(s);
  if (num > 0) {
    *entries = malloc(num * sizeof(**entries));
    if (*entries == NULL) {
      pthread_mutex_unlock(&s->lock);
      return -1;
    }
    memcpy(*entries, s->entries + s->head, num * sizeof(**entries));
  }
  pthread_mutex_unlock(&s->lock);
  return (ssize_t)num;
}

static bool is_pending(pd_spool_t *s, uint64_t seq) {
  pthread_mutex_lock(&s->lock);
  bool pending = index_find(s, seq) >= 0;
  pthread_mutex_unlock(&s->lock);
  return pending;
}

int pd_spool_load(pd_spool_t *s, uint64_t seq, pd_event_t *ev) {
  pd_event_init(ev);
  if (!is_pending(s, seq))
    return PD_SPOOL_GONE;
  if (journal_waiting(s))
    journal_convert(s); /* the sender needs the file: now */

  /* Read without the lock: files are replaced by rename, never rewritten in
   * place, so a read sees a whole record; a dropped one reads as gone. */
  char path[PATH_MAX];
  record_path(s, seq, path, sizeof(path));
  char *data;
  size_t len;
  char reason[512];
  const char *why;
  int status =
      pd_spool_read_file(path, PD_EVENT_RECORD_MAX_BYTES, &data, &len, &why);
  if (status != 0 && errno == ENOENT)
    /* Still only in the journal (the disk refused its file): from there. */
    status = journal_copy(s, seq, &data, &len);
  if (status != 0) {
    if (errno == ENOENT || !is_pending(s, seq))
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
  tmp_path(s, ev->seq, ".u", tmp, sizeof(tmp));
  record_path(s, ev->seq, path, sizeof(path));
  int status = write_new_file(tmp, json, len, true);
  int saved = errno;
  free(json);

  pthread_mutex_lock(&s->lock);
  ssize_t i = index_find(s, ev->seq);
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
      spool_next != 0 ? spool_next : next_on_spool_clock(ev->next_attempt);
  s->entries[i].key_hash = pd_hash64(ev->dedup_key, strlen(ev->dedup_key));
  if (status == 0) {
    s->dir_dirty = true;
    note_write_ok(s);
  } else {
    note_write_failure(s, "update spool file", path, saved);
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
  ssize_t i = index_find(s, seq);
  if (i < 0) {
    pthread_mutex_unlock(&s->lock);
    return PD_SPOOL_GONE;
  }
  char path[PATH_MAX];
  record_path(s, seq, path, sizeof(path));
  if (unlink(path) != 0 && errno != ENOENT) {
    /* Delivered all the same: it leaves the queue (sending it again and
     * again would be a busy loop) and its file goes at a later sync. */
    note_write_failure(s, "remove", path, errno);
    add_stale(s, seq, NULL);
  }
  index_remove_at(s, (size_t)i);
  s->dir_dirty = true;
  pthread_mutex_unlock(&s->lock);
  return PD_SPOOL_OK;
}

int pd_spool_fail(pd_spool_t *s, uint64_t seq, const char *reason) {
  if (journal_waiting(s))
    journal_convert(s); /* its file is what goes to failed/ */
  pthread_mutex_lock(&s->lock);
  ssize_t i = index_find(s, seq);
  if (i < 0) {
    pthread_mutex_unlock(&s->lock);
    return PD_SPOOL_GONE;
  }
  char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 64];
  record_path(s, seq, path, sizeof(path));
  snprintf(base, sizeof(base), "%s-%0*" PRIu64 RECORD_SUFFIX, s->name,
           SEQ_DIGITS, seq);
  if (move_to_failed(s, path, base, reason, true) != 0)
    add_stale(s, seq, reason); /* moved at a later sync */
  index_remove_at(s, (size_t)i);
  pthread_mutex_unlock(&s->lock);
  return PD_SPOOL_OK;
}

int pd_spool_quarantine(pd_spool_t *s, const char *name, const char *reason) {
  char path[PATH_MAX], base[PD_SPOOL_NAME_MAX + 300];
  snprintf(path, sizeof(path), "%s/%s", s->dir, name);
  snprintf(base, sizeof(base), "%s-%s", s->name,
           name[0] == '.' ? name + 1 : name);
  pthread_mutex_lock(&s->lock);
  int status = move_to_failed(s, path, base, reason, false);
  pthread_mutex_unlock(&s->lock);
  return status;
}

void pd_spool_stats(pd_spool_t *s, pd_spool_stats_t *stats) {
  pthread_mutex_lock(&s->lock);
  stats->pending = index_size(s);
  /* The lowest seq was queued first: it is the oldest. */
  stats->oldest_created = stats->pending > 0 ? s->entries[s->head].created : 0;
  stats->dropped = s->dropped;
  stats->failed = s->failed;
  stats->enqueued = s->enqueued;
  pthread_mutex_unlock(&s->lock);
}

const char *pd_spool_path(const pd_spool_t *s) { return s->dir; }

size_t pd_spool_index_bytes(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  size_t bytes =
      s->cap * sizeof(*s->entries) + s->unsynced_cap * sizeof(*s->unsynced);
  pthread_mutex_unlock(&s->lock);
  return bytes;
}
