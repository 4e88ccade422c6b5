"""Packing re-keyed copies per partition for the detector's internal topic."""

from __future__ import annotations

import orjson
import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from abusewatch.detection.features import fan_out
from abusewatch.detection.rekey import (
    copies_to_pack,
    decode_frontier,
    encode_frontier,
    pack,
    partition_for,
    unpack,
    with_frontier,
)


def message(post_id: str, targets: list[str], text: str = "hello") -> dict:
    return {"post_id": post_id, "targets": targets, "post": {"post_id": post_id, "text": text,
                                                             "author_follows_target": True}}


@pytest.mark.parametrize("partitions", [1, 4, 12])
def test_partition_matches_kafka_default_partitioner(partitions: int) -> None:
    # kafka-python's partitioner is an independent implementation of the Java client's default.
    for target in ["t1", "t2", "journalist_42", "ünïcode", "x" * 300]:
        expected = (kafka_python_murmur2(target.encode()) & 0x7FFFFFFF) % partitions
        assert partition_for(target, partitions) == expected


def test_every_target_copy_lands_once_on_its_partition_in_order() -> None:
    messages = [message(f"p{i}", [f"t{i % 7}", f"t{(i + 3) % 7}"]) for i in range(50)]
    copies = [copy for m in messages for copy in fan_out(m)]
    records = pack(copies, partitions=4, max_record_bytes=1 << 20)
    assert len(records) == len({p for p, _ in records})  # one record per partition when it fits
    seen = []
    for partition, record in records:
        for line, traceparent in unpack(record):
            assert traceparent is None
            copy = orjson.loads(line)
            [target] = copy["targets"]
            assert partition_for(target, 4) == partition
            seen.append((target, copy["post_id"]))
    assert sorted(seen) == sorted((t, m["post_id"]) for m in messages for t in m["targets"])
    for target in {t for t, _ in seen}:  # a target's posts keep their stream order
        order = [int(post_id[1:]) for t, post_id in seen if t == target]
        assert order == sorted(order)


def test_records_are_split_at_the_byte_limit_and_an_oversized_copy_goes_alone() -> None:
    copies = [copy for i in range(40) for copy in fan_out(message(f"p{i}", ["same-target"], "x" * 100))]
    copies += fan_out(message("big", ["same-target"], "y" * 5000))
    records = pack(copies, partitions=3, max_record_bytes=1000)
    assert len(records) > 5
    assert all(len(record) <= 1000 for _, record in records[:-1])
    assert orjson.loads(unpack(records[-1][1])[0][0])["post_id"] == "big"
    assert sum(len(unpack(record)) for _, record in records) == 41


def test_a_single_target_post_is_packed_as_the_bytes_it_came_as() -> None:
    single = message("p1", ["t1"], "key order and spacing as the producer wrote them")
    raw = b'{ "targets": ["t1"], ' + orjson.dumps(single)[1:]  # not what orjson would write
    [(target, copy)] = copies_to_pack(single, raw, max_targets=20)
    assert (target, copy) == ("t1", raw)
    [(_, record)] = pack([(target, copy)], partitions=4, max_record_bytes=1 << 20)
    assert unpack(record) == [(raw, None)]


@pytest.mark.parametrize("separator", [b"\n", b"\t"])
def test_bytes_holding_a_separator_are_encoded_again(separator: bytes) -> None:
    single = message("p1", ["t1"])
    raw = orjson.dumps(single, option=orjson.OPT_INDENT_2).replace(b"\n", separator)  # whitespace between tokens
    [(target, copy)] = copies_to_pack(single, raw, max_targets=20)
    assert target == "t1" and copy == single
    [(_, record)] = pack([(target, copy)], partitions=1, max_record_bytes=1 << 20)
    [(line, _)] = unpack(record)
    assert orjson.loads(line) == single


def test_a_post_with_several_targets_is_fanned_out() -> None:
    several = message("p1", ["t1", "t2", "t3"])
    assert copies_to_pack(several, orjson.dumps(several), max_targets=2) == fan_out(several, 2)


def test_each_copy_keeps_the_traceparent_of_its_post() -> None:
    messages = [message(f"p{i}", [f"t{i % 3}", "shared"]) for i in range(9)]
    copies, traceparents = [], []
    for i, m in enumerate(messages):
        for copy in fan_out(m):
            copies.append(copy)
            traceparents.append(None if i == 4 else f"00-{i:032x}-{i + 1:016x}-01".encode())
    seen = {}
    for _, record in pack(copies, partitions=4, max_record_bytes=1 << 20, traceparents=traceparents):
        for line, traceparent in unpack(record):
            copy = orjson.loads(line)  # the JSON alone: the detector validates it as post-scores
            seen[(copy["post_id"], copy["targets"][0])] = traceparent
    assert len(seen) == len(copies)
    for (post_id, _), traceparent in seen.items():
        i = int(post_id[1:])
        assert traceparent == (None if i == 4 else f"00-{i:032x}-{i + 1:016x}-01".encode())


def test_released_posts_out_of_offset_order_commit_past_the_highest_offset():
    # Event-time release may put a partition's offset 1 (older post) before its offset 0: the
    # offset to commit is past both, never the last one seen.
    from abusewatch.detection.rekey import collect_released

    released = [(12.0, 0, (1, [("t1", {"post_id": "b"})], b"tp-b")), (20.0, 1, (4, [], None)),
                (30.0, 0, (0, [("t1", {"post_id": "a"}), ("t2", {"post_id": "a"})], b"tp-a"))]
    copies, traceparents, next_offsets = collect_released(released, traced=True)
    assert [copy["post_id"] for _, copy in copies] == ["b", "a", "a"]
    assert traceparents == [b"tp-b", b"tp-a", b"tp-a"]
    assert next_offsets == {0: 2, 1: 5}
    assert collect_released(released, traced=False)[1] is None


def test_frontier_header_round_trips_and_garbage_is_not_a_frontier():
    assert decode_frontier(encode_frontier(8, {3, 1}, 1_700_000_000.5)) == (8, [1, 3], 1_700_000_000.5)
    for value in (b"", b"not json", b"[]", b'{"sources": 8}', b'{"sources": "8", "partitions": [1], "complete_to": 1}',
                  b'{"sources": 8, "partitions": ["1"], "complete_to": 1}',
                  b'{"sources": 8, "partitions": [1], "complete_to": null}',
                  b'{"sources": 8, "partitions": [8], "complete_to": 1}',  # not one of the 8
                  b'{"sources": 0, "partitions": [], "complete_to": 1}',
                  b'{"sources": 9223372036854775807, "partitions": [1], "complete_to": 1}'):  # would stall the loop
        assert decode_frontier(value) is None, value
    assert decode_frontier(encode_frontier(8, [1], 2_000.0), not_after=1_000.0) is None  # from the future
    assert decode_frontier(encode_frontier(8, [1], 900.0), not_after=1_000.0) == (8, [1], 900.0)


def test_the_frontier_goes_on_the_last_record_of_each_partition_only():
    records = [(0, b"a"), (1, b"b"), (0, b"c"), (2, b"d")]
    headers = [(partition, packed, h is not None) for partition, packed, h in with_frontier(records, b"F")]
    assert headers == [(0, b"a", False), (1, b"b", True), (0, b"c", True), (2, b"d", True)]
    assert all(h is None for _, _, h in with_frontier(records, None))
