"""Who is deploying, from where, and why: for locks and history."""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import time

from shipyard.core.ci import in_ci


def actor() -> str:
    explicit = os.environ.get("SHIPYARD_ACTOR") or os.environ.get("GITHUB_ACTOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def trigger(default: str = "manual") -> str:
    return "ci" if in_ci() else default


def new_deployment_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
