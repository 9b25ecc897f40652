"""Regenerate the figure tables of docs/benchmarks*.md from the stored results.

    .venv/bin/python bench/regen.py           # rewrite the generated sections in place
    .venv/bin/python bench/regen.py --check   # exit 1 if a doc differs from the results

A generated section sits between `<!-- generated:NAME -->` and `<!-- end -->`; everything
in it comes from bench/results/*.json (see resultfiles.py), and it names the file(s), the
commit and the date its figures come from. For each benchmark the newest stored result is
"now" and the one before it (an earlier run, often a legacy file) is "before"; a section
whose benchmark has no result at the current commit says so.

To add a section: write a function `(Results) -> str` below, add it to SECTIONS under
its name, and put the two markers in the doc. Nothing outside the markers is touched.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("SHIPYARD_BENCH_REF", "worktree")  # formatting only: no snapshot

import auto_rollback
import baseline
import hotfix
import tcp_options
import zero_downtime
from benchlib import fmt, median, table
from resultfiles import RESULTS, Stored, latest, load_all

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC_GLOB = "benchmarks*.md"  # every benchmark page; a page without markers is left alone
BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)
BUSY = 2.0  # 1-minute load average at or above the core count: "busy"


@dataclass
class Results:
    stored: list[Stored]

    def now(self, key: str) -> Stored | None:
        """The newest result; for times (QUIETEST), the quietest run at the newest commit."""
        chosen = latest(self.stored, key)
        if not chosen:
            return None
        if key in QUIETEST:
            same = [s for s in chosen if s.commit == chosen[0].commit]
            return min(same, key=lambda s: (_peak_load(s), chosen.index(s)))
        return chosen[0]

    def before(self, key: str) -> Stored | None:
        """The newest result of `key` measured at another commit than "now"."""
        now = self.now(key)
        older = [s for s in latest(self.stored, key) if now and s.commit != now.commit]
        return older[0] if older else None

    def also_now(self, key: str) -> list[Stored]:
        """Other results at the same commit as "now" (kept and named, not quoted)."""
        now = self.now(key)
        return [
            s for s in latest(self.stored, key) if now and s is not now and s.commit == now.commit
        ]

    def all(self, key: str) -> list[Stored]:
        return list(reversed(latest(self.stored, key)))


QUIETEST = {"speed"}  # times depend on the load far more than failure counts do


def _peak_load(s: Stored) -> float:
    """The highest 1-minute load average a speed result recorded around its scenarios."""
    values = [x for pair in s.data.get("loadavg", {}).values() for x in pair]
    return max(values, default=float(s.data.get("machine", {}).get("loadavg_at_start", [0])[0]))


# -- provenance -----------------------------------------------------------------------
def label(s: Stored | None) -> str:
    if s is None:
        return "no stored result"
    when = f"stored {s.day} (date not recorded)" if s.legacy else s.day + " UTC"
    text = f"`{s.name}` (commit `{s.short}`, {when}"
    start = s.data.get("machine", {}).get("loadavg_at_start")
    end = s.data.get("loadavg_at_end")
    if start:
        text += f", load average {start[0]:g} at start" + (f", {end[0]:g} at end" if end else "")
        text += " (busy)" if max(start[0], end[0] if end else 0) >= BUSY else ""
    return text + ")"


def sources(pairs: list[tuple[str, Stored | None]]) -> str:
    return "\n".join(f"- {what}: {label(s)}" for what, s in pairs) + "\n"


def now_before(r: Results, key: str, what: str = "") -> str:
    prefix = f"{what}, " if what else ""
    pairs = [(prefix + "now", r.now(key)), (prefix + "before", r.before(key))]
    pairs += [(prefix + "another run at the same commit (not quoted)", s) for s in r.also_now(key)]
    return sources(pairs)


def pair(now: str, before: str | None) -> str:
    return now if before is None else f"{now} ({before})"


# -- zero downtime --------------------------------------------------------------------
ZD_RUNS = [
    ("zero_downtime-socket", "socket mode"),
    ("zero_downtime-socket-rw0", "socket mode, `rollback_window: 0`"),
    ("zero_downtime-tcp", "tcp mode"),
    ("zero_downtime-tcp-rw0", "tcp mode, `rollback_window: 0`"),
    ("baseline", "plain stop-then-start restart"),
]


def failed(mode: dict[str, Any]) -> int:
    t = mode["total"]
    return int(t["non2xx"] + t["conn_errors"])


def failed_text(mode: dict[str, Any]) -> str:
    n, total = failed(mode), mode["total"]["requests"]
    return f"{n} of {total}" + (f" ({100 * n / total:.1f}%)" if n else "")


def zd_summary(r: Results) -> str:
    headers = ["what", "client", "failed now", "failed before", "failures now were"]
    headers += ["p50 / p99 ms steady, now (before)", "p50 / p99 ms switch windows, now (before)"]
    rows = []
    provenance = []
    for key, what in ZD_RUNS:
        now, before = r.now(key), r.before(key)
        if now is None:
            continue
        provenance += [(f"{what}, now", now), (f"{what}, before", before)]
        for mode, m in now.data["modes"].items():
            b = before.data["modes"].get(mode) if before else None
            rows.append(
                [
                    what,
                    mode,
                    f"**{failed_text(m)}**",
                    failed_text(b) if b else "-",
                    _kinds(m["total"]),
                    pair(_p(m["quiet"]), _p(b["quiet"]) if b else None),
                    pair(_p(m["switch"]), _p(b["switch"]) if b else None),
                ]
            )
    return sources(provenance) + "\n" + table(headers, rows) + "\n"


def _p(group: dict[str, Any]) -> str:
    return f"{fmt(group['p50_ms'], 1)} / {fmt(group['p99_ms'], 1)}"


def _kinds(total: dict[str, Any]) -> str:
    kinds = {f"HTTP {k}": v for k, v in total["non2xx_by_status"].items()}
    kinds |= total["errors_by_kind"]
    if not kinds:
        return "-"
    text = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
    if total["stale_keepalive"]:
        text += f" ({total['stale_keepalive']} on a re-used keep-alive connection)"
    return text


def zd_periods(r: Results) -> str:
    parts = []
    for key, what in ZD_RUNS:
        now = r.now(key)
        if now is None:
            continue
        periods = baseline.PERIODS if key == "baseline" else None
        parts.append(f"{what}: {label(now)}\n\n" + zero_downtime.report(now.data, periods))
    return "\n\n".join(parts) + "\n"


def zd_notes(r: Results) -> str:
    """The figures the prose talks about, each next to the one before."""
    lines = []
    for key, what in ZD_RUNS:
        now, before = r.now(key), r.before(key)
        if now is None:
            continue
        for mode, m in now.data["modes"].items():
            b = before.data["modes"].get(mode) if before else None
            flips = m["first_new_release_after_switch_start_s"]
            text = f"- {what}, {mode}: first answer from the new release {_range(flips)} s"
            if b:
                text += f" ({_range(b['first_new_release_after_switch_start_s'])} s)"
            text += " after the switch (restart) began"
            switches = _switches(now.data)
            if failed(m) and switches:
                per = failed(m) / switches
                text += f"; {per:.1f} failed requests per switch ({switches} switches)"
            if m.get("failures_by_phase") and key != "baseline":
                phases = ", ".join(f"{n} {k}" for k, n in sorted(m["failures_by_phase"].items()))
                text += f"; failed requests by operator phase: {phases}"
                text += _after_last_op(now.data, m)
            if m.get("outage_seconds_per_restart"):
                spans = m["outage_seconds_per_restart"]
                text += f"; first-to-last failure per restart: median {median(spans):.2f} s"
                if b and b.get("outage_seconds_per_restart"):
                    text += f" ({median(b['outage_seconds_per_restart']):.2f} s)"
            lines.append(text)
        if "switch_phase_seconds" in now.data:
            sw = now.data["switch_phase_seconds"]
            text = f"- {what}: switch phase median {sw['median']} s, max {sw['max']} s"
            if before and "switch_phase_seconds" in before.data:
                bsw = before.data["switch_phase_seconds"]
                text += f" ({bsw['median']} s, {bsw['max']} s)"
            lines.append(text)
    provenance = [(what, r.now(key)) for key, what in ZD_RUNS if r.now(key)]
    intro = "Now (before; the files are named in the summary above), from:\n\n"
    return intro + sources(provenance) + "\n" + "\n".join(lines) + "\n"


def _after_last_op(data: dict[str, Any], mode: dict[str, Any]) -> str:
    """Where failures came after every operation had ended: how long after."""
    end = max(op["end"] for op in data["ops"])
    late = [f["t"] for f in mode.get("failures", []) if f["t"] > end]
    if not late:
        return ""
    first, last = f"{min(late) - end:.1f}", f"{max(late) - end:.1f}"
    when = first if first == last else f"{first}-{last}"
    return f" ({len(late)} of them {when} s after the last operation had ended)"


def _range(flips: dict[str, Any]) -> str:
    return f"{flips['min']}-{flips['max']}"


def _switches(data: dict[str, Any]) -> int:
    return sum(1 for op in data["ops"] if op.get("switch_start") is not None)


# -- speed ----------------------------------------------------------------------------
SCENARIOS = ("local", "ssh1", "ssh5")
SPEED_ROWS = [
    ("deploy total", "deploy", "total"),
    ("deploy overhead", "deploy", "overhead"),
    ("warm rollback", "warm", "total"),
    ("cold rollback", "cold", "total"),
]


def speed_compare(r: Results) -> str:
    now, before = r.now("speed"), r.before("speed")
    if now is None:
        return "no stored speed result\n"
    headers = ["median of runs, s: now (before)", "local", "1 SSH host", "5 SSH hosts"]
    headers.append("5 hosts / 1 host")
    rows = []
    for title, kind, field in SPEED_ROWS:
        row = [title]
        for name in SCENARIOS:
            row.append(pair(*(_speed(s, name, kind, field) for s in (now, before))))
        if field == "total":
            row.append(pair(*(_ratio(s, kind) for s in (now, before))))
        else:
            row.append("")
        rows.append(row)
    boot = [fmt(median(s.data["app_boot_seconds"]), 3) if s else None for s in (now, before)]
    rows.append(["app boot on its own", pair(*boot), "", "", ""])
    rows.append(["load average (1 min) before/after", *_loads(now, before), ""])
    return now_before(r, "speed") + "\n" + table(headers, rows) + "\n"


def _speed(s: Stored | None, name: str, kind: str, field: str) -> str | None:
    if s is None or name not in s.data["summary"]:
        return None
    return fmt(s.data["summary"][name][kind][field])


def _ratio(s: Stored | None, kind: str) -> str | None:
    if s is None or not {"ssh1", "ssh5"} <= set(s.data["summary"]):
        return None
    summary = s.data["summary"]
    return f"{summary['ssh5'][kind]['total'] / summary['ssh1'][kind]['total']:.2f}x"


def _loads(now: Stored, before: Stored | None) -> list[str]:
    cells = []
    for name in SCENARIOS:
        texts = []
        for s in (now, before):
            if s is None or name not in s.data["loadavg"]:
                continue
            start, end = s.data["loadavg"][name]
            busy = " busy" if max(start, end) >= BUSY else ""
            texts.append(f"{start:g}/{end:g}{busy}")
        cells.append(texts[0] + (f" ({texts[1]})" if len(texts) > 1 else ""))
    return cells


def speed_phases(r: Results) -> str:
    import speed  # imports Shipyard's host client: only when this section is made

    now = r.now("speed")
    if now is None:
        return "no stored speed result\n"
    tables = speed.report(now.data).split("\n\n")[:3]  # the targets are in `targets`
    return f"{label(now)}\n\n" + "\n\n".join(tables) + "\n"


def speed_hello(r: Results) -> str:
    now, before = r.now("speed"), r.before("speed")
    if now is None:
        return "no stored speed result\n"
    headers = ["host operation `hello`", "median ms, now (before)", "CPU s per operation"]
    rows = []
    startup = now.data["op_startup_seconds"]
    old = before.data["op_startup_seconds"] if before else {"wall": {}, "cpu_seconds_per_op": {}}
    for key, values in startup["wall"].items():
        was = old["wall"].get(key)
        cpu = startup["cpu_seconds_per_op"].get(key)
        was_cpu = old["cpu_seconds_per_op"].get(key)
        rows.append(
            [
                key,
                pair(_ms(median(values)), _ms(median(was)) if was else None),
                pair(fmt(cpu, 3), fmt(was_cpu, 3) if was_cpu is not None else None),
            ]
        )
    for key, values in startup.get("login_shell_cpu_seconds", {}).items():
        was = old.get("login_shell_cpu_seconds", {}).get(key)
        rows.append([key, "", pair(fmt(median(values), 3), fmt(median(was), 3) if was else None)])
    return now_before(r, "speed") + "\n" + table(headers, rows) + "\n"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.01 else f"{seconds * 1000:.1f}"


# -- targets (benchmarks.md) ----------------------------------------------------------
def targets(r: Results) -> str:
    rows = []
    for key, what in ZD_RUNS:
        now, before = r.now(key), r.before(key)
        if now is None:
            continue
        cells = []
        for s in (now, before):
            if s is None:
                cells.append("-")
                continue
            cells.append(
                "; ".join(f"{mode}: {failed_text(m)}" for mode, m in s.data["modes"].items())
            )
        ok = all(failed(m) == 0 for m in now.data["modes"].values())
        target = "(reference, no target)" if key == "baseline" else "0 failed requests"
        verdict = "-" if key == "baseline" else ("**yes**" if ok else "**no**")
        rows.append([f"{target}, {what}", *cells, verdict])
    now, before = r.now("speed"), r.before("speed")
    if now is not None:
        for title, kind, field, limit in (
            ("warm rollback < 1 s", "warm", "total", 1.0),
            ("deploy overhead < 2 s", "deploy", "overhead", 2.0),
        ):
            cells = [_speed_cells(s, kind, field) for s in (now, before)]
            met = [n for n in SCENARIOS if now.data["summary"][n][kind][field] < limit]
            rows.append([title, *cells, _met(met)])
        cells = [
            "; ".join(f"{k}: {_ratio(s, k)}" for k in ("deploy", "warm", "cold")) if s else "-"
            for s in (now, before)
        ]
        ok = all(_ratio_value(now, k) <= 1.3 for k in ("deploy", "warm", "cold"))
        rows.append(["5 hosts no slower than 1.3x one host", *cells, "**yes**" if ok else "**no**"])
    provenance = [(f"{what}", r.now(key)) for key, what in ZD_RUNS] + [("speed", r.now("speed"))]
    headers = ["target (from the issue)", "now", "before", "met now?"]
    return sources(provenance) + "\n" + table(headers, rows) + "\n"


def _speed_cells(s: Stored | None, kind: str, field: str) -> str:
    if s is None:
        return "-"
    return "; ".join(
        f"{n} {fmt(s.data['summary'][n][kind][field])} s" + (" busy" if _busy(s, n) else "")
        for n in SCENARIOS
    )


def _busy(s: Stored, scenario: str) -> bool:
    """The 1-minute load average before or after the scenario reached the core count."""
    return max(s.data["loadavg"].get(scenario, [0.0])) >= BUSY


def _ratio_value(s: Stored, kind: str) -> float:
    summary = s.data["summary"]
    return float(summary["ssh5"][kind]["total"] / summary["ssh1"][kind]["total"])


def _met(names: list[str]) -> str:
    if len(names) == len(SCENARIOS):
        return "**yes**"
    if not names:
        return "**no**"
    return "yes for " + ", ".join(names) + "; otherwise **no**"


# -- machine --------------------------------------------------------------------------
def machine(r: Results) -> str:
    rows = []
    for s in r.stored:
        m = s.data.get("machine", {})
        load = m.get("loadavg_at_start") or []
        rows.append(
            [
                f"`{s.name}`",
                f"`{s.short}`",
                s.day + (" (stored; not recorded)" if s.legacy else ""),
                f"{m.get('nproc', '-')} x {m.get('cpu', '-')}",
                m.get("kernel", "-"),
                m.get("nginx", "-").replace("nginx version: ", ""),
                m.get("python", "-"),
                " / ".join(f"{x:g}" for x in load) + (" busy" if load and load[0] >= BUSY else ""),
            ]
        )
    headers = ["result file", "commit", "date (UTC)", "cores x CPU", "kernel", "nginx", "Python"]
    headers.append("load average at start (1/5/15 min)")
    return table(headers, rows) + "\n"


# -- nginx start failure --------------------------------------------------------------
def nginx_start_failure(r: Results) -> str:
    rows = []
    for s in r.all("nginx_start_failure"):
        runs = s.data["runs"]
        rows.append(
            [
                f"`{s.short}`",
                s.day,
                ", ".join(fmt(x["fail_s"]) for x in runs),
                ", ".join(str(x["nginx_starts"]) for x in runs),
                _all(runs, "names_cause"),
                _all(runs, "names_holder"),
                f"`{s.name}`",
            ]
        )
    headers = ["commit", "date (UTC)", "failed after (s), per run", "nginx starts"]
    headers += ["message names the bind() error", "names the holder's pid", "file"]
    return table(headers, rows) + "\n"


def _all(runs: list[dict[str, Any]], key: str) -> str:
    values = {bool(x[key]) for x in runs}
    return "yes" if values == {True} else ("no" if values == {False} else "some runs")


# -- automatic rollback and hotfix (benchmarks-safety.md) -----------------------------
AR_KEYS = ("auto_rollback-http500", "auto_rollback-crash")


def safety_targets(r: Results) -> str:
    headers = ["target (from the issue)", "scenario", "now", "before", "first stored", "met now?"]
    rows = []
    provenance = []
    for key in AR_KEYS:
        scenario = key.split("-", 1)[1]
        now, before, first = r.now(key), r.before(key), _first(r, key)
        if now is None:
            continue
        provenance += [(f"{key}, {w}", s) for w, s in (("now", now), ("before", before))]
        if first is not None:
            provenance.append((f"{key}, first stored", first))
        runs = (now, before, first)
        ok = all(
            x["back_after_first_fault_s"] is not None and x["back_after_first_fault_s"] < 10
            for x in now.data["runs"]
        )
        target = "back on the old release within 10 s of the first fault"
        rows.append([target, scenario, *map(_back, runs), _yes(ok)])
        sent, bad = _window(now)
        target = "failed requests at most 1% of those sent in that window"
        rows.append([target, scenario, *map(_share, runs), _yes(bad <= sent / 100)])
        target = "no failed GET where the old slot is the backup"
        rows.append([target, scenario, *map(_gets, runs), _yes(bad == 0)])
    now, before = r.now("hotfix"), r.before("hotfix")
    if now is not None:
        provenance += [("hotfix, now", now), ("hotfix, before", before)]
        ok = all(x["serving_s"] is not None and x["serving_s"] < 60 for x in now.data["runs"])
        target = "hotfix under 60 s from command to serving"
        rows.append([target, "one local host", _hotfix(now), _hotfix(before), "-", _yes(ok)])
    return sources(provenance) + "\n" + table(headers, rows) + "\n"


def _first(r: Results, key: str) -> Stored | None:
    """The oldest result, where it is neither "now" nor "before" (the first measurement)."""
    chosen = r.all(key)
    shown = {id(r.now(key)), id(r.before(key))}
    return chosen[0] if chosen and id(chosen[0]) not in shown else None


def _yes(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def _runs(s: Stored) -> list[dict[str, Any]]:
    return list(s.data["runs"])


def _back(s: Stored | None) -> str:
    if s is None:
        return "-"
    values = [x["back_after_first_fault_s"] for x in _runs(s) if x["back_after_first_fault_s"]]
    return f"{fmt(min(values))}-{fmt(max(values))} s ({len(_runs(s))} runs)"


def _window(s: Stored) -> tuple[int, int]:
    runs = _runs(s)
    return int(sum(x["window_sent"] for x in runs)), int(sum(x["window_failed"] for x in runs))


def _share(s: Stored | None) -> str:
    if s is None:
        return "-"
    sent, bad = _window(s)
    pct = [x["window_failed_pct"] for x in _runs(s)]
    return f"{bad} of {sent} ({fmt(min(pct), 1)}-{fmt(max(pct), 1)}% per run)"


def _gets(s: Stored | None) -> str:
    if s is None:
        return "-"
    return f"{_window(s)[1]} failed GETs in {len(_runs(s))} runs"


def _hotfix(s: Stored | None) -> str:
    if s is None:
        return "-"
    runs, m = _runs(s), s.data["medians"]
    serving = [x["serving_s"] for x in runs]
    return (
        f"serving after {fmt(m['serving_s'])} s (median of {len(runs)}, "
        f"{fmt(min(serving))}-{fmt(max(serving))} s); exits after {fmt(m['command_s'])} s"
    )


def ar_detail(key: str) -> Callable[[Results], str]:
    def section(r: Results) -> str:
        now = r.now(key)
        if now is None:
            return "no stored result\n"
        medians = now.data["medians"]
        before = r.before(key)
        lines = [label(now), "", auto_rollback.report(now.data), ""]
        if before is not None:
            lines.append(f"Before: {label(before)}, medians:")
            lines.append("")
            for mode, m in before.data["medians"].items():
                was = medians.get(mode, {})
                lines.append(
                    f"- {mode}: back after first fault {fmt(m['back_after_first_fault_s'])} s "
                    f"(now {fmt(was.get('back_after_first_fault_s'))} s); failed "
                    f"{fmt(m['window_failed_pct'])}% of the window "
                    f"(now {fmt(was.get('window_failed_pct'))}%)"
                )
        return "\n".join(lines) + "\n"

    return section


def hotfix_detail(key: str) -> Callable[[Results], str]:
    def section(r: Results) -> str:
        now = r.now(key)
        if now is None:
            return "no stored result\n"
        runs = _runs(now)
        load = sum(x["load_during_command"]["requests"] for x in runs)
        bad = sum(
            x["load_during_command"]["non2xx"] + x["load_during_command"]["conn_errors"]
            for x in runs
        )
        text = f"{label(now)}\n\n{hotfix.report(now.data)}\n\n"
        text += f"Requests during the commands: {bad} failed of {load}.\n"
        before = r.before(key)
        if before is not None:
            text += f"\nBefore: {label(before)}: {_hotfix(before)}.\n"
        return text

    return section


def rerun(r: Results) -> str:
    """Which benchmark's "now" is at the newest measured commit, and which is older."""
    fresh = [s for s in r.stored if not s.legacy]
    if not fresh:
        return "no result stored under the current naming yet\n"
    current = max(fresh, key=lambda s: (s.date, s.name))
    rows = []
    for key in sorted({s.key for s in r.stored}):
        now = r.now(key)
        assert now is not None
        same = now.commit == current.commit
        day = now.day + (" (stored; not recorded)" if now.legacy else "")
        rows.append([f"`{key}`", f"`{now.short}`", day, "yes" if same else "**no**"])
    intro = f"Newest commit measured: `{current.short}` ({label(current)}).\n\n"
    headers = ["benchmark", "now measured at", "date (UTC)", f"re-run at `{current.short}`?"]
    return intro + table(headers, rows) + "\n"


