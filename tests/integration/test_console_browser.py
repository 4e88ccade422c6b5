"""The console in a real browser (Debian's Chromium driven by Playwright) against the running
stack (real broker, real model, classifier, detector, actions and api as separate processes) with
the demo's pile-on and threat:

- the campaign appears on the live page without a reload, and its page shows the chart and evidence;
- a reviewer upholds the threat escalation and overturns the pile-on's: the overturn's revoke of the
  reply limit reaches platform-actions, and the outcomes reach the locker as reviewer-attributed
  appeal records and retraining labels;
- an admin revokes an action with a reason, and downloads the case bundle;
- a viewer sees no controls and is refused (403) when posting a decision anyway.

Screenshots go to $ABUSEWATCH_CONSOLE_SCREENSHOTS when set (docs/console.md's come from this test).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abusewatch.actions.appeals import appeal_labels
from abusewatch.api.console.sessions import write_users_file
from abusewatch.devstack.stack import Stack
from abusewatch.evidence import open_store
from abusewatch.offline.demo import build_demo_stream

from .conftest import TopicReader, send_posts, stack_env

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `bash .ci/test-tools` as root (apt-get install chromium); "
                    "Playwright never downloads a browser here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console_stack(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    tokens = write_users_file(tmp / "users.yaml", {"viewer-1": "viewer", "reviewer-1": "reviewer", "admin-1": "admin"})
    env = stack_env(broker, tmp, ABUSEWATCH_CONSOLE_USERS_FILE=str(tmp / "users.yaml"),
                    ABUSEWATCH_CONSOLE_SESSION_SECRET="browser-test-session-secret-32-bytes+", ABUSEWATCH_CONSOLE_REFRESH_S="1")
    stack = Stack(roles=("classifier", "detector", "actions", "api"), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=300)
    yield stack, tokens, tmp
    stack.stop()


def shot(page, name: str) -> None:
    out = os.environ.get("ABUSEWATCH_CONSOLE_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"{name}.png"), full_page=False)


def sign_in(browser, stack, token: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(stack.url("api", "/console/login"))
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_url("**/console/")
    return context, page


def test_an_analyst_watches_reviews_and_acts_in_the_browser(console_stack, browser, producer):
    stack, tokens, tmp = console_stack
    reader = TopicReader(stack.kafka.bootstrap, stack.kafka.topic("platform-actions"))
    context, page = sign_in(browser, stack, tokens["reviewer-1"])
    page.wait_for_selector("#live-status:text('live')")
    assert page.locator("#campaigns tbody tr").count() == 0
    page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads

    stream = build_demo_stream(datetime.now(timezone.utc) - timedelta(minutes=6), id_prefix="cb-")
    send_posts(producer, stack.kafka.topic("posts"), stream.posts)
    # Live: the row arrives over server-sent events, the page is never reloaded.
    row = page.locator(f"#campaigns tbody tr:has-text('{stream.pile_on_target}')")
    row.wait_for(timeout=240_000)
    assert page.evaluate("window.stillTheSamePage === true")
    # Filtering and sorting happen in the page, on the rows the stream sent.
    page.fill("#filter-target", "nobody-by-this-name")
    assert page.locator("#campaigns tbody tr").count() == 0 and page.locator("#no-campaigns").is_visible()
    page.fill("#filter-target", "maria")
    assert row.count() == 1
    page.click("#campaigns th[data-key='abusive_posts']")
    assert "sorted-desc" in page.locator("#campaigns th[data-key='abusive_posts']").get_attribute("class")
    shot(page, "live-campaigns")

    row.locator("a").click()
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline rect.bar").count() > 0 and page.locator("#timeline .alert-mark").count() > 0
    assert page.locator("#evidence tbody tr").count() >= 5
    first_text = page.locator("#evidence .blurred").first
    assert "revealed" not in (first_text.get_attribute("class") or "")
    first_text.click()
    assert "revealed" in first_text.get_attribute("class")
    assert page.locator("#authors tbody tr").count() >= 5
    shot(page, "campaign")

    page.goto(stack.url("api", "/console/reviews"))
    threat_case = page.locator("section.case[data-category='threat']").first
    threat_case.wait_for(timeout=120_000)
    pile_on_case = page.locator("section.case[data-category='pile_on']").first
    pile_on_case.wait_for(timeout=120_000)
    shot(page, "review-queue")
    pile_on_id = pile_on_case.get_attribute("data-escalation")
    threat_id = threat_case.get_attribute("data-escalation")
    pile_on_case.locator("button.claim").click()
    page.wait_for_url("**/console/reviews?notice=claimed")
    assert page.locator(f"section[data-escalation='{pile_on_id}'] .claimed-by").inner_text() == "reviewer-1"
    page.locator(f"section[data-escalation='{threat_id}'] button.decide-upheld").click()
    page.wait_for_url("**notice=upheld")
    case = page.locator(f"section[data-escalation='{pile_on_id}']")
    case.locator("input[name=note]").fill("coordinated, but satire of a public official")
    case.locator("button.decide-overturned").click()
    page.wait_for_url("**notice=overturned")

    # The overturn goes through the appeals topic to the actions service, which revokes the reply limit.
    actions = reader.wait_for(lambda ms: any(m["op"] == "revoke" for m in ms), 120, "a revoke")
    limit = next(m for m in actions if m["op"] == "apply" and m["kind"] == "limit_replies_to_target"
                 and m["subject"]["id"] == stream.pile_on_target)
    revoke = next(m for m in actions if m["op"] == "revoke")
    assert revoke["revokes"] == limit["action_id"] and revoke["reasons"]["reviewer_id"] == "reviewer-1"

    store = open_store(stack.env["ABUSEWATCH_EVIDENCE_DSN"])
    try:
        labels = {label["decision_id"]: label for label in appeal_labels(store)}
        assert labels[threat_id]["label"] == "true_positive" and labels[pile_on_id]["label"] == "false_positive"
        assert {labels[i]["reviewer_id"] for i in (threat_id, pile_on_id)} == {"reviewer-1"}
        assert [r.payload["reviewer_id"] for r in store.by_key(f"review:{pile_on_id}")] == ["reviewer-1"]
    finally:
        store.close()
    page.goto(stack.url("api", "/console/reviews"))
    assert page.locator(f"section[data-escalation='{threat_id}']").count() == 0  # decided: out of the queue
    context.close()

    # An admin revokes the threat's author throttle with a reason and downloads the case bundle.
    context, page = sign_in(browser, stack, tokens["admin-1"])
    page.goto(stack.url("api", "/console/actions"))
    throttle = page.locator("#actions tbody tr:has-text('throttle_author')").first
    throttle_id = throttle.get_attribute("data-action")
    throttle.locator("input[name=reason]").fill("author was quoting the threat to report it")
    throttle.locator("button").click()
    page.wait_for_url("**notice=revoked")
    reader.wait_for(lambda ms: any(m["op"] == "revoke" and m["revokes"] == throttle_id for m in ms), 120, "the throttle's revoke")
    page.goto(stack.url("api", f"/console/campaigns/{limit['reasons']['campaign_id']}"))
    with page.expect_download() as download:
        page.click("#bundle")
    bundle = tmp / "bundle.zip"
    download.value.save_as(bundle)
    names = zipfile.ZipFile(bundle).namelist()
    assert any(name.endswith("manifest.json") for name in names) and any(name.endswith("records.jsonl") for name in names)
    page.goto(stack.url("api", "/console/reports"))
    assert page.locator("svg.day-chart").count() == 4
    shot(page, "reports")
    context.close()

    # A viewer sees no controls, and a decision posted anyway (with the viewer's own CSRF token) is refused.
    context, page = sign_in(browser, stack, tokens["viewer-1"])
    page.goto(stack.url("api", "/console/reviews"))
    assert page.locator("button.claim, button[class^=decide-]").count() == 0
    csrf = page.locator("form.signout input[name=csrf_token]").get_attribute("value")
    refused = page.request.post(stack.url("api", f"/console/reviews/{pile_on_id}/decide"),
                                form={"csrf_token": csrf, "outcome": "upheld"})
    assert refused.status == 403
    context.close()
    reader.close()
