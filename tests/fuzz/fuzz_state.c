/* SPDX-License-Identifier: MIT */
/*
 * fuzz_state.c - libFuzzer target: the block state reader (the open-alert
 * state file <spool>/<block>/.state.json that pd_notify_open() loads).
 *
 * The input is the state file's content. It is written where the block
 * looks for it and the block opened on an (empty) spool, as collectd does at
 * start. Checked beyond "no crash": every key the block then lists can be
 * looked up and is a bounded dedup key; and the state survives a save and a
 * re-open (the sender saves it about once a second): same open alerts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "pd_notify.h"
#include "pd_spool.h"

static pd_spool_t *spool;
static pd_notify_config_t cfg = {.name = "fuzz", .resolve_on_okay = true};
static char state_path[512], bad_path[512];

static void setup(void) {
  if (spool != NULL)
    return;
  spool = pd_spool_open(fuzz_scratch_dir(), cfg.name, 0);
  require(spool != NULL);
  snprintf(state_path, sizeof(state_path), "%s/%s", pd_spool_path(spool),
           PD_NOTIFY_STATE_FILE);
  snprintf(bad_path, sizeof(bad_path), "%s/%s", pd_spool_path(spool),
           PD_NOTIFY_STATE_BAD);
}

/* The open keys, each checked; returns how many. */
static size_t check_keys(pd_notify_t *nt) {
  char **keys = NULL;
  ssize_t num = pd_notify_open_keys(nt, &keys);
  require(num >= 0 && (size_t)num == pd_notify_open_count(nt));
  for (ssize_t i = 0; i < num; i++) {
    pd_open_alert_t alert;
    require(pd_notify_lookup(nt, keys[i], &alert) == 0);
    require(strcmp(alert.key, keys[i]) == 0);
    require(alert.key[0] != '\0' && strlen(alert.key) <= PD_DEDUP_KEY_MAX);
  }
  if (num > 0) /* a change, so that closing saves */
    pd_notify_set_incident(nt, keys[0], 0, "PFUZZ01");
  pd_notify_free_keys(keys, (size_t)num);
  return (size_t)num;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  fuzz_write_file(state_path, data, size);

  pd_notify_t *nt = pd_notify_open(&cfg, spool, true);
  require(nt != NULL);
  size_t loaded = check_keys(nt);
  pd_notify_close(nt); /* saves: the incident id changed */

  nt = pd_notify_open(&cfg, spool, true);
  require(nt != NULL);
  require(pd_notify_open_count(nt) == loaded);
  pd_notify_close(nt);

  unlink(state_path);
  unlink(bad_path);
  return 0;
}
