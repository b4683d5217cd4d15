/* SPDX-License-Identifier: MIT */
/*
 * chunked_feed.h - a body fed to a streaming reader in chunks, as it
 * arrives over HTTP. Unit tests and fuzz targets use it to check that chunk
 * boundaries do not change what a reader makes of a body.
 */
#ifndef CHUNKED_FEED_H
#define CHUNKED_FEED_H

#include <stddef.h>

#include "pd_http.h"

/* Feeds data[0..len) to feed (a pd_http_body_cb such as pd_parser_feed or
 * pd_json_feed, with ctx) in chunks of chunk bytes (0: all in one call),
 * stopping at the first chunk it refuses. Returns 0, or what feed returned
 * for that chunk. An empty body is not fed at all. */
int feed_in_chunks(pd_http_body_cb feed, void *ctx, const void *data,
                   size_t len, size_t chunk);

#endif /* CHUNKED_FEED_H */
