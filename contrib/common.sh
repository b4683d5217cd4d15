# SPDX-License-Identifier: MIT
# contrib/common.sh - shared by contrib/test.sh and contrib/demo.sh (sourced).
#
# Finds the source tree, installs the Debian packages the build and the
# tests need (only when something is missing), and builds out of tree.

PD_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything the build, the tests and the demo use, as Debian 12 names them.
PD_PACKAGES=(
  collectd-core collectd-dev collectd-utils
  libcurl4-openssl-dev libyajl-dev check pkg-config
  autoconf automake libtool make gcc perl
  socat openssl python3 python3-jsonschema valgrind
  dpkg-dev debhelper dh-autoreconf lintian
  graphite-carbon graphite-web influxdb
  faketime libfaketime
  # make fuzz: clang -fsanitize=fuzzer links libclang-rt-14-dev's libFuzzer
  clang libclang-rt-14-dev
  # tests/check_format.sh
  clang-format
)

pd_say() { printf '==> [%s] %s\n' "$(date -u +%T)" "$*" >&2; }

# Runs a command as root: directly when we are root, else through sudo.
pd_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    pd_say "need root (or sudo) to run: $*"
    return 1
  fi
}

# Installs the missing packages; apt-get update only when something is
# missing, so a prepared machine makes no network access at all.
pd_install_packages() {
  local missing=() p
  if ! command -v dpkg-query >/dev/null 2>&1; then
    pd_say "not a Debian/Ubuntu system: install these by hand: ${PD_PACKAGES[*]}"
    return 0
  fi
  for p in "${PD_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  pd_say "installing missing packages: ${missing[*]}"
  pd_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  pd_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Generates ./configure when it is missing or older than its inputs.
pd_autoreconf() {
  local force=${1:-}
  if [ -n "$force" ] || [ ! -x "$PD_SRCDIR/configure" ] ||
     [ "$PD_SRCDIR/configure.ac" -nt "$PD_SRCDIR/configure" ] ||
     [ "$PD_SRCDIR/Makefile.am" -nt "$PD_SRCDIR/Makefile.in" ]; then
    pd_say "autoreconf -fi"
    (cd "$PD_SRCDIR" && autoreconf -fi) || return 1
  fi
}

# pd_configure DIR [configure options...]: configures an out-of-tree build
# in DIR (relative to the source tree) unless it is already configured with
# the same options.
pd_configure() {
  local name=$1 dir="$PD_SRCDIR/$1"; shift
  if [ -f "$PD_SRCDIR/config.status" ]; then
    pd_say "the source tree itself is configured (in-tree build); out-of-tree"
    pd_say "builds need it clean: run 'make distclean' in $PD_SRCDIR first"
    return 1
  fi
  mkdir -p "$dir"
  if [ -f "$dir/Makefile" ] && [ -f "$dir/.pd-configure-args" ] &&
     [ "$(cat "$dir/.pd-configure-args")" = "$*" ] &&
     [ "$dir/Makefile" -nt "$PD_SRCDIR/configure" ]; then
    return 0
  fi
  pd_say "configure $* (in $name)"
  (cd "$dir" && "$PD_SRCDIR/configure" -q "$@") || return 1
  printf '%s' "$*" > "$dir/.pd-configure-args"
}
