/* SPDX-License-Identifier: MIT */
/*
 * pd_sender_actions.h - what one delivery attempt of a Notify block sends:
 * the REST actions (trigger, acknowledge / resolve, note, through the
 * Account's REST endpoint) and the Events API v2 request, plus the read of
 * an incident that reconciliation needs. Each fills a pd_send_result_t;
 * the sender thread (pd_sender) decides the path, and what a result means
 * for the event (pd_retry_policy, pd_sender). Idempotency of each action
 * is described in pd_sender.h.
 */
#ifndef PD_SENDER_ACTIONS_H
#define PD_SENDER_ACTIONS_H

#include <stdbool.h>

#include "pd_event.h"
#include "pd_http.h"
#include "pd_notify.h"
#include "pd_reconcile.h"
#include "pd_rest.h"
#include "pd_spool.h"

/* How long a REST request may wait for the Account's request ceiling
 * before the event is rescheduled instead (the sender has other work). */
#define PD_SEND_REST_MAX_WAIT_S 5.0

/* What one delivery attempt came to. */
typedef enum {
  PD_SEND_DONE = 0,
  PD_SEND_RETRY,
  PD_SEND_PERMANENT,
  PD_SEND_AUTH,
  PD_SEND_PERMISSION,
} pd_send_result_kind_t;

typedef struct {
  pd_send_result_kind_t kind;
  long status;
  int api_code;
  bool no_response;     /* nothing came back (refused, timeout, reset) */
  bool throttled;       /* 429, or held back by a ceiling */
  bool wait_named;      /* retry_after_s is the server's */
  bool via_events;      /* the Events API answered, not REST */
  double retry_after_s; /* named by the server or the limiter; -1 none */
  char what[96];        /* "POST /incidents" */
  char message[600];    /* why, for logs and failed/; never a secret */
} pd_send_result_t;

/* What the actions of one Notify block work with; all borrowed. */
typedef struct {
  pd_notify_t *notify;           /* the block's state */
  const pd_notify_config_t *cfg; /* the block's configuration */
  pd_spool_t *spool;             /* the block's spool */
  pd_rest_t *rest;               /* its Account's endpoint; NULL without */
  pd_http_client_t *events;      /* the Events client; RoutingKey only */
} pd_send_ctx_t;

/* Sets r's kind and message (printf format). */
void pd_send_result_set(pd_send_result_t *r, pd_send_result_kind_t kind,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failed response as a result: its kind from the HTTP outcome, the
 * message "<r->what>: <why>". */
void pd_send_result_from(pd_send_result_t *r, const pd_http_response_t *resp);

/* REST trigger: POST /incidents, or raise the urgency of the open one. */
void pd_send_rest_trigger(pd_send_ctx_t *s, pd_event_t *ev,
                          pd_send_result_t *r);

/* REST acknowledge / resolve: PUT status on the target incident, when
 * pd_intent says the write does what the user meant. */
void pd_send_rest_status(pd_send_ctx_t *s, pd_event_t *ev, const char *status,
                         pd_send_result_t *r);

/* REST note, at most once even across a crash. */
void pd_send_rest_note(pd_send_ctx_t *s, pd_event_t *ev, pd_send_result_t *r);

/* The event through the Events API v2 (trigger, acknowledge, resolve);
 * the routing key never reaches a log line or failed/. */
void pd_send_events(pd_send_ctx_t *s, const pd_event_t *ev,
                    pd_send_result_t *r);

/* PagerDuty's view of an open alert's incident (Account only). */
pd_remote_state_t pd_send_remote_state(pd_send_ctx_t *s,
                                       const pd_open_alert_t *a);

#endif /* PD_SENDER_ACTIONS_H */
