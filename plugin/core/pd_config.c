/* SPDX-License-Identifier: MIT */
/*
 * pd_config.c - the <Plugin pagerduty> block, parsed and checked
 * (doc/contract.md §3).
 *
 * The parser works on oconfig_item_t trees directly (collectd's cf_util_*
 * helpers live in the daemon, and this file is unit-tested without one).
 * Every problem is reported as exactly one ERROR that names the block and
 * the option, says what is wrong and what is expected:
 *
 *   pagerduty plugin: <Account "acme">: option "Interval": must be a
 *   positive number of seconds, or 0 for collectd's interval (got -5).
 *
 * and the whole <Plugin> block is refused. Secrets (tokens, routing keys)
 * and proxy URLs (which may carry credentials) are never quoted back.
 *
 * A block is parsed into a staging configuration first and merged into the
 * caller's only once everything in it checked out, so a failing block
 * leaves nothing behind.
 *
 * What options there are is said once, in the table at the end of this file
 * (OPTIONS, pd_config.h): each block looks its children up there, parses
 * them with the parser of their type (or their own), takes its defaults
 * from it, and lists its rows when an option is unknown.
 */
#include "pd_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_log.h"
#include "pd_token_file.h"
#include "pd_utf8.h"
#include "pd_util.h"

#define WHERE_SIZE 192
#define PLUGIN_WHERE "<Plugin pagerduty>"

/* Flags for get_string(), beyond PD_STR_NONEMPTY and PD_STR_HEADER_SAFE. */
enum {
  STR_SECRET = 1u << 2, /* never quoted back, wiped when replaced */
};

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

__attribute__((format(printf, 3, 4))) static void
option_error(const char *where, const char *option, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  PD_ERROR("%s: option \"%s\": %s", where, option, msg);
}

__attribute__((format(printf, 3, 4))) static void
option_warning(const char *where, const char *option, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  PD_WARNING("%s: option \"%s\": %s", where, option, msg);
}

