"""Pure: what pip-audit's JSON output (and its exit status and stderr) mean for the gate.

pip-audit's JSON is `{"dependencies": [...], "fixes": [...]}`; each dependency is either
`{"name", "version", "vulns": [{"id", "fix_versions", "aliases", "description"}]}` or
`{"name", "skip_reason"}` when it could not be audited. It carries no severity.

A dependency pip-audit could not audit is never counted as clean: pip-audit itself says
"No known vulnerabilities found" and exits 0 when the service does not know a package,
so the gate reports "unknown" instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shipyard.gates.process import last_line
from shipyard.gates.result import GateVerdict

MAX_LISTED = 50
MAX_DESCRIPTION = 300

_UNREACHABLE = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "ProxyError",
    "Max retries exceeded",
    "Could not connect",
    "NameResolutionError",
    "Temporary failure in name resolution",
    "ServiceError",
    "SSLError",
)


def explain_failure(stderr: str) -> str:
    """Say why pip-audit produced no report, from what it printed on stderr."""
    if "No module named pip_audit" in stderr:
        return "pip-audit is not installed in shipyard's Python (pip install pip-audit)"
    if any(marker in stderr for marker in _UNREACHABLE):
        return "the vulnerability service could not be reached: " + last_line(stderr)
    if "is not pinned to an exact version" in stderr:
        return (
            "a requirement is not pinned with == (set pip_audit.resolve: true to let "
            "pip-audit resolve it): " + last_line(stderr)
        )
    return last_line(stderr) or "no output"


def parse_pip_audit(
    stdout: str, returncode: int | None, stderr: str, ignore: Sequence[str] = ()
) -> GateVerdict:
    try:
        data = json.loads(stdout)
        dependencies = _dependencies(data)
    except (ValueError, TypeError, KeyError) as exc:
        reason = explain_failure(stderr) if not stdout.strip() else f"unreadable output ({exc})"
        return GateVerdict(
            "unknown",
            f"pip-audit did not report: {reason}",
            {"exit_status": returncode, "stderr_tail": stderr[-2000:]},
        )
    ignored_ids = {value.casefold() for value in ignore}
    found: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    not_audited: list[dict[str, str]] = []
    for dep in dependencies:
        if "skip_reason" in dep:
            not_audited.append({"name": str(dep["name"]), "reason": str(dep["skip_reason"])})
            continue
        for vuln in dep["vulns"]:
            vuln_aliases = [str(alias) for alias in vuln.get("aliases", [])]
            entry: dict[str, Any] = {
                "package": str(dep["name"]),
                "version": str(dep["version"]),
                "id": str(vuln["id"]),
                "aliases": vuln_aliases,
                "fix_versions": [str(v) for v in vuln.get("fix_versions", [])],
                "description": str(vuln.get("description", ""))[:MAX_DESCRIPTION],
            }
            known_as = {str(entry["id"]).casefold(), *(a.casefold() for a in vuln_aliases)}
            (ignored if known_as & ignored_ids else found).append(entry)
    audited = len(dependencies) - len(not_audited)
    details: dict[str, Any] = {
        "packages": len(dependencies),
        "audited": audited,
        "vulnerabilities": found[:MAX_LISTED],
        "vulnerability_count": len(found),
        "ignored": [{"package": v["package"], "id": v["id"]} for v in ignored],
        "not_audited": not_audited[:MAX_LISTED],
        "exit_status": returncode,
    }
    if found:
        packages = sorted({(v["package"], v["version"]) for v in found})
        listed = ", ".join(
            f"{name} {version} ({', '.join(v['id'] for v in found if v['package'] == name)})"
            for name, version in packages[:5]
        )
        more = f" and {len(packages) - 5} more" if len(packages) > 5 else ""
        summary = (
            f"{len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'} in "
            f"{len(packages)} package{'s' if len(packages) != 1 else ''}: {listed}{more}"
        )
        if not_audited:
            summary += f"; {len(not_audited)} package(s) could not be audited"
        return GateVerdict("fail", summary, details)
    if not_audited:
        names = ", ".join(entry["name"] for entry in not_audited[:5])
        reason = not_audited[0]["reason"]
        return GateVerdict(
            "unknown",
            f"{len(not_audited)} of {len(dependencies)} package(s) could not be audited "
            f"({names}): {reason}",
            details,
        )
    if returncode not in (0, 1):
        return GateVerdict(
            "unknown",
            f"pip-audit exited with status {returncode}: " + explain_failure(stderr),
            details | {"stderr_tail": stderr[-2000:]},
        )
    if returncode == 1 and not ignored:
        # exit status 1 means "vulnerabilities found", yet the report lists none
        return GateVerdict(
            "unknown",
            "pip-audit exited with status 1 but reported no vulnerability: "
            + explain_failure(stderr),
            details | {"stderr_tail": stderr[-2000:]},
        )
    if not dependencies:
        return GateVerdict("skipped", "the requirements list no packages", details)
    summary = f"{audited} package{'s' if audited != 1 else ''} audited, no known vulnerabilities"
    if ignored:
        summary += f" ({len(ignored)} ignored: {', '.join(v['id'] for v in ignored[:5])})"
    return GateVerdict("pass", summary, details)


def _dependencies(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise ValueError("no 'dependencies' list")
    dependencies: list[dict[str, Any]] = []
    for dep in data["dependencies"]:
        if not isinstance(dep, dict) or "name" not in dep:
            raise ValueError("a dependency without a name")
        if "skip_reason" not in dep:
            if "version" not in dep or not isinstance(dep.get("vulns"), list):
                raise ValueError(f"dependency {dep['name']!r} has neither vulns nor skip_reason")
            for vuln in dep["vulns"]:
                if not isinstance(vuln, dict) or "id" not in vuln:
                    raise ValueError(f"a vulnerability of {dep['name']!r} has no id")
        dependencies.append(dep)
    return dependencies
