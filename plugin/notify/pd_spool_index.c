/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_index.c - the spool's in-memory index (pd_spool.h, "Memory")
 * and its clock, and the consumer's reads of it (next, next due, list,
 * stats).
 *
 * The index is an array of entries in sequence order, used as a deque:
 * events leave mostly from the front (delivered in order), so removing
 * there only advances `head`; a removal elsewhere (another dedup key got
 * through first) shifts the shorter side by one entry.
 */

#include "pd_spool_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_http.h" /* pd_monotonic_now() */

cdtime_t pd_spool_now(void) {
  return DOUBLE_TO_CDTIME_T(pd_monotonic_now() + PD_SPOOL_CLOCK_BASE_S);
}

/* A record's wall-clock creation time on the spool clock: its age now by
 * the wall clock (none when it lies in the future: the clock went back). */
static cdtime_t created_on_spool_clock(cdtime_t wall_created) {
  cdtime_t wall = cdtime(), now = pd_spool_now();
  cdtime_t age = wall > wall_created ? wall - wall_created : 0;
  cdtime_t base = DOUBLE_TO_CDTIME_T(PD_SPOOL_CLOCK_BASE_S);
  return age < base ? now - age : now - base;
}

/* A record's wall-clock next attempt on the spool clock, the wait bounded
 * by PD_SPOOL_MAX_WAIT_S. */
cdtime_t spool_next_on_clock(cdtime_t wall_next) {
  if (wall_next == 0)
    return 0;
  cdtime_t wall = cdtime(), now = pd_spool_now();
  cdtime_t wait = wall_next > wall ? wall_next - wall : 0;
  cdtime_t max = DOUBLE_TO_CDTIME_T(PD_SPOOL_MAX_WAIT_S);
  return now + (wait < max ? wait : max);
}

