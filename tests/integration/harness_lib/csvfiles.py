# SPDX-License-Identifier: MIT
"""The files of collectd's csv plugin (raw counters, not the rates unixsock
answers): CsvReading, mixed into daemon.Collectd."""

import os
import re

from .util import wait_until


class CsvReading:
    """Reading the csv files. Needs from its host: csv_dir and
    default_timeout(seconds)."""

    def csv_rows(self, identifier):
        """The rows the csv plugin wrote for identifier, oldest first:
        [{"epoch": t, "<ds>": value, ...}] (raw counters, not rates)."""
        host, plugin, type_part = identifier.split("/")
        directory = os.path.join(self.csv_dir, host, plugin)
        rows = []
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return rows
        for name in names:
            # <type>-<type_instance>-YYYY-MM-DD
            if not re.fullmatch(re.escape(type_part) + r"-\d{4}-\d\d-\d\d",
                                name):
                continue
            # One read to EOF, then only whole lines (collectd may be
            # appending one: see truth.read_csv_tree).
            with open(os.path.join(directory, name)) as f:
                lines = f.read().split("\n")
            header = lines[0].strip().split(",")
            for line in lines[1:-1]:
                fields = line.strip().split(",")
                if len(fields) == len(header):
                    rows.append({k: float(v) for k, v in
                                 zip(header, fields)})
        rows.sort(key=lambda r: r["epoch"])
        return rows

    def csv_last(self, identifier):
        """The last value written for a one-DS identifier, or None."""
        rows = self.csv_rows(identifier)
        if not rows:
            return None
        return [v for k, v in rows[-1].items() if k != "epoch"][0]

    def wait_for_csv(self, identifier, predicate=None, timeout=None):
        """Waits until the last csv value satisfies predicate; returns it."""
        timeout = timeout or self.default_timeout(20)

        def check():
            v = self.csv_last(identifier)
            if v is not None and (predicate is None or predicate(v)):
                return ("ok", v)
            return None
        return wait_until(check, timeout, interval=0.2,
                          message="csv value %s" % identifier)[1]
