"""Server-side charts: uptime bars and line charts as SVG, and the series behind them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from support.dashboard import bucket_results

from shipyard.serve.reads import CheckBucket
from shipyard.serve.web import series, svg

NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Result:
    check: str
    host: str
    at: float
    ok: bool
    latency_ms: float | None
    maintenance: bool = False


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML or this raises


def test_uptime_bars_draw_one_rect_per_period_coloured_by_state() -> None:
    bars = [svg.Bar("up", "a"), svg.Bar("down", "b"), svg.Bar("maintenance", "c")]
    root = parse(svg.uptime_bars(bars, title="web"))
    rects = root.findall(f"{NS}rect")
    assert [r.get("fill") for r in rects] == [
        svg.BAR_COLOURS["up"],
        svg.BAR_COLOURS["down"],
        svg.BAR_COLOURS["maintenance"],
    ]
    assert [r.find(f"{NS}title").text for r in rects] == ["a", "b", "c"]
    assert root.get("aria-label") == "web"


def test_text_in_a_chart_is_escaped() -> None:
    markup = svg.uptime_bars([svg.Bar("up", "<script>x</script>")], title='"><b>')
    assert "<script>" not in markup
    parse(markup)
    chart = svg.line_chart([svg.Series("<i>host</i>", [(0, 1), (60, 2)])], title="&")
    assert "<i>" not in chart
    parse(chart)


def test_a_line_chart_maps_time_to_x_and_values_to_y_under_a_round_top() -> None:
    root = parse(svg.line_chart([svg.Series("h", [(1000, 0.0), (1060, 40.0)])], width=200))
    line = root.find(f"{NS}polyline")
    assert line is not None
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in line.get("points").split())
    assert x0 < x1 and y1 < y0  # later to the right, larger higher up
    labels = [t.text for t in root.findall(f"{NS}text")]
    assert "50" in labels  # 40 rounds up to an axis top of 50


def test_a_line_chart_without_points_says_there_is_no_data() -> None:
    root = parse(svg.line_chart([svg.Series("h", [])]))
    assert root.find(f"{NS}polyline") is None
    assert [t.text for t in root.findall(f"{NS}text")] == ["no data yet"]


def test_several_series_get_a_legend_and_their_own_colours() -> None:
    root = parse(
        svg.line_chart([svg.Series("a", [(0, 1), (1, 2)]), svg.Series("b", [(0, 2), (1, 1)])])
    )
    colours = {line.get("stroke") for line in root.findall(f"{NS}polyline")}
    assert len(colours) == 2
    assert {"a", "b"} <= {t.text for t in root.findall(f"{NS}text")}


def test_nice_ceiling_rounds_up_to_one_two_two_and_a_half_or_five() -> None:
    assert [svg.nice_ceiling(v) for v in (0.7, 1, 1.2, 2.2, 3, 7, 40, 101)] == [
        1.0,
        1.0,
        2.0,
        2.5,
        5.0,
        10.0,
        50.0,
        200.0,
    ]
    assert svg.nice_ceiling(0) == 1.0


def buckets(points: list[Result], *, since: float, until: float, count: int) -> list[CheckBucket]:
    rows = [(p.check, p.host, p.at, p.ok, p.latency_ms, p.maintenance) for p in points]
    return bucket_results(rows, since=since, until=until, count=count)


def test_uptime_bars_tell_up_down_degraded_maintenance_and_empty_apart() -> None:
    points = [
        Result("web", "h", 5, True, 10),
        Result("web", "h", 15, False, None),
        Result("web", "h", 25, True, 10),
        Result("web", "h", 26, False, None),
        Result("web", "h", 35, False, None, maintenance=True),
    ]
    bars = series.uptime_bars(buckets(points, since=0, until=50, count=5), start=0, end=50, count=5)
    assert [b.state for b in bars] == ["up", "down", "degraded", "maintenance", "empty"]
    assert "50.00% up (1 of 2 failed)" in bars[2].label


def test_a_bar_sums_its_slices_over_every_host() -> None:
    points = [
        Result("web", "a", 1, True, 5),
        Result("web", "b", 2, False, None),
        Result("web", "a", 4, False, None),
    ]
    counted = buckets(points, since=0, until=6, count=6)
    bars = series.uptime_bars(counted, start=0, end=6, count=2, group=3)
    assert [b.state for b in bars] == ["degraded", "down"]


def test_uptime_leaves_maintenance_out() -> None:
    points = [
        Result("web", "h", 1, True, 5),
        Result("web", "h", 2, False, None, maintenance=True),
        Result("web", "h", 3, False, None),
    ]
    assert series.uptime_pct(buckets(points, since=0, until=10, count=2)) == 50.0
    assert series.uptime_pct([]) is None


def test_results_outside_the_period_are_not_counted() -> None:
    points = [Result("web", "h", -1, False, None), Result("web", "h", 10, False, None)]
    counted = buckets(points, since=0, until=10, count=2)
    assert [b.state for b in series.uptime_bars(counted, start=0, end=10, count=2)] == [
        "empty",
        "empty",
    ]


def test_latency_lines_have_one_line_per_host_at_each_slices_middle() -> None:
    points = [
        Result("web", "b", 2, True, 20),
        Result("web", "a", 1, True, 10),
        Result("web", "a", 1.5, True, 30),
        Result("web", "a", 3, False, None),
    ]
    lines = series.latency_lines(buckets(points, since=0, until=4, count=2), start=0, slice_s=2)
    assert [(s.name, list(s.points)) for s in lines] == [("a", [(1.0, 20.0)]), ("b", [(3.0, 20.0)])]
