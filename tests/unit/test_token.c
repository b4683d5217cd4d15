/* SPDX-License-Identifier: MIT */
/*
 * test_token.c - token sources and TokenFile rotation (pd_token.h).
 *
 * Token files are real files in a temporary directory; rotation is done the
 * ways operators do it (rewrite in place, rewrite keeping size and mtime,
 * write-and-rename) and the refresh must notice each, keep the old token
 * when the file breaks, and log each failure once, never the token.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon_stubs.h"
#include "pd_token.h"
#include "pd_util.h"

#define TOKEN_A "u+AaaaTokenOne111"
#define TOKEN_B "u+BbbbTokenTwo222" /* same length as TOKEN_A */
#define TOKEN_C "u+CcccLongerTokenThree333"

static char tmpdir[64];
static char path[256];
static pd_token_t tok;
static pd_account_config_t account_cfg;

static void setup(void) {
  stub_log_reset();
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/pd_test_token.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  snprintf(path, sizeof(path), "%s/token", tmpdir);
  memset(&tok, 0, sizeof(tok));
  memset(&account_cfg, 0, sizeof(account_cfg));
  account_cfg.name = "acme";
}

static void teardown(void) {
  pd_token_free(&tok);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Writes content (len bytes) to p in place (same inode), with mode. */
static void write_bytes(const char *p, const char *content, size_t len,
                        mode_t mode) {
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
  ck_assert_int_eq(close(fd), 0);
  ck_assert_int_eq(chmod(p, mode), 0);
}

static void write_text(const char *p, const char *content, mode_t mode) {
  write_bytes(p, content, strlen(content), mode);
}

/* Sets the modification time of p to sec seconds after the epoch. */
static void set_mtime(const char *p, time_t sec) {
  struct timespec times[2] = {{0, UTIME_OMIT}, {sec, 0}};
  ck_assert_int_eq(utimensat(AT_FDCWD, p, times, 0), 0);
}

static struct timespec mtime_of(const char *p) {
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  return st.st_mtim;
}

/* File timestamps come from a coarse clock; let it tick. */
static void let_clock_tick(void) {
  struct timespec pause = {0, 30 * 1000 * 1000};
  nanosleep(&pause, NULL);
}

static void assert_no_token_logged(void) {
  const char *tokens[] = {TOKEN_A, TOKEN_B, TOKEN_C};
  for (size_t i = 0; i < 3; i++)
    ck_assert_msg(!stub_log_contains(-1, tokens[i]), "token logged:\n%s",
                  stub_log_dump());
}

static void init_from_file(const char *content, mode_t mode) {
  write_text(path, content, mode);
  account_cfg.token_source = PD_TOKEN_FROM_FILE;
  account_cfg.token_file = path;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), 0);
}

/* ------------------------------------------------------------------------ */

START_TEST(test_is_valid) {
  ck_assert(pd_token_is_valid(TOKEN_A));
  ck_assert(pd_token_is_valid("x"));
  ck_assert(!pd_token_is_valid(NULL));
  ck_assert(!pd_token_is_valid(""));
  ck_assert(!pd_token_is_valid("abc\r"));
  ck_assert(!pd_token_is_valid("abc\ndef"));
}
END_TEST

START_TEST(test_init_inline) {
  char token[] = TOKEN_A;
  account_cfg.token_source = PD_TOKEN_FROM_CONFIG;
  account_cfg.token = token;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), 0);
  ck_assert_int_eq(tok.source, PD_TOKEN_FROM_CONFIG);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_ptr_ne(tok.value, token); /* a copy of its own */
  ck_assert_ptr_null(tok.file);
  /* Inline tokens never change. */
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
}
END_TEST

START_TEST(test_init_environment) {
  char token[] = TOKEN_B;
  account_cfg.token_source = PD_TOKEN_FROM_ENV;
  account_cfg.token = token;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), 0);
  ck_assert_int_eq(tok.source, PD_TOKEN_FROM_ENV);
  ck_assert_str_eq(tok.value, TOKEN_B);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
}
END_TEST

START_TEST(test_init_inline_invalid) {
  char bad[] = TOKEN_A "\r\nX: y";
  account_cfg.token_source = PD_TOKEN_FROM_CONFIG;
  account_cfg.token = bad;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), -1);
  ck_assert_ptr_null(tok.value);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "pagerduty plugin: account \"acme\": "));
  assert_no_token_logged();

  stub_log_reset();
  char empty[] = "";
  account_cfg.token = empty;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), -1);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
}
END_TEST

START_TEST(test_init_file_strips) {
  init_from_file(" \t" TOKEN_A " \r\n" TOKEN_B "\n", 0600);
  ck_assert_int_eq(tok.source, PD_TOKEN_FROM_FILE);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_str_eq(tok.file, path);
  ck_assert_ptr_ne(tok.file, path);
  /* The configuration check warned already; init stays quiet. */
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
}
END_TEST

START_TEST(test_init_file_without_newline) {
  init_from_file(TOKEN_C, 0600);
  ck_assert_str_eq(tok.value, TOKEN_C);
}
END_TEST

