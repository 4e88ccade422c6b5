"""Bearer-token authentication for the API."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from abusewatch.api.errors import ApiConfigError, ApiError
from abusewatch.api.settings import ApiSettings

# Probes, scrapers and API tooling carry no token; these paths reveal nothing about cases or posts.
UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
# The console (abusewatch.api.console) signs its users in with a session cookie of its own.
CONSOLE_PREFIX = "/console"
# Held open for as long as a console page is (server-sent events): never timed out or shed.
LONG_LIVED_PATHS = frozenset({"/console/events"})
# Perspective clients pass their key as ?key=...; accepted on that endpoint only, because a token
# in a URL ends up in proxy logs. The API's own access log never writes query strings.
QUERY_KEY_PATHS = frozenset({"/v1alpha1/comments:analyze", "/v1alpha1/comments:suggestscore"})


def is_console_path(path: str) -> bool:
    """/console and what lies under it (not /consolefoo): the console's own session check applies."""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def token_check_enabled(settings: ApiSettings) -> bool:
    """Whether requests must carry a token; no token at all needs an explicit opt-out."""
    if settings.token:
        return True
    if settings.allow_no_token:
        return False
    raise ApiConfigError(
        "ABUSEWATCH_API_TOKEN is not set: set it to the bearer token clients must send, or set "
        "ABUSEWATCH_API_ALLOW_NO_TOKEN=true to serve without authentication (development only)"
    )


def presented_token(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if request.path in QUERY_KEY_PATHS:
        return request.query.get("key")
    return None


def bearer_token_middleware(expected_token: str) -> Middleware:
    expected = expected_token.encode()

    @web.middleware
    async def require_bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNAUTHENTICATED_PATHS or is_console_path(request.path):
            return await handler(request)
        token = presented_token(request)
        if token is None:
            raise ApiError(401, "Request is missing required authentication credential: Authorization: Bearer <token>.")
        # Constant-time comparison: response timing must not reveal how much of a guess was right.
        if not hmac.compare_digest(token.encode(), expected):
            raise ApiError(401, "Request had invalid authentication credentials.")
        return await handler(request)

    return require_bearer_token
