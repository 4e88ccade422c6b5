"""Perspective's comments:suggestscore over a real socket, with the API's own evidence locker (a
SQLite file from ABUSEWATCH_EVIDENCE_DSN): the response shape, the stored label tied to the client
token, and Perspective's errors."""

from __future__ import annotations

import asyncio

import pytest

from abusewatch.api.app import create_api
from abusewatch.api.settings import ApiSettings
from abusewatch.evidence import open_store
from abusewatch.evidence.records import suggestion_labels
from tests.api_server import api_client
from tests.unit.api.test_http import KeywordScorer

TOKEN = "suggest-test-token"
SUGGEST = "/v1alpha1/comments:suggestscore"


def suggestion(**fields):
    return {
        "comment": {"text": "you are all idiots"},
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.9, "type": "PROBABILITY"}},
                            "INSULT": {"summaryScore": {"value": 1}}},
        **fields,
    }


def test_suggestions_are_stored_as_labels_tied_to_the_client_token(tmp_path, monkeypatch):
    dsn = f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
    monkeypatch.setenv("ABUSEWATCH_EVIDENCE_DSN", dsn)

    async def run():
        app = await create_api(ApiSettings(token=TOKEN), scorer=KeywordScorer())
        async with api_client(app, TOKEN) as http:
            first = await http.post(SUGGEST, json=suggestion(clientToken="moderator-7/queue-3", languages=["en"],
                                                             communityId="forum-1"))
            second = await http.post(SUGGEST + f"?key={TOKEN}", json=suggestion(), headers={"Authorization": ""})
            errors = [
                await http.post(SUGGEST, json=suggestion(attributeScores={"TOXICITY": {"summaryScore": {
                    "value": 0.5, "type": "STD_DEV_SCORE"}}})),
                await http.post(SUGGEST, json=suggestion(attributeScores={"TOXICITY": {"summaryScore": {"value": 1.5}}})),
                await http.post(SUGGEST, json=suggestion(attributeScores={"NOT_AN_ATTRIBUTE": {"summaryScore": {"value": 1}}})),
                await http.post(SUGGEST, json=suggestion(attributeScores={})),
                await http.post(SUGGEST, json=suggestion(requestedAttributes={})),
                await http.post(SUGGEST, json=suggestion(languages=["fr"])),
                await http.post(SUGGEST, content=b"{nope"),
            ]
            unauthenticated = await http.post(SUGGEST, json=suggestion(), headers={"Authorization": "Bearer wrong"})
        return first, second, errors, unauthenticated

    first, second, errors, unauthenticated = asyncio.run(run())
    assert first.status_code == 200, first.text
    assert first.json() == {"detectedLanguages": ["en"], "requestedLanguages": ["en"], "clientToken": "moderator-7/queue-3"}
    assert second.status_code == 200 and second.json() == {"detectedLanguages": ["en"]}
    assert [e.status_code for e in errors] == [400] * len(errors)
    assert all(e.json()["error"]["status"] == "INVALID_ARGUMENT" for e in errors)
    assert "STD_DEV_SCORE" in errors[0].json()["error"]["message"]
    assert unauthenticated.status_code == 401

    store = open_store(dsn)
    try:
        labels = list(suggestion_labels(store))
        tied = store.by_key("client_token:moderator-7/queue-3", kinds=("suggestion",))
        assert store.verify().ok
    finally:
        store.close()
    assert len(labels) == 2 and len(tied) == 1
    assert labels[0]["source"] == "suggestscore"
    assert labels[0]["attribute_scores"] == {"TOXICITY": 0.9, "INSULT": 1.0}
    assert (labels[0]["text"], labels[0]["client_token"], labels[0]["community_id"]) == (
        "you are all idiots", "moderator-7/queue-3", "forum-1")
    assert TOKEN not in str(labels)  # the API credential is never stored


def test_without_a_suggestion_sink_an_embedded_api_says_so():
    from tests.fakes import NoCases

    async def run():
        app = await create_api(ApiSettings(token=TOKEN), scorer=KeywordScorer(), cases=NoCases())
        async with api_client(app, TOKEN) as http:
            return await http.post(SUGGEST, json=suggestion())

    response = asyncio.run(run())
    assert response.status_code == 501 and response.json()["error"]["status"] == "UNIMPLEMENTED"


@pytest.mark.parametrize("value", [-0.1, "0.5", None, True])
def test_suggested_values_must_be_probabilities(value):
    from abusewatch.api.errors import ApiError
    from abusewatch.api.perspective import parse_suggest_request

    with pytest.raises(ApiError):
        parse_suggest_request(suggestion(attributeScores={"TOXICITY": {"summaryScore": {"value": value}}}),
                              max_comment_bytes=1000)


def test_a_json_boolean_is_not_a_suggested_score():
    """bool is an int in Python; `true` must not pass for the score 1."""
    import orjson

    from abusewatch.api.errors import ApiError
    from abusewatch.api.perspective import parse_suggest_request

    body = orjson.loads(b'{"comment": {"text": "you are all idiots"},'
                        b' "attributeScores": {"TOXICITY": {"summaryScore": {"value": true}}}}')
    with pytest.raises(ApiError) as raised:
        parse_suggest_request(body, max_comment_bytes=1000)
    assert raised.value.code == 400
    assert raised.value.message == (
        "Invalid value at 'attribute_scores[TOXICITY].summary_score.value': expected a number")
