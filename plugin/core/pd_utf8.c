/* SPDX-License-Identifier: MIT */
/*
 * pd_utf8.c - see pd_utf8.h.
 */
#include "pd_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t pd_utf8_sequence_length(const char *s, size_t avail) {
  const unsigned char *p = (const unsigned char *)s;
  unsigned char c = p[0];
  size_t len;
  /* The range of the second byte is where the rules live: narrowing it
   * after E0/F0 refuses overlong forms, after ED surrogates, after F4
   * anything above U+10FFFF. C0, C1 and F5..FF never start a sequence. */
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (avail < len || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if (!is_continuation(p[i]))
      return 0;
  return len;
}

/* How many bytes from s on (at most len) are ASCII. Eight at a time: the
 * texts of an event are mostly ASCII, and this runs in collectd's
 * notification callback. */
static size_t ascii_prefix(const char *s, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t word;
    memcpy(&word, s + i, sizeof(word));
    if ((word & 0x8080808080808080ULL) != 0)
      break;
  }
  while (i < len && (unsigned char)s[i] < 0x80)
    i++;
  return i;
}

bool pd_utf8_is_valid(const char *s, size_t len) {
  for (size_t i = ascii_prefix(s, len); i < len;) {
    size_t n = pd_utf8_sequence_length(s + i, len - i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

size_t pd_utf8_sanitize(char *s, size_t len) {
  size_t replaced = 0;
  for (size_t i = ascii_prefix(s, len); i < len;) {
    size_t n = pd_utf8_sequence_length(s + i, len - i);
    if (n == 0) {
      s[i] = '?';
      replaced++;
      n = 1;
    }
    i += n;
  }
  return replaced;
}

size_t pd_utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  /* s[max] is the first byte left out: while it continues a sequence, that
   * sequence would be split, so leave it out whole. A sequence has at most
   * 3 continuation bytes, so the walk back stops after 3 steps. */
  size_t cut = max;
  for (int back = 0;
       back < 3 && cut > 0 && is_continuation((unsigned char)s[cut]); back++)
    cut--;
  return cut;
}

size_t pd_utf8_trim_partial(const char *s, size_t len) {
  size_t i = len;
  while (i > 0 && is_continuation((unsigned char)s[i - 1]))
    i--; /* back over continuation bytes to the lead byte */
  if (i == 0 || (unsigned char)s[i - 1] < 0xC0)
    return len; /* ends in ASCII (or only continuations): nothing partial */
  unsigned char lead = (unsigned char)s[i - 1];
  size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  return len - (i - 1) < want ? i - 1 : len;
}

size_t pd_utf8_copy(char *dst, size_t dst_size, const char *src) {
  if (dst_size == 0)
    return 0;
  size_t n = pd_utf8_cut(src, strlen(src), dst_size - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
  pd_utf8_sanitize(dst, n);
  return n;
}

size_t pd_utf8_copy_blanked(char *dst, size_t size, const char *src,
                            size_t len) {
  if (size == 0)
    return 0;
  size_t n = pd_utf8_cut(src, len, size - 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[i] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
  }
  dst[n] = '\0';
  return n;
}

char *pd_utf8_dup(const char *src, size_t len) {
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, src, len);
  copy[len] = '\0';
  pd_utf8_sanitize(copy, len);
  return copy;
}
