"""The monthly confidence trend from ratings with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

from shipyard.plan.confidence import Rating, confidence_trend, valid_score


def at(day: str) -> float:
    return datetime.fromisoformat(day + "T12:00:00").replace(tzinfo=UTC).timestamp()


def test_each_month_is_the_mean_of_its_ratings_against_the_target() -> None:
    ratings = [
        Rating("ana", at("2026-10-03"), 6),
        Rating("bo", at("2026-10-20"), 7),
        Rating("ana", at("2026-11-02"), 9),
        Rating("bo", at("2026-11-15"), 8),
        Rating("bo", at("2026-11-30"), 7),
    ]
    trend = confidence_trend("production", ratings, target=8)
    assert [(m.month, m.mean, m.ratings, m.people, m.met) for m in trend.months] == [
        ("2026-10", 6.5, 2, 2, False),
        ("2026-11", 8.0, 3, 2, True),
    ]
    assert trend.latest == 8.0
    assert trend.change == 1.5


def test_no_ratings_give_an_empty_trend() -> None:
    trend = confidence_trend("production", [], target=8)
    assert trend.months == [] and trend.latest is None and trend.change is None


def test_a_score_is_a_whole_number_from_one_to_ten() -> None:
    assert [valid_score(s) for s in (0, 1, 10, 11)] == [False, True, True, False]
