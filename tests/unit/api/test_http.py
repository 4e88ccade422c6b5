"""The API over a real socket: authentication, probes, and the Perspective endpoint's shape and
errors. The scorer is a stand-in with the inference engine's interface; tests/integration runs
the real model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from abusewatch.api.app import create_api, run_api
from abusewatch.api.errors import ApiConfigError
from abusewatch.api.settings import ApiSettings
from abusewatch.scoring.inference import NotStarted, Overloaded
from abusewatch.scoring.labels import LABELS
from tests.api_server import api_client
from tests.fakes import NoCases

TOKEN = "http-test-token"
ANALYZE = "/v1alpha1/comments:analyze"


class KeywordScorer:
    """Scores like a caricature of the model: "kill" is a threat, "idiot" an insult."""

    ready = True
    model_info = {"name": "keyword-stand-in", "version": "0"}
    languages = ("en",)

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[dict[str, float]]:
        self.calls.append(list(texts))
        return [self._score(text) for text in texts]

    @staticmethod
    def _score(text: str) -> dict[str, float]:
        scores = dict.fromkeys(LABELS, 0.01)
        if "kill" in text:
            scores |= {"toxicity": 0.95, "threat": 0.9}
        if "idiot" in text:
            scores |= {"toxicity": 0.9, "insult": 0.8}
        return scores


class UnreadyScorer(KeywordScorer):
    ready = False


class OverloadedScorer(KeywordScorer):
    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[dict[str, float]]:
        assert wait is False, "the API must not queue behind a full engine"
        raise Overloaded("0 of 4096 queue slots free")


@contextlib.asynccontextmanager
async def serving(scorer: KeywordScorer, settings: ApiSettings | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a real socket (a free port), and a client that sends the token."""
    app = await create_api(settings or ApiSettings(token=TOKEN), scorer=scorer, cases=NoCases())
    async with api_client(app, TOKEN) as client:
        yield client


def run(scenario, scorer: KeywordScorer | None = None, settings: ApiSettings | None = None) -> None:
    async def main() -> None:
        async with serving(scorer or KeywordScorer(), settings) as client:
            await scenario(client)

    asyncio.run(main())


def analyze_body(text: str = "I will kill you", **extra: object) -> dict:
    return {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}, "THREAT": {}}, **extra}


def assert_google_error(response: httpx.Response, code: int, status: str) -> str:
    assert response.status_code == code
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    # Google's `details` only where Perspective has them (LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE).
    assert set(body) == {"error"} and set(body["error"]) - {"details"} == {"code", "message", "status"}
    assert (body["error"]["code"], body["error"]["status"]) == (code, status)
    if "details" in body["error"]:
        assert body["error"]["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    return body["error"]["message"]


# -- authentication -------------------------------------------------------------------------------


def test_missing_wrong_and_right_tokens() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        missing = await client.post(ANALYZE, json=analyze_body(), headers={"Authorization": ""})
        assert "missing" in assert_google_error(missing, 401, "UNAUTHENTICATED")
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await client.post(ANALYZE, json=analyze_body(), headers={"Authorization": "Bearer nope"})
        assert "invalid" in assert_google_error(wrong, 401, "UNAUTHENTICATED")
        not_bearer = await client.post(ANALYZE, json=analyze_body(), headers={"Authorization": f"Basic {TOKEN}"})
        assert_google_error(not_bearer, 401, "UNAUTHENTICATED")
        right = await client.post(ANALYZE, json=analyze_body())
        assert right.status_code == 200
        # Perspective clients send their key in the query string.
        keyed = await client.post(f"{ANALYZE}?key={TOKEN}", json=analyze_body(), headers={"Authorization": ""})
        assert keyed.status_code == 200
        # Unknown paths answer 401 to strangers, so the API's routes cannot be probed without a token.
        unknown = await client.get("/admin", headers={"Authorization": ""})
        assert_google_error(unknown, 401, "UNAUTHENTICATED")

    run(scenario)


def test_probes_and_metrics_need_no_token() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        anonymous = {"Authorization": ""}
        assert (await client.post(ANALYZE, json=analyze_body())).status_code == 200
        health = await client.get("/healthz", headers=anonymous)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "service": "api"})
        ready = await client.get("/readyz", headers=anonymous)
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "service": "api", "model": KeywordScorer.model_info}
        metrics = await client.get("/metrics", headers=anonymous)
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert (
            'abusewatch_api_requests_total{method="POST",route="/v1alpha1/comments:analyze",status="200"} 1.0'
            in metrics.text
        )

    run(scenario)


def test_readyz_is_503_until_the_model_is_ready() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()["ready"]) == (503, False)

    run(scenario, UnreadyScorer())


