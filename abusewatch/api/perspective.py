"""Perspective API compatibility: `comments:analyze` requests in, Perspective-shaped scores out.

The request and response follow Google's Perspective API (commentanalyzer v1alpha1,
AnalyzeComment), so existing Perspective clients work by changing the base URL. Scores come from
our classifier through a `Scorer` (the shared inference engine, which batches concurrent
requests). docs/api.md lists the attribute mapping and what is accepted but ignored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from abusewatch.api.errors import ApiError, RetryLater, invalid_argument
from abusewatch.evidence import EvidenceStore
from abusewatch.evidence.records import suggestion_record
from abusewatch.evidence.store import EvidenceUnavailable
from abusewatch.ingest.contract import format_time, utcnow
from abusewatch.scoring.inference import NotStarted, Overloaded
from abusewatch.scoring.language import LanguageIdentifier, LanguageSettings

SCORE_TYPE = "PROBABILITY"

LabelScores = Mapping[str, float]


def _severe_toxicity(scores: LabelScores) -> float:
    # Perspective's SEVERE_TOXICITY is "very hateful, aggressive" and much less sensitive to
    # profanity alone. Our closest reading: toxic AND one of the severe labels. The product keeps
    # it <= TOXICITY (severe toxicity is a kind of toxicity) and leaves out `obscene`, so swearing
    # without an attack, threat or harassment stays low.
    severe = max(scores["threat"], scores["identity_attack"], scores["insult"], scores["sexual_harassment"])
    return scores["toxicity"] * severe


# Perspective attribute -> how to compute it from our labels (abusewatch.scoring.labels.LABELS).
ATTRIBUTES: dict[str, Callable[[LabelScores], float]] = {
    "TOXICITY": lambda scores: scores["toxicity"],
    "SEVERE_TOXICITY": _severe_toxicity,
    "IDENTITY_ATTACK": lambda scores: scores["identity_attack"],
    "INSULT": lambda scores: scores["insult"],
    "THREAT": lambda scores: scores["threat"],
    "PROFANITY": lambda scores: scores["obscene"],
    "SEXUALLY_EXPLICIT": lambda scores: scores["sexual_harassment"],
}

# Top-level request fields Perspective defines. Google APIs reject unknown fields, and so do we:
# a typo ("requestedAttribute") should fail loudly, not silently score nothing.
_REQUEST_FIELDS = frozenset(
    {
        "comment",
        "context",
        "requestedAttributes",
        "languages",
        "doNotStore",
        "clientToken",
        "sessionId",
        "communityId",
        "spanAnnotations",
    }
)
_ATTRIBUTE_FIELDS = frozenset({"scoreType", "scoreThreshold"})

# A sentence: from a non-space character up to and including its closing punctuation, or to the
# end of the line. Perspective scores spans "currently at per-sentence level".
_SENTENCE = re.compile(r"[^\s.!?][^.!?\n]*[.!?]*")


class Scorer(Protocol):
    """What the API needs from the inference engine (abusewatch.scoring.inference.InferenceEngine)."""

    @property
    def ready(self) -> bool: ...

    @property
    def model_info(self) -> dict[str, str]: ...

    @property
    def languages(self) -> tuple[str, ...]: ...  # what the model reads (its artifact's `languages`)

    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[dict[str, float]]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class RequestedAttribute:
    name: str
    score_threshold: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    """A validated AnalyzeComment request."""

    text: str
    attributes: tuple[RequestedAttribute, ...]
    languages: tuple[str, ...]  # as requested, lower-cased; empty when the client left it out
    span_annotations: bool
    client_token: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class TextSpan:
    """A part of the comment: Python indices for slicing, UTF-16 offsets for the response."""

    start: int
    end: int
    begin_utf16: int
    end_utf16: int


def _expect(value: Any, kind: type | tuple[type, ...], where: str, description: str) -> Any:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise invalid_argument(f"Invalid value at '{where}': expected {description}")
    return value


def parse_analyze_request(body: Any, *, max_comment_bytes: int) -> AnalyzeRequest:
    """Validate an AnalyzeComment request body; ApiError(400) names the first problem."""
    _expect(body, dict, "(root)", "a JSON object")
    for name in body:
        if name not in _REQUEST_FIELDS:
            raise invalid_argument(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    text = _comment_text(body, max_comment_bytes)

    requested = _expect(body.get("requestedAttributes"), dict, "requested_attributes", "a map of attribute names")
    if not requested:
        raise invalid_argument("Must request at least one attribute.")
    attributes = tuple(_requested_attribute(name, options) for name, options in requested.items())

    languages = _languages(body)
    _expect(body.get("doNotStore", False), bool, "do_not_store", "a boolean")
    span_annotations = _expect(body.get("spanAnnotations", False), bool, "span_annotations", "a boolean")
    return AnalyzeRequest(text, attributes, languages, span_annotations, _optional_string(body, "clientToken", "client_token"))


def _comment_text(body: dict[str, Any], max_comment_bytes: int) -> str:
    comment = _expect(body.get("comment"), dict, "comment", "an object with a 'text' field")
    text = _expect(comment.get("text"), str, "comment.text", "a string")
    if not text.strip():
        raise invalid_argument("Comment must be non-empty.")
    size = len(text.encode("utf-8"))
    if size > max_comment_bytes:
        raise invalid_argument(f"Comment text is {size} bytes; the limit is {max_comment_bytes} bytes.")
    comment_type = comment.get("type", "PLAIN_TEXT")
    if comment_type != "PLAIN_TEXT":
        raise invalid_argument(f"Invalid value at 'comment.type': only PLAIN_TEXT is supported, got {comment_type!r}")
    return text


def _languages(body: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        _expect(language, str, "languages", "a list of language codes").lower()
        for language in _expect(body.get("languages", []), list, "languages", "a list of language codes")
    )


class LanguageNotSupported(ApiError):
    """Perspective's LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE: a 400 whose details name the attribute, the
    requested and the detected languages, so clients that handle Perspective's error handle ours."""

    def __init__(self, attribute: str, unsupported: Sequence[str], requested: Sequence[str], detected: Sequence[str]):
        # The wording Perspective itself uses for this case.
        super().__init__(400, f"Attribute {attribute} does not support request languages: {','.join(unsupported)}")
        self.details = {
            "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
            "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
            "languageNotSupportedByAttributeError": {
                "detectedLanguages": list(detected),
                "requestedLanguages": list(requested),
                "attribute": attribute,
            },
        }

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["details"] = [self.details]
        return body


