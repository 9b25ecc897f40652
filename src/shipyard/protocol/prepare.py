"""PREPARE: the release on disk and built; nginx and supervisord configured."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.protocol.codec import Json
from shipyard.protocol.common import ReleaseManifest
from shipyard.protocol.op import Empty, Op
from shipyard.protocol.specs import ProxySpec


@dataclass(frozen=True)
class SharedPaths:
    """Paths relative to a release that persist across releases, kept in shared/."""

    dirs: list[str]
    files: list[str]


@dataclass(frozen=True)
class CachedProduct:
    """A product of the build (`path` in the release) and what it depends on: its key is
    the digest of the `inputs` files, the `key_command`'s output and the build's text."""

    path: str
    inputs: list[str]
    key_command: str | None
    key_timeout: float


@dataclass(frozen=True)
class CacheOutcome:
    path: str
    key: str  # the cache key (sha256 hex)
    hit: bool  # a cached product was copied into the release


@dataclass(frozen=True)
class PrepareRequest:
    """Check free disk, verify the uploaded artifact's digest, unpack it safely, link the
    shared paths and run the build. A release already prepared with the same digest is
    reused. The uploaded file is removed in every case."""

    release_id: str
    digest: str  # sha256 of the artifact
    artifact: str  # absolute path of the uploaded artifact on the host
    manifest: ReleaseManifest
    env_values: dict[str, str]  # variables for the build, secrets included
    shared: SharedPaths
    build: str | None
    build_timeout: float
    min_free_disk_mb: int
    disk_per_artifact: float  # the artifact, unpacked and built, takes this many times its size
    runtime: Json | None = None  # what it runs with (RuntimeSpec as JSON), kept with the release
    # when every product has a cached copy for its key, the copies are put into the
    # release and `build` is not run; otherwise it runs and the products are stored
    build_cache: list[CachedProduct] = field(default_factory=list)


@dataclass(frozen=True)
class PrepareReply:
    reused: bool  # the release was already prepared: nothing was unpacked or built
    build_cache: list[CacheOutcome] = field(default_factory=list)


PREPARE = Op("prepare", PrepareRequest, PrepareReply)


@dataclass(frozen=True)
class ReleaseCommandRequest:
    """Run `release_command` (migrations) in the prepared release, once, on the primary."""

    release_id: str
    command: str
    timeout: float
    env_values: dict[str, str]


RELEASE_COMMAND = Op("release-command", ReleaseCommandRequest, Empty)


@dataclass(frozen=True)
class ProxyRequest:
    """Make supervisord run (with a program per slot and worker) and nginx have this
    environment's configuration (tested with `nginx -t`; the old one restored on failure)."""

    proxy: ProxySpec
    ports: tuple[int, int]  # blue, green (tcp mode)
    workers: list[str]


@dataclass(frozen=True)
class ProxyReply:
    supervisor_started: bool
    nginx_config_changed: bool


PROXY = Op("proxy", ProxyRequest, ProxyReply)
