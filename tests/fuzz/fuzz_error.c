/* SPDX-License-Identifier: MIT */
/*
 * fuzz_error.c - libFuzzer target: the error-body parser (pd_error.h).
 *
 * The input is an error body of any shape (JSON of every layout PagerDuty
 * uses, HTML, text, binary). Checked beyond "no crash": what pd_error.h
 * promises of the message - bounded, valid UTF-8, no control characters,
 * never empty after success and "" after failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "pd_error.h"
#include "pd_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pd_api_error_t err;
  memset(&err, 0x5a, sizeof(err)); /* no reliance on a cleared struct */
  int rc = pd_error_parse((const char *)data, size, &err);
  size_t len = strnlen(err.message, sizeof(err.message));
  require(len < sizeof(err.message));
  require(rc == 0 ? len > 0 : len == 0);
  require(pd_utf8_is_valid(err.message, len));
  for (size_t i = 0; i < len; i++)
    require((unsigned char)err.message[i] >= 0x20 &&
            (unsigned char)err.message[i] != 0x7f);
  return 0;
}
