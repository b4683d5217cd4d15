/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_files.c - the spool's names and paths, the file and directory
 * primitives it writes with, its directories and lock, and moving files
 * to failed/.
 */

#include "pd_spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define REASON_SUFFIX ".reason"
#define NAME_KEEP_MAX 64

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

void spool_record_path(const pd_spool_t *s, uint64_t seq, char *buf,
                       size_t size) {
  snprintf(buf, size, "%s/%0*" PRIu64 RECORD_SUFFIX, s->dir, SEQ_DIGITS, seq);
}

void spool_tmp_path(const pd_spool_t *s, uint64_t seq, const char *suffix,
                    char *buf, size_t size) {
  snprintf(buf, size, "%s/" TMP_PREFIX "%0*" PRIu64 "%s", s->dir, SEQ_DIGITS,
           seq, suffix);
}

void spool_pre_path(const pd_spool_t *s, uint64_t id, char *buf, size_t size) {
  snprintf(buf, size, "%s/" PRE_PREFIX "%0*" PRIu64, s->dir, SEQ_DIGITS, id);
}

/* Parses "<20 digits>.json" into *seq. */
bool spool_parse_record_name(const char *name, uint64_t *seq) {
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

int spool_write_all(int fd, const char *data, size_t len) {
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
int spool_write_new_file(const char *path, const char *data, size_t len,
                         bool do_fsync) {
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
  int fd = open(path, flags, 0600);
  if (fd < 0 && errno == EEXIST) {
    unlink(path);
    fd = open(path, flags, 0600);
  }
  if (fd < 0)
    return -1;
  int status = spool_write_all(fd, data, len);
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

int spool_fsync_path(const char *path, bool directory) {
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

/*
 * Moves src_path to failed/<base> (made unique with ".1", ".2"... when
 * taken) and writes the reason beside it; an event (counted) adds to the
 * failed count. The caller holds the lock. A failure is reported through
 * spool_note_write_failure() (logged once while the disk refuses).
 */
int spool_move_to_failed(pd_spool_t *s, const char *src_path, const char *base,
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
    spool_note_write_failure(s, "move a file to", dst, errno);
    return -1;
  }
  chmod(dst, 0600);

  char reason_path[PATH_MAX + 16], text[1024];
  snprintf(reason_path, sizeof(reason_path), "%s" REASON_SUFFIX, dst);
  reason_line(reason, text, sizeof(text));
  if (spool_write_new_file(reason_path, text, strlen(text), false) != 0)
    PD_NOTIFY_WARNING(s->notify, "cannot write %s: %s", reason_path,
                      strerror(errno));
  if (counted)
    s->failed++;
  s->failed_dirty = true;
  s->dir_dirty = true;
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
int spool_open_dirs(pd_spool_t *s, char *why, size_t why_size) {
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
