/* SPDX-License-Identifier: MIT */
/*
 * test_utf8.c - bounded, valid UTF-8 text (pd_utf8.h): what counts as well
 * formed, the two cuts, the copies and the sanitiser.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pd_utf8.h"

static size_t seq(const char *s) {
  return pd_utf8_sequence_length(s, strlen(s));
}

START_TEST(test_sequence_length_accepts_well_formed) {
  ck_assert_uint_eq(seq("a"), 1);
  ck_assert_uint_eq(seq("\x7f"), 1);
  ck_assert_uint_eq(seq("\xc2\x80"), 2);         /* U+0080, first 2-byte */
  ck_assert_uint_eq(seq("\xc3\xa9"), 2);         /* é */
  ck_assert_uint_eq(seq("\xdf\xbf"), 2);         /* U+07FF */
  ck_assert_uint_eq(seq("\xe0\xa0\x80"), 3);     /* U+0800, first 3-byte */
  ck_assert_uint_eq(seq("\xe2\x82\xac"), 3);     /* € */
  ck_assert_uint_eq(seq("\xed\x9f\xbf"), 3);     /* U+D7FF, below surrogates */
  ck_assert_uint_eq(seq("\xee\x80\x80"), 3);     /* U+E000, above them */
  ck_assert_uint_eq(seq("\xef\xbf\xbf"), 3);     /* U+FFFF */
  ck_assert_uint_eq(seq("\xf0\x90\x80\x80"), 4); /* U+10000, first 4-byte */
  ck_assert_uint_eq(seq("\xf0\x9f\x98\x80"), 4); /* 😀 */
  ck_assert_uint_eq(seq("\xf4\x8f\xbf\xbf"), 4); /* U+10FFFF, the last */
  /* Only the sequence at the start counts. */
  ck_assert_uint_eq(seq("\xc3\xa9\xff"), 2);
}
END_TEST

START_TEST(test_sequence_length_refuses_ill_formed) {
  ck_assert_uint_eq(seq("\x80"), 0); /* stray continuation */
  ck_assert_uint_eq(seq("\xbf\x80"), 0);
  ck_assert_uint_eq(seq("\xc0\xaf"), 0);         /* overlong '/' */
  ck_assert_uint_eq(seq("\xc1\xbf"), 0);         /* overlong U+007F */
  ck_assert_uint_eq(seq("\xe0\x9f\xbf"), 0);     /* overlong U+07FF */
  ck_assert_uint_eq(seq("\xf0\x8f\xbf\xbf"), 0); /* overlong U+FFFF */
  ck_assert_uint_eq(seq("\xed\xa0\x80"), 0);     /* surrogate U+D800 */
  ck_assert_uint_eq(seq("\xed\xbf\xbf"), 0);     /* surrogate U+DFFF */
  ck_assert_uint_eq(seq("\xf4\x90\x80\x80"), 0); /* U+110000 */
  ck_assert_uint_eq(seq("\xf5\x80\x80\x80"), 0); /* F5..FF never lead */
  ck_assert_uint_eq(seq("\xff"), 0);
  ck_assert_uint_eq(seq("\xc3\x41"), 0); /* continuation missing */
  ck_assert_uint_eq(seq("\xe2\x82\x41"), 0);
  ck_assert_uint_eq(seq("\xf0\x9f\x98\x41"), 0);
  /* Cut short by avail, even when the next bytes would complete it. */
  ck_assert_uint_eq(pd_utf8_sequence_length("\xe2\x82\xac", 2), 0);
  ck_assert_uint_eq(pd_utf8_sequence_length("\xf0\x9f\x98\x80", 3), 0);
  ck_assert_uint_eq(pd_utf8_sequence_length("\xc3\xa9", 1), 0);
}
END_TEST

