"""Perspective compatibility without HTTP: request validation, attribute mapping, spans."""

from __future__ import annotations

import asyncio

import pytest

from abusewatch.api.errors import ApiError
from abusewatch.api.perspective import (
    ATTRIBUTES,
    analyze,
    analyze_response,
    parse_analyze_request,
    sentence_spans,
)
from abusewatch.scoring.inference import Overloaded
from abusewatch.scoring.labels import LABELS

SCORES = {
    "toxicity": 0.9,
    "threat": 0.2,
    "insult": 0.7,
    "identity_attack": 0.1,
    "sexual_harassment": 0.05,
    "obscene": 0.6,
}


def parse(body: object):
    return parse_analyze_request(body, max_comment_bytes=100)


def request_body(**extra: object) -> dict:
    return {"comment": {"text": "you idiot."}, "requestedAttributes": {"TOXICITY": {}}, **extra}


def test_every_attribute_maps_from_the_model_labels() -> None:
    assert set(SCORES) == set(LABELS)
    values = {name: compute(SCORES) for name, compute in ATTRIBUTES.items()}
    assert values["TOXICITY"] == 0.9
    assert values["IDENTITY_ATTACK"] == 0.1
    assert values["INSULT"] == 0.7
    assert values["THREAT"] == 0.2
    assert values["PROFANITY"] == 0.6
    assert values["SEXUALLY_EXPLICIT"] == 0.05
    assert values["SEVERE_TOXICITY"] == pytest.approx(0.9 * 0.7)


def test_severe_toxicity_ignores_profanity_alone_and_never_exceeds_toxicity() -> None:
    swearing = dict.fromkeys(LABELS, 0.01) | {"toxicity": 0.8, "obscene": 0.95}
    assert ATTRIBUTES["SEVERE_TOXICITY"](swearing) < 0.05
    threat = dict.fromkeys(LABELS, 0.01) | {"toxicity": 0.9, "threat": 0.99}
    assert 0.85 < ATTRIBUTES["SEVERE_TOXICITY"](threat) <= threat["toxicity"]


