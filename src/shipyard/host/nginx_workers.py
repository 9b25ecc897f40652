"""nginx's worker processes, read from /proc: which generation accepts connections.

`nginx -s reload` returns once the master has the signal. The master then starts new
workers with the new configuration and only about 100 ms later tells the old ones to
stop accepting (ngx_master_process_cycle: start, sleep, then QUIT): meanwhile a new
connection may land on an old worker and be answered with the old configuration (the
ACME server met a 404 that way, right after this host's own check had seen the answer
served by a new worker). A worker told to stop names itself "worker process is shutting
down" as it closes its listening sockets; so a reload is over, for new connections, when
no worker from before it is still a plain "worker process".
"""

from __future__ import annotations

import time
from pathlib import Path

SHUTTING_DOWN = "shutting down"


def master_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def workers(master: int) -> dict[int, str]:
    """The master's children: pid -> process title (e.g. "nginx: worker process")."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != master:
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue  # it exited meanwhile
        found[int(entry.name)] = title.strip()
    return found


def accepting(titles: dict[int, str]) -> set[int]:
    """The workers that still accept new connections (not shutting down; not the cache
    manager or loader, which have titles of their own)."""
    return {
        pid
        for pid, title in titles.items()
        if "worker process" in title and SHUTTING_DOWN not in title
    }


def generation_replaced(before: set[int], now: dict[int, str]) -> bool:
    """Pure: the workers from `before` accept no more, and a new one does."""
    live = accepting(now)
    return bool(live) and not live & before


def wait_for_new_generation(master: int, before: set[int], deadline: float) -> bool:
    """Until only workers started after `before` accept connections; False at `deadline`
    seconds (the caller says what that means)."""
    end = time.monotonic() + deadline
    while True:
        if generation_replaced(before, workers(master)):
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
