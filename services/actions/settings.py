"""Settings of the actions service's stream agents."""

from __future__ import annotations

from abusewatch.config import setting, settings_class


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
