/* SPDX-License-Identifier: MIT */
/*
 * test_options.c - the table of options (pd_config.h) and the documents
 * that describe the configuration (doc/contract.md §3): README.md, the man
 * page doc/collectd-pagerduty.pod and the example conf/pagerduty.conf.
 *
 * Each document names the options block by block:
 *   README.md   a table per "### `<Block ...>`" section, the options in
 *               back quotes in the first column;
 *   the man page "=item B<Option>" under "=head2 The Plugin block",
 *               "=head2 Account blocks" and "=head2 Notify blocks";
 *   the example  "Option value" or "#Option value" lines inside the block.
 * Every option of the table must be there in its block, and every option
 * named there must be in the table for that block, spelt as the table
 * spells it. Nested blocks (<Account>, <Notify>) must each have a section
 * (README, man page) or appear as a block (example).
 *
 * The source tree is PD_SRCDIR (make check sets it), else the one this
 * test was configured from.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pd_config.h"

#ifndef PD_TOP_SRCDIR
#define PD_TOP_SRCDIR "."
#endif

#define MAX_NAMES 128

/* What one document says: option names per block. */
typedef struct {
  unsigned block[MAX_NAMES]; /* PD_BLOCK_* */
  char name[MAX_NAMES][64];
  size_t num;
} mentions_t;

static void mention(mentions_t *m, unsigned block, const char *name,
                    size_t len) {
  ck_assert_uint_lt(m->num, MAX_NAMES);
  ck_assert_uint_lt(len, sizeof(m->name[0]));
  m->block[m->num] = block;
  memcpy(m->name[m->num], name, len);
  m->name[m->num][len] = '\0';
  m->num++;
}

static bool mentioned(const mentions_t *m, unsigned block, const char *name) {
  for (size_t i = 0; i < m->num; i++)
    if (m->block[i] == block && strcmp(m->name[i], name) == 0)
      return true;
  return false;
}

/* The whole of a file of the source tree, NUL-terminated; free() it. */
static char *slurp(const char *relative) {
  const char *top = getenv("PD_SRCDIR");
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", top != NULL ? top : PD_TOP_SRCDIR,
           relative);
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char *text = NULL;
  size_t len = 0;
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    text = realloc(text, len + n + 1);
    ck_assert_ptr_nonnull(text);
    memcpy(text + len, chunk, n);
    len += n;
  }
  fclose(f);
  ck_assert_ptr_nonnull(text);
  text[len] = '\0';
  return text;
}

/* Calls fn for every line of text (the line without its '\n'). */
typedef void (*line_fn)(const char *line, size_t len, void *data);
static void each_line(const char *text, line_fn fn, void *data) {
  while (*text != '\0') {
    size_t len = strcspn(text, "\n");
    fn(text, len, data);
    text += len;
    if (*text == '\n')
      text++;
  }
}

static bool starts(const char *line, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && strncmp(line, prefix, n) == 0;
}

static size_t word_len(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && isalpha((unsigned char)s[n]))
    n++;
  return n;
}

/* ------------------------------------------------------------------------ */
/* README.md                                                                 */

typedef struct {
  mentions_t *m;
  unsigned block; /* of the current section; 0 outside the three */
} scan_t;

/* A nested block (<Account>, <Notify>) is documented by its own section:
 * entering that section mentions it as an option of the Plugin level. */
static void mention_nested_block(scan_t *s) {
  if (s->block == PD_BLOCK_ACCOUNT)
    mention(s->m, PD_BLOCK_PLUGIN, "Account", strlen("Account"));
  if (s->block == PD_BLOCK_NOTIFY)
    mention(s->m, PD_BLOCK_PLUGIN, "Notify", strlen("Notify"));
}

static void readme_line(const char *line, size_t len, void *data) {
  scan_t *s = data;
  if (starts(line, len, "#")) {
    s->block = starts(line, len, "### `<Plugin pagerduty>`") ? PD_BLOCK_PLUGIN
               : starts(line, len, "### `<Account ")         ? PD_BLOCK_ACCOUNT
               : starts(line, len, "### `<Notify ")          ? PD_BLOCK_NOTIFY
                                                             : 0;
    mention_nested_block(s);
    return;
  }
  if (s->block == 0 || !starts(line, len, "| "))
    return;
  /* The first column: `Name`, `Name`, ... */
  const char *end = memchr(line + 2, '|', len - 2);
  ck_assert_ptr_nonnull(end);
  for (const char *p = line + 2; p < end; p++) {
    if (*p != '`')
      continue;
    size_t n = word_len(p + 1, (size_t)(end - p - 1));
    ck_assert_msg(n > 0 && p[1 + n] == '`',
                  "README.md: an option cell that is not `Name`: %.*s",
                  (int)len, line);
    mention(s->m, s->block, p + 1, n);
    p += n + 1;
  }
}

