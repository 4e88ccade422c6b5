"""Event-time order for catching up (abusewatch.detection.watermark) and a detector following the
event time of partitions it does not see (PileOnDetector.follow)."""

from __future__ import annotations

import math
import random

from abusewatch.detection.watermark import EventTimeMerge, PartitionClock, SourceFrontier


def test_clock_low_is_the_least_partition_with_unread_posts():
    clock = PartitionClock(idle_s=10)
    clock.track(["a", "b"], now=0)
    assert clock.low(now=0) == -math.inf  # nothing delivered yet: nothing is complete
    clock.delivered("a", 100.0, now=1)
    clock.delivered("b", 40.0, now=1)
    assert clock.low(now=1) == 40.0
    clock.set_unread("b", False)  # caught up: its later posts are new traffic
    assert clock.low(now=1) == 100.0 and not clock.unread("b") and clock.unread("a")
    clock.set_unread("a", False)
    assert clock.low(now=1) == math.inf


def test_clock_idle_partition_stops_holding_the_others_back():
    clock = PartitionClock(idle_s=10)
    clock.track(["a", "b"], now=0)
    clock.delivered("a", 100.0, now=5)
    assert clock.low(now=9) == -math.inf  # b reports unread posts and has delivered none
    assert clock.low(now=10.5) == 100.0  # b assigned 10 s ago without a delivery
    clock.track(["a"], now=11)  # b revoked
    assert clock.low(now=11) == 100.0


def test_merge_releases_in_event_time_order_only_what_no_partition_can_still_precede():
    merge: EventTimeMerge[str] = EventTimeMerge(idle_s=10)
    merge.clock.track([0, 1], now=0)
    merge.add(0, [(10.0, "a10"), (20.0, "a20"), (30.0, "a30")], now=0)
    assert merge.release(now=0) == []  # partition 1 has delivered nothing and may hold older posts
    merge.add(1, [(5.0, "b5"), (15.0, "b15")], now=0)
    assert [item for _, _, item in merge.release(now=0)] == ["b5", "a10", "b15"]
    assert merge.pending(0) == 2 and merge.pending(1) == 0
    merge.clock.set_unread(1, False)  # partition 1 caught up: the rest may go
    assert [(p, item) for _, p, item in merge.release(now=0)] == [(0, "a20"), (0, "a30")]


def test_merge_is_complete_up_to_the_bound_and_never_past_what_it_released():
    merge: EventTimeMerge[str] = EventTimeMerge(idle_s=10)
    merge.clock.track([0, 1], now=0)
    merge.add(0, [(10.0, "a10"), (20.0, "a20")], now=0)
    merge.release(now=0)
    assert merge.complete_to == -math.inf  # partition 1 may still hold anything
    merge.add(1, [(15.0, "b15")], now=0)
    merge.release(now=0)
    assert merge.complete_to == 15.0  # a20 waits: partition 1 may still deliver 16..20
    merge.clock.set_unread(0, False)
    merge.clock.set_unread(1, False)
    merge.release(now=0)
    assert merge.complete_to == 20.0  # all caught up: complete up to the newest released, not inf


def test_merge_is_never_complete_past_an_item_held_behind_a_newer_one():
    merge: EventTimeMerge[str] = EventTimeMerge(idle_s=10)
    merge.clock.track([0, 1], now=0)
    merge.add(0, [(30.0, "a30"), (10.0, "a10")], now=0)  # out of order within its partition
    merge.add(1, [(20.0, "b20")], now=0)
    assert [item for _, _, item in merge.release(now=0)] == ["b20"]
    assert merge.complete_to == 10.0  # a10 waits behind a30


