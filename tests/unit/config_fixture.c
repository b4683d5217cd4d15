/* SPDX-License-Identifier: MIT */
/*
 * config_fixture.c - see config_fixture.h.
 */
#include "config_fixture.h"

#include <stdlib.h>
#include <string.h>

#define must(condition)                                                        \
  do {                                                                         \
    if (!(condition))                                                          \
      abort();                                                                 \
  } while (0)

static void item_init(oconfig_item_t *ci, const char *key, size_t key_len) {
  memset(ci, 0, sizeof(*ci));
  ci->key = strndup(key, key_len);
  must(ci->key != NULL);
}

oconfig_item_t *config_tree_new(const char *key) {
  oconfig_item_t *ci = malloc(sizeof(*ci));
  must(ci != NULL);
  item_init(ci, key, strlen(key));
  return ci;
}

/* Is a children array of num items full? Arrays hold
 * CONFIG_FIXTURE_CHILDREN, then twice as many each time they grow. */
static bool children_full(int num) {
  int capacity = CONFIG_FIXTURE_CHILDREN;
  while (capacity < num)
    capacity *= 2;
  return num == 0 || num == capacity;
}

oconfig_item_t *config_child(oconfig_item_t *parent, const char *key,
                             size_t key_len) {
  if (children_full(parent->children_num)) {
    size_t capacity = parent->children_num == 0
                          ? CONFIG_FIXTURE_CHILDREN
                          : 2 * (size_t)parent->children_num;
    oconfig_item_t *children =
        realloc(parent->children, capacity * sizeof(*children));
    must(children != NULL);
    parent->children = children;
    /* realloc may have moved the siblings: their children point up again. */
    for (int i = 0; i < parent->children_num; i++)
      for (int j = 0; j < children[i].children_num; j++)
        children[i].children[j].parent = &children[i];
  }
  oconfig_item_t *ci = &parent->children[parent->children_num++];
  item_init(ci, key, key_len);
  ci->parent = parent;
  return ci;
}

oconfig_value_t *config_value_new(oconfig_item_t *ci) {
  oconfig_value_t *values =
      realloc(ci->values, (size_t)(ci->values_num + 1) * sizeof(*values));
  must(values != NULL);
  ci->values = values;
  memset(&values[ci->values_num], 0, sizeof(*values));
  return &values[ci->values_num++];
}

oconfig_item_t *config_add_string(oconfig_item_t *ci, const char *s) {
  oconfig_value_t *v = config_value_new(ci);
  v->type = OCONFIG_TYPE_STRING;
  v->value.string = strdup(s);
  must(v->value.string != NULL);
  return ci;
}

oconfig_item_t *config_add_number(oconfig_item_t *ci, double n) {
  oconfig_value_t *v = config_value_new(ci);
  v->type = OCONFIG_TYPE_NUMBER;
  v->value.number = n;
  return ci;
}

oconfig_item_t *config_add_boolean(oconfig_item_t *ci, bool b) {
  oconfig_value_t *v = config_value_new(ci);
  v->type = OCONFIG_TYPE_BOOLEAN;
  v->value.boolean = b;
  return ci;
}

static void item_clear(oconfig_item_t *ci) {
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type == OCONFIG_TYPE_STRING)
      free(ci->values[i].value.string);
  free(ci->values);
  for (int i = 0; i < ci->children_num; i++)
    item_clear(&ci->children[i]);
  free(ci->children);
  free(ci->key);
}

void config_tree_free(oconfig_item_t *root) {
  if (root == NULL)
    return;
  item_clear(root);
  free(root);
}
