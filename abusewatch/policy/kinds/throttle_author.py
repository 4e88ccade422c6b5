"""throttle_author: slow down the author of the post that matched."""

from __future__ import annotations

from abusewatch.policy.kinds.base import PlatformAction, Subject, Trigger


class ThrottleAuthor(PlatformAction):
    name = "throttle_author"
    inputs = frozenset({"post-scores"})

    def subjects(self, trigger: Trigger) -> list[Subject]:
        assert trigger.author_id is not None  # post rules only (inputs)
        return [Subject("author", trigger.author_id)]
