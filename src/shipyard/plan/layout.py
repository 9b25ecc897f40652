"""Where everything of one app's environment lives on a host: pure paths, no I/O.

Both sides use it: the operator to name the upload path, the host to find everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.plan.tls_links import LINKS

SLOTS = ("blue", "green")
# sockaddr_un.sun_path is 108 bytes including the terminating NUL
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class Layout:
    """`<root>/<app>/<env>/` and the fixed paths inside it."""

    root: Path
    app: str
    env: str

    @property
    def base(self) -> Path:
        return self.root / self.app / self.env

    @property
    def releases(self) -> Path:
        return self.base / "releases"

    @property
    def shared(self) -> Path:
        return self.base / "shared"

    @property
    def cache(self) -> Path:
        """Cached build products: `cache/<product>/<key>/`."""
        return self.base / "cache"

    @property
    def proxy(self) -> Path:
        return self.base / "proxy"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    @property
    def uploads(self) -> Path:
        return self.base / "uploads"

    @property
    def supervisor_dir(self) -> Path:
        return self.base / "supervisor"

    @property
    def backups(self) -> Path:
        """restic's default repository, its cache, and the staging and scratch space of
        backups and verifies (the deploy user's alone)."""
        return self.base / "backups"

    @property
    def default_repository(self) -> Path:
        return self.backups / "restic"

    def backup_staging(self, source: str) -> Path:
        """Where a source's dump is written before restic stores it: a fixed path per
        source, so restic sees one series of snapshots per source."""
        return self.backups / "staging" / source

    def backup_local_copy(self, source: str) -> Path:
        """The newest dump of a PostgreSQL source, kept when `backup.local_copy` is on
        (a 0700 directory per source, the dump in it 0600)."""
        return self.backups / "local" / source

    def backup_scratch(self, name: str) -> Path:
        return self.backups / "scratch" / name

    def schedule_request(self, job: str) -> Path:
        """The request a scheduled job's systemd service reads (0600: it holds secrets)."""
        return self.backups / "schedule" / f"{job}.json"

    @property
    def state_db(self) -> Path:
        return self.base / "state.db"

    @property
    def env_file(self) -> Path:
        return self.shared / ".env"

    @property
    def supervisor_conf(self) -> Path:
        return self.supervisor_dir / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def agent_socket(self) -> Path:
        """Where the resident host agent listens (0600: the deploy user's only)."""
        return self.run / "agent.sock"

    @property
    def current_socket(self) -> Path:
        """The fixed path nginx connects to: a symlink to the active slot's socket."""
        return self.run / "current.sock"

    @property
    def previous_socket(self) -> Path:
        """nginx's backup server: a symlink to the slot that served before the switch."""
        return self.run / "previous.sock"

    @property
    def route_link(self) -> Path:
        """TCP mode: a symlink to the route in force, `routes/<primary>-<backup>`, which
        nginx resolves per request (plan/routes.py)."""
        return self.run / "route"

    @property
    def routes(self) -> Path:
        """TCP mode: one empty directory per route, the targets of `route_link`."""
        return self.run / "routes"

    @property
    def nginx_conf(self) -> Path:
        return self.proxy / "nginx.conf"

    @property
    def server_conf(self) -> Path:
        return self.proxy / "server.conf"

    @property
    def upstream_conf(self) -> Path:
        """TCP mode before routes: the upstream's servers, rewritten (and nginx reloaded)
        by each switch; read once to carry the route over, then removed."""
        return self.proxy / "upstream.conf"

    @property
    def nginx_pid(self) -> Path:
        return self.run / "nginx.pid"

    @property
    def access_log(self) -> Path:
        return self.logs / "nginx-access.log"

    @property
    def tls_dir(self) -> Path:
        """HTTPS: the certificate, its key (0600) and what was recorded at install."""
        return self.base / "tls"

    def tls_key_dir(self, key_id: str) -> Path:
        """One private key (privkey.pem, 0600) and its certificate (fullchain.pem), which
        nginx loads at each handshake; a renewal that keeps the key replaces the latter."""
        return self.tls_dir / f"key-{key_id}"

    @property
    def tls_links(self) -> tuple[Path, Path]:
        """Two symlinks to the served key's directory (`key-<id>`), the only paths nginx's
        site names (read by turns, plan/tls_links.py): a new key is a new directory and
        each link renamed over while it is not read, with no reload."""
        return (self.tls_dir / LINKS[0], self.tls_dir / LINKS[1])

    @property
    def tls_redirect(self) -> Path:
        """Present once a real certificate serves: plain HTTP redirects to HTTPS only then
        (nginx tests for it per request; a placeholder certificate serves before)."""
        return self.tls_dir / "redirect"

    @property
    def tls_cert(self) -> Path:
        """Before key directories: the certificate nginx loaded at start (legacy)."""
        return self.tls_dir / "fullchain.pem"

    @property
    def tls_key(self) -> Path:
        return self.tls_dir / "privkey.pem"

    @property
    def tls_meta(self) -> Path:
        return self.tls_dir / "installed.json"

    @property
    def acme_challenges(self) -> Path:
        """HTTP-01 answers, served by nginx at /.well-known/acme-challenge/."""
        return self.tls_dir / "acme-challenge"

    def slot_socket(self, slot: str) -> Path:
        return self.run / f"{slot}.sock"

    def slot_spec(self, slot: str) -> Path:
        """What the slot runs: release, start command, listen mode; read by the launcher."""
        return self.run / f"{slot}.json"

    def slot_env(self, slot: str) -> Path:
        """The environment (secrets included, mode 0600) the slot was booted with."""
        return self.run / f"{slot}.env"

    def slot_log(self, slot: str, process: str = "web") -> Path:
        return self.logs / f"{process}-{slot}.log"

    def release_dir(self, release_id: str) -> Path:
        return self.releases / release_id

    def too_long_socket_paths(self) -> list[Path]:
        paths = [self.supervisor_socket, self.agent_socket, self.current_socket]
        paths.append(self.previous_socket)
        paths += [self.slot_socket(slot) for slot in SLOTS]
        return [path for path in paths if len(str(path).encode()) > MAX_SOCKET_PATH]

    def upload_path(self, release_id: str) -> Path:
        return self.uploads / f"{release_id}.tar.gz"

    @classmethod
    def of_base(cls, base: Path) -> Layout:
        """The layout whose `base` is `<root>/<app>/<env>`."""
        return cls(base.parent.parent, base.parent.name, base.name)


def other_slot(slot: str) -> str:
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def program_name(process: str, slot: str) -> str:
    """supervisord's name for a slot's process: `web-blue`, `worker-green`..."""
    return f"{process}-{slot}"
