"""The example app Shipyard deploys: examples/reconcile.

Unit tests of the matching logic (reconcile_core) and tests that start the real
app.py process on a unix socket and on a TCP port.
"""

from __future__ import annotations

import http.client
import importlib.util
import itertools
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "examples" / "reconcile"
APP = APP_DIR / "app.py"
STARTUP_TIMEOUT = 20.0  # a bound for a hung process, not a performance assertion


def _load_core() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reconcile_core", APP_DIR / "reconcile_core.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reconcile_core", module)
    spec.loader.exec_module(module)
    return module


core = _load_core()


def entry(line: int, day: int, amount: str, description: str = "payment") -> Any:
    return core.Entry(line, date(2024, 3, 1) + timedelta(days=day), description, Decimal(amount))


def pairs(result: Any) -> list[tuple[int, int]]:
    """(statement line, ledger line) of each match."""
    return [(m.statement.line, m.ledger.line) for m in result.matched]


def csv_text(*rows: str) -> str:
    return "date,description,amount\n" + "".join(row + "\n" for row in rows)


# -- matching ------------------------------------------------------------------


def test_lines_with_the_same_amount_and_date_are_matched() -> None:
    result = core.reconcile([entry(2, 0, "-12.40")], [entry(2, 0, "-12.40")])
    assert pairs(result) == [(2, 2)]
    assert result.matched[0].days_apart == 0
    assert result.reconciled


def test_amounts_must_be_exactly_equal_but_trailing_zeros_do_not_matter() -> None:
    statement = [entry(2, 0, "10.00"), entry(3, 0, "10.5")]
    ledger = [entry(2, 0, "10.01"), entry(3, 0, "10.50")]
    result = core.reconcile(statement, ledger)
    assert pairs(result) == [(3, 3)]
    assert [e.line for e in result.unmatched_statement] == [2]
    assert [e.line for e in result.unmatched_ledger] == [2]


def test_dates_up_to_the_window_apart_match_and_further_apart_do_not() -> None:
    statement = [entry(2, 0, "5.00"), entry(3, 0, "7.00")]
    ledger = [entry(2, 3, "5.00"), entry(3, 4, "7.00")]
    result = core.reconcile(statement, ledger, days=3)
    assert pairs(result) == [(2, 2)]
    assert result.matched[0].days_apart == 3
    assert [e.line for e in result.unmatched_statement] == [3]


def test_a_window_of_zero_days_requires_the_same_date() -> None:
    statement = [entry(2, 0, "5.00"), entry(3, 1, "5.00")]
    ledger = [entry(2, 1, "5.00")]
    assert pairs(core.reconcile(statement, ledger, days=0)) == [(3, 2)]


def test_each_ledger_entry_is_matched_at_most_once() -> None:
    statement = [entry(2, 0, "-12.40"), entry(3, 0, "-12.40")]
    ledger = [entry(2, 0, "-12.40")]
    result = core.reconcile(statement, ledger)
    assert len(result.matched) == 1
    assert len(result.unmatched_statement) == 1
    assert result.unmatched_ledger == []


def test_each_statement_line_is_matched_at_most_once() -> None:
    statement = [entry(2, 0, "-12.40")]
    ledger = [entry(2, 0, "-12.40"), entry(3, 1, "-12.40")]
    result = core.reconcile(statement, ledger)
    assert pairs(result) == [(2, 2)]
    assert [e.line for e in result.unmatched_ledger] == [3]


def test_the_ledger_entry_with_the_closest_date_is_preferred() -> None:
    statement = [entry(2, 5, "99.00")]
    ledger = [entry(2, 7, "99.00"), entry(3, 4, "99.00"), entry(4, 8, "99.00")]
    assert pairs(core.reconcile(statement, ledger)) == [(2, 3)]


def test_the_statement_line_with_the_closest_date_gets_the_ledger_entry() -> None:
    statement = [entry(2, 0, "99.00"), entry(3, 2, "99.00")]
    ledger = [entry(2, 3, "99.00")]
    assert pairs(core.reconcile(statement, ledger)) == [(3, 2)]


