"""Re-keying post-scores by target for the detector's internal topic, in packed records.

The detector's first stage fans each post out to its targets and must route every target to one
partition (its state lives there). A Kafka record per target copy costs a produce and a consume
through the stream framework, which was the service's limit (1,070 posts/s; 2,765 packed, see
docs/benchmarks.md). So copies are packed: one record per destination partition per batch, its
value the copies as JSON lines. The partition is Kafka's default for the target id as key
(murmur2), so state stays where keyed records would have put it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka.partitioner import murmur2


def partition_for(target: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key, sign bit cleared, modulo partitions)."""
    return (murmur2(target.encode()) & 0x7FFFFFFF) % partitions


def pack(copies: Iterable[tuple[str, dict[str, Any]]], partitions: int, max_record_bytes: int) -> list[tuple[int, bytes]]:
    """(partition, packed record) pairs for (target, copy) pairs from `fan_out`, in order within a
    partition. A record stays under max_record_bytes unless a single copy is larger (it goes alone)."""
    lines: dict[int, list[bytes]] = {}
    for target, copy in copies:
        lines.setdefault(partition_for(target, partitions), []).append(orjson.dumps(copy))
    records = []
    for partition, encoded in lines.items():
        chunk: list[bytes] = []
        size = 0
        for line in encoded:
            if chunk and size + len(line) + 1 > max_record_bytes:
                records.append((partition, b"\n".join(chunk)))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        records.append((partition, b"\n".join(chunk)))
    return records


def unpack(record: bytes) -> list[bytes]:
    """The encoded target copies in one packed record (each a post-scores message naming one target)."""
    return record.split(b"\n")