# -- start-up and the host agent (benchmarks-speed.md) --------------------------------
STARTUP_ROWS = [
    ("help", "`shipyard --help`, wall"),
    ("help: CPU seconds", "`shipyard --help`, CPU"),
    ("local status", "`status` local, wall"),
    ("local status: CPU seconds", "`status` local, CPU"),
    ("local status, config cache off", "`status` local, config cache off, wall"),
    ("local status, config cache off: CPU seconds", "`status` local, config cache off, CPU"),
    ("local rollback, to traffic moved", "warm rollback local, start to traffic moved"),
    ("local rollback, to exit", "warm rollback local, start to exit"),
    ("local rollback: CPU seconds", "warm rollback local, CPU of the command"),
    ("ssh1 rollback, to traffic moved", "warm rollback, 1 SSH host, start to traffic moved"),
    ("ssh1 rollback, to exit", "warm rollback, 1 SSH host, start to exit"),
    ("ssh1 rollback: CPU seconds", "warm rollback, 1 SSH host, operator's CPU"),
]


def startup(r: Results) -> str:
    """Every stored start-up comparison, newest first: before and after, median of runs."""
    parts = []
    for s in reversed(r.all("startup")):
        sides = s.data["sides"]
        before, after = sides.get("before", {}), sides["after"]
        old, new = before.get("median", {}), after["median"]
        rows = [
            [what, _secs(old.get(key)), _secs(new.get(key)), _times(old.get(key), new.get(key))]
            for key, what in STARTUP_ROWS
        ]
        sides_text = f"before `{before.get('commit', '-')[:12]}`, after `{after['commit'][:12]}`"
        headers = [f"median of {s.data['runs']}", "before", "after", "before / after"]
        parts.append(f"{label(s)}; {sides_text}\n\n" + table(headers, rows))
    return "\n\n".join(parts) + "\n" if parts else "no stored startup result\n"


