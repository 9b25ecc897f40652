"""Who owns the private key file: nginx's worker user.

nginx loads the certificate and key at each handshake (docs/tls.md), and a handshake
runs in a worker process, not in the master: so the worker user must be able to read
the key. The file stays 0600; it is owned by the user nginx's workers run as. That user
is read from the running workers themselves (their uid in /proc), else taken from
`nginx.worker_user`, else nginx's built-in default, `nobody`. Only root can give a file
away, and only a root nginx master runs its workers as another user: a Shipyard that is
not root leaves the key its own, which is the user its managed nginx's workers run as.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

NGINX_DEFAULT_USER = "nobody"


def key_owner(euid: int, worker_uids: set[int], configured_uid: int | None) -> int | None:
    """The uid that must own the key, or None: leave it as written (ours).

    `worker_uids`: the uids of nginx's running workers; `configured_uid`: the uid of
    `nginx.worker_user` (or of `nobody` when it is unset)."""
    if euid != 0:
        return None
    if len(worker_uids) == 1:
        return next(iter(worker_uids))
    return configured_uid


def worker_uids(pid_file: Path) -> set[int]:
    """The uids of the processes whose parent is the nginx master in `pid_file`."""
    try:
        master = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return set()
    uids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                uids.add(entry.stat().st_uid)
        except (OSError, ValueError, IndexError):
            continue  # it exited meanwhile
    return uids


def configured_uid(worker_user: str | None) -> int | None:
    name = (worker_user or NGINX_DEFAULT_USER).split(" ")[0]
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def give_to_workers(key: Path, pid_file: Path, worker_user: str | None) -> None:
    """Make nginx's worker user the owner of `key` (its mode stays 0600)."""
    uid = key_owner(os.geteuid(), worker_uids(pid_file), configured_uid(worker_user))
    if uid is not None and key.stat().st_uid != uid:
        os.chown(key, uid, -1)
