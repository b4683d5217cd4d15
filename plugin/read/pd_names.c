/* SPDX-License-Identifier: MIT */
/*
 * pd_names.c - metric instance names for entities; the rules are in
 * pd_names.h.
 */
#include "pd_names.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pd_series.h"

_Static_assert(PD_INSTANCE_NAME_MAX == PD_SERIES_INSTANCE_MAX,
               "the table of series checks names against this bound");

static bool in_name_class(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_letter_or_digit(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

size_t pd_names_sanitize(const char *name, size_t len,
                         char out[PD_NAME_BASE_MAX + 1]) {
  /*
   * Everything before the first letter or digit becomes leading "_" and
   * everything after the last one trailing "_": both are removed, so only
   * [first, last] is transformed. The cut comes last, as doc/contract.md §4
   * orders it.
   */
  size_t first = 0, end = len;
  while (first < len && !is_letter_or_digit((unsigned char)name[first]))
    first++;
  while (end > first && !is_letter_or_digit((unsigned char)name[end - 1]))
    end--;

  size_t n = 0;
  bool in_run = false; /* inside a run of bytes outside [a-z0-9_] */
  for (size_t i = first; i < end && n < PD_NAME_BASE_MAX; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    if (!in_name_class(c)) {
      if (!in_run)
        out[n++] = '_';
      in_run = true;
      continue;
    }
    in_run = false;
    out[n++] = (char)c;
  }
  out[n] = '\0';
  return n;
}

int pd_names_lower_id(const char *id, char out[PD_ID_MAX + 1]) {
  size_t len = id ? strlen(id) : 0;
  if (!pd_id_is_valid(id, len)) {
    out[0] = '\0';
    return -1;
  }
  for (size_t i = 0; i <= len; i++) {
    char c = id[i];
    out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  return 0;
}

/* Working state per entity while names are assigned. */
typedef struct {
  pd_name_entry_t *entry;
  char lower_id[PD_ID_MAX + 1];
  bool suffixed;
} name_slot_t;

static int compare_by_lower_id(const void *a, const void *b) {
  const name_slot_t *x = *(name_slot_t *const *)a;
  const name_slot_t *y = *(name_slot_t *const *)b;
  return strcmp(x->lower_id, y->lower_id);
}

/* By current name, then by ID, so groups are contiguous and ordered. */
static int compare_by_instance(const void *a, const void *b) {
  const name_slot_t *x = *(name_slot_t *const *)a;
  const name_slot_t *y = *(name_slot_t *const *)b;
  int c = strcmp(x->entry->instance, y->entry->instance);
  return c != 0 ? c : strcmp(x->lower_id, y->lower_id);
}

static void append_id(name_slot_t *slot) {
  char *inst = slot->entry->instance;
  size_t n = strlen(inst);
  /* n <= PD_NAME_BASE_MAX for a plain name, so this always fits */
  inst[n] = '_';
  memcpy(inst + n + 1, slot->lower_id, strlen(slot->lower_id) + 1);
  slot->suffixed = true;
}

/*
 * One round: sorts by current name and suffixes every plain member of each
 * group of equal names. Returns 1 when something changed, 0 when all names
 * are unique, -1 when a group has no plain member (equal IDs).
 */
static int resolve_round(name_slot_t **order, size_t num) {
  int changed = 0;
  qsort(order, num, sizeof(*order), compare_by_instance);
  for (size_t i = 0, j; i < num; i = j) {
    for (j = i + 1; j < num && strcmp(order[i]->entry->instance,
                                      order[j]->entry->instance) == 0;
         j++)
      ;
    if (j - i < 2)
      continue;
    bool any_plain = false;
    for (size_t k = i; k < j; k++) {
      if (!order[k]->suffixed) {
        append_id(order[k]);
        any_plain = true;
      }
    }
    if (!any_plain)
      return -1;
    changed = 1;
  }
  return changed;
}

int pd_names_assign(pd_name_entry_t *entries, size_t num, pd_instance_by_t by) {
  if (num == 0)
    return 0;
  name_slot_t *slots = calloc(num, sizeof(*slots));
  name_slot_t **order = calloc(num, sizeof(*order));
  int status = -1;
  if (slots == NULL || order == NULL)
    goto out;

  for (size_t i = 0; i < num; i++) {
    slots[i].entry = &entries[i];
    order[i] = &slots[i];
    if (pd_names_lower_id(entries[i].id, slots[i].lower_id) != 0)
      goto out;
  }
  qsort(order, num, sizeof(*order), compare_by_lower_id);
  for (size_t i = 1; i < num; i++)
    if (strcmp(order[i - 1]->lower_id, order[i]->lower_id) == 0)
      goto out;

  for (size_t i = 0; i < num; i++) {
    pd_name_entry_t *e = &entries[i];
    size_t n = 0;
    if (by == PD_INSTANCE_BY_NAME && e->name != NULL)
      n = pd_names_sanitize(e->name, strlen(e->name), e->instance);
    if (n == 0)
      memcpy(e->instance, slots[i].lower_id, sizeof(slots[i].lower_id));
  }
  if (by == PD_INSTANCE_BY_ID) {
    status = 0; /* lowercased IDs were just checked to be unique */
    goto out;
  }

  int round;
  while ((round = resolve_round(order, num)) == 1)
    ;
  status = round;
out:
  free(order);
  free(slots);
  return status;
}
