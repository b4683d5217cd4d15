#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_refs.sh - every reference to the contract or to the API facts
# resolves inside the repository. The product contract lives in
# doc/contract.md and the PagerDuty API facts in doc/pagerduty-api.md; a
# comment, test or document outside doc/ that still cites the working
# documents they came from (the contract by "SPE[C] n" or "SPE[C] §n", the
# API notes by "API-NOTE[S]", brackets only here) points at a file a reader
# of the repository does not have. Refer to "doc/contract.md §n" and to "doc/pagerduty-api.md, '<section>'"
# instead.
#
# Run by make check (Makefile.am TESTS); PD_SRCDIR is the source tree (else
# the directory above this script's).

srcdir=${PD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$srcdir" || exit 99

# Spelt with brackets so that this file does not match itself.
pattern='(^|[^A-Za-z0-9_])SPE[C]( ?§ ?[0-9]| [0-9])|API-NOTE[S]'

# Everything of the tree a reader sees, outside doc/ (where the contract
# itself may name its sources). Generated and binary files are skipped.
found=$(grep -rnIE "$pattern" \
  --exclude-dir=.git --exclude-dir=doc --exclude-dir=autom4te.cache \
  --exclude-dir=__pycache__ --exclude-dir=.deps --exclude-dir=.libs \
  --exclude=configure --exclude=Makefile.in --exclude=Makefile \
  --exclude=aclocal.m4 --exclude='config.*' --exclude='*.log' \
  --exclude='*.trs' \
  README.md LICENSE Makefile.am configure.ac conf contrib plugin tests m4 .ci \
  2>/dev/null)

if test -n "$found"; then
  echo "FAIL: references that do not resolve inside the repository" \
    "(use doc/contract.md §n or doc/pagerduty-api.md, '<section>'):" >&2
  echo "$found" >&2
  exit 1
fi
echo "PASS: every contract and API reference points into doc/"
exit 0