START_TEST(test_is_valid) {
  ck_assert(pd_utf8_is_valid("", 0));
  ck_assert(pd_utf8_is_valid("plain ASCII", 11));
  ck_assert(pd_utf8_is_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
  ck_assert(pd_utf8_is_valid("a\0b", 3));     /* NUL is a character too */
  ck_assert(!pd_utf8_is_valid("caf\xe9", 4)); /* latin-1 */
  ck_assert(!pd_utf8_is_valid("ok\xc3", 3));  /* cut inside the last */
  ck_assert(!pd_utf8_is_valid("\xed\xa0\x80", 3));
  /* len bounds the check: the bad byte after it is not looked at. */
  ck_assert(pd_utf8_is_valid("ok\xff", 2));
}
END_TEST

START_TEST(test_sanitize_replaces_each_bad_byte) {
  char s[] = "ok\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xf0\x9f\x98\x80|\xc3\xa9";
  size_t len = strlen(s);
  size_t bad = pd_utf8_sanitize(s, len);
  /* 0xff; overlong C0 AF (2); surrogate ED A0 80 (3); truncated E2 82 (2). */
  ck_assert_uint_eq(bad, 1 + 2 + 3 + 2);
  ck_assert_str_eq(s, "ok?|??|???|??|\xf0\x9f\x98\x80|\xc3\xa9");
  ck_assert_uint_eq(strlen(s), len);
  ck_assert(pd_utf8_is_valid(s, len));

  char above[] = "\xf4\x90\x80\x80"; /* U+110000 */
  ck_assert_uint_eq(pd_utf8_sanitize(above, 4), 4);
  ck_assert_str_eq(above, "????");

  char good[] = "caf\xc3\xa9";
  ck_assert_uint_eq(pd_utf8_sanitize(good, strlen(good)), 0);
  ck_assert_str_eq(good, "caf\xc3\xa9");
}
END_TEST

/* The ASCII run at the start is skipped eight bytes at a time: a bad byte
 * or a sequence at any offset around those words is still found, and a
 * sequence cut by len is not read past it. */
START_TEST(test_bad_byte_at_every_offset) {
  for (size_t at = 0; at < 24; at++) {
    char s[32];
    memset(s, 'a', sizeof(s));
    s[at] = (char)0xff;
    ck_assert_msg(!pd_utf8_is_valid(s, sizeof(s)), "0xff at %zu", at);
    ck_assert(pd_utf8_is_valid(s, at));
    ck_assert_uint_eq(pd_utf8_sanitize(s, sizeof(s)), 1);
    ck_assert_int_eq(s[at], '?');

    memset(s, 'a', sizeof(s));
    memcpy(s + at, "\xc3\xa9", 2);
    ck_assert_msg(pd_utf8_is_valid(s, sizeof(s)), "e-acute at %zu", at);
    ck_assert(!pd_utf8_is_valid(s, at + 1)); /* cut inside it */
    ck_assert_uint_eq(pd_utf8_sanitize(s, at + 1), 1);
  }
}
END_TEST

START_TEST(test_cut_and_copy) {
  const char *euro = "ab\xe2\x82\xac"; /* "ab€": € is bytes 2..4 */
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 5), 5);
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 4), 2);
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 3), 2);
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 2), 2);
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 1), 1);
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 0), 0);
  ck_assert_uint_eq(pd_utf8_cut(euro, 5, 9), 5);

  /* A 4-byte character is left out whole from any byte inside it. */
  const char *smile = "x\xf0\x9f\x98\x80y"; /* 😀 is bytes 1..4 */
  for (size_t max = 1; max <= 4; max++)
    ck_assert_uint_eq(pd_utf8_cut(smile, 6, max), 1);
  ck_assert_uint_eq(pd_utf8_cut(smile, 6, 5), 5);

  /* Invalid input still gives a prefix within bounds: the walk back stops
   * after three continuation bytes. */
  const char *stray = "ab\x80\x80\x80\x80\x80";
  ck_assert_uint_eq(pd_utf8_cut(stray, 7, 6), 3);
  ck_assert_uint_le(pd_utf8_cut(stray, 7, 2), 2);

  char small[5];
  ck_assert_uint_eq(pd_utf8_copy(small, sizeof(small), euro), 2);
  ck_assert_str_eq(small, "ab");
  char big[16];
  ck_assert_uint_eq(pd_utf8_copy(big, sizeof(big), euro), 5);
  ck_assert_str_eq(big, euro);
  /* The copy is sanitised too. */
  ck_assert_uint_eq(pd_utf8_copy(big, sizeof(big), "a\xffz"), 3);
  ck_assert_str_eq(big, "a?z");
  char one[1] = {'x'};
  ck_assert_uint_eq(pd_utf8_copy(one, sizeof(one), euro), 0);
  ck_assert_str_eq(one, "");
}
END_TEST

