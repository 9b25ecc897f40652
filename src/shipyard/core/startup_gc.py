"""Python's cyclic garbage collector while a command starts, and after.

Start-up is imports: classes, functions and the objects they hold, nearly all of which
live until the process exits. The collector's passes over them find nothing to free, and
a command's start-up is short, so it runs without them: `pause` at the entry point,
`resume` when the command begins its work (`shipyard.cli.failures` calls it before the
first step a command runs through it). `resume` first moves everything alive into the
collector's permanent generation (`gc.freeze`), so the collections of a long command
(a deploy, `serve`) never walk start-up's objects again. Measured in
docs/benchmarks-speed.md.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop automatic collection until `resume` (nothing, if it was already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what start-up made and turn automatic collection back on, once."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
