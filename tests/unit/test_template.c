/* SPDX-License-Identifier: MIT */
/*
 * test_template.c - DedupKey templates and their bounds (doc/contract.md §3).
 * The UTF-8 functions themselves are tested in test_utf8.c.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pd_config.h" /* PD_DEFAULT_DEDUP_KEY */
#include "pd_template.h"

#include "notif_fixture.h"

static const char *expand(const char *tmpl, const notification_t *n) {
  static char out[PD_DEDUP_KEY_MAX + 1];
  int len = pd_template_expand(tmpl, n, out, sizeof(out));
  ck_assert_int_ge(len, 0);
  ck_assert_uint_eq((size_t)len, strlen(out));
  return out;
}

START_TEST(test_every_placeholder) {
  notification_t n = make_notification(NOTIF_FAILURE, "web01", "df", "root",
                                       "percent_bytes", "used", "");
  ck_assert_str_eq(expand("%{host}|%{plugin}|%{plugin_instance}|%{type}|"
                          "%{type_instance}|%{severity}",
                          &n),
                   "web01|df|root|percent_bytes|used|FAILURE");
  n.severity = NOTIF_WARNING;
  ck_assert_str_eq(expand("%{severity}", &n), "WARNING");
  n.severity = NOTIF_OKAY;
  ck_assert_str_eq(expand("sev=%{severity}", &n), "sev=OKAY");
  n.severity = 42;
  ck_assert_str_eq(expand("%{severity}", &n), "UNKNOWN");
  /* Literal text around and between placeholders, and lone '%'. */
  ck_assert_str_eq(expand("[%{host}] 100% %x {host}", &n),
                   "[web01] 100% %x {host}");
}
END_TEST

START_TEST(test_default_template_drops_empty_instances) {
  notification_t n = make_notification(NOTIF_FAILURE, "web01", "df", "root",
                                       "percent_bytes", "used", "");
  ck_assert_str_eq(expand(PD_DEFAULT_DEDUP_KEY, &n),
                   "web01/df-root/percent_bytes-used");
  n.plugin_instance[0] = '\0';
  ck_assert_str_eq(expand(PD_DEFAULT_DEDUP_KEY, &n),
                   "web01/df/percent_bytes-used");
  n.type_instance[0] = '\0';
  ck_assert_str_eq(expand(PD_DEFAULT_DEDUP_KEY, &n), "web01/df/percent_bytes");
  snprintf(n.plugin_instance, sizeof(n.plugin_instance), "sda");
  ck_assert_str_eq(expand(PD_DEFAULT_DEDUP_KEY, &n),
                   "web01/df-sda/percent_bytes");
}
END_TEST

START_TEST(test_dash_rule_details) {
  notification_t n =
      make_notification(NOTIF_FAILURE, "h", "p", "", "t", "", "");
  /* Only the one dash right before the empty placeholder goes. */
  ck_assert_str_eq(expand("a--%{plugin_instance}", &n), "a-");
  /* A dash before non-empty text stays, so does a trailing dash. */
  ck_assert_str_eq(expand("%{host}-%{plugin}-", &n), "h-p-");
  /* The rule applies to every placeholder, meta included. */
  ck_assert_str_eq(expand("%{host}-%{meta:missing}", &n), "h");
  ck_assert_str_eq(expand("-%{type_instance}x", &n), "x");
}
END_TEST

START_TEST(test_meta_of_every_type) {
  notification_t n =
      make_notification(NOTIF_FAILURE, "h", "p", "", "t", "", "");
  notification_meta_t meta[8];
  meta[0] = meta_string("DataSource", "value");
  meta[1] = (notification_meta_t){.type = NM_TYPE_SIGNED_INT,
                                  .nm_value.nm_signed_int = -42};
  snprintf(meta[1].name, sizeof(meta[1].name), "signed");
  meta[2] = (notification_meta_t){.type = NM_TYPE_UNSIGNED_INT,
                                  .nm_value.nm_unsigned_int =
                                      18446744073709551615ULL};
  snprintf(meta[2].name, sizeof(meta[2].name), "unsigned");
  meta[3] = meta_double("CurrentValue", 0.1);
  meta[4] = meta_double("WarningMax", NAN);
  meta[5] = (notification_meta_t){.type = NM_TYPE_BOOLEAN,
                                  .nm_value.nm_boolean = true};
  snprintf(meta[5].name, sizeof(meta[5].name), "flag");
  meta[6] = meta_double("Big", 1e300);
  meta[7] = meta_string("DataSource", "second one is ignored");
  attach_meta(&n, meta, 8);

  ck_assert_str_eq(expand("%{meta:DataSource}", &n), "value");
  ck_assert_str_eq(expand("%{meta:signed}", &n), "-42");
  ck_assert_str_eq(expand("%{meta:unsigned}", &n), "18446744073709551615");
  ck_assert_str_eq(expand("%{meta:CurrentValue}", &n), "0.1");
  ck_assert_str_eq(expand("%{meta:WarningMax}", &n), "nan");
  ck_assert_str_eq(expand("%{meta:flag}", &n), "true");
  ck_assert_str_eq(expand("%{meta:Big}", &n), "1e+300");
  ck_assert_str_eq(expand("[%{meta:nope}]", &n), "[]");
  meta[5].nm_value.nm_boolean = false;
  ck_assert_str_eq(expand("%{meta:flag}", &n), "false");
  /* %.15g: a value with a long binary expansion prints short. */
  meta[3].nm_value.nm_double = 95.2;
  ck_assert_str_eq(expand("%{meta:CurrentValue}", &n), "95.2");
}
END_TEST

