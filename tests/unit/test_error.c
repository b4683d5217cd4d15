/* SPDX-License-Identifier: MIT */
/*
 * test_error.c - pd_error_parse() against every error body PagerDuty is
 * known to send (the shared examples) and the shapes the real service or a
 * proxy in front of it produce besides.
 */
#include <check.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_error.h"

/* ---- helpers ------------------------------------------------------------ */

static const char *examples_dir(void) {
  static char dir[4096];
  const char *src = getenv("PD_SRCDIR");
  if (src != NULL) {
    snprintf(dir, sizeof(dir), "%s/../shared/pagerduty-api/examples", src);
    glob_t g;
    char pattern[sizeof(dir) + 16];
    snprintf(pattern, sizeof(pattern), "%s/*.json", dir);
    int rc = glob(pattern, 0, NULL, &g);
    globfree(&g);
    if (rc == 0)
      return dir;
  }
  return "/work/shared/pagerduty-api/examples";
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char *buf = NULL;
  size_t cap = 0, used = 0;
  for (;;) {
    if (used + 4096 > cap) {
      cap = cap * 2 + 8192;
      buf = realloc(buf, cap);
      ck_assert_ptr_nonnull(buf);
    }
    size_t n = fread(buf + used, 1, cap - used - 1, f);
    used += n;
    if (n == 0)
      break;
  }
  fclose(f);
  buf[used] = '\0';
  *len = used;
  return buf;
}

static bool is_valid_utf8_printable(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    if (*p < 0x20 || *p == 0x7F)
      return false;
    size_t k = *p < 0x80             ? 1
               : (*p & 0xE0) == 0xC0 ? 2
               : (*p & 0xF0) == 0xE0 ? 3
               : (*p & 0xF8) == 0xF0 ? 4
                                     : 0;
    if (k == 0)
      return false;
    for (size_t i = 1; i < k; i++)
      if ((p[i] & 0xC0) != 0x80)
        return false;
    p += k;
  }
  return true;
}

static pd_api_error_t parse_str(const char *body, int expect_rc) {
  pd_api_error_t err;
  memset(&err, 'Z', sizeof(err)); /* garbage in: parse must set all */
  int rc = pd_error_parse(body, strlen(body), &err);
  ck_assert_msg(rc == expect_rc, "rc %d for <%s>", rc, body);
  ck_assert_msg(strlen(err.message) < PD_ERROR_MESSAGE_MAX,
                "message not terminated");
  ck_assert_msg(is_valid_utf8_printable(err.message),
                "message not clean UTF-8: <%s>", err.message);
  return err;
}

#define ck_assert_message(body, expected)                                      \
  do {                                                                         \
    pd_api_error_t e_ = parse_str((body), 0);                                  \
    ck_assert_str_eq(e_.message, (expected));                                  \
  } while (0)

/* ---- the shared examples ------------------------------------------------ */

static const struct {
  const char *file;
  int code;
  const char *message;
} examples[] = {
    {"events_v2_change_error_as_array.go-pagerduty-478.json", 0,
     "links should have at most 50 item(s)"},
    {"events_v2_error.spec_example.json", 0,
     "Event object format is unrecognized: JSON parse error"},
    {"events_v2_error_400_invalid_event.go-pagerduty-476.json", 0,
     "Event object is invalid: 'payload.source' is missing or blank"},
    {"rest_error_400_errors_as_object.go-pagerduty-pr63.reconstructed.json",
     3001,
     "Invalid Schedule: rotation_layers.weekly_restrictions.duration_seconds: "
     "Please use a shorter duration or just turn the recurrence off."},
    {"rest_error_400_errors_as_string.go-pagerduty-339.json", 2001,
     "Invalid Override: Override must end in the future, Override must end "
     "after its start"},
    {"rest_error_400_users_me_account_token.python-pagerduty-test.json", 0,
     "Because this request was made using an account-level access token, we "
     "were unable to determine the user's identity. Please use a user-level "
     "token."},
    {"rest_error_401.python-pagerduty-test.json", 2006, "You shall not pass."},
    {"rest_error_404.spec_example.json", 2100, "Not Found"},
    {"rest_error_429.docs.json", 2020, "Rate Limit Exceeded"},
    {"rest_error_generic.docs.json", 2001,
     "Error Message String: human-readable error details; more details"},
};

START_TEST(test_known_examples) {
  char path[8192];
  snprintf(path, sizeof(path), "%s/%s", examples_dir(), examples[_i].file);
  size_t len;
  char *body = read_file(path, &len);
  pd_api_error_t err;
  ck_assert_int_eq(pd_error_parse(body, len, &err), 0);
  ck_assert_int_eq(err.code, examples[_i].code);
  ck_assert_str_eq(err.message, examples[_i].message);
  free(body);
}
END_TEST

/* Every error example, including any added after this test was written,
 * yields a clean message that is not just the raw JSON. */
