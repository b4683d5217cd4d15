/* SPDX-License-Identifier: MIT */
/*
 * pd_error.c - see pd_error.h.
 *
 * Bodies come from the network, so everything copied into the message goes
 * through one sanitising writer: it bounds the length, keeps only valid
 * UTF-8, turns control characters into spaces and never cuts a character.
 */
#include "pd_error.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#include "pd_utf8.h"

/* How deep an `errors` object may nest before we stop looking. */
#define DETAILS_MAX_DEPTH 4
#define ELLIPSIS "..."

/* ---- the sanitising message writer ------------------------------------- */

typedef struct {
  char *out; /* err->message */
  size_t len;
  bool pending_space; /* white space seen since the last printable char */
  bool truncated;     /* something did not fit; later writes are dropped */
  bool has_message;   /* the main message was written */
  size_t details;     /* details written so far */
} msg_t;

/* Room for text, keeping space for the ellipsis and the NUL. */
#define MSG_ROOM (PD_ERROR_MESSAGE_MAX - sizeof(ELLIPSIS))

static void msg_init(msg_t *m, char *out) {
  memset(m, 0, sizeof(*m));
  m->out = out;
  m->out[0] = '\0';
}

/* Appends k bytes as one unit (a character or a literal); false when full. */
static bool msg_emit(msg_t *m, const char *bytes, size_t k) {
  if (m->truncated)
    return false;
  size_t space = m->pending_space && m->len > 0 ? 1 : 0;
  if (m->len + space + k > MSG_ROOM) {
    m->truncated = true;
    return false;
  }
  if (space)
    m->out[m->len++] = ' ';
  memcpy(m->out + m->len, bytes, k);
  m->len += k;
  m->out[m->len] = '\0';
  m->pending_space = false;
  return true;
}

/* Appends untrusted text of n bytes, sanitised. */
static void msg_put(msg_t *m, const char *text, size_t n) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  while (i < n && !m->truncated) {
    if (s[i] <= 0x20 || s[i] == 0x7F) { /* control or blank */
      m->pending_space = true;
      i++;
      continue;
    }
    size_t k = pd_utf8_sequence_length(text + i, n - i);
    if (k == 0) {
      msg_emit(m, "?", 1);
      i++;
    } else {
      msg_emit(m, text + i, k);
      i += k;
    }
  }
}

/* Appends a separator of our own; white space before it is dropped. */
static void msg_literal(msg_t *m, const char *lit) {
  m->pending_space = false;
  msg_emit(m, lit, strlen(lit));
}

static void msg_finish(msg_t *m) {
  if (m->truncated) {
    memcpy(m->out + m->len, ELLIPSIS, sizeof(ELLIPSIS));
    m->len += sizeof(ELLIPSIS) - 1;
  }
}

static void msg_main(msg_t *m, const char *text) {
  if (text == NULL || m->has_message)
    return;
  size_t before = m->len;
  msg_put(m, text, strlen(text));
  m->has_message = m->len > before;
}

/* One detail: "message: detail; key: detail". */
static void msg_detail(msg_t *m, const char *key, const char *text) {
  if (text == NULL)
    return;
  if (m->len > 0)
    msg_literal(m, m->details == 0 && m->has_message ? ": " : "; ");
  if (key != NULL && *key != '\0') {
    msg_put(m, key, strlen(key));
    msg_literal(m, ": ");
  }
  msg_put(m, text, strlen(text));
  m->details++;
}

/* ---- JSON bodies ------------------------------------------------------- */

static yajl_val object_get(yajl_val obj, const char *key) {
  if (!YAJL_IS_OBJECT(obj))
    return NULL;
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp(obj->u.object.keys[i], key) == 0)
      return obj->u.object.values[i];
  return NULL;
}

