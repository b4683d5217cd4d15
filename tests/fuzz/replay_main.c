/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - the fuzz targets' regression mode, for make check.
 *
 * Linked with one fuzz target (its LLVMFuzzerTestOneInput) and built by the
 * ordinary compiler - no libFuzzer needed - it runs the target once on each
 * committed input of that target:
 *   $PD_SRCDIR/tests/fuzz/seeds/<name>/        the seed corpus
 *   $PD_SRCDIR/tests/fuzz/regressions/<name>/  inputs that once crashed it
 * and on every file or directory named on the command line. A target that
 * trips on one aborts (the test fails, naming the file first); finding no
 * input at all fails too, so a test that ran nothing cannot pass.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME=\"target\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t replayed;

static void replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay %s: cannot open %s\n", FUZZ_NAME, path);
    exit(1);
  }
  size_t cap = 4096, len = 0;
  uint8_t *data = malloc(cap);
  size_t n;
  while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap)
      data = realloc(data, cap *= 2);
  }
  fclose(f);
  if (data == NULL) {
    fprintf(stderr, "replay %s: out of memory\n", FUZZ_NAME);
    exit(1);
  }
  fprintf(stderr, "replay %s: %s (%zu bytes)\n", FUZZ_NAME, path, len);
  /* An exact-size copy, so ASan sees a read past the input's end. */
  uint8_t *exact = malloc(len > 0 ? len : 1);
  memcpy(exact, data, len);
  free(data);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  replayed++;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* A file, or every regular file of a directory (in name order); a missing
 * directory is fine (not every target has regressions). */
static void replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    replay_file(path);
    return;
  }
  struct dirent **names;
  int num = scandir(path, &names, NULL, by_name);
  for (int i = 0; i < num; i++) {
    char file[4096];
    snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
    if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 &&
        S_ISREG(st.st_mode))
      replay_file(file);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  const char *src = getenv("PD_SRCDIR");
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/tests/fuzz/seeds/%s", src ? src : ".",
           FUZZ_NAME);
  replay_path(dir);
  snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", src ? src : ".",
           FUZZ_NAME);
  replay_path(dir);
  for (int i = 1; i < argc; i++)
    replay_path(argv[i]);
  if (replayed == 0) {
    fprintf(stderr, "replay %s: no input found (PD_SRCDIR=%s)\n", FUZZ_NAME,
            src ? src : "(unset)");
    return 1;
  }
  printf("replay %s: %zu inputs, all clean\n", FUZZ_NAME, replayed);
  return 0;
}
