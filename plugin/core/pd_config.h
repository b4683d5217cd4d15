/* SPDX-License-Identifier: MIT */
/*
 * pd_config.h - the plugin's configuration as plain structs
 * (doc/contract.md §3).
 *
 * pd_config_parse() turns one <Plugin pagerduty> block into a pd_config_t
 * and validates it completely: unknown, missing, contradictory or malformed
 * options are logged as one ERROR naming the block and the option, and the
 * whole block is refused (nothing half-configured runs). Parsing needs no
 * running daemon, only oconfig_item_t trees, so it is unit-tested directly.
 */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "collectd/liboconfig/oconfig.h"

/* What an Account collects ("Collect" option); default: all. */
enum {
  PD_COLLECT_SERVICES = 1u << 0,
  PD_COLLECT_INCIDENTS = 1u << 1,
  PD_COLLECT_ONCALLS = 1u << 2,
  PD_COLLECT_SCHEDULES = 1u << 3,
  PD_COLLECT_POLICIES = 1u << 4,
  PD_COLLECT_TEAMS = 1u << 5,
  PD_COLLECT_ALL = (1u << 6) - 1,
};

typedef enum { PD_INSTANCE_BY_NAME = 0, PD_INSTANCE_BY_ID } pd_instance_by_t;

/* Where an account's token comes from. Exactly one source is set. */
typedef enum {
  PD_TOKEN_FROM_CONFIG = 0, /* Token "..." */
  PD_TOKEN_FROM_FILE,       /* TokenFile "..."; re-read when it changes */
  PD_TOKEN_FROM_ENV,        /* PAGERDUTY_USER_API_KEY */
} pd_token_source_t;

/* TLS / transport options shared by Account and Notify blocks. */
typedef struct {
  long timeout_ms;  /* Timeout; default 10000 */
  bool verify_peer; /* VerifyPeer; default true */
  bool verify_host; /* VerifyHost; default true */
  char *cacert;     /* CACert; NULL = system default */
  char *proxy;      /* Proxy; NULL = none (libcurl's env proxy rules apply) */
} pd_transport_config_t;

typedef struct {
  char *name; /* <Account "name">: the plugin instance */

  pd_token_source_t token_source;
  char *token;      /* the secret (Token or environment); NULL for TokenFile */
  char *token_file; /* TokenFile path; NULL otherwise */

  char *url;    /* REST base URL, no trailing slash; default
                   https://api.pagerduty.com */
  char **teams; /* Team: IDs or exact names, as written */
  size_t teams_num;
  char *host; /* Host of dispatched values; NULL = collectd's Hostname */

  double interval_s;        /* Interval; 0 = the plugin's/global interval */
  double slow_interval_s;   /* SlowInterval; default 300 */
  double coverage_window_s; /* CoverageWindow; default 604800 */
  double trend_window_s;    /* TrendWindow; default 86400 */
  unsigned collect;         /* PD_COLLECT_* bits; default PD_COLLECT_ALL */
  pd_instance_by_t instance_by;
  bool notifications;          /* Notifications; default false */
  int max_requests_per_minute; /* MaxRequestsPerMinute; default 600, 1..960 */
  char *from;                  /* From; NULL = the email of GET /users/me */
  pd_transport_config_t transport;

  /* FullSyncInterval; default 3600, 0 = a full read every cycle */
  double full_sync_interval_s;
} pd_account_config_t;

/* A match field: absent (any), an exact string, or a /regex/. */
typedef struct {
  char *text; /* as configured, for messages; NULL = absent */
  bool is_regex;
  regex_t regex; /* compiled when is_regex */
} pd_match_t;

/* Severity bits for Notify "Severity". */
enum {
  PD_SEVERITY_FAILURE = 1u << 0,
  PD_SEVERITY_WARNING = 1u << 1,
  PD_SEVERITY_OKAY = 1u << 2,
  PD_SEVERITY_ALL = (1u << 3) - 1,
};

typedef struct {
  char *name; /* <Notify "name"> */
  pd_match_t host, plugin, plugin_instance, type, type_instance;
  unsigned severities; /* PD_SEVERITY_* bits; default all */

  char *routing_key;      /* Events API v2 path (secret) */
  char *service;          /* REST path: service ID */
  char *account;          /* Account name (REST, notes, ack/resolve by id) */
  char *events_url;       /* default https://events.pagerduty.com */
  char *dedup_key;        /* template; default the identifier template */
  bool resolve_on_okay;   /* default true */
  double note_interval_s; /* default 600; 0 = no notes */
  pd_transport_config_t transport; /* for EventsURL */
} pd_notify_config_t;

typedef struct {
  char *spool_dir;        /* SpoolDir; NULL = <BaseDir>/pagerduty */
  double max_event_age_s; /* MaxEventAge; default 86400 */
  long max_spool_events;  /* MaxSpoolEvents; default 100000 */
  pd_account_config_t **accounts;
  size_t accounts_num;
  pd_notify_config_t **notifies;
  size_t notifies_num;
} pd_config_t;

#define PD_DEFAULT_URL "https://api.pagerduty.com"
#define PD_DEFAULT_EVENTS_URL "https://events.pagerduty.com"
#define PD_DEFAULT_DEDUP_KEY                                                   \
  "%{host}/%{plugin}-%{plugin_instance}/%{type}-%{type_instance}"
#define PD_TOKEN_ENV "PAGERDUTY_USER_API_KEY"

/* Initialises an empty configuration (all defaults, no blocks). */
void pd_config_init(pd_config_t *cfg);

/*
 * Parses one <Plugin pagerduty> block into cfg, adding to what earlier blocks
 * added. On any error logs one ERROR and returns -1; cfg then holds nothing
 * of this block (earlier blocks stay) and must still be freed by the caller.
 * Cross-checks (a Notify naming an unknown Account, duplicate names) are
 * done here as well, against everything parsed so far: a Notify's Account
 * must be defined in the same block (anywhere in it) or an earlier one.
 *
 * Option names are case-insensitive (collectd's convention); Account and
 * Notify names are not. Errors read
 *   pagerduty plugin: <Account "acme">: option "Interval": must be ... (got
 * -5). naming <Plugin pagerduty>, <Account "name"> or <Notify "name">; secrets
 * and proxy URLs are never quoted. A TokenFile is read once here (it must be
 * readable and hold a token); group/other-readable files, VerifyPeer false
 * and VerifyHost false draw a WARNING.
 */
int pd_config_parse(pd_config_t *cfg, const oconfig_item_t *ci);

/*
 * Checks the whole configuration once every <Plugin pagerduty> block has been
 * parsed (the glue calls it at init): names unique, every Notify's Account
 * defined, every Notify with exactly one target. pd_config_parse() already
 * refuses all of these, so this is the safety net for configurations built
 * or merged any other way. Logs one ERROR and returns -1 on the first
 * problem, 0 when all is well.
 */
int pd_config_validate(const pd_config_t *cfg);

/* Frees everything cfg owns (wiping secrets first) and re-initialises it. */
void pd_config_free(pd_config_t *cfg);

/* Looks up an account by name; NULL if none.
 * Exported for tests only. */
pd_account_config_t *pd_config_find_account(const pd_config_t *cfg,
                                            const char *name);

/* True when text matches m (an absent match matches anything). */
bool pd_match_matches(const pd_match_t *m, const char *text);

/* Is this URL's host a loopback address or name (http:// allowed there)?
 * Exported for tests only. */
bool pd_url_is_loopback(const char *url);

#endif /* PD_CONFIG_H */
