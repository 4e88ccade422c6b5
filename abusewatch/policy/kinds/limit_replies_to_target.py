"""limit_replies_to_target: restrict who may reply to the target (e.g. non-followers, new accounts)."""

from __future__ import annotations

from abusewatch.policy.kinds.base import PlatformAction, Subject, Trigger


class LimitRepliesToTarget(PlatformAction):
    name = "limit_replies_to_target"
    inputs = frozenset({"post-scores", "target-alerts"})

    def subjects(self, trigger: Trigger) -> list[Subject]:
        return [Subject("target", target) for target in trigger.targets]  # one limit per target aimed at
