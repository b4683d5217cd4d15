/* SPDX-License-Identifier: MIT */
/*
 * pd_json_write.h - writing JSON with yajl_gen and a sticky error: generate
 * everything, check once (pd_jw_finish). Every call after a failure does
 * nothing, and the generator validates UTF-8 unless told otherwise (see
 * pd_jw_begin). The spool record and the wire bodies of a Notify block are
 * written with it.
 */
#ifndef PD_JSON_WRITE_H
#define PD_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

/* A yajl generator with a sticky error: generate everything, check once. */
typedef struct {
  yajl_gen g;
  bool failed;
} pd_jw_t;

/* Allocates the generator: 0, or -1 when memory runs out. */
int pd_jw_begin(pd_jw_t *j);
/* The same without yajl's UTF-8 validation, for a writer whose every string
 * is known valid (the spool record: pd_event.h says why its strings are)
 * and that runs where its cost counts. */
int pd_jw_begin_sanitised(pd_jw_t *j);
/* Records a yajl status: anything but ok makes j failed. */
void pd_jw_check(pd_jw_t *j, yajl_gen_status status);

void pd_jw_str(pd_jw_t *j, const char *s);
void pd_jw_kstr(pd_jw_t *j, const char *key, const char *value);
/* key: value, or key: null when value is NULL. */
void pd_jw_kstr_or_null(pd_jw_t *j, const char *key, const char *value);
/* A number given as its JSON text. */
void pd_jw_number_text(pd_jw_t *j, const char *text);
void pd_jw_kint(pd_jw_t *j, const char *key, long long value);
void pd_jw_kuint(pd_jw_t *j, const char *key, uint64_t value);
void pd_jw_kbool(pd_jw_t *j, const char *key, bool value);
void pd_jw_open_map(pd_jw_t *j);
void pd_jw_close_map(pd_jw_t *j);
void pd_jw_open_array(pd_jw_t *j);
void pd_jw_close_array(pd_jw_t *j);

/* Hands the generated text to the caller (NUL-terminated copy) and frees
 * the generator. Returns -1 if anything failed on the way. */
int pd_jw_finish(pd_jw_t *j, char **out, size_t *len);

/* The length of what has been generated so far. */
size_t pd_jw_length(const pd_jw_t *j);

#endif /* PD_JSON_WRITE_H */
