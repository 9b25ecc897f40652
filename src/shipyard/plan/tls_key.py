"""Whether a renewal keeps the hosts' private key or makes a new one (pure, no I/O).

Keeping it makes the renewal a certificate file renamed on each host, which nginx serves
from the next handshake: no reload, so no idle keep-alive connection is closed. A new
key needs a reload (docs/tls.md). One certificate is installed on every host, so a key
can be kept only when every host holds the same one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyChoice:
    keep: str | None  # the key id every host holds, renewed with; None: a new key
    why: str


def key_choice(mode: str, key_ids: dict[str, str | None], new_key: bool) -> KeyChoice:
    """`key_ids`: each host's installed key id (None: no key directory yet)."""
    if new_key:
        return KeyChoice(None, "new (--new-key)")
    if mode != "acme":
        # self-signed certificates are made and signed here, with a key made here
        return KeyChoice(None, f"new ({mode} mode makes its own)")
    missing = [host for host, key_id in key_ids.items() if key_id is None]
    if missing or not key_ids:
        return KeyChoice(None, f"new ({', '.join(missing) or 'no host'}: no key to keep yet)")
    ids = set(key_ids.values())
    if len(ids) > 1:
        return KeyChoice(None, "new (the hosts hold different keys)")
    (key_id,) = ids
    return KeyChoice(key_id, "kept (every host holds it)")
