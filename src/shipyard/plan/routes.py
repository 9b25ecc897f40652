"""TCP mode's routes: the slot nginx sends traffic to and the slot that backs it up.

nginx cannot follow a port change without a reload, and a reload closes idle client
keep-alive connections (docs/switching.md). So in tcp mode nginx has one upstream per
route, every (primary, backup) pair of slots, and picks one per request by resolving a
symlink, `run/route`, that names the route in force (`routes/green-blue`). A switch
renames a new symlink over it, as socket mode does with `current.sock`.
"""

from __future__ import annotations

from shipyard.plan.layout import SLOTS

ROUTES: tuple[tuple[str, str], ...] = tuple(
    (primary, backup) for primary in SLOTS for backup in SLOTS
)


def route_name(primary: str, backup: str) -> str:
    """The directory name of a route: `green-blue` serves green, falls back to blue."""
    if (primary, backup) not in ROUTES:
        raise ValueError(f"no route from slot {primary!r} with backup {backup!r}")
    return f"{primary}-{backup}"


def parse_route(name: str) -> tuple[str, str] | None:
    """(primary, backup) of a route's name; None for anything else."""
    primary, sep, backup = name.partition("-")
    return (primary, backup) if sep and (primary, backup) in ROUTES else None
