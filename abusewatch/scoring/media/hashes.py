"""Media hashes: the signal types, their text form, and computing them from an image file.

A PDQ hash is 256 bits written as 64 lowercase hex digits, most significant bit first (the form
Meta's ThreatExchange, HMA and StopNCII exchange); MD5 and SHA-256 are the usual hex digests. The
platform computes them; `abusewatch hash` (`hash_file`) does it for a platform that cannot, with
Meta's PDQ implementation (the `pdqhash` package, which ThreatExchange's own hasher wraps).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

SIGNAL_TYPES: tuple[str, ...] = ("pdq", "md5")  # what a bank holds (schemas/hash-bank-updates.v1.json)
PDQ_BITS = 256
_HEX_LENGTH = {"pdq": 64, "md5": 32, "sha256": 64}
_LOWER_HEX = re.compile(r"^[0-9a-f]+$")


class HashError(ValueError):
    """A hash that is not the hex form of its signal type."""


def normalize(signal_type: str, value: str) -> str:
    """The canonical (lowercase) hex form of a hash, or HashError."""
    text = value.strip().lower()
    if len(text) != _HEX_LENGTH[signal_type] or not _LOWER_HEX.match(text):
        raise HashError(f"{signal_type} hash must be {_HEX_LENGTH[signal_type]} hex digits, got {value[:80]!r}")
    return text


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance between two PDQ hashes in hex."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pdq_of_image(image: Any) -> tuple[str, int]:
    """(PDQ hex, quality 0-100) of a Pillow image."""
    import pdqhash  # optional (the `media` extra): matching needs only the hashes platforms send

    if image.mode != "RGB":
        image = image.convert("RGB")
    bits, quality = pdqhash.compute(np.asarray(image))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def hash_file(path: str | Path) -> dict[str, Any]:
    """The `media` item of posts/v1 for one file: md5 and sha256 of its bytes, and for an image its
    PDQ hash and quality. Raises OSError for an unreadable file."""
    from PIL import Image, UnidentifiedImageError  # optional, as pdqhash

    data = Path(path).read_bytes()
    item: dict[str, Any] = {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}  # noqa: S324 - MD5 is the signal the banks hold
    try:
        with Image.open(Path(path)) as image:
            image.load()
            pdq, quality = pdq_of_image(image)
    except UnidentifiedImageError:
        return {"type": "other", **item}
    return {"type": "image", "pdq": {"hash": pdq, "quality": quality}, **item}