def _secs(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{fmt(value, digits)} s"


def _times(old: float | None, new: float | None) -> str:
    return f"{old / new:.1f}x" if old and new else "-"


STARTUP_TARGETS = [  # from issue 12: (what, CPU key, wall key, target seconds)
    ("`--help`", "help: CPU seconds", "help", 0.25),
    ("`status` local", "local status: CPU seconds", "local status", 0.4),
    ("warm rollback local", "local rollback: CPU seconds", "local rollback, to exit", 0.5),
    ("warm rollback, 1 SSH host", "ssh1 rollback: CPU seconds", "ssh1 rollback, to exit", 1.0),
]


def startup_targets(r: Results) -> str:
    """The issue's targets against the "after" side of the newest start-up result."""
    now = r.now("startup")
    if now is None:
        return "no stored startup result\n"
    new = now.data["sides"]["after"]["median"]
    rows = []
    for what, cpu, wall, target in STARTUP_TARGETS:
        got = new.get(cpu)
        met = "-" if got is None else ("**yes**" if got <= target else "**no**")
        rows.append([what, f"< {target:g} s", _secs(new.get(cpu)), _secs(new.get(wall)), met])
    headers = ["target (issue 12)", "target", "CPU, median", "wall, median", "met on CPU?"]
    return f"{label(now)}, the after side\n\n" + table(headers, rows) + "\n"


def startup_imports(r: Results) -> str:
    """What each layer of start-up costs to import, both sides of the newest result."""
    now = r.now("startup_imports")
    if now is None:
        return "no stored startup_imports result\n"
    sides = now.data["sides"]
    before, after = sides["before"]["median"], sides["after"]["median"]
    rows = [
        [layer["what"], _secs(before.get(layer["what"]), 3), _secs(after.get(layer["what"]), 3)]
        for layer in now.data["layers"]
    ]
    headers = [f"CPU seconds, median of {now.data['runs']}", "before", "after"]
    commits = f"before `{sides['before']['commit'][:12]}`, after `{now.short}`"
    return f"{label(now)}; {commits}\n\n" + table(headers, rows) + "\n"


TIMING = re.compile(r"\[timing\s+(?P<t>[\d.]+)s\] (?P<what>.*?)(?: (?P<d>[\d.]+)s)?$")
TIMELINE = [  # (step, the mark that ends it)
    ("process start to the connection being open (imports, config)", "connected"),
    ("reach the resident agent, `hello`", "op hello"),
    ("lock, status, releases, record start", "op record-start"),
    ("check the warm slot", "phase check"),
    ("switch (**traffic moved**)", "traffic moved"),
    ("verify, record, release the lock, close", "closed"),
    ("close to exit", "exit"),
]


def _marks(lines: list[str]) -> list[tuple[float, str, float | None]]:
    found = []
    for line in lines:
        m = TIMING.match(line)
        if m:
            found.append((float(m["t"]), m["what"], float(m["d"]) if m["d"] else None))
    return found


def _timeline(lines: list[str]) -> dict[str, str]:
    """Each step's share of the last rollback, from the marks' times since process start."""
    marks = _marks(lines)
    cells: dict[str, str] = {}
    previous = 0.0
    for step, ending in TIMELINE:
        at = next(
            (t for t, what, _ in marks if what == ending or what.endswith(" " + ending)), None
        )
        cells[step] = "-" if at is None else f"{at - previous:.3f} s"
        previous = at if at is not None else previous
    connected = next(((t, d) for t, w, d in marks if w.endswith(" connected")), None)
    closed = next((t for t, w, _ in marks if w.endswith(" closed")), None)
    cells["ssh"] = f"{connected[1]:.3f} s" if connected and connected[1] else "-"
    cells["after"] = f"{closed - connected[0]:.3f} s" if connected and closed else "-"
    cells["ops"] = str(sum(1 for _, w, _ in marks if " op " in f" {w}"))
    return cells


def startup_timeline(r: Results) -> str:
    now = r.now("startup")
    if now is None:
        return "no stored startup result\n"
    results = now.data["sides"]["after"]["results"]
    local = _timeline(results.get("local rollback: timing marks of the last run", []))
    ssh = _timeline(results.get("ssh1 rollback: timing marks of the last run", []))
    rows = []
    for step, _ in TIMELINE:
        rows.append([step, local[step], ssh[step]])
        if step.startswith("process start"):
            rows.append(["of which the SSH connection itself", "-", ssh["ssh"]])
    rows.append(["from the connection being open to closed", local["after"], ssh["after"]])
    rows.append(["host operations in the command", local["ops"], ssh["ops"]])
    intro = f"The last rollback of {label(now)}, after side, from `SHIPYARD_TIMING=1`:\n\n"
    return intro + table(["step", "local", "1 SSH host"], rows) + "\n"


AGENT_ROWS = [
    ("per-command agent", "a per-command agent: start `shipyard host serve`, ask `hello`"),
    ("resident agent", "a resident agent behind a unix socket: connect, ask `hello`"),
    ("round trip", "one more round trip on an agent already answering (the floor)"),
    ("ssh connect", "the SSH connection itself (key exchange, authentication)"),
]


def agent_options(r: Results) -> str:
    now = r.now("agent_options")
    if now is None:
        return "no stored agent_options result\n"
    medians = now.data["median"]
    local, ssh = medians.get("local", {}), medians.get("ssh, 1 host", {})
    rows = [[what, _secs(local.get(k), 3), _secs(ssh.get(k), 3)] for k, what in AGENT_ROWS]
    headers = [f"median of {now.data['runs']}", "local", "1 SSH host"]
    return now_before(r, "agent_options") + "\n" + table(headers, rows) + "\n"


# -- backup and restore (benchmarks-backup.md) ----------------------------------------
BACKUP_TARGET = 1.1  # Shipyard / plain, from issue 11


def backup_runs(r: Results) -> str:
    """Every stored backup run, oldest first: what it backed up, and both sides' times."""
    rows = []
    for i, s in enumerate(r.all("backup"), 1):
        x = s.data["result"]
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s),
                f"{s.data.get('target_mb', '-')} MiB asked; {x['rows']:,} rows, "
                f"{x['database_bytes'] / 2**20:.0f} MiB, dump {x['dump_bytes'] / 2**20:.0f} MiB "
                f"({x['database_bytes'] / x['dump_bytes']:.1f}:1)",
                _secs(x["plain_dump_s"], 1),
                _secs(x["shipyard_backup_s"], 1),
                _ratio_cell(x["backup_ratio"]),
                _secs(x["plain_restore_s"], 1),
                _secs(x["shipyard_restore_s"], 1),
                _ratio_cell(x["restore_ratio"]),
                "yes" if x["restored_all_rows"] else "**no**",
                f"fill {fmt(x['fill_s'], 0)} s; {fmt(s.data.get('wall_s'), 0)} s in all",
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "load average at start"]
    headers += ["database", "backup: plain", "backup: Shipyard", "ratio", "restore: plain"]
    headers += ["restore: Shipyard", "ratio", "all rows restored", "run took"]
    intro = f"Ratio = Shipyard / plain; the target (issue 11) is {BACKUP_TARGET:g} or less.\n\n"
    return intro + table(headers, rows) + "\n"


