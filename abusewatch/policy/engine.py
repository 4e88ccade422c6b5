"""The decision engine: one post-scores or target-alerts message in, explainable decisions out.

Pure apart from the `Cooldowns` it is handed (which it updates): no I/O, no Kafka. Every decision
carries the rule id, the observed values and thresholds that triggered it, model and policy
versions, evidence post ids, an expiry and a deterministic id, so reprocessing the same input after
a crash yields the same action_id / escalation_id and the platform can drop the duplicate.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from datetime import datetime
from typing import Any

from abusewatch.ingest.contract import parse_time
from abusewatch.policy.kinds import ACTION_KINDS, Trigger
from abusewatch.policy.kinds.base import Decision
from abusewatch.policy.model import ActionSpec, Policy, Rule
from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.language import supported_by_field, unsupported_reason


@dataclasses.dataclass(frozen=True, slots=True)
class Skip:
    """A rule that matched but did not act, and why ("cooldown" or "allowlist: <reason>"), or a
    post rule that could not be judged ("scores unknown: <why>": the post's language is one the
    model does not read, so "below threshold" would mean nothing)."""

    rule_id: str
    kind: str
    subject_id: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Decisions:
    matched_rules: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    skipped: tuple[Skip, ...] = ()


class Cooldowns:
    """When each (rule, kind, subject) last acted, in event-time seconds.

    Bounded: the least recently used entries are dropped beyond `max_entries`; losing one only
    allows an early renewal, whose deterministic id keeps it harmless. Marks made since the last
    `take_marks()` are handed out from there, so the caller can persist them with the decisions
    that made them (the actions service keeps them in the evidence locker and `load`s them at
    startup: a restarted worker does not renew limits early).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._last_acted: OrderedDict[str, float] = OrderedDict()
        self._max_entries = max_entries
        self._marks: dict[str, tuple[float, float]] = {}

    def ready(self, key: str, at: float, cooldown_s: int) -> bool:
        last = self._last_acted.get(key)
        return last is None or at - last >= cooldown_s

    def mark(self, key: str, at: float, cooldown_s: int) -> None:
        self._remember(key, at)
        self._marks[key] = (at, at + cooldown_s)

    def take_marks(self) -> dict[str, tuple[float, float]]:
        """key -> (acted_at, expires_at) for every mark since the last call."""
        marks, self._marks = self._marks, {}
        return marks

    def load(self, last_acted: dict[str, float]) -> None:
        """Remember persisted cooldowns (key -> acted_at), oldest first so the newest are kept."""
        for key, at in sorted(last_acted.items(), key=lambda item: item[1]):
            if key not in self._last_acted or self._last_acted[key] < at:
                self._remember(key, at)

    def _remember(self, key: str, at: float) -> None:
        self._last_acted.pop(key, None)
        self._last_acted[key] = at
        while len(self._last_acted) > self._max_entries:
            self._last_acted.popitem(last=False)

    def __len__(self) -> int:
        return len(self._last_acted)


# ---------------------------------------------------------------------------------------------
# Conditions: each returns (matched, observed values, thresholds) so a verdict explains itself.


def _post_conditions(when: dict[str, Any], scored: dict[str, Any]) -> tuple[bool, dict[str, float], dict[str, float]]:
    scores = scored["scores"]
    observed = {label: float(scores[label]) for label in LABELS}
    thresholds: dict[str, float] = {}
    matched = True
    for label, threshold in (when.get("scores_at_least") or {}).items():
        thresholds[label] = float(threshold)
        matched &= scores[label] >= threshold
    if when.get("doxxing_detected"):
        observed["doxxing_detected"] = 1.0 if scored["doxxing"]["detected"] else 0.0
        thresholds["doxxing_detected"] = 1.0
        matched &= bool(scored["doxxing"]["detected"])
    if when.get("threat_rule_detected"):
        threats = scored.get("threats") or {"detected": False}  # optional: older messages have none
        observed["threat_rule_detected"] = 1.0 if threats["detected"] else 0.0
        thresholds["threat_rule_detected"] = 1.0
        matched &= bool(threats["detected"])
    if when.get("extortion_rule_detected"):
        extortion = scored.get("extortion") or {"detected": False}  # optional: older messages have none
        observed["extortion_rule_detected"] = 1.0 if extortion["detected"] else 0.0
        thresholds["extortion_rule_detected"] = 1.0
        matched &= bool(extortion["detected"])
    if "media_match_bank" in when:
        found = _media_matches(scored, when["media_match_bank"], flooding=_bank_flooding(when))
        observed["media_match_bank"] = 1.0 if found else 0.0
        thresholds["media_match_bank"] = 1.0
        if found:
            observed["media_match_distance"] = float(min(m["distance"] for m in found))
        matched &= bool(found)
    if when.get("media_match_flooding"):
        found = _media_matches(scored, None, flooding=True)
        observed["media_match_flooding"] = 1.0 if found else 0.0
        thresholds["media_match_flooding"] = 1.0
        matched &= bool(found)
    if "has_target" in when:
        matched &= bool(scored["targets"]) == when["has_target"]
    return matched, observed, thresholds


