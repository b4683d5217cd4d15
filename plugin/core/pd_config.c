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
#include "pd_template.h"
#include "pd_token.h"

#define WHERE_SIZE 192
#define PLUGIN_WHERE "<Plugin pagerduty>"

/* Flags for get_string(). */
enum {
  STR_NONEMPTY = 1u << 0,
  STR_HEADER_SAFE = 1u << 1, /* sent in a header or URL: no CR or LF */
  STR_SECRET = 1u << 2,      /* never quoted back, wiped when replaced */
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
  if ((flags & STR_NONEMPTY) && s[0] == '\0') {
    option_error(where, option, "%s must not be empty.", what);
    return -1;
  }
  if ((flags & STR_HEADER_SAFE) && strpbrk(s, "\r\n") != NULL) {
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

/* A range for get_number(): [min, max], min exclusive when min_open. */
typedef struct {
  double min;
  bool min_open;
  double max;
  bool integral;
  const char *expect; /* "a positive number of seconds" */
} number_rule_t;

static int get_number(const char *where, const oconfig_item_t *ci,
                      const number_rule_t *rule, double *out) {
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

static const number_rule_t RULE_POSITIVE_SECONDS = {
    0, true, 1e12, false, "a positive number of seconds"};
static const number_rule_t RULE_INTERVAL = {
    0, false, 1e12, false,
    "a positive number of seconds, or 0 for collectd's interval"};
static const number_rule_t RULE_NOTE_INTERVAL = {
    0, false, 1e12, false, "a number of seconds, 0 or more (0: no notes)"};
static const number_rule_t RULE_FULL_SYNC = {
    0, false, 1e12, false,
    "a number of seconds, 0 or more (0: a full read every cycle)"};
static const number_rule_t RULE_SPOOL_EVENTS = {
    1, false, 1e12, true, "a positive whole number of events"};
static const number_rule_t RULE_REQUESTS = {
    1, false, 960, true,
    "a whole number from 1 to 960 (PagerDuty allows 960 requests per minute "
    "per user)"};
static const number_rule_t RULE_TIMEOUT_MS = {
    1, false, 2147483647, true, "a positive whole number of milliseconds"};

/* The names a flag list takes (case does not matter) and their bits. */
typedef struct {
  const char *name;
  unsigned bit;
} flag_name_t;

typedef struct {
  const flag_name_t *names;
  size_t names_num;
  const char *expect; /* "expected one or more of ...", for messages */
} flag_rule_t;

/*
 * A list of one or more flag names, such as Collect "services" "teams":
 * their bits OR-ed into *out. Several lines of the option add up; the first
 * one replaces the default (*seen tells which it is).
 */
static int get_flags(const char *where, const oconfig_item_t *ci,
                     const flag_rule_t *rule, unsigned *out, bool *seen) {
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
      for (size_t k = 0; k < rule->names_num; k++)
        if (strcasecmp(v->value.string, rule->names[k].name) == 0)
          bit = rule->names[k].bit;
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

static const flag_name_t COLLECT_NAMES[] = {
    {"services", PD_COLLECT_SERVICES}, {"incidents", PD_COLLECT_INCIDENTS},
    {"oncalls", PD_COLLECT_ONCALLS},   {"schedules", PD_COLLECT_SCHEDULES},
    {"policies", PD_COLLECT_POLICIES}, {"teams", PD_COLLECT_TEAMS},
};
static const flag_rule_t RULE_COLLECT = {
    COLLECT_NAMES, sizeof(COLLECT_NAMES) / sizeof(COLLECT_NAMES[0]),
    "expected one or more of \"services\", \"incidents\", \"oncalls\", "
    "\"schedules\", \"policies\", \"teams\""};

static const flag_name_t SEVERITY_NAMES[] = {
    {"FAILURE", PD_SEVERITY_FAILURE},
    {"WARNING", PD_SEVERITY_WARNING},
    {"OKAY", PD_SEVERITY_OKAY},
};
static const flag_rule_t RULE_SEVERITY = {
    SEVERITY_NAMES, sizeof(SEVERITY_NAMES) / sizeof(SEVERITY_NAMES[0]),
    "expected one or more of \"FAILURE\", \"WARNING\", \"OKAY\""};

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
  if (get_string(where, ci, &url, STR_NONEMPTY | STR_HEADER_SAFE) != 0)
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
                 STR_NONEMPTY | STR_HEADER_SAFE | STR_SECRET) != 0)
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

static void transport_defaults(pd_transport_config_t *t) {
  t->timeout_ms = 10000;
  t->verify_peer = true;
  t->verify_host = true;
  t->cacert = NULL;
  t->proxy = NULL;
}

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

/* Handles Timeout, VerifyPeer, VerifyHost, CACert and Proxy. Returns 1 when
 * ci was one of them and is fine, 0 when it is not one of them, -1 on an
 * error (logged). */
static int transport_option(const char *where, const oconfig_item_t *ci,
                            pd_transport_config_t *t) {
  double x;
  if (strcasecmp(ci->key, "Timeout") == 0) {
    if (get_number(where, ci, &RULE_TIMEOUT_MS, &x) != 0)
      return -1;
    t->timeout_ms = (long)x;
    return 1;
  }
  if (strcasecmp(ci->key, "VerifyPeer") == 0)
    return get_boolean(where, ci, &t->verify_peer) == 0 ? 1 : -1;
  if (strcasecmp(ci->key, "VerifyHost") == 0)
    return get_boolean(where, ci, &t->verify_host) == 0 ? 1 : -1;
  if (strcasecmp(ci->key, "CACert") == 0) {
    if (get_string(where, ci, &t->cacert, STR_NONEMPTY) != 0)
      return -1;
    return cacert_check(where, ci->key, t->cacert) == 0 ? 1 : -1;
  }
  if (strcasecmp(ci->key, "Proxy") == 0)
    return proxy_parse(where, ci, &t->proxy) == 0 ? 1 : -1;
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
  a->name = name;
  a->url = strdup(PD_DEFAULT_URL);
  a->slow_interval_s = 300;
  a->coverage_window_s = 604800;
  a->trend_window_s = 86400;
  a->full_sync_interval_s = 3600;
  a->collect = PD_COLLECT_ALL;
  a->instance_by = PD_INSTANCE_BY_NAME;
  a->notifications = false;
  a->max_requests_per_minute = 600;
  transport_defaults(&a->transport);
  if (a->url == NULL) {
    a->name = NULL;
    account_free(a);
    return NULL;
  }
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
                     STR_NONEMPTY | STR_HEADER_SAFE, "a team") != 0)
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

static int instance_by_parse(const char *where, const oconfig_item_t *ci,
                             pd_instance_by_t *out) {
  char *value = NULL;
  if (get_string(where, ci, &value, 0) != 0)
    return -1;
  int rc = 0;
  if (strcasecmp(value, "name") == 0)
    *out = PD_INSTANCE_BY_NAME;
  else if (strcasecmp(value, "id") == 0)
    *out = PD_INSTANCE_BY_ID;
  else {
    char shown[160];
    option_error(where, ci->key, "must be \"name\" or \"id\" (got \"%s\").",
                 printable(value, shown, sizeof(shown)));
    rc = -1;
  }
  free(value);
  return rc;
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

/* What account_option() saw, for the checks at the end of the block. */
typedef struct {
  bool token_seen, token_file_seen, collect_seen;
} account_seen_t;

static int account_option(const char *where, const oconfig_item_t *ci,
                          pd_account_config_t *a, account_seen_t *seen) {
  const char *key = ci->key;
  double x;

  if (strcasecmp(key, "Token") == 0) {
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
    seen->token_seen = true;
    return 0;
  }
  if (strcasecmp(key, "TokenFile") == 0) {
    seen->token_file_seen = true;
    return get_string(where, ci, &a->token_file, STR_NONEMPTY);
  }
  if (strcasecmp(key, "URL") == 0) {
    char *url = base_url_parse(where, ci);
    if (url == NULL)
      return -1;
    free(a->url);
    a->url = url;
    return 0;
  }
  if (strcasecmp(key, "Team") == 0)
    return teams_add(where, ci, a);
  if (strcasecmp(key, "Host") == 0) {
    if (get_string(where, ci, &a->host, STR_NONEMPTY) != 0)
      return -1;
    return host_check(where, key, a->host);
  }
  if (strcasecmp(key, "Interval") == 0)
    return get_number(where, ci, &RULE_INTERVAL, &a->interval_s);
  if (strcasecmp(key, "SlowInterval") == 0)
    return get_number(where, ci, &RULE_POSITIVE_SECONDS, &a->slow_interval_s);
  if (strcasecmp(key, "CoverageWindow") == 0)
    return get_number(where, ci, &RULE_POSITIVE_SECONDS, &a->coverage_window_s);
  if (strcasecmp(key, "TrendWindow") == 0)
    return get_number(where, ci, &RULE_POSITIVE_SECONDS, &a->trend_window_s);
  if (strcasecmp(key, "FullSyncInterval") == 0)
    return get_number(where, ci, &RULE_FULL_SYNC, &a->full_sync_interval_s);
  if (strcasecmp(key, "Collect") == 0)
    return get_flags(where, ci, &RULE_COLLECT, &a->collect,
                     &seen->collect_seen);
  if (strcasecmp(key, "InstanceBy") == 0)
    return instance_by_parse(where, ci, &a->instance_by);
  if (strcasecmp(key, "Notifications") == 0)
    return get_boolean(where, ci, &a->notifications);
  if (strcasecmp(key, "MaxRequestsPerMinute") == 0) {
    if (get_number(where, ci, &RULE_REQUESTS, &x) != 0)
      return -1;
    a->max_requests_per_minute = (int)x;
    return 0;
  }
  if (strcasecmp(key, "From") == 0) {
    if (get_string(where, ci, &a->from, STR_NONEMPTY | STR_HEADER_SAFE) != 0)
      return -1;
    if (!looks_like_email(a->from)) {
      char shown[160];
      option_error(where, key,
                   "must be the email address of a PagerDuty user, such as "
                   "\"ops@example.com\" (got \"%s\").",
                   printable(a->from, shown, sizeof(shown)));
      return -1;
    }
    return 0;
  }

  int rc = transport_option(where, ci, &a->transport);
  if (rc != 0)
    return rc < 0 ? -1 : 0;

  option_error(where, key,
               "unknown option; an <Account> block takes Token, TokenFile, "
               "URL, Team, Host, Interval, SlowInterval, CoverageWindow, "
               "TrendWindow, FullSyncInterval, Collect, InstanceBy, "
               "Notifications, MaxRequestsPerMinute, Timeout, VerifyPeer, "
               "VerifyHost, CACert, Proxy and From.");
  return -1;
}

/* Settles where the token comes from: exactly one of Token, TokenFile and
 * the environment. A TokenFile must be readable now. */
static int account_token_source(const char *where, pd_account_config_t *a,
                                const account_seen_t *seen) {
  if (seen->token_seen && seen->token_file_seen) {
    option_error(where, "TokenFile",
                 "Token and TokenFile are mutually exclusive; use one of "
                 "them.");
    return -1;
  }
  if (seen->token_seen) {
    a->token_source = PD_TOKEN_FROM_CONFIG;
    return 0;
  }
  if (seen->token_file_seen) {
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
  account_seen_t seen = {0};
  for (int i = 0; i < ci->children_num; i++)
    if (account_option(where, &ci->children[i], a, &seen) != 0)
      goto fail;
  if (account_token_source(where, a, &seen) != 0)
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

/* Only the placeholders of doc/contract.md §3, each terminated (pd_template
 * decides, so what is accepted here is exactly what the sender can expand). */
static int dedup_key_check(const char *where, const char *option,
                           const char *tmpl) {
  char err[256];
  if (pd_template_validate(tmpl, err, sizeof(err)) == 0)
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
  n->name = name;
  n->severities = PD_SEVERITY_ALL;
  n->events_url = strdup(PD_DEFAULT_EVENTS_URL);
  n->dedup_key = strdup(PD_DEFAULT_DEDUP_KEY);
  n->resolve_on_okay = true;
  n->note_interval_s = 600;
  transport_defaults(&n->transport);
  if (n->events_url == NULL || n->dedup_key == NULL) {
    n->name = NULL;
    notify_free(n);
    return NULL;
  }
  return n;
}

static int notify_option(const char *where, const oconfig_item_t *ci,
                         pd_notify_config_t *n, bool *severity_seen) {
  const char *key = ci->key;
  if (strcasecmp(key, "Host") == 0)
    return match_parse(where, ci, &n->host);
  if (strcasecmp(key, "Plugin") == 0)
    return match_parse(where, ci, &n->plugin);
  if (strcasecmp(key, "PluginInstance") == 0)
    return match_parse(where, ci, &n->plugin_instance);
  if (strcasecmp(key, "Type") == 0)
    return match_parse(where, ci, &n->type);
  if (strcasecmp(key, "TypeInstance") == 0)
    return match_parse(where, ci, &n->type_instance);
  if (strcasecmp(key, "Severity") == 0)
    return get_flags(where, ci, &RULE_SEVERITY, &n->severities, severity_seen);
  if (strcasecmp(key, "RoutingKey") == 0)
    return routing_key_parse(where, ci, &n->routing_key);
  if (strcasecmp(key, "Service") == 0)
    return get_string(where, ci, &n->service, STR_NONEMPTY | STR_HEADER_SAFE);
  if (strcasecmp(key, "Account") == 0)
    return get_string(where, ci, &n->account, STR_NONEMPTY);
  if (strcasecmp(key, "EventsURL") == 0) {
    char *url = base_url_parse(where, ci);
    if (url == NULL)
      return -1;
    free(n->events_url);
    n->events_url = url;
    return 0;
  }
  if (strcasecmp(key, "DedupKey") == 0) {
    if (get_string(where, ci, &n->dedup_key, STR_NONEMPTY | STR_HEADER_SAFE) !=
        0)
      return -1;
    return dedup_key_check(where, key, n->dedup_key);
  }
  if (strcasecmp(key, "ResolveOnOkay") == 0)
    return get_boolean(where, ci, &n->resolve_on_okay);
  if (strcasecmp(key, "NoteInterval") == 0)
    return get_number(where, ci, &RULE_NOTE_INTERVAL, &n->note_interval_s);

  int rc = transport_option(where, ci, &n->transport);
  if (rc != 0)
    return rc < 0 ? -1 : 0;

  option_error(where, key,
               "unknown option; a <Notify> block takes Host, Plugin, "
               "PluginInstance, Type, TypeInstance, Severity, RoutingKey, "
               "Service, Account, EventsURL, DedupKey, ResolveOnOkay, "
               "NoteInterval, Timeout, VerifyPeer, VerifyHost, CACert and "
               "Proxy.");
  return -1;
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
  bool severity_seen = false;
  for (int i = 0; i < ci->children_num; i++)
    if (notify_option(where, &ci->children[i], n, &severity_seen) != 0)
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
  cfg->max_event_age_s = 86400;
  cfg->max_spool_events = 100000;
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

static int plugin_option(const oconfig_item_t *ci, const pd_config_t *cfg,
                         pd_config_t *staged) {
  const char *key = ci->key;
  double x;

  if (strcasecmp(key, "Account") == 0) {
    pd_account_config_t *a = account_parse(ci);
    if (a == NULL)
      return -1;
    if (duplicate_name("Account", a->name,
                       pd_config_find_account(cfg, a->name) != NULL ||
                           pd_config_find_account(staged, a->name) != NULL) ||
        append(&staged->accounts, &staged->accounts_num, a) != 0) {
      account_free(a);
      return -1;
    }
    return 0;
  }
  if (strcasecmp(key, "Notify") == 0) {
    pd_notify_config_t *n = notify_parse(ci);
    if (n == NULL)
      return -1;
    if (duplicate_name("Notify", n->name,
                       find_notify(cfg, n->name) != NULL ||
                           find_notify(staged, n->name) != NULL) ||
        append(&staged->notifies, &staged->notifies_num, n) != 0) {
      notify_free(n);
      return -1;
    }
    return 0;
  }
  if (strcasecmp(key, "SpoolDir") == 0)
    return get_string(PLUGIN_WHERE, ci, &staged->spool_dir, STR_NONEMPTY);
  if (strcasecmp(key, "MaxEventAge") == 0)
    return get_number(PLUGIN_WHERE, ci, &RULE_POSITIVE_SECONDS,
                      &staged->max_event_age_s);
  if (strcasecmp(key, "MaxSpoolEvents") == 0) {
    if (get_number(PLUGIN_WHERE, ci, &RULE_SPOOL_EVENTS, &x) != 0)
      return -1;
    staged->max_spool_events = (long)x;
    return 0;
  }
  option_error(PLUGIN_WHERE, key,
               "unknown option; <Plugin pagerduty> takes SpoolDir, "
               "MaxEventAge, MaxSpoolEvents and <Account> and <Notify> "
               "blocks.");
  return -1;
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

  for (int i = 0; i < ci->children_num; i++)
    if (plugin_option(&ci->children[i], cfg, &staged) != 0)
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
