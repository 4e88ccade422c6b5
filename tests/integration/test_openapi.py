"""The OpenAPI description (abusewatch/api/openapi.yaml, served at /openapi.json) against the
implementation, property-based with schemathesis: generated requests, valid and invalid, to every
documented operation of the API serving the real model and a real evidence locker (SQLite, holding a
campaign and its escalation). Every response must have a documented status code, content type and
body shape; none may be a 500; documented authentication must be enforced (a request without the
token gets 401). The examples per operation are bounded so the run stays short on two cores.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import schemathesis
import yaml
from aiohttp import web
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from abusewatch.actions.processing import ActionsProcessor
from abusewatch.api.app import OPENAPI_FILE, create_api
from abusewatch.api.cases import EvidenceCaseReader
from abusewatch.api.perspective import EvidenceSuggestions
from abusewatch.api.settings import ApiSettings
from abusewatch.common import config
from abusewatch.evidence import open_store
from abusewatch.ingest.contract import SCHEMA_DIR, format_time, utcnow
from abusewatch.policy import Cooldowns, PolicyFile
from abusewatch.scoring.inference import EngineSettings, InferenceEngine

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "openapi-test-token"
SPEC = yaml.safe_load(OPENAPI_FILE.read_text())
schema = schemathesis.openapi.from_dict(SPEC)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.ignored_auth,
]


class ServedApi:
    """The API app on a real socket, in a thread with its own event loop."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.base_url = ""
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        store = open_store(f"sqlite:///{self.tmp / 'evidence.sqlite3'}")
        fill_locker(store)
        # Its own registry: the process-wide default may hold another test's engine's metrics.
        engine = await asyncio.to_thread(InferenceEngine.from_settings, config.load(EngineSettings), CollectorRegistry())
        await engine.start()
        cases = EvidenceCaseReader(store, campaign_lookback=timedelta(days=7), history_limit=50)
        app = await create_api(ApiSettings(token=TOKEN), scorer=engine, cases=cases, store=store,
                               suggestions=EvidenceSuggestions(store))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.ready.set()
        await self.stop.wait()
        await runner.cleanup()
        await engine.stop()
        store.close()

    def start(self) -> ServedApi:
        self.thread.start()
        assert self.ready.wait(180), "the API did not start"
        if self.error:
            raise self.error
        return self

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


def fill_locker(store) -> None:
    processor = ActionsProcessor(policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store,
                                 flag_min_score=0.5, cooldowns=Cooldowns())
    now = utcnow()
    post = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    post["post"]["created_at"] = format_time(now)
    processor.record(processor.plan_post_scores([post], now=now))
    alert = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    alert.update(detected_at=format_time(now), event_time=format_time(now))
    processor.record(processor.plan_alerts([alert], now=now))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    served = ServedApi(tmp_path_factory.mktemp("openapi")).start()
    yield served
    served.close()


def test_the_served_description_is_the_one_in_the_repo(api):
    served = httpx.get(f"{api.base_url}/openapi.json")
    assert served.status_code == 200 and served.json() == SPEC
    assert served.json()["openapi"].startswith("3.1")


def test_every_route_of_the_api_is_described():
    from abusewatch.api.app import create_api as build

    async def routes() -> set[tuple[str, str]]:
        app = await build(ApiSettings(token=TOKEN), scorer=object(), cases=object(), appeals=object())
        return {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
                if r.method != "HEAD" and not r.resource.canonical.startswith("/console")}

    described = {(method, path) for path, item in SPEC["paths"].items() for method in item}
    assert asyncio.run(routes()) == described


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_the_api_conforms_to_its_description(case, api):
    case.call_and_validate(base_url=api.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