def comment_languages(
    text: str, requested: Sequence[str], attribute: str, languages: LanguageIdentifier
) -> tuple[list[str], list[str]]:
    """(languages the comment is scored as, detected languages), or LanguageNotSupported. Requested
    languages are the client's word (as at Perspective) and must all be ones the model reads; without
    them the detected language must be (abusewatch.scoring.language decides it as for posts)."""
    detected = [languages.identify(text).code]
    if requested:
        unsupported = [code for code in requested if code not in languages.supported]
    else:
        unsupported = [code for code in detected if code not in languages.supported]
    if unsupported:
        raise LanguageNotSupported(attribute, unsupported, requested, detected)
    return list(requested or detected), detected


def _optional_string(body: dict[str, Any], field: str, where: str) -> str | None:
    value = body.get(field)
    if value is not None:
        _expect(value, str, where, "a string")
    return value


# -- SuggestCommentScore (comments:suggestscore) ---------------------------------------------------

_SUGGEST_FIELDS = frozenset({"comment", "context", "attributeScores", "languages", "communityId", "clientToken"})
_SCORE_FIELDS = frozenset({"summaryScore", "spanScores"})


@dataclasses.dataclass(frozen=True, slots=True)
class SuggestRequest:
    """A validated SuggestCommentScore request: the client's own scores for a comment."""

    text: str
    attribute_scores: dict[str, float]  # attribute -> suggested summary score, 0..1
    languages: tuple[str, ...]
    community_id: str | None
    client_token: str | None
    context: Any  # Perspective's context entries, kept as sent (an annotator's view of the thread)

    def label(self) -> dict[str, Any]:
        """What the evidence locker keeps (abusewatch.evidence.records.suggestion_record)."""
        return {
            "text": self.text,
            "attribute_scores": self.attribute_scores,
            "languages": list(self.languages),
            "community_id": self.community_id,
            "client_token": self.client_token,
            "context": self.context,
        }


