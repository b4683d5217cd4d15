/* SPDX-License-Identifier: MIT */
/*
 * pd_json.c - path tracking and limits on top of yajl's event parser.
 */
#include "pd_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

/* One open container. */
typedef struct {
  bool is_map;
  size_t index;   /* arrays: position of the current element */
  size_t key_len; /* maps: length of the current key; > PD_JSON_KEY_MAX when
                     it was longer than kept (then it matches nothing) */
  char key[PD_JSON_KEY_MAX + 1];
} frame_t;

struct pd_json_stream_s {
  yajl_handle yajl;
  pd_json_handlers_t handlers;
  void *ctx;

  frame_t frames[PD_JSON_MAX_DEPTH];
  size_t depth; /* containers with a frame (= path components) */
  size_t skip;  /* containers open inside a skipped one, itself included */
  bool root_done;
  bool failed;
  bool finishing;

  size_t fed; /* bytes fed before the current chunk */

  /* the token length guard's lexer state, carried across chunks */
  size_t max_token;
  size_t token_len;
  bool in_string, escaped;
  const unsigned char *chunk; /* the chunk yajl is parsing, or NULL */
  size_t mark;                /* where in it the last token ended */

  char error[PD_JSON_ERROR_MAX];
};

/* --- errors -------------------------------------------------------------- */

static size_t byte_offset(const pd_json_stream_t *js) {
  if (js->finishing)
    return js->fed;
  return js->fed + yajl_get_bytes_consumed(js->yajl);
}