def test_the_api_refuses_to_start_without_a_token_unless_told_to() -> None:
    with pytest.raises(ApiConfigError, match="ABUSEWATCH_API_TOKEN"):
        asyncio.run(create_api(ApiSettings(token=""), scorer=KeywordScorer(), cases=NoCases()))

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post(ANALYZE, json=analyze_body(), headers={"Authorization": ""})
        assert response.status_code == 200

    run(scenario, settings=ApiSettings(token="", allow_no_token=True))


def test_serve_api_exits_2_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABUSEWATCH_API_TOKEN", raising=False)
    monkeypatch.delenv("ABUSEWATCH_API_ALLOW_NO_TOKEN", raising=False)
    assert run_api() == 2


# -- Perspective shape -----------------------------------------------------------------------------


def test_analyze_answers_in_perspectives_shape() -> None:
    scorer = KeywordScorer()

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post(
            ANALYZE,
            json={
                "comment": {"text": "You idiot. I will kill you."},
                "requestedAttributes": {"TOXICITY": {}, "THREAT": {}, "SEVERE_TOXICITY": {"scoreType": "PROBABILITY"}},
                "languages": ["en"],
                "doNotStore": True,
                "spanAnnotations": True,
                "clientToken": "req-7",
            },
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"attributeScores", "languages", "detectedLanguages", "clientToken"}
        assert (body["languages"], body["detectedLanguages"], body["clientToken"]) == (["en"], ["en"], "req-7")
        assert set(body["attributeScores"]) == {"TOXICITY", "THREAT", "SEVERE_TOXICITY"}
        threat = body["attributeScores"]["THREAT"]
        assert threat["summaryScore"] == {"value": 0.9, "type": "PROBABILITY"}
        assert threat["spanScores"] == [
            {"begin": 0, "end": 10, "score": {"value": 0.01, "type": "PROBABILITY"}},
            {"begin": 11, "end": 27, "score": {"value": 0.9, "type": "PROBABILITY"}},
        ]
        severe = body["attributeScores"]["SEVERE_TOXICITY"]["summaryScore"]["value"]
        assert severe == pytest.approx(0.9 * 0.9)  # toxicity x max(threat, insult, ...)

    run(scenario, scorer)
    # One engine call per request: the comment and its sentences are batched together.
    assert scorer.calls == [["You idiot. I will kill you.", "You idiot.", "I will kill you."]]


def test_without_span_annotations_there_are_no_span_scores_and_languages_default_to_en() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        body = (await client.post(ANALYZE, json=analyze_body("have a lovely day"))).json()
        assert body == {
            "attributeScores": {
                "TOXICITY": {"summaryScore": {"value": 0.01, "type": "PROBABILITY"}},
                "THREAT": {"summaryScore": {"value": 0.01, "type": "PROBABILITY"}},
            },
            "languages": ["en"],
            "detectedLanguages": ["en"],
        }

    run(scenario)


