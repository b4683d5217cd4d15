/* SPDX-License-Identifier: MIT */
/*
 * fuzz_token.c - libFuzzer target: the token file reader (pd_token.h).
 *
 * The input is a token file's content, written to a file in the scratch
 * directory and read as a TokenFile is. Checked beyond "no crash": an
 * accepted token is usable in an HTTP header, has no surrounding blanks,
 * is no longer than PD_TOKEN_FILE_MAX_LINE and is part of the file's first
 * line; a refused file leaves a reason that does not quote the file.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "pd_token.h"
#include "pd_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[512];
  if (path[0] == '\0')
    snprintf(path, sizeof(path), "%s/token", fuzz_scratch_dir());
  fuzz_write_file(path, data, size);

  char err[512] = "";
  struct stat st;
  char *token = pd_token_file_load(path, &st, err, sizeof(err));
  if (token == NULL) {
    require(err[0] != '\0');
    return 0;
  }
  size_t len = strlen(token);
  require(pd_token_is_valid(token));
  require(len <= PD_TOKEN_FILE_MAX_LINE);
  require(token[0] != ' ' && token[0] != '\t');
  require(token[len - 1] != ' ' && token[len - 1] != '\t');
  const uint8_t *newline = memchr(data, '\n', size);
  size_t first_line = newline != NULL ? (size_t)(newline - data) : size;
  require(memmem(data, first_line, token, len) != NULL);
  require(st.st_size == (off_t)size);
  pd_secret_free(token);
  return 0;
}
