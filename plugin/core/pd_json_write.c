/* SPDX-License-Identifier: MIT */
/*
 * pd_json_write.c - see pd_json_write.h.
 */
#include "pd_json_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int begin(pd_jw_t *j, bool validate_utf8) {
  j->failed = false;
  j->g = yajl_gen_alloc(NULL);
  if (j->g == NULL)
    return -1;
  yajl_gen_config(j->g, yajl_gen_validate_utf8, validate_utf8 ? 1 : 0);
  return 0;
}

int pd_jw_begin(pd_jw_t *j) {
  /* Every string is sanitised before it gets here; validation catches a
   * path that forgot to, instead of sending PagerDuty invalid JSON. */
  return begin(j, true);
}

int pd_jw_begin_sanitised(pd_jw_t *j) { return begin(j, false); }

void pd_jw_check(pd_jw_t *j, yajl_gen_status status) {
  if (status != yajl_gen_status_ok)
    j->failed = true;
}

void pd_jw_str(pd_jw_t *j, const char *s) {
  if (!j->failed)
    pd_jw_check(j, yajl_gen_string(j->g, (const unsigned char *)s, strlen(s)));
}

void pd_jw_kstr(pd_jw_t *j, const char *key, const char *value) {
  pd_jw_str(j, key);
  pd_jw_str(j, value);
}

void pd_jw_kstr_or_null(pd_jw_t *j, const char *key, const char *value) {
  pd_jw_str(j, key);
  if (value == NULL) {
    if (!j->failed)
      pd_jw_check(j, yajl_gen_null(j->g));
  } else {
    pd_jw_str(j, value);
  }
}

void pd_jw_number_text(pd_jw_t *j, const char *text) {
  if (!j->failed)
    pd_jw_check(j, yajl_gen_number(j->g, text, strlen(text)));
}

/* value's decimal digits, after a '-' when negative, at the end of buf;
 * returns where they start. By hand, not with yajl_gen_integer(): its
 * sprintf() was a tenth of the notification callback's instructions. */
static const char *decimal(uint64_t value, bool negative, char buf[24]) {
  char *p = buf + 24;
  *--p = '\0';
  do {
    *--p = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0);
  if (negative)
    *--p = '-';
  return p;
}

void pd_jw_kint(pd_jw_t *j, const char *key, long long value) {
  char buf[24];
  /* The magnitude in unsigned arithmetic: -LLONG_MIN does not fit. */
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
  pd_jw_str(j, key);
  pd_jw_number_text(j, decimal(magnitude, value < 0, buf));
}

void pd_jw_kuint(pd_jw_t *j, const char *key, uint64_t value) {
  char buf[24];
  pd_jw_str(j, key);
  pd_jw_number_text(j, decimal(value, false, buf));
}

void pd_jw_kbool(pd_jw_t *j, const char *key, bool value) {
  pd_jw_str(j, key);
  if (!j->failed)
    pd_jw_check(j, yajl_gen_bool(j->g, value));
}

void pd_jw_open_map(pd_jw_t *j) {
  if (!j->failed)
    pd_jw_check(j, yajl_gen_map_open(j->g));
}

void pd_jw_close_map(pd_jw_t *j) {
  if (!j->failed)
    pd_jw_check(j, yajl_gen_map_close(j->g));
}

void pd_jw_open_array(pd_jw_t *j) {
  if (!j->failed)
    pd_jw_check(j, yajl_gen_array_open(j->g));
}

void pd_jw_close_array(pd_jw_t *j) {
  if (!j->failed)
    pd_jw_check(j, yajl_gen_array_close(j->g));
}

int pd_jw_finish(pd_jw_t *j, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  const unsigned char *buf = NULL;
  size_t buf_len = 0;
  int status = -1;
  if (!j->failed &&
      yajl_gen_get_buf(j->g, &buf, &buf_len) == yajl_gen_status_ok) {
    *out = malloc(buf_len + 1);
    if (*out != NULL) {
      memcpy(*out, buf, buf_len);
      (*out)[buf_len] = '\0';
      *len = buf_len;
      status = 0;
    }
  }
  yajl_gen_free(j->g);
  j->g = NULL;
  return status;
}

size_t pd_jw_length(const pd_jw_t *j) {
  const unsigned char *buf = NULL;
  size_t len = 0;
  if (yajl_gen_get_buf(j->g, &buf, &len) != yajl_gen_status_ok)
    return 0;
  return len;
}
