/* SPDX-License-Identifier: MIT */
/*
 * pd_spool_internal.h - what the files of the spool share (pd_spool.h is
 * the spool's interface and its design note). Included by the spool's own
 * files only:
 *
 *   pd_spool_queue.c     open, close, enqueue, sync, the consumer's calls
 *   pd_spool_index.c     the in-memory index and the spool clock
 *   pd_spool_journal.c   the journal: frames, append, convert, replay,
 *                        rotate, cut
 *   pd_spool_prepared.c  prepared files, their thread, placing a record
 *   pd_spool_scan.c      reading the block's directory at open
 *   pd_spool_faults.c    disk-fault state and its messages, directories
 *                        made again, files the disk would not let go
 *   pd_spool_files.c     names, paths, file and directory primitives,
 *                        failed/
 *
 * Locking: `lock` guards every field of pd_spool_s; the functions below
 * that say "the caller holds the lock" expect it, the others take it
 * themselves or touch no shared state.
 */
#ifndef PD_SPOOL_INTERNAL_H
#define PD_SPOOL_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "pd_spool.h"

#define SEQ_DIGITS 20
#define RECORD_SUFFIX ".json"
#define TMP_PREFIX ".tmp-"
#define PRE_PREFIX ".pre-"
#define LOCK_NAME ".lock"
#define JOURNAL_NAME ".journal"
/* Prepared files are made again whenever fewer than this are left. */
#define PREPARED_LOW 64
/* The preparing thread converts the journal once a second, or as soon as
 * this many records wait. */
#define JOURNAL_BATCH 64
/* A journal that could not be emptied is replaced past this size. */
#define JOURNAL_ROTATE_BYTES ((off_t)1 << 20)
/* Directory paths leave room below PATH_MAX for the file names in them. */
#define DIR_PATH_MAX (PATH_MAX - 512)

/* spool_open_dirs(): the disk does not let us now (read-only, full, no
 * permission...) - try again later; or it never will. */
#define DIRS_RETRY (-1)
#define DIRS_FATAL (-2)

/* An event in the journal that is not yet a record file. */
typedef struct {
  uint64_t seq;
  off_t off; /* of its payload in the journal */
  size_t len;
} jrec_t;

/* A file that left the queue but is still on disk (the disk refused). */
typedef struct {
  uint64_t seq;
  char *reason; /* NULL: delivered, remove it; else move it to failed/ */
} stale_t;

struct pd_spool_s {
  pthread_mutex_t lock;
  char *notify;                     /* the block's name, for log lines */
  char root[DIR_PATH_MAX];          /* SpoolDir */
  char name[PD_SPOOL_NAME_MAX + 1]; /* its directory's name */
  char dir[DIR_PATH_MAX];           /* SpoolDir/<name> */
  char failed_dir[DIR_PATH_MAX];    /* SpoolDir/failed */
  int lock_fd;
  size_t max_events; /* 0: unbounded */

  pd_spool_entry_t *entries; /* [head, end) pending, in seq order */
  size_t head, end, cap;
  uint64_t next_seq;

  /* Written since the last pd_spool_sync(). */
  uint64_t *unsynced;
  size_t unsynced_num, unsynced_cap;
  bool sync_all; /* the unsynced list could not grow: sync every file */
  bool dir_dirty, failed_dirty;

  uint64_t dropped, failed, enqueued;

  /* Disk faults (see the header); each logged once per change of state. */
  bool dirs_ok;        /* directories and lock in place */
  bool write_failing;  /* writes fail: events are dropped */
  bool convert_stuck;  /* the disk refused a journal event its file */
  uint64_t unstored;   /* events dropped since writes began to fail */
  bool overflowing;    /* MaxSpoolEvents reached: oldest dropped */
  uint64_t overflowed; /* events dropped since overflow began */
  stale_t *stale;      /* files to remove or move at the next sync */
  size_t stale_num, stale_cap;

  /* Prepared files .pre-<id>, ids [pre_first, pre_end): empty, made by
   * pd_spool_prepare() so that enqueue need not create a file. pre_next is
   * the next id to make (only pd_spool_prepare's thread touches it);
   * pre_gen changes when the pool is given up. */
  uint64_t pre_first, pre_end, pre_next, pre_gen;
  /* The thread that makes them (pd_spool_start_preparing), woken through
   * prep_wake when enqueue leaves fewer than PREPARED_LOW. */
  pthread_t prep_thread;
  bool prep_running, prep_stop;
  pthread_cond_t prep_wake; /* CLOCK_MONOTONIC */

