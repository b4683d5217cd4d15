/* SPDX-License-Identifier: MIT */
/*
 * pd_sender_actions.c - see pd_sender_actions.h.
 *
 * REST steps are small functions over rest_request(); the incident an
 * acknowledge, resolve or note acts on is found by write_target().
 */
#include "pd_sender_actions.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_event_body.h"
#include "pd_intent.h"
#include "pd_json.h"
#include "pd_log.h"
#include "pd_parse.h"

/* The Events client has no ceiling of its own; after a 429 pd_http holds
 * requests back, and the sender reschedules rather than wait inside. */
#define EVENTS_MAX_WAIT_S 1.0
#define EVENTS_PATH "/v2/enqueue"
/* A note found on the incident counts as ours when created no earlier than
 * this before the event was (clock differences, second resolution). */
#define NOTE_MATCH_SLACK_S 5.0

static const char *block(const pd_send_ctx_t *s) { return s->cfg->name; }

void pd_send_result_set(pd_send_result_t *r, pd_send_result_kind_t kind,
                        const char *fmt, ...) {
  r->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof(r->message), fmt, ap);
  va_end(ap);
}

/* A failed response as a result. */
void pd_send_result_from(pd_send_result_t *r, const pd_http_response_t *resp) {
  r->status = resp->status;
  r->api_code = resp->api_code;
  r->retry_after_s = resp->retry_after_s;
  r->wait_named = resp->wait_named;
  r->throttled =
      resp->status == 429 || (!resp->sent && resp->retry_after_s >= 0);
  r->no_response = resp->status == 0;
  pd_send_result_kind_t kind;
  switch (resp->outcome) {
  case PD_HTTP_OK:
    kind = PD_SEND_DONE;
    break;
  case PD_HTTP_AUTH:
    kind = PD_SEND_AUTH;
    break;
  case PD_HTTP_PERMISSION:
    kind = PD_SEND_PERMISSION;
    break;
  case PD_HTTP_PERMANENT:
    /* Refused before PagerDuty saw it (TLS verification, a bad URL): the
     * fix is in the configuration, not the event, so keep it and retry. */
    kind = resp->status == 0 ? PD_SEND_RETRY : PD_SEND_PERMANENT;
    break;
  default:
    kind = PD_SEND_RETRY;
    break;
  }
  pd_send_result_set(r, kind, "%s: %s", r->what, resp->message);
}

/* ---------------------------------------------------------- REST calls */

/*
 * One request through the Account (its client's ceiling and token, its
 * once-per-change failure log with the advice of doc/contract.md §7, shared
 * with the read side). what names the kind of request, without IDs ("PUT
 * /incidents/{id}"). An answer with status `expected` (0 = none) is the
 * caller's to judge and is not logged as a failure.
 */
static int rest_request(pd_send_ctx_t *s, const char *what, long expected,
                        const char *method, const char *path, const char *body,
                        size_t body_len, pd_http_body_cb cb, void *ctx,
                        pd_http_response_t *resp) {
  pd_http_request_t req = {
      .method = method,
      .path = path,
      .body = body,
      .body_len = body_len,
      .on_body = cb,
      .ctx = ctx,
      .max_wait_s = PD_SEND_REST_MAX_WAIT_S,
  };
  return pd_rest_request_quiet(s->rest, what, &req, resp, expected);
}

/* The first incident an answer holds (open ones only when asked). */
typedef struct {
  bool open_only;
  bool found;
  pd_id_t id;
  pd_incident_status_t status;
  pd_urgency_t urgency;
} incident_t;

static int on_incident(void *ctx, const pd_incident_t *inc) {
  incident_t *f = ctx;
  if (f->found || (f->open_only && inc->status == PD_INCIDENT_RESOLVED))
    return 0;
  f->found = true;
  memcpy(f->id, inc->id, sizeof(f->id));
  f->status = (pd_incident_status_t)inc->status;
  f->urgency = (pd_urgency_t)inc->urgency;
  return 0;
}

/*
 * method path with an incident (or list of incidents) as the answer.
 * Returns 1 when an incident was found, 0 when the answer had none, -1 on
 * failure (r says why; r->status 404 for an unknown incident).
 */
