/* SPDX-License-Identifier: MIT */
/*
 * test_spool.c - the durable queue on real files in a mkdtemp directory:
 * order, permissions, persistence, overflow, dead letters, crash leftovers,
 * concurrency, and the index's size at 100,000 events. Disk faults: a full
 * and a read-only tmpfs (mounted in a private mount namespace; skipped,
 * saying so, where that is not permitted), a SpoolDir deleted under the
 * spool, special files under record names.
 */
#define _GNU_SOURCE /* unshare() */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_stubs.h"
#include "pd_spool.h"

#define BLOCK "paging"
#define ROUTING_KEY "R0123456789abcdef0123456789abcdef"

static char root[64];       /* the mkdtemp directory = SpoolDir */
static char block_dir[256]; /* SpoolDir/paging */
static char failed_dir[256];

static void setup(void) {
  stub_log_reset();
  snprintf(root, sizeof(root), "/tmp/test_spool.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(block_dir, sizeof(block_dir), "%s/" BLOCK, root);
  snprintf(failed_dir, sizeof(failed_dir), "%s/failed", root);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

/* A small but complete event (what mapping would produce). */
static void make_event(pd_event_t *ev, const char *key) {
  pd_event_init(ev);
  ev->notify = strdup(BLOCK);
  ev->action = PD_ACTION_TRIGGER;
  ev->severity = NOTIF_FAILURE;
  ev->time = cdtime();
  snprintf(ev->dedup_key, sizeof(ev->dedup_key), "%s", key);
  snprintf(ev->summary, sizeof(ev->summary), "problem with %s", key);
  snprintf(ev->source, sizeof(ev->source), "web01");
  snprintf(ev->identifier, sizeof(ev->identifier), "web01/df/df-%s", key);
}

static uint64_t enqueue_key(pd_spool_t *spool, const char *key,
                            size_t *dropped) {
  pd_event_t ev;
  make_event(&ev, key);
  ck_assert_int_eq(pd_spool_enqueue(spool, &ev, dropped), 0);
  uint64_t seq = ev.seq;
  ck_assert_uint_gt(seq, 0);
  pd_event_free(&ev);
  return seq;
}

static void record_file(uint64_t seq, char *buf, size_t size) {
  snprintf(buf, size, "%s/%020llu.json", block_dir, (unsigned long long)seq);
}

static bool file_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  ck_assert_int_eq(lstat(path, &st), 0);
  return st.st_mode & 07777;
}

/* Names in dir other than "." and "..", counted. */
static size_t count_entries(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The size of the block's journal (-1: none). */
static off_t journal_size(void) {
  char path[512];
  struct stat st;
  snprintf(path, sizeof(path), "%s/.journal", block_dir);
  return lstat(path, &st) == 0 ? st.st_size : -1;
}

static void write_raw(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
  close(fd);
}

/* ------------------------------------------------------------- tests */

START_TEST(test_enqueue_list_remove_order) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  uint64_t seqs[5];
  const char *keys[5] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; i++) {
    seqs[i] = enqueue_key(spool, keys[i], NULL);
    if (i > 0)
      ck_assert_uint_gt(seqs[i], seqs[i - 1]);
    /* In the journal before enqueue returned. */
    ck_assert_int_gt(journal_size(), 0);
  }
  /* Record files once converted (pd_spool_sync, or the sender's load). */
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  for (int i = 0; i < 5; i++) {
    char path[512];
    record_file(seqs[i], path, sizeof(path));
    ck_assert(file_exists(path));
  }
  ck_assert_int_eq(journal_size(), 0); /* emptied once all are files */

  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 5);
  for (int i = 0; i < 5; i++) {
    ck_assert_uint_eq(entries[i].seq, seqs[i]);
    ck_assert_uint_eq(entries[i].key_hash, pd_hash64(keys[i], 1));
    ck_assert_uint_gt(entries[i].created, 0);
  }
  free(entries);

  pd_spool_entry_t e;
  ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
  ck_assert_uint_eq(e.seq, seqs[0]);
  ck_assert_int_eq(pd_spool_next(spool, seqs[2], &e), 0);
  ck_assert_uint_eq(e.seq, seqs[3]);
  ck_assert_int_eq(pd_spool_next(spool, seqs[4], &e), -1);

  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, seqs[2], &ev), PD_SPOOL_OK);
  ck_assert_uint_eq(ev.seq, seqs[2]);
  ck_assert_str_eq(ev.dedup_key, "c");
  ck_assert_str_eq(ev.summary, "problem with c");
  pd_event_free(&ev);

  /* Removing from the front and from the middle. */
  ck_assert_int_eq(pd_spool_remove(spool, seqs[0]), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_remove(spool, seqs[2]), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_remove(spool, seqs[2]), PD_SPOOL_GONE);
  ck_assert_int_eq(pd_spool_load(spool, seqs[2], &ev), PD_SPOOL_GONE);
  pd_event_free(&ev);
  ck_assert_int_eq(pd_spool_list(spool, &entries), 3);
  ck_assert_uint_eq(entries[0].seq, seqs[1]);
  ck_assert_uint_eq(entries[1].seq, seqs[3]);
  ck_assert_uint_eq(entries[2].seq, seqs[4]);
  free(entries);
  char path[512];
  record_file(seqs[0], path, sizeof(path));
  ck_assert(!file_exists(path));
  record_file(seqs[2], path, sizeof(path));
  ck_assert(!file_exists(path));

  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, 3);
  ck_assert_uint_eq(stats.enqueued, 5);
  ck_assert_uint_eq(stats.dropped, 0);
  ck_assert_uint_gt(stats.oldest_created, 0);
  ck_assert_int_eq(pd_spool_sync(spool), 0);

  /* Drain: the index empties, the directory holds only the lock file and
   * the (empty) journal. */
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
    ck_assert_int_eq(pd_spool_remove(spool, e.seq), PD_SPOOL_OK);
  }
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, 0);
  ck_assert_uint_eq(stats.oldest_created, 0);
  ck_assert_int_eq(pd_spool_list(spool, &entries), 0);
  ck_assert_ptr_null(entries);
  ck_assert_uint_eq(count_entries(block_dir), 2);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_permissions) {
  mode_t old = umask(0); /* the spool must not rely on collectd's umask */
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  uint64_t seq = enqueue_key(spool, "k", NULL);
  char path[512];
  snprintf(path, sizeof(path), "%s/.journal", block_dir);
  ck_assert_uint_eq(mode_of(path), 0600);
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  record_file(seq, path, sizeof(path));
  ck_assert_uint_eq(mode_of(path), 0600);
  ck_assert_uint_eq(mode_of(block_dir), 0700);
  ck_assert_uint_eq(mode_of(failed_dir), 0700);
  ck_assert_int_eq(pd_spool_fail(spool, seq, "bad"), PD_SPOOL_OK);
  snprintf(path, sizeof(path), "%s/" BLOCK "-%020llu.json", failed_dir,
           (unsigned long long)seq);
  ck_assert_uint_eq(mode_of(path), 0600);
  strcat(path, ".reason");
  ck_assert_uint_eq(mode_of(path), 0600);
  pd_spool_close(spool);

  /* Too open from outside: fixed at the next open, with a WARNING. */
  seq = 0;
  spool = pd_spool_open(root, BLOCK, 0);
  seq = enqueue_key(spool, "k2", NULL);
  pd_spool_close(spool);
  record_file(seq, path, sizeof(path));
  ck_assert_int_eq(chmod(path, 0644), 0);
  ck_assert_int_eq(chmod(block_dir, 0755), 0);
  ck_assert_int_eq(chmod(failed_dir, 0777), 0);
  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  ck_assert_uint_eq(mode_of(block_dir), 0700);
  ck_assert_uint_eq(mode_of(failed_dir), 0700);
  ck_assert_uint_eq(mode_of(path), 0600);
  ck_assert_msg(stub_log_contains(LOG_WARNING, "changed to 0700"), "%s",
                stub_log_dump());
  ck_assert(stub_log_contains(LOG_WARNING, "changed to 0600"));
  pd_spool_close(spool);
  umask(old);
}
END_TEST