def _load(s: Stored) -> str:
    start = s.data.get("machine", {}).get("loadavg_at_start") or []
    return "-" if not start else f"{start[0]:g}" + (" (busy)" if start[0] >= BUSY else "")


def _ratio_cell(ratio: float) -> str:
    return f"{ratio:.2f}" + (" (met)" if ratio <= BACKUP_TARGET else " (not met)")


def backup_restore_parts(r: Results) -> str:
    """Where a restore's time goes, for every run that timed the pieces."""
    rows = []
    for i, s in enumerate(r.all("backup"), 1):
        x = s.data["result"]
        if "restic_dump_to_null_s" not in x:
            continue
        pipe = x.get("plain_restore_from_pipe_s")
        host = x.get("shipyard_restore_host_s")
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _secs(x["shipyard_restore_s"] - x["plain_restore_s"], 1),
                _secs(x["restic_dump_to_null_s"], 1),
                "-" if pipe is None else f"{_secs(pipe, 1)} ({pipe - x['plain_restore_s']:+.1f} s)",
                "-" if host is None else _secs(host, 1),
                "-" if host is None else _secs(x["shipyard_restore_s"] - host, 1),
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "Shipyard's restore minus plain"]
    headers += ["`restic dump` alone, to /dev/null"]
    headers += ["plain pg_restore from a pipe (against from the file)"]
    headers += ["Shipyard's restore on the host", "the command around it"]
    return table(headers, rows) + "\n" if rows else "no run timed the pieces of a restore\n"


def backup_rounds(r: Results) -> str:
    """Every stored run of restore rounds: plain, streamed from restic and local_copy,
    medians of the per-round ratios, and the CPU each ran on."""
    rows = []
    for i, s in enumerate(r.all("backup-rounds"), 1):
        x = s.data["result"]
        per_round = ", ".join(f"{one['local_ratio']:.3f}" for one in x["rounds"])
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                str(s.data.get("machine", {}).get("cpu", "-")),
                _load(s),
                f"{s.data.get('target_mb', '-')} MiB asked; {x['rows']:,} rows, "
                f"{x['database_bytes'] / 2**20:.0f} MiB, dump {_plain_dump_size(x)}",
                f"{_secs(x['plain_dump_s'], 1)} / {_secs(x['shipyard_backup_s'], 1)} "
                f"({_ratio_cell(x['backup_ratio'])})",
                str(len(x["rounds"])),
                _secs(x["median_plain_restore_s"], 1),
                _secs(x["median_stream_restore_s"], 1),
                f"{x['median_stream_ratio']:.3f}"
                + (" (met)" if x["median_stream_ratio"] <= BACKUP_TARGET else " (not met)"),
                _secs(x["median_local_restore_s"], 1),
                f"**{x['median_local_ratio']:.3f}**"
                + (" (met)" if x["median_local_ratio"] <= BACKUP_TARGET else " (not met)"),
                per_round,
                _fastest_ratio(x["rounds"], "stream"),
                _fastest_ratio(x["rounds"], "local"),
                ", ".join(x["local_read_from"]),
                "yes" if x["restored_all_rows"] else "**no**",
                f"fill {fmt(x['fill_s'], 0)} s; {fmt(s.data.get('wall_s'), 0)} s in all",
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "CPU", "load average at start"]
    headers += ["database", "backup: plain / Shipyard (ratio)", "restore rounds"]
    headers += ["restore: plain (median)", "streamed from restic (median)", "ratio (median)"]
    headers += ["local_copy (median)", "ratio (median)", "local_copy ratio per round"]
    headers += ["fastest streamed / fastest plain", "fastest local_copy / fastest plain"]
    headers += ["local_copy restores read from", "all rows restored", "run took"]
    intro = (
        f"Ratio = Shipyard / plain of the same round; the target (issue 11) is "
        f"{BACKUP_TARGET:g} or less.\n\n"
    )
    return intro + table(headers, rows) + "\n" if rows else "no stored restore rounds\n"


def backup_uncompressed(r: Results) -> str:
    """The runs that also timed plain `pg_dump -Z0` and pg_restore of it: Shipyard (whose
    dumps are -Z0) against both plains, with each path's median CPU time."""
    rows = []
    for i, s in enumerate(r.all("backup-rounds"), 1):
        x = s.data["result"]
        if "plain_z0_dump_s" not in x:
            continue
        rounds = x["rounds"]
        cpu = x["median_cpu_s"]

        def against(kind: str, base: str, rounds: list[dict[str, Any]] = rounds) -> str:
            ratio = statistics.median(one[kind]["s"] / one[base]["s"] for one in rounds)
            return f"{ratio:.3f}" + (" (met)" if ratio <= BACKUP_TARGET else " (not met)")

        loads = [one["loadavg"] for one in rounds]
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s) + f"; rounds {min(loads):.1f}-{max(loads):.1f}",
                _dump_sizes(x),
                f"{_secs(x['plain_dump_s'], 1)} / {_secs(x['plain_z0_dump_s'], 1)} / "
                f"{_secs(x['shipyard_backup_s'], 1)}",
                _ratio_cell(x["backup_ratio"]),
                f"{_secs(x['median_plain_restore_s'], 1)} / "
                f"{_secs(x['median_plain_z0_restore_s'], 1)} / "
                f"{_secs(x['median_stream_restore_s'], 1)} / "
                f"{_secs(x['median_local_restore_s'], 1)}",
                f"**{against('stream', 'plain')}**",
                f"**{against('local', 'plain')}**",
                against("stream", "plain_z0"),
                against("local", "plain_z0"),
                " / ".join(f"{cpu[k]:.1f}" for k in ("plain", "plain_z0", "stream", "local")),
                _fastest_ratio(rounds, "stream") + " / " + _fastest_ratio(rounds, "local"),
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "load average at start; per round"]
    headers += ["dump sizes", "backup: plain -Fc / plain -Z0 / Shipyard", "backup ratio"]
    headers += ["restore medians: plain -Fc / plain -Z0 / streamed / local_copy"]
    headers += ["streamed / plain -Fc", "local_copy / plain -Fc"]
    headers += ["streamed / plain -Z0", "local_copy / plain -Z0"]
    headers += ["median CPU s: plain -Fc / plain -Z0 / streamed / local_copy"]
    headers += ["fastest streamed / local_copy vs fastest plain -Fc"]
    intro = (
        "Ratios are medians of the per-round ratios; against plain -Fc (pg_dump's default, "
        f"the issue's baseline: target {BACKUP_TARGET:g} or less) and, for honesty, against "
        "plain -Z0 (the same uncompressed dump Shipyard makes, restored by plain pg_restore). "
        "CPU: the processes each path ran (pg_restore; for Shipyard also the host agent and "
        "restic), never the PostgreSQL server's.\n\n"
    )
    return intro + table(headers, rows) + "\n" if rows else "no stored run with plain -Z0\n"


def backup_pieces(r: Results) -> str:
    """Where the time of Shipyard's backup and restores went, as the host timed each
    piece (median over the rounds for the restores), for the runs that recorded them."""
    rows = []
    for i, s in enumerate(r.all("backup-rounds"), 1):
        x = s.data["result"]
        if "shipyard_backup_pieces" not in x:
            continue
        backup = ", ".join(f"{k} {v:.1f} s" for k, v in x["shipyard_backup_pieces"].items())
        cells = [str(i), f"`{s.name}`", f"`{s.short}`", s.day, _load(s)]
        cells += [f"{backup} (host {x['shipyard_backup_host_s']:.1f} s of "]
        cells[-1] += f"{x['shipyard_backup_s']:.1f} s)"
        for kind in ("stream", "local"):
            names = list(dict.fromkeys(k for one in x["rounds"] for k in one[kind]["pieces"]))
            parts = [
                f"{name.replace('|', chr(92) + '|')} {_median_piece(x['rounds'], kind, name):.2f} s"
                for name in names
            ]
            host = statistics.median(one[kind]["host_s"] for one in x["rounds"])
            whole = statistics.median(one[kind]["s"] for one in x["rounds"])
            cells.append(f"{', '.join(parts)}; host {host:.2f} s of {whole:.2f} s")
        rows.append(cells)
    headers = ["run", "result file", "commit", "date (UTC)", "load average at start"]
    headers += ["backup pieces"]
    headers += ["streamed restore pieces (medians)", "local_copy restore pieces (medians)"]
    note = (
        "Host = the host agent's whole operation; the rest of the command (the lock, "
        "starting the agent, finding the record) is the difference to the whole.\n\n"
    )
    return note + table(headers, rows) + "\n" if rows else "no stored run with pieces\n"