START_TEST(test_trim_partial) {
  /* What vsnprintf leaves when it stops inside a character. */
  ck_assert_uint_eq(pd_utf8_trim_partial("ab\xe2\x82", 4), 2);
  ck_assert_uint_eq(pd_utf8_trim_partial("ab\xe2", 3), 2);
  ck_assert_uint_eq(pd_utf8_trim_partial("ab\xf0\x9f\x98", 5), 2);
  ck_assert_uint_eq(pd_utf8_trim_partial("ab\xc3", 3), 2);
  /* Complete endings stay. */
  ck_assert_uint_eq(pd_utf8_trim_partial("ab\xe2\x82\xac", 5), 5);
  ck_assert_uint_eq(pd_utf8_trim_partial("ab\xf0\x9f\x98\x80", 6), 6);
  ck_assert_uint_eq(pd_utf8_trim_partial("abc", 3), 3);
  ck_assert_uint_eq(pd_utf8_trim_partial("", 0), 0);
  /* Only the end is its business: bad bytes before it stay, and so do
   * continuation bytes with no lead at all. */
  ck_assert_uint_eq(pd_utf8_trim_partial("\377ab", 3), 3);
  ck_assert_uint_eq(pd_utf8_trim_partial("\x80\x80", 2), 2);
}
END_TEST

START_TEST(test_copy_blanked) {
  char out[8];
  /* "é" is 2 bytes, "€" 3, "😀" 4; never split */
  ck_assert_uint_eq(pd_utf8_copy_blanked(out, sizeof(out), "abcdef\xc3\xa9", 8),
                    6);
  ck_assert_str_eq(out, "abcdef");
  ck_assert_uint_eq(pd_utf8_copy_blanked(out, sizeof(out), "abcde\xc3\xa9x", 8),
                    7);
  ck_assert_str_eq(out, "abcde\xc3\xa9");
  ck_assert_uint_eq(
      pd_utf8_copy_blanked(out, sizeof(out), "abc\xf0\x9f\x98\x80xyz", 10), 7);
  /* control characters, NUL and DEL become spaces */
  ck_assert_uint_eq(pd_utf8_copy_blanked(out, sizeof(out), "a\nb\0c\x7f", 6),
                    6);
  ck_assert_str_eq(out, "a b c ");
  /* other bytes are copied as they are, not sanitised */
  ck_assert_uint_eq(pd_utf8_copy_blanked(out, sizeof(out), "caf\xe9", 4), 4);
  ck_assert_str_eq(out, "caf\xe9");
  ck_assert_uint_eq(pd_utf8_copy_blanked(out, 2, "\xc3\xa9", 2), 0);
  ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_dup) {
  char *copy = pd_utf8_dup("caf\xe9 ok\xc3\xa9 and more", 9);
  ck_assert_ptr_nonnull(copy);
  ck_assert_str_eq(copy, "caf? ok\xc3\xa9"); /* len bytes, sanitised */
  free(copy);
  copy = pd_utf8_dup("", 0);
  ck_assert_ptr_nonnull(copy);
  ck_assert_str_eq(copy, "");
  free(copy);
}
END_TEST

static Suite *utf8_suite(void) {
  Suite *s = suite_create("utf8");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_sequence_length_accepts_well_formed);
  tcase_add_test(tc, test_sequence_length_refuses_ill_formed);
  tcase_add_test(tc, test_is_valid);
  tcase_add_test(tc, test_sanitize_replaces_each_bad_byte);
  tcase_add_test(tc, test_cut_and_copy);
  tcase_add_test(tc, test_trim_partial);
  tcase_add_test(tc, test_copy_blanked);
  tcase_add_test(tc, test_dup);
  tcase_add_test(tc, test_bad_byte_at_every_offset);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(utf8_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
