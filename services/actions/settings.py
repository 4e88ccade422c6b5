"""Settings of the actions service's stream agents."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class ActionsStreamSettings:
    """How the actions service takes messages off its input topics."""

    take_max: int = setting(
        "ABUSEWATCH_ACTIONS_TAKE_MAX", 256, "Most messages taken off an input topic per agent iteration."
    )
    take_within_s: float = setting(
        "ABUSEWATCH_ACTIONS_TAKE_WITHIN_S", 0.1, "Longest wait to fill an agent iteration (seconds)."
    )
    cooldown_entries: int = setting(
        "ABUSEWATCH_ACTIONS_COOLDOWN_ENTRIES",
        100_000,
        "Most (rule, action, subject) cooldowns remembered per worker; the least recently used go first.",
    )
    locker_retry_initial_s: float = setting(
        "ABUSEWATCH_ACTIONS_LOCKER_RETRY_INITIAL_S",
        0.5,
        "First wait before retrying a batch whose evidence could not be recorded (locker unreachable); "
        "doubled on each further failure. The batch's input waits in Kafka meanwhile.",
    )
    locker_retry_max_s: float = setting(
        "ABUSEWATCH_ACTIONS_LOCKER_RETRY_MAX_S", 10.0, "Longest wait between retries while the locker is unreachable."
    )
    locker_probe_interval_s: float = setting(
        "ABUSEWATCH_ACTIONS_LOCKER_PROBE_S",
        5.0,
        "How often the locker is pinged, so readiness and abusewatch_evidence_unavailable follow it while idle.",
    )
