"""The console over a real socket and a real SQLite evidence locker: sign-in, roles, CSRF, session
expiry, security headers, what the pages show, and what a reviewer's request records or publishes.
Decisions are published through an in-memory publisher here; tests/integration/test_console_browser.py
sends them through the real broker to the real actions service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from abusewatch.actions.processing import ActionsProcessor
from abusewatch.api.app import create_api
from abusewatch.api.console.sessions import SessionCodec, User, Users, UsersFileError, token_sha256
from abusewatch.api.console.settings import ConsoleSettings
from abusewatch.api.settings import ApiSettings
from abusewatch.evidence import open_store
from abusewatch.ingest.contract import SCHEMA_DIR, format_time, utcnow, validate
from abusewatch.policy import Cooldowns, PolicyFile
from tests.api_server import api_client
from tests.fakes import NoCases

ROOT = Path(__file__).resolve().parents[3]
TOKENS = {"viewer": "tok-viewer", "reviewer": "tok-reviewer", "admin": "tok-admin"}


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, appeal: dict[str, Any]) -> None:
        validate("appeals", appeal)
        self.published.append(appeal)


def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n" + "".join(
        f"  - {{id: {role}-1, role: {role}, token_sha256: {token_sha256(token)}}}\n" for role, token in TOKENS.items()))
    return path


@pytest.fixture
def locker(tmp_path):
    """A locker holding one pile-on campaign (alert, limit action, escalation) and its evidence post,
    recorded by the real actions processor at the current time."""
    store = open_store(f"sqlite:///{tmp_path / 'evidence.sqlite3'}")
    processor = ActionsProcessor(policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store,
                                 flag_min_score=0.5, cooldowns=Cooldowns())
    now = utcnow()
    post = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    post["post"]["created_at"] = format_time(now)
    post["post"]["text"] = "<script>alert(1)</script> nobody wants you here, log off"
    processor.record(processor.plan_post_scores([post], now=now))
    alert = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    alert.update(detected_at=format_time(now), event_time=format_time(now),
                 window={"start": format_time(now), "end": format_time(now), "size_s": 600})
    plan = processor.plan_alerts([alert], now=now)
    processor.record(plan)
    yield store, plan, alert
    store.close()


@contextlib.asynccontextmanager
async def console(store, tmp_path, **settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingPublisher]]:
    publisher = RecordingPublisher()
    console_settings = ConsoleSettings(users_file=str(users_file(tmp_path)), session_secret="unit-test-session-secret-of-32-bytes!", **settings)
    app = await create_api(ApiSettings(token="api-token"), scorer=object(), cases=NoCases(), store=store,
                           appeals=publisher, console=console_settings)
    async with api_client(app, "api-token", follow_redirects=False) as client:
        client.headers.pop("Authorization")  # the console never uses the API token
        yield client, publisher


async def sign_in(client: httpx.AsyncClient, role: str) -> str:
    response = await client.post("/console/login", data={"token": TOKENS[role]})
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"]


async def csrf(client: httpx.AsyncClient, path: str = "/console/reviews") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def run(coro) -> Any:
    return asyncio.run(coro)


def test_sign_in_sets_a_strict_http_only_cookie_and_bad_tokens_are_refused(locker, tmp_path):
    store, _, _ = locker

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, _):
            assert (await client.get("/console/")).headers["location"] == "/console/login"
            assert (await client.get("/console/events")).status_code == 401
            refused = await client.post("/console/login", data={"token": "not-a-token"})
            assert refused.status_code == 401 and "abusewatch_console=" not in refused.headers.get("set-cookie", "")
            cookie = await sign_in(client, "viewer")
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
            assert "Secure" not in cookie  # plain HTTP here; behind TLS it is set (next test)
            page = await client.get("/console/")
            assert page.status_code == 200 and "u-maria" in page.text

    run(scenario())


def test_the_cookie_is_secure_behind_tls(locker, tmp_path):
    store, _, _ = locker

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, _):
            response = await client.post("/console/login", data={"token": TOKENS["viewer"]},
                                         headers={"X-Forwarded-Proto": "https"})
            assert "Secure" in response.headers["set-cookie"]

    run(scenario())


def test_pages_carry_a_csp_without_inline_script_and_escape_what_they_show(locker, tmp_path):
    store, _, alert = locker

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, _):
            await sign_in(client, "viewer")
            for path in ("/console/", f"/console/campaigns/{alert['campaign_id']}", "/console/reviews",
                         "/console/actions", "/console/policy", "/console/reports"):
                page = await client.get(path)
                assert page.status_code == 200, (path, page.text)
                csp = page.headers["content-security-policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
                assert page.headers["x-frame-options"] == "DENY"
                assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == [], path  # every script is a file
                assert "http://" not in page.text and "https://" not in page.text.replace('https://social.example', '')
                assert "<script>alert(1)</script>" not in page.text
            campaign = await client.get(f"/console/campaigns/{alert['campaign_id']}")
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in campaign.text  # shown, escaped, blurred
            assert 'class="blurred"' in campaign.text and '<svg id="timeline"' in campaign.text
            title = re.search(r"<title>(.*?)</title>", campaign.text).group(1)
            assert "nobody" not in title and "script" not in title  # no post text in titles

    run(scenario())


def test_a_viewer_cannot_act_and_a_missing_csrf_token_is_rejected(locker, tmp_path):
    store, plan, _ = locker
    escalation = next(d for d in plan.decisions if d.topic == "escalations")
    action = next(d for d in plan.decisions if d.topic == "platform-actions")

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, publisher):
            await sign_in(client, "viewer")
            token = await csrf(client)
            viewer_claim = await client.post(f"/console/reviews/{escalation.id}/claim", data={"csrf_token": token})
            assert viewer_claim.status_code == 403
            viewer_decide = await client.post(f"/console/reviews/{escalation.id}/decide",
                                              data={"csrf_token": token, "outcome": "upheld"})
            assert viewer_decide.status_code == 403
            assert "decide-upheld" not in (await client.get("/console/reviews")).text  # no buttons for a viewer

            client.cookies.clear()
            await sign_in(client, "reviewer")
            no_token = await client.post(f"/console/reviews/{escalation.id}/claim", data={})
            assert no_token.status_code == 403 and "CSRF" in no_token.text
            wrong = await client.post(f"/console/reviews/{escalation.id}/claim", data={"csrf_token": token})
            assert wrong.status_code == 403  # the viewer's token belongs to another session
            reviewer_revoke = await client.post(f"/console/actions/{action.id}/revoke",
                                                data={"csrf_token": await csrf(client), "reason": "x"})
            assert reviewer_revoke.status_code == 403  # revoking outside a review is for admins
            assert publisher.published == [] and store.by_kind("review") == []

    run(scenario())


def test_a_reviewer_claims_and_decides_and_an_admin_revokes_with_a_reason(locker, tmp_path):
    store, plan, _ = locker
    escalation = next(d for d in plan.decisions if d.topic == "escalations")
    action = next(d for d in plan.decisions if d.topic == "platform-actions")

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, publisher):
            await sign_in(client, "reviewer")
            queue = await client.get("/console/reviews")
            assert escalation.id in queue.text and "unclaimed" in queue.text
            assert "nobody wants you here, log off" in queue.text and 'class="blurred"' in queue.text  # the evidence, blurred
            token = await csrf(client)
            claimed = await client.post(f"/console/reviews/{escalation.id}/claim", data={"csrf_token": token})
            assert claimed.status_code == 303
            (review,) = store.by_kind("review")
            assert review.payload["reviewer_id"] == "reviewer-1" and review.payload["escalation_id"] == escalation.id
            assert 'class="claimed-by">reviewer-1' in (await client.get("/console/reviews")).text
            bad = await client.post(f"/console/reviews/{escalation.id}/decide", data={"csrf_token": token, "outcome": "maybe"})
            assert bad.status_code == 400
            decided = await client.post(f"/console/reviews/{escalation.id}/decide",
                                        data={"csrf_token": token, "outcome": "overturned", "note": "satire thread"})
            assert decided.status_code == 303
            (appeal,) = publisher.published
            assert (appeal["event"], appeal["decision_id"], appeal["outcome"], appeal["reviewer_id"], appeal["statement"]) == (
                "decided", escalation.id, "overturned", "reviewer-1", "satire thread")

            client.cookies.clear()
            await sign_in(client, "admin")
            token = await csrf(client, "/console/actions")
            no_reason = await client.post(f"/console/actions/{action.id}/revoke", data={"csrf_token": token, "reason": " "})
            assert no_reason.status_code == 400
            revoked = await client.post(f"/console/actions/{action.id}/revoke", data={"csrf_token": token, "reason": "wrong target"})
            assert revoked.status_code == 303
            assert publisher.published[-1]["decision_id"] == action.id and publisher.published[-1]["outcome"] == "overturned"
            assert publisher.published[-1]["reviewer_id"] == "admin-1"

    run(scenario())


def test_a_session_expires(locker, tmp_path):
    store, _, _ = locker

    async def scenario() -> None:
        async with console(store, tmp_path, session_ttl_s=3.0) as (client, _):
            await sign_in(client, "viewer")
            assert (await client.get("/console/")).status_code == 200
            await asyncio.sleep(3.5)
            assert (await client.get("/console/")).headers["location"] == "/console/login"

    run(scenario())


def test_the_live_feed_and_the_downloads(locker, tmp_path):
    store, _, alert = locker

    async def scenario() -> None:
        async with console(store, tmp_path, refresh_s=0.2) as (client, _):
            await sign_in(client, "viewer")
            async with client.stream("GET", "/console/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                assert await anext(lines) == "event: campaigns"
                rows = json.loads((await anext(lines)).removeprefix("data: "))
            assert [row["campaign_id"] for row in rows] == [alert["campaign_id"]]
            assert rows[0]["severity"] == "high" and rows[0]["distinct_authors"] == 29
            csv_download = await client.get("/console/reports.csv")
            assert csv_download.status_code == 200 and csv_download.text.startswith("day,posts_scored")
            report = (await client.get("/console/reports.json")).json()
            assert report["total"]["escalations"]["total"] == 1
            bundle = await client.get(f"/console/campaigns/{alert['campaign_id']}/bundle.zip")
            assert bundle.status_code == 200 and bundle.content[:2] == b"PK"

    run(scenario())


def test_session_codec_refuses_forged_and_expired_cookies():
    codec = SessionCodec(b"k", ttl_s=60)
    cookie, session = codec.issue(User("a", "viewer"), now=1000.0)
    assert codec.read(cookie, now=1001.0) == session
    assert codec.read(cookie, now=1061.0) is None
    body, mac = cookie.split(".")
    assert codec.read(f"{body}x.{mac}", now=1001.0) is None
    assert SessionCodec(b"other", 60).read(cookie, now=1001.0) is None
    assert codec.csrf_ok(session, codec.csrf_token(session)) and not codec.csrf_ok(session, "")


def test_users_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "users.yaml"
    bad.write_text("users:\n  - {id: a, role: superuser, token_sha256: " + "0" * 64 + "}\n")
    with pytest.raises(UsersFileError, match="role must be one of"):
        Users.load(bad)
    bad.write_text("users:\n  - {id: a, role: viewer, token_sha256: plaintext}\n")
    with pytest.raises(UsersFileError, match="SHA-256"):
        Users.load(bad)
    assert Users.load(users_file(tmp_path)).authenticate("tok-admin") == User("admin-1", "admin")


def test_decide_and_revoke_act_only_on_what_their_page_lists(locker, tmp_path):
    store, plan, _ = locker
    escalation = next(d for d in plan.decisions if d.topic == "escalations")
    action = next(d for d in plan.decisions if d.topic == "platform-actions")

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, publisher):
            await sign_in(client, "reviewer")
            token = await csrf(client)
            # An action id in the review route would revoke it without a reason or the admin role.
            through_review = await client.post(f"/console/reviews/{action.id}/decide",
                                               data={"csrf_token": token, "outcome": "overturned"})
            assert through_review.status_code == 404
            unknown = await client.post("/console/reviews/no-such-id/decide", data={"csrf_token": token, "outcome": "upheld"})
            assert unknown.status_code == 404
            client.cookies.clear()
            await sign_in(client, "admin")
            token = await csrf(client, "/console/actions")
            not_an_action = await client.post(f"/console/actions/{escalation.id}/revoke",
                                              data={"csrf_token": token, "reason": "x"})
            assert not_an_action.status_code == 404
            assert publisher.published == []

    run(scenario())


def test_hostile_cookies_and_tokens_are_refused_not_errors(locker, tmp_path):
    store, _, _ = locker

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, _):
            hostile = {b"Cookie": "abusewatch_console=abc.\u00e9\u00e9".encode()}
            assert (await client.get("/console/", headers=hostile)).status_code == 303
            client.cookies.clear()
            await sign_in(client, "reviewer")
            refused = await client.post("/console/reviews/x/claim", data={"csrf_token": "\u00e9"})
            assert refused.status_code == 403

    run(scenario())


def test_a_removed_users_session_ends_and_a_weak_secret_is_refused(locker, tmp_path):
    store, _, _ = locker
    from abusewatch.api.console.pages import ConsoleConfigError

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, _):
            await sign_in(client, "viewer")
            cookie = client.cookies.get("abusewatch_console")
        # The same secret, a users file without the viewer: the cookie no longer signs anyone in.
        users_file(tmp_path).write_text("users:\n  - {id: admin-1, role: admin, token_sha256: "
                                        + token_sha256(TOKENS["admin"]) + "}\n")
        settings = ConsoleSettings(users_file=str(tmp_path / "users.yaml"), session_secret="unit-test-session-secret-of-32-bytes!")
        app = await create_api(ApiSettings(token="api-token"), scorer=object(), cases=NoCases(), store=store,
                               appeals=RecordingPublisher(), console=settings)
        async with api_client(app, "api-token", follow_redirects=False) as again:
            again.cookies.set("abusewatch_console", cookie, path="/console")
            assert (await again.get("/console/")).status_code == 303
        for weak in ("short", "change-me-to-32-random-bytes"):
            with pytest.raises(ConsoleConfigError):
                await create_api(ApiSettings(token="api-token"), scorer=object(), cases=NoCases(), store=store,
                                 appeals=RecordingPublisher(), console=ConsoleSettings(session_secret=weak))

    run(scenario())


def test_only_console_paths_skip_the_api_token(locker, tmp_path):
    store, _, _ = locker

    async def scenario() -> None:
        async with console(store, tmp_path) as (client, _):
            for path in ("/consolefoo", "/console-v1/campaigns/open", "/v1/campaigns/open"):
                assert (await client.get(path)).status_code == 401, path
            assert (await client.get("/console/campaigns/nope/bundle.zip")).status_code == 303  # not signed in

    run(scenario())


def test_an_evidence_post_says_what_the_hostility_layer_found():
    from types import SimpleNamespace

    from abusewatch.api.console.views import evidence_post

    scored = {"post_id": "p1", "author_id": "a1", "scores": {"toxicity": 0.02}, "model": {"name": "m", "version": "1"},
              "post": {"created_at": "2026-12-02T10:00:00Z", "text": "log off"},
              "hostility": {"detected": True, "kinds": ["dismissal"]}}
    post = evidence_post(SimpleNamespace(payload={"scored": scored}, seq=1, hash="h"))
    assert post["hostility"] == ["hostility: dismissal"]
    del scored["hostility"]  # written before the field existed
    assert evidence_post(SimpleNamespace(payload={"scored": scored}, seq=1, hash="h"))["hostility"] == []
