"""Settings for the evidence locker."""

from __future__ import annotations

from abusewatch.config import setting, settings_class


@settings_class
class EvidenceSettings:
    """Where evidence is stored, for how long, and which posts count as flagged."""

    dsn: str = setting(
        "ABUSEWATCH_EVIDENCE_DSN",
        "sqlite:///var/evidence.sqlite3",
        "Evidence locker: sqlite:///relative/path, sqlite:////absolute/path or postgresql://user@host/db.",
    )
    retention_days: int = setting(
        "ABUSEWATCH_EVIDENCE_RETENTION_DAYS",
        365,
        "Records older than this are purged (a checkpoint record keeps the chain verifiable).",
    )
    purge_interval_s: float = setting(
        "ABUSEWATCH_EVIDENCE_PURGE_INTERVAL_S", 3600.0, "How often the actions service purges expired records."
    )
    probe_interval_s: float = setting(
        "ABUSEWATCH_EVIDENCE_PROBE_INTERVAL_S",
        15.0,
        "How often the actions service reads the chain head to export abusewatch_evidence_locker_up.",
    )
    flag_min_score: float = setting(
        "ABUSEWATCH_EVIDENCE_FLAG_MIN_SCORE",
        0.5,
        "A scored post is stored as evidence when any label score reaches this, or when a rule matched it.",
    )
