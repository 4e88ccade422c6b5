"""Settings of the HTTP API role (host and port are ServiceSettings.host / api_port)."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class ApiSettings:
    """The HTTP API: authentication, request limits, load shedding, and how far back the case reads look."""

    token: str = setting(
        "ABUSEWATCH_API_TOKEN",
        "",
        "Bearer token every request must carry (except /healthz, /readyz, /metrics). The API refuses "
        "to start without one unless ABUSEWATCH_API_ALLOW_NO_TOKEN=true.",
    )
    allow_no_token: bool = setting(
        "ABUSEWATCH_API_ALLOW_NO_TOKEN",
        False,
        "Serve without authentication when no token is set (local development only).",
    )
    max_comment_bytes: int = setting(
        "ABUSEWATCH_API_MAX_COMMENT_BYTES",
        20_480,
        "Longest comment.text accepted by comments:analyze, in UTF-8 bytes (Perspective's limit).",
    )
    max_span_sentences: int = setting(
        "ABUSEWATCH_API_MAX_SPAN_SENTENCES",
        32,
        "Most spans scored for spanAnnotations; longer comments are cut into this many runs of sentences.",
    )
    campaign_lookback_h: float = setting(
        "ABUSEWATCH_API_CAMPAIGN_LOOKBACK_H",
        168.0,
        "Open campaigns are those whose latest alert in the last this-many hours is not 'closed'.",
    )
    history_limit: int = setting(
        "ABUSEWATCH_API_HISTORY_LIMIT", 500, "Most evidence records a target-history request returns (newest)."
    )
    max_in_flight: int = setting(
        "ABUSEWATCH_API_MAX_IN_FLIGHT",
        64,
        "Most requests handled at once (probes and /metrics not counted); past it a request is answered "
        "429 RESOURCE_EXHAUSTED at once instead of queueing, so accepted requests keep a short latency.",
    )
    request_timeout_s: float = setting(
        "ABUSEWATCH_API_REQUEST_TIMEOUT_S",
        5.0,
        "Longest a request may take, body read included; past it the API answers 504 DEADLINE_EXCEEDED and "
        "drops the request's posts that are still queued for the model.",
    )
    retry_after_s: int = setting(
        "ABUSEWATCH_API_RETRY_AFTER_S",
        1,
        "Retry-After (seconds) sent with every 429, 503 and 504 answer.",
    )