def _dump_sizes(x: dict[str, Any]) -> str:
    # the run at 75ec8f4 stored Shipyard's -Z0 dump's size as the -Fc one's (bench bug)
    return (
        f"-Fc {_plain_dump_size(x)}, -Z0 {x['plain_z0_dump_bytes'] / 2**20:.0f} MiB; "
        f"restic's data_added (before compression) {x['restic_added_bytes'] / 2**20:.0f} MiB"
    )


def _plain_dump_size(x: dict[str, Any]) -> str:
    # with -Z0 the two dumps differ; equal sizes mean the plain one's was not recorded
    plain = x["dump_bytes"]
    fallback = "plain_z0_dump_bytes" in x and plain == x["shipyard_dump_bytes"]
    return "not recorded" if fallback else f"{plain / 2**20:.0f} MiB"


def _median_piece(rounds: list[dict[str, Any]], kind: str, name: str) -> float:
    return float(statistics.median(one[kind]["pieces"].get(name, 0.0) for one in rounds))


def _fastest_ratio(rounds: list[dict[str, Any]], kind: str) -> str:
    """The least disturbed time of a path over the rounds against plain's (best of N)."""
    fastest = min(one[kind]["s"] for one in rounds) / min(one["plain"]["s"] for one in rounds)
    return f"{fastest:.3f}"


def recover_runs(r: Results) -> str:
    """Every stored `recover` run: RTO from a fresh host to serving, each step's share."""
    rows = []
    for i, s in enumerate(r.all("recover"), 1):
        x = s.data["result"]
        shares = x["recover_step_shares_pct"]
        steps = ", ".join(
            f"{step} {_secs(seconds, 1)} ({shares[step]:.0f}%)"
            for step, seconds in x["recover_steps_s"].items()
        )
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s),
                f"{x['rows']:,} rows, {x['database_bytes'] / 2**20:.0f} MiB, dump "
                f"{x['dump_bytes'] / 2**20:.0f} MiB",
                _secs(x["rto_s"], 1),
                steps,
                "yes" if x["restored_all_rows"] and x["serving_after"] == 200 else "**no**",
                _secs(x["backup_s"], 1),
                f"{x['rpo_default_schedule_s'] / 3600:.2f} h",
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "load average at start"]
    headers += ["database", "RTO: recover, fresh host to serving", "steps (share)"]
    headers += ["all rows back, serving", "the backup took", "RPO, default schedule"]
    return table(headers, rows) + "\n" if rows else "no stored recover result\n"


def recover_fresh_root_runs(r: Results) -> str:
    """Every stored `recover_fresh_root` run: RTO from a fresh root (only sshd) to serving,
    each step's share, and whether the data and the artifact came back."""
    rows = []
    for i, s in enumerate(r.all("recover_fresh_root"), 1):
        x = s.data["result"]
        shares = x["recover_step_shares_pct"]
        steps = ", ".join(
            f"{step} {_secs(seconds, 1)} ({shares[step]:.0f}%)"
            for step, seconds in x["recover_steps_s"].items()
        )
        intact = (
            x["restored_all_rows"]
            and x["restored_all_uploads"]
            and x["same_release_and_digest"]
            and x["serving_after"] == 200
        )
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s),
                f"{x['rows']:,} rows, {x['database_bytes'] / 2**20:.0f} MiB, dump "
                f"{x['dump_bytes'] / 2**20:.0f} MiB",
                _secs(x["rto_s"], 1),
                steps,
                "yes" if intact else "**no**",
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "load average at start"]
    headers += ["database", "RTO: recover, fresh root to serving", "steps (share)"]
    headers += ["rows, uploads, same sha256, serving"]
    return table(headers, rows) + "\n" if rows else "no stored recover_fresh_root result\n"


# -- unpacking (benchmarks.md) --------------------------------------------------------
def unpack(r: Results) -> str:
    now = r.now("unpack")
    if now is None:
        return "no stored unpack result: run `bench/unpack.py` (see bench/README.md)\n"
    d = now.data
    art = d["artifact"]
    rows = []
    for key, what in (
        ("tarfile_data_filter_s", '`tarfile.extractall(filter="data")`'),
        (
            "safe_unpack_s",
            "`shipyard.host.unpack.safe_unpack` (every destination resolved "
            "through the links already unpacked, each link checked again at the end)",
        ),
    ):
        runs = d[key]["all"]
        rows.append([what, _secs(d[key]["median"], 1), f"{min(runs):.1f} to {max(runs):.1f} s"])
    stock, ours = d["tarfile_data_filter_s"]["median"], d["safe_unpack_s"]["median"]
    reply = d["local_reply"]
    text = now_before(r, "unpack") + "\n"
    text += (
        f"Python {d.get('python', '-')}; an artifact of {art['members']:,} members, "
        f"{art['unpacked_bytes'] / 1e6:.1f} MB unpacked, {art['compressed_bytes'] / 1e6:.2f} MB "
        f"compressed; {d['runs']} runs each.\n\n"
    )
    text += table(["unpacker", "median", "runs"], rows) + "\n\n"
    text += f"`safe_unpack` / `tarfile`: {ours / stock:.2f}x (medians). "
    text += (
        f"One {reply['mib']} MiB reply line through the local transport's channel "
        f"(`transport/lines.py`): median {reply['median_s']:.2f} s.\n"
    )
    return text


# -- the build cache (benchmarks-build-cache.md) --------------------------------------
BC_HOSTS = [("local", "local"), ("ssh1", "1 SSH host")]
BC_MODES = [
    ("pip", "pip (before)"),
    ("pip+cache", "pip + build cache"),
    ("uv", "uv"),
    ("uv+cache", "uv + build cache"),
]
BC_TARGET = 5.0  # code-only deploy to one SSH host with the cache, seconds (issue 12)


def build_cache_runs(r: Results) -> str:
    """Every stored build cache result, oldest first: where, when, how busy, what with."""
    rows = []
    for s in r.all("build_cache"):
        m = s.data["machine"]
        rows.append(
            [
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s),
                str(s.data["runs"]),
                f"{m['nproc']} x {m['cpu']}",
                m["nginx"].replace("nginx version: ", ""),
                m["python"],
                s.data.get("uv") or "-",
            ]
        )
    headers = ["result file", "commit", "date (UTC)", "load average at start", "runs"]
    headers += ["cores x CPU", "nginx", "Python", "uv"]
    return table(headers, rows) + "\n" if rows else "no stored build_cache result\n"


def _bc_times(runs: list[dict[str, Any]], field: str, median_value: float) -> str:
    each = ", ".join(fmt(x[field]) for x in runs)
    return f"{fmt(median_value)} ({each})"


def _bc_cache(runs: list[dict[str, Any]]) -> str:
    """hit / miss / no cache, from what each deploy reported."""
    kinds = [("hit" if " hit" in x["cache"] else "miss") if x["cache"] else "" for x in runs]
    if not any(kinds):
        return "no cache"
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    if len(counts) == 1:
        return f"all {next(iter(counts))}"
    return ", ".join(f"{n} {k or 'no cache'}" for k, n in counts.items())


def build_cache(r: Results) -> str:
    """Whole deploys (pipeline call to return), medians of the newest result's runs."""
    now = r.now("build_cache")
    if now is None:
        return "no stored build_cache result: run `bench/build_cache.py`\n"
    headers = ["host", "mode", "first deploy", "code-only: median (each run)"]
    headers += ["dependency change: median (each run)", "code-only vs pip (medians)"]
    rows = []
    for host, where in BC_HOSTS:
        modes = now.data["scenarios"].get(host, {})
        base = modes.get("pip")
        for mode, what in BC_MODES:
            x = modes.get(mode)
            if x is None:
                continue
            ratio = "" if base is None or mode == "pip" else _bc_ratio(x, base)
            rows.append(
                [
                    where,
                    what,
                    fmt(x["first"]["total"]),
                    _bc_times(x["code_only"], "total", x["code_only_median"]),
                    _bc_times(x["dependency_change"], "total", x["dependency_change_median"]),
                    ratio,
                ]
            )
    intro = f"Seconds, from {label(now)}:\n\n"
    return intro + table(headers, rows) + "\n"


def _bc_ratio(x: dict[str, Any], base: dict[str, Any]) -> str:
    return f"{x['code_only_median'] / base['code_only_median']:.2f}"


def build_cache_prepare(r: Results) -> str:
    """The PREPARE phase alone (unpack, key, build or copy), and whether the cache hit."""
    now = r.now("build_cache")
    if now is None:
        return "no stored build_cache result\n"
    headers = ["host", "mode", "first deploy", "code-only: median (each run)", "cache"]
    headers += ["dependency change: median (each run)", "cache"]
    rows = []
    for host, where in BC_HOSTS:
        modes = now.data["scenarios"].get(host, {})
        for mode, what in BC_MODES:
            x = modes.get(mode)
            if x is None:
                continue
            code, dep = x["code_only"], x["dependency_change"]
            rows.append(
                [
                    where,
                    what,
                    fmt(x["first"]["prepare"]) + (" (miss)" if x["first"]["cache"] else ""),
                    _bc_times(code, "prepare", median([y["prepare"] for y in code])),
                    _bc_cache(code),
                    _bc_times(dep, "prepare", median([y["prepare"] for y in dep])),
                    _bc_cache(dep),
                ]
            )
    intro = f"Seconds, from {label(now)}:\n\n"
    return intro + table(headers, rows) + "\n"


