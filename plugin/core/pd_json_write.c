/* SPDX-License-Identifier: MIT */
/*
 * pd_json_write.c - see pd_json_write.h.
 */
#include "pd_json_write.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pd_jw_begin(pd_jw_t *j) {
  j->failed = false;
  j->g = yajl_gen_alloc(NULL);
  if (j->g == NULL)
    return -1;
  /* Every string is sanitised before it gets here; validation catches a
   * path that forgot to, instead of sending PagerDuty invalid JSON. */
  yajl_gen_config(j->g, yajl_gen_validate_utf8, 1);
  return 0;
}

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

void pd_jw_kint(pd_jw_t *j, const char *key, long long value) {
  pd_jw_str(j, key);
  if (!j->failed)
    pd_jw_check(j, yajl_gen_integer(j->g, value));
}

/* Writes c, a decimal number of more than k digits, with a point before
 * its last k digits, backwards from end; returns where the text starts. */
static char *put_fixed(unsigned __int128 c, int k, char *end) {
  char *p = end;
  *--p = '\0';
  for (int i = 0; c != 0 || i <= k; i++) {
    if (i == k && k > 0)
      *--p = '.';
    if (c >> 64 == 0) { /* the usual case: 64-bit division is far cheaper */
      uint64_t v = (uint64_t)c;
      *--p = (char)('0' + (int)(v % 10));
      c = v / 10;
    } else {
      *--p = (char)('0' + (int)(c % 10));
      c /= 10;
    }
  }
  return p;
}

/*
 * The shortest decimal text that reads back as d (correctly rounded, as
 * strtod() and yajl read it), for 1 <= d < 2^53 (the records' times are a
 * few 10^9 s); NULL for any other d. It replaces snprintf("%.17g") on the
 * notification callback's path, where glibc's exact multi-precision
 * formatting of three times took 8 % of the callback's time, more than a
 * third of the serialisation (README, "Benchmarks"). d = mant / 2^q exactly;
 * the first k (digits after the point) whose nearest k-digit decimal c / 10^k
 * lies within half the gap to d's neighbours is the shortest. Integers of at
 * most 128 bits hold every quantity: mant < 2^53, 10^k <= 10^17 < 2^57.
 */
static const char *shortest_fixed(double d, char *buf, size_t size) {
  if (!(d >= 1.0 && d < 9007199254740992.0) || size < 40)
    return NULL;
  typedef unsigned __int128 u128;
  uint64_t bits;
  memcpy(&bits, &d, sizeof(bits));
  int q = 1075 - (int)(bits >> 52); /* 0 <= q <= 52 in this range */
  uint64_t mant = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
  bool even = (mant & 1) == 0, pow2 = mant == UINT64_C(1) << 52;
  u128 pow10 = 1;
  for (int k = 0; k <= 17; k++, pow10 *= 10) {
    u128 scaled = (u128)mant * pow10; /* d * 10^k, times 2^q */
    u128 c = q > 0 ? (scaled + ((u128)1 << (q - 1))) >> q : scaled;
    /* Compared times 4 * 2^q: the gap below a power of two is half as
     * wide; a decimal exactly halfway reads back as the even mantissa. */
    u128 c4 = c << (q + 2), d4 = scaled << 2;
    u128 diff = c4 > d4 ? c4 - d4 : d4 - c4;
    u128 half = c4 < d4 && pow2 ? pow10 : 2 * pow10;
    if (diff < half || (diff == half && even))
      return put_fixed(c, k, buf + size);
  }
  return NULL;
}

void pd_jw_ktime(pd_jw_t *j, const char *key, cdtime_t t) {
  char buf[64];
  double d = CDTIME_T_TO_DOUBLE(t);
  const char *text = t == 0 ? "0" : shortest_fixed(d, buf, sizeof(buf));
  /* Outside that range (never in practice): as short, through printf. Any
   * decimal of at most 15 digits reads back as itself (DBL_DIG), so when
   * a representation that short exists, %.15g gives it. */
  for (int digits = 15; text == NULL && digits <= 17; digits++) {
    snprintf(buf, sizeof(buf), "%.*g", digits, d);
    if (digits == 17 || strtod(buf, NULL) == d)
      text = buf;
  }
  pd_jw_str(j, key);
  pd_jw_number_text(j, text);
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
