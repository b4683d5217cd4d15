/* SPDX-License-Identifier: MIT */
/*
 * pagerduty.c - collectd glue for the PagerDuty plugin.
 *
 * This file only connects collectd to the rest of the plugin: it hands the
 * configuration to pd_config, turns each <Account> into a read callback,
 * each <Notify> into a spool, a sender thread and a metrics read callback,
 * passes notifications to the Notify blocks, and dispatches what the other
 * modules compute. Everything with logic in it lives in a module that is
 * tested without the daemon.
 *
 * Lifetime. collectd 5.12 stops the read threads and runs the read
 * callbacks' free_funcs before the shutdown callbacks, but sender threads
 * use an account's HTTP client until they are stopped. So everything built
 * at init (accounts, spools, blocks, senders) is owned by `runtime`, read
 * callbacks are registered without free_func, and pd_shutdown() tears it
 * all down in order: no more notifications taken, HTTP cancelled, senders
 * joined, blocks and spools closed, accounts freed, config freed.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_cache.h"
#include "collectd/core/utils/common/common.h"

#include <pthread.h>

#include "pd_account.h"
#include "pd_config.h"
#include "pd_http.h"
#include "pd_log.h"
#include "pd_metrics.h"
#include "pd_notify.h"
#include "pd_reconcile.h"
#include "pd_rest.h"
#include "pd_sender.h"
#include "pd_spool.h"
#include "pd_template.h"

/* The parsed configuration: collectd hands config blocks to a callback that
 * has no user data, so this is the one piece of plugin-wide state. The read
 * callbacks borrow their account's config from it. */
static pd_config_t plugin_config;
static bool plugin_config_ready;
static bool http_ready;

/* One <Notify> block at run time. */
typedef struct {
  const pd_notify_config_t *cfg; /* borrowed from plugin_config */
  pd_spool_t *spool;
  pd_notify_t *notify;
  pd_sender_t *sender;
} notify_block_t;

/* Everything init builds; freed by pd_shutdown() only. */
static struct {
  pd_account_t **accounts; /* parallel to plugin_config.accounts */
  size_t accounts_num;
  notify_block_t *blocks; /* parallel to plugin_config.notifies */
  size_t blocks_num;
} runtime;

/* Notification callbacks run in whatever thread raised the notification,
 * possibly while pd_shutdown() tears the blocks down: they hold this for
 * reading, shutdown closes the door holding it for writing. */
static pthread_rwlock_t runtime_lock = PTHREAD_RWLOCK_INITIALIZER;
static bool notifications_open; /* under runtime_lock */

/* The sink that hands computed values to collectd. */
static int dispatch_metric(__attribute__((unused)) void *ctx,
                           const pd_metric_t *metric) {
  value_list_t vl = VALUE_LIST_INIT;
  value_t value;

  if (metric->kind == PD_DS_DERIVE)
    value.derive = (derive_t)metric->derive;
  else
    value.gauge = (gauge_t)metric->gauge;
  vl.values = &value;
  vl.values_len = 1;
  /* An empty host makes collectd fill in its own Hostname. */
  sstrncpy(vl.host, metric->host, sizeof(vl.host));
  sstrncpy(vl.plugin, "pagerduty", sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, metric->plugin_instance,
           sizeof(vl.plugin_instance));
  sstrncpy(vl.type, metric->type, sizeof(vl.type));
  sstrncpy(vl.type_instance, metric->type_instance, sizeof(vl.type_instance));
  return plugin_dispatch_values(&vl);
}

static const pd_metric_sink_t dispatch_sink = {.emit = dispatch_metric};

/* The sink for doc/contract.md §5 notifications (Notifications true). */
static int dispatch_notification(__attribute__((unused)) void *ctx,
                                 const pd_notification_t *n) {
  notification_t notif = {.severity = (int)n->severity,
                          .time = TIME_T_TO_CDTIME_T(n->time)};
  /* Unlike values, a notification's empty host is not filled in. */
  sstrncpy(notif.host, n->host[0] != '\0' ? n->host : hostname_g,
           sizeof(notif.host));
  sstrncpy(notif.plugin, "pagerduty", sizeof(notif.plugin));
  sstrncpy(notif.plugin_instance, n->plugin_instance,
           sizeof(notif.plugin_instance));
  sstrncpy(notif.type, n->type, sizeof(notif.type));
  sstrncpy(notif.type_instance, n->type_instance, sizeof(notif.type_instance));
  sstrncpy(notif.message, n->message, sizeof(notif.message));
  return plugin_dispatch_notification(&notif);
}

static const pd_notification_sink_t notification_sink = {
    .emit = dispatch_notification};

static int pd_read(user_data_t *ud) {
  /* The interval this callback runs at bounds how long a cycle may wait. */
  pd_account_set_interval(ud->data, CDTIME_T_TO_DOUBLE(plugin_get_interval()));
  return pd_account_read(ud->data, &dispatch_sink);
}