START_TEST(test_init_file_rejected) {
  char longline[PD_TOKEN_FILE_MAX_LINE + 10];
  memset(longline, 'a', sizeof(longline) - 1);
  longline[sizeof(longline) - 1] = '\0';
  /* One byte too long, then its newline: all of it fits the read buffer
   * (found by fuzz_token: it was accepted). */
  char one_over[PD_TOKEN_FILE_MAX_LINE + 3];
  memset(one_over, 'a', PD_TOKEN_FILE_MAX_LINE + 1);
  one_over[PD_TOKEN_FILE_MAX_LINE + 1] = '\n';
  one_over[PD_TOKEN_FILE_MAX_LINE + 2] = '\0';
  const struct {
    const char *content;
    size_t len;
    const char *fragment;
  } cases[] = {
      {"", 0, "holds no token"},
      {"\n" TOKEN_A "\n", 1 + strlen(TOKEN_A) + 1, "holds no token"},
      {"  \t \n", 5, "holds no token"},
      {"u+Abc\0def\n", 10, "NUL byte"},
      {"u+Abc\rdef\n", 10, "carriage return"},
      {longline, sizeof(longline) - 1, "longer than"},
      {one_over, sizeof(one_over) - 1, "longer than"},
  };
  account_cfg.token_source = PD_TOKEN_FROM_FILE;
  account_cfg.token_file = path;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    stub_log_reset();
    write_bytes(path, cases[i].content, cases[i].len, 0600);
    ck_assert_int_eq(pd_token_init(&tok, &account_cfg), -1);
    ck_assert_ptr_null(tok.value);
    ck_assert_ptr_null(tok.file);
    ck_assert_msg(stub_log_count(LOG_ERR) == 1, "case %zu:\n%s", i,
                  stub_log_dump());
    ck_assert(stub_log_contains(LOG_ERR, "account \"acme\": TokenFile: "));
    ck_assert_msg(stub_log_contains(LOG_ERR, cases[i].fragment),
                  "case %zu:\n%s", i, stub_log_dump());
    ck_assert(!stub_log_contains(-1, "u+Abc"));
  }

  stub_log_reset();
  account_cfg.token_file = tmpdir;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), -1);
  ck_assert(stub_log_contains(LOG_ERR, "not a regular file"));

  stub_log_reset();
  char missing[300];
  snprintf(missing, sizeof(missing), "%s/absent", tmpdir);
  account_cfg.token_file = missing;
  ck_assert_int_eq(pd_token_init(&tok, &account_cfg), -1);
  ck_assert(stub_log_contains(LOG_ERR, "cannot open"));
  ck_assert(stub_log_contains(LOG_ERR, missing));
}
END_TEST

/* The reader the configuration check uses: it logs nothing (the check
 * words its own messages) and hands back the stat of the file it read, from
 * which the check decides on the permissions WARNING. */
START_TEST(test_file_load) {
  struct stat st;
  char err[512] = "";
  write_text(path, TOKEN_A "\n", 0644);
  char *t = pd_token_file_load(path, &st, err, sizeof(err));
  ck_assert_str_eq(t, TOKEN_A);
  pd_secret_free(t);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert(pd_token_mode_is_exposed(st.st_mode));

  ck_assert_int_eq(chmod(path, 0600), 0);
  t = pd_token_file_load(path, &st, err, sizeof(err));
  ck_assert_str_eq(t, TOKEN_A);
  pd_secret_free(t);
  ck_assert(!pd_token_mode_is_exposed(st.st_mode));

  /* No stat wanted. */
  t = pd_token_file_load(path, NULL, err, sizeof(err));
  ck_assert_str_eq(t, TOKEN_A);
  pd_secret_free(t);

  ck_assert(pd_token_mode_is_exposed(0640));
  ck_assert(pd_token_mode_is_exposed(0604));
  ck_assert(!pd_token_mode_is_exposed(0600));
  ck_assert(!pd_token_mode_is_exposed(0700));

  /* A refusal says why and names the file, never what the file holds. */
  write_text(path, " \t\n" TOKEN_B "\n", 0600);
  ck_assert_ptr_null(pd_token_file_load(path, &st, err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "holds no token"));
  ck_assert_ptr_nonnull(strstr(err, path));
  ck_assert_ptr_null(strstr(err, TOKEN_B));

  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
}
END_TEST

START_TEST(test_refresh_unchanged) {
  init_from_file(TOKEN_A "\n", 0600);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
}
END_TEST

START_TEST(test_refresh_rewritten) {
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  write_text(path, TOKEN_C "\n", 0600);
  set_mtime(path, before.tv_sec + 10);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 1);
  ck_assert_str_eq(tok.value, TOKEN_C);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  assert_no_token_logged();
}
END_TEST

START_TEST(test_refresh_same_size_new_mtime) {
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  write_text(path, TOKEN_B "\n", 0600);
  set_mtime(path, before.tv_sec + 10);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 1);
  ck_assert_str_eq(tok.value, TOKEN_B);
}
END_TEST

