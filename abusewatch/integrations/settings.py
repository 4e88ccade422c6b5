"""Settings of the platform integrations: webhooks and DSA statements of reasons."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class WebhookSettings:
    """Signed webhooks for platform actions and escalations (docs/integration.md). The endpoints are a
    YAML file; delivery runs in the actions service and only when that file is set."""

    file: str = setting(
        "ABUSEWATCH_WEBHOOKS_FILE",
        "",
        "YAML file of webhook endpoints (url, secret or secret_env, kinds, min_severity, max_attempts). "
        "Empty: no webhooks are delivered.",
    )
    timeout_s: float = setting(
        "ABUSEWATCH_WEBHOOKS_TIMEOUT_S", 10.0, "Longest one delivery attempt may take (connect, send, answer)."
    )
    max_attempts: int = setting(
        "ABUSEWATCH_WEBHOOKS_MAX_ATTEMPTS",
        12,
        "Attempts per delivery before it is dead-lettered (webhook_undelivered); an endpoint's max_attempts wins. "
        "With the default backoff 12 attempts span about 6 minutes.",
    )
    retry_initial_s: float = setting(
        "ABUSEWATCH_WEBHOOKS_RETRY_INITIAL_S",
        1.0,
        "Wait before the second attempt; doubled on each further failure, with jitter (each wait is 50-100% of that).",
    )
    retry_max_s: float = setting(
        "ABUSEWATCH_WEBHOOKS_RETRY_MAX_S", 60.0, "Longest wait between two attempts of one delivery."
    )
    batch_max: int = setting(
        "ABUSEWATCH_WEBHOOKS_BATCH_MAX",
        100,
        "Most platform-actions and escalations taken at once; their offsets are committed once every one of "
        "them is delivered or dead-lettered to every matching endpoint.",
    )


@settings_class
class StatementSettings:
    """DSA statements of reasons (`abusewatch report --statements-of-reasons`, docs/integration.md)."""

    territorial_scope: tuple[str, ...] = setting(
        "ABUSEWATCH_DSA_TERRITORIAL_SCOPE",
        (
            "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
            "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
        ),
        "Comma-separated ISO country codes where the platform applies its restrictions (territorial_scope); "
        "the default is the 27 EU member states.",
    )
    terms_url: str = setting(
        "ABUSEWATCH_DSA_TERMS_URL",
        "",
        "URL of the terms of service the policy rules enforce (decision_ground_reference_url); empty: left out.",
    )
