"""The dashboard's routes in process: sign-in, CSRF, pages and their JSON, no host."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from support.dashboard import (
    FakeHosts,
    MemoryStore,
    Result,
    Sample,
    deployment,
    make_app,
    status,
)

from shipyard.protocol.common import Event
from shipyard.serve.web import auth
from shipyard.serve.web.app import AuthSettings

PASSWORD = "a long dashboard password"
TOKEN = "api-token-0123456789"
SETTINGS = AuthSettings(
    password_hash=auth.hash_secret(PASSWORD), token_hash=auth.hash_secret(TOKEN)
)


@pytest.fixture
def hosts() -> FakeHosts:
    hosts = FakeHosts()
    hosts.records["staging"] = [
        deployment(3, outcome="failed"),
        deployment(2),
        deployment(1, actor="bob"),
    ]
    hosts.records["production"] = [deployment(4)]
    hosts.statuses["staging"] = status("staging", "r00000000002")
    hosts.statuses["production"] = status("production", "r00000000004")
    hosts.events["staging"] = [
        Event(1, 1.7e9, "d00009", "lock-acquired", {"actor": "carol"}),
        Event(
            2,
            1.7e9,
            "d00009",
            "phase",
            {"host": "local", "phase": "prepare", "status": "ok", "detail": ""},
        ),
        Event(
            3,
            1.7e9,
            "d00009",
            "phase",
            {
                "host": "local",
                "phase": "check",
                "status": "failed",
                "detail": "GET /healthz -> HTTP 500",
            },
        ),
    ]
    return hosts


@pytest.fixture
def store() -> MemoryStore:
    now = time.time()
    return MemoryStore(
        checks=[
            Result("staging", "health", "local", now - 600 + i * 60, i != 3, 12.0 + i)
            for i in range(10)
        ],
        samples=[
            Sample("staging", "web1", now - 600 + i * 60, 10.0 + i, 512 + i, 1024)
            for i in range(10)
        ],
    )


@pytest.fixture
def client(tmp_path: Path, hosts: FakeHosts, store: MemoryStore) -> Iterator[TestClient]:
    app, live = make_app(tmp_path, hosts, store, SETTINGS)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        deadline = time.monotonic() + 10
        while (
            live.snapshot("production").polled_at is None
            or live.snapshot("staging").polled_at is None
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def sign_in(client: TestClient) -> None:
    form = client.get("/login")
    response = client.post(
        "/login", data={"csrf": csrf_of(form.text), "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303


def test_every_page_redirects_to_the_sign_in_page_until_signed_in(client: TestClient) -> None:
    for path in ("/", "/history", "/env/staging", "/env/staging/live", "/env/staging/checks"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_the_api_answers_401_without_a_session_or_token(client: TestClient) -> None:
    response = client.get("/api/environments")
    assert response.status_code == 401
    assert (
        client.get("/api/environments", headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )


def test_the_api_answers_with_the_token(client: TestClient) -> None:
    response = client.get("/api/environments", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    names = [e["name"] for e in response.json()["environments"]]
    assert names == ["production", "staging"]


def test_a_wrong_password_is_refused_and_shows_the_form_again(client: TestClient) -> None:
    form = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(form.text), "password": "nope"})
    assert response.status_code == 401
    assert "wrong password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_login_without_the_csrf_token_is_refused_even_with_the_right_password(
    client: TestClient,
) -> None:
    client.get("/login")
    response = client.post("/login", data={"password": PASSWORD})
    assert response.status_code == 403
    response = client.post("/login", data={"password": PASSWORD, "csrf": "0" * 64})
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303


def test_signing_out_needs_the_csrf_token(client: TestClient) -> None:
    sign_in(client)
    assert client.post("/logout", data={}).status_code == 403
    page = client.get("/")
    assert page.status_code == 200
    client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_http_only_and_same_site_strict(client: TestClient) -> None:
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_after_sign_in_the_next_page_is_only_ever_on_this_site(client: TestClient) -> None:
    form = client.get("/login?next=//evil.example/x")
    response = client.post(
        "/login?next=//evil.example/x",
        data={"csrf": csrf_of(form.text), "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_the_environments_page_shows_the_active_release_who_deployed_it_and_health(
    client: TestClient,
) -> None:
    sign_in(client)
    page = client.get("/").text
    assert "r00000000002" in page and "alice" in page
    data = client.get("/api/environments/staging").json()
    assert data["active_release"] == "r00000000002"
    assert data["deployed"]["actor"] == "alice"
    assert data["hosts"][0]["slots"][0]["healthy"] is True
    assert data["lock"] is None


def test_history_filters_by_environment_and_outcome(client: TestClient) -> None:
    sign_in(client)
    every = client.get("/api/history").json()["deployments"]
    assert [d["id"] for d in every] == ["d00004", "d00003", "d00002", "d00001"]
    failed = client.get("/api/history?env=staging&outcome=failed").json()["deployments"]
    assert [(d["id"], d["error"]) for d in failed] == [
        ("d00003", "check failed: GET /healthz -> HTTP 500")
    ]
    page = client.get("/history?outcome=failed").text
    assert "d00003" not in page or "HTTP 500" in page


def test_the_live_view_shows_each_hosts_phases_and_the_failure(client: TestClient) -> None:
    sign_in(client)
    data = client.get("/api/environments/staging/live").json()
    assert data["deployment_id"] == "d00009"
    assert data["grid"]["cells"]["local"]["prepare"]["status"] == "ok"
    assert data["grid"]["failures"][0]["detail"] == "GET /healthz -> HTTP 500"
    page = client.get("/env/staging/live").text
    assert 'class="phase failed"' in page and "GET /healthz -&gt; HTTP 500" in page


def test_the_checks_page_draws_uptime_bars_and_response_times(client: TestClient) -> None:
    sign_in(client)
    data = client.get("/api/environments/staging/checks?period=24h").json()
    (check,) = data["checks"]
    assert check["uptime_pct"] == 90.0
    assert "<svg" in check["bars_svg"] and "<polyline" in check["latency_svg"]
    page = client.get("/env/staging/checks").text
    assert page.count("<svg") == 2


def test_an_unknown_environment_is_a_404(client: TestClient) -> None:
    sign_in(client)
    assert client.get("/env/nope").status_code == 404


def test_pages_carry_a_content_security_policy_without_inline_scripts(client: TestClient) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<script>" not in response.text


def test_without_a_password_or_token_configured_nothing_is_shown(
    tmp_path: Path, hosts: FakeHosts, store: MemoryStore
) -> None:
    app, _ = make_app(tmp_path, hosts, store, AuthSettings())
    with TestClient(app) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert "--hash-password" in response.text


def test_the_delivery_page_shows_the_dora_measures_and_the_teams_targets(
    client: TestClient,
) -> None:
    sign_in(client)
    data = client.get("/api/environments/staging/delivery").json()
    assert data["environment"] == "staging"
    assert [m["name"] for m in data["measures"]]
    assert all("met" in t for t in data["goals"])
    uptime = next(t for t in data["goals"] if t["name"] == "uptime")
    assert uptime["shown"] == "90.0 %"  # one of the ten stored results failed
    page = client.get("/env/staging/delivery")
    assert page.status_code == 200
    assert "DORA measures" in page.text and "targets" in page.text


def test_every_page_title_is_plain_text_and_the_rating_form_appears_once(
    client: TestClient,
) -> None:
    sign_in(client)
    for path in ("/", "/history", "/env/staging", "/env/staging/delivery", "/env/staging/live"):
        page = client.get(path).text
        title = page.split("<title>", 1)[1].split("</title>", 1)[0]
        assert "<" not in title and ">" not in title, (path, title[:80])
    assert client.get("/env/staging/delivery").text.count('id="confidence"') == 1


def test_the_resources_page_charts_cpu_and_memory_per_host(client: TestClient) -> None:
    sign_in(client)
    data = client.get("/api/environments/staging/resources").json()
    (host,) = data["hosts"]
    assert host["host"] == "web1" and host["samples"] == 10
    assert host["chart_svg"].count("<polyline") == 2
    assert client.get("/env/staging/resources").text.count("<svg") == 1


def rating_form(client: TestClient, **fields: str) -> dict[str, str]:
    page = client.get("/env/staging/delivery")
    assert 'action="/env/staging/confidence"' in page.text
    return {"csrf": csrf_of(page.text), "score": "9", "who": "alice", "note": "green"} | fields


def test_a_rating_from_the_delivery_page_is_stored_and_shown_in_the_trend(
    client: TestClient, store: MemoryStore
) -> None:
    sign_in(client)
    response = client.post(
        "/env/staging/confidence", data=rating_form(client), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/env/staging/delivery#confidence"
    assert [(who, score) for who, _, score in store.ratings] == [("alice", 9)]
    assert store.notes == [("staging", "alice", "green")]
    trend = client.get("/api/environments/staging/delivery").json()["confidence"]
    assert [(m["mean"], m["ratings"]) for m in trend["months"]] == [(9.0, 1)]
    page = client.get("/env/staging/delivery")
    assert "Deploy confidence" in page.text and "<td>9.0</td>" in page.text


def test_a_rating_without_the_right_csrf_token_is_refused(
    client: TestClient, store: MemoryStore
) -> None:
    sign_in(client)
    for csrf in ("", "0" * 64):
        response = client.post("/env/staging/confidence", data=rating_form(client, csrf=csrf))
        assert response.status_code == 403
    assert store.ratings == []


def test_a_score_outside_one_to_ten_is_refused_with_what_to_send(
    client: TestClient, store: MemoryStore
) -> None:
    sign_in(client)
    for score in ("0", "11", "high"):
        response = client.post("/env/staging/confidence", data=rating_form(client, score=score))
        assert response.status_code == 400
        assert "whole number from 1 to 10" in response.text
    assert store.ratings == []


def test_a_rating_needs_a_signed_in_session(client: TestClient, store: MemoryStore) -> None:
    response = client.post(
        "/env/staging/confidence", data={"score": "9", "who": "eve"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    token = {"Authorization": f"Bearer {TOKEN}"}
    response = client.post(
        "/env/staging/confidence", data={"score": "9", "who": "eve"}, headers=token
    )
    assert response.status_code == 403  # the API token reads; it records nothing
    assert store.ratings == []


def test_ratings_can_be_switched_off_keeping_the_dashboard_read_only(
    tmp_path: Path, hosts: FakeHosts, store: MemoryStore
) -> None:
    settings = dataclasses.replace(SETTINGS, allow_ratings=False)
    app, _ = make_app(tmp_path, hosts, store, settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sign_in(client)
        page = client.get("/env/staging/delivery")
        assert page.status_code == 200 and "/confidence" not in page.text
        data = {"csrf": csrf_of(page.text), "score": "9", "who": "alice"}
        response = client.post("/env/staging/confidence", data=data)
        assert response.status_code == 403 and "allow_ratings" in response.text
    assert store.ratings == []