START_TEST(test_spool_dir_created_and_nested) {
  char nested[256];
  snprintf(nested, sizeof(nested), "%s/var/lib/collectd/pagerduty", root);
  pd_spool_t *spool = pd_spool_open(nested, "web paging", 0);
  ck_assert_ptr_nonnull(spool);
  char name[PD_SPOOL_NAME_MAX + 1];
  pd_spool_dir_name("web paging", name, sizeof(name));
  char expect[512];
  snprintf(expect, sizeof(expect), "%s/%s", nested, name);
  ck_assert_str_eq(pd_spool_path(spool), expect);
  ck_assert_uint_eq(mode_of(expect), 0700);
  ck_assert_uint_eq(mode_of(nested), 0700);
  pd_spool_close(spool);

  /* A path that is a file, not a directory. */
  char file[256];
  snprintf(file, sizeof(file), "%s/plainfile", root);
  write_raw(file, "x", 1);
  stub_log_reset();
  ck_assert_ptr_null(pd_spool_open(file, BLOCK, 0));
  ck_assert_uint_ge(stub_log_count(LOG_ERR), 1);
}
END_TEST

START_TEST(test_dir_names) {
  char name[PD_SPOOL_NAME_MAX + 1];
  pd_spool_dir_name("web-paging_1.2", name, sizeof(name));
  ck_assert_str_eq(name, "web-paging_1.2");

  char a[PD_SPOOL_NAME_MAX + 1], b[PD_SPOOL_NAME_MAX + 1];
  pd_spool_dir_name("web paging", a, sizeof(a));
  pd_spool_dir_name("web_paging", b, sizeof(b));
  ck_assert_str_ne(a, b); /* no two names share a directory */
  ck_assert_int_eq(strncmp(a, "web_paging-", 11), 0);
  ck_assert_uint_eq(strlen(a), 11 + 8);

  pd_spool_dir_name("../../etc", name, sizeof(name));
  ck_assert_ptr_null(strchr(name, '/'));
  ck_assert_int_ne(name[0], '.');
  pd_spool_dir_name("failed", name, sizeof(name));
  ck_assert_str_ne(name, "failed");
  pd_spool_dir_name(".hidden", name, sizeof(name));
  ck_assert_int_ne(name[0], '.');
  pd_spool_dir_name("", name, sizeof(name));
  ck_assert_uint_gt(strlen(name), 0);

  char long_name[200];
  memset(long_name, 'n', 199);
  long_name[199] = '\0';
  pd_spool_dir_name(long_name, name, sizeof(name));
  ck_assert_uint_le(strlen(name), PD_SPOOL_NAME_MAX);
}
END_TEST

