/* SPDX-License-Identifier: MIT */
/*
 * pd_template.c - see pd_template.h.
 *
 * A template is parsed on every expansion: they are a few dozen bytes, so
 * keeping no compiled form keeps this module free of state. The config
 * parser has validated it; expansion refuses the same templates on its own
 * (it resolves every placeholder), without validating first. It writes
 * into a buffer on the stack, on the heap only when a long meta string
 * needs it: this runs in collectd's notification callback, where a
 * memstream's 8 KiB zeroed buffer cost more than the rest of the
 * expansion. The result is sanitised and bounded in one place.
 */
#include "pd_template.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_PREFIX "meta:"
#define META_PREFIX_LEN (sizeof(META_PREFIX) - 1)

/* ------------------------------------------------------------------ bounds */

uint64_t pd_hash64(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a offset basis */
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL; /* FNV prime */
  }
  return h;
}

/* Bounds an already sanitised text into out (see pd_text_bound_hashed). */
static size_t bound_sanitised(const char *text, size_t len, char *out,
                              size_t out_size) {
  if (len < out_size) {
    memcpy(out, text, len);
    out[len] = '\0';
    return len;
  }
  size_t keep =
      pd_utf8_cut(text, len, out_size - 1 - PD_TEMPLATE_HASH_SUFFIX_LEN);
  memcpy(out, text, keep);
  snprintf(out + keep, out_size - keep, "~%016" PRIx64, pd_hash64(text, len));
  return keep + PD_TEMPLATE_HASH_SUFFIX_LEN;
}

size_t pd_text_bound_hashed(const char *text, size_t len, char *out,
                            size_t out_size) {
  if (out_size <= PD_TEMPLATE_HASH_SUFFIX_LEN) {
    if (out_size > 0)
      out[0] = '\0';
    return 0;
  }
  char *copy = pd_utf8_dup(text, len);
  if (copy == NULL) {
    out[0] = '\0';
    return 0;
  }
  size_t n = bound_sanitised(copy, len, out, out_size);
  free(copy);
  return n;
}

/* ------------------------------------------------------------- meta, names */

const char *pd_severity_name(int severity) {
  switch (severity) {
  case NOTIF_FAILURE:
    return "FAILURE";
  case NOTIF_WARNING:
    return "WARNING";
  case NOTIF_OKAY:
    return "OKAY";
  default:
    return "UNKNOWN";
  }
}

const notification_meta_t *pd_meta_find(const notification_t *n,
                                        const char *name) {
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next)
    if (strcmp(m->name, name) == 0)
      return m;
  return NULL;
}

