"""Policy as data: rules loaded from YAML (schemas/policy.v1.json) and a pure decision engine.

Nothing here imports Kafka or Faust: `decide_post` and `decide_alert` turn one input message into
explainable decisions, given the policy, the cooldown state and the clock, so the same code runs in
the actions service, in replays and in unit tests.
"""

from abusewatch.policy.engine import Cooldowns, Decision, Decisions, Skip, decide_alert, decide_post
from abusewatch.policy.model import Policy, PolicyError, load_policy, parse_policy
from abusewatch.policy.source import PolicyFile

__all__ = [
    "Cooldowns",
    "Decision",
    "Decisions",
    "Policy",
    "PolicyError",
    "PolicyFile",
    "Skip",
    "decide_alert",
    "decide_post",
    "load_policy",
    "parse_policy",
]
