"""The API under overload, with the real model behind the real inference engine, over a real socket.

Limits are tiny and set by settings, so which request is shed or timed out does not depend on how
fast the machine is: the engine's batcher is told to wait for a full batch, which holds requests in
flight for as long as a test needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from abusewatch.common import config
from abusewatch.api.app import create_api
from abusewatch.api.settings import ApiSettings
from abusewatch.scoring.inference import EngineSettings, InferenceEngine
from abusewatch.scoring.model.artifact import DEFAULT_MODEL_DIR, load_artifact
from tests.api_server import api_client
from tests.fakes import NoCases

pytestmark = [
    pytest.mark.integration,
]

TOKEN = "overload-token"
ANALYZE = "/v1alpha1/comments:analyze"
# How far past its timeout a response may come and still count as on time: generous, because the
# shared CI machine may be busy; a request hanging without a timeout would blow through it.
LATENESS_MARGIN_S = 5.0
MODEL_DIR = config.load(EngineSettings).model_dir or DEFAULT_MODEL_DIR


@pytest.fixture(scope="module")
def artifact():
    """The shipped model, loaded once for the module."""
    return load_artifact(MODEL_DIR)


@contextlib.asynccontextmanager
async def serving(artifact, settings: ApiSettings, **engine: object) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a real engine on the shipped model, with these EngineSettings overrides."""
    # PyTorch on one thread: no ONNX export at startup, and room for the other test processes.
    engine_settings = config.load(EngineSettings, env={}, cpu_runtime="torch", cpu_threads=1, **engine)
    registry = CollectorRegistry()
    scorer = InferenceEngine.from_artifact(artifact, engine_settings, registry)
    await scorer.start()
    app = await create_api(settings, scorer=scorer, cases=NoCases(), registry=registry)
    try:
        async with api_client(app, TOKEN, timeout=60,
                              limits=httpx.Limits(max_connections=None, max_keepalive_connections=None)) as client:
            assert (await client.get("/readyz")).status_code == 200
            yield client
    finally:
        await scorer.stop()


def body(text: str, spans: bool = False) -> dict:
    return {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}, "THREAT": {}}, "spanAnnotations": spans}


def error_status(response: httpx.Response) -> tuple[int, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return error["code"], error["status"]


def metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_flood_past_the_in_flight_limit_is_shed_with_429_and_nobody_waits_past_the_timeout(artifact) -> None:
    settings = ApiSettings(token=TOKEN, max_in_flight=4, request_timeout_s=5.0, retry_after_s=2)
    flood = 60

    async def timed(client: httpx.AsyncClient, index: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await client.post(ANALYZE, json=body("I will kill you" if index % 2 else "have a lovely day"))
        return response, time.monotonic() - started

    async def scenario() -> None:
        # Fewer than a batch of posts wait 300 ms for company: admitted requests stay in flight
        # at least that long, so the flood arrives while all 4 slots are taken.
        async with serving(artifact, settings, max_wait_ms=300) as client:
            answers = await asyncio.gather(*(timed(client, index) for index in range(flood)))
            metrics = (await client.get("/metrics")).text
            health = await client.get("/healthz")
        ok = [(index, response) for index, (response, _) in enumerate(answers) if response.status_code == 200]
        shed = [response for response, _ in answers if response.status_code == 429]
        assert len(ok) + len(shed) == flood, sorted({response.status_code for response, _ in answers})
        assert ok and shed
        for response in shed:
            assert error_status(response) == (429, "RESOURCE_EXHAUSTED")
            assert response.headers["Retry-After"] == "2"
        # Real scores for every accepted request: each threat scores above each kind word.
        threat = {index: response.json()["attributeScores"]["THREAT"]["summaryScore"]["value"] for index, response in ok}
        assert all(0 <= value <= 1 for value in threat.values())
        threats = [value for index, value in threat.items() if index % 2]
        kind = [value for index, value in threat.items() if not index % 2]
        assert min(threats, default=1) > max(kind, default=0), threat
        assert max(elapsed for _, elapsed in answers) < settings.request_timeout_s + LATENESS_MARGIN_S
        assert metric(metrics, 'abusewatch_api_shed_total{reason="in_flight_limit"}') == len(shed)
        assert health.status_code == 200

    asyncio.run(scenario())


def test_timeout_is_504_its_queued_post_is_dropped_and_a_saturated_engine_is_503(artifact) -> None:
    settings = ApiSettings(token=TOKEN, request_timeout_s=1.0)

    async def scenario() -> None:
        # The engine admits 4 posts and batches only once 4 are queued: a lone post waits (10 min).
        async with serving(artifact, settings, queue_size=4, max_batch_posts=4, max_wait_ms=600_000) as client:
            started = time.monotonic()
            lone = await client.post(ANALYZE, json=body("a lone post the batcher waits on"))
            elapsed = time.monotonic() - started
            assert error_status(lone) == (504, "DEADLINE_EXCEEDED")
            assert "within 1 s" in lone.json()["error"]["message"]
            assert lone.headers["Retry-After"] == "1"
            assert settings.request_timeout_s <= elapsed < settings.request_timeout_s + LATENESS_MARGIN_S

            # The comment and 4 sentences are 5 posts: more than the engine's queue holds.
            too_big = await client.post(ANALYZE, json=body("One. Two. Three. Four.", spans=True))
            assert error_status(too_big) == (503, "UNAVAILABLE")
            assert "saturated" in too_big.json()["error"]["message"]
            assert too_big.headers["Retry-After"] == "1"

            # The comment and 3 sentences are 4 posts: a full batch, scored at once. Only
            # admitted because the timed-out request's post was dropped from the queue.
            fits = await client.post(ANALYZE, json=body("You idiot. I will kill you. Bye.", spans=True))
            assert fits.status_code == 200, fits.text
            spans = fits.json()["attributeScores"]["THREAT"]["spanScores"]
            assert max(spans, key=lambda span: span["score"]["value"])["begin"] == 11  # "I will kill you."

            metrics = (await client.get("/metrics")).text
        assert metric(metrics, 'abusewatch_api_timeouts_total{route="/v1alpha1/comments:analyze"}') == 1
        assert metric(metrics, 'abusewatch_api_shed_total{reason="engine_overloaded"}') == 1
        # The dropped post never reached the model: only the 4 posts of the last request did.
        assert metric(metrics, 'abusewatch_inference_posts_scored_total{path="transformer"}') == 4

    asyncio.run(scenario())
