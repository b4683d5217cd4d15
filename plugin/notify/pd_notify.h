/* SPDX-License-Identifier: MIT */
/*
 * pd_notify.h - what one Notify block does with a collectd notification
 * (doc/contract.md §6), and what it remembers about the alerts it opened.
 *
 * pd_notify_handle() runs in the thread that raised the notification (a
 * write thread for the threshold plugin, the unixsock thread for PUTNOTIF).
 * It matches, maps (pd_event.h), decides and, when there is something to
 * send, writes the event into the block's spool - and returns. It never
 * touches the network; the block's sender thread (pd_sender.h) delivers.
 *
 * Decisions, per dedup key:
 *   FAILURE/WARNING, key not open     trigger; the key is now open
 *   the same, key open (a repeat)     nothing; with an Account and a
 *                                     NoteInterval, a note "still FAILURE:
 *                                     <message>" at most every NoteInterval
 *   FAILURE while open at WARNING     trigger again at FAILURE (the sender
 *                                     raises the REST urgency or re-triggers
 *                                     at critical through the Events API)
 *   OKAY, key open                    resolve; the key is closed
 *   OKAY, key not open                nothing (the threshold plugin's
 *                                     start-up OKAYs cause no traffic)
 *   pagerduty_action override         always acted on: trigger (opens),
 *                                     acknowledge, resolve (closes), note
 *                                     (needs an Account)
 *
 * The open-alert state. Per open dedup key: the collectd identifier (for
 * reconciliation), the highest severity seen, the REST incident id once
 * the sender learns it, when it opened and when the last note was decided.
 * It lives in memory, guarded by the block's mutex, and is saved to
 * <block spool dir>/.state.json (0600; temporary file, fsync, rename) by the
 * sender thread about once a second, never by collectd's threads. Events
 * are durable before the state is saved, so at open the state file is read
 * and then every event still in the spool is replayed onto it; and the
 * sender saves the state before it removes an event the file does not
 * reflect yet (pd_notify_save_through). So a crash (kill -9) at any point
 * loses no decision. The file holds no secret.
 */
#ifndef PD_NOTIFY_H
#define PD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "pd_config.h"
#include "pd_event.h"
#include "pd_model.h"
#include "pd_spool.h"

/* The state file in the block's spool directory, and its temporary and
 * quarantine names (pd_spool ignores names starting PD_SPOOL_STATE_PREFIX). */
#define PD_NOTIFY_STATE_FILE PD_SPOOL_STATE_PREFIX ".json"
#define PD_NOTIFY_STATE_TMP PD_SPOOL_STATE_PREFIX ".json.new"
#define PD_NOTIFY_STATE_BAD PD_SPOOL_STATE_PREFIX ".json.corrupt"
#define PD_NOTIFY_STATE_VERSION 1
/* The most open alerts remembered per block; beyond, the oldest is
 * forgotten (logged). A state file larger than this many bytes is refused. */
#define PD_NOTIFY_MAX_OPEN 100000
#define PD_NOTIFY_STATE_MAX_BYTES (256 * 1024 * 1024)

/*
 * ev->step values: what a delivery has done so far (persisted with the
 * event, so a resend after a crash knows where it stands).
 */
enum {
  PD_STEP_NEW = 0,   /* nothing sent yet */
  PD_STEP_RAISE = 1, /* set at decision: a trigger of a key already open at
                        a lower severity (REST: PUT urgency high) */
  PD_STEP_NOTE_POSTED = 2, /* a note POST may have reached PagerDuty: check
                              the incident's notes before posting again */
};

/* One open alert, as a copy (see pd_notify_lookup). */
typedef struct {
  char key[PD_DEDUP_KEY_MAX + 1];
  char identifier[PD_IDENTIFIER_MAX];
  int severity;        /* NOTIF_FAILURE or NOTIF_WARNING: the highest seen */
  pd_id_t incident_id; /* "" while unknown */
  cdtime_t opened;     /* when the trigger was decided; identifies this
                          opening of the key (a later re-open differs) */
  cdtime_t last_note;  /* the last note decision (or opened) */
} pd_open_alert_t;