/* Copies s for a log line: control bytes become '?', long text is cut. */
static const char *printable(const char *s, char *buf, size_t size) {
  size_t len = strlen(s);
  size_t max = size - 1;
  bool cut = len > max;
  if (cut)
    max -= 3;
  size_t i;
  for (i = 0; i < len && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (cut) {
    memcpy(buf + i, "...", 3);
    i += 3;
  }
  buf[i] = '\0';
  return buf;
}

/* "the number 5", "the string \"abc\"", "true": what the user wrote. */
static const char *describe_value(const oconfig_value_t *v, char *buf,
                                  size_t size) {
  char text[80];
  switch (v->type) {
  case OCONFIG_TYPE_STRING:
    snprintf(buf, size, "the string \"%s\"",
             printable(v->value.string, text, sizeof(text)));
    break;
  case OCONFIG_TYPE_NUMBER:
    snprintf(buf, size, "the number %g", v->value.number);
    break;
  case OCONFIG_TYPE_BOOLEAN:
    snprintf(buf, size, "the boolean %s", v->value.boolean ? "true" : "false");
    break;
  default:
    snprintf(buf, size, "a value of unknown type");
  }
  return buf;
}

static bool has_control_char(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  return false;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */

/* An option (not a block) with exactly one value. */
static int want_one_value(const char *where, const oconfig_item_t *ci) {
  if (ci->children_num > 0) {
    option_error(where, ci->key,
                 "is an option, not a block; write it as "
                 "%s <value>.",
                 ci->key);
    return -1;
  }
  if (ci->values_num != 1) {
    option_error(where, ci->key, "takes exactly one value (got %d).",
                 ci->values_num);
    return -1;
  }
  return 0;
}

/* Checks a string value against flags; what names it in messages. */
static int check_string(const char *where, const char *option, const char *s,
                        unsigned flags, const char *what) {
  if ((flags & PD_STR_NONEMPTY) && s[0] == '\0') {
    option_error(where, option, "%s must not be empty.", what);
    return -1;
  }
  if ((flags & PD_STR_HEADER_SAFE) && strpbrk(s, "\r\n") != NULL) {
    option_error(where, option,
                 "%s must not contain a carriage return or line feed (it is "
                 "sent in HTTP requests).",
                 what);
    return -1;
  }
  return 0;
}

/* Replaces *out with a copy of the option's one string value. */
static int get_string(const char *where, const oconfig_item_t *ci, char **out,
                      unsigned flags) {
  if (want_one_value(where, ci) != 0)
    return -1;
  const oconfig_value_t *v = &ci->values[0];
  if (v->type != OCONFIG_TYPE_STRING) {
    char desc[128];
    if (flags & STR_SECRET)
      option_error(where, ci->key, "must be a string in double quotes.");
    else
      option_error(where, ci->key,
                   "must be a string in double quotes (got %s).",
                   describe_value(v, desc, sizeof(desc)));
    return -1;
  }
  if (check_string(where, ci->key, v->value.string, flags, "the value") != 0)
    return -1;
  char *copy = strdup(v->value.string);
  if (copy == NULL) {
    option_error(where, ci->key, "out of memory.");
    return -1;
  }
  if (flags & STR_SECRET)
    pd_secret_free(*out);
  else
    free(*out);
  *out = copy;
  return 0;
}

/* Booleans: true/false, or the strings true/yes/on, false/no/off. */
static int get_boolean(const char *where, const oconfig_item_t *ci, bool *out) {
  if (want_one_value(where, ci) != 0)
    return -1;
  const oconfig_value_t *v = &ci->values[0];
  if (v->type == OCONFIG_TYPE_BOOLEAN) {
    *out = v->value.boolean != 0;
    return 0;
  }
  if (v->type == OCONFIG_TYPE_STRING) {
    const char *s = v->value.string;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on")) {
      *out = true;
      return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
        !strcasecmp(s, "off")) {
      *out = false;
      return 0;
    }
  }
  char desc[128];
  option_error(where, ci->key, "must be true or false (got %s).",
               describe_value(v, desc, sizeof(desc)));
  return -1;
}

static int get_number(const char *where, const oconfig_item_t *ci,
                      const pd_number_rule_t *rule, double *out) {
  if (want_one_value(where, ci) != 0)
    return -1;
  const oconfig_value_t *v = &ci->values[0];
  if (v->type != OCONFIG_TYPE_NUMBER) {
    char desc[128];
    option_error(where, ci->key, "must be %s (got %s).", rule->expect,
                 describe_value(v, desc, sizeof(desc)));
    return -1;
  }
  double x = v->value.number;
  bool ok = isfinite(x) && (rule->min_open ? x > rule->min : x >= rule->min) &&
            x <= rule->max && (!rule->integral || x == floor(x));
  if (!ok) {
    option_error(where, ci->key, "must be %s (got %g).", rule->expect, x);
    return -1;
  }
  *out = x;
  return 0;
}

static const pd_number_rule_t RULE_POSITIVE_SECONDS = {
    0, true, 1e12, false, "a positive number of seconds"};
static const pd_number_rule_t RULE_INTERVAL = {
    0, false, 1e12, false,
    "a positive number of seconds, or 0 for collectd's interval"};
static const pd_number_rule_t RULE_NOTE_INTERVAL = {
    0, false, 1e12, false, "a number of seconds, 0 or more (0: no notes)"};
static const pd_number_rule_t RULE_FULL_SYNC_INTERVAL = {
    0, false, 1e12, false,
    "a number of seconds, 0 or more (0: a full re-read every cycle)"};
static const pd_number_rule_t RULE_SPOOL_EVENTS = {
    1, false, 1e12, true, "a positive whole number of events"};
static const pd_number_rule_t RULE_REQUESTS = {
    1, false, 960, true,
    "a whole number from 1 to 960 (PagerDuty allows 960 requests per minute "
    "per user)"};
static const pd_number_rule_t RULE_TIMEOUT_MS = {
    1, false, 2147483647, true, "a positive whole number of milliseconds"};

/*
 * A list of one or more flag names, such as Collect "services" "teams":
 * their bits OR-ed into *out. Several lines of the option add up; the first
 * one replaces the default (*seen tells which it is).
 */
static int get_flags(const char *where, const oconfig_item_t *ci,
                     const pd_keyword_rule_t *rule, unsigned *out, bool *seen) {
  char desc[128];
  if (ci->children_num > 0 || ci->values_num < 1) {
    option_error(where, ci->key, "%s (got %s).", rule->expect,
                 ci->children_num > 0 ? "a block" : "no value");
    return -1;
  }
  unsigned bits = 0;
  for (int i = 0; i < ci->values_num; i++) {
    const oconfig_value_t *v = &ci->values[i];
    unsigned bit = 0;
    if (v->type == OCONFIG_TYPE_STRING)
      for (size_t k = 0; k < rule->keywords_num; k++)
        if (strcasecmp(v->value.string, rule->keywords[k].name) == 0)
          bit = rule->keywords[k].value;
    if (bit == 0) {
      option_error(where, ci->key, "%s (got %s).", rule->expect,
                   describe_value(v, desc, sizeof(desc)));
      return -1;
    }
    bits |= bit;
  }
  *out = *seen ? (*out | bits) : bits;
  *seen = true;
  return 0;
}

static const pd_keyword_t COLLECT_NAMES[] = {
    {"services", PD_COLLECT_SERVICES}, {"incidents", PD_COLLECT_INCIDENTS},
    {"oncalls", PD_COLLECT_ONCALLS},   {"schedules", PD_COLLECT_SCHEDULES},
    {"policies", PD_COLLECT_POLICIES}, {"teams", PD_COLLECT_TEAMS},
};
static const pd_keyword_rule_t RULE_COLLECT = {
    COLLECT_NAMES, sizeof(COLLECT_NAMES) / sizeof(COLLECT_NAMES[0]),
    "expected one or more of \"services\", \"incidents\", \"oncalls\", "
    "\"schedules\", \"policies\", \"teams\""};

static const pd_keyword_t SEVERITY_NAMES[] = {
    {"FAILURE", PD_SEVERITY_FAILURE},
    {"WARNING", PD_SEVERITY_WARNING},
    {"OKAY", PD_SEVERITY_OKAY},
};
static const pd_keyword_rule_t RULE_SEVERITY = {
    SEVERITY_NAMES, sizeof(SEVERITY_NAMES) / sizeof(SEVERITY_NAMES[0]),
    "expected one or more of \"FAILURE\", \"WARNING\", \"OKAY\""};

static const pd_keyword_t INSTANCE_BY_NAMES[] = {
    {"name", PD_INSTANCE_BY_NAME},
    {"id", PD_INSTANCE_BY_ID},
};
static const pd_keyword_rule_t RULE_INSTANCE_BY = {
    INSTANCE_BY_NAMES, sizeof(INSTANCE_BY_NAMES) / sizeof(INSTANCE_BY_NAMES[0]),
    "\"name\" or \"id\""};

/* One keyword of rule (PD_OPT_ENUM) into *out. */
static int get_enum(const char *where, const oconfig_item_t *ci,
                    const pd_keyword_rule_t *rule, unsigned *out) {
  char *value = NULL;
  if (get_string(where, ci, &value, 0) != 0)
    return -1;
  for (size_t k = 0; k < rule->keywords_num; k++)
    if (strcasecmp(value, rule->keywords[k].name) == 0) {
      *out = rule->keywords[k].value;
      free(value);
      return 0;
    }
  char shown[160];
  option_error(where, ci->key, "must be %s (got \"%s\").", rule->expect,
               printable(value, shown, sizeof(shown)));
  free(value);
  return -1;
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                      */

static bool host_is_loopback(const char *host) {
  char bare[256];
  size_t len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    if (len - 2 >= sizeof(bare))
      return false;
    memcpy(bare, host + 1, len - 2);
    bare[len - 2] = '\0';
  } else {
    if (len >= sizeof(bare))
      return false;
    memcpy(bare, host, len + 1);
  }

  if (strcasecmp(bare, "localhost") == 0 || strcasecmp(bare, "localhost.") == 0)
    return true;
  struct in_addr v4;
  if (inet_pton(AF_INET, bare, &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  struct in6_addr v6;
  if (inet_pton(AF_INET6, bare, &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) ||
           (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

/* The parts of a URL the checks look at; strings owned by libcurl. */
typedef struct {
  char *scheme, *host, *user, *password, *query, *fragment;
} url_parts_t;

static void url_parts_free(url_parts_t *p) {
  curl_free(p->scheme);
  curl_free(p->host);
  curl_free(p->user);
  curl_free(p->password);
  curl_free(p->query);
  curl_free(p->fragment);
  memset(p, 0, sizeof(*p));
}

/* Splits url with libcurl's parser. Returns 0, or -1 with a reason. */
static int url_split(const char *url, url_parts_t *p, char *err,
                     size_t err_size) {
  memset(p, 0, sizeof(*p));
  CURLU *u = curl_url();
  if (u == NULL) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) {
    snprintf(err, err_size, "%s", curl_url_strerror(rc));
    curl_url_cleanup(u);
    return -1;
  }
  curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0);
  curl_url_get(u, CURLUPART_HOST, &p->host, 0);
  curl_url_get(u, CURLUPART_USER, &p->user, 0);
  curl_url_get(u, CURLUPART_PASSWORD, &p->password, 0);
  curl_url_get(u, CURLUPART_QUERY, &p->query, 0);
  curl_url_get(u, CURLUPART_FRAGMENT, &p->fragment, 0);
  curl_url_cleanup(u);
  if (p->scheme == NULL || p->host == NULL || p->host[0] == '\0') {
    snprintf(err, err_size, "no host");
    url_parts_free(p);
    return -1;
  }
  return 0;
}

bool pd_url_is_loopback(const char *url) {
  char err[128];
  url_parts_t p;
  if (url == NULL || url_split(url, &p, err, sizeof(err)) != 0)
    return false;
  bool loopback = host_is_loopback(p.host);
  url_parts_free(&p);
  return loopback;
}

/*
 * Checks a REST or Events base URL and returns a copy without trailing
 * slashes: http(s), a host, no credentials, query or fragment, and http://
 * only for loopback hosts.
 */
static char *base_url_parse(const char *where, const oconfig_item_t *ci) {
  char *url = NULL;
  if (get_string(where, ci, &url, PD_STR_NONEMPTY | PD_STR_HEADER_SAFE) != 0)
    return NULL;

  char shown[160], err[256] = "control characters";
  printable(url, shown, sizeof(shown));
  url_parts_t p;
  if (has_control_char(url) || url_split(url, &p, err, sizeof(err)) != 0) {
    option_error(where, ci->key,
                 "must be an https:// URL with a host, such as "
                 "\"https://api.pagerduty.com\" (got \"%s\": %s).",
                 shown, err);
    free(url);
    return NULL;
  }

  const char *problem = NULL;
  bool credentials = p.user != NULL || p.password != NULL;
  if (strcmp(p.scheme, "https") != 0 && strcmp(p.scheme, "http") != 0)
    problem = "must start with https://";
  else if (credentials)
    problem = "must not contain a user name or password (the token is set "
              "with Token or TokenFile)";
  else if (p.query != NULL || p.fragment != NULL)
    problem = "must not contain a query (?...) or fragment (#...)";
  else if (strcmp(p.scheme, "http") == 0 && !host_is_loopback(p.host))
    problem = "may use http:// only for a loopback host (127.0.0.0/8, ::1, "
              "localhost); use https://";
  url_parts_free(&p);
  if (problem != NULL) {
    /* A URL with credentials in it is not quoted back. */
    if (credentials)
      option_error(where, ci->key, "%s.", problem);
    else
      option_error(where, ci->key, "%s (got \"%s\").", problem, shown);
    free(url);
    return NULL;
  }

  size_t len = strlen(url);
  while (len > 0 && url[len - 1] == '/')
    url[--len] = '\0';
  return url;
}

/* Proxy: a URL with a proxy scheme and a host; never quoted (credentials). */
static int proxy_parse(const char *where, const oconfig_item_t *ci,
                       char **out) {
  static const char *const schemes[] = {"http",    "https",  "socks4",
                                        "socks4a", "socks5", "socks5h"};
  char *proxy = NULL;
  if (get_string(where, ci, &proxy,
                 PD_STR_NONEMPTY | PD_STR_HEADER_SAFE | STR_SECRET) != 0)
    return -1;

  char err[256];
  url_parts_t p;
  bool ok = !has_control_char(proxy) && strstr(proxy, "://") != NULL &&
            url_split(proxy, &p, err, sizeof(err)) == 0;
  if (ok) {
    ok = false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
      if (strcmp(p.scheme, schemes[i]) == 0)
        ok = true;
    url_parts_free(&p);
  }
  if (!ok) {
    option_error(where, ci->key,
                 "must be a proxy URL such as \"http://proxy:3128\": scheme "
                 "http, https, socks4, socks4a, socks5 or socks5h, and a "
                 "host.");
    pd_secret_free(proxy);
    return -1;
  }
  pd_secret_free(*out);
  *out = proxy;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Transport options, shared by Account and Notify                           */

static void transport_free(pd_transport_config_t *t) {
  free(t->cacert);
  pd_secret_free(t->proxy);
  t->cacert = t->proxy = NULL;
}

static int cacert_check(const char *where, const char *option,
                        const char *path) {
  char shown[160];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    option_error(where, option,
                 "cannot read the CA bundle \"%s\": %s; give a readable PEM "
                 "file.",
                 printable(path, shown, sizeof(shown)), strerror(errno));
    return -1;
  }
  struct stat st;
  int rc = fstat(fd, &st);
  close(fd);
  if (rc != 0 || !S_ISREG(st.st_mode)) {
    option_error(where, option,
                 "the CA bundle \"%s\" is not a regular file; give a PEM "
                 "file.",
                 printable(path, shown, sizeof(shown)));
    return -1;
  }
  return 0;
}

static void transport_warnings(const char *where,
                               const pd_transport_config_t *t) {
  if (!t->verify_peer)
    option_warning(where, "VerifyPeer",
                   "false: the server's TLS certificate is not verified, so "
                   "anyone on the path can read what is sent, credentials "
                   "included. Use it only for tests.");
  if (!t->verify_host)
    option_warning(where, "VerifyHost",
                   "false: the server's name is not checked against its TLS "
                   "certificate. Use it only for tests.");
}

/* ------------------------------------------------------------------------ */
/* Block names                                                               */

/*
 * <Account "name"> / <Notify "name">: one non-empty string that can be part
 * of a collectd identifier. prefix_len is what the plugin instance adds in
 * front of it ("notify-"). Returns a copy or NULL after logging.
 */
static char *block_name(const oconfig_item_t *ci, size_t prefix_len) {
  char desc[128], shown[160];
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    if (ci->values_num == 1)
      option_error(PLUGIN_WHERE, ci->key,
                   "the block needs a name in double quotes, as in <%s "
                   "\"name\"> (got %s).",
                   ci->key, describe_value(&ci->values[0], desc, sizeof(desc)));
    else
      option_error(PLUGIN_WHERE, ci->key,
                   "the block needs exactly one name, as in <%s \"name\"> "
                   "(got %d values).",
                   ci->key, ci->values_num);
    return NULL;
  }
  const char *name = ci->values[0].value.string;
  if (name[0] == '\0') {
    option_error(PLUGIN_WHERE, ci->key,
                 "the block name must not be empty, as in <%s \"name\">.",
                 ci->key);
    return NULL;
  }
  if (strchr(name, '/') != NULL || has_control_char(name)) {
    option_error(PLUGIN_WHERE, ci->key,
                 "the block name \"%s\" must not contain '/' or control "
                 "characters (it becomes the plugin instance of metrics).",
                 printable(name, shown, sizeof(shown)));
    return NULL;
  }
  if (!pd_utf8_is_valid(name, strlen(name))) {
    option_error(PLUGIN_WHERE, ci->key,
                 "the block name \"%s\" is not valid UTF-8 (it becomes the "
                 "plugin instance of metrics, and PagerDuty takes only "
                 "UTF-8).",
                 printable(name, shown, sizeof(shown)));
    return NULL;
  }
  if (strlen(name) + prefix_len >= DATA_MAX_NAME_LEN) {
    option_error(PLUGIN_WHERE, ci->key,
                 "the block name \"%s\" is too long: at most %zu bytes (it "
                 "becomes the plugin instance of metrics).",
                 printable(name, shown, sizeof(shown)),
                 (size_t)DATA_MAX_NAME_LEN - 1 - prefix_len);
    return NULL;
  }
  char *copy = strdup(name);
  if (copy == NULL)
    option_error(PLUGIN_WHERE, ci->key, "out of memory.");
  return copy;
}

static void block_where(char *where, const char *kind, const char *name) {
  char shown[128];
  snprintf(where, WHERE_SIZE, "<%s \"%s\">", kind,
           printable(name, shown, sizeof(shown)));
}

/* ------------------------------------------------------------------------ */
/* Parsing a block                                                           */

/* At most this many rows in the table (checked at compile time below). */
#define OPTIONS_MAX 64

/* The parser's state inside one block. */
struct pd_option_ctx {
  unsigned block; /* PD_BLOCK_* */
  const char *where;
  void *base;                       /* the block's struct */
  pd_transport_config_t *transport; /* its transport; NULL at plugin level */
  const pd_config_t *cfg;           /* plugin level: earlier blocks */
  bool seen[OPTIONS_MAX];           /* by row of the table */
};
typedef struct pd_option_ctx option_ctx_t;

/* Defined with the table, at the end of this file. */
static int block_option(option_ctx_t *ctx, const oconfig_item_t *ci);
static int apply_defaults(unsigned block, void *base, pd_transport_config_t *t);
static bool option_seen(const option_ctx_t *ctx, const char *name);

/* ------------------------------------------------------------------------ */
/* <Account>                                                                 */

static void account_free(pd_account_config_t *a) {
  if (a == NULL)
    return;
  free(a->name);
  pd_secret_free(a->token);
  free(a->token_file);
  free(a->url);
  for (size_t i = 0; i < a->teams_num; i++)
    free(a->teams[i]);
  free(a->teams);
  free(a->host);
  free(a->from);
  transport_free(&a->transport);
  free(a);
}

static pd_account_config_t *account_new(char *name) {
  pd_account_config_t *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return NULL;
  if (apply_defaults(PD_BLOCK_ACCOUNT, a, &a->transport) != 0) {
    account_free(a);
    return NULL;
  }
  a->name = name;
  return a;
}

static int teams_add(const char *where, const oconfig_item_t *ci,
                     pd_account_config_t *a) {
  char desc[128];
  if (ci->children_num > 0 || ci->values_num < 1) {
    option_error(where, ci->key,
                 "takes one or more team IDs or names in double quotes (got "
                 "%s).",
                 ci->children_num > 0 ? "a block" : "no value");
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++) {
    const oconfig_value_t *v = &ci->values[i];
    if (v->type != OCONFIG_TYPE_STRING) {
      option_error(where, ci->key,
                   "takes team IDs or names in double quotes (got %s).",
                   describe_value(v, desc, sizeof(desc)));
      return -1;
    }
    if (check_string(where, ci->key, v->value.string,
                     PD_STR_NONEMPTY | PD_STR_HEADER_SAFE, "a team") != 0)
      return -1;
  }
  char **grown = realloc(a->teams, (a->teams_num + (size_t)ci->values_num) *
                                       sizeof(*grown));
  if (grown == NULL) {
    option_error(where, ci->key, "out of memory.");
    return -1;
  }
  a->teams = grown;
  for (int i = 0; i < ci->values_num; i++) {
    char *team = strdup(ci->values[i].value.string);
    if (team == NULL) {
      option_error(where, ci->key, "out of memory.");
      return -1;
    }
    a->teams[a->teams_num++] = team;
  }
  return 0;
}

/* user@domain, without spaces, control characters or address syntax. */
static bool looks_like_email(const char *s) {
  const char *at = strchr(s, '@');
  if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
    return false;
  for (const char *p = s; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c == 0x7f || strchr("<>()[],;:\"\\", c) != NULL)
      return false;
  }
  return true;
}

/* Host for dispatched values: fits a collectd host field, no control bytes. */
static int host_check(const char *where, const char *option, const char *h) {
  char shown[160];
  if (has_control_char(h) || strlen(h) >= DATA_MAX_NAME_LEN) {
    option_error(where, option,
                 "must be a host name of at most %d bytes without control "
                 "characters (got \"%s\").",
                 DATA_MAX_NAME_LEN - 1, printable(h, shown, sizeof(shown)));
    return -1;
  }
  return 0;
}

/* From: the email address of a PagerDuty user. */
static int from_check(const char *where, const char *option, const char *from) {
  if (looks_like_email(from))
    return 0;
  char shown[160];
  option_error(where, option,
               "must be the email address of a PagerDuty user, such as "
               "\"ops@example.com\" (got \"%s\").",
               printable(from, shown, sizeof(shown)));
  return -1;
}

/* Token: a secret, so never quoted back, not even its type. */
static int parse_token(const pd_option_t *opt, option_ctx_t *ctx,
                       const oconfig_item_t *ci) {
  (void)opt;
  pd_account_config_t *a = ctx->base;
  const char *where = ctx->where, *key = ci->key;
  if (want_one_value(where, ci) != 0)
    return -1;
  if (ci->values[0].type != OCONFIG_TYPE_STRING) {
    option_error(where, key, "the token must be a string in double quotes.");
    return -1;
  }
  const char *token = ci->values[0].value.string;
  if (!pd_token_is_valid(token)) {
    option_error(where, key,
                 "the token must not be empty or contain a carriage return "
                 "or line feed (it is sent in an HTTP header).");
    return -1;
  }
  char *copy = strdup(token);
  if (copy == NULL) {
    option_error(where, key, "out of memory.");
    return -1;
  }
  pd_secret_free(a->token);
  a->token = copy;
  return 0;
}

/* Team: one or more values per line, lines add up. */
static int parse_team(const pd_option_t *opt, option_ctx_t *ctx,
                      const oconfig_item_t *ci) {
  (void)opt;
  return teams_add(ctx->where, ci, ctx->base);
}

/* Settles where the token comes from: exactly one of Token, TokenFile and
 * the environment. A TokenFile must be readable now. */
static int account_token_source(const char *where, pd_account_config_t *a,
                                const option_ctx_t *ctx) {
  bool token_seen = option_seen(ctx, "Token");
  bool token_file_seen = option_seen(ctx, "TokenFile");
  if (token_seen && token_file_seen) {
    option_error(where, "TokenFile",
                 "Token and TokenFile are mutually exclusive; use one of "
                 "them.");
    return -1;
  }
  if (token_seen) {
    a->token_source = PD_TOKEN_FROM_CONFIG;
    return 0;
  }
  if (token_file_seen) {
    char err[512];
    struct stat st;
    a->token_source = PD_TOKEN_FROM_FILE;
    char *token = pd_token_file_load(a->token_file, &st, err, sizeof(err));
    if (token == NULL) {
      option_error(where, "TokenFile", "%s.", err);
      return -1;
    }
    pd_secret_free(token);
    if (pd_token_mode_is_exposed(st.st_mode))
      option_warning(where, "TokenFile",
                     "\"%s\" is readable by group or others (mode %04o); "
                     "restrict it, e.g. chmod 600.",
                     a->token_file, (unsigned)(st.st_mode & 07777));
    return 0;
  }

  const char *env = getenv(PD_TOKEN_ENV);
  if (env == NULL || env[0] == '\0') {
    PD_ERROR("%s: no token: set Token, TokenFile or " PD_TOKEN_ENV ".", where);
    return -1;
  }
  if (!pd_token_is_valid(env)) {
    PD_ERROR("%s: environment variable " PD_TOKEN_ENV ": the token must not "
             "contain a carriage return or line feed.",
             where);
    return -1;
  }
  a->token = strdup(env);
  if (a->token == NULL) {
    PD_ERROR("%s: out of memory.", where);
    return -1;
  }
  a->token_source = PD_TOKEN_FROM_ENV;
  return 0;
}

static pd_account_config_t *account_parse(const oconfig_item_t *ci) {
  char *name = block_name(ci, 0);
  if (name == NULL)
    return NULL;
  /* "notify-<name>" is where Notify blocks report their metrics. */
  if (strncmp(name, "notify-", strlen("notify-")) == 0) {
    char shown[160];
    option_error(PLUGIN_WHERE, ci->key,
                 "the account name \"%s\" must not start with \"notify-\", "
                 "which names the metrics of <Notify> blocks.",
                 printable(name, shown, sizeof(shown)));
    free(name);
    return NULL;
  }
  char where[WHERE_SIZE];
  block_where(where, "Account", name);

  pd_account_config_t *a = account_new(name);
  if (a == NULL) {
    PD_ERROR("%s: out of memory.", where);
    free(name);
    return NULL;
  }
  option_ctx_t ctx = {.block = PD_BLOCK_ACCOUNT,
                      .where = where,
                      .base = a,
                      .transport = &a->transport};
  for (int i = 0; i < ci->children_num; i++)
    if (block_option(&ctx, &ci->children[i]) != 0)
      goto fail;
  if (account_token_source(where, a, &ctx) != 0)
    goto fail;
  transport_warnings(where, &a->transport);
  return a;

fail:
  account_free(a);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* <Notify>                                                                  */

static void match_free(pd_match_t *m) {
  if (m->is_regex)
    regfree(&m->regex);
  free(m->text);
  memset(m, 0, sizeof(*m));
}

bool pd_match_matches(const pd_match_t *m, const char *text) {
  if (m == NULL || m->text == NULL)
    return true;
  if (text == NULL)
    text = "";
  if (m->is_regex)
    return regexec(&m->regex, text, 0, NULL, 0) == 0;
  return strcmp(m->text, text) == 0;
}

/* An upper bound of how many copies of its parts regcomp() makes for a
 * pattern: the product of the largest count of every {m,n} in it, and 2
 * for every '+'. glibc expands counted repetition into copies, and x+ into
 * x x*, so (a{999}){999} or a '+' on a '+' twenty times over (a++++...,
 * ((a)+)+...) would take gigabytes inside collectd (both found by
 * tests/fuzz/fuzz_config). An escaped or bracketed '+' is counted too: the
 * bound only needs to be safe, and 2^9 leaves room for real patterns. */
static double regex_copies(const char *pattern) {
  double copies = 1;
  for (const char *p = pattern; *p != '\0'; p++) {
    if (*p == '+') {
      copies *= 2;
      continue;
    }
    if (*p != '{')
      continue;
    char *end;
    double count = strtod(p + 1, &end);
    if (end != p + 1 && *end == ',')
      count = fmax(count, strtod(end + 1, &end));
    if (*end == '}' && count > 1)
      copies *= count;
  }
  return copies;
}

/* Repetition a match field may hold: far beyond what matching host or
 * plugin names needs, far below what exhausts memory. */
#define PD_REGEX_COPIES_MAX 1000.0

/* "exact" or "/regex/" (POSIX extended). */
static int match_parse(const char *where, const oconfig_item_t *ci,
                       pd_match_t *m) {
  char *text = NULL;
  if (get_string(where, ci, &text, 0) != 0)
    return -1;
  match_free(m);
  m->text = text;

  size_t len = strlen(text);
  if (len < 2 || text[0] != '/' || text[len - 1] != '/')
    return 0;

  char *pattern = strndup(text + 1, len - 2);
  if (pattern == NULL) {
    option_error(where, ci->key, "out of memory.");
    return -1;
  }
  if (regex_copies(pattern) > PD_REGEX_COPIES_MAX) {
    char shown[160];
    free(pattern);
    option_error(where, ci->key,
                 "regular expression %s repeats too much ({m,n} counts, "
                 "and 2 for each '+', multiply to more than 1000); write "
                 "a simpler one.",
                 printable(text, shown, sizeof(shown)));
    return -1;
  }
  int rc = regcomp(&m->regex, pattern, REG_EXTENDED | REG_NOSUB);
  free(pattern);
  if (rc != 0) {
    char reason[256], shown[160];
    regerror(rc, &m->regex, reason, sizeof(reason));
    option_error(where, ci->key,
                 "bad regular expression %s: %s; write /regex/ (POSIX "
                 "extended) or an exact string.",
                 printable(text, shown, sizeof(shown)), reason);
    return -1;
  }
  m->is_regex = true;
  return 0;
}

/* An Events API v2 integration key: 32 letters and digits. */
static int routing_key_parse(const char *where, const oconfig_item_t *ci,
                             char **out) {
  if (want_one_value(where, ci) != 0)
    return -1;
  if (ci->values[0].type != OCONFIG_TYPE_STRING) {
    option_error(where, ci->key,
                 "the routing key must be a string in double quotes.");
    return -1;
  }
  const char *key = ci->values[0].value.string;
  size_t len = strlen(key);
  bool ok = len == 32;
  for (size_t i = 0; ok && i < len; i++)
    ok = isalnum((unsigned char)key[i]) && (unsigned char)key[i] < 0x80;
  if (!ok) {
    option_error(where, ci->key,
                 "the routing key must be an Events API v2 integration key: "
                 "32 letters and digits (got %zu characters%s).",
                 len, len == 32 ? ", not all letters or digits" : "");
    return -1;
  }
  char *copy = strdup(key);
  if (copy == NULL) {
    option_error(where, ci->key, "out of memory.");
    return -1;
  }
  pd_secret_free(*out);
  *out = copy;
  return 0;
}

/* The template syntax belongs to the notify side (pd_template.h); the glue
 * hands its check in, so what is accepted here is exactly what the sender
 * can expand. */
static pd_config_text_check_t template_check;

void pd_config_set_template_check(pd_config_text_check_t check) {
  template_check = check;
}

/* Only the placeholders of doc/contract.md §3, each terminated. */
static int dedup_key_check(const char *where, const char *option,
                           const char *tmpl) {
  char err[256];
  if (template_check == NULL || template_check(tmpl, err, sizeof(err)) == 0)
    return 0;
  option_error(where, option, "%s.", err);
  return -1;
}

static void notify_free(pd_notify_config_t *n) {
  if (n == NULL)
    return;
  free(n->name);
  match_free(&n->host);
  match_free(&n->plugin);
  match_free(&n->plugin_instance);
  match_free(&n->type);
  match_free(&n->type_instance);
  pd_secret_free(n->routing_key);
  free(n->service);
  free(n->account);
  free(n->events_url);
  free(n->dedup_key);
  transport_free(&n->transport);
  free(n);
}

static pd_notify_config_t *notify_new(char *name) {
  pd_notify_config_t *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return NULL;
  if (apply_defaults(PD_BLOCK_NOTIFY, n, &n->transport) != 0) {
    notify_free(n);
    return NULL;
  }
  n->name = name;
  return n;
}

/* Exactly one target; Service acts through an Account's token. */
static int notify_target_check(const char *where, const pd_notify_config_t *n) {
  if (n->routing_key != NULL && n->service != NULL) {
    option_error(where, "Service",
                 "RoutingKey and Service are mutually exclusive; use "
                 "RoutingKey for the Events API or Service (with Account) "
                 "for the REST API.");
    return -1;
  }
  if (n->routing_key == NULL && n->service == NULL) {
    option_error(where, "RoutingKey",
                 "missing: set RoutingKey (an Events API v2 integration key) "
                 "or Service (a PagerDuty service ID, with Account).");
    return -1;
  }
  if (n->service != NULL && n->account == NULL) {
    option_error(where, "Account",
                 "missing: Service needs Account, the <Account> whose token "
                 "opens the incidents.");
    return -1;
  }
  return 0;
}

static pd_notify_config_t *notify_parse(const oconfig_item_t *ci) {
  char *name = block_name(ci, strlen("notify-"));
  if (name == NULL)
    return NULL;
  char where[WHERE_SIZE];
  block_where(where, "Notify", name);

  pd_notify_config_t *n = notify_new(name);
  if (n == NULL) {
    PD_ERROR("%s: out of memory.", where);
    free(name);
    return NULL;
  }
  option_ctx_t ctx = {.block = PD_BLOCK_NOTIFY,
                      .where = where,
                      .base = n,
                      .transport = &n->transport};
  for (int i = 0; i < ci->children_num; i++)
    if (block_option(&ctx, &ci->children[i]) != 0)
      goto fail;
  if (notify_target_check(where, n) != 0)
    goto fail;
  if (n->routing_key != NULL)
    transport_warnings(where, &n->transport);
  return n;

fail:
  notify_free(n);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* <Plugin pagerduty>                                                        */

void pd_config_init(pd_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  /* The plugin level has no defaults to copy, so this cannot fail. */
  (void)apply_defaults(PD_BLOCK_PLUGIN, cfg, NULL);
}

void pd_config_free(pd_config_t *cfg) {
  for (size_t i = 0; i < cfg->accounts_num; i++)
    account_free(cfg->accounts[i]);
  free(cfg->accounts);
  for (size_t i = 0; i < cfg->notifies_num; i++)
    notify_free(cfg->notifies[i]);
  free(cfg->notifies);
  free(cfg->spool_dir);
  pd_config_init(cfg);
}

pd_account_config_t *pd_config_find_account(const pd_config_t *cfg,
                                            const char *name) {
  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < cfg->accounts_num; i++)
    if (strcmp(cfg->accounts[i]->name, name) == 0)
      return cfg->accounts[i];
  return NULL;
}

static pd_notify_config_t *find_notify(const pd_config_t *cfg,
                                       const char *name) {
  for (size_t i = 0; i < cfg->notifies_num; i++)
    if (strcmp(cfg->notifies[i]->name, name) == 0)
      return cfg->notifies[i];
  return NULL;
}

static int append(void *array_ptr, size_t *num, void *item) {
  void ***array = array_ptr;
  void **grown = realloc(*array, (*num + 1) * sizeof(*grown));
  if (grown == NULL)
    return -1;
  grown[*num] = item;
  *array = grown;
  (*num)++;
  return 0;
}

static bool duplicate_name(const char *kind, const char *name, bool dup) {
  if (dup) {
    char shown[160];
    option_error(PLUGIN_WHERE, kind,
                 "duplicate name \"%s\": another <%s \"%s\"> is already "
                 "defined; every <%s> needs a name of its own.",
                 printable(name, shown, sizeof(shown)), kind, shown, kind);
  }
  return dup;
}

static int notify_account_check(const pd_notify_config_t *n,
                                const pd_config_t *a, const pd_config_t *b) {
  if (n->account == NULL || pd_config_find_account(a, n->account) != NULL ||
      (b != NULL && pd_config_find_account(b, n->account) != NULL))
    return 0;
  char where[WHERE_SIZE], shown[160];
  block_where(where, "Notify", n->name);
  option_error(where, "Account",
               "no <Account \"%s\"> is defined; define it in this <Plugin "
               "pagerduty> block or an earlier one.",
               printable(n->account, shown, sizeof(shown)));
  return -1;
}

/* Moves everything of staged into cfg; staged is left empty. */
static int merge(pd_config_t *cfg, pd_config_t *staged) {
  size_t accounts = cfg->accounts_num + staged->accounts_num;
  size_t notifies = cfg->notifies_num + staged->notifies_num;
  pd_account_config_t **a =
      realloc(cfg->accounts, (accounts ? accounts : 1) * sizeof(*a));
  if (a == NULL)
    return -1;
  cfg->accounts = a;
  pd_notify_config_t **n =
      realloc(cfg->notifies, (notifies ? notifies : 1) * sizeof(*n));
  if (n == NULL)
    return -1;
  cfg->notifies = n;

  for (size_t i = 0; i < staged->accounts_num; i++)
    cfg->accounts[cfg->accounts_num++] = staged->accounts[i];
  for (size_t i = 0; i < staged->notifies_num; i++)
    cfg->notifies[cfg->notifies_num++] = staged->notifies[i];
  staged->accounts_num = staged->notifies_num = 0;

  free(cfg->spool_dir);
  cfg->spool_dir = staged->spool_dir;
  staged->spool_dir = NULL;
  cfg->max_event_age_s = staged->max_event_age_s;
  cfg->max_spool_events = staged->max_spool_events;
  return 0;
}

int pd_config_parse(pd_config_t *cfg, const oconfig_item_t *ci) {
  if (cfg == NULL || ci == NULL)
    return -1;

  /* Top-level options start from what earlier blocks set. */
  pd_config_t staged;
  pd_config_init(&staged);
  staged.max_event_age_s = cfg->max_event_age_s;
  staged.max_spool_events = cfg->max_spool_events;
  if (cfg->spool_dir != NULL &&
      (staged.spool_dir = strdup(cfg->spool_dir)) == NULL) {
    PD_ERROR(PLUGIN_WHERE ": out of memory.");
    return -1;
  }

  option_ctx_t ctx = {.block = PD_BLOCK_PLUGIN,
                      .where = PLUGIN_WHERE,
                      .base = &staged,
                      .cfg = cfg};
  for (int i = 0; i < ci->children_num; i++)
    if (block_option(&ctx, &ci->children[i]) != 0)
      goto fail;
  for (size_t i = 0; i < staged.notifies_num; i++)
    if (notify_account_check(staged.notifies[i], cfg, &staged) != 0)
      goto fail;
  if (merge(cfg, &staged) != 0) {
    PD_ERROR(PLUGIN_WHERE ": out of memory.");
    goto fail;
  }
  pd_config_free(&staged);
  return 0;

fail:
  pd_config_free(&staged);
  return -1;
}

int pd_config_validate(const pd_config_t *cfg) {
  for (size_t i = 0; i < cfg->accounts_num; i++)
    for (size_t j = 0; j < i; j++)
      if (duplicate_name(
              "Account", cfg->accounts[i]->name,
              strcmp(cfg->accounts[i]->name, cfg->accounts[j]->name) == 0))
        return -1;
  for (size_t i = 0; i < cfg->notifies_num; i++) {
    const pd_notify_config_t *n = cfg->notifies[i];
    char where[WHERE_SIZE];
    for (size_t j = 0; j < i; j++)
      if (duplicate_name("Notify", n->name,
                         strcmp(n->name, cfg->notifies[j]->name) == 0))
        return -1;
    block_where(where, "Notify", n->name);
    if (notify_target_check(where, n) != 0 ||
        notify_account_check(n, cfg, NULL) != 0)
      return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Parsers of the options with rules of their own                            */

/* Where opt's value lives in the block being parsed. */
static void *field(const pd_option_t *opt, const option_ctx_t *ctx) {
  char *base = opt->transport ? (char *)ctx->transport : (char *)ctx->base;
  return base + opt->offset;
}

static int parse_proxy(const pd_option_t *opt, option_ctx_t *ctx,
                       const oconfig_item_t *ci) {
  return proxy_parse(ctx->where, ci, field(opt, ctx));
}

static int parse_routing_key(const pd_option_t *opt, option_ctx_t *ctx,
                             const oconfig_item_t *ci) {
  return routing_key_parse(ctx->where, ci, field(opt, ctx));
}

/* <Account "name">: parsed whole, then added to the staged configuration. */
static int parse_account_block(const pd_option_t *opt, option_ctx_t *ctx,
                               const oconfig_item_t *ci) {
  (void)opt;
  pd_config_t *staged = ctx->base;
  pd_account_config_t *a = account_parse(ci);
  if (a == NULL)
    return -1;
  if (duplicate_name("Account", a->name,
                     pd_config_find_account(ctx->cfg, a->name) != NULL ||
                         pd_config_find_account(staged, a->name) != NULL) ||
      append(&staged->accounts, &staged->accounts_num, a) != 0) {
    account_free(a);
    return -1;
  }
  return 0;
}

/* <Notify "name">: parsed whole, then added to the staged configuration. */
static int parse_notify_block(const pd_option_t *opt, option_ctx_t *ctx,
                              const oconfig_item_t *ci) {
  (void)opt;
  pd_config_t *staged = ctx->base;
  pd_notify_config_t *n = notify_parse(ci);
  if (n == NULL)
    return -1;
  if (duplicate_name("Notify", n->name,
                     find_notify(ctx->cfg, n->name) != NULL ||
                         find_notify(staged, n->name) != NULL) ||
      append(&staged->notifies, &staged->notifies_num, n) != 0) {
    notify_free(n);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The table of options (pd_config.h)                                        */

#define ACCOUNT_FIELD(f) .offset = offsetof(pd_account_config_t, f)
#define NOTIFY_FIELD(f) .offset = offsetof(pd_notify_config_t, f)
#define PLUGIN_FIELD(f) .offset = offsetof(pd_config_t, f)
#define TRANSPORT_FIELD(f)                                                     \
  .offset = offsetof(pd_transport_config_t, f), .transport = true
#define MATCH_ROW(option, f, what)                                             \
  {                                                                            \
    .blocks = PD_BLOCK_NOTIFY, .name = option, .type = PD_OPT_MATCH,           \
    .doc = "match field: the " what " of the notification",                    \
    .default_doc = "absent: matches anything",                                 \
    .validation = "an exact string, or a /regex/ that compiles",               \
    NOTIFY_FIELD(f)                                                            \
  }

static const pd_option_t OPTIONS[] = {
    /* <Plugin pagerduty> */
    {.blocks = PD_BLOCK_PLUGIN,
     .name = "SpoolDir",
     .type = PD_OPT_STRING,
     .doc = "where notifications wait until they are delivered",
     .default_doc = "<BaseDir>/pagerduty",
     .validation = "a non-empty string",
     PLUGIN_FIELD(spool_dir),
     .string_flags = PD_STR_NONEMPTY},
    {.blocks = PD_BLOCK_PLUGIN,
     .name = "MaxEventAge",
     .type = PD_OPT_NUMBER,
     .doc = "an event not delivered this many seconds after it was queued "
            "is moved to SpoolDir/failed/",
     PLUGIN_FIELD(max_event_age_s),
     .def_number = 86400,
     .number_rule = &RULE_POSITIVE_SECONDS},
    {.blocks = PD_BLOCK_PLUGIN,
     .name = "MaxSpoolEvents",
     .type = PD_OPT_NUMBER,
     .doc = "events a Notify block's spool holds at most; when full, the "
            "oldest are dropped",
     PLUGIN_FIELD(max_spool_events),
     .store = PD_STORE_LONG,
     .def_number = 100000,
     .number_rule = &RULE_SPOOL_EVENTS},
    {.blocks = PD_BLOCK_PLUGIN,
     .name = "Account",
     .type = PD_OPT_BLOCK,
     .doc = "one PagerDuty user token to read from",
     .default_doc = "none",
     .validation = "a unique name, not starting with \"notify-\"",
     .parse = parse_account_block},
    {.blocks = PD_BLOCK_PLUGIN,
     .name = "Notify",
     .type = PD_OPT_BLOCK,
     .doc = "collectd notifications to turn into PagerDuty actions",
     .default_doc = "none",
     .validation = "a unique name",
     .parse = parse_notify_block},

    /* <Account "name"> */
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "Token",
     .type = PD_OPT_SECRET,
     .doc = "the User API token, inline",
     .default_doc = "none (TokenFile, else " PD_TOKEN_ENV ")",
     .validation = "non-empty, no CR/LF; not together with TokenFile",
     .parse = parse_token},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "TokenFile",
     .type = PD_OPT_STRING,
     .doc = "a file whose first line is the token; re-read when it changes",
     .default_doc = "none (Token, else " PD_TOKEN_ENV ")",
     .validation = "a readable regular file holding a token",
     ACCOUNT_FIELD(token_file),
     .string_flags = PD_STR_NONEMPTY},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "URL",
     .type = PD_OPT_URL,
     .doc = "the REST API base",
     .validation = "https:// with a host (http:// for loopback hosts)",
     ACCOUNT_FIELD(url),
     .def_string = PD_DEFAULT_URL},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "Team",
     .type = PD_OPT_STRINGS,
     .doc = "scopes everything the account reads to these teams (IDs or "
            "exact names)",
     .default_doc = "no scoping",
     .validation = "non-empty strings without CR/LF",
     .parse = parse_team},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "Host",
     .type = PD_OPT_STRING,
     .doc = "host of the dispatched values and notifications",
     .default_doc = "collectd's Hostname",
     .validation = "at most 127 bytes, no control characters",
     ACCOUNT_FIELD(host),
     .string_flags = PD_STR_NONEMPTY,
     .check = host_check},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "Interval",
     .type = PD_OPT_NUMBER,
     .doc = "seconds between reads of services and incidents",
     .default_doc = "0: the plugin's interval",
     ACCOUNT_FIELD(interval_s),
     .number_rule = &RULE_INTERVAL},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "SlowInterval",
     .type = PD_OPT_NUMBER,
     .doc = "seconds between reads of teams, schedules, escalation policies "
            "and on-calls",
     ACCOUNT_FIELD(slow_interval_s),
     .def_number = 300,
     .number_rule = &RULE_POSITIVE_SECONDS},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "CoverageWindow",
     .type = PD_OPT_NUMBER,
     .doc = "how far ahead, in seconds, schedules are examined for gaps",
     ACCOUNT_FIELD(coverage_window_s),
     .def_number = 604800,
     .number_rule = &RULE_POSITIVE_SECONDS},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "TrendWindow",
     .type = PD_OPT_NUMBER,
     .doc = "window, in seconds, of the service-<svc>-created counts",
     ACCOUNT_FIELD(trend_window_s),
     .def_number = 86400,
     .number_rule = &RULE_POSITIVE_SECONDS},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "FullSyncInterval",
     .type = PD_OPT_NUMBER,
     .doc = "Incremental reads: a full re-read of incidents every this many "
            "seconds; 0 = every cycle",
     ACCOUNT_FIELD(full_sync_interval_s),
     .def_number = 3600,
     .number_rule = &RULE_FULL_SYNC_INTERVAL},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "Collect",
     .type = PD_OPT_FLAGS,
     .doc = "what to collect; several lines add up",
     .default_doc = "all six",
     ACCOUNT_FIELD(collect),
     .def_number = PD_COLLECT_ALL,
     .keyword_rule = &RULE_COLLECT},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "InstanceBy",
     .type = PD_OPT_ENUM,
     .doc = "name entities in type instances by their name or their ID",
     .default_doc = "\"name\"",
     ACCOUNT_FIELD(instance_by),
     .def_number = PD_INSTANCE_BY_NAME,
     .keyword_rule = &RULE_INSTANCE_BY},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "Notifications",
     .type = PD_OPT_BOOLEAN,
     .doc = "dispatch collectd notifications about PagerDuty's state",
     ACCOUNT_FIELD(notifications),
     .def_number = 0},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "MaxRequestsPerMinute",
     .type = PD_OPT_NUMBER,
     .doc = "this account's own request ceiling over a sliding minute",
     ACCOUNT_FIELD(max_requests_per_minute),
     .store = PD_STORE_INT,
     .def_number = 600,
     .number_rule = &RULE_REQUESTS},
    {.blocks = PD_BLOCK_ACCOUNT,
     .name = "From",
     .type = PD_OPT_STRING,
     .doc = "the From header of write requests",
     .default_doc = "the email of the token's user (GET /users/me)",
     .validation = "an email address",
     ACCOUNT_FIELD(from),
     .string_flags = PD_STR_NONEMPTY | PD_STR_HEADER_SAFE,
     .check = from_check},

    /* <Notify "name"> */
    MATCH_ROW("Host", host, "host"),
    MATCH_ROW("Plugin", plugin, "plugin"),
    MATCH_ROW("PluginInstance", plugin_instance, "plugin instance"),
    MATCH_ROW("Type", type, "type"),
    MATCH_ROW("TypeInstance", type_instance, "type instance"),
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "Severity",
     .type = PD_OPT_FLAGS,
     .doc = "which severities act; several lines add up",
     .default_doc = "all three",
     NOTIFY_FIELD(severities),
     .def_number = PD_SEVERITY_ALL,
     .keyword_rule = &RULE_SEVERITY},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "RoutingKey",
     .type = PD_OPT_SECRET,
     .doc = "Events API v2 integration key: incidents go through the Events "
            "API",
     .default_doc = "none",
     .validation = "32 ASCII letters and digits; exactly one of RoutingKey "
                   "and Service",
     NOTIFY_FIELD(routing_key),
     .parse = parse_routing_key},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "Service",
     .type = PD_OPT_STRING,
     .doc = "a service ID: incidents are opened through the REST API",
     .default_doc = "none",
     .validation = "non-empty, no CR/LF; needs Account",
     NOTIFY_FIELD(service),
     .string_flags = PD_STR_NONEMPTY | PD_STR_HEADER_SAFE},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "Account",
     .type = PD_OPT_STRING,
     .doc = "the <Account> whose token the block acts through",
     .default_doc = "none",
     .validation = "the name of an <Account> defined so far",
     NOTIFY_FIELD(account),
     .string_flags = PD_STR_NONEMPTY},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "EventsURL",
     .type = PD_OPT_URL,
     .doc = "the Events API base",
     .validation = "https:// with a host (http:// for loopback hosts)",
     NOTIFY_FIELD(events_url),
     .def_string = PD_DEFAULT_EVENTS_URL},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "DedupKey",
     .type = PD_OPT_STRING,
     .doc = "template of the key that makes repeated notifications one "
            "incident",
     .validation = "only the documented placeholders, each terminated; no "
                   "CR/LF",
     NOTIFY_FIELD(dedup_key),
     .def_string = PD_DEFAULT_DEDUP_KEY,
     .string_flags = PD_STR_NONEMPTY | PD_STR_HEADER_SAFE,
     .check = dedup_key_check},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "ResolveOnOkay",
     .type = PD_OPT_BOOLEAN,
     .doc = "OKAY resolves the incident",
     NOTIFY_FIELD(resolve_on_okay),
     .def_number = 1},
    {.blocks = PD_BLOCK_NOTIFY,
     .name = "NoteInterval",
     .type = PD_OPT_NUMBER,
     .doc = "with an Account: at most one \"still FAILURE\" note per "
            "incident every this many seconds",
     NOTIFY_FIELD(note_interval_s),
     .def_number = 600,
     .number_rule = &RULE_NOTE_INTERVAL},

    /* Transport, in <Account> and <Notify> */
    {.blocks = PD_BLOCK_ACCOUNT | PD_BLOCK_NOTIFY,
     .name = "Timeout",
     .type = PD_OPT_NUMBER,
     .doc = "per request, milliseconds",
     TRANSPORT_FIELD(timeout_ms),
     .store = PD_STORE_LONG,
     .def_number = 10000,
     .number_rule = &RULE_TIMEOUT_MS},
    {.blocks = PD_BLOCK_ACCOUNT | PD_BLOCK_NOTIFY,
     .name = "VerifyPeer",
     .type = PD_OPT_BOOLEAN,
     .doc = "verify the server's TLS certificate (false draws a WARNING)",
     TRANSPORT_FIELD(verify_peer),
     .def_number = 1},
    {.blocks = PD_BLOCK_ACCOUNT | PD_BLOCK_NOTIFY,
     .name = "VerifyHost",
     .type = PD_OPT_BOOLEAN,
     .doc = "check the server's name against its certificate (false draws a "
            "WARNING)",
     TRANSPORT_FIELD(verify_host),
     .def_number = 1},
    {.blocks = PD_BLOCK_ACCOUNT | PD_BLOCK_NOTIFY,
     .name = "CACert",
     .type = PD_OPT_STRING,
     .doc = "CA bundle (PEM) to verify the server with",
     .default_doc = "the system's bundle",
     .validation = "a readable regular file",
     TRANSPORT_FIELD(cacert),
     .string_flags = PD_STR_NONEMPTY,
     .check = cacert_check},
    {.blocks = PD_BLOCK_ACCOUNT | PD_BLOCK_NOTIFY,
     .name = "Proxy",
     .type = PD_OPT_SECRET,
     .doc = "proxy URL (never logged: it may carry credentials)",
     .default_doc = "none (libcurl's proxy environment variables apply)",
     .validation = "scheme http, https, socks4, socks4a, socks5 or socks5h, "
                   "and a host",
     TRANSPORT_FIELD(proxy),
     .parse = parse_proxy},
};