def build_cache_notes(r: Results) -> str:
    """The comparisons the prose talks about, from the newest result."""
    now = r.now("build_cache")
    if now is None:
        return "no stored build_cache result\n"
    sc = now.data["scenarios"]
    lines = []
    ssh = sc.get("ssh1", {})
    if "pip+cache" in ssh:
        got = ssh["pip+cache"]["code_only_median"]
        met = "**met**" if got < BC_TARGET else "**not met**"
        lines.append(
            f"- code-only deploy to one SSH host with the cache (pip): median {fmt(got)} s; "
            f"target under {BC_TARGET:g} s: {met}"
        )
    for host, where in BC_HOSTS:
        modes = sc.get(host, {})
        if {"pip", "pip+cache"} <= set(modes):
            before = [x["prepare"] for x in modes["pip"]["code_only"]]
            after = [x["prepare"] for x in modes["pip+cache"]["code_only"]]
            lines.append(
                f"- {where}, code-only, PREPARE: {fmt(min(before))}-{fmt(max(before))} s "
                f"without the cache, {fmt(min(after))}-{fmt(max(after))} s with it (pip)"
            )
        if {"pip", "uv"} <= set(modes):
            pip_dep = modes["pip"]["dependency_change_median"]
            uv_dep = modes["uv"]["dependency_change_median"]
            lines.append(
                f"- {where}, dependency change, whole deploy: uv {fmt(uv_dep)} s against pip "
                f"{fmt(pip_dep)} s (medians; pip / uv {pip_dep / uv_dep:.1f}x)"
            )
        if {"uv", "uv+cache"} <= set(modes):
            lines.append(
                f"- {where}, code-only, whole deploy: uv {fmt(modes['uv']['code_only_median'])} s"
                f", uv + build cache {fmt(modes['uv+cache']['code_only_median'])} s (medians)"
            )
    return f"From {label(now)}:\n\n" + "\n".join(lines) + "\n"


# -- the dashboard (benchmarks-dashboard.md) ------------------------------------------
DASHBOARD_TARGET_MS = 100.0  # p95 per page, from issue 10


def dashboard(r: Results) -> str:
    """Per page of the newest dashboard result: first view, median, p95 (the one before)."""
    now, before = r.now("dashboard"), r.before("dashboard")
    if now is None:
        return "no stored dashboard result\n"
    old = before.data["pages"] if before else {}
    rows = []
    for page, p in now.data["pages"].items():
        was = old.get(page, {}).get("p95_ms")
        met = "yes" if p["p95_ms"] < DASHBOARD_TARGET_MS else "no"
        rows.append(
            [
                f"`{page}`",
                f"{p['first_ms']:g}",
                f"{p['median_ms']:g}",
                pair(f"{p['p95_ms']:g}", f"{was:g}" if was is not None else None),
                f"{p['max_ms']:g}",
                met,
            ]
        )
    head = (
        f"{now.data['records']:,} deploy records, {now.data['check_results']:,} check results "
        f"over {now.data['days']} days, {now.data['repeat']} requests per page.\n\n"
    )
    headers = ["page", "first view (ms)", "median (ms)", "p95 (ms; before)", "max (ms)"]
    headers.append(f"p95 < {DASHBOARD_TARGET_MS:g} ms")
    return now_before(r, "dashboard") + "\n" + head + table(headers, rows) + "\n"


# -- the live view: how late a phase shows (benchmarks-dashboard.md) -------------------
def live_events(r: Results) -> str:
    """From a phase starting on the host to the live API showing it: the newest result
    (the lane) and the newest `live_events-before` (the commit before it), per run."""
    now, before = r.now("live_events"), r.now("live_events-before")
    if now is None:
        return "no stored live_events result\n"
    head = sources([("now", now), ("before the lane", before)])
    rows = []
    for what, s in (("now", now), ("before the lane", before)):
        if s is None:
            continue
        d = s.data
        runs = ", ".join(f"{run['shown_s']:g}" for run in d["runs"])
        rows.append(
            [
                what,
                f"{d['shown_median_s']:g}",
                f"{d['shown_min_s']:g} to {d['shown_max_s']:g}",
                f"{d['recorded_median_s']:g}",
                runs,
            ]
        )
    settings = (
        f"\n{len(now.data['runs'])} deploys per side over {now.data['host']}; the release "
        f"command sleeps {now.data['hold_s']:g} s; the dashboard and the client poll every "
        f"{now.data['poll_s']:g} s.\n\n"
    )
    headers = [
        "",
        "shown on the live API, median (s)",
        "range (s)",
        "recorded on the primary, median (s)",
        "shown, per run (s)",
    ]
    return head + settings + table(headers, rows) + "\n"


# -- TLS: certificate install and renewal under load (benchmarks-tls.md) ---------------
TLS_STAGES = [
    ("install", "first certificate obtained and installed (`tls renew`), load on plain HTTP"),
    ("renew", "renewals keeping the key (`tls renew --force`) back to back, load over HTTPS"),
    ("new_key", "renewals with a new key (`tls renew --new-key`), load over HTTPS"),
]


# results measured with the live link and the placeholder (bench/tls.py's "flow")
TLS_STAGES_NOW = {
    ("install", "placeholder"): (
        "first certificate (`tls renew` after a deploy with acme left the placeholder), "
        "load on plain HTTP"
    ),
}


def tls_runs(r: Results) -> str:
    now = r.now("tls")
    if now is None:
        return "no stored tls result: run `bench/tls.py` (see bench/README.md)\n"
    d = now.data
    rows = []
    for stage, what in TLS_STAGES:
        if stage not in d:
            continue
        what = TLS_STAGES_NOW.get((stage, d[stage].get("flow")), what)
        reloads = d[stage].get("nginx_reloads")
        for mode, s in d[stage]["load"].items():
            failed = int(s["non2xx"]) + int(s["conn_errors"])
            rows.append(
                [
                    what,
                    mode,
                    f"{s['requests']:,}",
                    str(failed),
                    str(s.get("stale_keepalive", 0)),
                    "not counted" if reloads is None else str(reloads),
                    fmt(s["p50_ms"], 1),
                    fmt(s["p99_ms"], 1),
                ]
            )
    renewals = d["renew"]["seconds"]
    text = now_before(r, "tls") + "\n"
    counts = f"{d['renewals']} renewals keeping the key"
    if "new_key" in d:
        counts += f", {d['new_keys']} with a new key"
    text += (
        f"{d['rate']:g} requests/s per mode ({', '.join(d['modes'])}); {counts}; "
        f"{d['idle_seconds']:g} s of load before and after each stage.\n\n"
    )
    headers = [
        "stage",
        "mode",
        "requests",
        "failed",
        "of which closed idle keep-alive (retryable)",
        "renewals that reloaded nginx",
        "p50 ms",
        "p99 ms",
    ]
    text += table(headers, rows) + "\n\n"
    text += (
        f"First certificate, order to installed: {d['install']['seconds']:.2f} s. "
        f"Each renewal keeping the key (ACME order, validation, install on the host): median "
        f"{median(renewals):.2f} s, {min(renewals):.2f} to {max(renewals):.2f} s."
    )
    if "new_key" in d:
        fresh = d["new_key"]["seconds"]
        how = "" if d["install"].get("flow") == "placeholder" else " (and a reload)"
        text += (
            f" With a new key{how}: median {median(fresh):.2f} s, "
            f"{min(fresh):.2f} to {max(fresh):.2f} s."
        )
    return text + "\n"


TLS_HANDSHAKE_KINDS = [
    ("at_start", "at start (static paths; renewals needed a reload)"),
    ("per_handshake_dir", "per handshake, the key's directory in the map (before the links)"),
    ("per_handshake", "per handshake (`tls/key-<id>/` through a map; renewals need none)"),
]


def tls_handshakes(r: Results) -> str:
    now = r.now("tls_handshakes")
    if now is None:
        return "no stored tls_handshakes result: run `bench/tls_handshakes.py`\n"
    d = now.data
    kinds = [
        (kind, "per handshake (the `tls/live-a`, `tls/live-b` links by a map on `$msec`)")
        if kind == "per_handshake" and d.get("per_handshake_through")
        else (kind, what)
        for kind, what in TLS_HANDSHAKE_KINDS
        if kind in d
    ]
    rows = [
        [
            what,
            f"{d[kind]['handshakes']:,}",
            fmt(d[kind]["handshakes_per_s"], 1),
            f"{min(d[kind]['rounds_per_s']):g} to {max(d[kind]['rounds_per_s']):g}",
            fmt(d[kind]["p50_ms"]),
            fmt(d[kind]["p99_ms"]),
            str(d[kind]["errors"]),
        ]
        for kind, what in kinds
    ]
    text = now_before(r, "tls_handshakes") + "\n"
    text += (
        f"{d['clients']} client processes, full handshakes one after another; "
        f"{d['rounds']} rounds of {d['seconds']:g} s per kind, alternating; {d['key']}.\n\n"
    )
    headers = [
        "certificate loaded",
        "handshakes",
        "per s",
        "per s, rounds",
        "p50 ms",
        "p99 ms",
        "errors",
    ]
    text += table(headers, rows) + "\n\n"
    ratio = d["per_handshake"]["handshakes_per_s"] / d["at_start"]["handshakes_per_s"]
    text += f"Per handshake: {ratio:.0%} of the handshakes per second loaded at start.\n"
    return text


# -- TLS: the two-open race of a new key (bench/tls_live_swap.py) -----------------------
TLS_SWAP_PHASES = [
    ("control", "no renames (control)"),
    ("one_link", "one link, renamed at any moment (the first design)"),
    ("two_links", "two links by nginx's clock, each renamed only while the other is read"),
]


def tls_live_swap(r: Results) -> str:
    now = r.now("tls_live_swap")
    if now is None:
        return "no stored tls_live_swap result: run `bench/tls_live_swap.py`\n"
    d = now.data
    rows = [
        [
            what,
            f"{d[phase]['handshakes']:,}",
            str(d[phase]["failed"]),
            f"{d[phase]['renames']:,}",
            str(d[phase]["mismatch_log_lines"]),
        ]
        for phase, what in TLS_SWAP_PHASES
        if phase in d
    ]
    text = now_before(r, "tls_live_swap") + "\n"
    text += (
        f"{d['clients']} client processes, full handshakes back to back, {d['seconds']:g} s "
        f"per phase; a rename every {d['interval'] * 1000:g} ms when one may be made; "
        f"{d['key']}.\n\n"
    )
    headers = ["links", "handshakes", "failed", "renames", "nginx: key values mismatch"]
    text += table(headers, rows) + "\n"
    one = d.get("one_link", {})
    if one.get("renames"):
        text += (
            f"\nOne link: {one['failed'] / one['renames']:.1%} of the renames met a handshake "
            "between its two opens.\n"
        )
    return text


