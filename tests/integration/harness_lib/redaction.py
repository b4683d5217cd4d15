# SPDX-License-Identifier: MIT
"""Secrets: every token a test handles is registered here so that anything
the harness prints (logs on failure, error messages) has it blanked out.
Tests still assert separately that the plugin never wrote it anywhere:
write_secret_file() and files_containing() are the helpers for that."""

import os

_SECRETS = set()


def register_secret(value):
    if value:
        _SECRETS.add(value)
    return value


def registered_secrets():
    """Every secret registered so far in this process (tokens, routing
    keys, passwords), for tests that look for them in what was left behind."""
    return sorted(_SECRETS)


def redact(text):
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


def write_secret_file(path, secret, mode=0o600):
    """Writes a token file (as an operator would: one line) with `mode`."""
    register_secret(secret)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, mode)
    return path


def files_containing(root, needle, exclude=()):
    """Relative paths of the files under root whose bytes contain needle."""
    needle_b = needle.encode() if isinstance(needle, str) else needle
    excluded = {os.path.realpath(p) for p in exclude}
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.realpath(path) in excluded or os.path.islink(path):
                continue
            try:
                with open(path, "rb") as f:
                    if needle_b in f.read():
                        hits.append(os.path.relpath(path, root))
            except OSError:
                continue
    return hits