#define OPTIONS_NUM (sizeof(OPTIONS) / sizeof(OPTIONS[0]))
_Static_assert(OPTIONS_NUM <= OPTIONS_MAX, "raise OPTIONS_MAX");
/* PD_OPT_ENUM and PD_OPT_FLAGS values are stored as unsigned. */
_Static_assert(sizeof(pd_instance_by_t) == sizeof(unsigned),
               "InstanceBy is stored as unsigned");

const pd_option_t *pd_config_options(size_t *num) {
  if (num != NULL)
    *num = OPTIONS_NUM;
  return OPTIONS;
}

const pd_option_t *pd_config_option_find(unsigned block, const char *name) {
  for (size_t i = 0; i < OPTIONS_NUM; i++)
    if ((OPTIONS[i].blocks & block) && strcasecmp(OPTIONS[i].name, name) == 0)
      return &OPTIONS[i];
  return NULL;
}

static bool option_seen(const option_ctx_t *ctx, const char *name) {
  const pd_option_t *opt = pd_config_option_find(ctx->block, name);
  return opt != NULL && ctx->seen[opt - OPTIONS];
}

/* Fills in the defaults of block's options; -1 when memory runs out. */
static int apply_defaults(unsigned block, void *base,
                          pd_transport_config_t *t) {
  option_ctx_t ctx = {.block = block, .base = base, .transport = t};
  for (size_t i = 0; i < OPTIONS_NUM; i++) {
    const pd_option_t *opt = &OPTIONS[i];
    /* Options with parsers of their own have no default. */
    if (!(opt->blocks & block) || opt->parse != NULL)
      continue;
    void *p = field(opt, &ctx);
    switch (opt->type) {
    case PD_OPT_NUMBER:
      if (opt->store == PD_STORE_INT)
        *(int *)p = (int)opt->def_number;
      else if (opt->store == PD_STORE_LONG)
        *(long *)p = (long)opt->def_number;
      else
        *(double *)p = opt->def_number;
      break;
    case PD_OPT_BOOLEAN:
      *(bool *)p = opt->def_number != 0;
      break;
    case PD_OPT_ENUM:
    case PD_OPT_FLAGS:
      *(unsigned *)p = (unsigned)opt->def_number;
      break;
    case PD_OPT_STRING:
    case PD_OPT_URL:
      if (opt->def_string != NULL &&
          (*(char **)p = strdup(opt->def_string)) == NULL)
        return -1;
      break;
    default:
      break;
    }
  }
  return 0;
}

