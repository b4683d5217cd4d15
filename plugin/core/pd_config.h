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

  double interval_s;           /* Interval; 0 = the plugin's/global interval */
  double slow_interval_s;      /* SlowInterval; default 300 */
  double coverage_window_s;    /* CoverageWindow; default 604800 */
  double trend_window_s;       /* TrendWindow; default 86400 */
  double full_sync_interval_s; /* FullSyncInterval; default 3600, 0 = a full
                                  read every cycle */
  unsigned collect;            /* PD_COLLECT_* bits; default PD_COLLECT_ALL */
  pd_instance_by_t instance_by;
  bool notifications;          /* Notifications; default false */
  int max_requests_per_minute; /* MaxRequestsPerMinute; default 600, 1..960 */
  char *from;                  /* From; NULL = the email of GET /users/me */
  pd_transport_config_t transport;
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

/* ------------------------------------------------------------------------ */
/* The table of options                                                      */

/*
 * Every option of every block is one row of a table (pd_config_options()):
 * its block, name, type, default, validation and a one-line doc. The parser
 * dispatches on it, fills in defaults from it, and builds the "unknown
 * option" message from it; tests/unit/test_options.c checks README.md, the
 * man page and conf/pagerduty.conf against it. A new option is a new row
 * (and, when its value needs it, a field in the block's struct).
 */

/* The blocks an option is valid in (bits: the transport options are in
 * both <Account> and <Notify>). */
enum {
  PD_BLOCK_PLUGIN = 1u << 0,  /* <Plugin pagerduty> itself */
  PD_BLOCK_ACCOUNT = 1u << 1, /* <Account "name"> */
  PD_BLOCK_NOTIFY = 1u << 2,  /* <Notify "name"> */
};

/* What an option's value is, and so how it is parsed. */
typedef enum {
  PD_OPT_STRING,  /* one string in double quotes */
  PD_OPT_SECRET,  /* one string, never quoted back, wiped when freed */
  PD_OPT_STRINGS, /* one or more strings; repeated lines add up */
  PD_OPT_URL,     /* one http(s) base URL, trailing '/' removed */
  PD_OPT_MATCH,   /* an exact string or a /regex/ (POSIX extended) */
  PD_OPT_BOOLEAN, /* true/false, or "true" "yes" "on" "false" "no" "off" */
  PD_OPT_NUMBER,  /* one number within a range */
  PD_OPT_ENUM,    /* one keyword of a list */
  PD_OPT_FLAGS,   /* one or more keywords of a list; repeated lines add up */
  PD_OPT_BLOCK,   /* a nested block, <Name "name"> ... </Name> */
} pd_option_type_t;

/* Where a PD_OPT_NUMBER is stored. */
typedef enum {
  PD_STORE_DOUBLE = 0,
  PD_STORE_INT,
  PD_STORE_LONG,
} pd_option_store_t;

/* A number's range: [min, max], min exclusive when min_open; expect says
 * it in words for messages ("a positive number of seconds"). */
typedef struct {
  double min;
  bool min_open;
  double max;
  bool integral;
  const char *expect;
} pd_number_rule_t;

/* The keywords of a PD_OPT_ENUM or PD_OPT_FLAGS (case does not matter) and
 * the value (enum) or bit (flags) of each; expect names them for messages. */
typedef struct {
  const char *name;
  unsigned value;
} pd_keyword_t;

typedef struct {
  const pd_keyword_t *keywords;
  size_t keywords_num;
  const char *expect;
} pd_keyword_rule_t;

/* Flags of PD_OPT_STRING values. */
enum {
  PD_STR_NONEMPTY = 1u << 0,
  PD_STR_HEADER_SAFE = 1u << 1, /* sent in a header or URL: no CR or LF */
};

/* The parser's state inside one block; private to pd_config.c. */
struct pd_option_ctx;

typedef struct pd_option pd_option_t;
struct pd_option {
  unsigned blocks; /* PD_BLOCK_* */
  const char *name;
  pd_option_type_t type;
  const char *doc;         /* one line: what it does */
  const char *default_doc; /* the default in words; NULL: def_* below */
  const char *validation;  /* in words; NULL: the rule's expect */

  /* Where the value goes: offset of the field in the block's struct, or
   * in its pd_transport_config_t when transport. */
  size_t offset;
  bool transport;
  pd_option_store_t store;             /* PD_OPT_NUMBER */
  double def_number;                   /* NUMBER, BOOLEAN (0/1), ENUM, FLAGS */
  const char *def_string;              /* STRING, URL: copied in; NULL: none */
  unsigned string_flags;               /* PD_OPT_STRING: PD_STR_* */
  const pd_number_rule_t *number_rule; /* PD_OPT_NUMBER */
  const pd_keyword_rule_t *keyword_rule; /* PD_OPT_ENUM, PD_OPT_FLAGS */
  /* PD_OPT_STRING: a further check of the value; logs and returns -1. */
  int (*check)(const char *where, const char *option, const char *value);
  /* An option with a parser of its own (secrets, Team, blocks); NULL: the
   * parser of its type. */
  int (*parse)(const pd_option_t *opt, struct pd_option_ctx *ctx,
               const oconfig_item_t *ci);
};

/* The table: every option of every block, in documentation order. */
const pd_option_t *pd_config_options(size_t *num);

/* The row of option name (any case) in block (one PD_BLOCK_*); NULL if the
 * block has no such option. */
const pd_option_t *pd_config_option_find(unsigned block, const char *name);

/*
 * A check of a text option that another layer knows how to make: returns 0
 * when text is fine, else -1 with a one-line reason in err.
 */
typedef int (*pd_config_text_check_t)(const char *text, char *err,
                                      size_t err_size);

/*
 * Sets the check of DedupKey templates (the notify side's
 * pd_template_validate(); core does not include notify/, so the glue hands
 * it in before any block is parsed). A bad template is then refused at
 * config time like any bad value, with one ERROR naming DedupKey. Unset,
 * DedupKey is checked only for being non-empty and free of CR/LF.
 */
void pd_config_set_template_check(pd_config_text_check_t check);

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