  /* The journal (pd_spool.h). jfd: -1 while closed; opened read-write
   * (pread) and O_APPEND, jsize its length (we are its only writer).
   * jpend: its events that are no record file yet, in seq order; a batch
   * being converted has left jpend (jinflight). jgen changes when the
   * journal is lost with its directory. convert_lock: one conversion at a
   * time (taken before lock, never after). */
  int jfd;
  off_t jsize, jsynced; /* jsynced: its size at the last fdatasync */
  jrec_t *jpend;
  size_t jpend_num, jpend_cap;
  size_t jinflight;
  uint64_t jgen, jconverted; /* jconverted: conversions so far */
  uint64_t jlost;            /* events lost with a deleted journal, for
                                the message of spool_restore_dirs() */
  cdtime_t jlast;            /* spool clock of the last event appended */
  pthread_mutex_t convert_lock;
};

/* pd_spool_index.c */
cdtime_t spool_next_on_clock(cdtime_t wall_next);
ssize_t spool_index_find(const pd_spool_t *s, uint64_t seq);
void spool_index_remove_at(pd_spool_t *s, size_t i);
int spool_index_room(pd_spool_t *s);
int spool_index_append(pd_spool_t *s, const pd_spool_entry_t *entry);
static inline size_t spool_index_size(const pd_spool_t *s) {
  return s->end - s->head;
}
size_t spool_drop_oldest(pd_spool_t *s, size_t limit);
pd_spool_entry_t spool_entry_of(uint64_t seq, const pd_event_t *ev);
bool spool_is_pending(pd_spool_t *s, uint64_t seq);

/* pd_spool_journal.c */
int spool_store_event(pd_spool_t *s, uint64_t seq, const char *json, size_t len,
                      off_t *off);
void spool_journal_lost(pd_spool_t *s);
void spool_journal_convert(pd_spool_t *s);
bool spool_journal_waiting(pd_spool_t *s);
int spool_journal_copy(pd_spool_t *s, uint64_t seq, char **data, size_t *len);
void spool_journal_cut(pd_spool_t *s, uint64_t converted, bool closing);
void spool_journal_rotate(pd_spool_t *s, uint64_t converted);
void spool_journal_recover(pd_spool_t *s);

/* pd_spool_prepared.c */
void spool_prepared_give_up(pd_spool_t *s);
void spool_prepared_remove(pd_spool_t *s);
int spool_place_record(pd_spool_t *s, uint64_t seq, const char *data,
                       size_t len, bool do_fsync);

/* pd_spool_scan.c */
int spool_scan(pd_spool_t *s);

/* pd_spool_faults.c */
void spool_note_write_failure(pd_spool_t *s, const char *what, const char *path,
                              int err);
void spool_note_write_ok(pd_spool_t *s);
void spool_count_unstored(pd_spool_t *s);
int spool_restore_dirs(pd_spool_t *s);
int spool_check_dirs(pd_spool_t *s);
void spool_note_overflow(pd_spool_t *s, size_t dropped);
void spool_add_stale(pd_spool_t *s, uint64_t seq, const char *reason);
void spool_retry_stale(pd_spool_t *s);

/* pd_spool_files.c */
void spool_record_path(const pd_spool_t *s, uint64_t seq, char *buf,
                       size_t size);
void spool_tmp_path(const pd_spool_t *s, uint64_t seq, const char *suffix,
                    char *buf, size_t size);
void spool_pre_path(const pd_spool_t *s, uint64_t id, char *buf, size_t size);
bool spool_parse_record_name(const char *name, uint64_t *seq);
int spool_write_all(int fd, const char *data, size_t len);
int spool_write_new_file(const char *path, const char *data, size_t len,
                         bool do_fsync);
int spool_fsync_path(const char *path, bool directory);
int spool_move_to_failed(pd_spool_t *s, const char *src_path, const char *base,
                         const char *reason, bool counted);
int spool_open_dirs(pd_spool_t *s, char *why, size_t why_size);

/* pd_spool_queue.c */
void spool_note_unsynced(pd_spool_t *s, uint64_t seq);

#endif /* PD_SPOOL_INTERNAL_H */