/* An option of a type the generic parsers handle. */
static int parse_by_type(const pd_option_t *opt, option_ctx_t *ctx,
                         const oconfig_item_t *ci) {
  const char *where = ctx->where;
  void *p = field(opt, ctx);
  double x;
  switch (opt->type) {
  case PD_OPT_STRING:
    if (get_string(where, ci, p, opt->string_flags) != 0)
      return -1;
    return opt->check != NULL ? opt->check(where, ci->key, *(char **)p) : 0;
  case PD_OPT_URL: {
    char *url = base_url_parse(where, ci);
    if (url == NULL)
      return -1;
    free(*(char **)p);
    *(char **)p = url;
    return 0;
  }
  case PD_OPT_MATCH:
    return match_parse(where, ci, p);
  case PD_OPT_BOOLEAN:
    return get_boolean(where, ci, p);
  case PD_OPT_NUMBER:
    if (get_number(where, ci, opt->number_rule, &x) != 0)
      return -1;
    if (opt->store == PD_STORE_INT)
      *(int *)p = (int)x;
    else if (opt->store == PD_STORE_LONG)
      *(long *)p = (long)x;
    else
      *(double *)p = x;
    return 0;
  case PD_OPT_ENUM:
    return get_enum(where, ci, opt->keyword_rule, p);
  case PD_OPT_FLAGS:
    return get_flags(where, ci, opt->keyword_rule, p,
                     &ctx->seen[opt - OPTIONS]);
  default:
    option_error(where, ci->key, "has no parser (a bug).");
    return -1;
  }
}

