/*
 * pagerduty.c - collectd glue for the PagerDuty plugin.
 *
 * This file only connects collectd to the rest of the plugin: it hands the
 * configuration to pd_config, turns each <Account> into a read callback,
 * and dispatches what the other modules compute. Everything with logic in
 * it lives in a module that is tested without the daemon.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include "pd_account.h"
#include "pd_config.h"
#include "pd_http.h"
#include "pd_log.h"
#include "pd_metrics.h"

/* The parsed configuration: collectd hands config blocks to a callback that
 * has no user data, so this is the one piece of plugin-wide state. The read
 * callbacks borrow their account's config from it. */
static pd_config_t plugin_config;
static bool plugin_config_ready;
static bool http_ready;

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

static int pd_read(user_data_t *ud) {
  return pd_account_read(ud->data, &dispatch_sink);
}

static void pd_account_free(void *acct) { pd_account_destroy(acct); }

static int pd_config_cb(oconfig_item_t *ci) {
  if (!plugin_config_ready) {
    pd_config_init(&plugin_config);
    plugin_config_ready = true;
  }
  return pd_config_parse(&plugin_config, ci);
}

static int register_account(const pd_account_config_t *cfg) {
  pd_account_t *acct = pd_account_create(cfg);
  if (acct == NULL)
    return -1;

  char name[DATA_MAX_NAME_LEN * 2];
  snprintf(name, sizeof(name), "pagerduty/%s", cfg->name);
  user_data_t ud = {.data = acct, .free_func = pd_account_free};
  /* On failure collectd 5.12 has already called free_func: no second free. */
  return plugin_register_complex_read("pagerduty", name, pd_read,
                                      DOUBLE_TO_CDTIME_T(cfg->interval_s),
                                      &ud);
}

static int pd_init(void) {
  if (!plugin_config_ready)
    return 0; /* LoadPlugin without a <Plugin pagerduty> block: idle */
  if (pd_config_validate(&plugin_config) != 0)
    return -1;
  if (pd_http_global_init() != 0)
    return -1;
  http_ready = true;
  for (size_t i = 0; i < plugin_config.accounts_num; i++)
    if (register_account(plugin_config.accounts[i]) != 0) {
      PD_ERROR("account \"%s\": could not register its read callback.",
               plugin_config.accounts[i]->name);
      return -1;
    }
  return 0;
}

/* collectd stops the read threads and frees their user data (our accounts)
 * before shutdown callbacks run, so the config they borrowed is free here. */
static int pd_shutdown(void) {
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
  plugin_register_complex_config("pagerduty", pd_config_cb);
  plugin_register_init("pagerduty", pd_init);
  plugin_register_shutdown("pagerduty", pd_shutdown);
}
