/* SPDX-License-Identifier: MIT */
/*
 * pd_identity.h - who an Account's token is: GET /users/me.
 *
 * One request tells a User API token (its user's id, email and role) from
 * an account-level REST API key (which PagerDuty answers with 400 there,
 * doc/pagerduty-api.md). The role gives the advice of doc/contract.md §7;
 * the email is the From address REST writes carry unless the
 * configuration names one. Both the read side (once per token) and a REST
 * Notify block (before its first write, when the read side has not asked
 * yet) ask through here; what was learnt is shared through the endpoint
 * (pd_rest_identity).
 */
#ifndef PD_IDENTITY_H
#define PD_IDENTITY_H

#include <stdbool.h>

#include "pd_rest.h"

/*
 * GET /users/me through rest, with the Account's logging rules except for
 * the 400 that only says "account-level key" (which counts as a success of
 * the request). max_wait_s: how long it may wait on the request ceiling
 * (0 = the read cycle's budget); once: a 429 fails at once instead of
 * being waited out (pd_fetch_t).
 *
 * Returns PD_IDENTITY_USER (*out holds the user, and the user's email is
 * now From unless the configuration names one), PD_IDENTITY_ACCOUNT_KEY,
 * or PD_IDENTITY_UNKNOWN when the request failed or named no user with a
 * role (*resp says why). Does not store the result: the caller decides
 * whether to share it (pd_rest_set_identity).
 */
pd_identity_kind_t pd_identity_check(pd_rest_t *rest, double max_wait_s,
                                     bool once, pd_identity_t *out,
                                     pd_http_response_t *resp);

/* true for the roles that cannot act on incidents ("observer",
 * "read_only_user", "read_only_limited_user"). */
bool pd_identity_role_is_read_only(const char *role);

#endif /* PD_IDENTITY_H */
