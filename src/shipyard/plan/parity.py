"""What differs between two environments (pure): the merged configuration, each host's
facts, and the active release. `shipyard parity A B` prints it.

Secrets are compared by name only: the configuration never holds their values (only
where to read them from), and this module is never given one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.protocol.codec import encode
from shipyard.protocol.resources import FactsReply

# Keys that name where an environment is, not how it behaves: shown, never counted.
EXPECTED_TO_DIFFER = frozenset(
    {
        "name",
        "hosts",
        "root",
        "url",
        "ssh",
        "shipyard_command",
        "nginx.listen",
        "nginx.server_names",
        "promotion",  # production requires staging; staging requires nothing
        "metrics",
    }
)
# Facts that differ between any two machines: shown, never counted.
HOST_IDENTITY = ("hostname", "active_slot", "active_release")
FACT_KEYS = (
    "os_id",
    "os_version",
    "os_name",
    "kernel",
    "architecture",
    "python",
    "shipyard",
    "nginx",
)


@dataclass(frozen=True)
class ParityDifference:
    """One key whose value differs: `values` by environment (config) or by
    `env/host` (facts). expected: a key that names where an environment is."""

    area: str  # config | facts | release
    key: str
    values: dict[str, Any]
    expected: bool


@dataclass(frozen=True)
class ParityReport:
    first: str
    second: str
    config: dict[str, dict[str, Any]]  # env -> merged settings (secrets by name)
    facts: dict[str, dict[str, FactsReply]]  # env -> host -> facts
    active: dict[str, list[str | None]]  # env -> each host's active release
    differences: list[ParityDifference]

    @property
    def differ(self) -> bool:
        """Any difference that counts (not one of the expected keys)."""
        return any(not d.expected for d in self.differences)


def comparable_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """An environment's merged settings with secrets reduced to their names."""
    result = dict(settings)
    result["secrets"] = sorted(settings.get("secrets") or {})
    return result


def _expected(key: str) -> bool:
    return any(key == e or key.startswith(e + ".") for e in EXPECTED_TO_DIFFER)


def _walk(a: Any, b: Any, path: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        found: list[tuple[str, Any, Any]] = []
        for key in sorted(set(a) | set(b), key=str):
            found += _walk(a.get(key), b.get(key), (*path, str(key)))
        return found
    return [] if a == b else [(".".join(path), a, b)]


def _flat_facts(facts: FactsReply) -> dict[str, Any]:
    flat = {key: getattr(facts, key) for key in FACT_KEYS}
    flat |= {f"packages.{name}": version for name, version in sorted(facts.packages.items())}
    return flat


def parity(
    first: str,
    second: str,
    config: dict[str, Mapping[str, Any]],
    facts: dict[str, dict[str, FactsReply]],
) -> ParityReport:
    """Compare environments `first` and `second`: config[env] is its merged settings
    (`Environment.model_dump(mode="json")`), facts[env] each of its hosts' facts."""
    settings = {env: comparable_config(config[env]) for env in (first, second)}
    found = [
        ParityDifference("config", key, {first: a, second: b}, _expected(key))
        for key, a, b in _walk(settings[first], settings[second], ())
    ]
    hosts = {
        f"{env}/{host}": _flat_facts(reply)
        for env in (first, second)
        for host, reply in facts.get(env, {}).items()
    }
    keys = sorted({key for flat in hosts.values() for key in flat})
    for key in keys:
        values = {where: flat.get(key) for where, flat in hosts.items()}
        if len({encode_key(v) for v in values.values()}) > 1:
            found.append(ParityDifference("facts", key, values, False))
    active = {
        env: [reply.active_release for reply in facts.get(env, {}).values()]
        for env in (first, second)
    }
    if len({r for releases in active.values() for r in releases}) > 1:
        found.append(ParityDifference("release", "active_release", dict(active), False))
    return ParityReport(first, second, settings, facts, active, found)


def encode_key(value: Any) -> str:
    return repr(encode(value))
