/* SPDX-License-Identifier: MIT */
/*
 * pd_spool.h - the durable notification queue of one Notify block
 * (doc/contract.md §6).
 *
 * Layout on disk:
 *   SpoolDir/                        0700
 *   SpoolDir/<block>/                0700, one per Notify block
 *   SpoolDir/<block>/.lock           flock()ed while a spool has it open
 *   SpoolDir/<block>/.journal        0600, events appended by enqueue, not
 *                                    all of them record files yet
 *   SpoolDir/<block>/<seq>.json      0600, one event (pd_event_to_record);
 *                                    <seq> is 20 decimal digits, so names
 *                                    sort as numbers do
 *   SpoolDir/<block>/.pre-<id>       an empty file made ahead (see below)
 *   SpoolDir/<block>/.tmp-<seq>[.u]  a write in progress (renamed into place)
 *   SpoolDir/failed/                 0700, dead letters of every block:
 *     <block>-<seq>.json + <block>-<seq>.json.reason (one line of text)
 * <block> is the Notify name when it is made only of [A-Za-z0-9_.-] (not
 * starting with '.', at most 64 bytes, not "failed"); any other name is
 * sanitised (other bytes become '_') and gets "-<8 hex digits of its hash>"
 * appended, so two names never share a directory.
 *
 * Durability. Enqueue, called from collectd's threads, appends the event to
 * the block's journal with one write() of one frame (length, seq, hashes of
 * header and record) to a file kept open: once it returns, the event is in
 * the page cache and survives a crash of collectd (kill -9), as a renamed
 * file would. It does not fsync - that could block the thread that raised
 * the alert for a long time. The event is in the index at once.
 *
 * Conversion. The journal's events become <seq>.json files, in order, off
 * the callback's path: when the sender loads one (it needs the file), in
 * pd_spool_sync(), and in the preparing thread (once a second, or when
 * 64 events wait: the sender may be stuck in a request). After each
 * batch a "done up to <seq>" frame is appended, before the sender can load
 * any of them: at open, events up to the last such frame are skipped (they
 * may have been delivered and removed since), later ones get their file
 * unless it exists. So no event is made twice, and none is lost. A torn
 * last frame (a callback killed inside its write: it never returned) is
 * discarded with a WARNING, a damaged one elsewhere skipped with one.
 *
 * pd_spool_sync(), about once a second from the sender thread, converts,
 * fsyncs the files made since and the directories, and fdatasyncs the
 * journal, so events also survive a power loss after a second. Then, when
 * every event of the journal is a file, it is emptied (ftruncate); a
 * journal that could not be emptied is replaced past 1 MiB by a new one
 * holding only its pending events; after a second without events it is
 * closed (a file open for writing would stop the file system from being
 * remounted read-only). Updates (sender thread) fsync before their rename.
 *
 * Prepared files. Creating a file (an inode allocation) is the dearest step
 * of a conversion: on a busy ext4 it takes a millisecond or more (the inode
 * allocator's search), while opening an existing file takes microseconds.
 * So a thread of the spool's own (pd_spool_start_preparing; the sender
 * starts it) keeps up to 128 empty files SpoolDir/<block>/.pre-<id> ready,
 * making more whenever fewer than 64 are left, and a conversion writes its
 * event into one of them and renames it into place; with none ready it
 * creates a .tmp-<seq> file. Unused prepared files are removed at close.
 *
 * Crash leftovers. At open the journal is replayed first, then every file
 * is read and validated. Temporary and prepared files holding data are
 * interrupted conversions or updates - their event is in the journal or in
 * its record - and are removed (INFO); empty prepared files too. Records
 * that do not parse are moved to failed/ with the reason; they never stop
 * the queue. Files that are too open (group/other bits) are
 * chmod()ed to 0600, directories to 0700, with a WARNING.
 *
 * Memory. Only a small index is kept: per event its sequence number, a hash
 * of its dedup key (for per-key ordering), its creation and next attempt
 * time - 32 bytes, so 100,000 pending events take about 3 MB. Events are
 * read from disk when they are to be sent.
 *
 * Threads. Every function may be called from any thread; one mutex guards
 * the index and the journal. Enqueue holds it while appending so the index
 * is always in sequence order and a consumer never sees a gap fill in
 * behind it. Conversions write their files without it.
 * There is meant to be one consumer (the block's sender thread) calling
 * load/update/remove/fail/sync.
 *
 * Disk faults. Nothing a disk does makes the callback wait or crash:
 *   - a write that fails (disk full, read-only, I/O error) drops that one
 *     event: it is counted in `dropped` (derive-dropped) and logged once
 *     when writes start failing and once when they work again (when a
 *     journal event is made a file again). While events in the journal
 *     cannot be made files (a conversion failed), new ones are refused
 *     (dropped) too, although one might still fit into the journal's last
 *     block; a failed append to the journal refuses nothing after it;
 *   - an update that cannot be written still reschedules the event in
 *     memory (no busy loop); a delivered or dead-lettered event whose file
 *     cannot be removed leaves the queue and its file is removed (or moved
 *     to failed/) by pd_spool_sync() once the disk lets it;
 *   - a block or failed/ directory that disappears (SpoolDir deleted) is
 *     created again by the next enqueue (it checks that its open journal
 *     still has a name: one fstat()) or sync; events that were queued in it
 *     are lost and counted as dropped;
 *   - directories that cannot be made at open (read-only file system, no
 *     permission) do not stop collectd: the spool starts empty and keeps
 *     trying, dropping (counting) what it cannot store meanwhile.
 * MaxSpoolEvents overflow also counts in `dropped`; it is logged when it
 * starts and when the queue has room again (below 90 %).
 *
 * Clocks. The index schedules on the spool clock, pd_spool_now(): the
 * monotonic clock, so stepping the wall clock neither delays nor hurries a
 * retry or an expiry. Records hold wall-clock times (they outlive reboots,
 * which restart the monotonic clock); when a record is indexed its age and
 * wait are taken from the wall clock, the wait bounded by
 * PD_SPOOL_MAX_WAIT_S.
 *
 * The spool holds no secret: pd_event_t has no field for one.
 */
