"""The HTTP API role: a Perspective-compatible scoring endpoint and read-only case views.

    POST /v1alpha1/comments:analyze            Perspective AnalyzeComment (abusewatch.api.perspective)
    POST /v1alpha1/comments:suggestscore       Perspective SuggestCommentScore: labels for retraining
    GET  /v1/campaigns/open                    open pile-on campaigns      (abusewatch.api.cases)
    GET  /v1/targets/{target_id}/history       evidence about one target
    GET  /v1/escalations/{escalation_id}       an escalation with its evidence
    GET  /healthz /readyz /metrics             probes and Prometheus, without a token
    GET  /openapi.json                         this API's OpenAPI 3.1 description (openapi.yaml), without a token
    /console/...                               the trust-and-safety console (abusewatch.api.console),
                                               signed in with a session cookie instead of the token

`run_api()` is what `abusewatch serve api` runs. `create_api(settings, scorer=..., cases=...)`
builds the application; tests and embedders inject their own scorer and case reader, and the
defaults are the shared inference engine and the evidence locker, started and stopped with the app.
Handlers only parse, call and shape; the logic lives in perspective.py and cases.py, load
shedding and the request timeout in admission.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest

from abusewatch.common import config
from abusewatch.api.admission import check_limits, load_shedding_middleware
from abusewatch.api.auth import bearer_token_middleware, token_check_enabled
from abusewatch.api.cases import CaseReader, EvidenceCaseReader
from abusewatch.api.console import CONSOLE_PUBLISHER, CONSOLE_STORE, add_console
from abusewatch.api.console.review import AppealsPublisher, KafkaAppealsPublisher
from abusewatch.api.console.settings import ConsoleSettings
from abusewatch.api.errors import ApiConfigError, ApiError, RetryLater, invalid_argument
from abusewatch.api.metrics import ApiMetrics, route_label
from abusewatch.api.perspective import (
    EvidenceSuggestions,
    Scorer,
    SuggestionSink,
    analyze,
    parse_analyze_request,
    parse_suggest_request,
    suggest_response,
)
from abusewatch.api.settings import ApiSettings
from abusewatch.scoring.language import LanguageIdentifier, LanguageSettings, load_model
from abusewatch.common.settings import KafkaSettings, ServiceSettings
from abusewatch.evidence.store import EvidenceStore
from abusewatch.policy.settings import PolicySettings
from abusewatch.common.shutdown import ShutdownDeadline

log = logging.getLogger(__name__)
access_log = logging.getLogger("abusewatch.api.access")

SETTINGS = web.AppKey("settings", ApiSettings)
SCORER = web.AppKey("scorer", Scorer)
CASES = web.AppKey("cases", CaseReader)
SUGGESTIONS = web.AppKey("suggestions", SuggestionSink)
LANGUAGE_SETTINGS = web.AppKey("language_settings", LanguageSettings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", ApiMetrics)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error_response(error: ApiError, settings: ApiSettings) -> web.Response:
    response = _json(error.body(), status=error.code)
    if error.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="abusewatch"'
    if isinstance(error, RetryLater):
        response.headers["Retry-After"] = str(settings.retry_after_s)
    return response


# -- middlewares (outermost first) --------------------------------------------------------------


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Metrics and the access log. Logs the route template only: paths carry account ids and a
    query string may carry a token."""
    started = time.perf_counter()
    response = await handler(request)
    elapsed = time.perf_counter() - started
    route = route_label(request)
    metrics = request.app[METRICS]
    metrics.requests.labels(route, request.method, str(response.status)).inc()
    metrics.request_seconds.labels(route).observe(elapsed)
    access_log.info("%s %s %d %.1fms", request.method, route, response.status, elapsed * 1e3)
    return response


