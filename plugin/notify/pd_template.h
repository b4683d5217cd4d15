/* SPDX-License-Identifier: MIT */
/*
 * pd_template.h - DedupKey templates (doc/contract.md §3) and the hashed bound
 * of dedup keys.
 *
 * A template is literal text with placeholders:
 *   %{host} %{plugin} %{plugin_instance} %{type} %{type_instance}
 *   %{severity}     FAILURE, WARNING or OKAY
 *   %{meta:NAME}    the notification meta NAME: strings as they are, integers
 *                   in decimal, doubles with %.15g, booleans true/false;
 *                   missing meta expands to the empty string
 * "%{" always opens a placeholder (there is no escape); a '%' not followed
 * by '{' is literal. As in collectd identifiers, an empty instance is
 * dropped with its dash: a literal '-' right before a placeholder that
 * expands to "" is dropped too, so the default template gives
 * "web01/df/percent_bytes-used" for a notification without plugin instance.
 * The rule applies to every placeholder, not only the two *_instance ones.
 *
 * Bounds. PagerDuty takes dedup keys of at most 255 characters. A longer
 * expansion is cut on a UTF-8 boundary and its tail replaced by
 * "~<16 hex digits>", the FNV-1a 64-bit hash of the whole key, so two long
 * keys sharing their first 238 bytes still stay distinct (and the same key
 * always comes out the same, across restarts and hosts).
 *
 * UTF-8. collectd fields are bytes; PagerDuty wants valid UTF-8 (yajl would
 * refuse to generate anything else). Expansions go through
 * pd_utf8_sanitize() (pd_utf8.h): every byte that is not part of a
 * well-formed sequence becomes '?', which keeps lengths unchanged.
 */
#ifndef PD_TEMPLATE_H
#define PD_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

/* The UTF-8 rules every string sent to PagerDuty goes through; included
 * here because callers of the templates use them on their other fields. */
#include "pd_utf8.h"

#define PD_DEDUP_KEY_MAX 255
/* "~" and 16 hex digits, appended to a cut key. */
#define PD_TEMPLATE_HASH_SUFFIX_LEN 17

/*
 * Checks a template. Returns 0 when it is valid; otherwise -1 with a
 * one-line reason in err (e.g. "unknown placeholder %{hots} at offset 0"),
 * for the config parser's ERROR line.
 */
int pd_template_validate(const char *tmpl, char *err, size_t err_size);

/*
 * Expands tmpl for n into out: valid UTF-8, at most out_size - 1 bytes
 * (cut with a hash suffix as above when longer), NUL-terminated. out_size
 * must be at least PD_TEMPLATE_HASH_SUFFIX_LEN + 1; use
 * PD_DEDUP_KEY_MAX + 1 for dedup keys. Returns the length of the result,
 * or -1 for an invalid template or when memory runs out (out is then "").
 */
int pd_template_expand(const char *tmpl, const notification_t *n, char *out,
                       size_t out_size);

/*
 * Copies text (len bytes) into out the way expanded templates are bounded:
 * invalid UTF-8 made '?', and when longer than out_size - 1 bytes, cut on a
 * UTF-8 boundary with "~<hash of the whole text>" appended. Used for the
 * pagerduty_dedup_key override as well. Returns the length written.
 */
size_t pd_text_bound_hashed(const char *text, size_t len, char *out,
                            size_t out_size);

/* FNV-1a, 64 bit: the short, stable hash of keys used here and in the spool. */
uint64_t pd_hash64(const void *data, size_t len);

/* "FAILURE", "WARNING", "OKAY", or "UNKNOWN" for anything else. */
const char *pd_severity_name(int severity);

/* The first meta of n named name, or NULL. Walks n->meta directly (the
 * daemon's plugin_notification_meta_* are not available to libpdcore). */
const notification_meta_t *pd_meta_find(const notification_t *n,
                                        const char *name);

/*
 * Formats a meta value as text into buf, as %{meta:NAME} does. Returns the
 * length the full text has (like snprintf: when >= size, buf holds a cut,
 * NUL-terminated copy). A string meta with a NULL value formats as "".
 */
size_t pd_meta_format(const notification_meta_t *m, char *buf, size_t size);

#endif /* PD_TEMPLATE_H */