def parse_suggest_request(body: Any, *, max_comment_bytes: int) -> SuggestRequest:
    """Validate a SuggestCommentScore body; ApiError(400) names the first problem. Every suggested
    attribute needs summaryScore.value in [0, 1]; summaryScore.type, when given, must be
    PROBABILITY (the only score type Perspective has); spanScores are accepted and ignored."""
    _expect(body, dict, "(root)", "a JSON object")
    for name in body:
        if name not in _SUGGEST_FIELDS:
            raise invalid_argument(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    text = _comment_text(body, max_comment_bytes)
    suggested = _expect(body.get("attributeScores"), dict, "attribute_scores", "a map of attribute names")
    if not suggested:
        raise invalid_argument("Must suggest a score for at least one attribute.")
    scores = {name: _suggested_score(name, entry) for name, entry in suggested.items()}
    context = body.get("context")
    if context is not None:
        _expect(context, dict, "context", "an object with 'entries'")
    return SuggestRequest(
        text=text,
        attribute_scores=scores,
        languages=_languages(body),
        community_id=_optional_string(body, "communityId", "community_id"),
        client_token=_optional_string(body, "clientToken", "client_token"),
        context=context,
    )


def _attribute_entry(name: str, entry: Any, where: str, description: str, fields: frozenset[str]) -> dict[str, Any]:
    """The object given for attribute `name` (in requestedAttributes or attributeScores): a known
    attribute, an object, only `fields` in it."""
    if name not in ATTRIBUTES:
        raise invalid_argument(f"Unknown attribute: {name}. Supported attributes: {', '.join(ATTRIBUTES)}.")
    entry = _expect(entry, dict, where, description)
    for field in entry:
        if field not in fields:
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{field}" at \'{where}\': Cannot find field.'
            )
    return entry


def _check_score_type(name: str, score_type: Any) -> None:
    if score_type != SCORE_TYPE:
        raise invalid_argument(f"Attribute {name} does not support score type {score_type}; use {SCORE_TYPE}.")


def _suggested_score(name: str, entry: Any) -> float:
    entry = _attribute_entry(name, entry, f"attribute_scores[{name}]", "an object with a summaryScore", _SCORE_FIELDS)
    summary = _expect(entry.get("summaryScore"), dict, f"attribute_scores[{name}].summary_score", "an object")
    _check_score_type(name, summary.get("type", SCORE_TYPE))
    value = _expect(summary.get("value"), (int, float), f"attribute_scores[{name}].summary_score.value", "a number")
    if not 0 <= value <= 1:
        raise invalid_argument(f"Attribute {name}: summaryScore.value must be between 0 and 1, got {value}.")
    return float(value)


def suggest_response(request: SuggestRequest, languages: LanguageIdentifier) -> dict[str, Any]:
    """Perspective's SuggestCommentScoreResponse; LanguageNotSupported as for AnalyzeComment (a
    suggestion is a label for the model, in a language it must read)."""
    _, detected = comment_languages(request.text, request.languages, next(iter(request.attribute_scores)), languages)
    response: dict[str, Any] = {"detectedLanguages": detected}
    if request.languages:
        response["requestedLanguages"] = list(request.languages)
    if request.client_token is not None:
        response["clientToken"] = request.client_token
    return response


def _requested_attribute(name: str, options: Any) -> RequestedAttribute:
    options = _attribute_entry(name, options, f"requested_attributes[{name}]", "an object ({} for defaults)",
                               _ATTRIBUTE_FIELDS)
    _check_score_type(name, options.get("scoreType", SCORE_TYPE))
    threshold = options.get("scoreThreshold")
    if threshold is not None:
        _expect(threshold, (int, float), f"requested_attributes[{name}].score_threshold", "a number")
        if not 0 <= threshold <= 1:
            raise invalid_argument(f"Attribute {name}: scoreThreshold must be between 0 and 1, got {threshold}.")
        threshold = float(threshold)
    return RequestedAttribute(name, threshold)