def test_description_similarity_decides_between_equally_close_dates() -> None:
    statement = [entry(2, 1, "-50.00", "CARD PAYMENT CAFE LUNA")]
    ledger = [
        entry(2, 0, "-50.00", "Office supplies"),
        entry(3, 2, "-50.00", "Cafe Luna team lunch"),
    ]
    result = core.reconcile(statement, ledger)
    assert pairs(result) == [(2, 3)]
    assert result.matched[0].similarity > core.description_similarity(
        "CARD PAYMENT CAFE LUNA", "Office supplies"
    )


def test_a_closer_date_beats_a_more_similar_description() -> None:
    statement = [entry(2, 0, "-50.00", "Cafe Luna")]
    ledger = [entry(2, 2, "-50.00", "Cafe Luna"), entry(3, 1, "-50.00", "Something else")]
    assert pairs(core.reconcile(statement, ledger)) == [(2, 3)]


def test_a_line_whose_closest_candidate_is_needed_elsewhere_still_finds_a_match() -> None:
    # Greedy "closest first" would pair statement 2 with ledger 2 and leave
    # statement 3 without a partner; both can be matched within the window.
    statement = [entry(2, 3, "20.00"), entry(3, 6, "20.00")]
    ledger = [entry(2, 4, "20.00"), entry(3, 0, "20.00")]
    result = core.reconcile(statement, ledger, days=3)
    assert pairs(result) == [(2, 3), (3, 2)]
    assert result.reconciled


def test_matching_is_as_good_as_brute_force_on_small_random_inputs() -> None:
    rng = random.Random(20240301)
    names = ["cafe luna", "acme", "rent", "city power", "bank fee"]

    def entries(count: int) -> list[Any]:
        return [
            entry(n + 2, rng.randint(0, 8), rng.choice(["1.00", "2.00", "1.0"]), rng.choice(names))
            for n in range(count)
        ]

    def score(chosen: list[tuple[int, int]], st: list[Any], lg: list[Any]) -> tuple[int, int, int]:
        return (
            len(chosen),
            -sum(abs((st[i].date - lg[j].date).days) for i, j in chosen),
            sum(
                round(1000 * core.description_similarity(st[i].description, lg[j].description))
                for i, j in chosen
            ),
        )

    for _ in range(150):
        statement, ledger, days = entries(rng.randint(0, 5)), entries(rng.randint(0, 5)), 2
        candidates = [
            (i, j)
            for i, s in enumerate(statement)
            for j, lg in enumerate(ledger)
            if s.amount == lg.amount and abs((s.date - lg.date).days) <= days
        ]
        best = max(
            score(list(subset), statement, ledger)
            for size in range(len(candidates) + 1)
            for subset in itertools.combinations(candidates, size)
            if len({i for i, _ in subset}) == size == len({j for _, j in subset})
        )
        result = core.reconcile(statement, ledger, days=days)
        got = [(m.statement.line - 2, m.ledger.line - 2) for m in result.matched]
        assert score(got, statement, ledger) == best
        assert len(result.matched) + len(result.unmatched_statement) == len(statement)
        assert len(result.matched) + len(result.unmatched_ledger) == len(ledger)


def test_very_large_candidate_groups_fall_back_to_closest_date_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "OPTIMAL_LIMIT", 1)
    statement = [entry(2, 5, "1.00", "rent"), entry(3, 0, "1.00", "fee")]
    ledger = [entry(2, 4, "1.00", "fee"), entry(3, 5, "1.00", "rent"), entry(4, 1, "1.00", "x")]
    result = core.reconcile(statement, ledger)
    assert pairs(result) == [(2, 3), (3, 4)]


def test_totals_add_up_with_exact_decimal_arithmetic() -> None:
    statement = [entry(2, 0, "0.10"), entry(3, 0, "0.20"), entry(4, 0, "-5.00")]
    ledger = [entry(2, 0, "0.10"), entry(3, 0, "0.20"), entry(4, 9, "1.05")]
    totals = core.reconcile(statement, ledger).totals()
    assert totals["statement"] == {"count": 3, "amount": "-4.70"}
    assert totals["ledger"] == {"count": 3, "amount": "1.35"}
    assert totals["matched"] == {"count": 2, "amount": "0.30"}
    assert totals["unmatched_statement"] == {"count": 1, "amount": "-5.00"}
    assert totals["unmatched_ledger"] == {"count": 1, "amount": "1.05"}
    assert totals["difference"] == "-6.05"


