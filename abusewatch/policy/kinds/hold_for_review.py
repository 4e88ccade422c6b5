"""hold_for_review: hide the post that matched until a reviewer has seen it."""

from __future__ import annotations

from abusewatch.policy.kinds.base import PlatformAction, Subject, Trigger


class HoldForReview(PlatformAction):
    name = "hold_for_review"
    inputs = frozenset({"post-scores"})

    def subjects(self, trigger: Trigger) -> list[Subject]:
        assert trigger.post_id is not None  # post rules only (inputs)
        return [Subject("post", trigger.post_id)]