static int incident_request(pd_send_ctx_t *s, const char *what, long expected,
                            const char *method, const char *path,
                            const char *body, size_t body_len, incident_t *inc,
                            pd_send_result_t *r) {
  pd_parse_callbacks_t cb = {.ctx = inc, .on_incident = on_incident};
  pd_parser_t *parser = pd_parser_create(PD_PARSE_INCIDENTS, &cb);
  if (parser == NULL) {
    pd_send_result_set(r, PD_SEND_RETRY, "%s: out of memory", r->what);
    return -1;
  }
  pd_http_response_t resp;
  int status = rest_request(s, what, expected, method, path, body, body_len,
                            pd_rest_feed_parser, parser, &resp);
  if (status != 0) {
    pd_send_result_from(r, &resp);
    if (resp.status >= 200 && resp.status < 300) /* the body let us down */
      r->kind = PD_SEND_RETRY;
  } else if (pd_parser_finish(parser) != 0) {
    /* A 2xx that is not what PagerDuty sends: try again later. */
    pd_send_result_set(r, PD_SEND_RETRY, "%s: malformed response: %s", r->what,
                       pd_parser_error(parser));
    r->status = resp.status;
    status = -1;
  }
  pd_parser_destroy(parser);
  if (status != 0)
    return -1;
  return inc->found ? 1 : 0;
}

/* The open incident with incident_key key (on the block's Service, when
 * it has one). 1 found, 0 none open, -1 failed. */
static int find_open_by_key(pd_send_ctx_t *s, const char *key, incident_t *inc,
                            pd_send_result_t *r) {
  pd_url_t u;
  int ok = pd_url_init(&u, "/incidents") == 0 &&
           pd_url_add(&u, "incident_key", key) == 0 &&
           pd_url_add(&u, "statuses[]", "triggered") == 0 &&
           pd_url_add(&u, "statuses[]", "acknowledged") == 0 &&
           pd_url_add(&u, "date_range", "all") == 0 &&
           (s->cfg->service == NULL ||
            pd_url_add(&u, "service_ids[]", s->cfg->service) == 0);
  if (!ok) {
    pd_url_free(&u);
    pd_send_result_set(r, PD_SEND_RETRY, "out of memory");
    return -1;
  }
  snprintf(r->what, sizeof(r->what), "GET /incidents?incident_key=...");
  memset(inc, 0, sizeof(*inc));
  inc->open_only = true;
  int found = incident_request(s, "GET /incidents?incident_key", 0, "GET",
                               u.buf, NULL, 0, inc, r);
  pd_url_free(&u);
  return found;
}

static int feed_json(void *js, const unsigned char *data, size_t len) {
  if (pd_json_feed(js, data, len) == 0)
    return 0;
  pd_http_body_error("%s", pd_json_error(js));
  return -1;
}

/* GET /incidents/{ref} into *v (with its merge target, which the list
 * parser does not keep): 1 found, -1 failed (404: r->status). */
static int get_incident(pd_send_ctx_t *s, const char *ref,
                        pd_incident_view_t *v, pd_send_result_t *r) {
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s", ref);
  snprintf(r->what, sizeof(r->what), "GET /incidents/%s", ref);
  pd_incident_view_init(v);
  pd_json_stream_t *js =
      pd_json_stream_create(&pd_incident_view_handlers, v, 0);
  if (js == NULL) {
    pd_send_result_set(r, PD_SEND_RETRY, "out of memory");
    return -1;
  }
  pd_http_response_t resp;
  int status = rest_request(s, "GET /incidents/{id}", 404, "GET", path, NULL, 0,
                            feed_json, js, &resp);
  if (status != 0) {
    pd_send_result_from(r, &resp);
    if (resp.status >= 200 && resp.status < 300) /* the body let us down */
      r->kind = PD_SEND_RETRY;
  } else if (pd_json_finish(js) != 0 || v->id[0] == '\0' ||
             v->status == PD_INCIDENT_UNKNOWN) {
    /* A 2xx that is not what PagerDuty sends: try again later. */
    pd_send_result_set(r, PD_SEND_RETRY, "%s: malformed response: %s", r->what,
                       pd_json_error(js)[0] != '\0'
                           ? pd_json_error(js)
                           : "no incident id or status");
    r->status = resp.status;
    status = -1;
  }
  pd_json_stream_destroy(js);
  return status == 0 ? 1 : -1;
}

/* After a write found the block's own incident resolved by someone else,
 * the block stops tracking it (as reconciliation would): the value failing
 * again opens a new incident instead of notes nobody reads. */
