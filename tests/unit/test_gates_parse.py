"""Reading pip-audit's and bandit's output: real captured samples, thresholds, failures."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from shipyard.gates.bandit_parse import is_excluded, parse_bandit, rank
from shipyard.gates.pipaudit_parse import explain_failure, parse_pip_audit

SAMPLES = Path(__file__).resolve().parents[1] / "support" / "gates_fixtures" / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


# -- pip-audit ---------------------------------------------------------------------------


def test_pip_audit_vulnerable_pin_fails_with_every_advisory():
    verdict = parse_pip_audit(sample("pip_audit_vulnerable.json"), 1, "")
    assert verdict.status == "fail"
    assert "2 known vulnerabilities in 1 package" in verdict.summary
    assert "requests 2.19.1 (PYSEC-2018-28, PYSEC-2023-74)" in verdict.summary
    ids = {v["id"]: v for v in verdict.details["vulnerabilities"]}
    assert set(ids) == {"PYSEC-2018-28", "PYSEC-2023-74"}
    assert ids["PYSEC-2018-28"]["fix_versions"] == ["2.20.0"]
    assert "CVE-2018-18074" in ids["PYSEC-2018-28"]["aliases"]
    assert verdict.details["audited"] == 1


def test_pip_audit_clean_report_passes():
    verdict = parse_pip_audit(sample("pip_audit_safe.json"), 0, "No known vulnerabilities found")
    assert verdict.status == "pass"
    assert verdict.summary == "1 package audited, no known vulnerabilities"


def test_ignore_by_id_or_alias_accepts_that_vulnerability_only():
    by_id = parse_pip_audit(sample("pip_audit_vulnerable.json"), 1, "", ["PYSEC-2018-28"])
    assert by_id.status == "fail"
    assert [v["id"] for v in by_id.details["vulnerabilities"]] == ["PYSEC-2023-74"]
    assert by_id.details["ignored"] == [{"package": "requests", "id": "PYSEC-2018-28"}]

    # pip-audit still exits 1 when everything it found is ignored here
    both = parse_pip_audit(
        sample("pip_audit_vulnerable.json"), 1, "", ["cve-2018-18074", "GHSA-j8r2-6x86-q33q"]
    )
    assert both.status == "pass"
    assert "2 ignored: PYSEC-2018-28, PYSEC-2023-74" in both.summary


def test_a_package_the_service_does_not_know_is_unknown_not_a_pass():
    # real: pip-audit exits 0 and says "No known vulnerabilities found" for this output
    verdict = parse_pip_audit(
        sample("pip_audit_not_audited.json"), 0, "No known vulnerabilities found"
    )
    assert verdict.status == "unknown"
    assert "1 of 1 package(s) could not be audited (requests)" in verdict.summary
    assert verdict.details["not_audited"][0]["name"] == "requests"


def test_vulnerabilities_dominate_unaudited_packages():
    data = json.loads(sample("pip_audit_vulnerable.json"))
    data["dependencies"] += json.loads(sample("pip_audit_not_audited.json"))["dependencies"]
    data["dependencies"][-1]["name"] = "urllib3"
    verdict = parse_pip_audit(json.dumps(data), 1, "")
    assert verdict.status == "fail"
    assert "1 package(s) could not be audited" in verdict.summary


def test_unreachable_service_is_unknown_and_says_why():
    verdict = parse_pip_audit("", 1, sample("pip_audit_unreachable.stderr"))
    assert verdict.status == "unknown"
    assert "the vulnerability service could not be reached" in verdict.summary
    assert "Connection refused" in verdict.summary


def test_unpinned_requirement_is_unknown_with_a_hint():
    verdict = parse_pip_audit("", 1, sample("pip_audit_unpinned.stderr"))
    assert verdict.status == "unknown"
    assert "not pinned with ==" in verdict.summary
    assert "requests>=2" in verdict.summary


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "Found 2 known vulnerabilities in 1 package",  # columns format, not JSON
        "{",
        "[]",
        '{"dependencies": [{"name": "requests", "version": "2.19.1"}]}',
        '{"dependencies": [{"name": "x", "version": "1", "vulns": [{"fix_versions": []}]}]}',
        '{"fixes": []}',
    ],
)
def test_unreadable_output_is_unknown(stdout: str):
    assert parse_pip_audit(stdout, 0, "").status == "unknown"


def test_exit_status_one_without_findings_is_unknown():
    verdict = parse_pip_audit(sample("pip_audit_safe.json"), 1, "ERROR: something odd")
    assert verdict.status == "unknown"
    assert "something odd" in verdict.summary


def test_empty_requirements_are_skipped_not_passed():
    verdict = parse_pip_audit('{"dependencies": [], "fixes": []}', 0, "")
    assert verdict.status == "skipped"


def test_missing_pip_audit_is_named():
    assert "not installed" in explain_failure("/usr/bin/python: No module named pip_audit")


# -- bandit -------------------------------------------------------------------------------


def test_bandit_unsafe_call_fails_at_medium():
    verdict = parse_bandit(sample("bandit_unsafe.json"), 1, "", "medium", "medium")
    assert verdict.status == "fail"
    (finding,) = verdict.details["findings"]
    assert finding["test_id"] == "B307"
    assert finding["file"] == "app.py"  # not bandit's ./app.py
    assert finding["severity"] == "MEDIUM"
    assert verdict.details["below_threshold"] == 1  # the assert (B101, low)
    assert "app.py:5 B307" in verdict.summary


def test_bandit_thresholds():
    unsafe = sample("bandit_unsafe.json")
    assert parse_bandit(unsafe, 1, "", "high", "medium").status == "pass"
    low = parse_bandit(unsafe, 1, "", "low", "low")
    assert low.status == "fail"
    assert low.details["finding_count"] == 2
    # B307 is reported with high confidence, so a high confidence bar still catches it
    assert parse_bandit(unsafe, 1, "", "medium", "high").status == "fail"


def test_bandit_confidence_threshold_filters():
    data = json.loads(sample("bandit_unsafe.json"))
    for result in data["results"]:
        result["issue_confidence"] = "LOW"
    verdict = parse_bandit(json.dumps(data), 1, "", "low", "medium")
    assert verdict.status == "pass"
    assert "(2 below the threshold)" in verdict.summary


def test_bandit_clean_passes():
    verdict = parse_bandit(sample("bandit_clean.json"), 0, "", "medium", "medium")
    assert verdict.status == "pass"
    assert (
        verdict.summary == "1 file scanned, no issues at severity >= medium, confidence >= medium"
    )


def test_bandit_file_it_could_not_parse_is_unknown_though_bandit_exits_zero():
    verdict = parse_bandit(sample("bandit_syntax_error.json"), 0, "", "medium", "medium")
    assert verdict.status == "unknown"
    assert "broken.py (syntax error while parsing AST from file)" in verdict.summary


def test_bandit_undefined_severity_counts_as_highest():
    assert rank("UNDEFINED") == rank("HIGH") == 3
    assert rank("LOW") < rank("MEDIUM") < rank("HIGH")


@pytest.mark.parametrize(
    ("stdout", "code"),
    [("", 2), ("not json", 1), ('{"results": "x"}', 0), ('{"errors": []}', 0)],
)
def test_bandit_unreadable_output_is_unknown(stdout: str, code: int):
    assert parse_bandit(stdout, code, "boom", "medium", "medium").status == "unknown"


def test_bandit_odd_exit_status_is_unknown():
    verdict = parse_bandit(sample("bandit_clean.json"), 2, "usage: bandit", "medium", "medium")
    assert verdict.status == "unknown"


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        ("app.py", [], False),
        ("src/app.py", [], False),
        (".venv/lib/x.py", [], True),
        ("pkg/.hidden/x.py", [], True),
        ("pkg/__pycache__/x.py", [], True),
        ("node_modules/x.py", [], True),
        ("tests/test_app.py", ["tests"], True),
        ("pkg/tests/test_app.py", ["tests"], True),
        ("tests_helpers/x.py", ["tests"], False),
        ("app/legacy/x.py", ["app/legacy"], True),
        ("other/app/legacy/x.py", ["app/legacy"], False),
        ("scripts/run.py", ["scripts/*.py"], True),
        ("gen/model_pb2.py", ["*_pb2.py"], True),
        ("migrations/0001.py", ["migrations/"], True),
    ],
)
def test_exclude_patterns(path: str, patterns: list[str], excluded: bool):
    assert is_excluded(PurePosixPath(path), patterns) is excluded