START_TEST(test_persistence_across_reopen) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  uint64_t s1 = enqueue_key(spool, "one", NULL);
  uint64_t s2 = enqueue_key(spool, "two", NULL);
  uint64_t s3 = enqueue_key(spool, "three", NULL);
  ck_assert_int_eq(pd_spool_remove(spool, s2), PD_SPOOL_OK);
  pd_spool_close(spool);

  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  ck_assert(stub_log_contains(LOG_INFO, "replaying 2 queued events"));
  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 2);
  ck_assert_uint_eq(entries[0].seq, s1);
  ck_assert_uint_eq(entries[1].seq, s3);
  free(entries);
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, s3, &ev), PD_SPOOL_OK);
  ck_assert_str_eq(ev.dedup_key, "three");
  pd_event_free(&ev);

  /* Numbers continue after the highest on disk. */
  uint64_t s4 = enqueue_key(spool, "four", NULL);
  ck_assert_uint_eq(s4, s3 + 1);

  /* A dead letter keeps its number taken, even with the queue empty. */
  ck_assert_int_eq(pd_spool_fail(spool, s4, "permanent"), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_remove(spool, s1), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_remove(spool, s3), PD_SPOOL_OK);
  pd_spool_close(spool);
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_uint_eq(enqueue_key(spool, "five", NULL), s4 + 1);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_update_in_place) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  uint64_t seq = enqueue_key(spool, "k", NULL);
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, seq, &ev), PD_SPOOL_OK);
  ev.attempts = 3;
  ev.step = 1;
  /* The record says when by the wall clock; the index keeps it on the
   * spool clock: 60 s from now (minus what this test took so far). */
  ev.next_attempt = cdtime() + TIME_T_TO_CDTIME_T(60);
  ck_assert_int_eq(pd_event_set_text(&ev.last_error, "HTTP 503"), 0);
  ck_assert_int_eq(pd_event_set_text(&ev.incident_id, "PXYZ"), 0);
  ck_assert_int_eq(pd_spool_update(spool, &ev), PD_SPOOL_OK);
  cdtime_t next = pd_spool_now() + TIME_T_TO_CDTIME_T(60);
  pd_event_free(&ev);

  /* The index follows, and the file holds the new state (also after a
   * reopen). No temporary file is left. */
  pd_spool_entry_t e;
  ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
  ck_assert_double_eq_tol(CDTIME_T_TO_DOUBLE(e.next_attempt),
                          CDTIME_T_TO_DOUBLE(next), 5);
  /* record + .lock + .journal */
  ck_assert_uint_eq(count_entries(block_dir), 3);
  pd_spool_close(spool);
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_int_eq(pd_spool_load(spool, seq, &ev), PD_SPOOL_OK);
  ck_assert_uint_eq(ev.attempts, 3);
  ck_assert_int_eq(ev.step, 1);
  ck_assert_str_eq(ev.last_error, "HTTP 503");
  ck_assert_str_eq(ev.incident_id, "PXYZ");
  ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
  ck_assert_double_eq_tol(CDTIME_T_TO_DOUBLE(e.next_attempt),
                          CDTIME_T_TO_DOUBLE(next), 5);

  /* Updating an event that is gone does not bring it back. */
  ck_assert_int_eq(pd_spool_remove(spool, seq), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_update(spool, &ev), PD_SPOOL_GONE);
  char path[512];
  record_file(seq, path, sizeof(path));
  ck_assert(!file_exists(path));
  ck_assert_uint_eq(count_entries(block_dir), 2); /* .lock, .journal */
  pd_event_free(&ev);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_next_due_keeps_key_order) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  pd_spool_entry_t e;
  cdtime_t wake = 42;
  cdtime_t now = pd_spool_now(), wall = cdtime();
  ck_assert_int_eq(pd_spool_next_due(spool, now, &e, &wake), -1);
  ck_assert_uint_eq(wake, 0); /* empty */

  uint64_t a1 = enqueue_key(spool, "a", NULL);
  uint64_t b1 = enqueue_key(spool, "b", NULL);
  uint64_t a2 = enqueue_key(spool, "a", NULL);
  uint64_t c1 = enqueue_key(spool, "c", NULL);
  ck_assert_int_eq(pd_spool_next_due(spool, now, &e, &wake), 0);
  ck_assert_uint_eq(e.seq, a1);

  /* a1 backs off for a minute: b1 may go, a2 must wait behind a1. */
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, a1, &ev), PD_SPOOL_OK);
  ev.next_attempt = wall + TIME_T_TO_CDTIME_T(60);
  ck_assert_int_eq(pd_spool_update(spool, &ev), PD_SPOOL_OK);
  pd_event_free(&ev);
  ck_assert_int_eq(pd_spool_next_due(spool, now, &e, &wake), 0);
  ck_assert_uint_eq(e.seq, b1);
  ck_assert_int_eq(pd_spool_remove(spool, b1), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_next_due(spool, now, &e, &wake), 0);
  ck_assert_uint_eq(e.seq, c1); /* not a2 */
  ck_assert_int_eq(pd_spool_load(spool, c1, &ev), PD_SPOOL_OK);
  ev.next_attempt = wall + TIME_T_TO_CDTIME_T(30);
  ck_assert_int_eq(pd_spool_update(spool, &ev), PD_SPOOL_OK);
  pd_event_free(&ev);

  /* Nothing due: wake up when c1 is (the earliest of the key heads). */
  ck_assert_int_eq(pd_spool_next_due(spool, now, &e, &wake), -1);
  ck_assert_double_eq_tol(CDTIME_T_TO_DOUBLE(wake),
                          CDTIME_T_TO_DOUBLE(now) + 30, 5);
  /* A minute later a1 is due again, still before a2. */
  ck_assert_int_eq(
      pd_spool_next_due(spool, now + TIME_T_TO_CDTIME_T(61), &e, &wake), 0);
  ck_assert_uint_eq(e.seq, a1);
  ck_assert_int_eq(pd_spool_remove(spool, a1), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_next_due(spool, now, &e, &wake), 0);
  ck_assert_uint_eq(e.seq, a2);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_overflow_drops_oldest) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 3);
  uint64_t seqs[5];
  size_t dropped;
  size_t expect_dropped[5] = {0, 0, 0, 1, 1};
  char key[8];
  for (int i = 0; i < 5; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    seqs[i] = enqueue_key(spool, key, &dropped);
    ck_assert_uint_eq(dropped, expect_dropped[i]);
  }
  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 3);
  for (int i = 0; i < 3; i++)
    ck_assert_uint_eq(entries[i].seq, seqs[i + 2]);
  free(entries);
  char path[512];
  record_file(seqs[0], path, sizeof(path));
  ck_assert(!file_exists(path));
  record_file(seqs[1], path, sizeof(path));
  ck_assert(!file_exists(path));
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.dropped, 2);
  ck_assert_uint_eq(stats.pending, 3);

  /* The dropped one is gone for the sender too. */
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, seqs[0], &ev), PD_SPOOL_GONE);
  pd_event_free(&ev);
  pd_spool_close(spool);

  /* A smaller MaxSpoolEvents at the next start drops the oldest then. */
  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 2);
  ck_assert_int_eq(pd_spool_list(spool, &entries), 2);
  ck_assert_uint_eq(entries[0].seq, seqs[3]);
  free(entries);
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.dropped, 1);
  ck_assert_msg(stub_log_contains(LOG_WARNING, "dropped the 1 oldest"), "%s",
                stub_log_dump());
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_move_to_failed) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  uint64_t keep = enqueue_key(spool, "keep", NULL);
  uint64_t bad = enqueue_key(spool, "bad", NULL);
  ck_assert_int_eq(
      pd_spool_fail(spool, bad, "HTTP 400: Event object is invalid\n'payload'"),
      PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_fail(spool, bad, "again"), PD_SPOOL_GONE);

  char path[512];
  snprintf(path, sizeof(path), "%s/" BLOCK "-%020llu.json", failed_dir,
           (unsigned long long)bad);
  ck_assert(file_exists(path));
  ck_assert_ptr_nonnull(strstr(slurp(path), "\"dedup_key\":\"bad\""));
  strcat(path, ".reason");
  ck_assert_str_eq(slurp(path),
                   "HTTP 400: Event object is invalid 'payload'\n");
  record_file(bad, path, sizeof(path));
  ck_assert(!file_exists(path));

  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 1);
  ck_assert_uint_eq(entries[0].seq, keep);
  free(entries);
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.failed, 1);
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_crash_leftovers) {
  /* A valid record to copy from. */
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  uint64_t good = enqueue_key(spool, "good", NULL);
  pd_spool_close(spool);
  char good_path[512];
  record_file(good, good_path, sizeof(good_path));
  char record[4096];
  snprintf(record, sizeof(record), "%s", slurp(good_path));
  size_t record_len = strlen(record);

  /* What a crash can leave: a temporary file, a half-written record (a
   * power loss before the data reached the disk), an empty one; plus a
   * file the spool does not own. */
  char path[512];
  snprintf(path, sizeof(path), "%s/.tmp-00000000000000000009", block_dir);
  write_raw(path, record, record_len / 2);
  record_file(7, path, sizeof(path));
  write_raw(path, record, record_len / 2);
  record_file(8, path, sizeof(path));
  write_raw(path, "", 0);
  snprintf(path, sizeof(path), "%s/README", block_dir);
  write_raw(path, "mine", 4);

  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 1);
  ck_assert_uint_eq(entries[0].seq, good);
  free(entries);

  snprintf(path, sizeof(path), "%s/" BLOCK "-00000000000000000007.json.reason",
           failed_dir);
  ck_assert_ptr_nonnull(strstr(slurp(path), "corrupt record"));
  snprintf(path, sizeof(path), "%s/" BLOCK "-00000000000000000008.json",
           failed_dir);
  ck_assert(file_exists(path));
  /* A temporary file is an interrupted conversion or update: its event
   * is in its record file (or the journal) - removed. */
  snprintf(path, sizeof(path), "%s/.tmp-00000000000000000009", block_dir);
  ck_assert(!file_exists(path));
  ck_assert(stub_log_contains(LOG_INFO, "interrupted write"));
  snprintf(path, sizeof(path), "%s/README", block_dir);
  ck_assert(file_exists(path)); /* not ours: left alone */
  ck_assert(stub_log_contains(LOG_WARNING, "unexpected file"));
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.failed, 2);

  /* Numbers go on after the dead letters. */
  ck_assert_uint_eq(enqueue_key(spool, "next", NULL), 9);

  /* A record that goes bad while queued is moved aside when loaded. */
  write_raw(good_path, "{\"v\":1,", 7);
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, good, &ev), PD_SPOOL_ERROR);
  pd_event_free(&ev);
  ck_assert_int_eq(pd_spool_list(spool, &entries), 1);
  ck_assert_uint_eq(entries[0].seq, 9);
  free(entries);
  snprintf(path, sizeof(path), "%s/" BLOCK "-%020llu.json.reason", failed_dir,
           (unsigned long long)good);
  ck_assert_ptr_nonnull(strstr(slurp(path), "corrupt record"));
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_second_open_refused) {
  pd_spool_t *a = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(a);
  stub_log_reset();
  ck_assert_ptr_null(pd_spool_open(root, BLOCK, 0));
  ck_assert(stub_log_contains(LOG_ERR, "in use by another process"));
  /* Another block beside it is fine. */
  pd_spool_t *b = pd_spool_open(root, "other", 0);
  ck_assert_ptr_nonnull(b);
  pd_spool_close(b);
  pd_spool_close(a);
  a = pd_spool_open(root, BLOCK, 0); /* released on close */
  ck_assert_ptr_nonnull(a);
  pd_spool_close(a);
}
END_TEST