size_t pd_meta_format(const notification_meta_t *m, char *buf, size_t size) {
  int n = 0;
  switch (m->type) {
  case NM_TYPE_STRING:
    n = snprintf(buf, size, "%s",
                 m->nm_value.nm_string != NULL ? m->nm_value.nm_string : "");
    break;
  case NM_TYPE_SIGNED_INT:
    n = snprintf(buf, size, "%" PRId64, m->nm_value.nm_signed_int);
    break;
  case NM_TYPE_UNSIGNED_INT:
    n = snprintf(buf, size, "%" PRIu64, m->nm_value.nm_unsigned_int);
    break;
  case NM_TYPE_DOUBLE:
    n = snprintf(buf, size, "%.15g", m->nm_value.nm_double);
    break;
  case NM_TYPE_BOOLEAN:
    n = snprintf(buf, size, "%s", m->nm_value.nm_boolean ? "true" : "false");
    break;
  default:
    if (size > 0)
      buf[0] = '\0';
    break;
  }
  return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------ placeholders */

typedef struct {
  const char *name; /* between "%{" and "}" */
  size_t name_len;
  const char *end; /* just after the "}" */
} placeholder_t;

/* Parses the placeholder starting at p ("%{..."). -1 when unterminated. */
static int parse_placeholder(const char *p, placeholder_t *ph) {
  const char *close = strchr(p + 2, '}');
  if (close == NULL)
    return -1;
  ph->name = p + 2;
  ph->name_len = (size_t)(close - ph->name);
  ph->end = close + 1;
  return 0;
}

static bool name_is(const placeholder_t *ph, const char *name) {
  return ph->name_len == strlen(name) &&
         memcmp(ph->name, name, ph->name_len) == 0;
}

static bool is_meta(const placeholder_t *ph) {
  return ph->name_len >= META_PREFIX_LEN &&
         memcmp(ph->name, META_PREFIX, META_PREFIX_LEN) == 0;
}

/* What a placeholder expands to: text points into the notification, or
 * into scratch for a formatted number. */
typedef struct {
  const char *text;
  size_t len;
  char scratch[64];
} expansion_t;

/* The value of a placeholder for n. -1 for an unknown placeholder. */
static int resolve(const placeholder_t *ph, const notification_t *n,
                   expansion_t *value) {
  const char *v = NULL;
  if (name_is(ph, "host"))
    v = n->host;
  else if (name_is(ph, "plugin"))
    v = n->plugin;
  else if (name_is(ph, "plugin_instance"))
    v = n->plugin_instance;
  else if (name_is(ph, "type"))
    v = n->type;
  else if (name_is(ph, "type_instance"))
    v = n->type_instance;
  else if (name_is(ph, "severity"))
    v = pd_severity_name(n->severity);

  if (v != NULL) {
    value->text = v;
    value->len = strlen(v);
    return 0;
  }
  if (!is_meta(ph))
    return -1;

  char meta_name[DATA_MAX_NAME_LEN];
  size_t meta_len = ph->name_len - META_PREFIX_LEN;
  if (meta_len == 0 || meta_len >= sizeof(meta_name))
    return -1;
  memcpy(meta_name, ph->name + META_PREFIX_LEN, meta_len);
  meta_name[meta_len] = '\0';

  const notification_meta_t *m = pd_meta_find(n, meta_name);
  if (m == NULL) {
    value->text = "";
    value->len = 0;
  } else if (m->type == NM_TYPE_STRING) {
    value->text = m->nm_value.nm_string != NULL ? m->nm_value.nm_string : "";
    value->len = strlen(value->text);
  } else {
    value->len = pd_meta_format(m, value->scratch, sizeof(value->scratch));
    value->text = value->scratch;
  }
  return 0;
}

int pd_template_validate(const char *tmpl, char *err, size_t err_size) {
  if (tmpl == NULL || tmpl[0] == '\0') {
    snprintf(err, err_size, "the template is empty");
    return -1;
  }
  for (const char *p = tmpl; *p != '\0';) {
    if (p[0] != '%' || p[1] != '{') {
      p++;
      continue;
    }
    placeholder_t ph;
    size_t offset = (size_t)(p - tmpl);
    if (parse_placeholder(p, &ph) != 0) {
      snprintf(err, err_size, "unterminated \"%%{\" at offset %zu", offset);
      return -1;
    }
    if (is_meta(&ph)) {
      size_t meta_len = ph.name_len - META_PREFIX_LEN;
      if (meta_len == 0) {
        snprintf(err, err_size,
                 "empty meta name in \"%%{meta:}\" at offset %zu", offset);
        return -1;
      }
      if (meta_len >= DATA_MAX_NAME_LEN) {
        snprintf(err, err_size,
                 "meta name at offset %zu is longer than %d bytes", offset,
                 DATA_MAX_NAME_LEN - 1);
        return -1;
      }
    } else {
      expansion_t value;
      notification_t empty = {0};
      if (resolve(&ph, &empty, &value) != 0) {
        snprintf(err, err_size,
                 "unknown placeholder \"%%{%.*s}\" at offset %zu (known: host, "
                 "plugin, plugin_instance, type, type_instance, severity, "
                 "meta:NAME)",
                 (int)(ph.name_len > 64 ? 64 : ph.name_len), ph.name, offset);
        return -1;
      }
    }
    p = ph.end;
  }
  return 0;
}

/* Is the text at p a placeholder that expands to "" for n? */
static bool placeholder_is_empty(const char *p, const notification_t *n) {
  placeholder_t ph;
  expansion_t value;
  return parse_placeholder(p, &ph) == 0 && resolve(&ph, n, &value) == 0 &&
         value.len == 0;
}

/* The full expansion, before it is bounded: in local while it fits. */
typedef struct {
  char *data;
  size_t len, cap;
  bool failed; /* out of memory */
  char local[1024];
} expansion_buf_t;

static void buf_init(expansion_buf_t *b) {
  b->data = b->local;
  b->len = 0;
  b->cap = sizeof(b->local);
  b->failed = false;
}

static void buf_free(expansion_buf_t *b) {
  if (b->data != b->local)
    free(b->data);
}

static void buf_append(expansion_buf_t *b, const char *text, size_t len) {
  if (b->failed)
    return;
  if (len > b->cap - b->len) {
    size_t cap = b->cap;
    while (len > cap - b->len && cap <= SIZE_MAX / 2)
      cap *= 2;
    char *grown = NULL;
    if (len <= cap - b->len)
      grown = b->data == b->local ? malloc(cap) : realloc(b->data, cap);
    if (grown == NULL) {
      b->failed = true;
      return;
    }
    if (b->data == b->local)
      memcpy(grown, b->local, b->len);
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, text, len);
  b->len += len;
}

/* Writes the full expansion of tmpl to b: -1 for an invalid template. */
static int expand_to(expansion_buf_t *b, const char *tmpl,
                     const notification_t *n) {
  if (tmpl[0] == '\0')
    return -1; /* as pd_template_validate() says */
  for (const char *p = tmpl; *p != '\0';) {
    if (p[0] == '-' && p[1] == '%' && p[2] == '{' &&
        placeholder_is_empty(p + 1, n)) {
      p++; /* drop the dash; the empty placeholder follows */
      continue;
    }
    if (p[0] != '%' || p[1] != '{') {
      buf_append(b, p, 1);
      p++;
      continue;
    }
    placeholder_t ph;
    expansion_t value;
    if (parse_placeholder(p, &ph) != 0 || resolve(&ph, n, &value) != 0)
      return -1;
    buf_append(b, value.text, value.len);
    p = ph.end;
  }
  return b->failed ? -1 : 0;
}

int pd_template_expand(const char *tmpl, const notification_t *n, char *out,
                       size_t out_size) {
  if (out_size <= PD_TEMPLATE_HASH_SUFFIX_LEN)
    return -1;
  out[0] = '\0';

  expansion_buf_t full;
  buf_init(&full);
  int len = -1;
  if (expand_to(&full, tmpl, n) == 0) {
    pd_utf8_sanitize(full.data, full.len);
    len = (int)bound_sanitised(full.data, full.len, out, out_size);
  }
  buf_free(&full);
  return len;
}
