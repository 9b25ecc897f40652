"""The dashboard's rating form, checked before anything is stored."""

from __future__ import annotations

from shipyard.plan.confidence import RatingForm, parse_rating_form


def test_a_form_with_a_score_a_name_and_a_note_becomes_a_rating() -> None:
    assert parse_rating_form(" 7 ", "  alice  ", " tests  are green ") == RatingForm(
        7, "alice", "tests are green"
    )


def test_a_score_outside_one_to_ten_or_not_a_whole_number_is_refused() -> None:
    for score in ("0", "11", "-3", "7.5", "", "seven", "²"):
        problem = parse_rating_form(score, "alice", "")
        assert problem == "the score must be a whole number from 1 to 10"


def test_a_rating_needs_a_name_of_printable_characters() -> None:
    for who in ("", "   ", "x" * 65, "bob\x00"):
        assert isinstance(parse_rating_form("8", who, ""), str)


def test_a_note_longer_than_five_hundred_characters_is_refused() -> None:
    assert isinstance(parse_rating_form("8", "alice", "n" * 501), str)
    assert isinstance(parse_rating_form("8", "alice", "n" * 500), RatingForm)
