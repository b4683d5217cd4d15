/* SPDX-License-Identifier: MIT */
/*
 * pd_json.h - a streaming JSON reader over yajl's event parser.
 *
 * A pd_json_stream_t is fed a response body chunk by chunk (the
 * pd_http_body_cb shape) and tells its handlers where each value sits: it
 * keeps the path from the root (the key of every open object, the index in
 * every open array), so an endpoint parser can ask "is this
 * incidents/<any>/service/id?" without building a tree. Memory is fixed per
 * stream; nothing is allocated per value. A handler can skip a container it
 * does not care about: yajl still validates it, no handler sees its inside.
 *
 * Limits that keep a hostile or broken body from costing memory:
 *  - nesting deeper than PD_JSON_MAX_DEPTH containers is an error;
 *  - a single token (string, key or number) longer than max_token bytes is
 *    an error, because yajl buffers a token that spans chunks in full (it
 *    is measured as yajl reports tokens, so yajl holds at most max_token
 *    bytes of it plus one chunk);
 *  - object keys longer than PD_JSON_KEY_MAX bytes never match a pattern.
 * Error messages name the byte offset and the path, never the body's text.
 */
#ifndef PD_JSON_H
#define PD_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define PD_JSON_MAX_DEPTH 32
#define PD_JSON_KEY_MAX 64
#define PD_JSON_MAX_TOKEN_DEFAULT (1024 * 1024)
#define PD_JSON_ERROR_MAX 256

typedef struct pd_json_stream_s pd_json_stream_t;

typedef enum {
  PD_JSON_NULL = 0,
  PD_JSON_BOOL,
  PD_JSON_NUMBER,
  PD_JSON_STRING,
} pd_json_type_t;

/* A scalar. text/len: a string's bytes (unescaped, valid UTF-8, not
 * NUL-terminated) or a number's literal; valid only during the call. */
typedef struct {
  pd_json_type_t type;
  bool boolean;
  const char *text;
  size_t len;
} pd_json_value_t;

/* Handler results. */
enum {
  PD_JSON_CONTINUE = 0,
  PD_JSON_SKIP = 1,   /* from on_start: ignore this container's contents */
  PD_JSON_ABORT = -1, /* stop; set the reason with pd_json_fail() first */
};

/*
 * During every handler call the stream's path names the value concerned:
 * for on_value and on_start the value itself, for on_end the container
 * that just ended (as it was named in on_start). Any handler may be NULL.
 */
typedef struct {
  int (*on_value)(void *ctx, pd_json_stream_t *js, const pd_json_value_t *v);
  int (*on_start)(void *ctx, pd_json_stream_t *js, bool is_map);
  int (*on_end)(void *ctx, pd_json_stream_t *js, bool is_map);
} pd_json_handlers_t;

/* max_token 0 = PD_JSON_MAX_TOKEN_DEFAULT. NULL on allocation failure. */
pd_json_stream_t *pd_json_stream_create(const pd_json_handlers_t *handlers,
                                        void *ctx, size_t max_token);
void pd_json_stream_destroy(pd_json_stream_t *js);

/* Feeds a chunk: 0, or -1 once anything failed (sticky; see
 * pd_json_error). Has the pd_http_body_cb signature with js as ctx. */
int pd_json_feed(void *js, const unsigned char *data, size_t len);

/* Ends the input: -1 when the body was empty or truncated, or any earlier
 * error; 0 when exactly one complete JSON value was read. */
int pd_json_finish(pd_json_stream_t *js);

/* Why the stream failed ("" while it has not). */
const char *pd_json_error(const pd_json_stream_t *js);

/* Records "<path>: <reason>" as the error (the first one wins) and returns
 * PD_JSON_ABORT, for handlers: return pd_json_fail(js, "expected ..."). */
int pd_json_fail(pd_json_stream_t *js, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Number of path components: 0 for the root value, 1 for a value directly
 * inside the root container, ... */
size_t pd_json_depth(const pd_json_stream_t *js);

/*
 * Does the path from component `from` to the end match pattern exactly?
 * The pattern is "/"-separated: a key matches itself, "*" matches any array
 * index. pd_json_match(js, 0, "incidents/ * /id") (without the spaces) is
 * true for the id of every incident of a list response.
 */
bool pd_json_match(const pd_json_stream_t *js, size_t from,
                   const char *pattern);

/* The key of component i, or NULL when it is an array index (or i is past
 * the end). *len is the key's full length; a key longer than
 * PD_JSON_KEY_MAX is kept cut, so it must match nothing. For readers that
 * walk a table of their own instead of calling pd_json_match per pattern. */
const char *pd_json_key(const pd_json_stream_t *js, size_t i, size_t *len);

/* Writes the path as "incidents[3].service.id" (bounded, printable).
 * Exported for tests only. */
void pd_json_path(const pd_json_stream_t *js, char *buf, size_t size);

/* Parses a number literal as an integer / a finite double: -1 when it is
 * not one (a fraction or exponent for integers, or out of range). */
int pd_json_to_integer(const pd_json_value_t *v, long long *out);
int pd_json_to_double(const pd_json_value_t *v, double *out);

/* Human name of a value's type, for messages: "a string", "null", ... */
const char *pd_json_type_name(pd_json_type_t type);

#endif /* PD_JSON_H */
