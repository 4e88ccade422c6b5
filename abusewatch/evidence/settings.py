"""Settings for the evidence locker."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class EvidenceSettings:
    """Where evidence is stored, for how long, and which posts count as flagged."""

    dsn: str = setting(
        "ABUSEWATCH_EVIDENCE_DSN",
        "sqlite:///var/evidence.sqlite3",
        "Evidence locker: sqlite:///relative/path, sqlite:////absolute/path or postgresql://user@host/db.",
    )
    timeout_s: float = setting(
        "ABUSEWATCH_EVIDENCE_TIMEOUT_S",
        10.0,
        "PostgreSQL: longest a connect, or a send the network does not acknowledge, may take before the "
        "locker counts as unreachable (libpq connect_timeout / tcp_user_timeout; the DSN's own win).",
    )
    retention_days: int = setting(
        "ABUSEWATCH_EVIDENCE_RETENTION_DAYS",
        365,
        "Records older than this are purged (a checkpoint record keeps the chain verifiable).",
    )
    purge_interval_s: float = setting(
        "ABUSEWATCH_EVIDENCE_PURGE_INTERVAL_S", 3600.0, "How often the actions service purges expired records."
    )
    cooldown_purge_margin_s: float = setting(
        "ABUSEWATCH_EVIDENCE_COOLDOWN_PURGE_MARGIN_S",
        86_400.0,
        "The purge deletes a policy cooldown once it ended this long (event time) before the newest "
        "decision's. Workers share the locker but not their event time: one catching up on a backlog "
        "keeps its cooldowns while it is less than this far behind the others.",
    )
    flag_min_score: float = setting(
        "ABUSEWATCH_EVIDENCE_FLAG_MIN_SCORE",
        0.5,
        "A scored post is stored as evidence when any label score reaches this, or when a rule matched it.",
    )


@settings_class
class EvidenceSigningSettings:
    """Signed checkpoints over the evidence chain (docs/evidence.md, "Signed checkpoints"). The key is a
    secret: give it inline or, better, as a mounted file (a Kubernetes secret volume)."""

    signing_key: str = setting(
        "ABUSEWATCH_EVIDENCE_SIGNING_KEY",
        "",
        "Ed25519 private key that signs checkpoints: PKCS#8 PEM or base64 of the 32 raw bytes"
        " (`abusewatch evidence keygen`). Empty with no key file: checkpoints are not signed (warned at startup).",
    )
    signing_key_file: str = setting(
        "ABUSEWATCH_EVIDENCE_SIGNING_KEY_FILE",
        "",
        "Path of a file holding that key instead (e.g. a mounted secret). Set this or the key, not both.",
    )
    sign_every_records: int = setting(
        "ABUSEWATCH_EVIDENCE_SIGN_EVERY_RECORDS",
        1000,
        "Sign a checkpoint when an append leaves this many records unsigned; also the most records one checkpoint covers.",
    )
    sign_interval_s: float = setting(
        "ABUSEWATCH_EVIDENCE_SIGN_INTERVAL_S",
        60.0,
        "The actions service also signs whatever is unsigned this often, so a quiet locker's tail gets signed.",
    )
