/* SPDX-License-Identifier: MIT */
/*
 * pd_identity.c - see pd_identity.h.
 */
#include "pd_identity.h"

#include <stdio.h>
#include <string.h>

static int remember_user(void *ctx, const pd_user_t *user) {
  pd_identity_t *identity = ctx;
  identity->kind = PD_IDENTITY_USER;
  identity->user = *user;
  return 0;
}

pd_identity_kind_t pd_identity_check(pd_rest_t *rest, double max_wait_s,
                                     bool once, pd_identity_t *out,
                                     pd_http_response_t *resp) {
  memset(out, 0, sizeof(*out));
  out->kind = PD_IDENTITY_UNKNOWN;
  pd_parse_callbacks_t cb = {.ctx = out, .on_user = remember_user};
  pd_fetch_t f = {.what = "GET /users/me",
                  .path = "/users/me",
                  .kind = PD_PARSE_USER_ME,
                  .cb = &cb,
                  .quiet_status = 400,
                  .max_wait_s = max_wait_s,
                  .no_throttle_retry = once};
  if (pd_rest_fetch(rest, &f, NULL, resp) == 0) {
    if (out->kind != PD_IDENTITY_USER || out->user.role[0] == '\0') {
      /* A 2xx without a user: try again later. */
      out->kind = PD_IDENTITY_UNKNOWN;
      resp->outcome = PD_HTTP_RETRY;
      snprintf(resp->message, sizeof(resp->message),
               "malformed response: no user");
      return PD_IDENTITY_UNKNOWN;
    }
    /* From is required with an account-level key and harmless with a user
     * token (doc/pagerduty-api.md): the user's, unless configured. */
    if (pd_rest_config(rest)->from == NULL && out->user.email[0] != '\0')
      pd_http_client_set_from(pd_rest_http(rest), out->user.email);
    return PD_IDENTITY_USER;
  }
  out->kind = PD_IDENTITY_UNKNOWN;
  if (resp->status == 400) {
    /* Only an account-level key is refused here with 400
     * (doc/pagerduty-api.md). */
    pd_rest_report_success(rest, f.what);
    out->kind = PD_IDENTITY_ACCOUNT_KEY;
  }
  return out->kind;
}

bool pd_identity_role_is_read_only(const char *role) {
  return strcmp(role, "observer") == 0 || strcmp(role, "read_only_user") == 0 ||
         strcmp(role, "read_only_limited_user") == 0;
}
