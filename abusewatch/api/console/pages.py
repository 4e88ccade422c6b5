"""The console's routes: sign-in, the pages, their live feed, and the reviewer's requests."""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import tempfile
import time
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from jinja2 import Environment, PackageLoader, select_autoescape

from abusewatch.api.console import views
from abusewatch.api.console.review import (
    DECISIONS,
    AppealsPublisher,
    ReviewError,
    claim,
    decision_appeal,
    require_applied_action,
    require_escalation,
)
from abusewatch.api.console.sessions import Session, SessionCodec, Users
from abusewatch.api.auth import is_console_path
from abusewatch.api.errors import ApiConfigError
from abusewatch.api.console.settings import ConsoleSettings
from abusewatch.evidence.bundle import export_bundle
from abusewatch.evidence.report import build_report, csv_text
from abusewatch.evidence.store import EvidenceStore
from abusewatch.ingest.contract import format_time, utcnow
from abusewatch.policy import PolicyFile

log = logging.getLogger(__name__)

CONSOLE_STORE = web.AppKey("console_store", EvidenceStore)
CONSOLE_PUBLISHER = web.AppKey("console_publisher", AppealsPublisher)
_STATE = web.AppKey("console_state", object)
_SESSION = web.RequestKey("console_session", Session)
COOKIE = "abusewatch_console"
STATIC_DIR = Path(__file__).with_name("static")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PUBLIC_PATHS = frozenset({"/console/login"})
MIN_SECRET_BYTES = 32
EXAMPLE_SECRETS = frozenset({b"change-me-to-32-random-bytes"})  # deploy/k8s/secret.example.yaml
CAMPAIGN_RECORDS = 5000  # newest records about the target a campaign page reads
EVIDENCE_PER_CASE = 5  # evidence posts shown on a review card; the campaign page shows them all


class ConsoleConfigError(ApiConfigError):
    """Console settings the API refuses to start with."""


