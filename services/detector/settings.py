"""Settings of the detector service's stream plumbing (the detection itself: DetectorSettings)."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class DetectorStreamSettings:
    """How the detector service batches its streams and names its internal topics."""

    take_max: int = setting(
        "ABUSEWATCH_DETECTOR_TAKE_MAX", 1000, "Most post-scores messages the rekeyer takes at once (they are packed per partition)."
    )
    detect_take_max: int = setting(
        "ABUSEWATCH_DETECTOR_DETECT_TAKE_MAX",
        8,
        "Most packed records (each holding up to a rekey batch's copies for one partition) the detect "
        "agent takes at once; state is written back once per take.",
    )
    packed_record_bytes: int = setting(
        "ABUSEWATCH_DETECTOR_PACKED_RECORD_BYTES",
        512 * 1024,
        "Largest packed record on the re-keyed topic (bytes); keep under the broker's message.max.bytes.",
    )
    take_within_s: float = setting(
        "ABUSEWATCH_DETECTOR_TAKE_WITHIN_S", 0.05, "Longest the agents wait to fill a batch (seconds)."
    )
    state_cache_targets: int = setting(
        "ABUSEWATCH_DETECTOR_STATE_CACHE_TARGETS",
        100_000,
        "Decoded target states kept in memory between batches (targets with open campaigns always are).",
    )
    partition_idle_s: float = setting(
        "ABUSEWATCH_DETECTOR_PARTITION_IDLE_S",
        10.0,
        "Catching up, the rekeyer forwards posts in event-time order across its partitions; a partition "
        "that reports unread posts but delivers none for this long (wall-clock seconds) stops holding "
        "the others back. A caught-up partition never holds them back.",
    )
    frontier_interval_s: float = setting(
        "ABUSEWATCH_DETECTOR_FRONTIER_INTERVAL_S",
        1.0,
        "Most wall-clock seconds between the rekeyer's frontier markers to re-keyed partitions that got "
        "no posts meanwhile: how far event time is complete, so a quiet partition's campaigns cool and "
        "close. Partitions that get posts learn it with them.",
    )
