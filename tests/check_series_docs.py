#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
check_series_docs.py - the metric tables of README.md ("Metrics"), the man
page (doc/collectd-pagerduty.pod, METRICS) and doc/contract.md (§4) list
exactly the read-side series of the table, plugin/read/pd_series.def (as
tests/pd_series_table prints it), each with its type; README.md's with its
Collect keyword too.

Both sides are compared as sets of names with the entity left as the
documents write it ("service-<svc>-triggered") and every dimension spelt out
("incidents-triggered-high", ...): a document may write a series with its
dimensions ("incidents-<status>-<urgency>", as the table's pattern) or each
name ("incidents-oldest_triggered"), and the man page may shorten a second
name of one entity to its suffix ("C<-acknowledged>").

Run by make check (Makefile.am TESTS, < 1 s); PD_SRCDIR is the source tree
and PD_BUILDDIR the build tree.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))

import series  # noqa: E402

SRCDIR = os.environ.get("PD_SRCDIR") or os.path.dirname(HERE)
PLACEHOLDER = re.compile(r"<[a-z]+>")


def entity_placeholder(s):
    """The placeholder the table's pattern puts for the instance name."""
    if s.entity == "account":
        return None
    head = s.format.split("%s", 1)[0]
    return PLACEHOLDER.match(s.pattern, len(head)).group(0)


def table_names(with_collect):
    out = set()
    for s in series.TABLE:
        for _, name in s.expand(entity_placeholder(s)):
            out.add((s.type, name) + ((s.collect,) if with_collect else ()))
    return out


PATTERNS = {s.pattern: s for s in series.TABLE}


def expand_doc_name(name):
    """A name as a document writes it, with its dimensions spelt out."""
    s = PATTERNS.get(name)
    if s is None or not s.dims:
        return [name]
    return [n for _, n in s.expand(entity_placeholder(s))]


def names_of_cell(tokens):
    """Full names of the names in one row; "-suffix" continues the entity
    of the name before it."""
    out, base = [], None
    for token in tokens:
        if token.startswith("-") and base is not None:
            token = base + token
        m = re.match(r"^([a-z]+-<[a-z]+>)-", token)
        if m:
            base = m.group(1)
        out += expand_doc_name(token)
    return out


def markdown_table(path, heading, with_collect):
    """{(type, name[, collect])} of the first table after the heading."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = lines.index(heading)
    rows, in_table = set(), False
    for line in lines[start + 1:]:
        if line.startswith("|"):
            in_table = True
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] in ("type", "---") or set(cells[0]) <= set("-"):
                continue
            type_ = cells[0]
            collect = cells[3].strip("`") if with_collect else None
            for name in names_of_cell(re.findall(r"`([^`]+)`", cells[1])):
                if "<" in name or re.match(r"^[a-z_]+-", name):
                    rows.add((type_, name) + ((collect,) if with_collect
                                              else ()))
        elif in_table:
            break
    return rows


def pod_metrics(path):
    """{(type, name)} of the =item lines of the man page's METRICS, up to
    its first =back."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("=head1 METRICS"):]
    section = section[:section.index("=back")]
    rows = set()
    for m in re.finditer(r"^=item (\w+) (.*)$", section, re.M):
        tokens = re.findall(r"C<((?:[^<>]|E<[a-z]+>)*)>", m.group(2))
        tokens = [t.replace("E<lt>", "<").replace("E<gt>", ">")
                  for t in tokens]
        for name in names_of_cell(tokens):
            rows.add((m.group(1), name))
    return rows


def compare(label, documented, expected):
    problems = []
    for row in sorted(expected - documented):
        problems.append("%s lacks %s" % (label, " / ".join(row)))
    for row in sorted(documented - expected):
        problems.append("%s has %s, which pd_series.def does not"
                        % (label, " / ".join(row)))
    return problems


def main():
    problems = []
    problems += compare(
        "README.md, Metrics",
        markdown_table(os.path.join(SRCDIR, "README.md"), "## Metrics",
                       with_collect=True),
        table_names(with_collect=True))
    problems += compare(
        "doc/collectd-pagerduty.pod, METRICS",
        pod_metrics(os.path.join(SRCDIR, "doc", "collectd-pagerduty.pod")),
        table_names(with_collect=False))
    problems += compare(
        "doc/contract.md §4",
        markdown_table(os.path.join(SRCDIR, "doc", "contract.md"),
                       "## 4. Metrics", with_collect=False),
        table_names(with_collect=False))
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print("PASS: README.md, the man page and doc/contract.md list the %d "
          "series of plugin/read/pd_series.def" % len(series.TABLE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
