/* SPDX-License-Identifier: MIT */
/*
 * config_fixture.h - collectd configuration trees (oconfig_item_t) built in
 * code, the way collectd's parser builds them: keys, typed values, children.
 *
 *   oconfig_item_t *root = config_tree_new("Plugin");
 *   config_add_string(root, "pagerduty");
 *   oconfig_item_t *a = config_child(root, "Account", 7);
 *   config_add_string(config_child(a, "Token", 5), "u+...");
 *   ...
 *   config_tree_free(root);
 *
 * Everything is allocated and freed here; strings are copied. Running out
 * of memory aborts (a test or fuzz target cannot go on without its tree).
 */
#ifndef CONFIG_FIXTURE_H
#define CONFIG_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/configfile.h"

/* A pointer to a child stays valid while its parent has at most this many
 * children. Beyond, the parent's children array grows and moves (the
 * parent links below it are kept right). */
#define CONFIG_FIXTURE_CHILDREN 48

/* A root item named key, with no values and no children. */
oconfig_item_t *config_tree_new(const char *key);

/* Appends a child named key[0..key_len) to parent; returns it. */
oconfig_item_t *config_child(oconfig_item_t *parent, const char *key,
                             size_t key_len);

/* Appends a zeroed value to ci; returns it for the caller to fill (a
 * string value is then owned by the tree: malloc'ed, freed with it). */
oconfig_value_t *config_value_new(oconfig_item_t *ci);

/* Append a typed value to ci (a string is copied); return ci. */
oconfig_item_t *config_add_string(oconfig_item_t *ci, const char *s);
oconfig_item_t *config_add_number(oconfig_item_t *ci, double n);
oconfig_item_t *config_add_boolean(oconfig_item_t *ci, bool b);

/* Frees a tree made by config_tree_new(); NULL is fine. */
void config_tree_free(oconfig_item_t *root);

#endif /* CONFIG_FIXTURE_H */