/* "A, B and C" (or "A, B, C" without and_last): the options (blocks ==
 * false) or the nested blocks (blocks == true) of block. */
static void option_list(unsigned block, bool blocks, bool and_last, char *buf,
                        size_t size) {
  size_t num = 0, total = 0, len = 0;
  for (size_t i = 0; i < OPTIONS_NUM; i++)
    if ((OPTIONS[i].blocks & block) &&
        (OPTIONS[i].type == PD_OPT_BLOCK) == blocks)
      total++;
  buf[0] = '\0';
  for (size_t i = 0; i < OPTIONS_NUM && len < size; i++) {
    const pd_option_t *opt = &OPTIONS[i];
    if (!(opt->blocks & block) || (opt->type == PD_OPT_BLOCK) != blocks)
      continue;
    num++;
    const char *sep = num == 1 ? "" : num == total && and_last ? " and " : ", ";
    int n = snprintf(buf + len, size - len, blocks ? "%s<%s>" : "%s%s", sep,
                     opt->name);
    len += n > 0 ? (size_t)n : 0;
  }
}

/* The unknown-option ERROR lists what the block takes instead. */
static void unknown_option(const option_ctx_t *ctx, const char *key) {
  char options[512], blocks[128];
  option_list(ctx->block, true, true, blocks, sizeof(blocks));
  option_list(ctx->block, false, blocks[0] == '\0', options, sizeof(options));
  const char *noun = ctx->block == PD_BLOCK_PLUGIN    ? "<Plugin pagerduty>"
                     : ctx->block == PD_BLOCK_ACCOUNT ? "an <Account> block"
                                                      : "a <Notify> block";
  if (blocks[0] != '\0')
    option_error(ctx->where, key, "unknown option; %s takes %s and %s blocks.",
                 noun, options, blocks);
  else
    option_error(ctx->where, key, "unknown option; %s takes %s.", noun,
                 options);
}

/* One child of a block: found in the table, parsed, remembered as seen. */
static int block_option(option_ctx_t *ctx, const oconfig_item_t *ci) {
  const pd_option_t *opt = pd_config_option_find(ctx->block, ci->key);
  if (opt == NULL) {
    unknown_option(ctx, ci->key);
    return -1;
  }
  int rc = opt->parse != NULL ? opt->parse(opt, ctx, ci)
                              : parse_by_type(opt, ctx, ci);
  if (rc == 0)
    ctx->seen[opt - OPTIONS] = true;
  return rc;
}