/* The per-Notify metrics of doc/contract.md §4. */
static int pd_notify_read(user_data_t *ud) {
  notify_block_t *b = ud->data;
  pd_sender_dispatch_metrics(b->sender, &dispatch_sink, "");
  return 0;
}

/*
 * collectd's view of a value for reconciliation: its threshold state in
 * the value cache. UNKNOWN when the value is not cached (never seen, or
 * gone), has no threshold state or is missing.
 */
static pd_value_state_t value_state(__attribute__((unused)) void *ctx,
                                    const char *identifier) {
  value_list_t vl = VALUE_LIST_INIT;
  if (parse_identifier_vl(identifier, &vl) != 0)
    return PD_VALUE_UNKNOWN;
  const data_set_t *ds = plugin_get_ds(vl.type);
  char name[6 * DATA_MAX_NAME_LEN];
  if (ds == NULL || FORMAT_VL(name, sizeof(name), &vl) != 0)
    return PD_VALUE_UNKNOWN;
  /* uc_get_state() says ERROR for a value it does not have: ask first,
   * quietly (uc_get_value() would log an ERROR). */
  value_t *values = NULL;
  size_t values_num = 0;
  if (uc_get_value_by_name(name, &values, &values_num) != 0)
    return PD_VALUE_UNKNOWN;
  sfree(values);
  switch (uc_get_state(ds, &vl)) {
  case STATE_OKAY:
    return PD_VALUE_OKAY;
  case STATE_WARNING:
    return PD_VALUE_WARNING;
  case STATE_ERROR:
    return PD_VALUE_FAILURE;
  default:
    return PD_VALUE_UNKNOWN;
  }
}

static int pd_notification(const notification_t *n,
                           __attribute__((unused)) user_data_t *ud) {
  pthread_rwlock_rdlock(&runtime_lock);
  if (notifications_open) {
    cdtime_t now = cdtime();
    for (size_t i = 0; i < runtime.blocks_num; i++)
      pd_notify_handle(runtime.blocks[i].notify, n, now);
  }
  pthread_rwlock_unlock(&runtime_lock);
  return 0;
}

static int pd_config_cb(oconfig_item_t *ci) {
  if (!plugin_config_ready) {
    pd_config_init(&plugin_config);
    plugin_config_ready = true;
  }
  return pd_config_parse(&plugin_config, ci);
}

static pd_account_t *find_account(const char *name) {
  for (size_t i = 0; i < runtime.accounts_num; i++)
    if (strcmp(pd_account_config(runtime.accounts[i])->name, name) == 0)
      return runtime.accounts[i];
  return NULL;
}

/* SpoolDir, or <BaseDir>/pagerduty. */
static void spool_dir(char *buf, size_t size) {
  if (plugin_config.spool_dir != NULL) {
    sstrncpy(buf, plugin_config.spool_dir, size);
    return;
  }
  const char *base = global_option_get("BaseDir");
  snprintf(buf, size, "%s/pagerduty",
           base != NULL && base[0] != '\0' ? base : "/var/lib/collectd");
}

/* Spool, block state and sender of one <Notify>; a block that names an
 * Account gets that Account's REST endpoint. */
static int build_block(const pd_notify_config_t *cfg, const char *dir,
                       notify_block_t *b) {
  b->cfg = cfg;
  pd_account_t *acct = cfg->account != NULL ? find_account(cfg->account) : NULL;
  pd_rest_t *rest = acct != NULL ? pd_account_rest(acct) : NULL;
  b->spool = pd_spool_open(dir, cfg->name,
                           plugin_config.max_spool_events > 0
                               ? (size_t)plugin_config.max_spool_events
                               : 0);
  if (b->spool == NULL)
    return -1;
  b->notify = pd_notify_open(cfg, b->spool, rest != NULL);
  if (b->notify == NULL)
    return -1;
  pd_sender_options_t opts = {
      .notify = b->notify,
      .rest = rest,
      .max_event_age_s = plugin_config.max_event_age_s,
      .reconcile_interval_s = pd_sender_reconcile_interval(rest),
      .value_state = value_state,
  };
  b->sender = pd_sender_create(&opts);
  return b->sender != NULL ? 0 : -1;
}

/* The senders must be stopped before the accounts whose clients they use
 * are freed: cancel every client first so nothing waits on the network. */
static void runtime_free(void) {
  pthread_rwlock_wrlock(&runtime_lock);
  notifications_open = false;
  pthread_rwlock_unlock(&runtime_lock);

  for (size_t i = 0; i < runtime.accounts_num; i++)
    pd_http_client_cancel(pd_rest_http(pd_account_rest(runtime.accounts[i])));
  for (size_t i = 0; i < runtime.blocks_num; i++)
    pd_sender_destroy(runtime.blocks[i].sender);
  for (size_t i = 0; i < runtime.blocks_num; i++) {
    pd_notify_close(runtime.blocks[i].notify);
    pd_spool_close(runtime.blocks[i].spool);
  }
  free(runtime.blocks);
  for (size_t i = 0; i < runtime.accounts_num; i++)
    pd_account_destroy(runtime.accounts[i]);
  free(runtime.accounts);
  memset(&runtime, 0, sizeof(runtime));
}

