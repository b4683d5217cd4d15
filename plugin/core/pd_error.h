/* SPDX-License-Identifier: MIT */
/*
 * pd_error.h - understanding PagerDuty error bodies, whatever their shape.
 *
 * The HTTP status decides what happens; the body only adds detail for the
 * log. REST documents {"error":{"message":..,"code":..,"errors":[..]}}, but
 * real responses also carry `errors` as a string or an object, `error` as a
 * string or an array, Events API bodies {"status":..,"message":..,
 * "errors":[..]}, and bodies that are not JSON at all (HTML, plain text).
 */
#ifndef PD_ERROR_H
#define PD_ERROR_H

#include <stddef.h>

#define PD_ERROR_MESSAGE_MAX 512
/* Only this much of a body is examined; error bodies are small. */
#define PD_ERROR_BODY_MAX (64 * 1024)

typedef struct {
  int code; /* PagerDuty error code, 0 if none */
  /* "message: detail; detail" - printable ASCII/UTF-8, bounded, never empty
   * after a successful parse */
  char message[PD_ERROR_MESSAGE_MAX];
} pd_api_error_t;

/*
 * Extracts code and message from an error body of any shape. Non-JSON bodies
 * yield the text of an HTML <title> when there is one, else their first
 * non-blank line (other tags are not stripped; the text is cut). Control
 * characters and runs of white space become one space, invalid UTF-8 bytes
 * become '?', and a message cut at PD_ERROR_MESSAGE_MAX ends in "..." on a
 * UTF-8 boundary. Returns 0 when something was understood, -1 for an empty
 * or all-blank body (err->message is then "").
 */
int pd_error_parse(const char *body, size_t len, pd_api_error_t *err);

#endif /* PD_ERROR_H */
