"""TCP mode's route symlink on a host: set it, read it (plan/routes.py says why)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from shipyard.core.files import atomic_symlink, read_text_or_none
from shipyard.plan.layout import Layout
from shipyard.plan.routes import ROUTES, parse_route, route_name


def set_route(layout: Layout, primary: str, backup: str) -> None:
    """Point nginx at `primary`, falling back to `backup`: one rename, no reload."""
    ensure_routes(layout)
    atomic_symlink(Path(layout.routes.name) / route_name(primary, backup), layout.route_link)


def ensure_routes(layout: Layout) -> None:
    """The route directories, searchable by nginx's workers (they resolve the link)."""
    for primary, backup in ROUTES:
        path = layout.routes / route_name(primary, backup)
        if not path.is_dir():
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
    layout.routes.chmod(0o755)


def read_route(layout: Layout) -> tuple[str, str] | None:
    """(primary, backup) of the route in force; None if there is none."""
    try:
        target = os.readlink(layout.route_link)
    except OSError:
        return None
    return parse_route(Path(target).name)


def legacy_route(layout: Layout, slot_of: dict[int, str]) -> tuple[str, str] | None:
    """The route an upstream file from before routes named (its servers' ports: which
    slot listens on which port is `slot_of`)."""
    text = read_text_or_none(layout.upstream_conf) or ""
    found = re.findall(r"server 127\.0\.0\.1:(\d+)", text)
    slots = [slot_of.get(int(port)) for port in found]
    if not slots or slots[0] is None:
        return None
    backup = slots[1] if len(slots) > 1 and slots[1] is not None else slots[0]
    return slots[0], backup