static void set_error(pd_json_stream_t *js, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(pd_json_stream_t *js, const char *fmt, ...) {
  js->failed = true;
  if (js->error[0] != '\0')
    return; /* the first reason is the real one */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(js->error, sizeof(js->error), fmt, ap);
  va_end(ap);
}

int pd_json_fail(pd_json_stream_t *js, const char *fmt, ...) {
  char reason[PD_JSON_ERROR_MAX];
  char path[PD_JSON_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  pd_json_path(js, path, sizeof(path));
  set_error(js, "%s (byte %zu): %s", path[0] ? path : "top level",
            byte_offset(js), reason);
  return PD_JSON_ABORT;
}

const char *pd_json_error(const pd_json_stream_t *js) { return js->error; }

/* --- paths -----------------------------------------------------------------
 */

size_t pd_json_depth(const pd_json_stream_t *js) { return js->depth; }

bool pd_json_match(const pd_json_stream_t *js, size_t from,
                   const char *pattern) {
  size_t i = from;
  if (pattern[0] == '\0')
    return from == js->depth;
  for (const char *p = pattern;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (i >= js->depth)
      return false;
    const frame_t *f = &js->frames[i];
    if (f->is_map) {
      if (f->key_len != n || memcmp(f->key, p, n) != 0)
        return false;
    } else if (n != 1 || p[0] != '*') {
      return false;
    }
    i++;
    if (slash == NULL)
      break;
    p = slash + 1;
  }
  return i == js->depth;
}

const char *pd_json_key(const pd_json_stream_t *js, size_t i, size_t *len) {
  if (i >= js->depth || !js->frames[i].is_map)
    return NULL;
  *len = js->frames[i].key_len;
  return js->frames[i].key;
}

/* Appends to a bounded buffer; the result is always NUL-terminated. */
static void append(char *buf, size_t size, size_t *used, const char *text,
                   size_t len) {
  for (size_t i = 0; i < len && *used + 1 < size; i++) {
    unsigned char c = (unsigned char)text[i];
    buf[(*used)++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
  }
  buf[*used] = '\0';
}

void pd_json_path(const pd_json_stream_t *js, char *buf, size_t size) {
  size_t used = 0;
  if (size == 0)
    return;
  buf[0] = '\0';
  for (size_t i = 0; i < js->depth; i++) {
    const frame_t *f = &js->frames[i];
    if (f->is_map) {
      if (i > 0)
        append(buf, size, &used, ".", 1);
      bool cut = f->key_len > PD_JSON_KEY_MAX;
      append(buf, size, &used, f->key, cut ? PD_JSON_KEY_MAX : f->key_len);
      if (cut)
        append(buf, size, &used, "...", 3);
    } else {
      char index[32];
      int n = snprintf(index, sizeof(index), "[%zu]", f->index);
      append(buf, size, &used, index, (size_t)n);
    }
  }
}

/* --- values ------------------------------------------------------------------
 */

const char *pd_json_type_name(pd_json_type_t type) {
  switch (type) {
  case PD_JSON_NULL:
    return "null";
  case PD_JSON_BOOL:
    return "a boolean";
  case PD_JSON_NUMBER:
    return "a number";
  case PD_JSON_STRING:
    return "a string";
  }
  return "a value";
}

/* Copies a number literal into buf as a C string; -1 when too long. */
static int number_text(const pd_json_value_t *v, char *buf, size_t size) {
  if (v->type != PD_JSON_NUMBER || v->len == 0 || v->len >= size)
    return -1;
  memcpy(buf, v->text, v->len);
  buf[v->len] = '\0';
  return 0;
}

int pd_json_to_integer(const pd_json_value_t *v, long long *out) {
  char buf[32];
  if (number_text(v, buf, sizeof(buf)) != 0 || strpbrk(buf, ".eE") != NULL)
    return -1;
  char *end;
  errno = 0;
  long long n = strtoll(buf, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = n;
  return 0;
}

int pd_json_to_double(const pd_json_value_t *v, double *out) {
  char buf[128];
  if (number_text(v, buf, sizeof(buf)) != 0)
    return -1;
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  if (errno != 0 || *end != '\0' || !isfinite(d))
    return -1;
  *out = d;
  return 0;
}

/* --- the token length guard --------------------------------------------- */

/* Bytes that end a bare token (number, literal) outside strings. */
static const bool ends_bare_token[256] = {
    [' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true,
    ['{'] = true, ['}'] = true,  ['['] = true,  [']'] = true,
    [','] = true, [':'] = true,  ['"'] = true,
};

/* Records the guard's error: the token reached max_token + 1 bytes at
 * byte `at` of the chunk. */
static int token_too_long(pd_json_stream_t *js, size_t at) {
  set_error(js, "JSON token longer than %zu bytes at byte %zu", js->max_token,
            js->fed + at);
  return -1;
}

/* Is the quote at p[q] escaped? It is when an odd number of backslashes
 * precede it; a run that reaches `from` (where this chunk's part of the
 * string starts) continues the one the last chunk ended with. */
static bool quote_escaped(const pd_json_stream_t *js, const unsigned char *p,
                          size_t from, size_t q) {
  size_t run = 0;
  while (q - run > from && p[q - run - 1] == '\\')
    run++;
  bool odd = run % 2 == 1;
  return q - run == from ? odd != js->escaped : odd;
}

/*
 * Inside a string: p[i..q) holds no quote, and p[q] is one unless q is the
 * end of the chunk. Counts the string's bytes up to the quote (or the end)
 * and closes the string when the quote is not escaped.
 */
static int string_part(pd_json_stream_t *js, const unsigned char *p, size_t i,
                       size_t q, size_t len) {
  bool at_end = q == len;
  bool closes = !at_end && !quote_escaped(js, p, i, q);
  size_t counted = (at_end || closes) ? q - i : q + 1 - i;
  if (js->token_len + counted > js->max_token)
    return token_too_long(js, i + (js->max_token - js->token_len));
  if (closes) {
    js->in_string = false;
    js->escaped = false;
    js->token_len = 0;
  } else if (at_end) {
    js->escaped = quote_escaped(js, p, i, len);
    js->token_len += counted;
  } else { /* an escaped quote: the string goes on after it */
    js->escaped = false;
    js->token_len += counted;
  }
  return 0;
}

/* Outside strings, byte by byte: bare tokens and what ends them. */
static int bare_bytes(pd_json_stream_t *js, const unsigned char *p, size_t i,
                      size_t q) {
  for (; i < q; i++) {
    if (ends_bare_token[p[i]])
      js->token_len = 0;
    else if (++js->token_len > js->max_token)
      return token_too_long(js, i);
  }
  return 0;
}

/*
 * Outside strings: p[i..q) holds no quote, and p[q] is one (a string
 * starts) unless q is the end of the chunk. Between two strings there are
 * only a few bytes (": ", ", ", a number), so when the bare token carried
 * in plus all of them cannot pass max_token, nothing needs looking at but
 * the bare token the chunk may end in.
 */
static int outside_part(pd_json_stream_t *js, const unsigned char *p, size_t i,
                        size_t q, size_t len) {
  size_t n = q - i;
  if (js->token_len + n > js->max_token) {
    if (bare_bytes(js, p, i, q) != 0)
      return -1;
  } else if (q == len) {
    size_t run = 0; /* the bare token the chunk ends in */
    while (run < n && !ends_bare_token[p[q - 1 - run]])
      run++;
    js->token_len = run == n ? js->token_len + n : run;
  }
  if (q < len) { /* max_token >= 1: an opening quote alone always fits */
    js->in_string = true;
    js->token_len = 1;
  }
  return 0;
}

/*
 * Measures the tokens in p[from..len) (strings, keys, numbers, literals),
 * carrying on from the state the bytes before left: a token's length counts
 * its opening quote and every byte up to its end; the error names the first
 * byte past max_token. This only tracks quotes and backslashes; whether the
 * JSON is valid is yajl's call. It goes from quote to quote with memchr,
 * which looks at many bytes per step.
 */
static int scan_tokens(pd_json_stream_t *js, const unsigned char *p,
                       size_t from, size_t len) {
  size_t i = from;
  while (i < len) {
    const unsigned char *quote = memchr(p + i, '"', len - i);
    size_t q = quote != NULL ? (size_t)(quote - p) : len;
    int r = js->in_string ? string_part(js, p, i, q, len)
                          : outside_part(js, p, i, q, len);
    if (r != 0)
      return -1;
    i = q == len ? len : q + 1;
  }
  return 0;
}

/*
 * yajl has just made a callback for a token that ends at its current
 * offset in the chunk. No token can be longer than the bytes since the last
 * token ended (plus what the chunk started with), so only when those pass
 * max_token are they measured; most callbacks cost one subtraction. Then
 * the guard's state starts over: between tokens, nothing open. Returns 1 to
 * go on, 0 (error set) to stop yajl.
 *
 * Any token end will do as the mark, so callbacks inside a skipped
 * container leave it where it is (the bytes since are measured at the next
 * handler call or at the end of the chunk, before a handler sees anything
 * after them): skipped parts of a body cost the guard nothing.
 */
static int token_done(pd_json_stream_t *js) {
  if (js->chunk == NULL)
    return 1; /* yajl_complete_parse: the last chunk's tail was measured */
  size_t at = yajl_get_bytes_consumed(js->yajl);
  if (js->token_len + (at - js->mark) > js->max_token &&
      scan_tokens(js, js->chunk, js->mark, at) != 0)
    return 0;
  js->mark = at;
  js->in_string = js->escaped = false;
  js->token_len = 0;
  return 1;
}

/* --- yajl callbacks --------------------------------------------------------
 */

/* A value at the current position is complete: move past it. */
static void value_done(pd_json_stream_t *js) {
  if (js->depth == 0)
    js->root_done = true;
  else if (!js->frames[js->depth - 1].is_map)
    js->frames[js->depth - 1].index++;
}

/* yajl wants 1 to go on, 0 to cancel. */
static int handler_result(pd_json_stream_t *js, int r) {
  if (r == PD_JSON_ABORT || r < 0) {
    if (js->error[0] == '\0')
      pd_json_fail(js, "stopped by the reader");
    js->failed = true;
    return 0;
  }
  return 1;
}

static int deliver(pd_json_stream_t *js, const pd_json_value_t *v) {
  if (js->skip > 0)
    return 1;
  if (token_done(js) == 0)
    return 0;
  if (js->handlers.on_value != NULL) {
    int r = js->handlers.on_value(js->ctx, js, v);
    if (handler_result(js, r) == 0)
      return 0;
  }
  value_done(js);
  return 1;
}

static int cb_null(void *ctx) {
  return deliver(ctx, &(pd_json_value_t){.type = PD_JSON_NULL});
}

static int cb_boolean(void *ctx, int b) {
  return deliver(ctx,
                 &(pd_json_value_t){.type = PD_JSON_BOOL, .boolean = b != 0});
}

static int cb_number(void *ctx, const char *s, size_t len) {
  return deliver(
      ctx, &(pd_json_value_t){.type = PD_JSON_NUMBER, .text = s, .len = len});
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
  return deliver(ctx, &(pd_json_value_t){.type = PD_JSON_STRING,
                                         .text = (const char *)s,
                                         .len = len});
}

static int open_container(pd_json_stream_t *js, bool is_map) {
  if (js->depth + js->skip >= PD_JSON_MAX_DEPTH) {
    pd_json_fail(js, "JSON nested deeper than %d levels", PD_JSON_MAX_DEPTH);
    return 0;
  }
  if (js->skip > 0) {
    js->skip++;
    return 1;
  }
  if (token_done(js) == 0)
    return 0;
  int r = PD_JSON_CONTINUE;
  if (js->handlers.on_start != NULL)
    r = js->handlers.on_start(js->ctx, js, is_map);
  if (handler_result(js, r) == 0)
    return 0;
  if (r == PD_JSON_SKIP) {
    js->skip = 1;
    return 1;
  }
  frame_t *f = &js->frames[js->depth++];
  f->is_map = is_map;
  f->index = 0;
  f->key_len = 0;
  f->key[0] = '\0';
  return 1;
}

static int close_container(pd_json_stream_t *js, bool is_map) {
  if (js->skip > 0) {
    if (--js->skip == 0)
      value_done(js);
    return 1;
  }
  if (token_done(js) == 0)
    return 0;
  js->depth--;
  if (js->handlers.on_end != NULL) {
    int r = js->handlers.on_end(js->ctx, js, is_map);
    if (handler_result(js, r) == 0)
      return 0;
  }
  value_done(js);
  return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, true); }
static int cb_end_map(void *ctx) { return close_container(ctx, true); }
static int cb_start_array(void *ctx) { return open_container(ctx, false); }
static int cb_end_array(void *ctx) { return close_container(ctx, false); }

static int cb_map_key(void *ctx, const unsigned char *key, size_t len) {
  pd_json_stream_t *js = ctx;
  /* No token_done here: no handler sees a key by itself, so the key is
   * measured with the value after it, before on_value or on_start. */
  if (js->skip > 0)
    return 1;
  frame_t *f = &js->frames[js->depth - 1];
  size_t kept = len > PD_JSON_KEY_MAX ? PD_JSON_KEY_MAX : len;
  memcpy(f->key, key, kept);
  f->key[kept] = '\0';
  f->key_len = len;
  return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* --- the stream
 * --------------------------------------------------------------- */

pd_json_stream_t *pd_json_stream_create(const pd_json_handlers_t *handlers,
                                        void *ctx, size_t max_token) {
  pd_json_stream_t *js = calloc(1, sizeof(*js));
  if (js == NULL)
    return NULL;
  js->handlers = *handlers;
  js->ctx = ctx;
  js->max_token = max_token ? max_token : PD_JSON_MAX_TOKEN_DEFAULT;
  js->yajl = yajl_alloc(&callbacks, NULL, js);
  if (js->yajl == NULL) {
    free(js);
    return NULL;
  }
  return js;
}

void pd_json_stream_destroy(pd_json_stream_t *js) {
  if (js == NULL)
    return;
  yajl_free(js->yajl);
  free(js);
}

/* Turns a yajl failure into the stream's error. */
static void record_yajl_failure(pd_json_stream_t *js, yajl_status status,
                                const char *what) {
  if (status == yajl_status_client_canceled && js->error[0] != '\0') {
    js->failed = true;
    return;
  }
  /* verbose = 0: yajl's message without a copy of the offending text */
  unsigned char *msg = yajl_get_error(js->yajl, 0, NULL, 0);
  const char *text = msg ? (const char *)msg : "unknown error";
  size_t n = strlen(text);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
    n--;
  set_error(js, "%s at byte %zu: %.*s", what, byte_offset(js), (int)n, text);
  if (msg != NULL)
    yajl_free_error(js->yajl, msg);
}

int pd_json_feed(void *ctx, const unsigned char *data, size_t len) {
  pd_json_stream_t *js = ctx;
  if (js->failed)
    return -1;
  if (len == 0)
    return 0;
  /* The guard measures tokens as yajl reports them (token_done), then the
   * token the chunk ends in, which yajl keeps until the next chunk: so
   * yajl holds at most max_token bytes of a token, plus one chunk. */
  js->chunk = data;
  js->mark = 0;
  yajl_status status = yajl_parse(js->yajl, data, len);
  js->chunk = NULL;
  if (status != yajl_status_ok) {
    record_yajl_failure(js, status, "malformed JSON");
    return -1;
  }
  if (scan_tokens(js, data, js->mark, len) != 0)
    return -1;
  js->fed += len;
  return 0;
}

int pd_json_finish(pd_json_stream_t *js) {
  if (js->failed)
    return -1;
  if (js->fed == 0) {
    set_error(js, "empty body where JSON was expected");
    return -1;
  }
  js->finishing = true;
  yajl_status status = yajl_complete_parse(js->yajl);
  if (status != yajl_status_ok) {
    record_yajl_failure(js, status, "truncated JSON: the body ends");
    return -1;
  }
  if (!js->root_done) {
    set_error(js, "truncated JSON: the body ends at byte %zu", js->fed);
    return -1;
  }
  return 0;
}