# Conditions that read the model's scores or the threat and extortion rule layers, all English-only:
# on a post in a language the model does not read their "no" is unknown, not a no.
_LANGUAGE_DEPENDENT = ("scores_at_least", "threat_rule_detected", "extortion_rule_detected")


def _unknown_on_language(when: dict[str, Any], scored: dict[str, Any]) -> str | None:
    """Why a post rule that did not match could not be judged, or None when it was: the post's
    language is unsupported, the rule reads scores or the threat layer, and its other conditions
    (has_target, doxxing, media) hold."""
    language = scored.get("language")
    if supported_by_field(language) or not any(when.get(name) for name in _LANGUAGE_DEPENDENT):
        return None
    others, _, _ = _post_conditions({k: v for k, v in when.items() if k not in _LANGUAGE_DEPENDENT}, scored)
    if not others:
        return None
    why = f"scores unknown: {unsupported_reason(language)}"
    layers = [name for name in ("threat", "extortion") if when.get(f"{name}_rule_detected")]
    return why + (f" (the {' and '.join(layers)} rule layer's patterns are English)" if layers else "")


def _media_matches(
    scored: dict[str, Any], banks: list[str] | None, *, flooding: bool | None
) -> list[dict[str, Any]]:
    """The post's media matches in `banks` (every bank: None) whose flooding flag is `flooding`
    (either: None)."""
    matches = (scored.get("media_matches") or {}).get("matches", ())  # optional: older messages have none
    return [m for m in matches
            if (flooding is None or m["flooding"] == flooding) and (banks is None or m["bank"] in banks)]


def _bank_flooding(when: dict[str, Any]) -> bool | None:
    """Which matches a media_match_bank condition takes: unflagged only, or also flooding ones
    where the rule says media_match_even_flooding (a victim's image going viral is still theirs)."""
    return None if when.get("media_match_even_flooding") else False


_ALERT_MINIMA = {
    "min_distinct_authors": ("distinct_authors", lambda a: a["distinct_authors"]),
    "min_abusive_posts": ("abusive_posts", lambda a: a["counts"]["abusive_posts"]),
    "min_zscore": ("zscore", lambda a: (a.get("baseline") or {}).get("zscore", 0.0)),
    "min_non_follower_share": ("non_follower_share", lambda a: a["non_follower_share"]),
    "min_new_account_share": ("new_account_share", lambda a: a["new_account_share"]),
}


def _alert_conditions(when: dict[str, Any], alert: dict[str, Any]) -> tuple[bool, dict[str, float], dict[str, float]]:
    observed = {name: float(value(alert)) for name, value in _ALERT_MINIMA.values()}
    thresholds: dict[str, float] = {}
    matched = alert["status"] in when.get("status_in", (alert["status"],))
    for condition, (name, value) in _ALERT_MINIMA.items():
        if condition in when:
            thresholds[name] = float(when[condition])
            matched &= value(alert) >= when[condition]
    return matched, observed, thresholds


def _summary(rule: Rule, observed: dict[str, float], thresholds: dict[str, float],
             media: list[dict[str, Any]] | None = None) -> str:
    met = ", ".join(f"{name} {observed.get(name, 0.0):.3f} >= {limit:g}" for name, limit in thresholds.items()
                    if not name.startswith("media_match"))
    if media:  # which bank, how close, which hash: what a reviewer checks first
        met = "; ".join(filter(None, [met, *(f"{m['signal_type']} match in bank {m['bank']} at distance "
                                             f"{m['distance']} (hash {m['hash']}, bank entry {m['entry_id'] or m['bank_hash']})"
                                             + (" [flooding]" if m["flooding"] else "") for m in media)]))
    return f"{rule.id}: {met}" if met else f"{rule.id}: {rule.description or 'matched'}"


# ---------------------------------------------------------------------------------------------
# Acting: each action kind (abusewatch.policy.kinds) names its subjects and builds its message.


def _gate(
    cooldowns: Cooldowns, trigger: Trigger, spec: ActionSpec, subject_id: str, skipped: list[Skip]
) -> bool:
    """Cooldown check-and-mark for one (rule, kind, subject); records a Skip when cooling down."""
    if spec.cooldown_s == 0:
        return True  # acts on every input, even one that arrives out of event-time order
    key = f"{trigger.rule.id}|{spec.kind}|{subject_id}"
    at = trigger.event_time.timestamp()
    if not cooldowns.ready(key, at, spec.cooldown_s):
        skipped.append(Skip(trigger.rule.id, spec.kind, subject_id, "cooldown"))
        return False
    cooldowns.mark(key, at, spec.cooldown_s)
    return True


