"""Re-keying post-scores by target for the detector's internal topic, in packed records.

The detector's first stage fans each post out to its targets and must route every target to one
partition (its state lives there). A Kafka record per target copy costs a produce and a consume
through the stream framework, which was the service's limit (docs/benchmarks.md, "Throughput").
So copies are packed: one record per destination partition per batch, its
value the copies as JSON lines. The partition is Kafka's default for the target id as key
(murmur2), so state stays where keyed records would have put it.

With tracing on, a line is the copy's JSON, a tab, and the W3C traceparent of its post
(abusewatch.common.tracing): each copy keeps its own post's trace inside a record shared by many posts.
A copy's JSON never holds a raw tab or newline, so the framing cannot be confused: orjson writes
none, and a post's own bytes are forwarded as its copy only when they hold neither (copies_to_pack).

A record may carry a frontier header (FRONTIER_HEADER): which source partitions the rekeyer that
wrote it owns, how many the source topic has, and the event time up to which those partitions'
posts have all been written to this partition. A marker record (empty value) carries only the
header, for partitions that got no posts in a while (abusewatch.detection.watermark).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import orjson
from aiokafka.partitioner import murmur2

from abusewatch.detection.features import fan_out


TRACE_SEPARATOR = b"\t"
FRONTIER_HEADER = "abusewatch-frontier"
# Far more partitions than any source topic has; a header claiming more is not a frontier (the
# detect agent's work per marker grows with it).
MAX_SOURCE_PARTITIONS = 100_000


@functools.lru_cache(maxsize=1 << 16)  # busy targets recur; murmur2 is pure Python
def partition_for(target: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key, sign bit cleared, modulo partitions)."""
    return (murmur2(target.encode()) & 0x7FFFFFFF) % partitions


def copies_to_pack(message: dict[str, Any], raw: bytes, max_targets: int | None) -> list[tuple[str, dict[str, Any] | bytes]]:
    """`fan_out`'s (target, copy) pairs for a validated message and the bytes it came as. A post with
    one target is its own copy, so it goes as those bytes and pack need not encode it again, unless
    they hold pack's separators (a newline or tab, which JSON from other encoders may hold between
    tokens)."""
    targets = message["targets"]
    if len(targets) == 1 and b"\n" not in raw and TRACE_SEPARATOR not in raw:
        return [(targets[0], raw)]
    return fan_out(message, max_targets)


def pack(copies: Iterable[tuple[str, dict[str, Any] | bytes]], partitions: int, max_record_bytes: int,
         traceparents: Sequence[bytes | None] | None = None) -> list[tuple[int, bytes]]:
    """(partition, packed record) pairs for (target, copy) pairs from `copies_to_pack` (a copy is a
    message, or its encoding without newline or tab), in order within a partition. A record stays
    under max_record_bytes unless a single copy is larger (it goes alone). `traceparents`, when
    given, is parallel to `copies`: the trace each copy continues, or None."""
    lines: dict[int, list[bytes]] = {}
    for index, (target, copy) in enumerate(copies):
        line = copy if isinstance(copy, bytes) else orjson.dumps(copy)
        if traceparents is not None and traceparents[index]:
            line += TRACE_SEPARATOR + traceparents[index]
        lines.setdefault(partition_for(target, partitions), []).append(line)
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


def unpack(record: bytes) -> list[tuple[bytes, bytes | None]]:
    """The target copies in one packed record: each encoded copy (a post-scores message naming one
    target) with the traceparent it carries, or None."""
    lines = record.split(b"\n")
    if TRACE_SEPARATOR not in record:
        return [(line, None) for line in lines]
    pairs = []
    for line in lines:
        copy, _, traceparent = line.partition(TRACE_SEPARATOR)
        pairs.append((copy, traceparent or None))
    return pairs


def collect_released(
    released: Iterable[tuple[float, Hashable, tuple[int, list, bytes | None]]], traced: bool,
) -> tuple[list, list[bytes | None] | None, dict[Hashable, int]]:
    """What EventTimeMerge.release gave, as (offset, target copies, traceparent) per post ->
    (copies, the traceparent of each copy or None when not traced, per partition the offset to
    commit once the copies are sent). Release is in event-time order, which within a partition need
    not be offset order: the offset to commit is the highest released plus one."""
    copies: list = []
    traceparents: list[bytes | None] | None = [] if traced else None
    next_offsets: dict[Hashable, int] = {}
    for _, partition, (offset, post_copies, post_traceparent) in released:
        copies.extend(post_copies)
        if traceparents is not None:  # every copy of a post continues the post's trace
            traceparents.extend([post_traceparent] * len(post_copies))
        next_offsets[partition] = max(next_offsets.get(partition, 0), offset + 1)
    return copies, traceparents, next_offsets


def encode_frontier(sources: int, partitions: Iterable[int], complete_to: float) -> bytes:
    """The frontier header's value (see the module docstring)."""
    return orjson.dumps({"sources": sources, "partitions": sorted(partitions), "complete_to": complete_to})


def decode_frontier(value: bytes, not_after: float = math.inf) -> tuple[int, list[int], float] | None:
    """(sources, partitions, complete_to) from a frontier header; None when it is not one (the
    topic is internal, but a header that does not parse must not stop the detector), or when
    complete_to is past `not_after` (no post the rekeyer accepts is that far in the future)."""
    try:
        frontier = orjson.loads(value)
        sources, partitions, complete_to = frontier["sources"], frontier["partitions"], frontier["complete_to"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None
    if (not isinstance(sources, int) or not 0 < sources <= MAX_SOURCE_PARTITIONS
            or isinstance(complete_to, bool) or not isinstance(complete_to, (int, float)) or complete_to > not_after
            or not isinstance(partitions, list) or len(partitions) > sources
            or not all(isinstance(p, int) and 0 <= p < sources for p in partitions)):
        return None
    return sources, partitions, float(complete_to)


def with_frontier(records: list[tuple[int, bytes]], frontier: bytes | None) -> list[tuple[int, bytes, list | None]]:
    """(partition, packed record, headers) for one release's records: the frontier goes on the last
    record of each partition, since it holds only once the whole release is there."""
    last_of_partition = {partition: index for index, (partition, _) in enumerate(records)}
    return [(partition, packed,
             [(FRONTIER_HEADER, frontier)] if frontier is not None and last_of_partition[partition] == index else None)
            for index, (partition, packed) in enumerate(records)]
