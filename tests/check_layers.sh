#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_layers.sh - the rooms of plugin/ depend one way (README.md,
# "Source layout"):
#
#   plugin/pagerduty.c   the collectd glue, on top: includes any room
#   plugin/read/         includes core/ only
#   plugin/notify/       includes core/ only
#   plugin/core/         includes neither read/ nor notify/
#
# Nothing includes a file of the glue's level (plugin/*), and no modules
# include each other, directly or round a longer loop (a .c file and the .h
# of the same name are one module; pd_x.c including pd_x.h is no loop).
# Every '#include "..."' under plugin/ that names a file of plugin/ is
# read; other quoted includes (collectd's headers) are not the project's.
# Each offending include is printed as file:line: text, with the rule it
# breaks.
#
# Run by make check (Makefile.am TESTS); PD_SRCDIR is the source tree (else
# the directory above this script's). A tree to check can also be given as
# the first argument (used to see that the check fails when it should).

srcdir=${1:-${PD_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
cd "$srcdir" || exit 99

# Temporary exceptions, "includer header" per line; each is printed as
# allowed, so it is not forgotten. None today.
allow=''

files=$(find plugin -name '*.[ch]' | LC_ALL=C sort)
if [ -z "$files" ]; then
  echo "FAIL: no C files under $srcdir/plugin"
  exit 99
fi

# grep -H: file:line:text even for a single file.
# shellcheck disable=SC2086 # one word per file (paths have no spaces)
grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $files |
  awk -v files="$files" -v allow="$allow" '
function room_of(path) {
  if (path ~ /^plugin\/[^\/]+$/)
    return "top"
  sub(/^plugin\//, "", path)
  sub(/\/.*/, "", path)
  return path
}
function module_of(path) {
  sub(/^plugin\//, "", path)
  sub(/\.[ch]$/, "", path)
  return path
}
function fail(where, why) {
  print where "  (" why ")"
  bad++
}
# Tarjan: the strongly connected components of the module graph; every
# component of more than one module is a loop.
function visit(v,    i, w, n) {
  order[v] = ++counter
  low[v] = counter
  stack[++sp] = v
  onstack[v] = 1
  for (i = 1; i <= nout[v]; i++) {
    w = out[v, i]
    if (!(w in order)) {
      visit(w)
      if (low[w] < low[v])
        low[v] = low[w]
    } else if (onstack[w] && order[w] < low[v]) {
      low[v] = order[w]
    }
  }
  if (low[v] != order[v])
    return
  n = 0
  do {
    w = stack[sp--]
    onstack[w] = 0
    component[w] = v
    n++
  } while (w != v)
  if (n > 1)
    loops[++nloops] = v
}
# One shortest loop through module s (breadth first, inside its
# component): "a -> b -> a" in chain, the includes that make it in lines.
function shortest_loop(s,    queue, head, tail, seen, parent, v, i, w, hops, n, k, prev) {
  head = 1
  tail = 0
  queue[++tail] = s
  seen[s] = 1
  while (head <= tail) {
    v = queue[head++]
    for (i = 1; i <= nout[v]; i++) {
      w = out[v, i]
      if (component[w] != component[s])
        continue
      if (w == s) {
        n = 0
        for (k = v; k != s; k = parent[k])
          hops[++n] = k
        chain = s
        lines = ""
        prev = s
        for (k = n; k >= 1; k--) {
          chain = chain " -> " hops[k]
          lines = lines evidence[prev, hops[k]] "\n"
          prev = hops[k]
        }
        chain = chain " -> " s
        lines = lines evidence[prev, s] "\n"
        return
      }
      if (!(w in seen)) {
        seen[w] = 1
        parent[w] = v
        queue[++tail] = w
      }
    }
  }
}
BEGIN {
  nfiles = split(files, list, "\n")
  for (i = 1; i <= nfiles; i++) {
    base = list[i]
    sub(/.*\//, "", base)
    if (base in where_is) {
      print "FAIL: two files named " base ": " where_is[base] " and " \
        list[i] " (includes cannot tell them apart)"
      bad++
    }
    where_is[base] = list[i]
    m = module_of(list[i])
    if (!(m in known)) {
      known[m] = 1
      modules[++nmodules] = m
    }
  }
  nallow = split(allow, rules, "\n")
  for (i = 1; i <= nallow; i++) {
    split(rules[i], pair, " ")
    allowed[pair[1], pair[2]] = 1
  }
}
{
  # file:line:text (paths under plugin/ have no colon)
  file = $0
  sub(/:.*/, "", file)
  rest = substr($0, length(file) + 2)
  line = rest
  sub(/:.*/, "", line)
  text = substr(rest, length(line) + 2)
  header = text
  sub(/^[^"]*"/, "", header)
  sub(/".*$/, "", header)
  if (!(header in where_is))
    next # not a file of plugin/ (collectd headers)
  where = file ":" line ": " text
  if ((file, header) in allowed) {
    print "allowed for now: " where
    next
  }
  target = where_is[header]
  from = room_of(file)
  to = room_of(target)
  if (to == "top")
    fail(where, "includes the glue'"'"'s level, plugin/")
  else if (from == "core" && to != "core")
    fail(where, "core/ includes " to "/")
  else if ((from == "read" && to == "notify") ||
           (from == "notify" && to == "read"))
    fail(where, from "/ includes " to "/")
  a = module_of(file)
  b = module_of(target)
  if (a == b)
    next
  if (!((a, b) in evidence)) {
    out[a, ++nout[a]] = b
    evidence[a, b] = where
  } else {
    evidence[a, b] = evidence[a, b] "\n" where
  }
}
END {
  for (i = 1; i <= nmodules; i++)
    if (!(modules[i] in order))
      visit(modules[i])
  for (i = 1; i <= nloops; i++) {
    shortest_loop(loops[i])
    print "modules that include each other: " chain
    printf "%s", lines
    bad++
  }
  if (bad > 0) {
    print "FAIL: plugin/ breaks the one-way rule of README.md, " \
      "\"Source layout\" (above)"
    exit 1
  }
  print "PASS: " nmodules " modules in plugin/ depend one way " \
    "(pagerduty.c > read/, notify/ > core/), without loops"
}'