class ConsoleState:
    """What every console request shares: settings, users, the session codec, templates, the
    policy file and the live feed's cached snapshot."""

    def __init__(self, settings: ConsoleSettings, policy_file: str, lookback: timedelta) -> None:
        self.settings = settings
        self.users = Users.load(settings.users_file)
        if not self.users.by_token_hash:
            log.warning("console: no users (ABUSEWATCH_CONSOLE_USERS_FILE is empty or lists none): nobody can sign in")
        secret = settings.session_secret.encode()
        if secret and (len(secret) < MIN_SECRET_BYTES or secret in EXAMPLE_SECRETS):
            raise ConsoleConfigError(
                f"ABUSEWATCH_CONSOLE_SESSION_SECRET must be at least {MIN_SECRET_BYTES} bytes and not the example "
                "value: anyone who knows it can sign in as any user (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        if not secret:
            log.warning("console: ABUSEWATCH_CONSOLE_SESSION_SECRET is not set; sessions last until the API restarts")
            secret = secrets.token_bytes(32)
        self.codec = SessionCodec(secret, settings.session_ttl_s, self.users)
        self.templates = Environment(loader=PackageLoader("abusewatch.api.console", "templates"),
                                     autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["duration"] = duration
        self.templates.filters["share"] = lambda value: "-" if value is None else f"{value:.0%}"
        self.policy = PolicyFile(policy_file, reload_interval_s=settings.refresh_s)
        self.lookback = lookback
        self.stopping = asyncio.Event()
        self._snapshot: tuple[float, list[dict[str, Any]]] | None = None
        self._snapshot_lock = asyncio.Lock()

    async def campaigns(self, store: EvidenceStore) -> list[dict[str, Any]]:
        """The open campaigns, read from the locker at most once per refresh interval for everyone."""
        async with self._snapshot_lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._snapshot[0] >= self.settings.refresh_s:
                rows = await asyncio.to_thread(self._read_campaigns, store)
                self._snapshot = (now, rows)
            return self._snapshot[1]

    def _read_campaigns(self, store: EvidenceStore) -> list[dict[str, Any]]:
        now = utcnow()
        since = format_time(now - self.lookback)
        until = format_time(now + timedelta(days=1))
        alerts = store.by_kind("alert", occurred_from=since, occurred_to=until)
        decisions = store.by_kind("decision", occurred_from=since, occurred_to=until)
        escalations = [r for r in decisions if r.payload["topic"] == "escalations" and not r.payload["shadow"]]
        return views.campaign_rows(alerts, escalations, now)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 90:
        return f"{sign}{seconds:.0f}s"
    if seconds < 5400:
        return f"{sign}{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{sign}{seconds / 3600:.1f}h"
    return f"{sign}{seconds / 86_400:.1f}d"


def _state(request: web.Request) -> ConsoleState:
    return request.app[_STATE]  # type: ignore[return-value]


def _store(request: web.Request) -> EvidenceStore:
    store = request.app.get(CONSOLE_STORE)
    if store is None:
        raise web.HTTPServiceUnavailable(text="the console has no evidence locker")
    return store


def _session(request: web.Request) -> Session:
    return request[_SESSION]


def _secure(request: web.Request, setting: str) -> bool:
    if setting in ("true", "false"):
        return setting == "true"
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    state = _state(request)
    session = request.get(_SESSION)
    page = state.templates.get_template(template).render(
        user=session.user if session else None,
        csrf_token=state.codec.csrf_token(session) if session else "",
        notice=request.query.get("notice"),
        **context,
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def forbidden(request: web.Request, needed: str) -> web.Response:
    return render(request, "error.html", status=403, title="Not allowed",
                  message=f"This needs the {needed} role; you are signed in as {_session(request).user.role}.")


@web.middleware
async def console_security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For /console/ paths: the security headers on every answer; a valid session on every page
    but the login page (else a redirect to it); a valid CSRF token on every state-changing request."""
    if not is_console_path(request.path):
        return await handler(request)
    response = await _console_request(request, handler)
    response.headers.update(SECURITY_HEADERS)
    return response


async def _console_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request)
    if request.path.startswith("/console/static/") or request.path in PUBLIC_PATHS:
        return await handler(request)
    session = state.codec.read(request.cookies.get(COOKIE), time.time())
    if session is None:
        if request.method == "GET" and request.path != "/console/events":
            raise web.HTTPSeeOther("/console/login")
        raise web.HTTPUnauthorized(text="sign in again: the console session is missing or has expired")
    request[_SESSION] = session
    if request.method not in ("GET", "HEAD"):
        form = await request.post()
        if not state.codec.csrf_ok(session, form.get("csrf_token") if isinstance(form.get("csrf_token"), str) else None):
            return render(request, "error.html", status=403, title="Request refused",
                          message="The form's CSRF token is missing or does not belong to this session. Reload the page and try again.")
    return await handler(request)


# -- sign-in ------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", title="Sign in", enabled=bool(_state(request).users.by_token_hash))


async def login(request: web.Request) -> web.Response:
    state = _state(request)
    form = await request.post()
    token = form.get("token")
    user = state.users.authenticate(token) if isinstance(token, str) and token else None
    if user is None:
        return render(request, "login.html", status=401, title="Sign in", enabled=bool(state.users.by_token_hash),
                      error="That token is not valid.")
    cookie, _ = state.codec.issue(user, time.time())
    response = web.HTTPSeeOther("/console/")
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", path="/console",
                        secure=_secure(request, state.settings.cookie_secure), max_age=int(state.settings.session_ttl_s))
    log.info("console: %s signed in as %s", user.id, user.role)
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/console")
    raise response


# -- pages --------------------------------------------------------------------------------------


async def campaigns_page(request: web.Request) -> web.Response:
    rows = await _state(request).campaigns(_store(request))
    return render(request, "campaigns.html", title="Live campaigns", campaigns=rows)


async def campaign_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the open campaigns, sent again whenever they change."""
    state = _state(request)
    store = _store(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no", **SECURITY_HEADERS})
    await response.prepare(request)
    sent: bytes | None = None
    session = _session(request)
    while not state.stopping.is_set() and time.time() < session.expires_at:  # ends with the session
        payload = orjson.dumps(await state.campaigns(store))
        if payload != sent:
            await response.write(b"event: campaigns\ndata: " + payload + b"\n\n")
            sent = payload
        else:
            await response.write(b": keep-alive\n\n")
        try:
            await asyncio.wait_for(state.stopping.wait(), state.settings.refresh_s)
        except TimeoutError:
            pass
    return response


def _campaign_view(store: EvidenceStore, campaign_id: str, lookback: timedelta, now: datetime) -> dict[str, Any] | None:
    records = store.by_key(f"campaign:{campaign_id}")
    alerts = [r.payload["alert"] for r in records if r.kind == "alert"]
    if not alerts:
        return None
    target_id = alerts[-1]["target_id"]
    decisions = [r for r in records if r.kind == "decision"]
    # A heavily targeted account has a long history: the newest records are the campaign's.
    posts = store.by_key(f"target:{target_id}", kinds=("post",), newest=CAMPAIGN_RECORDS)
    first = min(a["window"]["start"] for a in alerts)
    last = max(a.get("event_time") or a["detected_at"] for a in alerts)
    in_campaign = [r for r in posts if first <= r.occurred_at <= last or r.payload["scored"]["post_id"] in
                   {pid for a in alerts for pid in a["top_post_ids"]}]
    recent_alerts = store.by_kind("alert", occurred_from=format_time(now - lookback),
                                  occurred_to=format_time(now + timedelta(days=1)))
    other: dict[str, set[str]] = {}
    for record in recent_alerts:
        alert = record.payload["alert"]
        if alert["campaign_id"] != campaign_id:
            for author in alert["author_sample"]:
                other.setdefault(author, set()).add(alert["campaign_id"])
    appeals = [r for d in decisions for r in store.by_key(f"appealed:{d.payload['message'].get('action_id') or d.payload['message'].get('escalation_id')}", kinds=("appeal",))]
    state = views.reviews_by_decision(appeals, [])
    escalations = [{"escalation": d.payload["message"], "rule_id": d.payload["rule_id"], "shadow": d.payload["shadow"],
                    "decided": state.get(d.payload["message"]["escalation_id"], {}).get("decided")}
                   for d in decisions if d.payload["topic"] == "escalations"]
    return {
        "campaign_id": campaign_id,
        "target_id": target_id,
        "latest": alerts[-1],
        "alerts": alerts,
        "chart": views.timeline_chart([r.occurred_at for r in in_campaign], alerts),
        "posts": [views.evidence_post(r) for r in in_campaign][-200:],
        "authors": views.authors_of(in_campaign, other),
        "linked": sorted({cid for a in alerts for cid in a.get("linked_campaign_ids", [])}),
        "actions": views.actions_in_force(decisions, now=now),
        "escalations": escalations,
    }


async def campaign_page(request: web.Request) -> web.Response:
    state = _state(request)
    campaign_id = request.match_info["campaign_id"]
    view = await asyncio.to_thread(_campaign_view, _store(request), campaign_id, state.lookback, utcnow())
    if view is None:
        return render(request, "error.html", status=404, title="Not found",
                      message=f"No alerts of campaign {campaign_id} are in the evidence locker.")
    return render(request, "campaign.html", title=f"Campaign {campaign_id[:8]}", view=view)


async def campaign_bundle(request: web.Request) -> web.Response:
    """The campaign's case bundle (abusewatch/evidence/bundle.py) as one zip download."""
    campaign_id = request.match_info["campaign_id"]
    store = _store(request)

    def build() -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            out = export_bundle(store, Path(tmp) / "bundle", now=utcnow(), campaign_id=campaign_id)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(out.iterdir()):
                    archive.write(path, f"case-{campaign_id}/{path.name}")
            return buffer.getvalue()

    if not await asyncio.to_thread(store.by_key, f"campaign:{campaign_id}", kinds=("alert",)):
        return render(request, "error.html", status=404, title="Not found",
                      message="No alerts of that campaign are in the evidence locker.")
    data = await asyncio.to_thread(build)
    log.info("console: %s exported the case bundle of campaign %s", _session(request).user.id, campaign_id)
    return web.Response(body=data, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="case-{campaign_id}.zip"'})


def _review_queue(store: EvidenceStore, lookback: timedelta, sla: dict[str, float], now: datetime) -> list[dict[str, Any]]:
    since, until = format_time(now - lookback), format_time(now + timedelta(days=1))
    escalations = [r for r in store.by_kind("decision", occurred_from=since, occurred_to=until)
                   if r.payload["topic"] == "escalations"]
    state = views.reviews_by_decision(store.by_kind("appeal", occurred_from=since, occurred_to=until),
                                      store.by_kind("review", occurred_from=since, occurred_to=until))
    queue = views.review_queue(escalations, state, now=now, sla_s=sla)
    for item in queue:  # what the reviewer judges, on the card itself (blurred like everywhere)
        item["posts"] = [views.evidence_post(record)
                         for post_id in item["escalation"]["evidence_post_ids"][:EVIDENCE_PER_CASE]
                         for record in store.by_key(f"post:{post_id}", kinds=("post",))]
    return queue


async def reviews_page(request: web.Request) -> web.Response:
    state = _state(request)
    queue = await asyncio.to_thread(_review_queue, _store(request), state.lookback, state.settings.sla_seconds(), utcnow())
    return render(request, "reviews.html", title="Review queue", queue=queue, outcomes=DECISIONS)


async def claim_escalation(request: web.Request) -> web.Response:
    session = _session(request)
    if not session.user.can("reviewer"):
        return forbidden(request, "reviewer")
    escalation_id = request.match_info["escalation_id"]
    try:
        await asyncio.to_thread(claim, _store(request), escalation_id, session.user.id, utcnow())
    except ReviewError as exc:
        return render(request, "error.html", status=404, title="Not found", message=str(exc))
    raise web.HTTPSeeOther("/console/reviews?notice=claimed")


async def _publish_decision(request: web.Request, decision: str, outcome: str, note: str, kind: str) -> None:
    session = _session(request)
    appeal = decision_appeal(decision, outcome, session.user.id, note, utcnow(), kind)
    publisher = request.app.get(CONSOLE_PUBLISHER)
    if publisher is None:
        raise ReviewError("the console cannot publish decisions: no appeals publisher")
    await publisher.publish(appeal)
    log.info("console: %s decided %s on %s (appeal %s)", session.user.id, outcome, decision, appeal["appeal_id"])


async def _publish_and_return(request: web.Request, decision: str, outcome: str, note: str, kind: str,
                              failed_title: str, done: str) -> web.Response:
    """Publish the decision, then back to the page it came from; or say why not."""
    try:
        await _publish_decision(request, decision, outcome, note, kind)
    except (ReviewError, ValueError) as exc:
        return render(request, "error.html", status=400, title=failed_title, message=str(exc))
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        # The appeal id is a function of the decision, so sending it again cannot decide twice.
        return render(request, "error.html", status=503, title=failed_title,
                      message=f"It could not be confirmed on Kafka ({type(exc).__name__}). Try again: a repeat "
                              "records it once.")
    raise web.HTTPSeeOther(done)


async def decide_escalation(request: web.Request) -> web.Response:
    session = _session(request)
    if not session.user.can("reviewer"):
        return forbidden(request, "reviewer")
    form = await request.post()
    outcome, note = str(form.get("outcome", "")), str(form.get("note", "")).strip()
    escalation_id = request.match_info["escalation_id"]
    try:
        await asyncio.to_thread(require_escalation, _store(request), escalation_id)
    except ReviewError as exc:
        return render(request, "error.html", status=404, title="Not found", message=str(exc))
    return await _publish_and_return(request, escalation_id, outcome, note, "review", "Not decided",
                                     f"/console/reviews?notice={outcome}")


def _actions(store: EvidenceStore, reach: timedelta, now: datetime) -> list[dict[str, Any]]:
    since, until = format_time(now - reach), format_time(now + timedelta(days=1))
    return views.actions_in_force(store.by_kind("decision", occurred_from=since, occurred_to=until), now=now)


async def actions_page(request: web.Request) -> web.Response:
    state = _state(request)
    # Back as far as the longest action the policy can take: a year-long hold issued months ago is in force.
    longest = max((spec.duration_s for rule in state.policy.current().rules for spec in rule.actions), default=0)
    reach = max(state.lookback, timedelta(seconds=longest))
    rows = await asyncio.to_thread(_actions, _store(request), reach, utcnow())
    return render(request, "actions.html", title="Actions in force", actions=rows)


async def revoke_action(request: web.Request) -> web.Response:
    if not _session(request).user.can("admin"):
        return forbidden(request, "admin")
    form = await request.post()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        return render(request, "error.html", status=400, title="Not revoked", message="A revoke needs a reason.")
    action_id = request.match_info["action_id"]
    try:
        await asyncio.to_thread(require_applied_action, _store(request), action_id)
    except ReviewError as exc:
        return render(request, "error.html", status=404, title="Not found", message=str(exc))
    return await _publish_and_return(request, action_id, "overturned", reason, "revoke", "Not revoked",
                                     "/console/actions?notice=revoked")


async def policy_page(request: web.Request) -> web.Response:
    state = _state(request)
    policy = state.policy.current()
    now = utcnow()

    def hits() -> dict[str, dict[str, int]]:
        since = format_time(now - timedelta(days=14))
        return views.shadow_hits(_store(request).by_kind("decision", occurred_from=since,
                                                         occurred_to=format_time(now + timedelta(days=1))))

    shadow = await asyncio.to_thread(hits)
    days = [(now - timedelta(days=n)).date().isoformat() for n in range(13, -1, -1)]
    return render(request, "policy.html", title="Policy", policy=policy, shadow=shadow, days=days,
                  policy_error=state.policy.last_error)


def _report_range(request: web.Request) -> tuple[date, date]:
    today = utcnow().date()
    try:
        last = date.fromisoformat(request.query.get("to") or today.isoformat())
        first = date.fromisoformat(request.query.get("from") or (last - timedelta(days=13)).isoformat())
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"from/to must be YYYY-MM-DD: {exc}") from exc
    if last < first or (last - first).days > 366:
        raise web.HTTPBadRequest(text="from must be on or before to, at most 366 days apart")
    return first, last


async def reports_page(request: web.Request) -> web.Response:
    first, last = _report_range(request)
    report = await asyncio.to_thread(build_report, _store(request), first, last)
    charts = {title: views.day_bars(report["days"], field) for title, field in (
        ("Actions", "actions.total"), ("Escalations", "escalations.total"), ("Revocations", "revocations"),
        ("Appeals decided", "appeals.decided"))}
    return render(request, "reports.html", title="Transparency report", report=report, charts=charts,
                  first=first.isoformat(), last=last.isoformat())


async def report_download(request: web.Request) -> web.Response:
    first, last = _report_range(request)
    report = await asyncio.to_thread(build_report, _store(request), first, last)
    name = f"abusewatch-report-{first}-{last}"
    if request.match_info["format"] == "csv":
        return web.Response(text=csv_text(report), content_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return web.Response(body=orjson.dumps(report, option=orjson.OPT_INDENT_2), content_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


async def to_console_home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def _stop_streams(app: web.Application) -> None:
    app[_STATE].stopping.set()  # type: ignore[attr-defined]


def add_console(app: web.Application, settings: ConsoleSettings, *, policy_file: str, lookback: timedelta) -> None:
    """Register the console's routes and middleware on the API app. The evidence store and the
    appeals publisher are read from CONSOLE_STORE / CONSOLE_PUBLISHER at request time."""
    app[_STATE] = ConsoleState(settings, policy_file, lookback)
    app.middlewares.append(console_security)
    app.on_shutdown.append(_stop_streams)
    router = app.router
    router.add_get("/console", to_console_home)
    router.add_get("/console/login", login_page)
    router.add_post("/console/login", login)
    router.add_post("/console/logout", logout)
    router.add_get("/console/", campaigns_page)
    router.add_get("/console/events", campaign_events)
    router.add_get("/console/campaigns/{campaign_id}", campaign_page)
    router.add_get("/console/campaigns/{campaign_id}/bundle.zip", campaign_bundle)
    router.add_get("/console/reviews", reviews_page)
    router.add_post("/console/reviews/{escalation_id}/claim", claim_escalation)
    router.add_post("/console/reviews/{escalation_id}/decide", decide_escalation)
    router.add_get("/console/actions", actions_page)
    router.add_post("/console/actions/{action_id}/revoke", revoke_action)
    router.add_get("/console/policy", policy_page)
    router.add_get("/console/reports", reports_page)
    router.add_get("/console/reports.{format:json|csv}", report_download)
    router.add_static("/console/static/", STATIC_DIR)
