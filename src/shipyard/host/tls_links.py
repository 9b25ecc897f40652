"""Renaming the two `live` links, each only while nginx does not read it.

Which link nginx reads when, and when each may change: plan/tls_links.py. A link that
does not exist yet is made at once (nginx cannot be reading through it); one that exists
is renamed over (a new symlink, then a rename) inside its window, waiting for it if need
be: at most about a second for both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from shipyard.core.files import atomic_symlink
from shipyard.plan.layout import Layout
from shipyard.plan.tls_links import wait_before_changing


def targets(layout: Layout) -> tuple[str | None, str | None]:
    """Where each link points (None: no link)."""
    found: list[str | None] = []
    for link in layout.tls_links:
        try:
            found.append(os.readlink(link))
        except OSError:
            found.append(None)
    return found[0], found[1]


def point_links(layout: Layout, target: Path | None) -> None:
    """Point both links at `target` (relative to tls/; None: remove them), the one that
    may change first, then the other."""
    now = targets(layout)
    pending = [i for i, where in enumerate(now) if where != (str(target) if target else None)]
    pending.sort(key=lambda i: wait_before_changing(i, time.time()))
    for i in pending:
        link = layout.tls_links[i]
        if now[i] is not None:  # nginx may read it: only inside its window
            time.sleep(wait_before_changing(i, time.time()))
        if target is None:
            link.unlink(missing_ok=True)
        else:
            atomic_symlink(target, link)