# -- many SSH hosts (bench/fleet.py) ------------------------------------------------------
FLEET_TARGET = 1.5  # issue 12 item 5: 20 hosts within 1.5 x one host's time


def fleet_runs(r: Results) -> str:
    """Every stored fleet result, oldest first: where, when, how busy, what with."""
    rows = []
    for s in r.all("fleet"):
        m = s.data["machine"]
        sizes = ", ".join(s.data["sizes"])
        rows.append(
            [
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s),
                str(s.data["runs"]),
                sizes,
                f"{m['nproc']} x {m['cpu']}",
                m["nginx"].replace("nginx version: ", ""),
            ]
        )
    headers = ["result file", "commit", "date (UTC)", "load average at start", "runs"]
    headers += ["hosts", "cores x CPU", "nginx"]
    return table(headers, rows) + "\n" if rows else "no stored fleet result\n"


def _fleet_head(s: Stored) -> str:
    return (
        f"From `{s.name}` (commit `{s.short}`, {s.day} UTC, load average {_load(s)} at start):\n\n"
    )


def fleet(r: Results) -> str:
    """Deploys and warm rollbacks per fleet size and pacing: successes, medians, ratios."""
    s = r.now("fleet")
    if s is None:
        return "no stored fleet result\n"
    rows = []
    for key, entry in s.data["summary"].items():
        if key.startswith("burst"):
            continue
        hosts, pacing = key.split("-")
        d, b = entry["deploy"], entry["rollback"]
        rows.append(
            [
                hosts,
                pacing,
                f"{d['succeeded']}/{d['runs']}",
                fmt(d["median_seconds"]),
                fmt(d["x_one_host"]),
                f"{b['succeeded']}/{b['runs']}",
                fmt(b["median_seconds"]),
                fmt(b["x_one_host"]),
                fmt(d["median_connect"]),
                fmt(b["median_connect"]),
                f"{d['median_cpu_busy']:.0%} / {b['median_cpu_busy']:.0%}",
                f"{fmt(d.get('median_operator_cpu'))} / {fmt(b.get('median_operator_cpu'))}",
                str(d["handshake_retries"] + b["handshake_retries"]),
                str(d["dropped"] + b["dropped"]),
            ]
        )
    headers = ["hosts", "pacing", "deploys ok", "deploy s", "x 1 host", "rollbacks ok"]
    headers += ["rollback s", "x 1 host", "connect s (deploy)", "connect s (rollback)"]
    headers += ["CPU busy (deploy / rollback)", "operator CPU s (deploy / rollback)"]
    headers += ["handshakes retried", "handshakes dropped"]
    return _fleet_head(s) + table(headers, rows) + "\n"


def fleet_phases(r: Results) -> str:
    """Where a deploy's time goes, per fleet size (paced): median seconds per phase."""
    s = r.now("fleet")
    if s is None:
        return "no stored fleet result\n"
    phases = ["connect", "prepare", "boot", "check", "switch", "verify", "observe", "cleanup"]
    rows = []
    for hosts, size in s.data["sizes"].items():
        for kind in ("deploy", "rollback"):
            mine = [x for x in size["rows"] if x["pacing"] == "paced" and x["kind"] == kind]
            mine = [x for x in mine if x["ok"]]
            if not mine:
                continue
            cells = [
                fmt(median([x["timings"].get(p, 0.0) for x in mine]))
                if any(p in x["timings"] for x in mine)
                else "-"
                for p in phases
            ]
            rows.append([hosts, kind, *cells])
    return _fleet_head(s) + table(["hosts", "operation", *phases], rows) + "\n"


def fleet_burst(r: Results) -> str:
    """Sessions opened to many addresses behind one sshd, paced and unpaced."""
    s = r.now("fleet")
    if s is None or "burst" not in s.data:
        return "no stored fleet result with a burst\n"
    rows = []
    for pacing in ("paced", "unpaced"):
        e = s.data["summary"].get(f"burst-{pacing}")
        if e:
            rows.append(
                [
                    str(s.data["burst"]["hosts"]),
                    pacing,
                    f"{e['succeeded']}/{e['runs']}",
                    str(e.get("hosts_not_reached", "-")),
                    str(e["sshd_dropped"]),
                    str(e["handshake_retries"]),
                    fmt(e["median_seconds"]),
                ]
            )
    headers = ["addresses", "pacing", "sessions opened", "hosts not reached (all runs)"]
    headers += ["drops sshd logged"]
    headers += ["handshakes tried again", "median s (succeeded)"]
    return _fleet_head(s) + table(headers, rows) + "\n"


def fleet_targets(r: Results) -> str:
    """Item 5's targets against the newest result."""
    s = r.now("fleet")
    if s is None:
        return "no stored fleet result\n"
    summary = s.data["summary"]
    rows = []
    for key, entry in summary.items():
        if key.startswith("burst") or not key.endswith("-paced"):
            continue
        hosts = key.split("-")[0]
        ok = all(entry[k]["succeeded"] == entry[k]["runs"] for k in ("deploy", "rollback"))
        cells = [hosts, "yes" if ok else "no"]
        for kind in ("deploy", "rollback"):
            ratio = entry[kind]["x_one_host"]
            cells.append(
                "-"
                if ratio is None
                else f"{ratio:.2f}" + (" (met)" if ratio <= FLEET_TARGET else " (not met)")
                if hosts == "20"
                else f"{ratio:.2f}"
            )
        rows.append(cells)
    head = _fleet_head(s) + f"Target: 20 hosts within {FLEET_TARGET:g} x one host's time.\n\n"
    headers = ["hosts", "every deploy and rollback succeeded", "deploy x 1 host"]
    headers += ["rollback x 1 host"]
    return head + table(headers, rows) + "\n"


# -- tcp mode (issue 12, item 6) ----------------------------------------------------------
def tcp_options_section(r: Results) -> str:
    """Every way of switching tcp mode measured, newest result; the one before named."""
    now = r.now("tcp_options")
    if now is None:
        return "no stored result\n"
    settings = now.data["settings"]
    text = (
        f"{label(now)}: {settings['switches']} switches per option, {settings['gap']:g} s "
        f"apart, {settings['rate']:g} req/s per client, {settings['connections']} keep-alive "
        f"connections\n\n{tcp_options.report(now.data)}\n"
    )
    before = r.before("tcp_options")
    if before is not None:
        text += f"\nBefore: {label(before)}.\n"
    return text


def tcp_switch(r: Results) -> str:
    """tcp mode through Shipyard's deploys and rollbacks (zero_downtime), now and before."""
    rows, provenance = [], []
    for key, what in ZD_RUNS:
        if not key.startswith("zero_downtime-tcp"):
            continue
        now, before = r.now(key), r.before(key)
        if now is None:
            continue
        provenance += [(f"{what}, now", now), (f"{what}, before", before)]
        for mode, m in now.data["modes"].items():
            b = before.data["modes"].get(mode) if before else None
            in_switch = m["switch"]["non2xx"] + m["switch"]["conn_errors"]
            rows.append(
                [
                    what,
                    mode,
                    f"**{failed_text(m)}**",
                    str(in_switch),
                    failed_text(b) if b else "-",
                    _kinds(m["total"]),
                ]
            )
    headers = ["what", "client", "failed now", "of them in switch windows", "failed before"]
    headers.append("failures now were")
    return sources(provenance) + "\n" + table(headers, rows) + "\n"


def _pct(value: float | None, target: float | None = None) -> str:
    if value is None:
        return "-"
    text = f"{100 * value:.2f} %"
    if target is not None:
        text += " (met)" if value < target else " (not met)"
    return text


def serve_runs(r: Results) -> str:
    """Every stored `bench/serve.py` run, oldest first: CPU, RSS, outage to alert."""
    rows = []
    for i, s in enumerate(r.all("serve"), 1):
        x = s.data
        settings = x["settings"]
        target = x["alert_target_seconds"]
        worst = x.get("alert_seconds_max")
        alerts = (
            "-"
            if worst is None
            else (
                f"median {fmt(x['alert_seconds_median'])} s, max {fmt(worst)} s of "
                f"{len(x['outages'])} ({'met' if worst < target else 'not met'}: < {target:g} s)"
            )
        )
        rows.append(
            [
                str(i),
                f"`{s.name}`",
                f"`{s.short}`",
                s.day,
                _load(s),
                f"{settings['checks']} at {settings['interval']:g} s, "
                f"{settings['steady_seconds']:.0f} s measured",
                _pct(x["cpu_share_own"], 0.05),
                _pct(x["cpu_share_children"]),
                _pct(x["cpu_share_own"] + x["cpu_share_children"], 0.05),
                f"{x['rss_mb_peak']:.1f} MB"
                + (" (met)" if x["rss_mb_peak"] < 80 else " (not met)"),
                f"{x['children_rss_mb_peak']:.1f} MB" if "children_rss_mb_peak" in x else "-",
                alerts,
            ]
        )
    headers = ["run", "result file", "commit", "date (UTC)", "load average at start", "checks"]
    headers += ["CPU of one core: serve", "its children", "together", "RSS peak"]
    headers += ["its children's RSS peak", "outage to alert"]
    intro = "Targets: CPU under 5 % of one core, RSS under 80 MB, outage to alert under "
    intro += "interval x fail_after + 2 s.\n\n"
    return intro + table(headers, rows) + "\n"


# serve before and after the kept host sessions and the delivery worker: two runs made at
# the same time on the same machine, so under the same load
SERVE_COMPARED = (
    "serve-504e81fb14b0-20261202T185001.json",  # main's serve
    "serve-887cb89c5f32-20261202T185000.json",  # host sessions and the delivery worker
)


