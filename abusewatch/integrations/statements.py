"""DSA statements of reasons from the evidence locker's decision records.

One statement per platform action that restricts a recipient (DSA Art. 17), in the shape of the
DSA Transparency Database API (schemas/dsa-statement-of-reasons.v2.json, docs/integration.md):

    hold_for_review   the post is hidden pending review  -> decision_visibility CONTENT_DISABLED
    throttle_author   the author's posting is rate-limited -> decision_provision PARTIAL_SUSPENSION
    limit_replies_to_target  no statement: it restricts nobody's content or account for what they
                      posted (it shields the target from non-followers' replies)

Escalations are cases for humans, not restrictions, and shadow decisions reach no one: neither
gets a statement. A revoke (an appeal overturned the action) becomes a statement of its own, with
its own puid, stating that the restriction ended on the revoke's day: the database takes no
updates of a filed statement, so the correction is filed next to it (docs/integration.md).

Statements carry no personal data: no author or target ids, no post text, not even the rule's
summary (it names the target). puid is the action_id, a hash, never an account id.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Iterator
from typing import Any

import jsonschema_rs

from abusewatch.common import resources
from abusewatch.ingest.contract import parse_time

SCHEMA_FILE = "dsa-statement-of-reasons.v2.json"
BATCH_MAX = 100  # statements per POST /api/v1/statements

# Platform-actions kind -> (the restriction's fields, the field that says when it ends).
RESTRICTIONS: dict[str, tuple[dict[str, Any], str, str]] = {
    "hold_for_review": (
        {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"]},
        "end_date_visibility_restriction",
        "the post was hidden pending human review",
    ),
    "throttle_author": (
        {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"},
        "end_date_service_restriction",
        "the account's posting was rate-limited",
    ),
}

# Policy rule (by its id, else its family: the id's prefix) -> the harm it enforces against, in the
# database's terms.
HARASSMENT = ("STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_CYBER_HARASSMENT"])
CATEGORIES: dict[str, tuple[str, list[str]]] = {
    "pile_on": HARASSMENT,
    "threat": ("STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_CYBER_HARASSMENT", "KEYWORD_CYBER_INCITEMENT"]),
    "doxxing": HARASSMENT,
    "insult": HARASSMENT,
    # Hash-bank matches (docs/media.md): what the bank holds decides the category.
    "media.csam": ("STATEMENT_CATEGORY_PROTECTION_OF_MINORS", ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]),
    "media.ncii": ("STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"]),
    "media.platform_removed": ("STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", []),
}


# Rules whose content is illegal as such, not only against the terms: the legal ground they name.
ILLEGAL_GROUNDS: dict[str, tuple[str, str]] = {
    "media.csam": (
        "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children, as transposed "
        "into national law",
        "The media matched a hash list of known child sexual abuse material.",
    ),
}
# Rules whose content is against the terms and, in many Member States, illegal too.
ALSO_ILLEGAL = frozenset({"media.ncii"})
# A hash signal -> the kind of content it identifies (PDQ hashes images; MD5, as in HMA, videos).
MEDIA_CONTENT_TYPES = {"pdq": "CONTENT_TYPE_IMAGE", "md5": "CONTENT_TYPE_VIDEO"}


def content_types(reasons: dict[str, Any]) -> list[str]:
    """What was restricted: the matched media's kinds for a hash-bank rule, else the post's text."""
    kinds = {MEDIA_CONTENT_TYPES.get(match.get("signal_type"), "CONTENT_TYPE_IMAGE")
             for match in reasons.get("media_matches") or ()}
    return sorted(kinds) or ["CONTENT_TYPE_TEXT"]


@dataclasses.dataclass(frozen=True, slots=True)
class StatementOptions:
    territorial_scope: tuple[str, ...]
    terms_url: str = ""


def restricts(payload: dict[str, Any]) -> bool:
    """Whether a decision record's payload is a sent platform action that needs a statement."""
    message = payload["message"]
    return (payload["topic"] == "platform-actions" and not payload["shadow"]
            and message.get("kind") in RESTRICTIONS)


def _day(timestamp: str) -> str:
    return parse_time(timestamp).date().isoformat()


