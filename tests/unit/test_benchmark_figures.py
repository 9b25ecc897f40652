"""Every figure in docs/benchmarks*.md comes from a stored result in bench/results/.

Measured figures live in the generated sections (between `<!-- generated:NAME -->` and
`<!-- end -->`), which bench/regen.py makes from the stored results; outside them a doc may
only quote what a stored result records as its settings (rates, counts, windows, the
machine's cores). So a figure edited by hand fails one of these tests: inside a generated
section `regen.py --check` sees it, outside one it is not a recorded setting.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DOCS = sorted((ROOT / "docs").glob("benchmarks*.md"))  # every benchmark page, as regen.py
GENERATED = re.compile(r"<!-- generated:([\w-]+) -->\n(.*?)<!-- end -->", re.S)
# a number as prose writes it: 38,777 / 0.36 / 1.3x / 99%; not part of a word (p99, 5xx)
SETTING_KEYS = ("runs", "health_interval", "observe_window")  # top-level settings of a result
NUMBER = re.compile(
    r"(?<![\w.,/:])(?<![A-Za-z_]-)(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:x)?(?![\w.,]\d|[\w])"
)


def regen(*args: str, docs: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--docs", str(docs)] if docs else []
    return subprocess.run(
        [sys.executable, str(BENCH / "regen.py"), *args, *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"SHIPYARD_BENCH_REF": "worktree", "PATH": "/usr/bin:/bin"},
        check=False,
    )


def outside_generated(text: str) -> str:
    """The hand-written part of a doc, without code (commands, config keys, file names)."""
    text = GENERATED.sub("", text)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\[[^\]]*\]\([^)]*\)", "", text)  # links name documents, not figures
    return re.sub(r"^#+ .*$", "", text, flags=re.M)  # headings name things, not figures


def numbers_in(text: str) -> Iterator[str]:
    for match in NUMBER.finditer(text):
        yield match.group(1)


def value(token: str) -> float:
    return float(token.replace(",", ""))


def leaves(data: Any) -> Iterator[float]:
    if isinstance(data, bool):
        return
    if isinstance(data, int | float):
        yield float(data)
    elif isinstance(data, dict):
        for item in data.values():
            yield from leaves(item)
    elif isinstance(data, list):
        for item in data:
            yield from leaves(item)


def recorded_settings() -> set[float]:
    """What the stored results record as the conditions of a run, not as a measurement."""
    allowed: set[float] = set()
    for path in RESULTS.glob("*.json"):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "machine" not in data:
            continue
        allowed |= set(leaves(data.get("settings", {})))
        allowed |= {float(data[k]) for k in SETTING_KEYS if isinstance(data.get(k), int | float)}
        allowed.add(float(data["machine"]["nproc"]))
        runs = data.get("runs")
        if isinstance(runs, list):
            allowed.add(float(len(runs)))
    return allowed


def stray_figures(text: str, allowed: set[float]) -> list[str]:
    return [token for token in numbers_in(outside_generated(text)) if value(token) not in allowed]


def test_the_generated_sections_are_what_the_stored_results_give() -> None:
    done = regen("--check")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_figure_outside_a_generated_section_is_a_recorded_setting(doc: Path) -> None:
    assert stray_figures(doc.read_text(), recorded_settings()) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_generated_section_names_stored_result_files_with_commit_and_date(
    doc: Path,
) -> None:
    sections = GENERATED.findall(doc.read_text())
    assert sections, f"{doc.name} has no generated section"
    stored = {p.name for p in RESULTS.glob("*.json")}
    for name, body in sections:
        named = set(re.findall(r"`([\w.-]+\.json)`", body))
        assert named, f"section {name} names no result file"
        assert named <= stored, f"section {name} names files that are not stored"
        labelled = re.search(r"commit `[0-9a-f]{12}`, (stored )?\d{4}-\d\d-\d\d \d\d:\d\d", body)
        tabled = "| commit |" in body and "| date (UTC) |" in body
        assert labelled or tabled, f"section {name} does not say which commit and date"


def test_every_stored_result_records_the_commit_the_machine_and_a_date() -> None:
    legacy = json.loads((RESULTS / "legacy.json").read_text())
    for path in RESULTS.glob("*.json"):
        if path.name == "legacy.json":
            continue
        data = json.loads(path.read_text())
        assert re.fullmatch(r"[0-9a-f]{40}", data["machine"]["shipyard"]), path.name
        assert data["machine"]["nproc"] and data["machine"]["cpu"], path.name
        if path.name in legacy:
            assert legacy[path.name]["stored_at"] and legacy[path.name]["stored_by"], path.name
        else:
            pattern = r"[a-z_]+(-[a-z0-9]+)*-([0-9a-f]{12})-\d{8}T\d{6}\.json"
            match = re.fullmatch(pattern, path.name)
            assert match, f"{path.name} is not <benchmark>[-<variant>]-<commit12>-<stamp>.json"
            assert match.group(2) == data["machine"]["shipyard"][:12], path.name
            assert data["benchmark"] and data["date"], path.name


def test_a_figure_edited_by_hand_in_a_generated_table_is_caught(tmp_path: Path) -> None:
    for doc in DOCS:
        shutil.copy(doc, tmp_path / doc.name)
    page = tmp_path / "benchmarks.md"
    text = page.read_text()
    body = GENERATED.search(text)
    assert body is not None
    row = next(
        line for line in body[0].splitlines() if line.startswith("| ") and re.search(r"\d", line)
    )
    digit = re.search(r"\d", row)
    assert digit is not None
    bumped = row[: digit.start()] + str((int(digit[0]) + 1) % 10) + row[digit.end() :]
    edited = body[0].replace(row, bumped, 1)
    assert edited != body[0]
    page.write_text(text.replace(body[0], edited))
    done = regen("--check", docs=tmp_path)
    assert done.returncode == 1
    assert "benchmarks.md" in done.stderr


def test_a_measured_figure_written_into_the_prose_is_caught() -> None:
    allowed = recorded_settings()
    prose = "A warm rollback takes 0.37 s; 465 of 20,371 requests failed, 2.3%, 1.48x, 0.7-0.9 s.\n"
    assert stray_figures(prose, allowed) == ["0.37", "465", "20,371", "2.3", "1.48", "0.7", "0.9"]


def test_code_and_generated_sections_are_not_prose() -> None:
    text = "Run `bench/speed.py --runs 7`.\n<!-- generated:x -->\n| 0.37 |\n<!-- end -->\n"
    assert stray_figures(text, set()) == []


def test_a_stored_result_is_named_for_its_benchmark_commit_and_time_and_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import resultfiles

    result = {"machine": {"shipyard": "ab" * 20, "nproc": 2, "cpu": "test"}, "runs": [1]}
    path = resultfiles.store_result("speed", result, variant="agent", directory=tmp_path)
    assert re.fullmatch(r"speed-agent-abababababab-\d{8}T\d{6}\.json", path.name)
    stored = json.loads(path.read_text())
    assert (stored["benchmark"], stored["variant"]) == ("speed", "agent")
    assert stored["date"].endswith("+00:00") and stored["runs"] == [1]
    with pytest.raises(FileExistsError):
        resultfiles.store_result("speed", {**result, "runs": [2]}, out=str(path))
    assert json.loads(path.read_text())["runs"] == [1]
    [loaded] = resultfiles.load_all(tmp_path)
    assert (loaded.key, loaded.commit, loaded.legacy) == ("speed-agent", "ab" * 20, False)


def test_a_new_benchmark_page_is_regenerated_and_checked_without_being_listed(
    tmp_path: Path,
) -> None:
    for doc in DOCS:
        shutil.copy(doc, tmp_path / doc.name)
    page = tmp_path / "benchmarks-new.md"
    page.write_text("# New\n\n<!-- generated:agent_options -->\n| 0.1 s |\n<!-- end -->\n")
    done = regen("--check", docs=tmp_path)
    assert done.returncode == 1
    assert "benchmarks-new.md" in done.stderr
    assert regen(docs=tmp_path).returncode == 0
    assert "agent_options-" in page.read_text()
    assert regen("--check", docs=tmp_path).returncode == 0