/* ------------------------------------------------------------------------ */
/* The man page                                                              */

static void pod_line(const char *line, size_t len, void *data) {
  scan_t *s = data;
  if (starts(line, len, "=head")) {
    s->block = starts(line, len, "=head2 The Plugin block") ? PD_BLOCK_PLUGIN
               : starts(line, len, "=head2 Account blocks") ? PD_BLOCK_ACCOUNT
               : starts(line, len, "=head2 Notify blocks")  ? PD_BLOCK_NOTIFY
                                                            : 0;
    mention_nested_block(s);
    return;
  }
  if (s->block == 0 || !starts(line, len, "=item B<"))
    return;
  const char *name = line + strlen("=item B<");
  size_t n = word_len(name, len - strlen("=item B<"));
  ck_assert_msg(n > 0 && name[n] == '>',
                "man page: an item that is not "
                "B<Name>: %.*s",
                (int)len, line);
  mention(s->m, s->block, name, n);
}

/* ------------------------------------------------------------------------ */
/* conf/pagerduty.conf                                                       */

/*
 * Options and blocks are written right after the indentation, commented out
 * or not ("  #Interval 60", "  <Notify "x">", "  #</Notify>"); prose
 * comments have a blank after the '#' and are skipped.
 */
static void conf_line(const char *line, size_t len, void *data) {
  scan_t *s = data;
  const char *p = line, *end = line + len;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (p < end && *p == '#')
    p++;
  size_t rest = (size_t)(end - p);
  if (starts(p, rest, "<Plugin pagerduty>"))
    s->block = PD_BLOCK_PLUGIN;
  else if (starts(p, rest, "</Plugin>"))
    s->block = 0;
  else if (starts(p, rest, "</Account>") || starts(p, rest, "</Notify>"))
    s->block = PD_BLOCK_PLUGIN;
  else if (s->block == PD_BLOCK_PLUGIN && starts(p, rest, "<Account ")) {
    mention(s->m, PD_BLOCK_PLUGIN, "Account", strlen("Account"));
    s->block = PD_BLOCK_ACCOUNT;
  } else if (s->block == PD_BLOCK_PLUGIN && starts(p, rest, "<Notify ")) {
    mention(s->m, PD_BLOCK_PLUGIN, "Notify", strlen("Notify"));
    s->block = PD_BLOCK_NOTIFY;
  } else if (s->block != 0) {
    size_t n = word_len(p, rest);
    /* "Name value": a quoted string, a number or a boolean. */
    if (n > 0 && n + 1 < rest && p[n] == ' ' &&
        (p[n + 1] == '"' || p[n + 1] == '-' ||
         isdigit((unsigned char)p[n + 1]) ||
         starts(p + n + 1, rest - n - 1, "true") ||
         starts(p + n + 1, rest - n - 1, "false")))
      mention(s->m, s->block, p, n);
  }
}

/* ------------------------------------------------------------------------ */
/* The checks                                                                */

static const char *block_name(unsigned block) {
  return block == PD_BLOCK_PLUGIN    ? "<Plugin pagerduty>"
         : block == PD_BLOCK_ACCOUNT ? "<Account>"
                                     : "<Notify>";
}

static void check_document(const char *file, line_fn fn) {
  char *text = slurp(file);
  mentions_t m = {.num = 0};
  scan_t scan = {.m = &m, .block = 0};
  each_line(text, fn, &scan);
  free(text);

  size_t num;
  const pd_option_t *opts = pd_config_options(&num);
  const unsigned blocks[] = {PD_BLOCK_PLUGIN, PD_BLOCK_ACCOUNT,
                             PD_BLOCK_NOTIFY};
  for (size_t i = 0; i < num; i++)
    for (size_t b = 0; b < 3; b++)
      if (opts[i].blocks & blocks[b])
        ck_assert_msg(mentioned(&m, blocks[b], opts[i].name),
                      "%s does not mention %s in %s", file, opts[i].name,
                      block_name(blocks[b]));
  for (size_t i = 0; i < m.num; i++) {
    const pd_option_t *opt = pd_config_option_find(m.block[i], m.name[i]);
    ck_assert_msg(opt != NULL,
                  "%s mentions %s in %s, which has no such "
                  "option",
                  file, m.name[i], block_name(m.block[i]));
    ck_assert_msg(strcmp(opt->name, m.name[i]) == 0, "%s spells %s as %s", file,
                  opt->name, m.name[i]);
  }
}

