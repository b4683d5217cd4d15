# SPDX-License-Identifier: MIT
"""collectd's log as the logfile plugin writes it (with severities):
LogReading, mixed into daemon.Collectd."""

import re

from .settings import LOG_PREFIX
from .util import wait_until

_LOG_LINE_RE = re.compile(r"^\[[^\]]*\] \[(\w+)\] (.*)$")


class LogReading:
    """Reading the log. Needs from its host: log_text(), proc and
    default_timeout(seconds)."""

    def log_lines(self):
        return self.log_text().splitlines()

    def log_entries(self):
        """[(severity, message)] of the logfile lines (severity lowercase:
        error, warning, notice, info)."""
        out = []
        for line in self.log_lines():
            m = _LOG_LINE_RE.match(line)
            if m:
                out.append((m.group(1).lower(), m.group(2)))
        return out

    def messages(self, severity=None, contains=LOG_PREFIX):
        """Log messages at a severity ("error", "warning", ...; None: any)
        that contain `contains` (default: the plugin's prefix)."""
        return [msg for sev, msg in self.log_entries()
                if (severity is None or sev == severity)
                and (contains is None or contains in msg)]

    def errors(self, contains=LOG_PREFIX):
        return self.messages("error", contains)

    def warnings(self, contains=LOG_PREFIX):
        return self.messages("warning", contains)

    def wait_for_log(self, pattern, timeout=None, severity=None):
        """Waits for a log message matching the regex `pattern` (searched,
        optionally only at `severity`); returns the match. Fails early when
        the daemon exits."""
        rx = re.compile(pattern)
        timeout = timeout or self.default_timeout(20)

        def found():
            for sev, msg in self.log_entries():
                if severity is None or sev == severity:
                    m = rx.search(msg)
                    if m:
                        return m
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("collectd exited (status %s) while "
                                     "waiting for log /%s/"
                                     % (self.proc.returncode, pattern))
            return None
        return wait_until(found, timeout, message="log /%s/" % pattern)
