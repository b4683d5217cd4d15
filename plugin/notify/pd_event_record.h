/* SPDX-License-Identifier: MIT */
/*
 * pd_event_record.h - the spool record: an event as it is written to and
 * read back from the spool (pd_spool.h), losslessly. Written with yajl_gen,
 * parsed with yajl_tree, never by hand.
 *
 * {"v":2, "notify":..., "created":<t>, "time":<t>, "action":..,
 *  "severity":"FAILURE", "dedup_key":.., "summary":.., "message":..,
 *  "source":.., "component":.., "group":.., "class":.., "identifier":..,
 *  "details":[[name,"s|i|u|d|b",value-as-text],...], "details_dropped":bool,
 *  "note":..|null, "incident":..|null, "incident_id":..|null, "step":n,
 *  "attempts":n, "next_attempt":<t>, "last_error":..|null}
 * Times are collectd's cdtime_t as an integer (2^-30 s since the epoch):
 * exact, and written without floating-point formatting, which the
 * notification callback cannot afford. Version 1 records (the first
 * releases) wrote them as seconds (a double) and are still read. seq is
 * not in the record: the spool file's name holds it. Unknown keys are
 * ignored (later versions may add some); any other "v" is refused.
 */
#ifndef PD_EVENT_RECORD_H
#define PD_EVENT_RECORD_H

#include <stddef.h>

#include "pd_event.h"

/* The spool record format version written; 1 is still read. */
#define PD_EVENT_RECORD_VERSION 2
/* Spool records larger than this are refused as corrupt. */
#define PD_EVENT_RECORD_MAX_BYTES (2 * PD_EVENT_MAX_BYTES)

/* Serialises ev; *json (NUL-terminated, caller frees) and *len. 0 or -1. */
int pd_event_to_record(const pd_event_t *ev, char **json, size_t *len);

/* Parses and validates a record into ev (initialised here; free it whatever
 * the result). Returns 0, or -1 with a reason in err for anything
 * malformed: not JSON, wrong version, a missing or mistyped field, a field
 * longer than its bound, an unknown action or severity. */
int pd_event_from_record(const char *json, size_t len, pd_event_t *ev,
                         char *err, size_t err_size);

#endif /* PD_EVENT_RECORD_H */
