"""What a host operation works on: one environment's directory tree and its services."""

from __future__ import annotations

import getpass
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.host.state import State
from shipyard.plan.layout import Layout
from shipyard.protocol.op import Scope

if TYPE_CHECKING:  # imported when first used: most operations need none of them
    from shipyard.host.nginx import Nginx
    from shipyard.host.slots import Slots
    from shipyard.host.supervisor import Supervisor
    from shipyard.protocol.specs import ProxySpec


class Context:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.layout = Layout(Path(scope.root), scope.app, scope.env)

    def open_state(self) -> State:
        """The state database, created if this is the first thing recorded here."""
        return State.create(self.layout.state_db)

    def read_state(self) -> State | None:
        """The state database, or None when nothing was ever deployed to this host."""
        return State.existing(self.layout.state_db)

    @cached_property
    def supervisor(self) -> Supervisor:
        from shipyard.host.supervisor import Supervisor

        return Supervisor(self.layout)

    @cached_property
    def slots(self) -> Slots:
        from shipyard.host.slots import Slots

        return Slots(self.layout, self.supervisor)

    def nginx(self, spec: ProxySpec) -> Nginx:
        from shipyard.host.nginx import Nginx

        return Nginx(self.layout, reachable_sockets(self.layout, spec))


def untraversable_parent(path: Path) -> Path | None:
    """The first directory from `path` up that other users cannot search, if any."""
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            return parent
    return None


def reachable_sockets(layout: Layout, spec: ProxySpec) -> ProxySpec:
    """The nginx settings under which nginx's workers can reach the slot sockets.

    nginx's workers run as another user than the app (`nobody` when a managed nginx
    starts as root), so every directory above run/ must be searchable by others. On the
    operator's own machine (a `local` host, e.g. the demo cloned into root's 0700 home)
    a managed nginx's workers run as the user who runs Shipyard instead, who can reach
    them. Anywhere else that is refused with the exact chmod to run (see `proxy`).
    """
    if spec.listen_mode != "socket" or spec.worker_user or spec.mode != "managed":
        return spec
    if not spec.local_host or untraversable_parent(layout.run) is None:
        return spec
    return replace(spec, worker_user=getpass.getuser())


def create_tree(layout: Layout) -> None:
    """The environment's directories. Only what nginx's workers must reach (the sockets
    in run/, the config in proxy/) is searchable by others; uploads and supervisord's
    files are the deploy user's alone."""
    modes = {
        layout.base: 0o755,
        layout.run: 0o755,
        layout.proxy: 0o755,
        layout.releases: 0o750,
        layout.shared: 0o750,
        layout.logs: 0o750,
        layout.uploads: 0o700,
        layout.supervisor_dir: 0o700,
        layout.backups: 0o700,
    }
    for path, mode in modes.items():
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        path.chmod(mode)  # also a tree made by an older Shipyard