/* ------------------------------------------------------- disk faults */

/*
 * A tmpfs of `size` mounted at root in a private mount namespace of this
 * (forked) test, so nothing outside sees it and it goes when the test
 * does. false when mounting is not permitted (not root, or a container
 * without CAP_SYS_ADMIN): the caller skips, saying so.
 */
static bool mount_tmpfs(const char *size) {
  if (unshare(CLONE_NEWNS) != 0 ||
      mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
    fprintf(stderr,
            "SKIP: no private mount namespace (%s); disk fault "
            "case not run\n",
            strerror(errno));
    return false;
  }
  char opts[64];
  snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
  if (mount("tmpfs", root, "tmpfs", 0, opts) != 0) {
    fprintf(stderr,
            "SKIP: cannot mount a tmpfs (%s); disk fault case not "
            "run\n",
            strerror(errno));
    return false;
  }
  return true;
}

static void remount(bool read_only) {
  ck_assert_int_eq(mount("tmpfs", root, "tmpfs",
                         MS_REMOUNT | (read_only ? MS_RDONLY : 0), NULL),
                   0);
}

/* Remounts root read-only, syncing spool meanwhile, until the remount
 * works (bounded: 30 s). */
static bool remount_read_only_while_syncing(pd_spool_t *spool) {
  for (int i = 0; i < 3000; i++) {
    pd_spool_sync(spool);
    if (mount("tmpfs", root, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) == 0)
      return true;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return false;
}

static void unmount_tmpfs(void) {
  ck_assert_int_eq(umount2(root, MNT_DETACH), 0);
}

/* Fills the file system of root with one file; returns its path. */
static const char *fill_disk(void) {
  static char path[512];
  snprintf(path, sizeof(path), "%s/filler", root);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  char block[4096];
  memset(block, 'x', sizeof(block));
  while (write(fd, block, sizeof(block)) > 0)
    ;
  ck_assert_int_eq(errno, ENOSPC);
  close(fd);
  return path;
}

static int try_enqueue(pd_spool_t *spool, const char *key) {
  pd_event_t ev;
  make_event(&ev, key);
  int status = pd_spool_enqueue(spool, &ev, NULL);
  pd_event_free(&ev);
  return status;
}

static uint64_t dropped_of(pd_spool_t *spool) {
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  return stats.dropped;
}

START_TEST(test_disk_full) {
  if (!mount_tmpfs("256k"))
    return;
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  uint64_t waiting = enqueue_key(spool, "waiting", NULL);
  /* Its file made and the journal emptied: then nothing is left in which
   * an event could still find room. */
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  ck_assert_int_eq(journal_size(), 0);
  const char *filler = fill_disk();

  /* Full: each event is refused at once, counted; logged once. */
  stub_log_reset();
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(try_enqueue(spool, "lost"), -1);
  ck_assert_uint_eq(dropped_of(spool), 5);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "derive-dropped"));
  /* .lock, the record, the journal: no temporary left */
  ck_assert_uint_eq(count_entries(block_dir), 3);

  /* An update that cannot be written still reschedules the event. */
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, waiting, &ev), PD_SPOOL_OK);
  ev.next_attempt = cdtime() + TIME_T_TO_CDTIME_T(60);
  ck_assert_int_eq(pd_spool_update(spool, &ev), PD_SPOOL_ERROR);
  pd_event_free(&ev);
  pd_spool_entry_t e;
  cdtime_t wake;
  ck_assert_int_eq(pd_spool_next_due(spool, pd_spool_now(), &e, &wake), -1);
  ck_assert_uint_gt(wake, pd_spool_now() + TIME_T_TO_CDTIME_T(50));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);

  /* Space again: events are stored, and that is said once. Several in a
   * row are taken before any conversion has run (a conversion, not the
   * first append that fits, proves the disk takes files again; until
   * then nothing may be refused for it). */
  ck_assert_int_eq(unlink(filler), 0);
  uint64_t next = enqueue_key(spool, "back", NULL);
  ck_assert_uint_gt(next, waiting);
  ck_assert_uint_gt(enqueue_key(spool, "back-2", NULL), next);
  ck_assert_uint_eq(dropped_of(spool), 5);
  ck_assert_int_eq(pd_spool_sync(spool), 0); /* its file is made */
  ck_assert_msg(stub_log_contains(LOG_INFO, "5 events could not be stored"),
                "%s", stub_log_dump());
  ck_assert_uint_eq(dropped_of(spool), 5);
  pd_spool_close(spool);
  unmount_tmpfs();
}
END_TEST