/* Builds every account and block; nothing is registered or started yet,
 * so a failure undoes it all. */
static int runtime_build(void) {
  size_t na = plugin_config.accounts_num, nb = plugin_config.notifies_num;
  runtime.accounts = na > 0 ? calloc(na, sizeof(*runtime.accounts)) : NULL;
  runtime.blocks = nb > 0 ? calloc(nb, sizeof(*runtime.blocks)) : NULL;
  if ((na > 0 && runtime.accounts == NULL) ||
      (nb > 0 && runtime.blocks == NULL)) {
    PD_ERROR("out of memory");
    return -1;
  }
  for (size_t i = 0; i < na; i++) {
    pd_account_t *acct = pd_account_create(plugin_config.accounts[i]);
    if (acct == NULL)
      return -1;
    pd_account_set_notification_sink(acct, &notification_sink);
    runtime.accounts[runtime.accounts_num++] = acct;
  }
  char dir[PATH_MAX];
  spool_dir(dir, sizeof(dir));
  for (size_t i = 0; i < nb; i++) {
    runtime.blocks_num++;
    if (build_block(plugin_config.notifies[i], dir, &runtime.blocks[i]) != 0)
      return -1;
  }
  return 0;
}

static int register_reads(void) {
  char name[DATA_MAX_NAME_LEN * 2];
  for (size_t i = 0; i < runtime.accounts_num; i++) {
    pd_account_t *acct = runtime.accounts[i];
    const pd_account_config_t *cfg = pd_account_config(acct);
    snprintf(name, sizeof(name), "pagerduty/%s", cfg->name);
    /* No free_func: the account outlives the read thread (see the top). */
    user_data_t ud = {.data = acct};
    if (plugin_register_complex_read("pagerduty", name, pd_read,
                                     DOUBLE_TO_CDTIME_T(cfg->interval_s),
                                     &ud) != 0) {
      PD_ERROR("account \"%s\": could not register its read callback.",
               cfg->name);
      return -1;
    }
  }
  for (size_t i = 0; i < runtime.blocks_num; i++) {
    notify_block_t *b = &runtime.blocks[i];
    snprintf(name, sizeof(name), "pagerduty/notify/%s", b->cfg->name);
    user_data_t ud = {.data = b};
    if (plugin_register_complex_read("pagerduty", name, pd_notify_read, 0,
                                     &ud) != 0) {
      PD_NOTIFY_ERROR(b->cfg->name, "could not register its read callback.");
      return -1;
    }
  }
  return 0;
}

/* collectd keeps running after a failed init and only unregisters a read
 * callback named like the plugin: take down everything this plugin started
 * so nothing half-built runs. */
static int init_failed(void) {
  plugin_unregister_read_group("pagerduty");
  plugin_unregister_notification("pagerduty");
  runtime_free();
  return -1;
}

static int pd_init(void) {
  if (!plugin_config_ready)
    return 0; /* LoadPlugin without a <Plugin pagerduty> block: idle */
  if (pd_config_validate(&plugin_config) != 0)
    return -1;
  if (pd_http_global_init() != 0)
    return -1;
  http_ready = true;
  if (runtime_build() != 0) {
    runtime_free();
    return -1;
  }
  if (register_reads() != 0)
    return init_failed();
  for (size_t i = 0; i < runtime.blocks_num; i++)
    if (pd_sender_start(runtime.blocks[i].sender) != 0)
      return init_failed();
  if (runtime.blocks_num > 0) {
    pthread_rwlock_wrlock(&runtime_lock);
    notifications_open = true;
    pthread_rwlock_unlock(&runtime_lock);
    if (plugin_register_notification("pagerduty", pd_notification, NULL) != 0) {
      PD_ERROR("could not register the notification callback.");
      return init_failed();
    }
  }
  return 0;
}

static int pd_shutdown(void) {
  runtime_free();
  if (plugin_config_ready) {
    pd_config_free(&plugin_config);
    plugin_config_ready = false;
  }
  if (http_ready) {
    pd_http_global_cleanup();
    http_ready = false;
  }
  return 0;
}

void module_register(void) {
  /* DedupKey templates are the notify side's syntax: pd_config checks them
   * at config time through this, so a bad one stops collectd there. */
  pd_config_set_template_check(pd_template_validate);
  plugin_register_complex_config("pagerduty", pd_config_cb);
  plugin_register_init("pagerduty", pd_init);
  plugin_register_shutdown("pagerduty", pd_shutdown);
}