#ifndef PD_SPOOL_H
#define PD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pd_event.h"
#include "pd_event_record.h"

#define PD_SPOOL_FAILED_DIR "failed"
/* Files in a block's directory whose names start with this belong to the
 * block's notification state (pd_notify.h); the spool leaves them alone. */
#define PD_SPOOL_STATE_PREFIX ".state"
/* Longest block directory name: 64 bytes of name + "-" + 8 hex digits. */
#define PD_SPOOL_NAME_MAX 73

typedef struct pd_spool_s pd_spool_t;

/* The longest a record's next attempt may lie ahead when it is indexed
 * (the sender never waits longer: PD_SENDER_NAMED_WAIT_CAP_S), so a wall
 * clock stepped back while collectd was down delays nothing for longer. */
#define PD_SPOOL_MAX_WAIT_S 3600.0
/* The spool clock starts this far from zero, so that the creation time of
 * an event older than the last boot can be expressed on it (136 years). */
#define PD_SPOOL_CLOCK_BASE_S 4294967296.0

/* Now on the spool clock: the monotonic clock (pd_monotonic_now()) plus
 * PD_SPOOL_CLOCK_BASE_S, as a cdtime_t. Only differences mean anything. */
cdtime_t pd_spool_now(void);

/* What the index knows of one pending event. Times are on the spool clock
 * (pd_spool_now), not the wall clock of the record. */
typedef struct {
  uint64_t seq;
  uint64_t key_hash;     /* pd_hash64() of the dedup key */
  cdtime_t created;      /* when it was created */
  cdtime_t next_attempt; /* 0: as soon as possible */
} pd_spool_entry_t;

typedef struct {
  size_t pending;          /* events in the queue */
  cdtime_t oldest_created; /* spool clock creation time of the oldest; 0
                              when empty */
  uint64_t dropped;        /* since open: dropped on overflow, or not
                              stored (disk full, spool unwritable) */
  uint64_t failed;   /* moved to failed/ since open (crash leftovers too) */
  uint64_t enqueued; /* accepted since open */
} pd_spool_stats_t;

/*
 * Opens (creating what is missing) the spool of Notify block notify_name
 * under spool_dir and loads its index. max_events bounds the queue
 * (MaxSpoolEvents; 0 = unbounded); when more events are found on disk, the
 * oldest are dropped (counted, logged). Returns NULL after logging an ERROR
 * when the directories cannot be created or used, or when another process
 * has the spool open.
 */
pd_spool_t *pd_spool_open(const char *spool_dir, const char *notify_name,
                          size_t max_events);

/* Syncs what is pending and closes. NULL is fine. */
void pd_spool_close(pd_spool_t *spool);

/*
 * Appends ev: assigns ev->seq (and ev->created when 0), appends it to the
 * journal (see above; its file is made later). When the queue is full, the
 * oldest events are dropped to make room and *dropped (may be NULL) says how
 * many, for the caller to log and count. Returns 0, or -1 after logging an
 * ERROR (the event is not queued).
 */
int pd_spool_enqueue(pd_spool_t *spool, pd_event_t *ev, size_t *dropped);

/* Makes files of the journal's events, fsyncs the files written since the
 * last call, the directories changed and the journal, and empties (or
 * closes) the journal when it can (see above). For the sender thread,
 * about once a second. Returns 0 or -1 (logged). */
int pd_spool_sync(pd_spool_t *spool);

/* Makes prepared files (see above) when fewer than half are left. One
 * caller at a time (the preparing thread; tests); cheap when there are
 * enough. Never logs: when the disk refuses, conversions create their files
 * and report. */
void pd_spool_prepare(pd_spool_t *spool);