START_TEST(test_every_error_example) {
  const char *patterns[] = {"%s/*error*.json", "%s/events_v2_*error*"};
  size_t seen = 0;
  for (size_t p = 0; p < 2; p++) {
    char pattern[8192];
    snprintf(pattern, sizeof(pattern), patterns[p], examples_dir());
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
      continue;
    for (size_t i = 0; i < g.gl_pathc; i++) {
      size_t len;
      char *body = read_file(g.gl_pathv[i], &len);
      pd_api_error_t err;
      ck_assert_msg(pd_error_parse(body, len, &err) == 0, "%s", g.gl_pathv[i]);
      ck_assert_msg(err.message[0] != '\0' && err.message[0] != '{' &&
                        is_valid_utf8_printable(err.message),
                    "%s: <%s>", g.gl_pathv[i], err.message);
      free(body);
      seen++;
    }
    globfree(&g);
  }
  ck_assert_msg(seen >= 10, "only %zu error examples found in %s", seen,
                examples_dir());
}
END_TEST

/* ---- crafted shapes ----------------------------------------------------- */

START_TEST(test_errors_as_object_many_fields) {
  pd_api_error_t e = parse_str(
      "{\"error\":{\"message\":\"Invalid Input Provided\",\"code\":2001,"
      "\"errors\":{\"start\":[\"must be in the future\",\"is not a time\"],"
      "\"user\":\"is required\"}}}",
      0);
  ck_assert_int_eq(e.code, 2001);
  ck_assert_str_eq(e.message, "Invalid Input Provided: start: must be in the "
                              "future; start: is not a time; user: is "
                              "required");
}
END_TEST

START_TEST(test_error_as_array_and_string) {
  ck_assert_message("{\"error\":[\"first problem\",\"second problem\"]}",
                    "first problem; second problem");
  ck_assert_message("{\"error\":\"Account expired\"}", "Account expired");
  ck_assert_message("\"Service Unavailable\"", "Service Unavailable");
  ck_assert_message("[\"a\",\"b\"]", "a; b");
}
END_TEST

START_TEST(test_documented_shape_details_only) {
  pd_api_error_t e = parse_str(
      "{\"error\":{\"code\":\"2006\",\"errors\":[\"bad token\"]}}", 0);
  ck_assert_int_eq(e.code, 2006);
  ck_assert_str_eq(e.message, "bad token");
}
END_TEST

START_TEST(test_events_shape_status_only) {
  ck_assert_message("{\"status\":\"throttle event\"}", "throttle event");
  ck_assert_message("{\"status\":\"invalid event\",\"message\":\"Event object "
                    "is invalid\",\"errors\":[\"a\",\"b\"]}",
                    "Event object is invalid: a; b");
}
END_TEST

START_TEST(test_html_502_page) {
  ck_assert_message(
      "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
      "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx"
      "</center>\r\n</body>\r\n</html>\r\n",
      "502 Bad Gateway");
  ck_assert_message("<!DOCTYPE html><HTML><TITLE lang=\"en\">\n  Service\n"
                    "  Unavailable </TITLE>",
                    "Service Unavailable");
  /* No title: the first line, tags and all. */
  ck_assert_message("\n<p>oops</p>\n<p>more</p>", "<p>oops</p>");
}
END_TEST

START_TEST(test_plain_text_401) {
  ck_assert_message("Unauthorized\n", "Unauthorized");
  ck_assert_message("\r\n\r\n   Access   denied \r\nsecond line",
                    "Access denied");
}
END_TEST

START_TEST(test_empty_bodies) {
  pd_api_error_t e = parse_str("", -1);
  ck_assert_str_eq(e.message, "");
  ck_assert_int_eq(e.code, 0);
  e = parse_str(" \r\n\t ", -1);
  ck_assert_str_eq(e.message, "");
  ck_assert_int_eq(pd_error_parse(NULL, 0, &e), -1);
  ck_assert_str_eq(e.message, "");
}
END_TEST

START_TEST(test_json_without_text) {
  /* Understood as JSON but nothing to say: the body itself, cut. */
  ck_assert_message("{}", "{}");
  ck_assert_message("{\"error\":null}", "{\"error\":null}");
  pd_api_error_t e = parse_str("{\"error\":{\"code\":2020}}", 0);
  ck_assert_int_eq(e.code, 2020);
  ck_assert_str_eq(e.message, "{\"error\":{\"code\":2020}}");
}
END_TEST

START_TEST(test_truncated_json) {
  ck_assert_message("{\"error\":{\"message\":\"Not Fo",
                    "{\"error\":{\"message\":\"Not Fo");
}
END_TEST

