"""What a text rule layer found in one post (the extortion and hostility layers; the threat layer
adds the spans it matched)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class KindsFound:
    detected: bool
    kinds: tuple[str, ...]  # in the schema's enum order


NOTHING_FOUND = KindsFound(detected=False, kinds=())