def test_a_minimal_request_parses_with_perspective_defaults() -> None:
    request = parse(request_body())
    assert request.text == "you idiot."
    assert [attribute.name for attribute in request.attributes] == ["TOXICITY"]
    assert request.languages == ()
    assert not request.span_annotations
    assert request.client_token is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "expected a JSON object"),
        ({"requestedAttributes": {"TOXICITY": {}}}, "comment"),
        ({"comment": {"text": "  "}, "requestedAttributes": {"TOXICITY": {}}}, "non-empty"),
        ({"comment": {"text": "x" * 101}, "requestedAttributes": {"TOXICITY": {}}}, "limit is 100 bytes"),
        ({"comment": {"text": "hi", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}, "PLAIN_TEXT"),
        ({"comment": {"text": "hi"}}, "requested_attributes"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {}}, "at least one attribute"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"FLIRTATION": {}}}, "Unknown attribute: FLIRTATION"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "RAW"}}}, "score type"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}}, "between 0 and 1"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"bogus": 1}}}, 'Unknown name "bogus"'),
        (request_body(requestedAttribute={}), 'Unknown name "requestedAttribute"'),
        (request_body(languages="en"), "languages"),
        (request_body(doNotStore="yes"), "do_not_store"),
        (request_body(spanAnnotations=1), "span_annotations"),
    ],
)
def test_invalid_requests_are_400_invalid_argument(body: object, message: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse(body)
    assert raised.value.code == 400
    assert raised.value.body()["error"]["status"] == "INVALID_ARGUMENT"
    assert message in raised.value.message


def test_accepted_optional_fields() -> None:
    request = parse(
        request_body(
            languages=["EN"],
            doNotStore=True,
            clientToken="c-1",
            sessionId="s",
            communityId="/forum",
            context={"entries": []},
            spanAnnotations=True,
        )
    )
    assert request.languages == ("en",)
    assert request.client_token == "c-1"
    assert request.span_annotations


def test_sentence_spans_use_utf16_offsets_like_perspective() -> None:
    text = "What kind of idiot name is foo? Sorry, I like your name."
    assert [(s.begin_utf16, s.end_utf16) for s in sentence_spans(text, 10)] == [(0, 31), (32, 56)]
    emoji = "\N{GRINNING FACE} hi. you"
    spans = sentence_spans(emoji, 10)
    assert [emoji[s.start : s.end] for s in spans] == ["\N{GRINNING FACE} hi.", "you"]
    assert [(s.begin_utf16, s.end_utf16) for s in spans] == [(0, 6), (7, 10)]


def test_long_comments_are_cut_into_at_most_max_spans_runs_of_sentences() -> None:
    text = " ".join(f"Sentence {i}." for i in range(10))
    spans = sentence_spans(text, 3)
    assert len(spans) == 3
    assert (spans[0].start, spans[-1].end) == (0, len(text))


def test_response_shape_threshold_and_client_token() -> None:
    request = parse(
        {
            "comment": {"text": "you idiot. bye"},
            "requestedAttributes": {"TOXICITY": {}, "THREAT": {"scoreThreshold": 0.5}},
            "spanAnnotations": True,
            "clientToken": "tok",
        }
    )
    low = dict.fromkeys(LABELS, 0.1)
    spans = sentence_spans(request.text, 10)
    response = analyze_response(request, SCORES, [(spans[0], SCORES), (spans[1], low)], ["en"], ["en"])
    assert response == {
        "attributeScores": {
            "TOXICITY": {
                "summaryScore": {"value": 0.9, "type": "PROBABILITY"},
                "spanScores": [
                    {"begin": 0, "end": 10, "score": {"value": 0.9, "type": "PROBABILITY"}},
                    {"begin": 11, "end": 14, "score": {"value": 0.1, "type": "PROBABILITY"}},
                ],
            }
        },
        "languages": ["en"],
        "detectedLanguages": ["en"],
        "clientToken": "tok",
    }


class OverloadedScorer:
    ready = True
    model_info = {"name": "fake", "version": "0"}
    languages = ("en",)

    async def score(self, texts, *, wait=True):
        raise Overloaded("0 of 1 queue slots free")


def test_a_saturated_engine_is_503_unavailable() -> None:
    with pytest.raises(ApiError) as raised:
        asyncio.run(analyze(parse(request_body()), OverloadedScorer(), max_spans=4))
    assert (raised.value.code, raised.value.status) == (503, "UNAVAILABLE")


class EnglishScorer:
    ready = True
    model_info = {"name": "fake", "version": "0"}
    languages = ("en",)

    def __init__(self) -> None:
        self.calls = []

    async def score(self, texts, *, wait=True):
        self.calls.append(list(texts))
        return [dict(SCORES) for _ in texts]


@pytest.mark.parametrize(
    ("text", "languages", "detected", "unsupported"),
    [
        ("ich bringe dich um, du wirst es bereuen", [], ["de"], "de"),  # detected, not requested
        ("you idiot, I will find you", ["fr"], ["en"], "fr"),  # requested: the client's word
        ("je vais te tuer, je sais où tu habites", ["en", "es"], ["fr"], "es"),
    ],
)
def test_unsupported_languages_are_perspectives_language_not_supported_by_attribute(text, languages, detected,
                                                                                   unsupported) -> None:
    scorer = EnglishScorer()
    body = {"comment": {"text": text}, "requestedAttributes": {"THREAT": {}}, "languages": languages}
    with pytest.raises(ApiError) as raised:
        asyncio.run(analyze(parse(body), scorer, max_spans=4))
    assert raised.value.body() == {"error": {
        "code": 400,
        "message": f"Attribute THREAT does not support request languages: {unsupported}",
        "status": "INVALID_ARGUMENT",
        "details": [{
            "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
            "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
            "languageNotSupportedByAttributeError": {
                "detectedLanguages": detected, "requestedLanguages": languages, "attribute": "THREAT"},
        }],
    }}
    assert scorer.calls == []  # refused before the model is asked


def test_detected_languages_are_the_detected_language() -> None:
    english = {"comment": {"text": "you are an idiot and everyone knows it"}, "requestedAttributes": {"TOXICITY": {}}}
    response = asyncio.run(analyze(parse(english), EnglishScorer(), max_spans=4))
    assert (response["languages"], response["detectedLanguages"]) == (["en"], ["en"])
    # The client says English: scored as English (as Perspective does), and the detection is reported.
    german = {"comment": {"text": "Ich weiß, wo du wohnst, pass lieber auf dich auf."}, "languages": ["en"],
              "requestedAttributes": {"TOXICITY": {}}}
    response = asyncio.run(analyze(parse(german), EnglishScorer(), max_spans=4))
    assert (response["languages"], response["detectedLanguages"]) == (["en"], ["de"])
