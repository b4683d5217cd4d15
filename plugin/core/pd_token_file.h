/* SPDX-License-Identifier: MIT */
/*
 * pd_token_file.h - reading a token file, and telling whether a token is
 * usable, for the configuration check (pd_config.c) and for an account's
 * token at run time (pd_token.c). Below both: it knows nothing of either.
 */
#ifndef PD_TOKEN_FILE_H
#define PD_TOKEN_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Longest first line a token file may have, in bytes. */
#define PD_TOKEN_FILE_MAX_LINE 4096

/*
 * Reads a token file: the first line, surrounding white space stripped.
 * Logs nothing, for callers that word their own messages (the
 * configuration check, pd_token_init(), pd_token_refresh()). On success
 * returns the token (newly allocated) and, when st is not NULL, the stat of
 * the file read. On failure returns NULL and describes why in err (path and
 * reason, never file contents).
 */
char *pd_token_file_load(const char *path, struct stat *st, char *err,
                         size_t err_size);

/* Does this mode let group or others read the file? */
bool pd_token_mode_is_exposed(mode_t mode);

/* Is the token usable in an HTTP header (non-empty, no CR, LF or NUL)? */
bool pd_token_is_valid(const char *token);

#endif /* PD_TOKEN_FILE_H */
