# SPDX-License-Identifier: MIT
"""Deterministic PagerDuty-style identifiers and credentials.

Object IDs look like PagerDuty's: 'P' + 6 upper-case letters/digits. User API
tokens are 'u+' followed by 20 characters; account-level keys are 20
characters; Events API v2 integration (routing) keys are 32 hex characters.
Everything comes from one seeded random.Random so a seed reproduces an account.
"""

import random

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class IdFactory:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self._used = set()

    def _unique(self, make):
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def object_id(self):
        return self._unique(lambda: "P" + "".join(self.rng.choice(_ID_ALPHABET) for _ in range(6)))

    def long_id(self):
        """Log entries and alerts use 14-character IDs (e.g. Q02JTSNZWHSEKV)."""
        return self._unique(lambda: "Q" + "".join(self.rng.choice(_ID_ALPHABET) for _ in range(13)))

    def user_token(self):
        return self._unique(lambda: "u+" + "".join(self.rng.choice(_TOKEN_ALPHABET) for _ in range(20)))

    def account_key(self):
        return self._unique(lambda: "".join(self.rng.choice(_KEY_ALPHABET) for _ in range(20)))

    def routing_key(self):
        return self._unique(lambda: "%032x" % self.rng.getrandbits(128))

    def dedup_key(self):
        return "%032x" % self.rng.getrandbits(128)
