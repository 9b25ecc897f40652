"""The CLI's console prints literal lines without loading rich, exactly as rich would."""

from __future__ import annotations

import io
from typing import Any

import pytest

from shipyard.cli import output

LINES = [
    "rolled back local to 0f3a9c1e2b4d (warm: one switch) in 0.41s; was 9e8d7c6b5a4f",
    "deployed 0f3a9c1e2b4d to production (was nothing); build 0.02s, connect 0.17s",
    "roll back with: shipyard rollback production",
    "- local: started supervisord",
    "x" * 160,
    "x" * 161,  # longer than the width: wrapped by rich
    "trailing spaces   ",
    "a tab\there",
    "an emoji code :thumbs_up: here",
    "at 10:02:03, [bold]not markup[/bold]",
    "",
]


def rich_text(options: dict[str, Any], line: str, **kwargs: Any) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, **options).print(line, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("line", LINES)
@pytest.mark.parametrize(
    "options",
    [{"highlight": False, "width": 160}, {"stderr": True, "highlight": False, "soft_wrap": True}],
)
def test_a_literal_line_prints_exactly_as_rich_prints_it(
    line: str, options: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    output.LazyConsole(**options).print(line, markup=False)
    captured = capsys.readouterr()
    printed = captured.err if options.get("stderr") else captured.out
    assert printed == rich_text(options, line, markup=False)


def test_only_a_literal_line_without_styles_is_written_without_rich() -> None:
    console = output.LazyConsole(highlight=False, width=160)
    assert console._plain(("plain",), {"markup": False}) == "plain"
    assert console._plain(("[b]x[/b]",), {}) is None  # markup: rich renders it
    assert console._plain(("x",), {"markup": False, "style": "red"}) is None
