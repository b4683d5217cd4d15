/* SPDX-License-Identifier: MIT */
/*
 * pd_utf8.h - bounded, valid UTF-8 text.
 *
 * collectd fields, configuration strings and error bodies are bytes;
 * PagerDuty, yajl's generator and log lines want UTF-8 that is well formed
 * and cut only between characters. Everything that checks, repairs or
 * bounds such text does it here, so there is one definition of "valid" and
 * one of "a character boundary".
 *
 * Well formed means RFC 3629: no overlong forms, no surrogates (U+D800 to
 * U+DFFF), nothing above U+10FFFF, no stray continuation bytes and no
 * sequence cut short.
 */
#ifndef PD_UTF8_H
#define PD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1 to 4) of the well-formed sequence at s, which has avail > 0
 * bytes; 0 when the bytes there are not one. */
size_t pd_utf8_sequence_length(const char *s, size_t avail);

/* Is s (len bytes) well-formed UTF-8 throughout? */
bool pd_utf8_is_valid(const char *s, size_t len);

/* Replaces, in place, every byte of s (len bytes) that is not part of a
 * well-formed sequence by '?', which keeps lengths unchanged. Returns how
 * many bytes were replaced. */
size_t pd_utf8_sanitize(char *s, size_t len);

/*
 * The length of the longest prefix of s (len bytes) that is at most max
 * bytes and does not split a UTF-8 sequence: a sequence that s[max]
 * continues is left out whole. For valid UTF-8 the prefix is itself valid.
 */
size_t pd_utf8_cut(const char *s, size_t len, size_t max);

/*
 * The length of s (len bytes) without a sequence left incomplete at its
 * end: for text a bounded snprintf may have cut inside a character, when
 * the bytes that followed are gone. Only the last lead byte is looked at;
 * invalid bytes elsewhere stay.
 */
size_t pd_utf8_trim_partial(const char *s, size_t len);

/* Copies src into dst (dst_size > 0), sanitised and cut on a UTF-8 boundary
 * to at most dst_size - 1 bytes. Returns the length written. */
size_t pd_utf8_copy(char *dst, size_t dst_size, const char *src);

/*
 * Copies src (len bytes) into dst (size >= 1) for one line of text: cut on
 * a UTF-8 boundary to fit, control characters (including NUL and DEL)
 * replaced by spaces, every other byte as it is (not sanitised). Returns
 * the length written.
 */
size_t pd_utf8_copy_blanked(char *dst, size_t size, const char *src,
                            size_t len);

/* A NUL-terminated, sanitised copy of src (len bytes) that the caller
 * frees; NULL when memory runs out. */
char *pd_utf8_dup(const char *src, size_t len);

#endif /* PD_UTF8_H */
