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


MAX_WHO = 64
MAX_NOTE = 500


@dataclass(frozen=True)
class RatingForm:
    """A rating as the dashboard's form sent it, checked: the score, who, the note."""

    score: int
    who: str
    note: str


def parse_rating_form(score: str, who: str, note: str) -> RatingForm | str:
    """The rating in a submitted form, or what is wrong with it (a sentence to show)."""
    text = score.strip()
    if not (text.isascii() and text.isdigit()) or not valid_score(int(text)):
        return f"the score must be a whole number from {MIN_SCORE} to {MAX_SCORE}"
    name = " ".join(who.split())
    if not name or len(name) > MAX_WHO or not name.isprintable():
        return f"give your name (1 to {MAX_WHO} printable characters)"
    words = " ".join(note.split())
    if len(words) > MAX_NOTE or not words.isprintable():
        return f"the note must be at most {MAX_NOTE} printable characters"
    return RatingForm(int(text), name, words)
