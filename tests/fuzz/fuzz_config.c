/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - libFuzzer target: the configuration (pd_config.h), through
 * an oconfig_item_t tree built from the input.
 *
 * The input is the inside of a <Plugin pagerduty> block in collectd's
 * syntax, one item per line:
 *   <Key value...>   opens a block      </Key>   closes it
 *   Key value...     an option
 * Values are "quoted strings" (\" and \\ escaped), true / false, numbers
 * (what strtod reads whole), or bare words (strings). Lines that are none
 * of these still become items: the parser must refuse them, not trip.
 * Checked beyond "no crash": an accepted block also passes
 * pd_config_validate(), and no log line shows a Token, RoutingKey or the
 * password in a Proxy URL of the input.
 */
#define _GNU_SOURCE /* strcasecmp, strndup */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_fixture.h"
#include "daemon_stubs.h"
#include "fuzz_common.h"
#include "pd_config.h"
#include "pd_template.h"

#define MAX_DEPTH 8
#define MAX_ITEMS 512

/* One value at *p (within end); advances *p. */
static void parse_value(oconfig_item_t *ci, const char **p, const char *end) {
  const char *s = *p;
  oconfig_value_t *v = config_value_new(ci);
  if (*s == '"') {
    char *out = malloc((size_t)(end - s) + 1);
    require(out != NULL);
    size_t n = 0;
    for (s++; s < end && *s != '"'; s++) {
      if (*s == '\\' && s + 1 < end)
        s++;
      out[n++] = *s;
    }
    out[n] = '\0';
    *p = s < end ? s + 1 : end;
    v->type = OCONFIG_TYPE_STRING;
    v->value.string = out;
    return;
  }
  const char *stop = s;
  while (stop < end && !isspace((unsigned char)*stop) && *stop != '>')
    stop++;
  char *word = strndup(s, (size_t)(stop - s));
  require(word != NULL);
  *p = stop;
  char *num_end;
  double number = strtod(word, &num_end);
  if (strcasecmp(word, "true") == 0 || strcasecmp(word, "false") == 0) {
    v->type = OCONFIG_TYPE_BOOLEAN;
    v->value.boolean = strcasecmp(word, "true") == 0;
    free(word);
  } else if (word[0] != '\0' && *num_end == '\0') {
    v->type = OCONFIG_TYPE_NUMBER;
    v->value.number = number;
    free(word);
  } else {
    v->type = OCONFIG_TYPE_STRING;
    v->value.string = word;
  }
}

/* One line: an option, a block opening or a block closing. */
static oconfig_item_t *parse_line(oconfig_item_t *cur, const char *s,
                                  const char *end, int *depth) {
  while (s < end && isspace((unsigned char)*s))
    s++;
  if (s == end || *s == '#')
    return cur;
  if (s + 1 < end && s[0] == '<' && s[1] == '/') {
    if (*depth > 0) {
      (*depth)--;
      return cur->parent;
    }
    return cur;
  }
  bool opens = *s == '<';
  if (opens)
    s++;
  const char *key = s;
  while (s < end && !isspace((unsigned char)*s) && *s != '>')
    s++;
  oconfig_item_t *ci = config_child(cur, key, (size_t)(s - key));
  while (s < end && ci->values_num < 16) {
    while (s < end && isspace((unsigned char)*s))
      s++;
    if (s == end || *s == '>')
      break;
    parse_value(ci, &s, end);
  }
  if (opens && *depth < MAX_DEPTH) {
    (*depth)++;
    return ci;
  }
  return cur;
}

static oconfig_item_t *tree_from(const uint8_t *data, size_t size) {
  oconfig_item_t *root =
      config_add_string(config_tree_new("Plugin"), "pagerduty");
  const char *p = (const char *)data, *end = p + size;
  oconfig_item_t *cur = root;
  int depth = 0, items = 0;
  while (p < end && items++ < MAX_ITEMS) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl != NULL ? nl : end;
    cur = parse_line(cur, p, stop, &depth);
    p = nl != NULL ? nl + 1 : end;
  }
  return root;
}

