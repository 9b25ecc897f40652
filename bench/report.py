"""Print the Markdown tables of docs/benchmarks.md from bench/results/*.json.

.venv/bin/python bench/report.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("SHIPYARD_BENCH_REF", "worktree")  # only formatting: no snapshot

import baseline
import speed
import zero_downtime
from benchlib import fmt, median, table

RESULTS = Path(__file__).with_name("results")
RUNS = [
    ("zero_downtime-socket.json", "Shipyard, socket mode"),
    ("zero_downtime-socket-rw0.json", "Shipyard, socket mode, rollback_window 0"),
    ("zero_downtime-tcp.json", "Shipyard, tcp mode"),
    ("zero_downtime-tcp-rw0.json", "Shipyard, tcp mode, rollback_window 0"),
    ("baseline.json", "plain stop-then-start restart"),
]


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def zero_downtime_summary() -> str:
    rows = []
    for name, label in RUNS:
        res = load(name)
        if res is None:
            continue
        s = res["settings"]
        ops = (
            f"{s['restarts']} restarts"
            if "restarts" in s
            else f"{s['deploys']} deploys + {s['rollbacks']} rollbacks"
        )
        for mode, m in res["modes"].items():
            t = m["total"]
            failed = t["non2xx"] + t["conn_errors"]
            rows.append(
                [
                    label,
                    ops,
                    mode,
                    str(t["requests"]),
                    f"**{failed}**" + (f" ({100 * failed / t['requests']:.1f}%)" if failed else ""),
                    _kinds(t),
                    f"{fmt(m['quiet']['p50_ms'], 1)} / {fmt(m['quiet']['p99_ms'], 1)}",
                    f"{fmt(m['switch']['p50_ms'], 1)} / {fmt(m['switch']['p99_ms'], 1)}",
                ]
            )
    headers = ["what", "operations", "client", "requests", "failed", "failures were"]
    headers += ["p50 / p99 ms, steady state", "p50 / p99 ms, switch windows"]
    return table(headers, rows)


def _kinds(total: dict[str, Any]) -> str:
    kinds = {f"HTTP {k}": v for k, v in total["non2xx_by_status"].items()}
    kinds |= total["errors_by_kind"]
    if not kinds:
        return "-"
    text = ", ".join(f"{v} {k}" for k, v in kinds.items())
    if total["stale_keepalive"]:
        text += f" (all {total['stale_keepalive']} on a re-used keep-alive connection)"
        if total["stale_keepalive"] != total["conn_errors"]:
            text = text.replace("all ", "")
    return text


def details() -> str:
    parts = []
    for name, label in RUNS:
        res = load(name)
        if res is None:
            continue
        periods = baseline.PERIODS if name == "baseline.json" else None
        parts.append(f"#### {label}\n\n" + zero_downtime.report(res, periods))
        notes = []
        for mode, m in res["modes"].items():
            flips = m["first_new_release_after_switch_start_s"]
            line = (
                f"- {mode}: first response from the new release {flips['min']}-{flips['max']} s "
                "after the switch (restart) began"
            )
            if m.get("reconnects_idle_closed"):
                line += (
                    f"; {m['reconnects_idle_closed']} idle connections found closed by nginx "
                    "and reopened before use (not failures)"
                )
            if m.get("failures_by_phase"):
                line += f"; failures by operator phase: {m['failures_by_phase']}"
            if m.get("outage_seconds_per_restart"):
                spans = m["outage_seconds_per_restart"]
                line += f"; first-to-last failure per restart: median {median(spans):.2f} s"
            notes.append(line)
        if "switch_phase_seconds" in res:
            sw = res["switch_phase_seconds"]
            notes.append(f"- switch phase: median {sw['median']} s, max {sw['max']} s")
        parts[-1] += "\n\n" + "\n".join(notes)
    return "\n\n".join(parts)


def speed_tables() -> str:
    res = load("speed.json")
    if res is None:
        return ""
    lines = [speed.report(res), ""]
    boot = res["app_boot_seconds"]
    lines.append(
        f"App boot (process start to first healthy answer), median of {len(boot)}: "
        f"{median(boot):.3f} s. Health interval: {res['health_interval']} s. "
        f"Post-switch analysis window: {res.get('observe_window', 0)} s.\n"
    )
    startup = res["op_startup_seconds"]
    rows = [
        [
            key,
            _ms(median(values)),
            fmt(startup["cpu_seconds_per_op"].get(key), 3),
        ]
        for key, values in startup["wall"].items()
    ]
    for key, values in startup.get("login_shell_cpu_seconds", {}).items():
        rows.append([key, "", fmt(median(values), 3)])
    lines.append(table(["host operation `hello`", "median ms", "CPU s per operation"], rows))
    lines.append("")
    lines.append(f"Load average (1 min) before/after each scenario: {res['loadavg']}")
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.01 else f"{seconds * 1000:.1f}"


def main() -> int:
    sections = [
        ("Zero downtime: summary", zero_downtime_summary()),
        ("Zero downtime: per period", details()),
        ("Speed", speed_tables()),
    ]
    for title, text in sections:
        print(f"### {title}\n\n{text}\n")
    machines = {
        name: (load(name) or {}).get("machine") for name in [r[0] for r in RUNS] + ["speed.json"]
    }
    print("<!-- machines:", json.dumps(machines), "-->", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
