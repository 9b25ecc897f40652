"""The alert delivery worker (alerts.DeliveryWorker, serve/deliver.py): one real child
process, loading apprise once, delivers alert after alert to a real local webhook
receiver; one that hangs is killed at the request's time limit and its alerts count as
failed; one that died or sat idle is started again when needed."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.webhook import Receiver, webhook_receiver

from shipyard.serve.alerts import Alert, AlertKind, Channel, Delivery, DeliveryWorker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def worker() -> Iterator[DeliveryWorker]:
    running = DeliveryWorker()
    yield running
    running.close()


def alert(what: str) -> Alert:
    now = time.time()
    return Alert(AlertKind.TEST, "prod", what, "prod", now, ["evidence"], "", now)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is not alive


def test_one_worker_process_delivers_alert_after_alert(
    receiver: Receiver, worker: DeliveryWorker
) -> None:
    hook = [Channel("HOOK", receiver.json_url("worker"))]
    before = len(receiver.posts)
    pids = []
    for n in range(3):
        assert worker.deliver(hook, [alert(f"alert {n}")], 5) == [Delivery(["HOOK"], [])]
        pids.append(worker.pid)
    assert worker.deliver(hook, [alert("three"), alert("four")], 5) == [
        Delivery(["HOOK"], []),
        Delivery(["HOOK"], []),
    ]
    assert worker.started == 1 and pids == [pids[0]] * 3 and worker.pid == pids[0]
    titles = [p.fields["title"] for p in receiver.wait_for(before + 5)[before:]]
    assert titles == [f"[TEST] prod: alert {n}" for n in range(3)] + [
        "[TEST] prod: three",
        "[TEST] prod: four",
    ]


def test_a_worker_that_does_not_answer_is_killed_and_its_alerts_count_as_failed() -> None:
    hanging = DeliveryWorker(
        grace=0.5, command=[sys.executable, "-c", "import time; time.sleep(60)"]
    )
    try:
        channels = [Channel("HOOK", "json://127.0.0.1:9/"), Channel("FORM", "form://127.0.0.1:9/")]
        assert hanging.deliver(channels, [alert("x")], 0.1) == [Delivery([], ["HOOK", "FORM"])]
        assert hanging.pid is None and hanging.started == 1
        assert hanging.deliver(channels, [alert("y")], 0.1) == [Delivery([], ["HOOK", "FORM"])]
        assert hanging.started == 2  # the next request, a new process
    finally:
        hanging.close()


def test_a_worker_that_died_is_started_again_for_the_next_alert(
    receiver: Receiver, worker: DeliveryWorker
) -> None:
    hook = [Channel("HOOK", receiver.json_url("died"))]
    worker.warm()
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    while alive(first):
        time.sleep(0.01)
    assert worker.deliver(hook, [alert("after")], 5) == [Delivery(["HOOK"], [])]
    assert worker.started == 2 and worker.pid not in (None, first)


def test_an_idle_worker_is_ended_and_a_used_one_is_kept() -> None:
    idle = DeliveryWorker(max_idle=3600)
    try:
        idle.warm()
        pid = idle.pid
        assert pid is not None
        idle.expire()
        assert idle.pid == pid  # used a moment ago: kept
        idle.max_idle = 0
        time.sleep(0.01)
        idle.expire()
        assert idle.pid is None and not alive(pid)
    finally:
        idle.close()


def test_alerts_without_channels_start_no_worker(worker: DeliveryWorker) -> None:
    assert worker.deliver([], [alert("nowhere")], 5) == [Delivery([], [])]
    assert worker.started == 0


def test_warming_or_expiring_the_worker_during_a_delivery_does_not_wait_for_it() -> None:
    """serve calls warm() and expire() from its event loop: they must never block it
    behind a delivery under way in a worker thread (it once did: HTTP requests to serve
    timed out while an alert was being delivered)."""
    slow = DeliveryWorker(command=[sys.executable, "-c", "import time; time.sleep(60)"])
    channels = [Channel("HOOK", "json://127.0.0.1:9/")]
    answered: list[list[Delivery]] = []
    delivering = threading.Thread(
        target=lambda: answered.append(slow.deliver(channels, [alert("x")], 30))
    )
    try:
        slow.warm()
        pid = slow.pid
        assert pid is not None
        delivering.start()
        while not slow.busy:
            time.sleep(0.01)
        slow.warm()
        slow.expire()
        assert delivering.is_alive() and not answered  # returned while it still delivers
        os.kill(pid, signal.SIGKILL)  # the worker dies: the delivery ends, as failed
        delivering.join(timeout=60)
        assert answered == [[Delivery([], ["HOOK"])]]
    finally:
        slow.close()
