"""Post-switch analysis: from access-log lines and probes to pass, fail or keep watching."""

from __future__ import annotations

from support.records import deployment

from shipyard.plan.analysis import (
    Analysis,
    Thresholds,
    measure,
    parse_access_line,
    percentile,
    summarise,
)
from shipyard.plan.rollback import converge_target
from shipyard.protocol.common import Traffic
from shipyard.protocol.observe import ObserveSampleReply, ProbeJudgement

NEW = "unix:/srv/a/run/current.sock"
OLD = "unix:/srv/a/run/previous.sock"
LIMITS = Thresholds(max_error_ratio=0.1, max_p95_ms=500, failure_limit=2, consecutive_successes=2)


def line(at: float, status: int, seconds: float, upstream: str) -> str:
    return f'{at:.3f} {status} {seconds:.3f} "{upstream}" "GET /x" 12'


def sample(
    requests: int = 10,
    errors: int = 0,
    fallbacks: int = 0,
    p95: float | None = 20.0,
    probe_ok: bool = True,
    process: str = "RUNNING",
) -> ObserveSampleReply:
    return ObserveSampleReply(
        offset=0,
        traffic=Traffic(
            requests=requests, errors=errors, fallbacks=fallbacks, p50_ms=p95, p95_ms=p95
        ),
        probe=ProbeJudgement(ok=probe_ok, detail="ok" if probe_ok else "HTTP 502"),
        process=process,
    )


def test_access_lines_parse_and_junk_is_skipped() -> None:
    entry = parse_access_line(line(100.5, 503, 0.25, NEW))
    assert entry is not None and (entry.at, entry.status, entry.seconds, entry.upstream) == (
        100.5,
        503,
        0.25,
        NEW,
    )
    assert parse_access_line("garbage") is None


def test_only_requests_after_the_switch_count_and_fallbacks_to_the_old_slot_are_failures() -> None:
    entries = [
        parse_access_line(line(99.0, 500, 0.1, NEW)),  # before the switch: not the new release
        parse_access_line(line(101.0, 200, 0.1, NEW)),
        parse_access_line(line(101.5, 500, 0.3, NEW)),
        parse_access_line(line(102.0, 200, 0.2, f"{NEW}, {OLD}")),  # new slot refused it
    ]
    traffic = summarise([e for e in entries if e], NEW, since=100.0)
    assert (traffic.requests, traffic.errors, traffic.fallbacks) == (3, 1, 1)
    assert traffic.p95_ms == 300.0


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0
    assert percentile([5.0], 50) == 5.0


def test_a_measurement_fails_on_error_ratio_latency_probe_or_dead_process() -> None:
    assert measure({"h": sample()}, LIMITS).ok
    assert not measure({"h": sample(errors=2)}, LIMITS).ok  # 20% > 10%
    assert not measure({"h": sample(fallbacks=5)}, LIMITS).ok
    assert not measure({"h": sample(p95=900)}, LIMITS).ok
    assert not measure({"h": sample(probe_ok=False)}, LIMITS).ok
    assert not measure({"h": sample(process="BACKOFF")}, LIMITS).ok


def test_error_ratio_is_judged_across_all_hosts_together() -> None:
    result = measure(
        {"a": sample(requests=10, errors=1), "b": sample(requests=10, errors=1)}, LIMITS
    )
    assert result.ok and result.figures["error_ratio"] == 0.1


def test_no_traffic_is_not_a_failure_when_probes_pass() -> None:
    assert measure({"h": sample(requests=0, p95=None)}, LIMITS).ok


def test_the_analysis_fails_at_the_failure_limit_even_before_the_window_ends() -> None:
    analysis = Analysis(LIMITS)
    analysis.add(measure({"h": sample(errors=5)}, LIMITS))
    assert analysis.verdict(window_over=False) == "continue"
    analysis.add(measure({"h": sample(errors=5)}, LIMITS))
    assert analysis.verdict(window_over=False) == "fail"
    assert analysis.summary()["errors_5xx"] == 10


def test_the_analysis_passes_only_with_enough_good_measurements_at_the_end() -> None:
    analysis = Analysis(LIMITS)
    analysis.add(measure({"h": sample()}, LIMITS))
    analysis.add(measure({"h": sample(errors=5)}, LIMITS))
    analysis.add(measure({"h": sample()}, LIMITS))
    assert analysis.verdict(window_over=True) == "fail"  # 1 trailing success of 2 needed
    analysis.add(measure({"h": sample()}, LIMITS))
    assert analysis.verdict(window_over=True) == "pass"


def test_after_a_cut_short_switch_hosts_converge_on_the_newest_good_release() -> None:
    history = [deployment("new", "running"), deployment("old", "succeeded")]
    assert converge_target(history, {"a": "new", "b": "old"}) == "old"
    # no successful deploy at all (the very first was cut short): the primary's release
    assert converge_target([deployment("x", "running")], {"a": "x", "b": None}) == "x"