START_TEST(test_huge_message_bounded) {
  size_t n = 20000;
  char *body = malloc(n + 64);
  ck_assert_ptr_nonnull(body);
  strcpy(body, "{\"error\":{\"message\":\"");
  size_t off = strlen(body);
  memset(body + off, 'x', n);
  strcpy(body + off + n, "\"}}");
  pd_api_error_t e = parse_str(body, 0);
  size_t len = strlen(e.message);
  ck_assert_uint_le(len, PD_ERROR_MESSAGE_MAX - 1);
  ck_assert_uint_ge(len, PD_ERROR_MESSAGE_MAX - 8);
  ck_assert_str_eq(e.message + len - 3, "...");
  free(body);
}
END_TEST

START_TEST(test_huge_multibyte_cut_on_boundary) {
  /* "é" is two bytes, "€" three: no cut may split one. */
  for (const char *ch = "\xC3\xA9"; ch != NULL;
       ch = strcmp(ch, "\xC3\xA9") == 0 ? "\xE2\x82\xAC" : NULL) {
    size_t k = strlen(ch);
    char *body = malloc(2000 * k + 64);
    ck_assert_ptr_nonnull(body);
    strcpy(body, "{\"error\":\"");
    for (size_t i = 0; i < 2000; i++)
      strcat(body, ch);
    strcat(body, "\"}");
    pd_api_error_t e = parse_str(body, 0);
    size_t len = strlen(e.message);
    ck_assert_str_eq(e.message + len - 3, "...");
    ck_assert_uint_eq((len - 3) % k, 0);
    free(body);
  }
}
END_TEST

START_TEST(test_huge_body_not_json) {
  /* A multi-megabyte non-JSON body: one bounded line, no overrun. */
  size_t n = 3 * 1024 * 1024;
  char *body = malloc(n);
  ck_assert_ptr_nonnull(body);
  memset(body, 'A', n);
  pd_api_error_t e;
  ck_assert_int_eq(pd_error_parse(body, n, &e), 0);
  ck_assert_uint_lt(strlen(e.message), PD_ERROR_MESSAGE_MAX);
  free(body);
}
END_TEST

START_TEST(test_invalid_utf8) {
  /* Not JSON-valid (yajl checks UTF-8): cleaned up as text. */
  ck_assert_message("{\"error\":\"bad \xFF\xFE bytes\"}",
                    "{\"error\":\"bad ?? bytes\"}");
  ck_assert_message("Gateway \xC3\x28 \xED\xA0\x80 error", /* bad, surrogate */
                    "Gateway ?( ??? error");
  /* A character cut at the end of the body. */
  ck_assert_message("cut \xE2\x82", "cut ??");
}
END_TEST

START_TEST(test_control_characters) {
  ck_assert_message(
      "{\"error\":{\"message\":\"line one\\nline\\ttwo\\u0007!\"}}",
      "line one line two !");
  ck_assert_message("text\x01with\x1b[31mescape\x7f", "text with [31mescape");
}
END_TEST

START_TEST(test_nul_inside_body) {
  const char body[] = "{\"error\":\"a\0b\"}";
  pd_api_error_t e;
  ck_assert_int_eq(pd_error_parse(body, sizeof(body) - 1, &e), 0);
  ck_assert_str_eq(e.message, "{\"error\":\"a b\"}");
}
END_TEST

START_TEST(test_deeply_nested_errors) {
  ck_assert_message("{\"error\":{\"message\":\"m\",\"errors\":"
                    "[[[[[[[[\"too deep\"]]]]]]]],\"x\":1}}",
                    "m");
  ck_assert_message("{\"error\":{\"message\":\"m\",\"errors\":"
                    "{\"a\":{\"b\":[\"nested\"]},\"n\":5,\"t\":true}}}",
                    "m: b: nested");
}
END_TEST

static Suite *error_suite(void) {
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("examples");
  tcase_add_loop_test(tc, test_known_examples, 0,
                      (int)(sizeof(examples) / sizeof(examples[0])));
  tcase_add_test(tc, test_every_error_example);
  suite_add_tcase(s, tc);

  tc = tcase_create("shapes");
  tcase_add_test(tc, test_errors_as_object_many_fields);
  tcase_add_test(tc, test_error_as_array_and_string);
  tcase_add_test(tc, test_documented_shape_details_only);
  tcase_add_test(tc, test_events_shape_status_only);
  tcase_add_test(tc, test_html_502_page);
  tcase_add_test(tc, test_plain_text_401);
  tcase_add_test(tc, test_empty_bodies);
  tcase_add_test(tc, test_json_without_text);
  tcase_add_test(tc, test_truncated_json);
  tcase_add_test(tc, test_huge_message_bounded);
  tcase_add_test(tc, test_huge_multibyte_cut_on_boundary);
  tcase_add_test(tc, test_huge_body_not_json);
  tcase_add_test(tc, test_invalid_utf8);
  tcase_add_test(tc, test_control_characters);
  tcase_add_test(tc, test_nul_inside_body);
  tcase_add_test(tc, test_deeply_nested_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(error_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
