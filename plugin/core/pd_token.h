/* SPDX-License-Identifier: MIT */
/*
 * pd_token.h - an account's API token and where it comes from.
 *
 * A token configured inline or taken from the environment never changes.
 * A TokenFile is re-read when its modification time, size or inode change,
 * so operators rotate tokens without restarting collectd. The secret is kept
 * in memory owned here and wiped on free; it is never logged.
 */
#ifndef PD_TOKEN_H
#define PD_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "pd_config.h"
#include "pd_token_file.h"

typedef struct {
  pd_token_source_t source;
  char *file;  /* TokenFile path, owned; NULL otherwise */
  char *value; /* current secret, owned; NULL until loaded */
  /* identity of the file contents last loaded, to notice rotation */
  struct timespec mtime;
  off_t size;
  ino_t inode;
  dev_t device;
  struct timespec ctime; /* catches rewrites that keep size and mtime */
  bool failing;          /* the last refresh failed: logged once, not again */
} pd_token_t;

/*
 * Sets tok up from an account's configuration. For Token / environment the
 * value is copied now; for TokenFile the file is read now. Returns 0, or -1
 * after logging (naming the account, never the secret).
 */
int pd_token_init(pd_token_t *tok, const pd_account_config_t *acct);

/*
 * For a TokenFile, re-reads the file if it changed since the last load.
 * Returns 1 when the token changed, 0 when unchanged, -1 when the file can
 * no longer be read (the previous token is kept and stays usable).
 * A failure is logged (account-scoped ERROR) when it starts, not again while
 * it lasts; the recovery is logged once too. A re-read file that group or
 * others may read draws a WARNING. pd_token_init() does not warn about
 * permissions: the configuration check already did.
 */
int pd_token_refresh(pd_token_t *tok, const char *account_name);

/* Wipes and frees the secret and the path. */
void pd_token_free(pd_token_t *tok);

#endif /* PD_TOKEN_H */