def serve_compare(r: Results) -> str:
    """The two runs of SERVE_COMPARED side by side, with which children each started."""
    found = {s.name: s for s in r.all("serve")}
    runs = [found[name] for name in SERVE_COMPARED if name in found]
    if len(runs) != len(SERVE_COMPARED):
        return "No stored pair of runs yet.\n"

    def children(s: Stored, kind: str) -> str:
        seen = s.data.get("children_seen", {}).get(kind)
        if not seen:
            return "none"
        return f"{seen['seen']} ({fmt(seen['cpu_seconds_seen'])} s of CPU)"

    def alerts(s: Stored) -> str:
        x = s.data
        return f"{fmt(x['alert_seconds_median'])} / {fmt(x['alert_seconds_max'])} s"

    rows = [
        ["load average at start", *(_load(s) for s in runs)],
        ["measured", *(f"{s.data['settings']['steady_seconds']:.0f} s" for s in runs)],
        ["CPU of one core: serve", *(_pct(s.data["cpu_share_own"]) for s in runs)],
        ["its children", *(_pct(s.data["cpu_share_children"]) for s in runs)],
        [
            "together (target: under 5 %)",
            *(_pct(s.data["cpu_share_own"] + s.data["cpu_share_children"], 0.05) for s in runs),
        ],
        ["host agents seen (CPU they used)", *(children(s, "host agent") for s in runs)],
        ["alert delivery processes seen", *(children(s, "alert delivery") for s in runs)],
        [
            "RSS peak of serve (target: under 80 MB)",
            *(f"{s.data['rss_mb_peak']:.1f} MB" for s in runs),
        ],
        ["its children's RSS peak", *(f"{s.data['children_rss_mb_peak']:.1f} MB" for s in runs)],
        ["outage to alert, median / max", *(alerts(s) for s in runs)],
    ]
    head = sources([("main", runs[0]), ("kept host sessions, one delivery worker", runs[1])])
    return head + "\n" + table(["", "main", "kept host sessions, one delivery worker"], rows) + "\n"


def setup_runs(r: Results, key: str = "setup") -> str:
    """`shipyard setup` from a fresh root, cold and warm caches, then the no-change run."""
    s = r.now(key)
    if s is None:
        option = " --image ubuntu" if key == "setup-ubuntu" else ""
        return f"No stored result yet: run `.venv/bin/python bench/setup.py{option}`.\n"
    d = s.data
    cold, warm = d["cold"], d["warm"]

    def secs(run: dict[str, Any], step: str) -> str:
        value = run["steps"].get(step, {}).get("seconds")
        return fmt(value) if value is not None else "-"

    steps = list(cold["first"]["steps"])
    runs = [
        ("fresh host, nothing cached (downloads)", cold["first"]),
        ("fresh host, packages and wheels cached", warm["first"]),
        ("second run on the set-up host", cold["again"]),
    ]
    rows = []
    for what, run in runs:
        changed = "yes" if run["changed"] else "no changes"
        timings = run["timings"]
        rows.append([what, fmt(run["seconds"]), changed, fmt(timings.get("wheelhouse")),
                     *(secs(run, step) for step in steps)])  # fmt: skip
    headers = ["run", "total (s)", "changed", "wheelhouse (s)", *[f"{x} (s)" for x in steps]]
    lines = [f"From {label(s)}:", "", table(headers, rows), ""]
    down = d["downloads"]
    lines.append(
        f"- package downloads, measured alone in a fresh root: `apt-get update` "
        f"{fmt(down['update_seconds'])} s, then {down['packages']} packages "
        f"({down['mib']:g} MiB) in {fmt(down['download_seconds'])} s"
    )
    lines.append(
        f"- wheel downloads (the cold wheelhouse minus the no-change run's, which only "
        f"rebuilds Shipyard's own wheel): {fmt(down['wheels_seconds'])} s"
    )
    lines.append(f"- a deploy of the example app right after the cold setup: "
                 f"{fmt(cold['deploy_seconds'])} s")  # fmt: skip
    return "\n".join(lines) + "\n"


def setup_serve(r: Results) -> str:
    """`shipyard setup` with `setup.serve` as a sudo user; the installed serve's start."""
    s = r.now("setup_serve")
    if s is None:
        return "No stored result yet: run `.venv/bin/python bench/setup_serve.py`.\n"
    d = s.data
    steps = list(d["first"]["steps"])
    rows = []
    for what, run in (("fresh host (packages mostly cached)", d["first"]),
                      ("second run", d["again"])):  # fmt: skip
        changed = "yes" if run["changed"] else "no changes"
        rows.append([what, fmt(run["seconds"]), changed, fmt(run["timings"].get("wheelhouse")),
                     *(fmt(run["steps"].get(step)) for step in steps)])  # fmt: skip
    headers = ["run", "total (s)", "changed", "wheelhouse (s)", *[f"{x} (s)" for x in steps]]
    serve = d["serve"]
    return (
        f"From {label(s)}:\n\n{table(headers, rows)}\n\n"
        f"- serve started from the installed unit's command: `/api/health` answered after "
        f"{fmt(serve['health'])} s, its first sample of the watched host over SSH showed in "
        f"the API after {fmt(serve['first_sample'])} s\n"
    )


def booted_runs(r: Results) -> str:
    """`shipyard setup` on a root booted with systemd as PID 1; boot, reboots, no-change run."""
    s = r.now("booted")
    if s is None:
        return "No stored result yet: run `.venv/bin/python bench/booted.py`.\n"
    d = s.data
    steps = list(d["first"]["steps"])
    rows = []
    for what, run in (
        ("fresh booted host", d["first"]),
        ("second run, after two reboots", d["again"]),
    ):
        changed = "yes" if run["changed"] else "no changes"
        cells = [fmt(run["steps"].get(step, {}).get("seconds")) for step in steps]
        rows.append([what, fmt(run["seconds"]), changed, *cells])
    headers = ["run", "total (s)", "changed", *[f"{x} (s)" for x in steps]]
    lines = [f"From {label(s)}:", "", table(headers, rows), ""]
    reboots = [("no Shipyard unit running", d["reboot_first"]),
               ("the boot unit running", d["reboot_second"])]  # fmt: skip
    rows = [[what, fmt(x["poweroff_seconds"]), fmt(x["boot_seconds"]), fmt(x["app_back_seconds"]),
             x["boot_unit"]] for what, x in reboots]  # fmt: skip
    headers = ["reboot, with", "poweroff (s)", "boot (s)", "boot to app answering (s)",
               "boot unit after"]  # fmt: skip
    lines += [table(headers, rows), ""]
    lines.append(f"- first boot of the fresh copy (nspawn start to `is-system-running` "
                 f"{d['boot_state']}, sshd listening): {fmt(d['boot_seconds'])} s")  # fmt: skip
    lines.append(f"- a deploy of the example app after the setup: {fmt(d['deploy_seconds'])} s")
    if "image_build" in d:
        build = d["image_build"]
        lines.append(f"- building the bootable image from the mirror (debootstrap, zstd): "
                     f"{fmt(build['seconds'])} s, {build['mib']:g} MiB")  # fmt: skip
    return "\n".join(lines) + "\n"


SECTIONS: dict[str, Callable[[Results], str]] = {
    "rerun": rerun,
    "targets": targets,
    "machine": machine,
    "zero_downtime": zd_summary,
    "zero_downtime-notes": zd_notes,
    "zero_downtime-periods": zd_periods,
    "speed": speed_compare,
    "speed-phases": speed_phases,
    "speed-hello": speed_hello,
    "nginx_start_failure": nginx_start_failure,
    "safety-targets": safety_targets,
    "auto_rollback-http500": ar_detail("auto_rollback-http500"),
    "auto_rollback-crash": ar_detail("auto_rollback-crash"),
    "auto_rollback-http500-retry5xx": ar_detail("auto_rollback-http500-retry5xx"),
    "auto_rollback-http500-tcp": ar_detail("auto_rollback-http500-tcp"),
    "tcp_options": tcp_options_section,
    "tcp_switch": tcp_switch,
    "hotfix": hotfix_detail("hotfix"),
    "hotfix-branch": hotfix_detail("hotfix-branch"),
    "startup": startup,
    "startup-targets": startup_targets,
    "startup-timeline": startup_timeline,
    "startup-imports": startup_imports,
    "agent_options": agent_options,
    "backup": backup_runs,
    "backup-restore": backup_restore_parts,
    "backup-rounds": backup_rounds,
    "backup-uncompressed": backup_uncompressed,
    "backup-pieces": backup_pieces,
    "recover": recover_runs,
    "recover_fresh_root": recover_fresh_root_runs,
    "unpack": unpack,
    "build_cache-runs": build_cache_runs,
    "build_cache": build_cache,
    "build_cache-prepare": build_cache_prepare,
    "build_cache-notes": build_cache_notes,
    "setup": setup_runs,
    "setup-ubuntu": lambda r: setup_runs(r, "setup-ubuntu"),
    "setup-serve": setup_serve,
    "booted": booted_runs,
    "dashboard": dashboard,
    "live_events": live_events,
    "tls": tls_runs,
    "tls_handshakes": tls_handshakes,
    "tls_live_swap": tls_live_swap,
    "fleet-runs": fleet_runs,
    "fleet": fleet,
    "fleet-phases": fleet_phases,
    "fleet-burst": fleet_burst,
    "fleet-targets": fleet_targets,
    "serve": serve_runs,
    "serve-compare": serve_compare,
}


def regenerate(text: str, results: Results) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in SECTIONS:
            raise SystemExit(f"unknown generated section {name!r}; known: {', '.join(SECTIONS)}")
        return match[1] + SECTIONS[name](results) + match[4]

    return BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a doc is out of date")
    parser.add_argument("--results", default=str(RESULTS), help="directory of stored results")
    parser.add_argument("--docs", default=str(DOCS))
    args = parser.parse_args(argv)
    results = Results(load_all(Path(args.results)))
    stale = []
    for path in sorted(Path(args.docs).glob(DOC_GLOB)):
        text = path.read_text()
        new = regenerate(text, results)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        for path in stale:
            print(f"{path}: generated sections differ from bench/results", file=sys.stderr)
        print("run: .venv/bin/python bench/regen.py", file=sys.stderr)
        return 1
    for path in stale:
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
