"""Settings of the trust-and-safety console (served by the api role under /console/)."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class ConsoleSettings:
    """Who may sign in to the console, how long a session lasts, how live pages refresh, review SLAs."""

    users_file: str = setting(
        "ABUSEWATCH_CONSOLE_USERS_FILE",
        "",
        "YAML file of console users: `users: [{id, role: viewer|reviewer|admin, token_sha256}]` "
        "(docs/console.md). Empty: nobody can sign in (the console answers its login page only). "
        "`abusewatch run` writes one with fresh tokens and prints them.",
    )
    session_secret: str = setting(
        "ABUSEWATCH_CONSOLE_SESSION_SECRET",
        "",
        "Key that signs session cookies and CSRF tokens; every API replica needs the same one. Empty: a "
        "random key per process (sessions end when the API restarts and work on one replica only).",
    )
    session_ttl_s: float = setting(
        "ABUSEWATCH_CONSOLE_SESSION_TTL_S", 28_800.0, "A console session expires this long after sign-in."
    )
    cookie_secure: str = setting(
        "ABUSEWATCH_CONSOLE_COOKIE_SECURE",
        "auto",
        "Mark the session cookie Secure: `auto` when the request came over TLS (directly or "
        "X-Forwarded-Proto: https from the ingress), `true` always, `false` never.",
    )
    refresh_s: float = setting(
        "ABUSEWATCH_CONSOLE_REFRESH_S",
        2.0,
        "How often live pages read the evidence locker again (one read per interval, shared by every viewer).",
    )
    review_sla_s: tuple = setting(
        "ABUSEWATCH_CONSOLE_REVIEW_SLA_S",
        ("critical=3600", "high=14400", "medium=86400", "low=259200"),
        "Time to decide an escalation, per severity (severity=seconds, comma-separated); the review "
        "queue's SLA clock counts down from the escalation's creation.",
    )

    def sla_seconds(self) -> dict[str, float]:
        sla = {}
        for entry in self.review_sla_s:
            severity, _, seconds = entry.partition("=")
            sla[severity.strip()] = float(seconds)
        return sla