def statement(payload: dict[str, Any], options: StatementOptions, *, original: dict[str, Any] | None = None) -> dict[str, Any]:
    """The statement for one decision record payload (`restricts(payload)` must hold). For a
    revoke, `original` is the payload of the action it revokes (its dates), when still in the locker."""
    message = payload["message"]
    fields, end_field, effect = RESTRICTIONS[message["kind"]]
    reasons = message["reasons"]
    revoked = message["op"] == "revoke"
    rule_id = reasons.get("original_rule_id", payload["rule_id"]) if revoked else payload["rule_id"]
    category, keywords = CATEGORIES.get(rule_id) or CATEGORIES.get(rule_id.split(".", 1)[0], HARASSMENT)
    coordinated = bool(reasons.get("campaign_id"))
    if coordinated:  # a pile-on: in v2, coordinated harm is a keyword of the violence category
        keywords = [*keywords, "KEYWORD_COORDINATED_HARM"]
    applied = original["message"] if original else message
    body: dict[str, Any] = {
        **fields,
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": f"Terms of service, policy rule {rule_id}"
                                       + (f" (policy version {reasons['policy_version']})" if reasons.get("policy_version") else ""),
        "incompatible_content_explanation": (
            f"Automated harassment detection matched policy rule {rule_id}"
            + (" as part of a coordinated campaign against one account" if coordinated else "")
            + f"; {effect} for {message['duration_s']} seconds."
        ),
        "incompatible_content_illegal": "Yes" if rule_id in ALSO_ILLEGAL else "No",
        "category": category,
        "category_specification": keywords,
        "content_type": content_types(applied["reasons"]),
        "content_date": _day(original["trigger_time"] if original else payload["trigger_time"]),
        "application_date": _day(applied["issued_at"]),
        end_field: _day(message["issued_at"] if revoked else message["expires_at"]),
        "decision_facts": (
            f"Restriction lifted on appeal on {_day(message['issued_at'])}; this corrects the statement with puid "
            f"{message['revokes']}: {effect} until then, no longer."
            if revoked else
            f"Posts were scored by an automated classifier and {rule_id} decided on them without human review; "
            f"{effect} until {_day(message['expires_at'])}. The recipient may appeal."
        ),
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY",
        "territorial_scope": list(options.territorial_scope),
        "puid": message["action_id"],
    }
    if rule_id in ILLEGAL_GROUNDS:
        body["illegal_content_legal_ground"], body["illegal_content_explanation"] = ILLEGAL_GROUNDS[rule_id]
        body["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT"
        for field in ("incompatible_content_ground", "incompatible_content_explanation", "incompatible_content_illegal"):
            body.pop(field)
    if coordinated:
        body["category_addition"] = ["STATEMENT_CATEGORY_VIOLENCE"]
    if options.terms_url:
        body["decision_ground_reference_url"] = options.terms_url
    return body


@functools.cache
def _validator() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(json.loads((resources.schema_dir() / SCHEMA_FILE).read_text()))


class InvalidStatement(ValueError):
    pass


def validate_statement(body: dict[str, Any]) -> None:
    error = next(_validator().iter_errors(body), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "(root)"
        raise InvalidStatement(f"statement {body.get('puid')}: {where}: {error.message}")


def statements(payloads: Iterable[dict[str, Any]], options: StatementOptions,
               originals: dict[str, dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """Validated statements for the decision payloads that need one, in order. `originals` maps
    action_id -> payload for the actions that revokes name (the caller looks them up)."""
    originals = originals or {}
    for payload in payloads:
        if restricts(payload):
            message = payload["message"]
            body = statement(payload, options, original=originals.get(message.get("revokes") or ""))
            validate_statement(body)
            yield body


def batches(items: Iterable[dict[str, Any]], size: int = BATCH_MAX) -> Iterator[dict[str, Any]]:
    """Request bodies for POST /api/v1/statements: {"statements": [...]}, at most `size` each."""
    if not 1 <= size <= BATCH_MAX:
        raise ValueError(f"batch size {size}: the API takes 1 to {BATCH_MAX} statements per request")
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield {"statements": batch}
            batch = []
    if batch:
        yield {"statements": batch}