/* The disk full while the journal's last page still has room: an event
 * fits into the journal, but its file cannot be made. From that
 * conversion on, new events are refused (they too would only fit by
 * chance) until a conversion works again; the event in the journal is
 * kept and made a file then. */
START_TEST(test_disk_full_journal_has_room) {
  if (!mount_tmpfs("256k"))
    return;
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  uint64_t first = enqueue_key(spool, "first", NULL); /* journal: 1 page */
  const char *filler = fill_disk();
  uint64_t fits = enqueue_key(spool, "fits", NULL); /* same page */
  ck_assert_uint_gt(fits, first);

  stub_log_reset();
  pd_spool_sync(spool); /* cannot make their files */
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert_int_eq(try_enqueue(spool, "refused"), -1);
  ck_assert_uint_eq(dropped_of(spool), 1);
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, 2);

  ck_assert_int_eq(unlink(filler), 0);
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  ck_assert_msg(stub_log_contains(LOG_INFO, "1 events could not be stored"),
                "%s", stub_log_dump());
  char path[512];
  record_file(fits, path, sizeof(path));
  ck_assert(file_exists(path));
  ck_assert_uint_gt(enqueue_key(spool, "back", NULL), fits);
  pd_spool_close(spool);
  unmount_tmpfs();
}
END_TEST

START_TEST(test_read_only) {
  if (!mount_tmpfs("1m"))
    return;
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  uint64_t done = enqueue_key(spool, "done", NULL);
  uint64_t bad = enqueue_key(spool, "bad", NULL);
  /* A file open for writing stops a remount (EBUSY): the journal is
   * closed by a sync a second after the last event. */
  ck_assert_msg(remount_read_only_while_syncing(spool), "remount refused");

  stub_log_reset();
  ck_assert_int_eq(try_enqueue(spool, "lost"), -1);
  ck_assert_int_eq(try_enqueue(spool, "lost"), -1);
  ck_assert_uint_eq(dropped_of(spool), 2);
  /* A delivered event and a dead letter leave the queue although their
   * files cannot leave the disk yet. */
  ck_assert_int_eq(pd_spool_remove(spool, done), PD_SPOOL_OK);
  ck_assert_int_eq(pd_spool_fail(spool, bad, "HTTP 400: invalid"), PD_SPOOL_OK);
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, 0);
  pd_spool_sync(spool);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);

  /* A block whose directory is not there yet still opens (collectd runs
   * on), counting what it cannot store. */
  pd_spool_t *other = pd_spool_open(root, "other", 0);
  ck_assert_ptr_nonnull(other);
  ck_assert_int_eq(try_enqueue(other, "lost"), -1);
  ck_assert_uint_eq(dropped_of(other), 1);

  /* Writable again: the stale files go at the next sync, both spools
   * store events again. */
  remount(false);
  pd_spool_sync(spool);
  char path[512];
  record_file(done, path, sizeof(path));
  ck_assert(!file_exists(path));
  snprintf(path, sizeof(path), "%s/" BLOCK "-%020llu.json.reason", failed_dir,
           (unsigned long long)bad);
  ck_assert_ptr_nonnull(strstr(slurp(path), "HTTP 400"));
  ck_assert_uint_gt(enqueue_key(spool, "back", NULL), bad);
  ck_assert_uint_gt(enqueue_key(other, "back", NULL), 0);
  ck_assert(stub_log_contains(LOG_INFO, "can be written again"));
  pd_spool_close(other);
  pd_spool_close(spool);
  unmount_tmpfs();
}
END_TEST

START_TEST(test_spool_dir_deleted) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  enqueue_key(spool, "a", NULL);
  uint64_t last = enqueue_key(spool, "b", NULL);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);

  /* The next event makes the directories again; what was queued in them
   * is lost, and counted. Numbers go on. */
  stub_log_reset();
  ck_assert_uint_gt(enqueue_key(spool, "c", NULL), last);
  ck_assert_uint_eq(dropped_of(spool), 2);
  ck_assert(stub_log_contains(LOG_WARNING, "had disappeared"));
  ck_assert_uint_eq(mode_of(block_dir), 0700);
  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 1);
  free(entries);

  /* Deleted again while nothing is enqueued: the sync brings it back, and
   * a dead letter still finds failed/. */
  ck_assert_int_eq(system(cmd), 0);
  pd_spool_sync(spool);
  ck_assert(file_exists(block_dir));
  uint64_t seq = enqueue_key(spool, "d", NULL);
  ck_assert_int_eq(pd_spool_fail(spool, seq, "HTTP 400"), PD_SPOOL_OK);
  char path[512];
  snprintf(path, sizeof(path), "%s/" BLOCK "-%020llu.json", failed_dir,
           (unsigned long long)seq);
  ck_assert(file_exists(path));
  pd_spool_close(spool);
}
END_TEST

/* Prepared files (.pre-<id>) in the block directory. */
static size_t count_prepared(void) {
  DIR *d = opendir(block_dir);
  ck_assert_ptr_nonnull(d);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strncmp(de->d_name, ".pre-", 5) == 0)
      n++;
  closedir(d);
  return n;
}

