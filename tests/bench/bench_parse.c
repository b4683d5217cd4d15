/* SPDX-License-Identifier: MIT */
/*
 * bench_parse.c - JSON parse throughput of the plugin's incident parser
 * against a bare yajl parse of the same bytes (the ceiling).
 *
 * Usage: bench_parse FILE [ROUNDS]
 *   FILE holds response bodies one after the other, each as
 *   "<decimal length>\n<body>" (tests/bench/bench_read.py writes it from
 *   GET /incidents pages of the simulator's large scenario).
 *
 * Each round parses every body with
 *   plugin     pd_parse_buffer(PD_PARSE_INCIDENTS): the streaming parser the
 *              read side runs, entities handed to a callback that counts
 *   yajl       yajl_parse with no callbacks: tokenising and validating
 *              only, what any yajl-based parser must at least do
 *   yajl_tree  yajl_tree_parse: a whole document tree, for comparison
 * in alternation, and the best round of each is reported (CPU time of the
 * process, so a busy machine skews less). Prints one line per parser:
 *   <name> <MB/s> <seconds per round> <entities>
 * and "ratio plugin/yajl <r>".
 *
 * Built by tests/bench/bench_read.py with gcc against the build's
 * libpdcore.a and yajl; the three daemon symbols libpdcore needs are
 * stubbed below.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "pd_parse.h"

/* --- the daemon symbols libpdcore uses ------------------------------------ */

char *hostname_g = "bench";

void plugin_log(int level, const char *format, ...) {
  (void)level;
  (void)format;
}

cdtime_t cdtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

/* --- the corpus ----------------------------------------------------------- */

typedef struct {
  const unsigned char *data;
  size_t len;
} doc_t;

typedef struct {
  unsigned char *buf;
  doc_t *docs;
  size_t num;
  size_t bytes;
} corpus_t;

static int corpus_load(const char *path, corpus_t *c) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "bench_parse: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  c->buf = malloc((size_t)size + 1);
  if (c->buf == NULL || fread(c->buf, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "bench_parse: cannot read %s\n", path);
    fclose(f);
    return -1;
  }
  fclose(f);
  size_t cap = 0;
  size_t at = 0;
  while (at < (size_t)size) {
    char *end = NULL;
    unsigned long len = strtoul((const char *)c->buf + at, &end, 10);
    if (end == NULL || *end != '\n' ||
        len > (size_t)size - (size_t)(end + 1 - (char *)c->buf)) {
      fprintf(stderr, "bench_parse: %s: bad framing at byte %zu\n", path, at);
      return -1;
    }
    if (c->num == cap) {
      cap = cap ? cap * 2 : 64;
      doc_t *d = realloc(c->docs, cap * sizeof(*d));
      if (d == NULL)
        return -1;
      c->docs = d;
    }
    at = (size_t)(end + 1 - (char *)c->buf);
    c->docs[c->num++] = (doc_t){c->buf + at, len};
    c->bytes += len;
    at += len;
  }
  return c->num > 0 ? 0 : -1;
}

/* --- the parsers ---------------------------------------------------------- */

static int count_incident(void *ctx, const pd_incident_t *inc) {
  (void)inc;
  (*(size_t *)ctx)++;
  return 0;
}

static int run_plugin(const corpus_t *c, size_t *entities) {
  pd_parse_callbacks_t cb = {.ctx = entities, .on_incident = count_incident};
  for (size_t i = 0; i < c->num; i++) {
    char err[256];
    if (pd_parse_buffer(PD_PARSE_INCIDENTS, &cb, c->docs[i].data,
                        c->docs[i].len, NULL, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_parse: plugin parser refused body %zu: %s\n", i,
              err);
      return -1;
    }
  }
  return 0;
}

static int run_yajl(const corpus_t *c, size_t *entities) {
  (void)entities;
  for (size_t i = 0; i < c->num; i++) {
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL)
      return -1;
    yajl_status s = yajl_parse(h, c->docs[i].data, c->docs[i].len);
    if (s == yajl_status_ok)
      s = yajl_complete_parse(h);
    yajl_free(h);
    if (s != yajl_status_ok) {
      fprintf(stderr, "bench_parse: yajl refused body %zu\n", i);
      return -1;
    }
  }
  return 0;
}

static int run_yajl_tree(const corpus_t *c, size_t *entities) {
  for (size_t i = 0; i < c->num; i++) {
    /* yajl_tree_parse wants a NUL-terminated string */
    char *text = malloc(c->docs[i].len + 1);
    if (text == NULL)
      return -1;
    memcpy(text, c->docs[i].data, c->docs[i].len);
    text[c->docs[i].len] = '\0';
    char err[128];
    yajl_val tree = yajl_tree_parse(text, err, sizeof(err));
    free(text);
    if (tree == NULL) {
      fprintf(stderr, "bench_parse: yajl_tree refused body %zu: %s\n", i, err);
      return -1;
    }
    const char *path[] = {"incidents", NULL};
    yajl_val list = yajl_tree_get(tree, path, yajl_t_array);
    if (list != NULL)
      *entities += YAJL_GET_ARRAY(list)->len;
    yajl_tree_free(tree);
  }
  return 0;
}

/* --- timing --------------------------------------------------------------- */

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  const char *name;
  int (*run)(const corpus_t *, size_t *);
  double best;
  size_t entities;
} contender_t;

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [ROUNDS]\n", argv[0]);
    return 2;
  }
  int rounds = argc > 2 ? atoi(argv[2]) : 7;
  if (rounds < 1)
    rounds = 1;
  corpus_t corpus = {0};
  if (corpus_load(argv[1], &corpus) != 0)
    return 1;

  contender_t all[] = {{"plugin", run_plugin, 0, 0},
                       {"yajl", run_yajl, 0, 0},
                       {"yajl_tree", run_yajl_tree, 0, 0}};
  size_t n = sizeof(all) / sizeof(all[0]);
  for (int r = 0; r < rounds; r++)
    for (size_t i = 0; i < n; i++) {
      size_t entities = 0;
      double t0 = cpu_now();
      if (all[i].run(&corpus, &entities) != 0)
        return 1;
      double t = cpu_now() - t0;
      if (r == 0 || t < all[i].best)
        all[i].best = t;
      all[i].entities = entities;
    }

  printf("documents %zu bytes %zu rounds %d\n", corpus.num, corpus.bytes,
         rounds);
  for (size_t i = 0; i < n; i++)
    printf("%s %.1f %.6f %zu\n", all[i].name,
           (double)corpus.bytes / 1e6 / all[i].best, all[i].best,
           all[i].entities);
  printf("ratio plugin/yajl %.3f\n", all[1].best / all[0].best);
  free(corpus.docs);
  free(corpus.buf);
  return 0;
}