def test_a_window_outside_the_allowed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        core.reconcile([], [], days=-1)


# -- CSV parsing -----------------------------------------------------------------


def test_csv_rows_become_entries_with_their_line_numbers() -> None:
    text = csv_text("2024-03-01,CARD PAYMENT  CAFE LUNA,-12.40", "", "2024-03-02,Rent,+800")
    entries = core.parse_csv(text, "statement")
    assert [(e.line, e.date, e.description, e.amount) for e in entries] == [
        (2, date(2024, 3, 1), "CARD PAYMENT CAFE LUNA", Decimal("-12.40")),
        (4, date(2024, 3, 2), "Rent", Decimal("800")),
    ]


def test_header_columns_may_be_reordered_capitalised_and_extended() -> None:
    text = "\ufeffAmount,Date,Memo,Description\r\n1.50,2024-03-01,ignored,Fee\r\n"
    [only] = core.parse_csv(text)
    assert (only.amount, only.date, only.description) == (Decimal("1.50"), date(2024, 3, 1), "Fee")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (csv_text("2024-03-01,ok,1.00", "2024-03-02,bad,12,50"), 3, "expected 3 fields"),
        (csv_text("2024-03-01,ok,1.00", "2024-03-02,bad,€12.50"), 3, "invalid amount"),
        (csv_text("2024-03-01,ok,1.00", "", "2024-03-02,bad,NaN"), 4, "invalid amount"),
        (csv_text("2024-03-01,ok,1.00", "2024-02-30,bad,1.00"), 3, "invalid date"),
        (csv_text("03/01/2024,bad,1.00"), 2, "invalid date"),
        (csv_text("2024-03-01,missing amount,"), 2, "missing amount"),
        (csv_text('2024-03-01,"two\nlines",1.00', "2024-03-02,x,oops"), 4, "invalid amount"),
        ("2024-03-01,no header,1.00\n", 1, "the first line must be the header"),
        ("date,description\n", 1, "missing column(s) amount"),
        ("", 1, "file is empty"),
    ],
)
def test_a_bad_csv_error_names_the_line_and_the_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(core.CsvError) as caught:
        core.parse_csv(text, "ledger")
    assert caught.value.line == line
    assert caught.value.source == "ledger"
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"ledger line {line}: ")


def test_too_many_rows_are_refused() -> None:
    with pytest.raises(core.CsvError, match="too many rows"):
        core.parse_csv(csv_text(*["2024-03-01,x,1"] * 3), max_rows=2)


def test_the_sample_data_parses_and_leaves_something_to_look_at() -> None:
    result = core.reconcile(
        core.parse_csv(core.SAMPLE_STATEMENT, "statement"),
        core.parse_csv(core.SAMPLE_LEDGER, "ledger"),
    )
    assert result.matched and result.unmatched_statement and result.unmatched_ledger


# -- the real process ---------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("reconcile.local", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class RunningApp:
    def __init__(self, proc: subprocess.Popen[str], socket_path: str | None) -> None:
        self.proc = proc
        self.socket_path = socket_path
        self.port: int | None = None
        self.stdout: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for_line(self, needle: str) -> str:
        while True:
            try:
                line = self._lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no output line containing {needle!r}; got {self.stdout}")
            if line is None:
                pytest.fail(f"app exited before printing {needle!r}: {self.stdout} {self.stderr()}")
            self.stdout.append(line)
            if needle in line:
                return line

    def wait_until_listening(self) -> RunningApp:
        line = self.wait_for_line(" listening on ")
        if self.socket_path is None:
            self.port = int(line.split("http://127.0.0.1:")[1].split()[0])
        return self

    def connection(self) -> http.client.HTTPConnection:
        if self.socket_path is not None:
            return UnixHTTPConnection(self.socket_path)
        assert self.port is not None
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STARTUP_TIMEOUT)

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory under /tmp: unix socket paths are limited to 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


StartApp = Callable[..., RunningApp]


