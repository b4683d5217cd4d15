# SPDX-License-Identifier: MIT
"""PagerDuty-shaped errors. REST errors are {"error":{"message","code"[,"errors"]}};
the Events API answers {"status","message","errors"} instead."""


class ApiError(Exception):
    """Raised by a handler; the server turns it into the response."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def rest_error(status, message, code, errors=None, headers=None):
    err = {"message": message, "code": code}
    if errors is not None:
        err["errors"] = errors
    return ApiError(status, {"error": err}, headers)


def invalid_input(*details):
    return rest_error(400, "Invalid Input Provided", 2001, list(details))


def not_found():
    return rest_error(404, "Not Found", 2100)


def access_denied(detail=None):
    return rest_error(403, "Access Denied", 2010, [detail] if detail else None)


def auth_failed():
    return rest_error(401, "Authentication failed", 2006)


def rate_limited(headers=None):
    return rest_error(429, "Rate Limit Exceeded", 2020, headers=headers)


def events_invalid(*details, status=400):
    return ApiError(status, {"status": "invalid event", "message": "Event object is invalid",
                             "errors": list(details)})


# Codes used when a fault injects a plain HTTP status with a REST body.
STATUS_CODES = {400: 2001, 401: 2006, 402: 2014, 403: 2010, 404: 2100, 429: 2020}