def test_score_threshold_leaves_out_low_attributes() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        body = {
            "comment": {"text": "you idiot"},
            "requestedAttributes": {"INSULT": {"scoreThreshold": 0.5}, "THREAT": {"scoreThreshold": 0.5}},
        }
        scores = (await client.post(ANALYZE, json=body)).json()["attributeScores"]
        assert list(scores) == ["INSULT"]

    run(scenario)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "Invalid JSON payload"),
        (
            b'{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}, "SPAM": {}}}',
            "Unknown attribute: SPAM",
        ),
        (b'{"requestedAttributes": {"TOXICITY": {}}}', "comment"),
        (b'{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["de"]}', "languages: de"),
        ('{"comment": {"text": "ich bringe dich um, du wirst es bereuen"}, "requestedAttributes": {"THREAT": {}}}'
         .encode(), "Attribute THREAT does not support request languages: de"),
    ],
)
def test_bad_requests_are_google_shaped_400s(content: bytes, fragment: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post(ANALYZE, content=content, headers={"Content-Type": "application/json"})
        assert fragment in assert_google_error(response, 400, "INVALID_ARGUMENT")

    run(scenario)


def test_wrong_method_unknown_path_oversized_body_and_overload_are_google_shaped() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        wrong_method = await client.get(ANALYZE)
        assert_google_error(wrong_method, 405, "UNIMPLEMENTED")
        assert wrong_method.headers["Allow"] == "POST"
        assert_google_error(await client.get("/v1/nothing-here"), 404, "NOT_FOUND")
        too_long = analyze_body("x" * 20_481)
        assert "20480 bytes" in assert_google_error(await client.post(ANALYZE, json=too_long), 400, "INVALID_ARGUMENT")
        huge = b"x" * (20_480 * 6 + 65_537)
        assert_google_error(await client.post(ANALYZE, content=huge), 413, "INVALID_ARGUMENT")

    run(scenario)

    async def overloaded(client: httpx.AsyncClient) -> None:
        response = await client.post(ANALYZE, json=analyze_body())
        assert "saturated" in assert_google_error(response, 503, "UNAVAILABLE")
        assert response.headers["Retry-After"] == "1"

    run(overloaded, OverloadedScorer())


def test_concurrent_requests_are_all_answered() -> None:
    scorer = KeywordScorer()

    async def scenario(client: httpx.AsyncClient) -> None:
        texts = [f"comment {i} {'kill' if i % 2 else 'hello'}" for i in range(20)]
        responses = await asyncio.gather(*(client.post(ANALYZE, json=analyze_body(text)) for text in texts))
        threat = [r.json()["attributeScores"]["THREAT"]["summaryScore"]["value"] for r in responses]
        assert threat == [0.9 if i % 2 else 0.01 for i in range(20)]

    run(scenario, scorer)
    assert len(scorer.calls) == 20


# -- load shedding and the request timeout --------------------------------------------------------


class HeldScorer(KeywordScorer):
    """Holds every call until released, so requests stay in flight as long as a test needs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[dict[str, float]]:
        self.calls.append(list(texts))
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return [self._score(text) for text in texts]


class StoppedScorer(KeywordScorer):
    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[dict[str, float]]:
        raise NotStarted("the inference engine is not started")


async def until(predicate, what: str, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def metric(text: str, sample: str) -> float:
    """The value of one sample line of a Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_past_the_in_flight_limit_requests_get_429_at_once_and_probes_still_answer() -> None:
    scorer = HeldScorer()

    async def scenario(client: httpx.AsyncClient) -> None:
        held = [asyncio.create_task(client.post(ANALYZE, json=analyze_body())) for _ in range(2)]
        await until(lambda: len(scorer.calls) == 2, "two requests in flight")
        for path in ("/v1alpha1/comments:analyze", "/v1/campaigns/open"):
            shed = await client.request("POST" if path == ANALYZE else "GET", path, json=analyze_body())
            assert "Too many requests in flight (limit 2)" in assert_google_error(shed, 429, "RESOURCE_EXHAUSTED")
            assert shed.headers["Retry-After"] == "7"
        # Probes and the scraper are never shed, even with every slot taken.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        metrics = await client.get("/metrics")
        assert metric(metrics.text, 'abusewatch_api_shed_total{reason="in_flight_limit"}') == 2
        assert metric(metrics.text, "abusewatch_api_in_flight") == 2
        scorer.release.set()
        assert [response.status_code for response in await asyncio.gather(*held)] == [200, 200]
        # Slots come back: the next request is admitted.
        assert (await client.post(ANALYZE, json=analyze_body())).status_code == 200
        assert metric((await client.get("/metrics")).text, "abusewatch_api_in_flight") == 0

    run(scenario, scorer, ApiSettings(token=TOKEN, max_in_flight=2, retry_after_s=7))
    assert len(scorer.calls) == 3


def test_a_request_past_its_timeout_gets_504_and_its_engine_call_is_cancelled() -> None:
    scorer = HeldScorer()

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post(ANALYZE, json=analyze_body())
        assert "within 0.2 s" in assert_google_error(response, 504, "DEADLINE_EXCEEDED")
        assert response.headers["Retry-After"] == "1"
        assert scorer.cancelled == 1
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, 'abusewatch_api_timeouts_total{route="/v1alpha1/comments:analyze"}') == 1
        assert metric(metrics, "abusewatch_api_in_flight") == 0

    run(scenario, scorer, ApiSettings(token=TOKEN, request_timeout_s=0.2))


def test_a_stopped_engine_is_503_not_ready() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post(ANALYZE, json=analyze_body())
        assert "not ready" in assert_google_error(response, 503, "UNAVAILABLE")
        assert response.headers["Retry-After"] == "1"
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, 'abusewatch_api_shed_total{reason="engine_not_ready"}') == 1

    run(scenario, StoppedScorer())


@pytest.mark.parametrize(
    ("limits", "variable"),
    [
        ({"max_in_flight": 0}, "ABUSEWATCH_API_MAX_IN_FLIGHT"),
        ({"request_timeout_s": 0}, "ABUSEWATCH_API_REQUEST_TIMEOUT_S"),
        ({"retry_after_s": -1}, "ABUSEWATCH_API_RETRY_AFTER_S"),
    ],
)
def test_limits_out_of_range_refuse_to_start(limits: dict, variable: str) -> None:
    with pytest.raises(ApiConfigError, match=variable):
        asyncio.run(create_api(ApiSettings(token=TOKEN, **limits), scorer=KeywordScorer(), cases=NoCases()))