START_TEST(test_readme_mentions_every_option) {
  check_document("README.md", readme_line);
}
END_TEST

START_TEST(test_man_page_mentions_every_option) {
  check_document("doc/collectd-pagerduty.pod", pod_line);
}
END_TEST

START_TEST(test_example_mentions_every_option) {
  check_document("conf/pagerduty.conf", conf_line);
}
END_TEST

/* The table itself: complete rows, one name per block, defaults that pass
 * their own validation. */
START_TEST(test_table_is_well_formed) {
  size_t num;
  const pd_option_t *opts = pd_config_options(&num);
  ck_assert_uint_gt(num, 0);
  for (size_t i = 0; i < num; i++) {
    const pd_option_t *o = &opts[i];
    ck_assert_msg(o->name != NULL && o->name[0] != '\0', "row %zu", i);
    ck_assert_msg(o->blocks != 0, "%s: no block", o->name);
    ck_assert_msg(o->doc != NULL && o->doc[0] != '\0' &&
                      strchr(o->doc, '\n') == NULL,
                  "%s: needs a one-line doc", o->name);
    ck_assert_msg(o->validation != NULL || o->number_rule != NULL ||
                      o->keyword_rule != NULL || o->type == PD_OPT_BOOLEAN,
                  "%s: validation not described", o->name);
    ck_assert_msg(o->default_doc != NULL || o->type == PD_OPT_NUMBER ||
                      o->type == PD_OPT_BOOLEAN || o->def_string != NULL,
                  "%s: default not described", o->name);
    for (size_t j = 0; j < i; j++)
      ck_assert_msg(!(opts[j].blocks & o->blocks) ||
                        strcasecmp(opts[j].name, o->name) != 0,
                    "%s twice in one block", o->name);
    for (unsigned b = PD_BLOCK_PLUGIN; b <= PD_BLOCK_NOTIFY; b <<= 1)
      if (o->blocks & b)
        ck_assert_ptr_eq(pd_config_option_find(b, o->name), o);

    switch (o->type) {
    case PD_OPT_NUMBER: {
      const pd_number_rule_t *r = o->number_rule;
      ck_assert_msg(r != NULL, "%s: number without a rule", o->name);
      double x = o->def_number;
      /* A default needs no validation when 0 means "not set". */
      bool ok = (r->min_open ? x > r->min : x >= r->min) && x <= r->max;
      ck_assert_msg(ok || (x == 0 && o->default_doc != NULL),
                    "%s: default %g outside its own range", o->name, x);
      break;
    }
    case PD_OPT_ENUM:
    case PD_OPT_FLAGS: {
      const pd_keyword_rule_t *r = o->keyword_rule;
      ck_assert_msg(r != NULL && r->keywords_num > 0, "%s: no keywords",
                    o->name);
      unsigned all = 0;
      bool is_keyword = false;
      for (size_t k = 0; k < r->keywords_num; k++) {
        all |= r->keywords[k].value;
        is_keyword |= r->keywords[k].value == (unsigned)o->def_number;
      }
      if (o->type == PD_OPT_ENUM)
        ck_assert_msg(is_keyword, "%s: default is no keyword", o->name);
      else
        ck_assert_msg(((unsigned)o->def_number & ~all) == 0 &&
                          o->def_number != 0,
                      "%s: default has bits of no keyword", o->name);
      break;
    }
    default:
      ck_assert_msg(o->number_rule == NULL && o->keyword_rule == NULL,
                    "%s: a rule its type does not use", o->name);
    }
  }
}
END_TEST

static Suite *options_suite(void) {
  Suite *s = suite_create("pd_config options");
  TCase *tc = tcase_create("options");
  tcase_add_test(tc, test_table_is_well_formed);
  tcase_add_test(tc, test_readme_mentions_every_option);
  tcase_add_test(tc, test_man_page_mentions_every_option);
  tcase_add_test(tc, test_example_mentions_every_option);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(options_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