/* Waits (bounded: 30 s) until count_prepared() is want. */
/* Waits until at least `least` prepared files exist (bounded). */
static bool wait_prepared(size_t least) {
  for (int i = 0; i < 3000; i++) {
    if (count_prepared() >= least)
      return true;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return false;
}

START_TEST(test_prepared_files) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_uint_eq(count_prepared(), 0); /* only once asked for */
  pd_spool_prepare(spool);
  ck_assert_uint_eq(count_prepared(), 128);
  char first[512];
  snprintf(first, sizeof(first), "%s/.pre-%020d", block_dir, 0);
  struct stat pre;
  ck_assert_int_eq(lstat(first, &pre), 0);
  ck_assert_int_eq(pre.st_size, 0);
  ck_assert_uint_eq(pre.st_mode & 07777, 0600);

  /* The conversion from the journal writes the event into the prepared
   * file and renames it into place. */
  uint64_t seq = enqueue_key(spool, "a", NULL);
  ck_assert_uint_eq(count_prepared(), 128); /* the callback uses none */
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  char path[512];
  record_file(seq, path, sizeof(path));
  struct stat rec;
  ck_assert_int_eq(lstat(path, &rec), 0);
  ck_assert_uint_eq(rec.st_ino, pre.st_ino);
  ck_assert_uint_eq(rec.st_mode & 07777, 0600);
  ck_assert(!file_exists(first));
  ck_assert_uint_eq(count_prepared(), 127);
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, seq, &ev), PD_SPOOL_OK);
  ck_assert_str_eq(ev.dedup_key, "a");
  pd_event_free(&ev);
  /* More than half left: nothing to make. */
  pd_spool_prepare(spool);
  ck_assert_uint_eq(count_prepared(), 127);

  /* Close removes the unused ones; the event stays. */
  pd_spool_close(spool);
  ck_assert_uint_eq(count_prepared(), 0);
  ck_assert(file_exists(path));

  /* A crash leaves prepared files: empty ones go without a word; one with
   * data is a conversion that was interrupted - its event is still in the
   * journal, so it goes too (INFO). */
  char leftover[512];
  snprintf(leftover, sizeof(leftover), "%s/.pre-%020d", block_dir, 5);
  write_raw(leftover, "", 0);
  snprintf(leftover, sizeof(leftover), "%s/.pre-%020d", block_dir, 6);
  write_raw(leftover, "{\"v\":1,", 7);
  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  ck_assert_uint_eq(count_prepared(), 0);
  ck_assert(!stub_log_contains(-1, "unexpected file"));
  ck_assert(stub_log_contains(LOG_INFO, "interrupted write"));
  ck_assert_uint_eq(count_entries(failed_dir), 0);
  pd_spool_entry_t *entries;
  ck_assert_int_eq(pd_spool_list(spool, &entries), 1);
  free(entries);

  /* SpoolDir deleted with files prepared: the next event still gets in
   * (into a directory made again), and new ones are prepared there. */
  pd_spool_prepare(spool);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
  uint64_t after = enqueue_key(spool, "b", NULL);
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  record_file(after, path, sizeof(path));
  ck_assert(file_exists(path));
  ck_assert_uint_eq(dropped_of(spool), 1);
  pd_spool_prepare(spool);
  ck_assert_uint_eq(count_prepared(), 128);
  seq = enqueue_key(spool, "c", NULL);
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  ck_assert_uint_eq(count_prepared(), 127);

  /* The preparing thread converts the journal once JOURNAL_BATCH (64)
   * events wait, makes more files once half are used, and stops. */
  ck_assert_int_eq(pd_spool_start_preparing(spool), 0);
  for (int i = 0; i < 70; i++)
    enqueue_key(spool, "d", NULL);
  /* 127 - 70 = 57 left had it made none; it refills towards 128 while the
   * burst goes on, so how many it ends at depends on the race: at least the
   * low mark (64), and no more than 128. */
  ck_assert_msg(wait_prepared(64), "%zu prepared", count_prepared());
  ck_assert_uint_le(count_prepared(), 128);
  pd_spool_stop_preparing(spool);
  pd_spool_close(spool);
  ck_assert_uint_eq(count_prepared(), 0);
}
END_TEST

START_TEST(test_special_files) {
  /* Under record names: a FIFO (must not hang the open), a directory, a
   * symbolic link. Each goes to failed/ with its reason. */
  ck_assert_int_eq(mkdir(block_dir, 0700), 0);
  char path[512], target[512];
  record_file(5, path, sizeof(path));
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  record_file(6, path, sizeof(path));
  ck_assert_int_eq(mkdir(path, 0700), 0);
  snprintf(target, sizeof(target), "%s/elsewhere", root);
  write_raw(target, "{}", 2);
  record_file(7, path, sizeof(path));
  ck_assert_int_eq(symlink(target, path), 0);

  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, 0);
  ck_assert_uint_eq(stats.failed, 3);
  const char *why[] = {"not a regular file", "not a regular file",
                       "symbolic link"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s/" BLOCK "-%020d.json.reason", failed_dir,
             5 + i);
    ck_assert_msg(strstr(slurp(path), why[i]) != NULL, "%s", slurp(path));
  }
  ck_assert_uint_eq(enqueue_key(spool, "next", NULL), 8);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_overflow_logged_per_state) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 10);
  stub_log_reset();
  for (int i = 0; i < 30; i++)
    enqueue_key(spool, "k", NULL);
  ck_assert_uint_eq(dropped_of(spool), 20);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(stub_log_contains(LOG_WARNING, "MaxSpoolEvents 10"));

  /* Hovering at the limit (one out, one in) logs nothing more; with room
   * below 90 % it says so once. */
  pd_spool_entry_t e;
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
    ck_assert_int_eq(pd_spool_remove(spool, e.seq), PD_SPOOL_OK);
    enqueue_key(spool, "k", NULL);
  }
  ck_assert_uint_eq(stub_log_count(LOG_INFO), 0);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
    ck_assert_int_eq(pd_spool_remove(spool, e.seq), PD_SPOOL_OK);
  }
  pd_spool_sync(spool);
  ck_assert_uint_eq(stub_log_count(LOG_INFO), 1);
  ck_assert(stub_log_contains(LOG_INFO, "20 oldest events were dropped"));
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_no_secrets_in_files) {
  /* Map a notification through a block that has a routing key: the spool
   * file and the dead letter must not contain it. */
  pd_notify_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.name = BLOCK;
  cfg.severities = PD_SEVERITY_ALL;
  cfg.resolve_on_okay = true;
  cfg.routing_key = ROUTING_KEY;
  notification_t n;
  memset(&n, 0, sizeof(n));
  n.severity = NOTIF_FAILURE;
  snprintf(n.host, sizeof(n.host), "web01");
  snprintf(n.plugin, sizeof(n.plugin), "df");
  snprintf(n.type, sizeof(n.type), "percent_bytes");
  snprintf(n.message, sizeof(n.message), "disk full");

  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(pd_spool_enqueue(spool, &ev, NULL), 0);
  uint64_t seq = ev.seq;
  pd_event_free(&ev);
  char path[512];
  snprintf(path, sizeof(path), "%s/.journal", block_dir);
  ck_assert_ptr_null(strstr(slurp(path), ROUTING_KEY));
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  record_file(seq, path, sizeof(path));
  const char *text = slurp(path);
  ck_assert_ptr_nonnull(strstr(text, "\"notify\":\"" BLOCK "\""));
  ck_assert_ptr_null(strstr(text, ROUTING_KEY));
  ck_assert_int_eq(pd_spool_fail(spool, seq, "HTTP 400"), PD_SPOOL_OK);
  pd_spool_close(spool);

  char cmd[256];
  snprintf(cmd, sizeof(cmd), "grep -rq '%s' '%s'", ROUTING_KEY, root);
  ck_assert_int_ne(system(cmd), 0); /* grep found nothing */
}
END_TEST