static void forget_if_tracked(pd_send_ctx_t *s, const pd_event_t *ev,
                              const pd_incident_view_t *v) {
  pd_open_alert_t a;
  if (v->status == PD_INCIDENT_RESOLVED && !pd_incident_view_merged(v) &&
      pd_notify_lookup(s->notify, ev->dedup_key, &a) == 0 &&
      strcmp(a.incident_id, v->id) == 0 &&
      pd_notify_forget(s->notify, ev->dedup_key, a.opened))
    PD_NOTIFY_INFO(block(s),
                   "%s: incident %s of dedup key \"%s\" is "
                   "resolved in PagerDuty; no longer tracked",
                   ev->identifier, v->id, ev->dedup_key);
}

/* The first incident a write may act on, before pd_intent has a say: the
 * one the operator named (pagerduty_incident), else the one the block
 * knows, else the open one with the event's dedup key. 1 with *v; 0 when
 * there is none: v->id "" when nothing is open with the dedup key, else
 * the block's incident, gone (logged); -1 failed. */
static int first_target(pd_send_ctx_t *s, const pd_event_t *ev,
                        pd_incident_view_t *v, pd_send_result_t *r) {
  pd_incident_view_init(v);
  if (ev->incident != NULL) {
    if (!pd_id_is_valid(ev->incident, strlen(ev->incident))) {
      pd_send_result_set(r, PD_SEND_PERMANENT,
                         PD_META_INCIDENT
                         " \"%s\" is not an incident ID or number",
                         ev->incident);
      return -1;
    }
    if (get_incident(s, ev->incident, v, r) < 0) {
      if (r->status == 404)
        pd_send_result_set(r, PD_SEND_PERMANENT, "incident %s not found",
                           ev->incident);
      return -1;
    }
    return 1;
  }
  if (ev->incident_id != NULL &&
      pd_id_is_valid(ev->incident_id, strlen(ev->incident_id))) {
    if (get_incident(s, ev->incident_id, v, r) == 1)
      return 1;
    if (r->status != 404)
      return -1;
    PD_NOTIFY_INFO(block(s), "%s: incident %s no longer exists; %s not sent",
                   ev->identifier, ev->incident_id, pd_action_name(ev->action));
    pd_id_set(v->id, ev->incident_id, strlen(ev->incident_id));
    r->kind = PD_SEND_DONE;
    return 0;
  }
  incident_t inc;
  int found = find_open_by_key(s, ev->dedup_key, &inc, r);
  if (found == 1) { /* open, so merged into nothing */
    memcpy(v->id, inc.id, sizeof(pd_id_t));
    v->status = inc.status;
    v->urgency = inc.urgency;
  }
  return found;
}

/*
 * The incident an acknowledge, resolve or note acts on (issue 7: writes
 * that do what the user meant, see pd_intent.h): the first target, then
 * merges followed. 1: act on *v. 0: nothing to send, said in the log (or,
 * with v->id "", nothing open with the dedup key: the caller says so, if
 * it should). -1: failed, r says why. The state is read right before the
 * write; a person acting in the instant between the two is the one race
 * PagerDuty's API leaves open (it has no conditional PUT).
 */
static int write_target(pd_send_ctx_t *s, const pd_event_t *ev,
                        pd_incident_view_t *v, pd_send_result_t *r) {
  int found = first_target(s, ev, v, r);
  if (found <= 0)
    return found;
  bool named = ev->incident != NULL;
  for (unsigned hops = 0;; hops++) {
    switch (pd_intent_decide(ev->action, v, named)) {
    case PD_INTENT_SEND:
      return 1;
    case PD_INTENT_NOTHING:
      PD_NOTIFY_INFO(block(s), "%s: incident %s %s; %s not sent",
                     ev->identifier, v->id,
                     pd_intent_why_nothing(ev->action, v, named),
                     pd_action_name(ev->action));
      if (!named)
        forget_if_tracked(s, ev, v);
      return 0;
    case PD_INTENT_FOLLOW:
      break;
    }
    if (hops == PD_INTENT_MAX_HOPS) {
      PD_NOTIFY_INFO(block(s),
                     "%s: incident %s was merged more than %d "
                     "times over; %s not sent",
                     ev->identifier, v->id, PD_INTENT_MAX_HOPS,
                     pd_action_name(ev->action));
      return 0;
    }
    pd_id_t from, into;
    memcpy(from, v->id, sizeof(from));
    memcpy(into, v->merged_into, sizeof(into));
    if (get_incident(s, into, v, r) < 0)
      return -1;
    PD_NOTIFY_INFO(block(s),
                   "%s: incident %s was merged into incident %s; "
                   "the %s goes there",
                   ev->identifier, from, into, pd_action_name(ev->action));
    named = false; /* nobody named the target */
  }
}