/* Results of pd_notify_handle(). */
typedef enum {
  PD_NOTIFY_IGNORED = 0, /* the block does not match the notification */
  PD_NOTIFY_NOTHING,     /* matched; nothing to send (repeat, start-up OKAY,
                            OKAY without ResolveOnOkay) */
  PD_NOTIFY_QUEUED,      /* an event was spooled */
  PD_NOTIFY_FAILED,      /* matched, but refused or could not be spooled
                            (logged) */
} pd_notify_result_t;

typedef struct pd_notify_s pd_notify_t;

/*
 * Sets up a block on its open spool (borrowed: it must outlive the block):
 * loads the state file and replays the spool onto it. has_account says
 * whether the block has an Account (notes, REST). Returns NULL after
 * logging when memory runs out; an unreadable or corrupt state file is
 * set aside (logged) and the block starts from the spool alone.
 */
pd_notify_t *pd_notify_open(const pd_notify_config_t *cfg, pd_spool_t *spool,
                            bool has_account);

/* Saves the state when it changed, and frees the block (not the spool). */
void pd_notify_close(pd_notify_t *nt);

/* Called (outside the block's lock) after every event spooled, so the
 * sender wakes at once. */
void pd_notify_set_wake(pd_notify_t *nt, void (*wake)(void *ctx), void *ctx);

/*
 * Matches n against the block and, when it matches, maps, decides and
 * spools (see above). now is the time decisions are made at (cdtime());
 * tests pass other times to step through NoteInterval.
 */
pd_notify_result_t pd_notify_handle(pd_notify_t *nt, const notification_t *n,
                                    cdtime_t now);

const pd_notify_config_t *pd_notify_config(const pd_notify_t *nt);
pd_spool_t *pd_notify_spool(const pd_notify_t *nt);

/* ---- the open-alert state, for the sender and reconciliation ---------- */

/* Copies the open alert of key into *out (when not NULL). 0, or -1 when the
 * key is not open. */
int pd_notify_lookup(pd_notify_t *nt, const char *key, pd_open_alert_t *out);

/* Number of open alerts.
 * Exported for tests only. */
size_t pd_notify_open_count(pd_notify_t *nt);

/* The keys of every open alert, oldest opening first (*keys: an array of
 * strings, free with pd_notify_free_keys). Returns the count or -1. */
ssize_t pd_notify_open_keys(pd_notify_t *nt, char ***keys);
void pd_notify_free_keys(char **keys, size_t num);

/* Records the REST incident id of an open key, when it is still the same
 * opening (opened; 0 = any). */
void pd_notify_set_incident(pd_notify_t *nt, const char *key, cdtime_t opened,
                            const char *incident_id);

/* Forgets an open key (PagerDuty has it resolved, or its trigger was
 * dead-lettered) when it is still the same opening (opened; 0 = any).
 * Returns true when something was forgotten. */
bool pd_notify_forget(pd_notify_t *nt, const char *key, cdtime_t opened);

/*
 * Spools the events of ev[0..num) (all for key) and closes the key, but only
 * when the key is still open with the same opening - under the block's lock,
 * so a notification arriving meanwhile is decided after it. Used by
 * reconciliation to resolve an alert whose OKAY was lost. Returns 1 when
 * spooled, 0 when the key changed meanwhile (nothing spooled), -1 on error.
 */
int pd_notify_close_with(pd_notify_t *nt, const char *key, cdtime_t opened,
                         pd_event_t *ev, size_t num);

/* Writes the state file when it changed since the last save (sender
 * thread, and at close). 0, or -1 (logged; retried on the next call). */
int pd_notify_save(pd_notify_t *nt);

/* Makes sure the state file reflects every event up to spool sequence seq
 * (saving when it does not yet), before the sender removes that event from
 * the spool. 0 or -1 (logged). */
int pd_notify_save_through(pd_notify_t *nt, uint64_t seq);

#endif /* PD_NOTIFY_H */