START_TEST(test_validation) {
  char err[256];
  ck_assert_int_eq(pd_template_validate(PD_DEFAULT_DEDUP_KEY, err, sizeof(err)),
                   0);
  ck_assert_int_eq(pd_template_validate("static key", err, sizeof(err)), 0);
  ck_assert_int_eq(
      pd_template_validate("%{meta:a b}-%{severity}", err, sizeof(err)), 0);

  ck_assert_int_eq(pd_template_validate("%{host}/%{hots}", err, sizeof(err)),
                   -1);
  ck_assert_ptr_nonnull(strstr(err, "unknown placeholder \"%{hots}\""));
  ck_assert_ptr_nonnull(strstr(err, "offset 8"));

  ck_assert_int_eq(pd_template_validate("abc%{host", err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "unterminated"));
  ck_assert_ptr_nonnull(strstr(err, "offset 3"));

  ck_assert_int_eq(pd_template_validate("x%{meta:}", err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "empty meta name"));

  ck_assert_int_eq(pd_template_validate("", err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "empty"));

  ck_assert_int_eq(pd_template_validate("%{}", err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "unknown placeholder"));

  char long_meta[DATA_MAX_NAME_LEN + 16];
  snprintf(long_meta, sizeof(long_meta), "%%{meta:%0*d}", DATA_MAX_NAME_LEN, 0);
  ck_assert_int_eq(pd_template_validate(long_meta, err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "longer than"));

  /* Placeholders are case-sensitive, like collectd's field names. */
  ck_assert_int_eq(pd_template_validate("%{Host}", err, sizeof(err)), -1);

  /* Expanding an invalid template fails cleanly. */
  notification_t n =
      make_notification(NOTIF_FAILURE, "h", "p", "", "t", "", "");
  char out[PD_DEDUP_KEY_MAX + 1] = "junk";
  ck_assert_int_eq(pd_template_expand("%{nope}", &n, out, sizeof(out)), -1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(pd_template_expand("%{host", &n, out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_bound_with_hash_suffix) {
  notification_t n =
      make_notification(NOTIF_FAILURE, "h", "p", "", "t", "", "");
  char long_a[400], long_b[400];
  memset(long_a, 'a', 300);
  long_a[300] = '\0';
  memcpy(long_b, long_a, 301);
  long_b[299] = 'b'; /* same first 299 bytes */
  notification_meta_t meta[1] = {meta_string("k", long_a)};
  attach_meta(&n, meta, 1);

  char key_a[PD_DEDUP_KEY_MAX + 1], key_b[PD_DEDUP_KEY_MAX + 1];
  ck_assert_int_eq(pd_template_expand("%{meta:k}", &n, key_a, sizeof(key_a)),
                   PD_DEDUP_KEY_MAX);
  ck_assert_uint_eq(strlen(key_a), PD_DEDUP_KEY_MAX);
  size_t keep = PD_DEDUP_KEY_MAX - PD_TEMPLATE_HASH_SUFFIX_LEN;
  for (size_t i = 0; i < keep; i++)
    ck_assert_int_eq(key_a[i], 'a');
  ck_assert_int_eq(key_a[keep], '~');
  ck_assert_uint_eq(strspn(key_a + keep + 1, "0123456789abcdef"), 16);

  /* The hash is of the whole key: FNV-1a 64 of the 300 'a's. */
  char expected_suffix[32];
  snprintf(expected_suffix, sizeof(expected_suffix), "~%016llx",
           (unsigned long long)pd_hash64(long_a, 300));
  ck_assert_str_eq(key_a + keep, expected_suffix);

  meta[0].nm_value.nm_string = long_b;
  ck_assert_int_eq(pd_template_expand("%{meta:k}", &n, key_b, sizeof(key_b)),
                   PD_DEDUP_KEY_MAX);
  ck_assert_str_ne(key_a, key_b);                  /* distinct keys stay so */
  ck_assert_int_eq(memcmp(key_a, key_b, keep), 0); /* sharing the prefix */

  /* Stable: the same key comes out the same. */
  meta[0].nm_value.nm_string = long_a;
  ck_assert_str_eq(expand("%{meta:k}", &n), key_a);

  /* Exactly 255 bytes is kept as is; 256 is cut. */
  long_a[255] = '\0';
  ck_assert_str_eq(expand("%{meta:k}", &n), long_a);
  long_a[255] = 'a';
  long_a[256] = '\0';
  ck_assert_int_eq(expand("%{meta:k}", &n)[keep], '~');
  long_a[256] = 'a';
}
END_TEST

START_TEST(test_bound_cuts_on_utf8_boundary) {
  notification_t n =
      make_notification(NOTIF_FAILURE, "h", "p", "", "t", "", "");
  /* "a" then 150 x "é" (2 bytes): byte 238 is the second byte of an é, so
   * the cut must leave that é out whole. */
  char text[1 + 150 * 2 + 1];
  text[0] = 'a';
  for (int i = 0; i < 150; i++)
    memcpy(text + 1 + 2 * i, "\xc3\xa9", 2);
  text[sizeof(text) - 1] = '\0';
  notification_meta_t meta[1] = {meta_string("k", text)};
  attach_meta(&n, meta, 1);

  const char *key = expand("%{meta:k}", &n);
  ck_assert(pd_utf8_is_valid(key, strlen(key)));
  size_t keep = PD_DEDUP_KEY_MAX - PD_TEMPLATE_HASH_SUFFIX_LEN; /* 238 */
  ck_assert_uint_eq(strlen(key), (keep - 1) + PD_TEMPLATE_HASH_SUFFIX_LEN);
  ck_assert_int_eq(memcmp(key, text, keep - 1), 0);
  ck_assert_int_eq(key[keep - 1], '~');

  /* A 4-byte character straddling the limit. */
  char emoji[300];
  memset(emoji, 'x', 236);
  memcpy(emoji + 236, "\xf0\x9f\x98\x80", 4); /* bytes 236..239 */
  memset(emoji + 240, 'y', 40);
  emoji[280] = '\0';
  meta[0].nm_value.nm_string = emoji;
  key = expand("%{meta:k}", &n);
  ck_assert(pd_utf8_is_valid(key, strlen(key)));
  ck_assert_int_eq(key[236], '~');
}
END_TEST

START_TEST(test_invalid_utf8_is_replaced) {
  notification_t n = /* a latin-1 host name */
      make_notification(NOTIF_FAILURE, "caf\xe9", "p", "", "t", "", "");
  ck_assert_str_eq(expand("%{host}", &n), "caf?");

  char out[32];
  size_t len = pd_text_bound_hashed("a\xffz", 3, out, sizeof(out));
  ck_assert_uint_eq(len, 3);
  ck_assert_str_eq(out, "a?z");
}
END_TEST

START_TEST(test_hash_is_fnv1a) {
  /* Published FNV-1a 64 test vectors. */
  ck_assert_uint_eq(pd_hash64("", 0), 0xcbf29ce484222325ULL);
  ck_assert_uint_eq(pd_hash64("a", 1), 0xaf63dc4c8601ec8cULL);
  ck_assert_uint_eq(pd_hash64("foobar", 6), 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(test_meta_find_and_format) {
  notification_t n =
      make_notification(NOTIF_FAILURE, "h", "p", "", "t", "", "");
  ck_assert_ptr_null(pd_meta_find(&n, "x"));
  notification_meta_t meta[2] = {meta_string("x", NULL), meta_double("y", 2.5)};
  attach_meta(&n, meta, 2);
  ck_assert_ptr_eq(pd_meta_find(&n, "y"), &meta[1]);
  char buf[8];
  ck_assert_uint_eq(pd_meta_format(&meta[0], buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "");
  ck_assert_uint_eq(pd_meta_format(&meta[1], buf, sizeof(buf)), 3);
  ck_assert_str_eq(buf, "2.5");
  /* snprintf-like: the full length, a cut copy. */
  meta[1].nm_value.nm_double = 123456789.125;
  ck_assert_uint_eq(pd_meta_format(&meta[1], buf, sizeof(buf)), 13);
  ck_assert_str_eq(buf, "1234567");
  ck_assert_str_eq(expand("%{meta:x}", &n), "");
}
END_TEST

static Suite *template_suite(void) {
  Suite *s = suite_create("template");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_every_placeholder);
  tcase_add_test(tc, test_default_template_drops_empty_instances);
  tcase_add_test(tc, test_dash_rule_details);
  tcase_add_test(tc, test_meta_of_every_type);
  tcase_add_test(tc, test_validation);
  tcase_add_test(tc, test_bound_with_hash_suffix);
  tcase_add_test(tc, test_bound_cuts_on_utf8_boundary);
  tcase_add_test(tc, test_invalid_utf8_is_replaced);
  tcase_add_test(tc, test_hash_is_fnv1a);
  tcase_add_test(tc, test_meta_find_and_format);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(template_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
