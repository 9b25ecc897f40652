"""Typed configuration: what `shipyard.yml` may say, validated at load.

Every model forbids unknown keys, so a typo is an error naming the key rather than a
setting silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shipyard.config.backup import Backup, backup_secrets_known
from shipyard.config.build_cache import BuildCache
from shipyard.config.fleet import Fleet
from shipyard.config.gates import GatesConfig
from shipyard.config.metrics import Metrics
from shipyard.config.observe import Alerts, Check, MaintenanceWindow, Serve, Slo, checks_consistent
from shipyard.config.rollout import Rollout
from shipyard.config.safe_values import (
    HostAddress,
    ListenAddress,
    NginxSize,
    SafePath,
    WorkerUser,
    check_server_name,
    check_shared_path,
    host_identity,
    is_env_key,
    is_name,
)
from shipyard.config.setup import Setup
from shipyard.config.tls import Tls, tls_names_known, tls_port_free, tls_secrets_known
from shipyard.core.addresses import is_wildcard, split_listen
from shipyard.transport.target import SshOptions, SshTarget

MAX_HOSTS = 1000
RESERVED_ENV = {"PORT", "SHIPYARD_SOCKET", "SHIPYARD_RELEASE", "SHIPYARD_SLOT", "SHIPYARD_ENV"}

PositiveSeconds = Annotated[float, Field(gt=0, le=86400)]


class Strict(BaseModel):
    """Every configuration model: unknown keys refused, frozen, and built lazily.

    `defer_build`: a model's validator is built the first time it validates, not when
    the module is imported, so a command that takes its configuration from the
    validated-configuration cache (config/validated_cache.py) builds none. For the same
    reason a section's default is `Section.model_construct()`, which builds nothing,
    rather than `Section()`, which would validate (and build) at import; the two are
    equal (tests/unit/test_config_defaults.py).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class HealthCheck(Strict):
    """How a slot is judged healthy; probed on the slot's own socket or port."""

    path: str = "/healthz"
    status: int = Field(default=200, ge=100, le=599)
    interval: PositiveSeconds = 0.5
    timeout: PositiveSeconds = 2.0
    deadline: PositiveSeconds = 30.0
    healthy_threshold: int = Field(default=2, ge=1, le=100)
    release_header: str | None = "X-Release"

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/', e.g. /healthz")
        return value


class Nginx(Strict):
    """The environment's nginx server block.

    mode: `managed` runs a private nginx for this environment under the environment's
    supervisor; `system` writes a server block for the host's own nginx to include.
    """

    mode: Literal["managed", "system"] = "managed"
    listen: ListenAddress = "127.0.0.1:8080"
    server_names: list[str] = Field(default_factory=lambda: ["_"])
    client_max_body_size: NginxSize = "10m"
    include_dir: SafePath | None = None
    binary: SafePath = "nginx"
    pid_file: SafePath = "/run/nginx.pid"  # system mode: how Shipyard tells the host's nginx runs
    worker_user: WorkerUser | None = None

    @field_validator("server_names")
    @classmethod
    def _names_nginx_can_read(cls, values: list[str]) -> list[str]:
        for name in values:
            check_server_name(name)
        return values or ["_"]


class Observe(Strict):
    """Post-switch analysis: watch the new release through nginx, roll back on failure."""

    window: float = Field(default=10.0, ge=0, le=3600)
    interval: PositiveSeconds = 1.0
    max_error_ratio: float = Field(default=0.05, ge=0, le=1)
    max_p95_ms: float | None = Field(default=None, gt=0)
    failure_limit: int = Field(default=2, ge=1, le=1000)
    consecutive_successes: int = Field(default=1, ge=0, le=1000)

    @model_validator(mode="after")
    def _interval_fits(self) -> Observe:
        if self.window and self.interval > self.window:
            raise ValueError("interval must not be longer than window")
        return self


class HttpCheck(Strict):
    """An HTTP check of one path: the status, a substring of the body, a JSON field."""

    path: str
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None
    json_path: str | None = None  # dotted: `status`, `data.items.0.id`
    equals: str | int | float | bool | None = None

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @model_validator(mode="after")
    def _equals_needs_a_path(self) -> HttpCheck:
        if self.equals is not None and self.json_path is None:
            raise ValueError("equals needs json_path (which field to compare)")
        return self


class PreSwitch(Strict):
    """Checks against the new slot itself, on each host, before any traffic moves to it.

    A failure stops the new slot; the old release never stopped serving.
    """

    http: list[HttpCheck] = Field(default_factory=list)
    command: str | None = None  # run in the release; SHIPYARD_SLOT_URL reaches the slot
    command_timeout: PositiveSeconds = 300.0


class HttpSmokeTest(HttpCheck):
    """A post-switch check through the environment's URL, from the operator's side."""

    timeout: PositiveSeconds = 10.0


class SmokeTests(Strict):
    """Run after the switch; a failure fails the deploy (and rolls back if configured)."""

    http: list[HttpSmokeTest] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list)
    command_timeout: PositiveSeconds = 300.0
    rollback_on_failure: bool = True


