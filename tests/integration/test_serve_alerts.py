"""Alerts from the scheduler to a real local webhook receiver through apprise's json://
and form:// URLs: one alert per incident, the recovery, silence in maintenance,
reminders at the interval, and no repeat after a restart."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.switchable import Switch, switchable_server
from support.webhook import Receiver, webhook_receiver

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.alerts import Alerter, channels_of
from shipyard.serve.context import ServeContext
from shipyard.serve.live import LiveDeploys
from shipyard.serve.scheduler import Scheduler
from shipyard.serve.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def site() -> Iterator[Switch]:
    with switchable_server() as switch:
        yield switch


def config(tmp_path: Path, site: Switch, extra: str = "", remind: float = 3600) -> ShipyardConfig:
    path = tmp_path / "shipyard.yml"
    path.write_text(
        f"""\
app: shop
start: python3 app.py
alerts: {{channels: [HOOK, FORM], remind_every: {remind}}}
serve:
  url: "http://dash.test:8400"
  secrets:
    HOOK: {{from_env: SHIPYARD_TEST_HOOK}}
    FORM: {{from_env: SHIPYARD_TEST_FORM}}
environments:
  prod:
    hosts: [local]
    checks:
      - {{name: home, url: "{site.url}/", interval: 0.05, timeout: 2}}
{extra}"""
    )
    return ShipyardConfig.load(path)


@pytest.fixture(autouse=True)
def channels(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver.posts.clear()
    monkeypatch.setenv("SHIPYARD_TEST_HOOK", receiver.json_url())
    monkeypatch.setenv("SHIPYARD_TEST_FORM", receiver.form_url())


@contextmanager
def serving(cfg: ShipyardConfig, store: Store) -> Iterator[Scheduler]:
    ctx = ServeContext(cfg, cfg.path, store, cfg.serve.base_url, LiveDeploys())
    scheduler = Scheduler(ctx, Alerter(channels_of(cfg), store, 5))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(scheduler.run(stop),))
    thread.start()
    try:
        yield scheduler
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
        scheduler.alerter.close()


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def runs_later(scheduler: Scheduler, count: int) -> None:
    target = scheduler.runs + count
    until(lambda: scheduler.runs >= target)


def hook_titles(receiver: Receiver) -> list[str]:
    return [p.fields["title"] for p in receiver.posts if p.path == "/hook"]


def test_an_outage_sends_one_alert_to_every_channel_and_one_recovery(
    tmp_path: Path, site: Switch, receiver: Receiver
) -> None:
    store = Store.open(tmp_path / "serve.db")
    with serving(config(tmp_path, site), store) as scheduler:
        runs_later(scheduler, 5)
        site.up = False
        receiver.wait_for(2)
        runs_later(scheduler, 20)  # long down: still one alert
        assert hook_titles(receiver) == [
            f"[DOWN] prod: check home (GET http://127.0.0.1:{site.port}/) is failing"
        ]
        site.up = True
        receiver.wait_for(4)
        runs_later(scheduler, 10)
    titles = hook_titles(receiver)
    assert len(titles) == 2 and titles[1].startswith("[RECOVERED] prod: check home")
    assert scheduler.alerter.worker.started == 1  # DOWN and RECOVERED: one delivery process
    assert sorted(p.path for p in receiver.posts) == ["/form", "/form", "/hook", "/hook"]
    down = next(p for p in receiver.posts if p.path == "/form")
    body = down.fields["message"] if "message" in down.fields else down.fields["body"]
    assert "Evidence:" in body and "status 503" in body and "HTTP 503, expected 200" in body
    assert "Dashboard: http://dash.test:8400/env/prod/checks/home" in body
    assert [a.kind for a in store.alerts()] == ["check_down", "check_recovered"]
    (incident,) = store.incidents("prod")
    assert incident.resolved_at is not None


def test_an_outage_inside_a_maintenance_window_sends_nothing(
    tmp_path: Path, site: Switch, receiver: Receiver
) -> None:
    window = '    maintenance: [{start: "2020-01-01T00:00:00Z", end: "2099-01-01T00:00:00Z"}]\n'
    store = Store.open(tmp_path / "serve.db")
    site.up = False
    with serving(config(tmp_path, site, window), store) as scheduler:
        runs_later(scheduler, 20)
    assert receiver.posts == []
    assert store.incidents("prod") == []
    results = store.results("prod", "home")
    assert results and all(r.maintenance and not r.ok for r in results)


def test_reminders_come_at_the_interval_while_it_stays_down(
    tmp_path: Path, site: Switch, receiver: Receiver
) -> None:
    store = Store.open(tmp_path / "serve.db")
    site.up = False
    with serving(config(tmp_path, site, remind=0.5), store):
        receiver.wait_for(6)
    sent = [a for a in store.alerts()]
    assert [a.kind for a in sent[:3]] == ["check_down", "check_reminder", "check_reminder"]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(sent)]
    assert all(gap >= 0.5 for gap in gaps[:2])
    assert hook_titles(receiver)[1].startswith("[STILL DOWN] prod: check home")


def test_a_restart_keeps_the_open_incident_and_alerts_only_its_recovery(
    tmp_path: Path, site: Switch, receiver: Receiver
) -> None:
    store = Store.open(tmp_path / "serve.db")
    cfg = config(tmp_path, site)
    site.up = False
    with serving(cfg, store):
        receiver.wait_for(2)
    with serving(cfg, store) as scheduler:  # serve restarted while still down
        runs_later(scheduler, 10)
        assert len(hook_titles(receiver)) == 1
        site.up = True
        receiver.wait_for(4)
    assert [a.kind for a in store.alerts()] == ["check_down", "check_recovered"]
    assert len(store.incidents("prod")) == 1
