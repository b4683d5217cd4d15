/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spool_record.c - libFuzzer target: the spool record reader
 * (pd_event_from_record, what pd_spool runs on every file it finds), and
 * what the sender then builds from a record it read.
 *
 * The input is a spool file's content. Checked beyond "no crash": an event
 * the reader accepted can be written back and read again unchanged (the
 * spool rewrites records on every attempt), and its Events API and REST
 * bodies are valid JSON within the Events API's size limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "pd_event.h"
#include "pd_event_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pd_event_t ev;
  char err[256];
  int rc =
      pd_event_from_record((const char *)data, size, &ev, err, sizeof(err));
  require(rc == 0 || strlen(err) < sizeof(err));
  if (rc == 0)
    fuzz_check_event(&ev);
  pd_event_free(&ev);
  return 0;
}