class Promotion(Strict):
    """What a release must have done before this environment accepts it."""

    requires: str | None = None  # e.g. staging
    soak: float = Field(default=0.0, ge=0, le=30 * 86400)  # seconds live there first
    approval: bool = False  # a person approves (TTY prompt, or `shipyard approve`)
    approval_timeout: PositiveSeconds = 3600.0
    # refuse `--runtime-from-working-tree`: only the release's own (tested) runtime runs here
    require_release_runtime: bool = False


class Hotfix(Strict):
    """The emergency lane (`shipyard hotfix`): shorter observation, no promotion path."""

    observe_window: float = Field(default=5.0, ge=0, le=3600)


class Resources(Strict):
    """Refuse a deploy up front rather than fail half-way for lack of room."""

    min_free_disk_mb: int = Field(default=200, ge=0)
    disk_per_artifact: float = Field(default=4.0, ge=1, le=100)
    min_free_memory_mb: int = Field(default=64, ge=0)


class Worker(Strict):
    """A process type with no HTTP endpoint (queue consumer, scheduler, ...).

    It boots with the web process in the new slot; the deploy switches only if every
    worker is ready: its readiness command succeeds, or (without one) it is still
    running `ready_after` seconds after it started.
    """

    command: str
    readiness_command: str | None = None
    ready_after: float = Field(default=3.0, ge=0, le=3600)
    readiness_timeout: PositiveSeconds = 60.0


class SecretRef(Strict):
    """Where a secret's value comes from on the operator's machine; never the value."""

    from_env: str | None = None
    from_file: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("give exactly one of from_env or from_file")
        return self


class Hooks(Strict):
    """Commands run on the operator's machine, in the repository, around a deploy."""

    pre_deploy: list[str] = Field(default_factory=list)
    post_deploy: list[str] = Field(default_factory=list)
    timeout: PositiveSeconds = 300.0  # per hook; then it and all it started are killed


class Shared(Strict):
    """Paths, relative to a release, that persist across releases (kept in shared/)."""

    dirs: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)

    @field_validator("dirs", "files")
    @classmethod
    def _relative_and_inside(cls, values: list[str]) -> list[str]:
        for value in values:
            check_shared_path(value)
        return values


class Ssh(Strict):
    known_hosts: str | None = None
    trust_unknown_hosts: bool = False
    identity_file: str | None = None
    config_file: str | None = None
    connect_timeout: PositiveSeconds = 10.0

    def options(self) -> SshOptions:
        def path(value: str | None) -> Path | None:
            return Path(value).expanduser() if value else None

        return SshOptions(
            known_hosts=path(self.known_hosts),
            trust_unknown_hosts=self.trust_unknown_hosts,
            identity_file=path(self.identity_file),
            config_file=path(self.config_file),
            connect_timeout=self.connect_timeout,
        )


class HostEntry(Strict):
    """One host; `local` or an SSH target, with optional per-host overrides."""

    address: HostAddress
    root: SafePath | None = None
    listen: ListenAddress | None = None

    @property
    def is_local(self) -> bool:
        return self.address == "local"