/* ---- the journal: what the callback wrote survives kill -9 */

/* In a child: opens the spool, runs what(spool), and dies by SIGKILL
 * without closing anything (no conversion, no sync: what a crash of
 * collectd leaves). */
static void crash_after(void (*what)(pd_spool_t *)) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
    if (spool == NULL)
      _exit(1);
    what(spool);
    kill(getpid(), SIGKILL);
    _exit(2);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                "child status %d", status);
}

static void three_events(pd_spool_t *spool) {
  enqueue_key(spool, "one", NULL);
  enqueue_key(spool, "two", NULL);
  enqueue_key(spool, "three", NULL);
}

/* The keys of the pending events, in order, comma-separated. */
static const char *pending_keys(pd_spool_t *spool) {
  static char keys[512];
  keys[0] = '\0';
  pd_spool_entry_t *entries;
  ssize_t num = pd_spool_list(spool, &entries);
  for (ssize_t i = 0; i < num; i++) {
    pd_event_t ev;
    ck_assert_int_eq(pd_spool_load(spool, entries[i].seq, &ev), PD_SPOOL_OK);
    if (i > 0)
      strcat(keys, ",");
    strcat(keys, ev.dedup_key);
    pd_event_free(&ev);
  }
  free(entries);
  return keys;
}

START_TEST(test_journal_survives_kill9) {
  crash_after(three_events);
  /* Only in the journal: no record file was made before the kill. */
  ck_assert_int_gt(journal_size(), 0);
  char path[512];
  record_file(1, path, sizeof(path));
  ck_assert(!file_exists(path));

  stub_log_reset();
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  ck_assert(stub_log_contains(LOG_INFO, "recovered 3 events"));
  ck_assert(!stub_log_contains(LOG_WARNING, "torn"));
  ck_assert(file_exists(path));
  ck_assert_int_eq(journal_size(), 0); /* emptied once they are files */
  ck_assert_str_eq(pending_keys(spool), "one,two,three");
  /* Numbers go on above them. */
  ck_assert_uint_eq(enqueue_key(spool, "four", NULL), 4);
  pd_spool_close(spool);

  /* Opening again recovers nothing twice. */
  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert(!stub_log_contains(LOG_INFO, "recovered"));
  ck_assert_str_eq(pending_keys(spool), "one,two,three,four");
  pd_spool_close(spool);
}
END_TEST

START_TEST(test_journal_torn_record) {
  crash_after(three_events);
  /* A callback killed in the middle of its write (it never returned):
   * the start of a fourth frame, cut short. */
  char path[512];
  snprintf(path, sizeof(path), "%s/.journal", block_dir);
  off_t size = journal_size();
  char frame[64];
  int fd = open(path, O_RDONLY);
  ck_assert_int_eq(pread(fd, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
  close(fd);
  fd = open(path, O_WRONLY | O_APPEND);
  ck_assert_int_eq(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
  close(fd);
  ck_assert_int_eq(journal_size(), size + (off_t)sizeof(frame));

  stub_log_reset();
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert_ptr_nonnull(spool);
  ck_assert_msg(stub_log_contains(LOG_WARNING, "torn record (64 bytes"), "%s",
                stub_log_dump());
  ck_assert(stub_log_contains(LOG_INFO, "recovered 3 events"));
  ck_assert_str_eq(pending_keys(spool), "one,two,three");
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.failed, 0);
  pd_spool_close(spool);

  /* Damage in the middle (a bad sector, say) loses only that frame. */
  crash_after(three_events);
  fd = open(path, O_WRONLY);
  ck_assert_int_eq(pwrite(fd, "XXXX", 4, 0), 4); /* the first frame's magic */
  close(fd);
  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert(stub_log_contains(LOG_WARNING, "damaged bytes skipped"));
  ck_assert(stub_log_contains(LOG_INFO, "recovered 2 events"));
  ck_assert_str_eq(pending_keys(spool), "one,two,three,two,three");
  pd_spool_close(spool);
}
END_TEST

/* Converted (the sender loaded them), the first delivered and removed,
 * one more enqueued, then killed. */
static void convert_deliver_enqueue(pd_spool_t *spool) {
  three_events(spool);
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, 1, &ev), PD_SPOOL_OK);
  pd_event_free(&ev);
  ck_assert_int_eq(pd_spool_remove(spool, 1), PD_SPOOL_OK);
  enqueue_key(spool, "four", NULL);
}

/* Converted (the sender loaded the first), then killed. */
static void convert_only(pd_spool_t *spool) {
  three_events(spool);
  pd_event_t ev;
  ck_assert_int_eq(pd_spool_load(spool, 1, &ev), PD_SPOOL_OK);
  pd_event_free(&ev);
}

START_TEST(test_journal_recovery_idempotent) {
  /* The journal still holds the converted events when collectd dies: the
   * "done" frame keeps the delivered one from coming back. */
  crash_after(convert_deliver_enqueue);
  ck_assert_int_gt(journal_size(), 0);
  stub_log_reset();
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  ck_assert(stub_log_contains(LOG_INFO, "recovered 1 events"));
  ck_assert_str_eq(pending_keys(spool), "two,three,four");
  pd_spool_close(spool);

  /* Killed after a conversion renamed its files into place but before its
   * "done" frame: the files are there, and none is made twice. */
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", root);
  ck_assert_int_eq(system(cmd), 0);
  crash_after(convert_only);
  char path[512];
  snprintf(path, sizeof(path), "%s/.journal", block_dir);
  off_t size = journal_size();
  ck_assert_int_eq(truncate(path, size - 40), 0); /* the "done" frame */
  stub_log_reset();
  spool = pd_spool_open(root, BLOCK, 0);
  ck_assert(!stub_log_contains(LOG_INFO, "recovered"));
  ck_assert_str_eq(pending_keys(spool), "one,two,three");
  pd_spool_close(spool);
}
END_TEST

/* ---- concurrency: 4 producers, 1 consumer removing as they go */

#define PRODUCERS 4
#define PER_PRODUCER 1500

typedef struct {
  pd_spool_t *spool;
  int id;
} producer_t;

static void *produce(void *arg) {
  producer_t *p = arg;
  for (int i = 0; i < PER_PRODUCER; i++) {
    pd_event_t ev;
    char key[32];
    snprintf(key, sizeof(key), "%d-%d", p->id, i);
    make_event(&ev, key);
    if (pd_spool_enqueue(p->spool, &ev, NULL) != 0)
      abort();
    pd_event_free(&ev);
  }
  return NULL;
}

