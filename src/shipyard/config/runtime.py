"""Where a release runs versus what runs: the split of shipyard.yml, key by key.

**What runs** (the `RuntimeSpec`) travels with the release: it is read from the release's
own, committed `shipyard.yml` (the one inside the artifact the digest covers), for the
target environment with its overrides, so the release that was tested is the one that
runs, with the same start command, workers, health rules and checks. **Where** (hosts,
SSH, paths on the hosts, nginx) and the environment's **rules** (promotion, gates,
retention, the hotfix lane) always come from the operator's current file: a release
cannot change where it goes or relax the rules that let it in.

Secret *values* are never part of either: the spec names each secret's source
(`from_env`, `from_file`), and the values are read on the operator's machine at deploy
time. docs/configuration.md lists every key with its side.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from shipyard.config import validated_cache
from shipyard.config.build_cache import BuildCache
from shipyard.config.model import (
    Environment,
    HealthCheck,
    Hooks,
    Observe,
    PreSwitch,
    SecretRef,
    Settings,
    Shared,
    SmokeTests,
    Strict,
    Worker,
)

# Every key of `Settings` is in exactly one of these (a unit test holds it so).
RUNTIME_KEYS = frozenset(
    {
        "build",
        "build_timeout",
        "build_cache",
        "release_command",
        "release_command_timeout",
        "start",
        "listen_mode",
        "workers",
        "health",
        "pre_switch",
        "smoke_tests",
        "observe",
        "env",
        "secrets",
        "shared",
        "hooks",
    }
)
WHERE_KEYS = frozenset(
    {
        "hosts",
        "ssh",
        "root",
        "shipyard_command",
        "nginx",
        "ports",
        "url",
        "resources",
        "drain_timeout",
        "tls",  # HTTPS: names, certificates, the ACME account are the operator's
        "setup",  # how the operator's servers are made: never the release's to say
        "fleet",  # pacing of SSH handshakes: how the hosts are reached
    }
)
RULE_KEYS = frozenset(
    {
        "promotion",
        "gates",
        "hotfix",
        "auto_rollback",
        "keep_releases",
        "rollback_window",
        "backup",  # what is backed up, where to, kept how long: a release cannot turn it off
        "metrics",  # delivery targets, the hands-on baseline, host prices: the operator's
        # what `shipyard serve` watches and promises: read from the operator's file only
        "checks",
        "maintenance",
        "slo",
        "rollout",  # batch by batch: how many hosts a release reaches at once
    }
)

Source = Literal["release", "working-tree", "recorded"]


class RuntimeSpec(Strict):
    """What runs: the release's own settings for one environment (no secret values)."""

    build: str | None
    build_timeout: float
    build_cache: BuildCache = Field(default_factory=BuildCache)  # absent in older records
    release_command: str | None
    release_command_timeout: float
    start: str
    listen_mode: Literal["socket", "tcp"]
    workers: dict[str, Worker]
    health: HealthCheck
    pre_switch: PreSwitch
    smoke_tests: SmokeTests
    observe: Observe
    env: dict[str, str]
    secrets: dict[str, SecretRef]
    shared: Shared
    hooks: Hooks

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def digest(self) -> str:
        """A short fingerprint: two releases run alike exactly when their digests match."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def spec_of(env: Environment | Settings) -> RuntimeSpec:
    """The what-runs part of a resolved environment."""
    # the validated sub-models themselves (a dump would forget which keys were written)
    return RuntimeSpec.model_validate({key: getattr(env, key) for key in RUNTIME_KEYS})


def spec_from_json(data: object) -> RuntimeSpec | None:
    """A spec as a host recorded it; None if there is none (or it cannot be read)."""
    if not isinstance(data, dict):
        return None
    digest = validated_cache.value_key("runtime-spec", data)
    cached = validated_cache.read(digest)
    if isinstance(cached, RuntimeSpec):
        return cached
    try:
        spec = RuntimeSpec.model_validate(data)
    except ValidationError:
        return None
    validated_cache.write(digest, spec)
    return spec


def with_spec(where: Environment, spec: RuntimeSpec) -> Environment:
    """`where`'s hosts, paths, nginx and rules, running `spec` (both validated already;
    no rule of the model spans the two sides)."""
    return where.model_copy(update={key: getattr(spec, key) for key in RUNTIME_KEYS})


@dataclass(frozen=True)
class ResolvedRuntime:
    """What a command runs, where, and where the what came from."""

    env: Environment  # the operator's where and rules, with `spec` as what runs
    spec: RuntimeSpec
    source: Source  # release: its committed file; working-tree: the operator's; recorded

    def record(self, differences: list[str]) -> dict[str, Any]:
        """As the deployment's history records it (the spec itself is in `releases`)."""
        return {"source": self.source, "digest": self.spec.digest, "differs": differences}


def resolve(
    working: Environment, release: RuntimeSpec, *, use_working_tree: bool
) -> ResolvedRuntime:
    """The release's own spec, or (deliberately) the working tree's; where is `working`'s."""
    if use_working_tree:
        return ResolvedRuntime(working, spec_of(working), "working-tree")
    return ResolvedRuntime(with_spec(working, release), release, "release")
