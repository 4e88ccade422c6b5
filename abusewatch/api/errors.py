"""Errors shaped like Google API errors, so Perspective clients parse ours as they parse Google's:

    {"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}
"""

from __future__ import annotations

from typing import Any

# HTTP status -> google.rpc.Code name, for the statuses this API answers with.
GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered to the client: HTTP status and a message safe to show."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> str:
        return GOOGLE_STATUS.get(self.code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class RetryLater(ApiError):
    """Load shed or a timeout: the client should retry after the Retry-After the API adds.

    `reason` labels the shed/timeout metrics (abusewatch.api.metrics)."""

    def __init__(self, code: int, message: str, reason: str) -> None:
        super().__init__(code, message)
        self.reason = reason


def invalid_argument(message: str) -> ApiError:
    return ApiError(400, message)


class ApiConfigError(RuntimeError):
    """The API is configured so that it must not start (e.g. no token and no explicit opt-out)."""