/* Starts the thread that calls pd_spool_prepare() when half of the prepared
 * files are used, and converts the journal once a second or when 64 events
 * wait in it. 0, or -1 (logged: then conversions create their files
 * themselves, and the sender and the sync convert). Idempotent. */
int pd_spool_start_preparing(pd_spool_t *spool);

/* Stops and joins that thread; nothing when it is not running. Close does
 * it too. */
void pd_spool_stop_preparing(pd_spool_t *spool);

/* The first pending entry with seq > after_seq (after_seq 0: the oldest).
 * Returns 0 and fills *entry, or -1 when there is none. */
int pd_spool_next(pd_spool_t *spool, uint64_t after_seq,
                  pd_spool_entry_t *entry);

/*
 * What to send next at time now (spool clock): the oldest pending event that is
 * the first of its dedup key (one key's events go out in order, doc/contract.md
 * §6) and whose next_attempt has come. Returns 0 and fills *entry; or -1 when
 * nothing is due, with *wake_at (may be NULL) the earliest next_attempt among
 * the first events of each key (0 when the queue is empty).
 */
int pd_spool_next_due(pd_spool_t *spool, cdtime_t now, pd_spool_entry_t *entry,
                      cdtime_t *wake_at);

/* A copy of the whole index in sequence order (*entries: caller frees;
 * NULL when empty). Returns the number of entries, or -1 when memory runs
 * out. For replay at start and for tests; senders iterate with _next(). */
ssize_t pd_spool_list(pd_spool_t *spool, pd_spool_entry_t **entries);

/* Results of pd_spool_load / _update / _remove / _fail. */
#define PD_SPOOL_OK 0
#define PD_SPOOL_GONE 1 /* not (any more) in the queue: removed or dropped */
#define PD_SPOOL_ERROR (-1)

/*
 * Reads event seq from disk into ev (initialised here; pd_event_free() it
 * whatever the result), converting the journal first when it holds events
 * (when the disk refuses the file, the event is read from the journal). A
 * record that no longer parses is moved to failed/ and PD_SPOOL_ERROR
 * returned; the queue goes on.
 */
int pd_spool_load(pd_spool_t *spool, uint64_t seq, pd_event_t *ev);

/* Rewrites the record of ev->seq (attempts, next attempt, last error,
 * incident id, step...) atomically: temporary file, fsync, rename.
 * ev->next_attempt is wall clock (cdtime()), as in the record. When the
 * file cannot be written the index still takes the new next attempt and
 * PD_SPOOL_ERROR is returned. */
int pd_spool_update(pd_spool_t *spool, const pd_event_t *ev);

/* Reads a whole regular file of at most max_bytes (no symbolic link; a FIFO
 * or other special file is refused without blocking). *data is
 * NUL-terminated and the caller frees it. On failure errno is set (ENOENT:
 * no such file) and *why says what is wrong, in words. Shared by the spool
 * records and the block state file. */
int pd_spool_read_file(const char *path, size_t max_bytes, char **data,
                       size_t *len, const char **why);

/* Schedules ev's next attempt wait_s seconds from now (bounded by
 * PD_SPOOL_MAX_WAIT_S) and rewrites its record as pd_spool_update() does.
 * The record's wall-clock time and the index's spool-clock time come from
 * the same moment, so a wall-clock step while the sender decides cannot
 * stretch the wait (converting a wall time later, as pd_spool_update()
 * must, would read the stepped clock). */
int pd_spool_retry_in(pd_spool_t *spool, pd_event_t *ev, double wait_s);

/* Removes a delivered event. When its file cannot be removed it leaves
 * the queue anyway (PD_SPOOL_OK) and the file goes at a later sync. */
int pd_spool_remove(pd_spool_t *spool, uint64_t seq);

/* Moves event seq to failed/, with reason (one line, no secrets) written to
 * failed/<block>-<seq>.json.reason. When it cannot be moved now it leaves
 * the queue anyway and is moved at a later sync. */
int pd_spool_fail(pd_spool_t *spool, uint64_t seq, const char *reason);

/* Moves a damaged file of the block's directory that is not an event (the
 * block's state file) to failed/<block>-<name without leading dot>, with
 * reason beside it. 0, or -1 (logged) when it could not be moved. */
int pd_spool_quarantine(pd_spool_t *spool, const char *name,
                        const char *reason);

void pd_spool_stats(pd_spool_t *spool, pd_spool_stats_t *stats);

/* The block's directory, for messages. */
const char *pd_spool_path(const pd_spool_t *spool);

/* Bytes the index allocates (for the 100,000-event budget).
 * Exported for tests only. */
size_t pd_spool_index_bytes(pd_spool_t *spool);

/* The directory name a Notify block gets (see above); out_size >=
 * PD_SPOOL_NAME_MAX + 1.
 * Exported for tests only. */
void pd_spool_dir_name(const char *notify_name, char *out, size_t out_size);

#endif /* PD_SPOOL_H */
