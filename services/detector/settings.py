"""Settings of the detector service's stream plumbing (the detection itself: DetectorSettings)."""

from __future__ import annotations

from abusewatch.config import setting, settings_class


@settings_class
class DetectorStreamSettings:
    """How the detector service batches its streams and names its internal topics."""

    take_max: int = setting(
        "ABUSEWATCH_DETECTOR_TAKE_MAX", 1000, "Most messages the detector agents take from a stream at once."
    )
    take_within_s: float = setting(
        "ABUSEWATCH_DETECTOR_TAKE_WITHIN_S", 0.05, "Longest the agents wait to fill a batch (seconds)."
    )
    state_cache_targets: int = setting(
        "ABUSEWATCH_DETECTOR_STATE_CACHE_TARGETS",
        100_000,
        "Decoded target states kept in memory between batches (targets with open campaigns always are).",
    )