/* PUT /incidents/{id} with body. */
static int put_incident(pd_send_ctx_t *s, const char *id, const char *body,
                        size_t len, pd_send_result_t *r) {
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s", id);
  snprintf(r->what, sizeof(r->what), "PUT /incidents/%s", id);
  pd_http_response_t resp;
  if (rest_request(s, "PUT /incidents/{id}", 400, "PUT", path, body, len, NULL,
                   NULL, &resp) == 0)
    return 0;
  pd_send_result_from(r, &resp);
  return -1;
}

/* Raises an open incident to high urgency when it is not already. */
static void raise_urgency(pd_send_ctx_t *s, const incident_t *inc,
                          pd_send_result_t *r) {
  if (inc->urgency == PD_URGENCY_HIGH) {
    r->kind = PD_SEND_DONE;
    return;
  }
  char *body;
  size_t len;
  if (pd_rest_urgency_body("high", &body, &len) != 0) {
    pd_send_result_set(r, PD_SEND_RETRY, "out of memory");
    return;
  }
  if (put_incident(s, inc->id, body, len, r) == 0)
    r->kind = PD_SEND_DONE;
  free(body);
}

/* REST trigger: POST /incidents, or raise the urgency of the open one. */
void pd_send_rest_trigger(pd_send_ctx_t *s, pd_event_t *ev,
                          pd_send_result_t *r) {
  incident_t inc;
  bool failure = ev->severity == NOTIF_FAILURE;
  if (ev->step == PD_STEP_RAISE) {
    int found = find_open_by_key(s, ev->dedup_key, &inc, r);
    if (found < 0)
      return;
    if (found == 1) {
      pd_notify_set_incident(s->notify, ev->dedup_key, 0, inc.id);
      if (failure)
        raise_urgency(s, &inc, r);
      else
        r->kind = PD_SEND_DONE;
      return;
    }
    /* Resolved meanwhile: open a new one. */
  }

  char *body;
  size_t len;
  if (pd_event_rest_create_body(ev, s->cfg->service, &body, &len) != 0) {
    pd_send_result_set(r, PD_SEND_PERMANENT,
                       "cannot build the POST /incidents body");
    return;
  }
  snprintf(r->what, sizeof(r->what), "POST /incidents");
  memset(&inc, 0, sizeof(inc));
  int found = incident_request(s, "POST /incidents", 400, "POST", "/incidents",
                               body, len, &inc, r);
  free(body);
  if (found == 1) {
    pd_notify_set_incident(s->notify, ev->dedup_key, 0, inc.id);
    r->kind = PD_SEND_DONE;
    return;
  }
  /* A 2xx whose body was cut short or malformed is retried: the resend
   * either creates it or meets the duplicate 400 below. */
  if (found == 0 || r->status != 400)
    return; /* r says why */

  /* A 400 may be PagerDuty refusing a second open incident with this key:
   * then an earlier send (before a crash or a lost answer) got through. */
  pd_send_result_t first = *r;
  pd_send_result_t lookup = {.retry_after_s = -1};
  found = find_open_by_key(s, ev->dedup_key, &inc, &lookup);
  if (found < 0) {
    *r = lookup; /* cannot tell yet: retry the whole event */
    return;
  }
  if (found == 0) {
    *r = first; /* a real 400 */
    return;
  }
  PD_NOTIFY_INFO(block(s),
                 "%s: incident %s with this incident_key is already open "
                 "(an earlier attempt got through); counted as delivered",
                 ev->identifier, inc.id);
  pd_notify_set_incident(s->notify, ev->dedup_key, 0, inc.id);
  if (failure)
    raise_urgency(s, &inc, r);
  else
    r->kind = PD_SEND_DONE;
}

/* REST acknowledge / resolve: PUT status on the target incident, when
 * pd_intent says the write does what the user meant. */
