"""Settings of media matching: where the hash banks are, the PDQ threshold and quality floor, and
flood protection."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class MediaSettings:
    """Known-media matching in the classifier: hash banks (files plus the live `hash-bank-updates` topic),
    PDQ distance and quality, and flood protection (docs/media.md)."""

    bank_dir: str = setting(
        "ABUSEWATCH_HASH_BANK_DIR",
        "",
        "Folder of hash bank files, one `<bank>.jsonl` per bank (docs/media.md, 'Bank files'); empty: no bank "
        "is loaded from files (live additions on `hash-bank-updates` still apply).",
    )
    pdq_max_distance: int = setting(
        "ABUSEWATCH_PDQ_MAX_DISTANCE",
        31,
        "A post's PDQ hash matches a bank entry at this Hamming distance or less (of 256 bits; HMA's default).",
    )
    pdq_min_quality: int = setting(
        "ABUSEWATCH_PDQ_MIN_QUALITY",
        50,
        "PDQ hashes whose quality (0-100, from the hasher) is below this are not matched: flat or tiny images "
        "hash to near-constant values that match unrelated images.",
    )
    flood_window_s: int = setting(
        "ABUSEWATCH_MEDIA_FLOOD_WINDOW_S",
        3600,
        "Flood protection: the window over which each bank entry's matches are counted.",
    )
    flood_min_matches: int = setting(
        "ABUSEWATCH_MEDIA_FLOOD_MIN_MATCHES",
        50,
        "Flood protection: a bank entry matched at least this often in the window, and "
        "ABUSEWATCH_MEDIA_FLOOD_JUMP times its previous window's count, is flagged for review (`flooding`).",
    )
    flood_jump: float = setting(
        "ABUSEWATCH_MEDIA_FLOOD_JUMP",
        5.0,
        "Flood protection: how many times the previous window's matches make a jump.",
    )
    flood_max_tracked: int = setting(
        "ABUSEWATCH_MEDIA_FLOOD_MAX_TRACKED",
        100_000,
        "Flood protection: bank entries whose match counts are kept (least recently matched dropped).",
    )
