/* SPDX-License-Identifier: MIT */
/*
 * pd_token_file.c - reading a token file; see pd_token_file.h.
 *
 * Every buffer that held a secret is wiped before it is freed or goes out of
 * scope, so a token does not linger in freed heap or on the stack.
 */
#include "pd_token_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_util.h"

bool pd_token_is_valid(const char *token) {
  if (token == NULL || token[0] == '\0')
    return false;
  return strpbrk(token, "\r\n") == NULL;
}

bool pd_token_mode_is_exposed(mode_t mode) {
  return (mode & (S_IRGRP | S_IROTH)) != 0;
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Reads at most size bytes; returns the count or -1 (errno set). */
static ssize_t read_fully(int fd, char *buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/*
 * Picks the token out of what was read: the first line, surrounding blanks
 * stripped. Returns a new string or NULL with err filled in.
 */
static char *first_line_token(const char *path, const char *buf, size_t len,
                              char *err, size_t err_size) {
  const char *newline = memchr(buf, '\n', len);
  size_t line_len = newline != NULL ? (size_t)(newline - buf) : len;

  /* line_len, not len: a line of MAX + 1 bytes followed by its newline
   * fits in buf too. */
  if (line_len > PD_TOKEN_FILE_MAX_LINE) {
    snprintf(err, err_size,
             "the first line of \"%s\" is longer than %d bytes, which is "
             "not a token",
             path, PD_TOKEN_FILE_MAX_LINE);
    return NULL;
  }
  if (memchr(buf, '\0', line_len) != NULL) {
    snprintf(err, err_size,
             "the first line of \"%s\" contains a NUL byte; the file must "
             "hold the token as text",
             path);
    return NULL;
  }

  size_t start = 0, end = line_len;
  while (start < end && is_blank(buf[start]))
    start++;
  while (end > start && is_blank(buf[end - 1]))
    end--;
  if (start == end) {
    snprintf(err, err_size,
             "\"%s\" holds no token (its first line is empty); put the "
             "User API token on the first line",
             path);
    return NULL;
  }

  char *token = strndup(buf + start, end - start);
  if (token == NULL) {
    snprintf(err, err_size, "out of memory reading \"%s\"", path);
    return NULL;
  }
  if (!pd_token_is_valid(token)) {
    snprintf(err, err_size,
             "the token in \"%s\" contains a carriage return, which cannot "
             "be sent in an HTTP header",
             path);
    pd_secret_free(token);
    return NULL;
  }
  return token;
}

char *pd_token_file_load(const char *path, struct stat *st, char *err,
                         size_t err_size) {
  /* One byte more than the longest line, to tell "too long" from "fits". */
  char buf[PD_TOKEN_FILE_MAX_LINE + 2];
  struct stat file_st;
  char *token = NULL;

  /* O_NONBLOCK: a FIFO put in the token's place must not hang collectd. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, err_size, "cannot open \"%s\": %s", path, strerror(errno));
    return NULL;
  }
  if (fstat(fd, &file_st) != 0) {
    snprintf(err, err_size, "cannot stat \"%s\": %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(file_st.st_mode)) {
    snprintf(err, err_size, "\"%s\" is not a regular file", path);
    close(fd);
    return NULL;
  }

  ssize_t len = read_fully(fd, buf, sizeof(buf));
  if (len < 0)
    snprintf(err, err_size, "cannot read \"%s\": %s", path, strerror(errno));
  else
    token = first_line_token(path, buf, (size_t)len, err, err_size);
  close(fd);
  explicit_bzero(buf, sizeof(buf));

  if (token != NULL && st != NULL)
    *st = file_st;
  return token;
}