def test_merge_knows_what_it_holds_as_a_scan_of_every_pending_item_would():
    # complete_to takes the oldest held item from per-partition running minima; a scan of every
    # pending item (the simple definition) must agree through random adds, releases and revokes.
    rng = random.Random(7)
    merge: EventTimeMerge[int] = EventTimeMerge(idle_s=1e9)
    partitions = [0, 1, 2]
    merge.clock.track(partitions, now=0)
    pending: dict[int, list[float]] = {p: [] for p in partitions}
    released_newest = -math.inf
    for step in range(3000):
        partition = rng.choice(partitions)
        if rng.random() < 0.6:
            times = [rng.choice((None, rng.uniform(0, 1000))) for _ in range(rng.randint(1, 5))]
            merge.add(partition, [(ts, step) for ts in times], now=0)
            for ts in times:  # a missing time takes its predecessor's
                pending[partition].append(pending[partition][-1] if ts is None and pending[partition]
                                          else -math.inf if ts is None else ts)
        elif rng.random() < 0.05:
            merge.drop([partition])
            merge.clock.track(partitions, now=0)
            pending[partition] = []
            continue
        else:
            merge.clock.set_unread(partition, rng.random() < 0.7)
        bound = merge.clock.low(0)
        out = merge.release(now=0)
        for p in partitions:
            while pending[p] and pending[p][0] <= bound:
                pending[p].pop(0)
        if out:
            released_newest = max(released_newest, out[-1][0])
        held = min((ts for times in pending.values() for ts in times), default=math.inf)
        assert [merge.pending(p) for p in partitions] == [len(pending[p]) for p in partitions]
        assert merge.complete_to == min(bound, released_newest, held)


def test_a_revoked_partition_given_back_holds_the_merge_until_it_delivers_again():
    merge: EventTimeMerge[str] = EventTimeMerge(idle_s=10)
    merge.clock.track([1, 2], now=0)
    merge.add(1, [(100.0, "a100")], now=0)
    merge.add(2, [(150.0, "b150")], now=0)
    merge.release(now=0)
    assert merge.complete_to == 100.0 and merge.pending(2) == 1
    merge.drop([1, 2])  # a rebalance revokes everything: b150 is dropped, to be re-read
    assert merge.complete_to == -math.inf
    merge.release(now=1)  # released before the new assignment is tracked: still no claim
    assert merge.complete_to == -math.inf
    merge.clock.track([1, 2], now=1)  # and gives both back
    merge.add(1, [(130.0, "a130")], now=1)
    merge.release(now=1)
    assert merge.complete_to <= 100.0  # not 130: partition 2 has sent only up to 100 (here: no claim at all)


def test_source_frontier_is_the_least_source_partition_and_waits_for_all_to_report():
    frontier = SourceFrontier()
    assert frontier.complete_to() == -math.inf
    frontier.update(3, [0, 1], 100.0)  # one rekeyer owns 0 and 1 of 3
    assert frontier.complete_to() == -math.inf  # partition 2 has not reported
    frontier.update(3, [2], 80.0)  # another owns 2
    assert frontier.complete_to() == 80.0
    frontier.update(3, [2], 50.0)  # a new owner after a rebalance starts further back
    assert frontier.complete_to() == 80.0
    frontier.update(3, [2], 120.0)
    assert frontier.complete_to() == 100.0
    frontier.update(3, [7], 500.0)  # not a partition of the source topic: ignored
    assert frontier.complete_to() == 100.0


def test_merge_keeps_partition_order_and_lets_undecodable_items_through():
    merge: EventTimeMerge[str] = EventTimeMerge(idle_s=10)
    merge.clock.track([0, 1], now=0)
    # An out-of-order item stays behind its predecessor (offsets are committed per partition);
    # one without an event time travels with its predecessor.
    merge.add(0, [(10.0, "a10"), (None, "bad"), (30.0, "a30"), (12.0, "a12")], now=0)
    merge.add(1, [(20.0, "b20")], now=0)
    assert [item for _, _, item in merge.release(now=0)] == ["a10", "bad", "b20"]
    merge.drop([0])  # revoked: its pending items are re-read by the new owner
    assert merge.pending(0) == 0


