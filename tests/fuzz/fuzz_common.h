/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - small helpers the fuzz targets share.
 *
 * require() turns a broken invariant into a crash libFuzzer reports (and
 * the replay driver counts as a failure). The scratch directory is for the
 * targets whose reader takes a file (token file, block state): one per
 * process, under $PD_FUZZ_SCRATCH, else /dev/shm when there is one (no
 * disk I/O per execution), removed at exit (not after a crash:
 * contrib/fuzz.sh points PD_FUZZ_SCRATCH at a directory it removes).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pd_event.h"

#define require(condition)                                                     \
  do {                                                                         \
    if (!(condition))                                                          \
      abort();                                                                 \
  } while (0)

/* The process's scratch directory (created on first use; aborts when it
 * cannot be). */
const char *fuzz_scratch_dir(void);

/* Writes data to path (created 0600, truncated). Aborts on failure. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);

/* Checks an event the plugin made or read: its strings are valid UTF-8
 * within bounds, it can be written to the spool and read back unchanged,
 * and its Events API and REST bodies are valid JSON within the Events API's
 * size limit. Aborts when not. */
void fuzz_check_event(const pd_event_t *ev);

#endif /* FUZZ_COMMON_H */
