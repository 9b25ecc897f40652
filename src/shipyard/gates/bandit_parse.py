"""Pure: what bandit's JSON output means for the gate, and which paths it should scan.

bandit's JSON is `{"errors": [{"filename", "reason"}], "metrics": {FILE: {...}, "_totals":
{...}}, "results": [{"filename", "line_number", "test_id", "test_name", "issue_severity",
"issue_confidence", "issue_text", ...}]}`. A file bandit could not parse is listed under
`errors` while bandit still exits 0: the gate reports that as "unknown", never "pass".
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

from shipyard.gates.process import last_line
from shipyard.gates.result import GateVerdict

RANK = {"low": 1, "medium": 2, "high": 3}
MAX_LISTED = 50

# never application source: version control, caches, virtualenvs, installed packages
ALWAYS_EXCLUDED_NAMES = ("__pycache__", "node_modules", "site-packages")


def rank(level: str) -> int:
    """LOW < MEDIUM < HIGH; an UNDEFINED (or unheard-of) level counts as the highest."""
    return RANK.get(level.lower(), 3)


def is_excluded(relative: PurePosixPath, patterns: list[str]) -> bool:
    """Whether a path (relative to the app) is excluded, gitignore-style.

    A pattern without '/' matches a file or directory name at any depth (`tests`,
    `*_pb2.py`); a pattern with '/' matches the path from the app directory
    (`app/legacy`, `scripts/*.py`). Excluding a directory excludes everything under it.
    Hidden names (starting with '.') and `__pycache__`, `node_modules`, `site-packages` are
    always excluded.
    """
    parts = relative.parts
    for part in parts:
        if part.startswith(".") and part not in (".", ".."):
            return True
        if part in ALWAYS_EXCLUDED_NAMES:
            return True
    for pattern in patterns:
        cleaned = pattern.strip("/")
        if "/" in cleaned:
            for length in range(1, len(parts) + 1):
                if fnmatchcase("/".join(parts[:length]), cleaned):
                    return True
        elif any(fnmatchcase(part, cleaned) for part in parts):
            return True
    return False


def parse_bandit(
    stdout: str, returncode: int | None, stderr: str, severity: str, confidence: str
) -> GateVerdict:
    try:
        data = json.loads(stdout)
        results, errors, files = _shape(data)
    except (ValueError, TypeError, KeyError) as exc:
        reason = (last_line(stderr) or "no output") if not stdout.strip() else str(exc)
        return GateVerdict(
            "unknown",
            f"bandit did not report: {reason}",
            {"exit_status": returncode, "stderr_tail": stderr[-2000:]},
        )
    min_severity, min_confidence = rank(severity), rank(confidence)
    findings: list[dict[str, Any]] = []
    below = 0
    for item in results:
        finding: dict[str, Any] = {
            "file": _relative_name(item.get("filename")),
            "line": item.get("line_number"),
            "test_id": str(item.get("test_id", "?")),
            "test_name": str(item.get("test_name", "")),
            "severity": str(item.get("issue_severity", "UNDEFINED")),
            "confidence": str(item.get("issue_confidence", "UNDEFINED")),
            "text": str(item.get("issue_text", ""))[:300],
        }
        if rank(finding["severity"]) >= min_severity and (
            rank(finding["confidence"]) >= min_confidence
        ):
            findings.append(finding)
        else:
            below += 1
    unscanned = [
        {"file": _relative_name(e.get("filename")), "reason": str(e.get("reason", ""))}
        for e in errors
    ]
    details: dict[str, Any] = {
        "files": files,
        "severity": severity,
        "confidence": confidence,
        "findings": findings[:MAX_LISTED],
        "finding_count": len(findings),
        "below_threshold": below,
        "errors": unscanned[:MAX_LISTED],
        "exit_status": returncode,
    }
    threshold = f"severity >= {severity}, confidence >= {confidence}"
    if findings:
        first = findings[0]
        summary = (
            f"{len(findings)} issue{'s' if len(findings) != 1 else ''} at {threshold}; "
            f"first: {first['file']}:{first['line']} {first['test_id']} "
            f"({first['severity'].lower()}) {first['text']}"
        )
        if unscanned:
            summary += f"; {len(unscanned)} file(s) could not be scanned"
        return GateVerdict("fail", summary, details)
    if unscanned:
        return GateVerdict(
            "unknown",
            f"{len(unscanned)} file(s) could not be scanned: "
            f"{unscanned[0]['file']} ({unscanned[0]['reason']})",
            details,
        )
    if returncode not in (0, 1):
        return GateVerdict(
            "unknown",
            f"bandit exited with status {returncode}: {last_line(stderr) or 'no message'}",
            details | {"stderr_tail": stderr[-2000:]},
        )
    if files == 0:
        return GateVerdict("skipped", "no Python files were scanned", details)
    summary = f"{files} file{'s' if files != 1 else ''} scanned, no issues at {threshold}"
    if below:
        summary += f" ({below} below the threshold)"
    return GateVerdict("pass", summary, details)


def _relative_name(value: Any) -> str:
    """bandit writes `./app.py` for `app.py`: show the path as the app knows it."""
    name = str(value) if value else "?"
    return name[2:] if name.startswith("./") else name


def _shape(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    results, errors, metrics = data["results"], data.get("errors", []), data.get("metrics", {})
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ValueError("'results' is not a list of findings")
    if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
        raise ValueError("'errors' is not a list")
    if not isinstance(metrics, dict):
        raise ValueError("'metrics' is not an object")
    files = sum(1 for key in metrics if key != "_totals")
    return results, errors, files