@web.middleware
async def google_api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as {"error": {"code", "message", "status"}}, like Google APIs."""
    settings = request.app[SETTINGS]
    try:
        return await handler(request)
    except ApiError as error:
        return _error_response(error, settings)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error_response(ApiError(exc.status, exc.reason), settings)
        if "Allow" in exc.headers:  # a 405 says which methods the path does take
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error answering %s %s", request.method, route_label(request))
        return _error_response(ApiError(500, "Internal error."), settings)


# -- handlers -----------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok", "service": "api"})


async def readyz(request: web.Request) -> web.Response:
    scorer = request.app.get(SCORER)
    ready = scorer is not None and scorer.ready
    body = {"ready": ready, "service": "api", "model": scorer.model_info if scorer is not None else None}
    return _json(body, status=200 if ready else 503)


async def prometheus_metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[REGISTRY]), headers={"Content-Type": CONTENT_TYPE_LATEST})


OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


@functools.cache
def openapi_document() -> bytes:
    """openapi.yaml as JSON, read once."""
    return orjson.dumps(yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8")))


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")


async def _json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from exc


async def analyze_comment(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await _json_body(request)
    analyze_request = parse_analyze_request(body, max_comment_bytes=settings.max_comment_bytes)
    response = await analyze(analyze_request, request.app[SCORER], max_spans=settings.max_span_sentences,
                             language_settings=request.app[LANGUAGE_SETTINGS])
    return _json(response)


async def suggest_comment_score(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await _json_body(request)
    suggestion = parse_suggest_request(body, max_comment_bytes=settings.max_comment_bytes)
    sink = request.app.get(SUGGESTIONS)
    if sink is None:  # an embedder injected a case reader but no suggestion sink
        raise ApiError(501, "This server does not store suggestions.")
    response = suggest_response(suggestion, _languages(request))  # refuses before anything is stored
    await sink.record(suggestion)
    return _json(response)


def _languages(request: web.Request) -> LanguageIdentifier:
    scorer = request.app.get(SCORER)
    if scorer is None:
        raise RetryLater(503, "The model is not ready, retry later.", "engine_not_ready")
    return LanguageIdentifier(scorer.languages, request.app[LANGUAGE_SETTINGS])


async def open_campaigns(request: web.Request) -> web.Response:
    return _json({"campaigns": await request.app[CASES].open_campaigns()})


async def target_history(request: web.Request) -> web.Response:
    target_id = request.match_info["target_id"]
    records = await request.app[CASES].target_history(target_id)
    return _json({"target_id": target_id, "records": records})


async def escalation(request: web.Request) -> web.Response:
    escalation_id = request.match_info["escalation_id"]
    found = await request.app[CASES].escalation(escalation_id)
    if found is None:
        raise ApiError(404, f"Escalation {escalation_id} is not in the evidence locker.")
    return _json(found)


# -- default dependencies -----------------------------------------------------------------------


async def _inference_engine(app: web.Application) -> AsyncIterator[None]:
    """The shared inference engine, loaded and started with the app, stopped after it."""
    from abusewatch.scoring.inference import EngineSettings, InferenceEngine

    engine = await asyncio.to_thread(InferenceEngine.from_settings, config.load(EngineSettings), app[REGISTRY])
    await engine.start()
    app[SCORER] = engine
    yield
    await engine.stop()


async def _load_language_model(app: web.Application) -> None:
    await asyncio.to_thread(load_model)  # about a second: not on the first request's path


async def _evidence_locker(app: web.Application) -> AsyncIterator[None]:
    from abusewatch.evidence import open_store
    from abusewatch.evidence.settings import EvidenceSettings

    settings = app[SETTINGS]
    store = await asyncio.to_thread(open_store, config.load(EvidenceSettings).dsn)
    app[CASES] = EvidenceCaseReader(
        store, campaign_lookback=timedelta(hours=settings.campaign_lookback_h), history_limit=settings.history_limit
    )
    app[CONSOLE_STORE] = store
    app.setdefault(SUGGESTIONS, EvidenceSuggestions(store))
    yield
    await asyncio.to_thread(store.close)


async def _appeals_publisher(app: web.Application) -> AsyncIterator[None]:
    publisher = KafkaAppealsPublisher(config.load(KafkaSettings))
    app[CONSOLE_PUBLISHER] = publisher
    yield
    await publisher.close()


async def create_api(
    settings: ApiSettings,
    *,
    scorer: Scorer | None = None,
    cases: CaseReader | None = None,
    registry: CollectorRegistry | None = None,
    console: ConsoleSettings | None = None,
    store: EvidenceStore | None = None,
    appeals: AppealsPublisher | None = None,
    suggestions: SuggestionSink | None = None,
) -> web.Application:
    """The API application. Without `scorer` / `cases` it owns an inference engine and an evidence
    store (from EngineSettings / EvidenceSettings); injected ones are the caller's to start and stop.
    The console reads that store (or `store`, next to injected `cases`) and publishes reviewers'
    decisions with `appeals` (default: a Kafka producer from KafkaSettings); `console` defaults to
    ConsoleSettings from the environment.

    Raises ApiConfigError when no token is set and ABUSEWATCH_API_ALLOW_NO_TOKEN is not true, or
    when a load-shedding limit is out of range.
    """
    check_limits(settings)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ApiMetrics(registry)
    middlewares: list[Any] = [observe_requests, google_api_errors]
    if token_check_enabled(settings):
        middlewares.append(bearer_token_middleware(settings.token))
    else:
        log.warning("ABUSEWATCH_API_ALLOW_NO_TOKEN=true: the API is serving WITHOUT authentication")
    # After authentication: a caller without a valid token gets 401, never a 429 to retry.
    middlewares.append(load_shedding_middleware(settings, metrics))
    # The body limit leaves room for JSON escaping (up to 6 bytes per character of text).
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_comment_bytes * 6 + 65_536)
    app[SETTINGS] = settings
    app[LANGUAGE_SETTINGS] = config.load(LanguageSettings)
    app.on_startup.append(_load_language_model)
    app[REGISTRY] = registry
    app[METRICS] = metrics
    if scorer is None:
        app.cleanup_ctx.append(_inference_engine)
    else:
        app[SCORER] = scorer
    if suggestions is not None:
        app[SUGGESTIONS] = suggestions
    if cases is None:
        app.cleanup_ctx.append(_evidence_locker)
    else:
        app[CASES] = cases
        if store is not None:
            app[CONSOLE_STORE] = store
    if appeals is None:
        app.cleanup_ctx.append(_appeals_publisher)
    else:
        app[CONSOLE_PUBLISHER] = appeals
    add_console(app, console if console is not None else config.load(ConsoleSettings),
                policy_file=config.load(PolicySettings).policy_file,
                lookback=timedelta(hours=settings.campaign_lookback_h))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus_metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_post("/v1alpha1/comments:analyze", analyze_comment)
    app.router.add_post("/v1alpha1/comments:suggestscore", suggest_comment_score)
    app.router.add_get("/v1/campaigns/open", open_campaigns)
    app.router.add_get("/v1/targets/{target_id}/history", target_history)
    app.router.add_get("/v1/escalations/{escalation_id}", escalation)
    return app


def run_api() -> int:
    """Serve the API on ServiceSettings.host:api_port until SIGINT/SIGTERM. Returns the exit code."""
    service = config.load(ServiceSettings)
    settings = config.load(ApiSettings)

    deadline = ShutdownDeadline("api", service.shutdown_timeout_s)

    async def arm_deadline(app: web.Application) -> None:
        deadline.arm()

    async def configured_api() -> web.Application:
        registry = CollectorRegistry()
        # process_start_time_seconds changes when the API restarts: the restart alert watches it.
        ProcessCollector(registry=registry)
        app = await create_api(settings, registry=registry)
        app.on_shutdown.append(arm_deadline)  # SIGTERM/SIGINT: aiohttp begins its graceful stop
        log.info("serving the API on http://%s:%d", service.host, service.api_port)
        return app

    try:
        # Requests in flight get half the bound to finish; the engine and the store stop after them.
        web.run_app(configured_api(), host=service.host, port=service.api_port, access_log=None, print=None,
                    shutdown_timeout=service.shutdown_timeout_s / 2)
    except ApiConfigError as exc:
        log.error("%s", exc)
        return 2
    return 0
