"""Hash banks: named lists of known abusive media hashes, and matching a post's media against them.

Banks come from files (`<bank>.jsonl` in ABUSEWATCH_HASH_BANK_DIR, read at startup) and from live
updates (`hash-bank-updates` messages, applied as they arrive). PDQ hashes match within a Hamming
distance, when the post's hash is of sufficient quality; MD5 hashes match exactly. What a bank
*means* (hold, escalate, which severity) is the policy's business, by bank name (docs/media.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs

from abusewatch.ingest.contract import error_location, schema_registry
from abusewatch.scoring.media.flood import MatchRates
from abusewatch.scoring.media.hashes import HashError, normalize
from abusewatch.scoring.media.index import PdqIndex
from abusewatch.scoring.media.settings import MediaSettings

BANK_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class BankFileError(ValueError):
    """A bank file that cannot be read or has an invalid line (file and line named)."""


@functools.cache
def _entry_validator() -> jsonschema_rs.Draft202012Validator:
    # The entry definition of the update messages' schema: bank files and updates hold the same entries.
    return jsonschema_rs.Draft202012Validator(
        {"$ref": "https://abusewatch.dev/schemas/hash-bank-updates.v1.json#/$defs/entry"}, registry=schema_registry()
    )


@dataclasses.dataclass(frozen=True, slots=True)
class BankEntry:
    bank: str
    signal_type: str  # "pdq" or "md5"
    hash: str  # canonical hex
    entry_id: str | None = None


def parse_entry(bank: str, raw: dict[str, Any]) -> BankEntry:
    """One bank entry (a bank file line, or an entry of an update), or ValueError saying why not."""
    error = next(_entry_validator().iter_errors(raw), None)
    if error is not None:
        raise ValueError(f"{error_location(error)}: {error.message}")
    return BankEntry(bank, raw["signal_type"], normalize(raw["signal_type"], raw["hash"]), raw.get("entry_id"))


def read_bank_file(path: Path) -> list[BankEntry]:
    """Every entry of one bank file (JSON Lines; blank lines and lines starting with # skipped)."""
    bank = path.name.removesuffix(".jsonl")
    if not BANK_NAME.match(bank):
        raise BankFileError(f"{path}: bank name {bank!r} must match {BANK_NAME.pattern}")
    entries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BankFileError(f"{path}: cannot read bank file: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("a line must be a JSON object")
            entries.append(parse_entry(bank, raw))
        except (ValueError, HashError) as exc:
            raise BankFileError(f"{path}:{number}: {exc}") from exc
    return entries


def read_bank_dir(folder: str | Path) -> list[BankEntry]:
    """Every `*.jsonl` bank file in a folder, in name order."""
    path = Path(folder)
    if not path.is_dir():
        raise BankFileError(f"{path}: hash bank folder does not exist")
    return [entry for file in sorted(path.glob("*.jsonl")) for entry in read_bank_file(file)]


@dataclasses.dataclass(frozen=True, slots=True)
class MediaCheck:
    """What matching found for one post's media: the post-scores `media_matches` field."""

    checked: int  # media items looked up
    low_quality: int  # PDQ hashes below the quality floor, not matched by PDQ
    matches: tuple[dict[str, Any], ...]

    def to_field(self) -> dict[str, Any]:
        return {"checked": self.checked, "low_quality": self.low_quality, "matches": list(self.matches)}


class HashBanks:
    """Every bank's entries, the PDQ index over them, and each entry's match rate (flood protection).
    PDQ entries live in the index's arrays (with their entry ids), not as Python objects per entry,
    so banks of millions of hashes stay compact; MD5 entries, few, are a dict."""

    def __init__(self, entries: Iterable[BankEntry], settings: MediaSettings) -> None:
        self._settings = settings
        self._md5: defaultdict[str, dict[str, str | None]] = defaultdict(dict)  # md5 -> bank -> entry id
        self._sizes: Counter[str] = Counter()
        self._pdq = PdqIndex()
        self.add(list(entries))
        self.rates = MatchRates(settings.flood_window_s, settings.flood_min_matches, settings.flood_jump,
                                settings.flood_max_tracked)

    @classmethod
    def from_settings(cls, settings: MediaSettings) -> HashBanks:
        return cls(read_bank_dir(settings.bank_dir) if settings.bank_dir else [], settings)

    def __len__(self) -> int:
        return self._sizes.total()

    def sizes(self) -> dict[str, int]:
        """Entries per bank."""
        return {bank: size for bank, size in self._sizes.items() if size}

    def add(self, entries: Sequence[BankEntry]) -> int:
        """Add entries (already present ones are kept, their entry id updated); returns how many were new."""
        pdq = [entry for entry in entries if entry.signal_type == "pdq"]
        new_banks = [bank for bank, _ in self._pdq.add([(e.bank, e.hash) for e in pdq], [e.entry_id for e in pdq])]
        for entry in entries:
            if entry.signal_type == "md5":
                if entry.bank not in self._md5[entry.hash]:
                    new_banks.append(entry.bank)
                self._md5[entry.hash][entry.bank] = entry.entry_id
        self._sizes.update(new_banks)
        return len(new_banks)

    def remove(self, entries: Sequence[BankEntry]) -> int:
        """Remove entries (absent ones are ignored); returns how many were removed."""
        removed = [bank for bank, _ in self._pdq.remove((e.bank, e.hash) for e in entries if e.signal_type == "pdq")]
        for entry in entries:
            if entry.signal_type == "md5" and entry.bank in self._md5.get(entry.hash, ()):
                del self._md5[entry.hash][entry.bank]
                if not self._md5[entry.hash]:
                    del self._md5[entry.hash]
                removed.append(entry.bank)
        self._sizes.subtract(removed)
        return len(removed)

    def check(self, posts_media: Sequence[tuple[Sequence[dict[str, Any]], float]]) -> list[MediaCheck | None]:
        """For each post's (media items, event time in epoch seconds): what its media matched, or
        None for a post without media. One PDQ index search for the whole batch. Match rates are
        counted only once every post's media was matched, so a batch that fails and is retried post
        by post counts each match once."""
        settings = self._settings
        queries: list[str] = []
        for media, _ in posts_media:
            for item in media:
                pdq = item.get("pdq")
                if pdq and pdq["quality"] >= settings.pdq_min_quality:
                    queries.append(normalize("pdq", pdq["hash"]))
        hits = iter(zip(queries, self._pdq.search(queries, settings.pdq_max_distance), strict=True))
        found: list[tuple[int, int, list[dict[str, Any]]] | None] = []
        for media, event_time in posts_media:
            if not media:
                found.append(None)
                continue
            matches: list[dict[str, Any]] = []
            low_quality = 0
            for position, item in enumerate(media):
                pdq = item.get("pdq")
                if pdq and pdq["quality"] >= settings.pdq_min_quality:
                    query, query_hits = next(hits)
                    for hit in query_hits:
                        bank, bank_hash = hit.key
                        matches.append(_match(item, position, bank, "pdq", query, bank_hash, hit.distance,
                                              hit.entry_id))
                elif pdq:
                    low_quality += 1
                if item.get("md5"):
                    md5 = normalize("md5", item["md5"])
                    for bank, entry_id in sorted(self._md5.get(md5, {}).items()):
                        matches.append(_match(item, position, bank, "md5", md5, md5, 0, entry_id))
            found.append((len(media), low_quality, matches))
        results: list[MediaCheck | None] = []
        for outcome, (_, event_time) in zip(found, posts_media, strict=True):
            if outcome is None:
                results.append(None)
                continue
            checked, low_quality, matches = outcome
            for match in matches:
                match["flooding"] = self.rates.record((match["bank"], match["signal_type"], match["bank_hash"]),
                                                      event_time)
            results.append(MediaCheck(checked, low_quality, tuple(matches)))
        return results


def _match(item: dict[str, Any], position: int, bank: str, signal_type: str, query: str, bank_hash: str,
           distance: int, entry_id: str | None) -> dict[str, Any]:
    """One entry of post-scores `media_matches.matches`; `flooding` is set once the batch is matched."""
    return {
        "media_index": position,
        "media_id": item.get("media_id"),
        "bank": bank,
        "signal_type": signal_type,
        "hash": query,
        "bank_hash": bank_hash,
        "distance": distance,
        "entry_id": entry_id,
        "flooding": False,
    }


def apply_update(banks: HashBanks, update: dict[str, Any]) -> int:
    """Apply one validated hash-bank-updates/v1 message; returns how many entries changed.
    Raises ValueError (nothing applied) when an entry's hash is not its signal type's form."""
    entries = [parse_entry(update["bank"], raw) for raw in update["entries"]]
    return banks.add(entries) if update["op"] == "add" else banks.remove(entries)
