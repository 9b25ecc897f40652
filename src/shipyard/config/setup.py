"""What `setup:` in shipyard.yml may say: how `shipyard setup` makes a fresh server a
Shipyard host (docs/setup.md).

Public keys are written (they are not secrets); `authorized_keys` takes key lines or
paths of `.pub` files on the operator's machine, read when setup runs.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_KEY_TYPES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


class Setup(BaseModel):
    """How setup connects, and what it makes.

    user: who setup logs in as (root, or a user with passwordless sudo), with the same
    strict host keys as every other command (`ssh:`); deploy_user: the user setup creates
    (it owns `root` and runs everything Shipyard starts); authorized_keys: the
    team's public keys, as lines (`ssh-ed25519 AAAA... name`) or paths to .pub files.
    serve: also install `shipyard serve` on the host, run by systemd as `serve_user`
    (created), with the operator's shipyard.yml rewritten for the host, serve's secrets
    as 0600 files and an SSH key of its own (docs/setup.md#the-serve-step).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    user: str = "root"
    deploy_user: str = "deploy"
    authorized_keys: list[str] = Field(default_factory=list)
    ssh_password_login: bool = False
    firewall: bool = True
    unattended_upgrades: bool = True
    venv: str = "/opt/shipyard/venv"
    serve: bool = False
    serve_user: str = "shipyard"

    @field_validator("user", "deploy_user", "serve_user")
    @classmethod
    def _unix_name(cls, value: str) -> str:
        if not _USER.match(value):
            raise ValueError("a Unix user name: lowercase letters, digits, '_' or '-'")
        return value

    @field_validator("serve_user")
    @classmethod
    def _not_root(cls, value: str) -> str:
        if value == "root":
            raise ValueError("serve runs unprivileged: name another user (default shipyard)")
        return value

    @field_validator("authorized_keys")
    @classmethod
    def _one_line_each(cls, values: list[str]) -> list[str]:
        for value in values:
            if "\n" in value.strip() or not value.strip():
                raise ValueError("one key (or one .pub path) per item")
        return values

    @field_validator("venv")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or ".." in value.split("/") or " " in value:
            raise ValueError("an absolute path without spaces, e.g. /opt/shipyard/venv")
        return value.rstrip("/")


def is_key_line(value: str) -> bool:
    """A public key line rather than a path to a .pub file."""
    return value.strip().startswith(_KEY_TYPES)
