# SPDX-License-Identifier: MIT
"""
series.py - the table of series (plugin/core/pd_series.def, doc/contract.md
§4: the read side's and each Notify block's) for the Python tests, as the built program
tests/pd_series_table prints it. Tests take series names and types from
here, never from lists of their own; the oracle (truth.py) still computes
every value itself.

    import series
    for s in series.of("service"):            # in the table's order
        s.name("checkout_api")                # "service-checkout_api-triggered"
    series.by_id("INCIDENTS").expand()        # [((st, urg), name), ...]
    series.match("service-web-created")       # (Series, "web", ()) or None

The program is found as $PD_SERIES_TABLE, else in the build tree
($PD_BUILDDIR, or the one above $PD_PLUGIN_DIR, or <srcdir>/build).

Only the Python standard library.
"""

import collections
import itertools
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("PD_SRCDIR") or os.path.dirname(os.path.dirname(HERE))

ENTITIES = ("account", "service", "team", "schedule", "policy", "notify")
# Entities whose series have no instance name in the type instance: one
# account or Notify block per plugin instance.
UNNAMED = ("account", "notify")


class Series(collections.namedtuple(
        "Series", "id group collect needs entity type format pattern dims "
                  "meaning")):
    """One row of the table. needs: the collections it needs ("services",
    "open", "created", "teams", "schedules", "oncalls", "policies");
    collect: its Collect keyword or "always"; dims: a tuple of the value
    tuples of its dimensions."""

    def name(self, instance=None, *dims):
        """The type instance for an entity's instance name (None for an
        account or notify series) and one value per dimension."""
        args = ([] if self.entity in UNNAMED else [instance]) + list(dims)
        if len(args) != self.format.count("%s") or None in args:
            raise ValueError("%s takes %d values, not %r"
                             % (self.id, self.format.count("%s"), args))
        return self.format % tuple(args)

    def expand(self, instance=None):
        """[(dimension values, type instance)] over all its dimensions."""
        return [(combo, self.name(instance, *combo))
                for combo in itertools.product(*self.dims)]

    def regex(self):
        parts = self.format.split("%s")
        groups = ([] if self.entity in UNNAMED else ["([a-z0-9_]+)"]) + \
            ["(%s)" % "|".join(map(re.escape, d)) for d in self.dims]
        out = re.escape(parts[0])
        for group, literal in zip(groups, parts[1:]):
            out += group + re.escape(literal)
        return re.compile("^%s$" % out)


def _program():
    explicit = os.environ.get("PD_SERIES_TABLE")
    if explicit:
        return explicit
    builds = [os.environ.get("PD_BUILDDIR")]
    plugin_dir = os.environ.get("PD_PLUGIN_DIR")
    if plugin_dir:
        builds.append(os.path.dirname(os.path.dirname(
            os.path.abspath(plugin_dir))))
    builds += [SRCDIR, os.path.join(SRCDIR, "build")]
    for build in builds:
        if build:
            path = os.path.join(build, "tests", "pd_series_table")
            if os.access(path, os.X_OK):
                return path
    raise RuntimeError("tests/pd_series_table not found: build it (make) "
                       "and set PD_BUILDDIR or PD_SERIES_TABLE")


def load(program=None):
    out = subprocess.run([program or _program()], stdout=subprocess.PIPE,
                         check=True, universal_newlines=True).stdout
    lines = out.splitlines()
    header = lines[0].split("\t")
    if header != list(Series._fields):
        raise RuntimeError("pd_series_table prints %r" % header)
    table = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        row["needs"] = tuple(row["needs"].split(",")) if row["needs"] else ()
        row["dims"] = tuple(tuple(d.split(",")) for d in
                            row["dims"].split("|")) if row["dims"] else ()
        table.append(Series(**row))
    return table


TABLE = load()
_BY_ID = {s.id: s for s in TABLE}
_REGEXES = [(s, s.regex()) for s in TABLE]


def by_id(series_id):
    return _BY_ID[series_id]


def of(entity):
    """The series of one kind of entity, in the table's order."""
    if entity not in ENTITIES:
        raise ValueError(entity)
    return [s for s in TABLE if s.entity == entity]


def match(type_instance, type_=None):
    """(Series, instance or None, dimension values) for a type instance (of
    that type, when given), or None when no series of the table has that
    name."""
    for s, regex in _REGEXES:
        m = regex.match(type_instance)
        if m and (type_ is None or type_ == s.type):
            groups = m.groups()
            if s.entity in UNNAMED:
                return s, None, groups
            return s, groups[0], groups[1:]
    return None


def match_identifier(ident):
    """match() for a collectd identifier "<host>/<plugin>/<type>-<type
    instance>" (collectd's types have no "-")."""
    type_, _, type_instance = ident.rsplit("/", 1)[-1].partition("-")
    return match(type_instance, type_)
