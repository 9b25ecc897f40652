"""The team's deploy confidence (pure): 1-10 ratings people record with
`shipyard confidence ENV SCORE`, as a monthly trend against the target (8)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

MIN_SCORE, MAX_SCORE = 1, 10


@dataclass(frozen=True)
class Rating:
    who: str
    at: float  # unix time
    score: int


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM, UTC
    mean: float
    ratings: int
    people: int  # distinct raters
    met: bool  # mean at or over the target


@dataclass(frozen=True)
class ConfidenceTrend:
    environment: str
    target: float
    months: list[Month]  # oldest first; months without ratings are left out
    latest: float | None  # the newest month's mean
    change: float | None  # newest month's mean minus the month before it


def valid_score(score: int) -> bool:
    return MIN_SCORE <= score <= MAX_SCORE


def month_of(at: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(at))


def confidence_trend(environment: str, ratings: list[Rating], target: float) -> ConfidenceTrend:
    """Each calendar month's (UTC) mean rating. Every rating counts once, so a person
    who rates twice in a month weighs twice: the rating is of a moment, not a vote."""
    by_month: dict[str, list[Rating]] = {}
    for rating in sorted(ratings, key=lambda r: r.at):
        by_month.setdefault(month_of(rating.at), []).append(rating)
    months = [
        Month(
            month=month,
            mean=round(mean, 2),
            ratings=len(items),
            people=len({r.who for r in items}),
            met=mean >= target,
        )
        for month, items in sorted(by_month.items())
        for mean in [statistics.fmean(r.score for r in items)]
    ]
    latest = months[-1].mean if months else None
    change = round(months[-1].mean - months[-2].mean, 2) if len(months) > 1 else None
    return ConfidenceTrend(environment, target, months, latest, change)