/* Does text occur in a string value of the tree other than at skip? */
static bool occurs_elsewhere(const oconfig_item_t *ci, const char *text,
                             const oconfig_value_t *skip) {
  if (strstr(ci->key, text) != NULL)
    return true;
  for (int i = 0; i < ci->values_num; i++)
    if (&ci->values[i] != skip && ci->values[i].type == OCONFIG_TYPE_STRING &&
        strstr(ci->values[i].value.string, text) != NULL)
      return true;
  for (int i = 0; i < ci->children_num; i++)
    if (occurs_elsewhere(&ci->children[i], text, skip))
      return true;
  return false;
}

/* The secret part of a string option, or NULL: a Token's or RoutingKey's
 * value, or the password of a Proxy URL (scheme://user:password@host). */
static char *secret_of(const oconfig_item_t *ci, const oconfig_value_t *v) {
  const char *s = v->value.string;
  if (strcasecmp(ci->key, "Token") == 0 ||
      strcasecmp(ci->key, "RoutingKey") == 0)
    return strdup(s);
  if (strcasecmp(ci->key, "Proxy") != 0)
    return NULL;
  const char *scheme = strstr(s, "://");
  const char *auth = scheme != NULL ? scheme + 3 : s;
  const char *at = strchr(auth, '@'), *colon = strchr(auth, ':');
  if (at == NULL || colon == NULL || colon > at)
    return NULL;
  return strndup(colon + 1, (size_t)(at - colon - 1));
}

/* Could text be a secret we can look for? Only token-like ones: at least 8
 * bytes with a letter and a digit. A shorter or plainer one ("services")
 * may well be in a log line for another reason, from the plugin's own text. */
static bool token_like(const char *text) {
  bool letter = false, digit = false;
  for (const char *p = text; *p != '\0'; p++) {
    letter = letter || isalpha((unsigned char)*p);
    digit = digit || isdigit((unsigned char)*p);
  }
  return strlen(text) >= 8 && letter && digit;
}

/* The secret without the punctuation around it (in place): a message that
 * quotes another option's value closes the quote right after it, so a
 * secret R0123..." whose R0123... is also in that value is in the log
 * without the secret having leaked (found by this target). */
static const char *secret_core(char *secret) {
  char *end = secret + strlen(secret);
  while (end > secret && !isalnum((unsigned char)end[-1]))
    *--end = '\0';
  while (*secret != '\0' && !isalnum((unsigned char)*secret))
    secret++;
  return secret;
}

/* No log line holds a secret of the tree: the first value of a Token or
 * RoutingKey, the password of a Proxy URL. Secrets that also occur
 * elsewhere in the input (an account named like its token) are not
 * checked: the plugin may rightly quote the other occurrence. */
static void check_secrets(const oconfig_item_t *root,
                          const oconfig_item_t *ci) {
  if (ci->values_num > 0 && ci->values[0].type == OCONFIG_TYPE_STRING) {
    char *secret = secret_of(ci, &ci->values[0]);
    if (secret != NULL && token_like(secret) &&
        !occurs_elsewhere(root, secret_core(secret), &ci->values[0]) &&
        stub_log_contains(-1, secret)) {
      fprintf(stderr, "a secret is in the log:\n%s", stub_log_dump());
      abort();
    }
    free(secret);
  }
  for (int i = 0; i < ci->children_num; i++)
    check_secrets(root, &ci->children[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  oconfig_item_t *root = tree_from(data, size);
  stub_log_reset();
  /* DedupKey templates are checked as in the plugin (plugin/pagerduty.c). */
  pd_config_set_template_check(pd_template_validate);
  pd_config_t cfg;
  pd_config_init(&cfg);
  int rc = pd_config_parse(&cfg, root);
  if (rc == 0)
    require(pd_config_validate(&cfg) == 0);
  else
    require(cfg.accounts_num == 0 && cfg.notifies_num == 0);
  check_secrets(root, root);
  pd_config_free(&cfg);
  config_tree_free(root);
  return 0;
}
