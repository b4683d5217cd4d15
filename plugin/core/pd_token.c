/* SPDX-License-Identifier: MIT */
/*
 * pd_token.c - an account's API token and where it comes from; see pd_token.h.
 * Reading a token file is pd_token_file.c.
 *
 * Every buffer that held a secret is wiped before it is freed or goes out of
 * scope, so a token does not linger in freed heap or on the stack.
 */
#include "pd_token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_log.h"
#include "pd_util.h"

static void remember_identity(pd_token_t *tok, const struct stat *st) {
  tok->mtime = st->st_mtim;
  tok->ctime = st->st_ctim;
  tok->size = st->st_size;
  tok->inode = st->st_ino;
  tok->device = st->st_dev;
}

static bool same_time(struct timespec a, struct timespec b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool identity_unchanged(const pd_token_t *tok, const struct stat *st) {
  return same_time(tok->mtime, st->st_mtim) &&
         same_time(tok->ctime, st->st_ctim) && tok->size == st->st_size &&
         tok->inode == st->st_ino && tok->device == st->st_dev;
}

int pd_token_init(pd_token_t *tok, const pd_account_config_t *acct) {
  memset(tok, 0, sizeof(*tok));
  tok->source = acct->token_source;

  if (acct->token_source != PD_TOKEN_FROM_FILE) {
    if (!pd_token_is_valid(acct->token)) {
      PD_ACCOUNT_ERROR(acct->name,
                       "the token is empty or contains CR or LF; set a valid "
                       "User API token.");
      return -1;
    }
    tok->value = strdup(acct->token);
    if (tok->value == NULL) {
      PD_ACCOUNT_ERROR(acct->name, "out of memory copying the token.");
      return -1;
    }
    return 0;
  }

  if (acct->token_file == NULL) {
    PD_ACCOUNT_ERROR(acct->name, "TokenFile: no file name configured.");
    return -1;
  }
  tok->file = strdup(acct->token_file);
  if (tok->file == NULL) {
    PD_ACCOUNT_ERROR(acct->name, "out of memory copying the TokenFile name.");
    return -1;
  }

  char err[512];
  struct stat st;
  tok->value = pd_token_file_load(tok->file, &st, err, sizeof(err));
  if (tok->value == NULL) {
    PD_ACCOUNT_ERROR(acct->name, "TokenFile: %s.", err);
    pd_token_free(tok);
    return -1;
  }
  remember_identity(tok, &st);
  return 0;
}

/* Logs a refresh failure when it starts; keeps quiet while it lasts. */
static int refresh_failed(pd_token_t *tok, const char *account_name,
                          const char *reason) {
  if (!tok->failing)
    PD_ACCOUNT_ERROR(account_name,
                     "TokenFile: %s; keeping the previous token until the "
                     "file can be read again.",
                     reason);
  tok->failing = true;
  return -1;
}

int pd_token_refresh(pd_token_t *tok, const char *account_name) {
  if (tok->source != PD_TOKEN_FROM_FILE || tok->file == NULL)
    return 0;

  char err[512];
  struct stat st;
  if (stat(tok->file, &st) != 0) {
    snprintf(err, sizeof(err), "cannot stat \"%s\": %s", tok->file,
             strerror(errno));
    return refresh_failed(tok, account_name, err);
  }
  /* While failing, retry even an unchanged file: the cause may have been
   * outside it (a directory's permissions, a transient read error). */
  if (!tok->failing && tok->value != NULL && identity_unchanged(tok, &st))
    return 0;

  char *fresh = pd_token_file_load(tok->file, &st, err, sizeof(err));
  if (fresh == NULL)
    return refresh_failed(tok, account_name, err);

  if (tok->failing)
    PD_ACCOUNT_NOTICE(account_name, "TokenFile \"%s\" is readable again.",
                      tok->file);
  tok->failing = false;
  remember_identity(tok, &st);
  if (pd_token_mode_is_exposed(st.st_mode))
    PD_ACCOUNT_WARNING(account_name,
                       "TokenFile \"%s\" is readable by group or others "
                       "(mode %04o); restrict it, e.g. chmod 600.",
                       tok->file, (unsigned)(st.st_mode & 07777));

  if (tok->value != NULL && strcmp(tok->value, fresh) == 0) {
    pd_secret_free(fresh);
    return 0;
  }
  pd_secret_free(tok->value);
  tok->value = fresh;
  PD_ACCOUNT_INFO(account_name,
                  "TokenFile \"%s\" changed; using the new token.", tok->file);
  return 1;
}

void pd_token_free(pd_token_t *tok) {
  pd_secret_free(tok->value);
  free(tok->file);
  memset(tok, 0, sizeof(*tok));
}
