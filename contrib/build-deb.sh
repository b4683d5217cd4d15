#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/build-deb.sh - build the Debian package collectd-pagerduty.
#
#   contrib/build-deb.sh [--output DIR] [--no-lintian]
#
# Copies the source tree (the files git knows, committed or not, when it is
# a git checkout; else the tree without build products) to a temp dir, puts
# contrib/debian there as debian/ and runs dpkg-buildpackage -us -uc -b.
# The package, collectd-pagerduty_<version>_<arch>.deb, lands in DIR
# (default: the current directory); lintian then checks it and the build
# fails on any error or warning lintian reports.
#
# Needs: dpkg-dev debhelper dh-autoreconf lintian and the build
# dependencies of contrib/debian/control (contrib/common.sh installs them).
set -euo pipefail
source "$(dirname "$0")/common.sh"

OUTPUT=$PWD
LINTIAN=1
while [ $# -gt 0 ]; do
  case $1 in
    --output) OUTPUT=$(cd "${2:?--output needs a directory}" && pwd); shift ;;
    --no-lintian) LINTIAN= ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--output DIR] [--no-lintian]" >&2; exit 2 ;;
  esac
  shift
done

# The package version is configure.ac's, with a Debian revision: the
# changelog must say so (a release updates both).
upstream=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$PD_SRCDIR/configure.ac")
version=$(cd "$PD_SRCDIR/contrib" && dpkg-parsechangelog -l debian/changelog -S Version)
if [ "${version%-*}" != "$upstream" ]; then
  pd_say "contrib/debian/changelog is at $version, configure.ac at $upstream:"
  pd_say "add a changelog entry for $upstream-1 (dch -v $upstream-1)"
  exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=collectd-pagerduty_${version}_${arch}.deb

tmp=$(mktemp -d /tmp/collectd-pagerduty-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tree="$tmp/collectd-pagerduty-$upstream"
mkdir "$tree"

# A clean tree: never the build directories, a configured source tree's
# outputs or editor droppings.
if git -C "$PD_SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$PD_SRCDIR" && git ls-files -z --cached --others --exclude-standard |
     while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
     tar --null -T - -cf -) | tar -C "$tree" -xf -
else
  (cd "$PD_SRCDIR" && tar --exclude='./build*' --exclude=./_build \
     --exclude=./_inst --exclude=./autom4te.cache \
     --exclude=./config.status --exclude=./config.log --exclude='*.o' \
     --exclude='*.lo' --exclude='*.la' --exclude=.libs --exclude=.deps \
     --exclude=__pycache__ -cf - .) | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -R "$PD_SRCDIR/contrib/debian" "$tree/debian"

pd_say "dpkg-buildpackage -us -uc -b (in $tree)"
if ! (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
  tail -n 60 "$tmp/build.log" >&2
  pd_say "dpkg-buildpackage FAILED"
  exit 1
fi
if [ ! -f "$tmp/$deb" ]; then
  pd_say "dpkg-buildpackage made no $deb:"; ls "$tmp" >&2
  exit 1
fi

if [ -n "$LINTIAN" ]; then
  pd_say "lintian $deb"
  # --fail-on error,warning: any warning fails the build, as errors do.
  if ! lintian --fail-on error,warning --tag-display-limit 0 \
       "$tmp"/collectd-pagerduty_"${version}"_"${arch}".changes; then
    pd_say "lintian found problems"
    exit 1
  fi
fi
cp "$tmp/$deb" "$OUTPUT/"
pd_say "built $OUTPUT/$deb"
echo "$OUTPUT/$deb"