def sentence_spans(text: str, max_spans: int) -> list[TextSpan]:
    """The comment cut into sentences (at most `max_spans` runs of whole sentences)."""
    bounds = [(m.start(), m.start() + len(m.group().rstrip())) for m in _SENTENCE.finditer(text)]
    if not bounds:
        bounds = [(0, len(text))]
    if len(bounds) > max_spans:
        per_span = math.ceil(len(bounds) / max_spans)
        runs = [bounds[i : i + per_span] for i in range(0, len(bounds), per_span)]
        bounds = [(run[0][0], run[-1][1]) for run in runs]
    return [TextSpan(start, end, _utf16_offset(text, start), _utf16_offset(text, end)) for start, end in bounds]


def _utf16_offset(text: str, index: int) -> int:
    # Perspective's span offsets count UTF-16 code units: an emoji outside the BMP counts as two.
    return index + sum(1 for char in text[:index] if ord(char) > 0xFFFF)


def _score(value: float) -> dict[str, Any]:
    return {"value": value, "type": SCORE_TYPE}


def analyze_response(
    request: AnalyzeRequest,
    summary: LabelScores,
    spans: Sequence[tuple[TextSpan, LabelScores]],
    languages: Sequence[str],
    detected: Sequence[str],
) -> dict[str, Any]:
    """The AnalyzeComment response for model scores of the whole comment and of its spans."""
    attribute_scores: dict[str, Any] = {}
    for attribute in request.attributes:
        compute = ATTRIBUTES[attribute.name]
        threshold = attribute.score_threshold
        value = compute(summary)
        if threshold is not None and value < threshold:
            continue  # Perspective leaves out attributes scoring below the requested threshold
        entry: dict[str, Any] = {"summaryScore": _score(value)}
        if request.span_annotations:
            span_scores = []
            for span, scores in spans:
                span_value = compute(scores)
                if threshold is None or span_value >= threshold:
                    span_scores.append({"begin": span.begin_utf16, "end": span.end_utf16, "score": _score(span_value)})
            entry["spanScores"] = span_scores
        attribute_scores[attribute.name] = entry
    response: dict[str, Any] = {
        "attributeScores": attribute_scores,
        "languages": list(languages),
        "detectedLanguages": list(detected),
    }
    if request.client_token is not None:
        response["clientToken"] = request.client_token
    return response


async def analyze(
    request: AnalyzeRequest, scorer: Scorer, *, max_spans: int, language_settings: LanguageSettings | None = None
) -> dict[str, Any]:
    """Score the comment (and its sentences, for span annotations) in one engine call, after
    checking that the model reads its language (LanguageNotSupported otherwise)."""
    languages, detected = comment_languages(
        request.text, request.languages, request.attributes[0].name,
        LanguageIdentifier(scorer.languages, language_settings),
    )
    spans = sentence_spans(request.text, max_spans) if request.span_annotations else []
    # A one-sentence comment's only span is the comment: score it once.
    span_texts = [request.text[span.start : span.end] for span in spans] if len(spans) > 1 else []
    try:
        # Never queue behind a full engine: an HTTP client is better served by a quick 503 it can
        # retry than by a request that hangs until its own timeout.
        scores = await scorer.score([request.text, *span_texts], wait=False)
    except Overloaded as exc:
        raise RetryLater(503, f"The model is saturated, retry later ({exc}).", "engine_overloaded") from exc
    except NotStarted as exc:
        raise RetryLater(503, f"The model is not ready, retry later ({exc}).", "engine_not_ready") from exc
    span_scores = scores[1:] if span_texts else scores[:1] * len(spans)
    return analyze_response(request, scores[0], list(zip(spans, span_scores, strict=True)), languages, detected)


class SuggestionSink(Protocol):
    """Where suggestions go (the evidence locker, as labels for retraining)."""

    async def record(self, suggestion: SuggestRequest) -> None: ...


@dataclasses.dataclass(frozen=True)
class EvidenceSuggestions:
    """`SuggestionSink` over the evidence locker: one `suggestion` record each (in a thread: it blocks)."""

    store: EvidenceStore

    async def record(self, suggestion: SuggestRequest) -> None:
        record = suggestion_record(suggestion.label(), format_time(utcnow()))
        try:
            await asyncio.to_thread(self.store.append, [record])
        except EvidenceUnavailable as exc:
            raise RetryLater(503, f"The evidence locker is unavailable, retry later ({exc}).", "locker_unavailable") from exc
