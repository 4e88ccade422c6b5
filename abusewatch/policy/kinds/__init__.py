"""Action kinds, one class per kind (Osprey style): which subjects a rule's action applies to and
the message it builds. A new kind is one module here, its entry in ACTION_KINDS and its name in
schemas/policy.v1.json (tests/unit/policy/test_kinds.py checks that the two agree)."""

from __future__ import annotations

from abusewatch.policy.kinds.base import ActionKind, Subject, Trigger, decision_id
from abusewatch.policy.kinds.escalate import Escalate
from abusewatch.policy.kinds.hold_for_review import HoldForReview
from abusewatch.policy.kinds.limit_replies_to_target import LimitRepliesToTarget
from abusewatch.policy.kinds.throttle_author import ThrottleAuthor

ACTION_KINDS: dict[str, ActionKind] = {
    kind.name: kind for kind in (LimitRepliesToTarget(), ThrottleAuthor(), HoldForReview(), Escalate())
}

__all__ = ["ACTION_KINDS", "ActionKind", "Subject", "Trigger", "decision_id"]