class Settings(Strict):
    """Everything an environment can set; the file's top level sets the shared base."""

    build: str | None = None
    build_cache: BuildCache = BuildCache.model_construct()
    release_command: str | None = None
    start: str
    listen_mode: Literal["socket", "tcp"] = "socket"
    ports: tuple[int, int] = (9001, 9002)
    health: HealthCheck = HealthCheck.model_construct()
    nginx: Nginx = Nginx.model_construct()
    shared: Shared = Shared.model_construct()
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    keep_releases: int = Field(default=5, ge=2, le=100)
    rollback_window: float = Field(default=600.0, ge=0, le=7 * 86400)
    drain_timeout: PositiveSeconds = 10.0
    release_command_timeout: PositiveSeconds = 600.0
    build_timeout: PositiveSeconds = 900.0
    hooks: Hooks = Hooks.model_construct()
    observe: Observe = Observe.model_construct()
    auto_rollback: bool = True
    workers: dict[str, Worker] = Field(default_factory=dict)
    gates: GatesConfig = GatesConfig.model_construct()
    smoke_tests: SmokeTests = SmokeTests.model_construct()
    promotion: Promotion = Promotion.model_construct()
    hotfix: Hotfix = Hotfix.model_construct()
    url: str | None = None
    pre_switch: PreSwitch = PreSwitch.model_construct()
    resources: Resources = Resources.model_construct()
    root: SafePath = "/srv/shipyard"
    shipyard_command: str = "shipyard"
    ssh: Ssh = Ssh.model_construct()
    hosts: list[HostEntry] = Field(default_factory=list, max_length=MAX_HOSTS)
    rollout: Rollout | None = None  # batch by batch (config/rollout.py); None: all at once
    # pacing of SSH handshakes and agent start-ups (config/fleet.py)
    fleet: Fleet = Fleet.model_construct()
    backup: Backup | None = None  # after `secrets`: it may only name secrets listed there
    metrics: Metrics = Metrics.model_construct()
    # `shipyard serve` (config/observe.py); None: the health path through nginx
    checks: list[Check] | None = None
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    slo: Slo = Slo.model_construct()
    # `shipyard setup`: how a fresh server becomes a Shipyard host
    setup: Setup = Setup.model_construct()
    tls: Tls = Tls.model_construct()  # after `nginx` and `secrets` (docs/tls.md)

    @field_validator("tls")
    @classmethod
    def _tls_refers_to_known(cls, value: Tls, info: ValidationInfo) -> Tls:
        value = tls_secrets_known(value, info.data.get("secrets"))
        nginx = info.data.get("nginx")
        value = tls_port_free(value, nginx.listen if nginx else None)
        return tls_names_known(value, list(nginx.server_names) if nginx else [])

    @field_validator("backup")
    @classmethod
    def _backup_secrets(cls, value: Backup | None, info: ValidationInfo) -> Backup | None:
        return backup_secrets_known(value, info.data.get("secrets"))

    @field_validator("checks")
    @classmethod
    def _check_secrets(cls, value: list[Check] | None, info: ValidationInfo) -> list[Check] | None:
        return checks_consistent(value, info.data.get("secrets"))

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: object) -> object:
        renamed = {"smoke": "pre_switch.http", "smoke_command": "pre_switch.command"}
        if isinstance(data, dict):
            for old, new in renamed.items():
                if old in data:
                    raise ValueError(
                        f"`{old}` is now `{new}` (checks of the new slot before the switch; "
                        "`smoke_tests` are the ones after it)"
                    )
        return data

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts_as_entries(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"address": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("env", "secrets")
    @classmethod
    def _names_are_env_vars(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            if not is_env_key(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
            if key in RESERVED_ENV:
                raise ValueError(f"{key} is set by Shipyard itself; choose another name")
        return value

    @field_validator("workers")
    @classmethod
    def _worker_names(cls, value: dict[str, Worker]) -> dict[str, Worker]:
        for name in value:
            if not is_name(name) or name in ("web", "nginx", "reaper"):
                raise ValueError(
                    f"worker name {name!r}: use lowercase letters, digits and '-', "
                    "and not web, nginx or reaper"
                )
        return value

    @field_validator("ports")
    @classmethod
    def _ports_differ(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] == value[1] or not all(0 < port < 65536 for port in value):
            raise ValueError("give two different ports in 1-65535: [blue, green]")
        return value

    @model_validator(mode="after")
    def _secrets_and_env_do_not_overlap(self) -> Settings:
        both = sorted(set(self.env) & set(self.secrets))
        if both:
            raise ValueError(f"{', '.join(both)} set in both env and secrets; keep one")
        return self


class Environment(Settings):
    """One resolved environment: the base with the environment's overrides applied."""

    name: str
    app: str

    @model_validator(mode="after")
    def _hosts_are_usable(self) -> Environment:
        if not self.hosts:
            raise ValueError("hosts: list at least one host (`local` or user@host)")
        addresses = [host.address for host in self.hosts]
        seen: dict[tuple[object, ...], str] = {}
        for address in addresses:
            identity = host_identity(address)
            if identity in seen:
                raise ValueError(
                    f"hosts: {seen[identity]} and {address} are the same host; list it once"
                )
            seen[identity] = address
        if "local" in addresses and len(addresses) > 1:
            raise ValueError("hosts: `local` cannot be mixed with SSH hosts")
        return self

    @property
    def primary(self) -> HostEntry:
        """The authoritative host: lock, deployment history, release command."""
        return self.hosts[0]

    def root_for(self, host: HostEntry) -> str:
        return host.root or self.root

    def listen_for(self, host: HostEntry) -> str:
        return host.listen or self.nginx.listen

    @property
    def public_url(self) -> str:
        """Where smoke tests reach the environment: `url`, else the primary's nginx."""
        if self.url:
            return self.url.rstrip("/")
        host, port = split_listen(self.listen_for(self.primary))
        if is_wildcard(host):  # reach it by the primary's name (or loopback when local)
            primary = self.primary
            host = "127.0.0.1" if primary.is_local else SshTarget.parse(primary.address).host
        return f"http://{host}:{port}"


class Document(BaseModel):
    """The file as written: app name, base settings, environment overrides."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    app: str
    environments: dict[str, dict[str, object]]
    alerts: Alerts = Alerts.model_construct()  # top level only (config/observe.py)
    serve: Serve = Serve.model_construct()

    @field_validator("app")
    @classmethod
    def _app_is_a_name(cls, value: str) -> str:
        if not is_name(value):
            raise ValueError("use lowercase letters, digits and '-', starting with a letter")
        return value

    @field_validator("environments")
    @classmethod
    def _env_names(cls, value: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
        if not value:
            raise ValueError("define at least one environment, e.g. `local: {hosts: [local]}`")
        for name in value:
            if not is_name(name):
                raise ValueError(f"environment name {name!r}: use lowercase letters and digits")
        return value