START_TEST(test_refresh_same_size_same_mtime) {
  /* Rewritten in place with mtime put back: only ctime tells. */
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  let_clock_tick();
  write_text(path, TOKEN_B "\n", 0600);
  struct timespec times[2] = {{0, UTIME_OMIT}, before};
  ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 1);
  ck_assert_str_eq(tok.value, TOKEN_B);
}
END_TEST

START_TEST(test_refresh_renamed_over) {
  /* write-and-rename: a new inode, same size, same mtime. */
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  char fresh[300];
  snprintf(fresh, sizeof(fresh), "%s/token.new", tmpdir);
  write_text(fresh, TOKEN_B "\n", 0600);
  struct timespec times[2] = {{0, UTIME_OMIT}, before};
  ck_assert_int_eq(utimensat(AT_FDCWD, fresh, times, 0), 0);
  ck_assert_int_eq(rename(fresh, path), 0);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 1);
  ck_assert_str_eq(tok.value, TOKEN_B);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
}
END_TEST

START_TEST(test_refresh_touched_same_content) {
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  set_mtime(path, before.tv_sec + 100);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_str_eq(tok.value, TOKEN_A);
}
END_TEST

START_TEST(test_refresh_missing_keeps_old) {
  init_from_file(TOKEN_A "\n", 0600);
  ck_assert_int_eq(unlink(path), 0);

  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), -1);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "pagerduty plugin: account \"acme\": "
                                       "TokenFile: cannot stat"));
  ck_assert(stub_log_contains(LOG_ERR, "keeping the previous token"));

  /* Still broken: no second ERROR. */
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), -1);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), -1);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert_str_eq(tok.value, TOKEN_A);

  /* Back, with a new token: picked up, recovery logged once. */
  write_text(path, TOKEN_C "\n", 0600);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 1);
  ck_assert_str_eq(tok.value, TOKEN_C);
  ck_assert_uint_eq(stub_log_count(LOG_NOTICE), 1);
  ck_assert(stub_log_contains(LOG_NOTICE, "readable again"));
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  assert_no_token_logged();
}
END_TEST

START_TEST(test_refresh_emptied_keeps_old) {
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  write_text(path, "", 0600);
  set_mtime(path, before.tv_sec + 10);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), -1);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "holds no token"));
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), -1);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);

  /* The same token written back: usable again, but not a change. */
  write_text(path, TOKEN_A "\n", 0600);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert_uint_eq(stub_log_count(LOG_NOTICE), 1);
}
END_TEST

START_TEST(test_refresh_replaced_by_directory) {
  init_from_file(TOKEN_A "\n", 0600);
  ck_assert_int_eq(unlink(path), 0);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), -1);
  ck_assert_str_eq(tok.value, TOKEN_A);
  ck_assert(stub_log_contains(LOG_ERR, "not a regular file"));
  ck_assert_int_eq(rmdir(path), 0);
}
END_TEST

START_TEST(test_refresh_warns_on_exposed_rotation) {
  init_from_file(TOKEN_A "\n", 0600);
  struct timespec before = mtime_of(path);
  write_text(path, TOKEN_C "\n", 0644);
  set_mtime(path, before.tv_sec + 10);
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 1);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(stub_log_contains(LOG_WARNING, "readable by group or others"));
  /* Unchanged afterwards: no repeated warning. */
  ck_assert_int_eq(pd_token_refresh(&tok, "acme"), 0);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
}
END_TEST

START_TEST(test_free_clears) {
  init_from_file(TOKEN_A "\n", 0600);
  pd_token_free(&tok);
  ck_assert_ptr_null(tok.value);
  ck_assert_ptr_null(tok.file);
  ck_assert(!tok.failing);
  /* Freeing twice is harmless. */
  pd_token_free(&tok);
}
END_TEST

static Suite *token_suite(void) {
  Suite *s = suite_create("pd_token");
  TCase *tc = tcase_create("token");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_is_valid);
  tcase_add_test(tc, test_init_inline);
  tcase_add_test(tc, test_init_environment);
  tcase_add_test(tc, test_init_inline_invalid);
  tcase_add_test(tc, test_init_file_strips);
  tcase_add_test(tc, test_init_file_without_newline);
  tcase_add_test(tc, test_init_file_rejected);
  tcase_add_test(tc, test_file_load);
  tcase_add_test(tc, test_refresh_unchanged);
  tcase_add_test(tc, test_refresh_rewritten);
  tcase_add_test(tc, test_refresh_same_size_new_mtime);
  tcase_add_test(tc, test_refresh_same_size_same_mtime);
  tcase_add_test(tc, test_refresh_renamed_over);
  tcase_add_test(tc, test_refresh_touched_same_content);
  tcase_add_test(tc, test_refresh_missing_keeps_old);
  tcase_add_test(tc, test_refresh_emptied_keeps_old);
  tcase_add_test(tc, test_refresh_replaced_by_directory);
  tcase_add_test(tc, test_refresh_warns_on_exposed_rotation);
  tcase_add_test(tc, test_free_clears);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(token_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
