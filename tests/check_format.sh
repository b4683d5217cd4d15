#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_format.sh - every C file of the project is formatted as
# .clang-format (collectd's own style) says. A file that is not fails the
# test, which names it; "clang-format -i FILE" fixes it.
#
# Run by make check (Makefile.am TESTS); PD_SRCDIR is the source tree (else
# the directory above this script's). Skips (77) without clang-format.

srcdir=${PD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$srcdir" || exit 99

formatter=${CLANG_FORMAT:-clang-format}
if ! command -v "$formatter" >/dev/null 2>&1; then
  echo "SKIP: $formatter not found"
  exit 77
fi

files=$(find plugin tests/unit tests/fuzz tests/bench -name '*.[ch]' | sort)
bad=""
for f in $files; do
  "$formatter" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 ||
    bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "FAIL: not formatted as .clang-format says (run clang-format -i):"
  for f in $bad; do echo "  $f"; done
  exit 1
fi
echo "PASS: $(echo "$files" | wc -l) C files formatted as .clang-format says"