void pd_send_rest_status(pd_send_ctx_t *s, pd_event_t *ev, const char *status,
                         pd_send_result_t *r) {
  pd_incident_view_t v;
  int act = write_target(s, ev, &v, r);
  if (act < 0)
    return;
  if (act == 0) {
    r->kind =
        PD_SEND_DONE; /* nothing to send: the incident is as asked, or gone */
    return;
  }
  const char *resolution = ev->note;
  if (resolution == NULL && ev->message[0] != '\0')
    resolution = ev->message;
  char *body;
  size_t len;
  if (pd_rest_status_body(status, resolution, &body, &len) != 0) {
    pd_send_result_set(r, PD_SEND_RETRY, "out of memory");
    return;
  }
  int put = put_incident(s, v.id, body, len, r);
  free(body);
  /* Resolved by someone in the instant since it was read: PagerDuty may
   * answer "already resolved" (400, code 1001) - done, nothing reopened. */
  if (put == 0 || (r->status == 400 && r->api_code == 1001) ||
      (r->status == 404 && ev->incident == NULL)) /* gone */
    r->kind = PD_SEND_DONE;
}

/* Looks for a note with this content created since the event was. */
typedef struct {
  const char *content;
  time_t since;
  bool content_matches, has_time;
  time_t created;
  bool found;
} note_search_t;

static int note_value(void *ctx, pd_json_stream_t *js,
                      const pd_json_value_t *v) {
  note_search_t *ns = ctx;
  if (v->type != PD_JSON_STRING)
    return PD_JSON_CONTINUE;
  if (pd_json_match(js, 0, "notes/*/content"))
    ns->content_matches = v->len == strlen(ns->content) &&
                          memcmp(v->text, ns->content, v->len) == 0;
  else if (pd_json_match(js, 0, "notes/*/created_at"))
    ns->has_time = pd_time_parse(v->text, v->len, &ns->created) == 0;
  return PD_JSON_CONTINUE;
}

static int note_start(void *ctx, pd_json_stream_t *js, bool is_map) {
  note_search_t *ns = ctx;
  if (is_map && pd_json_match(js, 0, "notes/*"))
    ns->content_matches = ns->has_time = false;
  return PD_JSON_CONTINUE;
}

static int note_end(void *ctx, pd_json_stream_t *js, bool is_map) {
  note_search_t *ns = ctx;
  if (is_map && pd_json_match(js, 0, "notes/*") && ns->content_matches &&
      (!ns->has_time || ns->created >= ns->since))
    ns->found = true;
  return PD_JSON_CONTINUE;
}

/* 1 when the incident has the note already, 0 when not, -1 failed. */
static int note_exists(pd_send_ctx_t *s, const char *id, const pd_event_t *ev,
                       const char *content, pd_send_result_t *r) {
  note_search_t ns = {
      .content = content,
      .since = (time_t)(CDTIME_T_TO_DOUBLE(ev->created) - NOTE_MATCH_SLACK_S),
  };
  pd_json_handlers_t h = {
      .on_value = note_value, .on_start = note_start, .on_end = note_end};
  pd_json_stream_t *js = pd_json_stream_create(&h, &ns, 0);
  if (js == NULL) {
    pd_send_result_set(r, PD_SEND_RETRY, "out of memory");
    return -1;
  }
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s/notes", id);
  snprintf(r->what, sizeof(r->what), "GET /incidents/%s/notes", id);
  pd_http_response_t resp;
  int status = rest_request(s, "GET /incidents/{id}/notes", 0, "GET", path,
                            NULL, 0, feed_json, js, &resp);
  if (status != 0) {
    pd_send_result_from(r, &resp);
  } else if (pd_json_finish(js) != 0) {
    pd_send_result_set(r, PD_SEND_RETRY, "%s: malformed response: %s", r->what,
                       pd_json_error(js));
    status = -1;
  }
  pd_json_stream_destroy(js);
  if (status != 0)
    return -1;
  return ns.found ? 1 : 0;
}