@pytest.fixture
def start_app() -> Iterator[StartApp]:
    started: list[RunningApp] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        socket_path: str | None = None,
        app: Path = APP,
    ) -> RunningApp:
        clean = {
            k: v
            for k, v in os.environ.items()
            if k not in ("SHIPYARD_SOCKET", "SHIPYARD_RELEASE", "PORT")
            and not k.startswith("RECONCILE_")
        }
        proc = subprocess.Popen(
            [sys.executable, str(app), *args],
            env={**clean, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running = RunningApp(proc, socket_path)
        started.append(running)
        return running

    yield start
    for app in started:
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait(timeout=STARTUP_TIMEOUT)
        for stream in (app.proc.stdout, app.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def socket_app(start_app: StartApp, short_tmp: Path) -> RunningApp:
    path = str(short_tmp / "app.sock")
    return start_app(
        env={"SHIPYARD_SOCKET": path, "SHIPYARD_RELEASE": "20240301-abc123"}, socket_path=path
    ).wait_until_listening()


def reconcile_json(statement: str, ledger: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"statement": statement, "ledger": ledger}).encode()
    return body, {"Content-Type": "application/json"}


def test_health_over_the_unix_socket_reports_ok_with_version_and_release(
    socket_app: RunningApp,
) -> None:
    response, body = socket_app.request("GET", "/healthz")
    assert response.status == 200
    assert response.getheader("X-App-Version") == "1.0.0"
    assert response.getheader("X-Release") == "20240301-abc123"
    assert json.loads(body) == {"status": "ok", "version": "1.0.0", "release": "20240301-abc123"}
    assert "unix:" in socket_app.stdout[0] and "1.0.0" in socket_app.stdout[0]
    assert '"GET /healthz HTTP/1.1" 200' in socket_app.wait_for_line("/healthz")


def test_the_version_comes_from_the_version_file_next_to_the_app(
    start_app: StartApp, short_tmp: Path
) -> None:
    copy = short_tmp / "app"
    copy.mkdir()
    for name in ("app.py", "reconcile_core.py"):
        shutil.copy(APP_DIR / name, copy / name)
    (copy / "VERSION").write_text("7.3.1-rc2\n")
    path = str(short_tmp / "v.sock")
    running = start_app(
        env={"SHIPYARD_SOCKET": path}, socket_path=path, app=copy / "app.py"
    ).wait_until_listening()
    response, body = running.request("GET", "/healthz")
    assert response.getheader("X-App-Version") == "7.3.1-rc2"
    assert json.loads(body)["version"] == "7.3.1-rc2"
    # and the shipped app reads its own file
    assert (APP_DIR / "VERSION").read_text().strip() == "1.0.0"


def test_every_response_carries_the_version_and_release_headers(socket_app: RunningApp) -> None:
    requests = [
        ("GET", "/", None, {}),
        ("HEAD", "/healthz", None, {}),
        ("GET", "/api/sample", None, {}),
        ("GET", "/no-such-page", None, {}),
        ("DELETE", "/healthz", None, {}),
        ("POST", "/reconcile", b"a=b", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("BREW", "/", None, {}),
    ]
    statuses = []
    for method, path, body, headers in requests:
        response, _ = socket_app.request(method, path, body, headers)
        statuses.append(response.status)
        assert response.getheader("X-App-Version") == "1.0.0", (method, path)
        assert response.getheader("X-Release") == "20240301-abc123", (method, path)
    assert statuses == [200, 200, 200, 404, 405, 415, 501]


def test_posting_csv_text_as_json_returns_matches_leftovers_and_totals(
    socket_app: RunningApp,
) -> None:
    body, headers = reconcile_json(
        csv_text("2024-03-01,CARD CAFE LUNA,-12.40", "2024-03-09,BANK FEE,-4.95"),
        csv_text("2024-03-02,Cafe Luna,-12.40", "2024-03-03,Rent,-800.00"),
    )
    response, raw = socket_app.request("POST", "/reconcile?days=1", body, headers)
    assert response.status == 200, raw
    result = json.loads(raw)
    assert result["days"] == 1
    assert [(m["statement"]["line"], m["ledger"]["line"]) for m in result["matched"]] == [(2, 2)]
    assert result["matched"][0]["ledger"]["amount"] == "-12.40"
    assert [e["description"] for e in result["unmatched_statement"]] == ["BANK FEE"]
    assert [e["description"] for e in result["unmatched_ledger"]] == ["Rent"]
    assert result["totals"]["difference"] == "795.05"
    assert result["reconciled"] is False


def test_a_multipart_upload_of_two_files_is_reconciled(socket_app: RunningApp) -> None:
    boundary = uuid.uuid4().hex
    statement = csv_text("2024-03-01,Café Luna,-12.40").encode("utf-8")
    ledger = csv_text("2024-03-03,Cafe Luna,-12.4").encode("cp1252")
    parts = b""
    for name, content in (("statement", statement), ("ledger", ledger)):
        parts += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{name}.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    parts += f'--{boundary}\r\nContent-Disposition: form-data; name="days"\r\n\r\n2\r\n'.encode()
    parts += f"--{boundary}--\r\n".encode()
    response, raw = socket_app.request(
        "POST",
        "/reconcile",
        parts,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status == 200, raw
    result = json.loads(raw)
    assert result["days"] == 2
    assert result["reconciled"] is True
    assert result["matched"][0]["statement"]["description"] == "Café Luna"


def test_the_sample_can_be_posted_straight_back_to_reconcile(socket_app: RunningApp) -> None:
    response, sample = socket_app.request("GET", "/api/sample")
    assert response.status == 200
    response, raw = socket_app.request(
        "POST", "/reconcile", sample, {"Content-Type": "application/json"}
    )
    assert response.status == 200, raw
    result = json.loads(raw)
    assert result["matched"] and result["unmatched_statement"] and result["unmatched_ledger"]


def test_a_bad_csv_is_answered_with_400_naming_the_file_and_line(socket_app: RunningApp) -> None:
    body, headers = reconcile_json(
        csv_text("2024-03-01,ok,1.00"), csv_text("2024-03-01,ok,1.00", "2024-03-05,bad,12,50")
    )
    response, raw = socket_app.request("POST", "/reconcile", body, headers)
    assert response.status == 400
    error = json.loads(raw)
    assert error["source"] == "ledger"
    assert error["line"] == 3
    assert error["error"].startswith("ledger line 3: ")


@pytest.mark.parametrize("query", ["?days=-1", "?days=many", "?days=366"])
def test_an_invalid_days_parameter_is_answered_with_400(socket_app: RunningApp, query: str) -> None:
    body, headers = reconcile_json(csv_text(), csv_text())
    response, raw = socket_app.request("POST", f"/reconcile{query}", body, headers)
    assert response.status == 400
    assert "days" in json.loads(raw)["error"]


def test_the_index_page_shows_the_version_and_an_upload_form(socket_app: RunningApp) -> None:
    response, raw = socket_app.request("GET", "/")
    page = raw.decode()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/html")
    assert "<title>Reconcile</title>" in page
    assert "1.0.0" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'name="statement"' in page and 'name="ledger"' in page


def test_one_keep_alive_connection_serves_several_requests(socket_app: RunningApp) -> None:
    conn = socket_app.connection()
    try:
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        first.read()
        assert first.getheader("Connection") is None
        sock = conn.sock
        body, headers = reconcile_json(csv_text(), csv_text())
        conn.request("POST", "/reconcile", body=body, headers=headers)
        second = conn.getresponse()
        assert second.status == 200
        assert json.loads(second.read())["reconciled"] is True
        assert conn.sock is sock
    finally:
        conn.close()


def test_an_upload_rejected_before_reading_it_leaves_the_connection_usable(
    socket_app: RunningApp,
) -> None:
    conn = socket_app.connection()
    try:
        conn.request("POST", "/healthz", body=b"x" * 100_000)
        rejected = conn.getresponse()
        rejected.read()
        assert rejected.status == 405
        assert rejected.getheader("Allow") == "GET, HEAD"
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_sigterm_removes_the_socket_file_and_exits_zero(socket_app: RunningApp) -> None:
    assert socket_app.socket_path is not None
    assert Path(socket_app.socket_path).is_socket()
    assert socket_app.terminate() == 0
    assert not os.path.exists(socket_app.socket_path)


def test_sigterm_lets_an_in_flight_request_finish_then_exits_zero(
    socket_app: RunningApp,
) -> None:
    assert socket_app.socket_path is not None
    body, _ = reconcile_json(csv_text("2024-03-01,x,1.00"), csv_text("2024-03-01,x,1.00"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(STARTUP_TIMEOUT)
        sock.connect(socket_app.socket_path)
        sock.sendall(
            b"POST /reconcile HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100")
        socket_app.proc.send_signal(signal.SIGTERM)
        assert "1 request(s) in flight" in socket_app.wait_for_line("draining")
        sock.sendall(body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert json.loads(payload)["reconciled"] is True
    assert socket_app.proc.wait(timeout=STARTUP_TIMEOUT) == 0
    assert not os.path.exists(socket_app.socket_path)


def test_the_fail_health_hook_makes_health_return_503(start_app: StartApp, short_tmp: Path) -> None:
    path = str(short_tmp / "sick.sock")
    app = start_app(
        "--unix-socket", path, env={"RECONCILE_FAIL_HEALTH": "1"}, socket_path=path
    ).wait_until_listening()
    response, raw = app.request("GET", "/healthz")
    assert response.status == 503
    assert response.getheader("X-App-Version") == "1.0.0"
    assert response.getheader("X-Release") == "dev"
    assert json.loads(raw)["status"] == "failing"
    response, _ = app.request("GET", "/api/sample")
    assert response.status == 200


def test_the_crash_hook_exits_with_status_3_without_listening(
    start_app: StartApp, short_tmp: Path
) -> None:
    path = short_tmp / "crash.sock"
    app = start_app("--unix-socket", str(path), env={"RECONCILE_CRASH": "1"})
    assert app.proc.wait(timeout=STARTUP_TIMEOUT) == 3
    assert not path.exists()


def test_sigterm_during_the_boot_delay_exits_zero_without_listening(
    start_app: StartApp, short_tmp: Path
) -> None:
    path = short_tmp / "slow.sock"
    app = start_app("--unix-socket", str(path), env={"RECONCILE_BOOT_DELAY": "600"})
    app.wait_for_line("RECONCILE_BOOT_DELAY")
    assert app.terminate() == 0
    assert not path.exists()


def test_a_stale_socket_file_is_replaced_at_startup(start_app: StartApp, short_tmp: Path) -> None:
    path = str(short_tmp / "stale.sock")
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)  # bound but never listening: what a killed process leaves
    leftover.close()
    app = start_app("--unix-socket", path, socket_path=path).wait_until_listening()
    response, _ = app.request("GET", "/healthz")
    assert response.status == 200


def test_a_socket_another_server_is_listening_on_is_left_alone(
    socket_app: RunningApp, start_app: StartApp
) -> None:
    assert socket_app.socket_path is not None
    second = start_app("--unix-socket", socket_app.socket_path)
    assert second.proc.wait(timeout=STARTUP_TIMEOUT) == 1
    assert "already listening" in second.stderr()
    response, _ = socket_app.request("GET", "/healthz")
    assert response.status == 200


def test_the_app_listens_on_a_tcp_port_from_the_port_variable(start_app: StartApp) -> None:
    app = start_app(env={"PORT": "0", "SHIPYARD_RELEASE": "r7"}).wait_until_listening()
    response, raw = app.request("GET", "/healthz")
    assert response.status == 200
    assert response.getheader("X-Release") == "r7"
    assert json.loads(raw)["release"] == "r7"
    body, headers = reconcile_json(core.SAMPLE_STATEMENT, core.SAMPLE_LEDGER)
    response, _ = app.request("POST", "/reconcile", body, headers)
    assert response.status == 200
    assert "127.0.0.1 - - [" in app.wait_for_line("POST /reconcile")
    assert app.terminate() == 0


def test_the_port_flag_beats_the_socket_variable(start_app: StartApp, short_tmp: Path) -> None:
    path = short_tmp / "unused.sock"
    app = start_app("--port", "0", env={"SHIPYARD_SOCKET": str(path)}).wait_until_listening()
    response, _ = app.request("GET", "/healthz")
    assert response.status == 200
    assert not path.exists()
