"""The API with the real model behind the real inference engine, over a real socket."""

from __future__ import annotations

import asyncio

import pytest

from abusewatch.api.app import create_api
from abusewatch.api.settings import ApiSettings
from tests.api_server import api_client
from tests.fakes import NoCases

pytestmark = [
    pytest.mark.integration,
]

TOKEN = "integration-token"
ANALYZE = "/v1alpha1/comments:analyze"


def test_a_threat_scores_higher_than_a_kind_word(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABUSEWATCH_CPU_THREADS", "1")

    async def scenario() -> None:
        # No scorer given: the app loads and starts the shared inference engine itself.
        app = await create_api(ApiSettings(token=TOKEN), cases=NoCases())
        async with api_client(app, TOKEN, timeout=30) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["model"]["name"]

            def body(text: str) -> dict:
                return {
                    "comment": {"text": text},
                    "requestedAttributes": {"TOXICITY": {}, "THREAT": {}, "SEVERE_TOXICITY": {}},
                    "spanAnnotations": True,
                }

            # Sent together, so the engine batches them.
            threat, kind = await asyncio.gather(
                client.post(ANALYZE, json=body("I will kill you")),
                client.post(ANALYZE, json=body("have a lovely day")),
            )
            assert threat.status_code == kind.status_code == 200
            threat_scores, kind_scores = threat.json()["attributeScores"], kind.json()["attributeScores"]
            for attribute in ("THREAT", "TOXICITY"):
                assert (
                    threat_scores[attribute]["summaryScore"]["value"]
                    > kind_scores[attribute]["summaryScore"]["value"]
                )
            for scores in (threat_scores, kind_scores):
                for attribute in scores.values():
                    assert 0 <= attribute["summaryScore"]["value"] <= 1
                    assert attribute["summaryScore"]["type"] == "PROBABILITY"
            metrics = await client.get("/metrics")
            assert "abusewatch_inference_batch_posts" in metrics.text

    asyncio.run(scenario())
