# SPDX-License-Identifier: MIT
"""Classic pagination: limit (default 25, over 100 clamped to 100), offset,
more, total (null unless total=true); offset + limit beyond 10000 is a 400
with the real answer (doc/pagerduty-api.md: faros-ai/airbyte-connectors #991,
cloudquery #12750)."""

from .errors import invalid_input, rest_error

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_WINDOW = 10000


def _int_param(query, name, default):
    values = query.get(name)
    if not values or values[-1] == "":
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise invalid_input("%s must be an integer" % name.capitalize())


def _bool_param(query, name):
    values = query.get(name)
    return bool(values) and values[-1].lower() == "true"


def page_params(query):
    limit = _int_param(query, "limit", DEFAULT_LIMIT)
    offset = _int_param(query, "offset", 0)
    if limit < 1:
        raise invalid_input("Limit must be greater than 0")
    if offset < 0:
        raise invalid_input("Offset must be greater than or equal to 0")
    limit = min(limit, MAX_LIMIT)
    if offset + limit > MAX_WINDOW:
        raise rest_error(400, "Arguments Caused Error", 2002,
                         ["Offset+limit exceeds maximum allowed value of %d." % MAX_WINDOW])
    return limit, offset, _bool_param(query, "total")


def paginate(query, items, key, render):
    """Validate paging parameters, slice `items` (already filtered and
    sorted) and build the response body with `key` -> rendered page."""
    limit, offset, want_total = page_params(query)
    page = items[offset:offset + limit]
    return {key: [render(x) for x in page],
            "limit": limit, "offset": offset,
            "more": offset + limit < len(items),
            "total": len(items) if want_total else None}