typedef struct {
  pd_spool_t *spool;
  volatile int producers_done;
  unsigned char seen[PRODUCERS][PER_PRODUCER];
  size_t duplicates, out_of_order, foreign;
} consumer_t;

static void *consume(void *arg) {
  consumer_t *c = arg;
  uint64_t last = 0;
  for (unsigned round = 0;; round++) {
    pd_spool_entry_t e;
    if (pd_spool_next(c->spool, 0, &e) != 0) {
      if (__atomic_load_n(&c->producers_done, __ATOMIC_SEQ_CST))
        break;
      sched_yield();
      continue;
    }
    if (e.seq <= last)
      c->out_of_order++;
    last = e.seq;
    pd_event_t ev;
    if (pd_spool_load(c->spool, e.seq, &ev) == PD_SPOOL_OK) {
      int id, i;
      if (sscanf(ev.dedup_key, "%d-%d", &id, &i) != 2 || id < 0 ||
          id >= PRODUCERS || i < 0 || i >= PER_PRODUCER)
        c->foreign++;
      else if (c->seen[id][i]++)
        c->duplicates++;
    }
    pd_event_free(&ev);
    pd_spool_remove(c->spool, e.seq);
    if (round % 500 == 0)
      pd_spool_sync(c->spool);
  }
  return NULL;
}

START_TEST(test_concurrent_producers_and_consumer) {
  pd_spool_t *spool = pd_spool_open(root, BLOCK, 0);
  consumer_t *c = calloc(1, sizeof(*c));
  c->spool = spool;
  pthread_t consumer, producers[PRODUCERS];
  producer_t args[PRODUCERS];
  ck_assert_int_eq(pthread_create(&consumer, NULL, consume, c), 0);
  for (int i = 0; i < PRODUCERS; i++) {
    args[i] = (producer_t){.spool = spool, .id = i};
    ck_assert_int_eq(pthread_create(&producers[i], NULL, produce, &args[i]), 0);
  }
  for (int i = 0; i < PRODUCERS; i++)
    pthread_join(producers[i], NULL);
  __atomic_store_n(&c->producers_done, 1, __ATOMIC_SEQ_CST);
  pthread_join(consumer, NULL);

  ck_assert_uint_eq(c->duplicates, 0);
  ck_assert_uint_eq(c->out_of_order, 0);
  ck_assert_uint_eq(c->foreign, 0);
  for (int id = 0; id < PRODUCERS; id++)
    for (int i = 0; i < PER_PRODUCER; i++)
      ck_assert_msg(c->seen[id][i] == 1, "event %d-%d lost", id, i);
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, 0);
  ck_assert_uint_eq(stats.enqueued, PRODUCERS * PER_PRODUCER);
  /* only .lock and the journal */
  ck_assert_uint_eq(count_entries(block_dir), 2);
  free(c);
  pd_spool_close(spool);
}
END_TEST

/* ---- 100,000 pending events: the index stays small */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_many_events) {
  /* PD_TEST_SPOOL_EVENTS lowers the count for slow runs (valgrind). */
  const char *env = getenv("PD_TEST_SPOOL_EVENTS");
  size_t num = env != NULL ? (size_t)strtoul(env, NULL, 10) : 100000;
  pd_spool_t *spool = pd_spool_open(root, BLOCK, num);
  double t0 = now_s();
  pd_event_t ev;
  make_event(&ev, "");
  for (size_t i = 0; i < num; i++) {
    snprintf(ev.dedup_key, sizeof(ev.dedup_key), "host%zu/df/percent_bytes",
             i % 997);
    ev.created = 0;
    ck_assert_int_eq(pd_spool_enqueue(spool, &ev, NULL), 0);
  }
  pd_event_free(&ev);
  double t1 = now_s();
  ck_assert_int_eq(pd_spool_sync(spool), 0);
  double t2 = now_s();
  size_t bytes = pd_spool_index_bytes(spool);
  pd_spool_close(spool);

  double t3 = now_s();
  spool = pd_spool_open(root, BLOCK, num);
  double t4 = now_s();
  pd_spool_stats_t stats;
  pd_spool_stats(spool, &stats);
  ck_assert_uint_eq(stats.pending, num);
  ck_assert_uint_eq(stats.dropped, 0);
  size_t reopened_bytes = pd_spool_index_bytes(spool);
  fprintf(stderr,
          "spool, %zu events: enqueue %.1f us/event, sync %.2f s, reopen "
          "(read + validate all) %.2f s; index %zu KB (%.1f bytes/event), "
          "after reopen %zu KB\n",
          num, (t1 - t0) * 1e6 / (double)num, t2 - t1, t4 - t3, bytes / 1024,
          (double)bytes / (double)num, reopened_bytes / 1024);
  /* 32-byte entries, grown by doubling: at most 64 bytes per event. */
  ck_assert_uint_le(bytes, num * 64 + 4096);
  ck_assert_uint_le(reopened_bytes, num * 64 + 4096);
  pd_spool_close(spool);
}
END_TEST

static Suite *spool_suite(void) {
  Suite *s = suite_create("spool");
  TCase *tc = tcase_create("files");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_enqueue_list_remove_order);
  tcase_add_test(tc, test_permissions);
  tcase_add_test(tc, test_spool_dir_created_and_nested);
  tcase_add_test(tc, test_dir_names);
  tcase_add_test(tc, test_persistence_across_reopen);
  tcase_add_test(tc, test_update_in_place);
  tcase_add_test(tc, test_next_due_keeps_key_order);
  tcase_add_test(tc, test_overflow_drops_oldest);
  tcase_add_test(tc, test_move_to_failed);
  tcase_add_test(tc, test_crash_leftovers);
  tcase_add_test(tc, test_prepared_files);
  tcase_add_test(tc, test_second_open_refused);
  tcase_add_test(tc, test_no_secrets_in_files);
  tcase_add_test(tc, test_special_files);
  tcase_add_test(tc, test_spool_dir_deleted);
  tcase_add_test(tc, test_overflow_logged_per_state);
  tcase_add_test(tc, test_disk_full);
  tcase_add_test(tc, test_disk_full_journal_has_room);
  tcase_add_test(tc, test_read_only);
  tcase_add_test(tc, test_journal_survives_kill9);
  tcase_add_test(tc, test_journal_torn_record);
  tcase_add_test(tc, test_journal_recovery_idempotent);
  suite_add_tcase(s, tc);

  tc = tcase_create("load");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_concurrent_producers_and_consumer);
  tcase_add_test(tc, test_many_events);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(spool_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
