/* SPDX-License-Identifier: MIT */
/*
 * chunked_feed.c - see chunked_feed.h.
 */
#include "chunked_feed.h"

int feed_in_chunks(pd_http_body_cb feed, void *ctx, const void *data,
                   size_t len, size_t chunk) {
  const unsigned char *bytes = data;
  int status = 0;
  for (size_t off = 0; off < len && status == 0;) {
    size_t n = (chunk == 0 || len - off < chunk) ? len - off : chunk;
    status = feed(ctx, bytes + off, n);
    off += n;
  }
  return status;
}
