"""The one error tree: every failure a user can see, with its message, hint and exit code.

Each layer raises its own subclass (a bad config, a lock held by someone else, a host
that cannot be reached, a release that failed...), defined next to the code that knows
about it; the CLI turns any `ShipyardError` into a message, a hint and the exit code in
one place (`shipyard.cli.failures`). Exit codes are documented in docs/operations.md.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the deploy/rollback did not go live; the previous release is still serving
    CONFIG = 2  # bad configuration or usage
    LOCKED = 3  # another deploy holds the environment's lock
    UNREACHABLE = 4  # a host could not be reached or a host operation could not run
    BUILD = 5  # the release could not be built (git, dirty tree, hooks)
    GATES = 6  # a quality gate failed (or could not run and fails closed); nothing was deployed
    REFUSED = 7  # the environment refuses the release (not passed staging, no approval)
    INTERRUPTED = 130  # Ctrl-C


class ShipyardError(Exception):
    """Something went wrong that the user can act on.

    `message` says what failed (and where), `hint` what to do next; `exit_code` is what
    the command exits with. `details()` adds evidence lines (probes, log lines) where a
    subclass has them.
    """

    exit_code: int = ExitCode.FAILED
    message: str
    hint: str

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def details(self) -> list[str]:
        return []


class UsageError(ShipyardError):
    """The command was called in a way that cannot work (exit 2)."""

    exit_code = ExitCode.CONFIG
