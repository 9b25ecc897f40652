"""The dashboard in a real browser (Debian's headless chromium through Playwright),
against records and events made by real deploys to a local environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.dashboard import Context, MemoryStore, Result
from support.dashboard_server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, serving
from support.localenv import shutdown

from shipyard.config.loader import ConfigFile
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.live import LiveDeploys
from shipyard.serve.web import auth
from shipyard.serve.web.app import AuthSettings, create_app

pytestmark = pytest.mark.integration

PASSWORD = "dashboard-test-password"
PAGES = [
    "/",
    "/env/local",
    "/env/local/live",
    "/env/local/checks",
    "/env/local/delivery",
    "/history",
]


@dataclass
class Site:
    url: str
    repo: AppRepo
    live: LiveDeploys
    store: MemoryStore
    console: list[str] = field(default_factory=list)  # errors of the page open now


def configure(repo: AppRepo, health: dict[str, Any], env: dict[str, str], message: str) -> None:
    data = repo.config.read_text()
    import yaml

    config = yaml.safe_load(data)
    config["health"] = {**config["health"], **health}
    config["env"] = env
    repo.write_config(config)
    repo.commit_file("NOTE", message, message)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    base = Path(tempfile.mkdtemp(prefix="syd-", dir="/tmp"))
    base.chmod(0o755)
    repo = make_repo(base / "repo", local_config(base / "hosts", free_port()))
    try:
        first = repo.shipyard("deploy", "local", "--message", "first")
        assert first.returncode == 0, first.stderr + first.stdout
        configure(repo, {"deadline": 2}, {"RECONCILE_FAIL_HEALTH": "1"}, "breaks its health")
        broken = repo.shipyard("deploy", "local")
        assert broken.returncode != 0, broken.stdout
        store = MemoryStore()
        health = httpx.Client(timeout=5)
        listen = ConfigFile.load(repo.config).environment("local").public_url
        for _ in range(20):  # real probes through nginx stand in for serve's checks
            started = time.monotonic()
            response = health.get(f"{listen}/healthz")
            elapsed = (time.monotonic() - started) * 1000
            store.checks.append(
                Result(
                    "local", "health", "local", time.time(), response.status_code == 200, elapsed
                )
            )
            time.sleep(0.02)
        live = LiveDeploys(idle_interval=0.5, busy_interval=0.25)
        app = create_app(
            Context(ShipyardConfig.load(repo.config), store, live),
            AuthSettings(password_hash=auth.hash_secret(PASSWORD)),
        )
        with serving(app) as url:
            deadline = time.monotonic() + 30
            while live.snapshot("local").polled_at is None:
                assert time.monotonic() < deadline, live.snapshot("local").error
                time.sleep(0.1)
            yield Site(url, repo, live, store)
    finally:
        shutdown(base / "hosts")
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[BrowserContext]:
    ARTIFACTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def signed_in(site: Site, browser: BrowserContext) -> BrowserContext:
    """The browser after signing in once (the session cookie is kept in its profile)."""
    page = browser.new_page()
    page.goto(site.url + "/env/local")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/env/local")
    page.close()
    return browser


def watched(context: BrowserContext, site: Site) -> Page:
    site.console.clear()
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and site.console.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: site.console.append(f"{page.url}: {e}"))
    return page


def shot(page: Page, name: str) -> None:
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_every_page_sends_a_visitor_to_the_sign_in_page_first(
    site: Site, browser: BrowserContext
) -> None:
    page = watched(browser, site)
    for path in PAGES:
        page.goto(site.url + path)
        assert page.url.startswith(site.url + "/login?next="), path
    assert httpx.get(site.url + "/api/environments").status_code == 401
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("wrong password")
    shot(page, "login")
    page.close()
    # the refused password's 401 is the only error the browser saw
    assert [e for e in site.console if "401" not in e] == []


def test_after_signing_in_every_page_loads_without_console_errors(
    site: Site, signed_in: BrowserContext
) -> None:
    page = watched(signed_in, site)
    for path in PAGES:
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        shot(page, path.strip("/").replace("/", "-") or "environments")
    page.goto(site.url + "/")
    card = page.locator("section.env[data-env=local]")
    expect(card).to_contain_text("Active release")
    expect(card.locator("tr.active")).to_contain_text("RUNNING")
    page.goto(site.url + "/history?outcome=failed")
    expect(page.locator("table.deploys tbody tr")).to_have_count(1)
    expect(page.locator("td.err")).not_to_be_empty()
    page.goto(site.url + "/history?outcome=succeeded")
    expect(page.locator("table.deploys tbody tr")).to_have_count(1)
    assert site.console == []
    page.close()


def test_the_charts_render_as_svg(site: Site, signed_in: BrowserContext) -> None:
    page = watched(signed_in, site)
    page.goto(site.url + "/env/local/checks")
    bars = page.locator("svg.uptime rect.bar")
    assert bars.count() == 96
    assert page.locator("svg.uptime rect.bar.up").count() >= 1
    line = page.locator("svg.chart polyline.line")
    expect(line).to_have_count(1)
    box = page.locator("svg.chart").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert site.console == []
    page.close()


def test_a_confidence_rating_recorded_in_the_browser_shows_in_the_trend(
    site: Site, signed_in: BrowserContext
) -> None:
    page = watched(signed_in, site)
    page.goto(site.url + "/env/local/delivery")
    form = page.locator("form.rating")
    form.locator("input[name=score]").fill("7")
    form.locator("input[name=who]").fill("alice")
    form.locator("button[type=submit]").click()
    page.wait_for_url(site.url + "/env/local/delivery#confidence")
    expect(page.locator("#confidence tbody tr")).to_have_count(1)
    expect(page.locator("#confidence tbody")).to_contain_text("7.0")
    shot(page, "delivery-rated")
    assert [(who, score) for who, _, score in site.store.ratings] == [("alice", 7)]
    assert site.console == []
    page.close()


def test_the_live_view_shows_the_phases_of_a_deploy_while_it_runs(
    site: Site, signed_in: BrowserContext
) -> None:
    page = watched(signed_in, site)
    page.goto(site.url + "/env/local/live")
    before = page.locator("#live").get_attribute("data-deployment")
    configure(site.repo, {"deadline": 30}, {"RECONCILE_BOOT_DELAY": "4"}, "boots slowly")
    deploy = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "deploy", "local", "-c", str(site.repo.config)],
        cwd=site.repo.path,
        env={**os.environ, "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # the page was loaded before the deploy began: these cells come by SSE, each as
        # the primary records it (on its lane, while the slow boot and check still run)
        assert before
        expect(page.locator("#live")).not_to_have_attribute(
            "data-deployment", before, timeout=60_000
        )
        page.locator('tr[data-host] td.phase[data-phase="boot"]').wait_for(timeout=60_000)
        assert deploy.poll() is None, "the deploy ended before its phases were shown"
        expect(page.locator('td.phase[data-phase="prepare"]')).to_have_class("phase ok")
        expect(page.locator("#live-state")).to_have_class("running")
        shot(page, "live-running")
        output, _ = deploy.communicate(timeout=120)
        assert deploy.returncode == 0, output
    except Exception:
        shot(page, "live-failure")
        (ARTIFACTS / "live-failure.html").write_text(page.content())
        (ARTIFACTS / "live-failure.txt").write_text(
            f"{site.live.state('local')}\n{site.live.event_errors}\n"
            + (deploy.stdout.read() if deploy.poll() is not None and deploy.stdout else "")
        )
        raise
    finally:
        if deploy.poll() is None:
            deploy.kill()
    expect(page.locator('td.phase[data-phase="switch"]')).to_have_class("phase ok", timeout=15_000)
    shot(page, "live-done")
    assert site.console == []
    page.close()


def test_a_failing_deploy_shows_its_probes_and_log_lines_on_an_open_live_page(
    site: Site, signed_in: BrowserContext
) -> None:
    page = watched(signed_in, site)
    page.goto(site.url + "/env/local/live")
    before = page.locator("#live").get_attribute("data-deployment")
    configure(site.repo, {"deadline": 2}, {"RECONCILE_FAIL_HEALTH": "1"}, "breaks it again")
    failing = site.repo.shipyard("deploy", "local")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    # the page was open before the deploy: the evidence came by SSE, drawn by live.js
    expect(page.locator("#live")).not_to_have_attribute("data-deployment", before or "")
    failure = page.locator("#failures .failure").filter(has_text="check failed")
    expect(failure.locator("ul.probes li").last).to_contain_text("/healthz -> ")
    expect(failure.locator("pre.log-tail")).not_to_be_empty()
    shot(page, "live-failed-evidence")
    assert site.console == []
    page.close()