def test_merge_of_unevenly_read_partitions_restores_the_stream_order():
    rng = random.Random(3)
    stream = [(float(t), f"p{t}") for t in range(2000)]
    partitions = {p: [item for i, item in enumerate(stream) if i % 4 == p] for p in range(4)}
    merge: EventTimeMerge[str] = EventTimeMerge(idle_s=10)
    merge.clock.track(range(4), now=0)
    out = []
    while any(partitions.values()):
        p = rng.choice([p for p in partitions if partitions[p]])  # read one partition far ahead
        size = rng.randint(1, 200)
        take, partitions[p] = partitions[p][:size], partitions[p][size:]
        merge.add(p, take, now=0)
        merge.clock.set_unread(p, bool(partitions[p]))
        out.extend(item for _, _, item in merge.release(now=0))
    assert out == [item for _, item in stream]



def test_a_detector_following_the_others_event_time_alerts_as_one_detector_seeing_everything():
    # The service runs one detector per re-keyed partition; a partition with nothing unread follows
    # the event time of the others. The victim's campaign must cool, then close, with the same ids
    # as when one detector sees the other target's traffic itself.
    from tests.unit.detection.test_detector import Stream, detector, pile_on, run

    stream = Stream()
    attack = pile_on(stream, posts=60, authors=30, spacing_s=2.0)
    elsewhere = [stream.post("elsewhere", f"o{i}", 130 + i * 30.0, abusive=False) for i in range(200)]
    one = detector()
    expected = [a for a in run(one, attack + elsewhere) if a["target_id"] == "victim"]

    victim_only, other = detector(), detector()
    alerts = run(victim_only, attack)
    for message in elsewhere:
        other.process(message)
        alerts.extend(victim_only.follow(other.watermark))
    assert [a["status"] for a in expected][-2:] == ["cooling", "closed"]
    assert [(a["alert_id"], a["status"]) for a in alerts] == [(a["alert_id"], a["status"]) for a in expected]
    assert victim_only.follow(-math.inf) == [] and victim_only.follow(other.watermark) == []


def test_following_a_jump_still_cools_before_closing():
    from tests.unit.detection.test_detector import Stream, detector, pile_on, run

    stream = Stream()
    det = detector()
    run(det, pile_on(stream, posts=60, authors=30, spacing_s=2.0))
    statuses = [a["status"] for a in det.follow(det.watermark + 3 * 3600)]  # one take spanning hours
    assert statuses == ["cooling", "closed"]


def _counting_advances(det):
    calls = []
    advance = det.advance

    def counted(watermark):
        calls.append(watermark)
        return advance(watermark)

    det.advance = counted
    return calls


def test_following_from_an_ancient_post_jumps_instead_of_stepping_every_bucket():
    # A valid post dated long ago on a quiet partition: stepping 10 s buckets to today would be a
    # sweep per bucket (from 1970, ~2e8: the service's loop stalled for minutes). 30 days here, so
    # that stepping shows as a count rather than a hang.
    from tests.unit.detection.test_detector import T0, Stream, detector

    stream = Stream()
    det = detector()
    det.process(stream.post("someone", "a1", -30 * 86_400, abusive=False))
    advances = _counting_advances(det)
    assert det.follow(T0.timestamp()) == []
    assert len(advances) == 1 and advances[0] == T0.timestamp()
    assert det.stats.expired_targets == 1  # what stepping would have expired, at once


def test_following_from_an_ancient_campaign_steps_only_until_it_closes():
    from tests.unit.detection.test_detector import T0, Stream, detector, pile_on

    stream = Stream()
    det = detector()
    alerts = []
    for message in pile_on(stream, posts=60, authors=30, spacing_s=2.0, start_s=-30 * 86_400):
        alerts.extend(det.process(message))
    assert [a["status"] for a in alerts][:1] == ["opened"]
    advances = _counting_advances(det)
    statuses = [a["status"] for a in det.follow(T0.timestamp())]
    assert statuses == ["cooling", "closed"]
    settings = det.settings
    # A bucket at a time until the campaign closes (the close delay after its last post), then one jump.
    assert len(advances) <= (settings.close_after_s + 1_000) / settings.bucket_s
    assert advances[-1] == T0.timestamp()