/* Index of the first entry with seq >= seq (end when none). */
static size_t index_lower_bound(const pd_spool_t *s, uint64_t seq) {
  size_t lo = s->head, hi = s->end;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->entries[mid].seq < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

ssize_t spool_index_find(const pd_spool_t *s, uint64_t seq) {
  size_t i = index_lower_bound(s, seq);
  if (i < s->end && s->entries[i].seq == seq)
    return (ssize_t)i;
  return -1;
}

void spool_index_remove_at(pd_spool_t *s, size_t i) {
  size_t sz = sizeof(*s->entries);
  if (i - s->head < s->end - 1 - i) {
    memmove(s->entries + s->head + 1, s->entries + s->head, (i - s->head) * sz);
    s->head++;
  } else {
    memmove(s->entries + i, s->entries + i + 1, (s->end - 1 - i) * sz);
    s->end--;
  }
  if (s->head == s->end) {
    s->head = s->end = 0;
    if (s->cap > 1024) { /* a drained burst gives its memory back */
      free(s->entries);
      s->entries = NULL;
      s->cap = 0;
    }
  }
}

/* Room for one more index entry at the end: the live part moves to the
 * front when at least half the array is spent, else the array doubles.
 * 0 or -1. */
int spool_index_room(pd_spool_t *s) {
  if (s->end == s->cap) {
    if (s->head >= s->cap / 2 && s->head > 0) {
      memmove(s->entries, s->entries + s->head,
              (s->end - s->head) * sizeof(*s->entries));
      s->end -= s->head;
      s->head = 0;
    } else {
      size_t cap = s->cap == 0 ? 64 : s->cap * 2;
      pd_spool_entry_t *grown = realloc(s->entries, cap * sizeof(*grown));
      if (grown == NULL)
        return -1;
      s->entries = grown;
      s->cap = cap;
    }
  }
  return 0;
}

/* Appends an entry whose seq is larger than all others. */
int spool_index_append(pd_spool_t *s, const pd_spool_entry_t *entry) {
  if (spool_index_room(s) != 0)
    return -1;
  s->entries[s->end++] = *entry;
  return 0;
}

/* Drops the oldest events until fewer than limit remain. The caller holds
 * the lock. Returns how many were dropped. */
size_t spool_drop_oldest(pd_spool_t *s, size_t limit) {
  size_t dropped = 0;
  while (spool_index_size(s) > 0 && spool_index_size(s) >= limit) {
    char path[PATH_MAX];
    spool_record_path(s, s->entries[s->head].seq, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
      PD_NOTIFY_WARNING(s->notify, "cannot remove %s: %s", path,
                        strerror(errno));
    spool_index_remove_at(s, s->head);
    dropped++;
  }
  s->dropped += dropped;
  if (dropped > 0)
    s->dir_dirty = true;
  return dropped;
}

/* The index entry of a record (its wall-clock times on the spool clock). */
pd_spool_entry_t spool_entry_of(uint64_t seq, const pd_event_t *ev) {
  return (pd_spool_entry_t){
      .seq = seq,
      .key_hash = pd_hash64(ev->dedup_key, strlen(ev->dedup_key)),
      .created = created_on_spool_clock(ev->created),
      .next_attempt = spool_next_on_clock(ev->next_attempt),
  };
}

int pd_spool_next(pd_spool_t *s, uint64_t after_seq, pd_spool_entry_t *entry) {
  pthread_mutex_lock(&s->lock);
  size_t i = index_lower_bound(s, after_seq + 1);
  int status = -1;
  if (i < s->end) {
    *entry = s->entries[i];
    status = 0;
  }
  pthread_mutex_unlock(&s->lock);
  return status;
}

/* A set of dedup key hashes, for one scan of the index. */
typedef struct {
  uint64_t *slots; /* 0 = empty; hashes of 0 are stored as 1 */
  size_t mask;
} key_set_t;

static int key_set_init(key_set_t *set, size_t expected) {
  size_t size = 64;
  while (size < 2 * expected)
    size *= 2;
  set->slots = calloc(size, sizeof(*set->slots));
  set->mask = size - 1;
  return set->slots != NULL ? 0 : -1;
}

/* Adds key; returns true when it was there already. */
static bool key_set_add(key_set_t *set, uint64_t key) {
  if (key == 0)
    key = 1;
  for (size_t i = (size_t)key & set->mask;; i = (i + 1) & set->mask) {
    if (set->slots[i] == key)
      return true;
    if (set->slots[i] == 0) {
      set->slots[i] = key;
      return false;
    }
  }
}

int pd_spool_next_due(pd_spool_t *s, cdtime_t now, pd_spool_entry_t *entry,
                      cdtime_t *wake_at) {
  cdtime_t wake = 0;
  int status = -1;
  pthread_mutex_lock(&s->lock);
  if (spool_index_size(s) > 0) {
    const pd_spool_entry_t *head = &s->entries[s->head];
    wake = head->next_attempt;
    if (head->next_attempt <= now) {
      *entry = *head; /* the usual case: no scan */
      status = 0;
    } else {
      /* The head waits (backoff): look past it, skipping every event whose
       * key already has an earlier one waiting. */
      key_set_t blocked;
      if (key_set_init(&blocked, spool_index_size(s)) == 0) {
        key_set_add(&blocked, head->key_hash);
        for (size_t i = s->head + 1; i < s->end; i++) {
          const pd_spool_entry_t *e = &s->entries[i];
          if (key_set_add(&blocked, e->key_hash))
            continue;
          if (e->next_attempt <= now) {
            *entry = *e;
            status = 0;
            break;
          }
          if (e->next_attempt < wake)
            wake = e->next_attempt;
        }
        free(blocked.slots);
      }
    }
  }
  pthread_mutex_unlock(&s->lock);
  if (wake_at != NULL)
    *wake_at = status == 0 ? now : wake;
  return status;
}

ssize_t pd_spool_list(pd_spool_t *s, pd_spool_entry_t **entries) {
  *entries = NULL;
  pthread_mutex_lock(&s->lock);
  size_t num = spool_index_size(s);
  if (num > 0) {
    *entries = malloc(num * sizeof(**entries));
    if (*entries == NULL) {
      pthread_mutex_unlock(&s->lock);
      return -1;
    }
    memcpy(*entries, s->entries + s->head, num * sizeof(**entries));
  }
  pthread_mutex_unlock(&s->lock);
  return (ssize_t)num;
}

bool spool_is_pending(pd_spool_t *s, uint64_t seq) {
  pthread_mutex_lock(&s->lock);
  bool pending = spool_index_find(s, seq) >= 0;
  pthread_mutex_unlock(&s->lock);
  return pending;
}

void pd_spool_stats(pd_spool_t *s, pd_spool_stats_t *stats) {
  pthread_mutex_lock(&s->lock);
  stats->pending = spool_index_size(s);
  /* The lowest seq was queued first: it is the oldest. */
  stats->oldest_created = stats->pending > 0 ? s->entries[s->head].created : 0;
  stats->dropped = s->dropped;
  stats->failed = s->failed;
  stats->enqueued = s->enqueued;
  pthread_mutex_unlock(&s->lock);
}

size_t pd_spool_index_bytes(pd_spool_t *s) {
  pthread_mutex_lock(&s->lock);
  size_t bytes =
      s->cap * sizeof(*s->entries) + s->unsynced_cap * sizeof(*s->unsynced);
  pthread_mutex_unlock(&s->lock);
  return bytes;
}