/* REST note, at most once even across a crash. */
void pd_send_rest_note(pd_send_ctx_t *s, pd_event_t *ev, pd_send_result_t *r) {
  const char *content = ev->note != NULL ? ev->note : ev->summary;
  pd_incident_view_t v;
  int act = write_target(s, ev, &v, r);
  if (act < 0)
    return;
  if (act == 0) {
    if (v.id[0] == '\0')
      PD_NOTIFY_INFO(block(s),
                     "%s: no open incident with this dedup key; "
                     "note not sent",
                     ev->identifier);
    r->kind = PD_SEND_DONE;
    return;
  }
  const char *id = v.id;
  if (ev->step == PD_STEP_NOTE_POSTED) {
    int exists = note_exists(s, id, ev, content, r);
    if (exists < 0)
      return;
    if (exists == 1) {
      r->kind = PD_SEND_DONE; /* an earlier POST got through */
      return;
    }
  }
  /* Say "posted" on disk before posting, so a crash in between makes the
   * resend look first. */
  ev->step = PD_STEP_NOTE_POSTED;
  if (pd_event_set_text(&ev->incident_id, id) != 0 ||
      pd_spool_update(s->spool, ev) != PD_SPOOL_OK) {
    pd_send_result_set(r, PD_SEND_RETRY,
                       "cannot save the event before posting the note");
    return;
  }
  char *body;
  size_t len;
  if (pd_rest_note_body(content, &body, &len) != 0) {
    pd_send_result_set(r, PD_SEND_RETRY, "out of memory");
    return;
  }
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s/notes", id);
  snprintf(r->what, sizeof(r->what), "POST /incidents/%s/notes", id);
  pd_http_response_t resp;
  if (rest_request(s, "POST /incidents/{id}/notes", 0, "POST", path, body, len,
                   NULL, NULL, &resp) == 0)
    r->kind = PD_SEND_DONE;
  else
    pd_send_result_from(r, &resp);
  free(body);
}

/* ------------------------------------------------------------- Events */

void pd_send_events(pd_send_ctx_t *s, const pd_event_t *ev,
                    pd_send_result_t *r) {
  char *body;
  size_t len;
  bool dropped;
  if (pd_event_events_body(ev, s->cfg->routing_key, NULL, &body, &len,
                           &dropped) != 0) {
    pd_send_result_set(r, PD_SEND_PERMANENT,
                       "cannot build an Events API body of at most "
                       "512 KB");
    return;
  }
  if (dropped)
    PD_NOTIFY_WARNING(block(s),
                      "%s: custom_details dropped: the event would "
                      "exceed 512 KB",
                      ev->identifier);
  snprintf(r->what, sizeof(r->what), "POST " EVENTS_PATH " (%s)",
           pd_action_name(ev->action));
  r->via_events = true;
  pd_http_request_t req = {
      .method = "POST",
      .path = EVENTS_PATH,
      .body = body,
      .body_len = len,
      .max_wait_s = EVENTS_MAX_WAIT_S,
  };
  pd_http_response_t resp;
  if (pd_http_perform(s->events, &req, &resp) == 0) {
    r->kind = PD_SEND_DONE;
  } else {
    pd_send_result_from(r, &resp);
    /* A server echoing the key must not get it logged or written. */
    const char *key = s->cfg->routing_key;
    size_t n = strlen(key);
    for (char *hit = strstr(r->message, key); n > 0 && hit != NULL;
         hit = strstr(hit + n, key))
      memset(hit, '*', n);
  }
  explicit_bzero(body, len); /* it held the routing key */
  free(body);
}

/* ------------------------------------------------------ reconciliation */

/* PagerDuty's view of an open alert's incident (Account only). */
pd_remote_state_t pd_send_remote_state(pd_send_ctx_t *s,
                                       const pd_open_alert_t *a) {
  pd_send_result_t r = {.retry_after_s = -1};
  if (a->incident_id[0] != '\0') {
    /* Merged away counts as resolved: a resolve would not follow it. */
    pd_incident_view_t v;
    if (get_incident(s, a->incident_id, &v, &r) == 1)
      return v.status == PD_INCIDENT_RESOLVED ? PD_REMOTE_GONE : PD_REMOTE_OPEN;
    return r.status == 404 ? PD_REMOTE_GONE : PD_REMOTE_UNKNOWN;
  }
  incident_t inc;
  int found = find_open_by_key(s, a->key, &inc, &r);
  if (found == 1) {
    pd_notify_set_incident(s->notify, a->key, a->opened, inc.id);
    return PD_REMOTE_OPEN;
  }
  return found == 0 ? PD_REMOTE_GONE : PD_REMOTE_UNKNOWN;
}
