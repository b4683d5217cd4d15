/* SPDX-License-Identifier: MIT */
/*
 * pd_names.h - how entities are named in metric identifiers
 * (doc/contract.md §4).
 *
 * <svc>, <sched>, <policy>, <team> in type instances such as
 * "service-<svc>-triggered" come from the entity's name: ASCII letters
 * lowercased, every run of bytes outside [a-z0-9_] turned into one "_",
 * leading and trailing "_" removed, cut to 64 bytes (in that order, as
 * doc/contract.md §4 lists them, so a cut may leave a trailing "_"); an empty
 * result becomes the lowercased ID. With InstanceBy "id" the name is the
 * lowercased ID.
 *
 * Collisions, per kind of entity. When names collide, every colliding
 * entity that still has its plain name gets "_<lowercased ID>" appended;
 * this repeats until all names are unique. The first round is the rule of
 * doc/contract.md §4 (all entities sharing a name get the suffix). Later rounds
 * handle a suffix that lands on another entity's plain name - "a" (P1), "a"
 * (P2), "a_p1" (P3) -> "a_p1", "a_p2", "a_p1_p3": a suffixed name never changes
 * again, the plain one it met is suffixed in turn. The result depends only
 * on the set of (id, name) pairs, not on their order.
 *
 * Why it ends with unique names: IDs are [a-z0-9] once lowercased (no "_")
 * and unique, so "<base>_<id>" names the ID after its last "_" and two
 * suffixed names never collide; each round suffixes at least one plain
 * name; and a plain name suffixed in round r+1 equals a name suffixed in
 * round r, which is at least 2 bytes longer than its own base, so with
 * bases of at most 64 bytes there are at most 33 rounds: O(n log n) overall.
 * Each entity is suffixed at most once, so no name exceeds
 * PD_INSTANCE_NAME_MAX (64 + 1 + 32 = 97 bytes).
 */
#ifndef PD_NAMES_H
#define PD_NAMES_H

#include <stddef.h>

#include "pd_config.h"
#include "pd_model.h"

#define PD_NAME_BASE_MAX 64 /* a sanitised name, before any suffix */
#define PD_INSTANCE_NAME_MAX (PD_NAME_BASE_MAX + 1 + PD_ID_MAX) /* 97 */

/* A type instance is an instance name inside a series' fixed text
 * (pd_series.def), e.g. "service-<svc>-triggered"; pd_series.c checks at
 * compile time that every series fits collectd's DATA_MAX_NAME_LEN with
 * an instance name of PD_SERIES_INSTANCE_MAX bytes, which pd_names.c checks
 * is PD_INSTANCE_NAME_MAX. */

/*
 * Sanitises name[0..len) by the doc/contract.md §4 rule into out (at least
 * PD_NAME_BASE_MAX + 1 bytes). Returns the length; 0 when nothing is left
 * (the caller then uses the lowercased ID).
 * Exported for tests only.
 */
size_t pd_names_sanitize(const char *name, size_t len,
                         char out[PD_NAME_BASE_MAX + 1]);

/* Lowercases a valid ID into out; -1 (out = "") when id is not valid.
 * Exported for tests only. */
int pd_names_lower_id(const char *id, char out[PD_ID_MAX + 1]);

typedef struct {
  const char *id;   /* in: PagerDuty ID (pd_id_is_valid) */
  const char *name; /* in: entity name; NULL or "" fall back to the ID */
  char instance[PD_INSTANCE_NAME_MAX + 1]; /* out */
} pd_name_entry_t;

/*
 * Assigns unique instance names to one kind's entities. Returns 0; -1 when
 * an ID is invalid, two IDs are equal ignoring case (PagerDuty IDs are
 * unique and upper-case; dedupe by ID first) or memory runs out. On -1 the
 * instance fields are unspecified.
 */
int pd_names_assign(pd_name_entry_t *entries, size_t num, pd_instance_by_t by);

#endif /* PD_NAMES_H */