def _act(trigger: Trigger, cooldowns: Cooldowns, skipped: list[Skip]) -> list[Decision]:
    """Every decision the matched rule's actions take, each subject after its cooldown."""
    decisions: list[Decision] = []
    for spec in trigger.rule.actions:
        kind = ACTION_KINDS[spec.kind]
        refusal = kind.refusal(trigger)
        if refusal is not None:
            skipped.append(Skip(trigger.rule.id, spec.kind, trigger.context_id, refusal))
            continue
        for subject in kind.subjects(trigger):
            if _gate(cooldowns, trigger, spec, subject.id, skipped):
                decisions.append(kind.build(trigger, spec, subject))
    return decisions


# ---------------------------------------------------------------------------------------------
# The two entry points.


def decide_post(scored: dict[str, Any], *, policy: Policy, cooldowns: Cooldowns, now: datetime) -> Decisions:
    """Decisions for one validated post-scores message (threat, doxxing and other post rules)."""
    post_id, author_id, targets = scored["post_id"], scored["author_id"], list(scored["targets"])
    event_time = parse_time(scored["post"]["created_at"])
    matched_rules: list[str] = []
    decisions: list[Decision] = []
    skipped: list[Skip] = []
    for rule in policy.rules_for("post-scores"):
        matched, observed, thresholds = _post_conditions(rule.when, scored)
        if not matched:
            unknown = _unknown_on_language(rule.when, scored)
            if unknown is not None:
                skipped += [Skip(rule.id, spec.kind, post_id, unknown) for spec in rule.actions]
            continue
        matched_rules.append(rule.id)
        if author_id in policy.allowlisted_authors:
            reason = f"allowlist: {policy.allowlisted_authors[author_id]}"
            skipped += [Skip(rule.id, spec.kind, author_id, reason) for spec in rule.actions]
            continue
        reasons = {
            "rule_id": rule.id,
            "summary": _summary(rule, observed, thresholds),
            "scores": observed,
            "thresholds": thresholds,
            "model": dict(scored["model"]),
            "policy_version": policy.version,
            "campaign_id": None,
            "alert_id": None,
            "post_id": post_id,
            "doxxing_kinds": list(scored["doxxing"]["kinds"]),
            "threat_kinds": list((scored.get("threats") or {}).get("kinds", [])),
            "extortion_kinds": list((scored.get("extortion") or {}).get("kinds", [])),
        }
        media = _rule_media(rule.when, scored)
        if media:
            # Evidence of a media match is its hashes, bank and distance: the media itself is never sent.
            reasons["media_matches"] = media
            reasons["summary"] = _summary(rule, observed, thresholds, media)
        trigger = Trigger(rule, policy, "post-scores", reasons, event_time, now, [post_id],
                          post_id=post_id, author_id=author_id, targets=tuple(targets))
        decisions += _act(trigger, cooldowns, skipped)
    return Decisions(tuple(matched_rules), tuple(decisions), tuple(skipped))


def _rule_media(when: dict[str, Any], scored: dict[str, Any]) -> list[dict[str, Any]]:
    """The media matches a post rule's conditions looked at (for its reasons)."""
    found = []
    if "media_match_bank" in when:
        found += _media_matches(scored, when["media_match_bank"], flooding=_bank_flooding(when))
    if when.get("media_match_flooding"):
        found += _media_matches(scored, None, flooding=True)
    return found


def _alert_model(alert: dict[str, Any]) -> dict[str, str]:
    if alert.get("model"):
        return dict(alert["model"])
    return {"name": "pile-on-detector", "version": alert.get("detector_version") or "unknown"}


def decide_alert(alert: dict[str, Any], *, policy: Policy, cooldowns: Cooldowns, now: datetime) -> Decisions:
    """Decisions for one validated target-alerts message (pile-on rules)."""
    target_id, campaign_id = alert["target_id"], alert["campaign_id"]
    event_time = parse_time(alert.get("event_time") or alert["detected_at"])
    matched_rules: list[str] = []
    decisions: list[Decision] = []
    skipped: list[Skip] = []
    for rule in policy.rules_for("target-alerts"):
        matched, observed, thresholds = _alert_conditions(rule.when, alert)
        if not matched:
            continue
        matched_rules.append(rule.id)
        reasons = {
            "rule_id": rule.id,
            "summary": _summary(rule, observed, thresholds),
            "scores": observed,
            "thresholds": thresholds,
            "model": _alert_model(alert),
            "policy_version": policy.version,
            "campaign_id": campaign_id,
            "alert_id": alert["alert_id"],
            "alert_status": alert["status"],
            "detector_version": alert.get("detector_version"),
        }
        trigger = Trigger(rule, policy, "target-alerts", reasons, event_time, now, list(alert["top_post_ids"]),
                          targets=(target_id,), campaign_id=campaign_id)
        decisions += _act(trigger, cooldowns, skipped)
    return Decisions(tuple(matched_rules), tuple(decisions), tuple(skipped))