static const char *string_of(yajl_val v) {
  return YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

static int code_of(yajl_val v) {
  long long code = 0;
  if (YAJL_IS_INTEGER(v))
    code = YAJL_GET_INTEGER(v);
  else if (YAJL_IS_STRING(v) && v->u.string != NULL)
    code = strtoll(v->u.string, NULL, 10);
  return code > 0 && code <= INT_MAX ? (int)code : 0;
}

/* `errors` (or an `error` array) in any shape: a string, a list of strings,
 * or an object mapping a field to a string or a list. */
static void add_details(msg_t *m, yajl_val v, const char *key, int depth) {
  if (v == NULL || depth > DETAILS_MAX_DEPTH)
    return;
  if (YAJL_IS_STRING(v)) {
    msg_detail(m, key, YAJL_GET_STRING(v));
  } else if (YAJL_IS_ARRAY(v)) {
    for (size_t i = 0; i < v->u.array.len; i++)
      add_details(m, v->u.array.values[i], key, depth + 1);
  } else if (YAJL_IS_OBJECT(v)) {
    for (size_t i = 0; i < v->u.object.len; i++)
      add_details(m, v->u.object.values[i], v->u.object.keys[i], depth + 1);
  }
  /* numbers, booleans and null carry nothing worth logging */
}

static void describe_json(yajl_val root, pd_api_error_t *err, msg_t *m) {
  if (YAJL_IS_STRING(root)) {
    msg_main(m, YAJL_GET_STRING(root));
    return;
  }
  if (YAJL_IS_ARRAY(root)) {
    add_details(m, root, NULL, 0);
    return;
  }
  yajl_val error = object_get(root, "error");
  if (YAJL_IS_OBJECT(error)) { /* the documented REST shape */
    err->code = code_of(object_get(error, "code"));
    msg_main(m, string_of(object_get(error, "message")));
    add_details(m, object_get(error, "errors"), NULL, 0);
  } else if (YAJL_IS_STRING(error)) {
    msg_main(m, YAJL_GET_STRING(error));
  } else if (YAJL_IS_ARRAY(error)) {
    add_details(m, error, NULL, 0);
  }
  if (m->len > 0)
    return;
  /* Events API shape, or anything else with the usual names on top. */
  if (err->code == 0)
    err->code = code_of(object_get(root, "code"));
  msg_main(m, string_of(object_get(root, "message")));
  msg_main(m, string_of(object_get(root, "status")));
  add_details(m, object_get(root, "errors"), NULL, 0);
}

/* ---- other bodies ------------------------------------------------------ */

/* Case-insensitive search for needle in the first n bytes of hay. */
static const char *find_ci(const char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; k <= n && i <= n - k; i++)
    if (strncasecmp(hay + i, needle, k) == 0)
      return hay + i;
  return NULL;
}

/* An HTML error page says what it is in its <title>. */
static void describe_html_title(const char *body, size_t len, msg_t *m) {
  const char *open = find_ci(body, len, "<title");
  if (open == NULL)
    return;
  const char *end = body + len;
  const char *text = memchr(open, '>', (size_t)(end - open));
  if (text == NULL)
    return;
  text++;
  const char *close = find_ci(text, (size_t)(end - text), "</title");
  msg_put(m, text, (size_t)((close != NULL ? close : end) - text));
}

static void describe_text(const char *body, size_t len, msg_t *m) {
  describe_html_title(body, len, m);
  if (m->len > 0)
    return;
  size_t start = 0;
  while (start < len && isspace((unsigned char)body[start]))
    start++;
  size_t stop = start;
  while (stop < len && body[stop] != '\n' && body[stop] != '\r')
    stop++;
  msg_put(m, body + start, stop - start);
}

int pd_error_parse(const char *body, size_t len, pd_api_error_t *err) {
  msg_t m;
  err->code = 0;
  msg_init(&m, err->message);
  if (body == NULL)
    return -1;
  if (len > PD_ERROR_BODY_MAX)
    len = PD_ERROR_BODY_MAX; /* a cut JSON body falls back to text */

  /* yajl_tree wants a NUL-terminated string; error bodies are small. */
  char *copy = malloc(len + 1);
  if (copy != NULL) {
    memcpy(copy, body, len);
    copy[len] = '\0';
    /* A NUL inside the body would hide the rest from yajl: not JSON. */
    yajl_val root = strlen(copy) == len ? yajl_tree_parse(copy, NULL, 0) : NULL;
    if (root != NULL) {
      describe_json(root, err, &m);
      yajl_tree_free(root);
    }
    free(copy);
  }
  if (m.len == 0) {
    msg_init(&m, err->message);
    describe_text(body, len, &m);
  }
  msg_finish(&m);
  return m.len > 0 ? 0 : -1;
}
