"""What `shipyard serve` reads from shipyard.yml: per environment `checks:`,
`maintenance:` and `slo:`; at the top level `alerts:` and `serve:`.

Secrets are named, never written: an alert channel is the name of one of `serve.secrets`
whose value is an apprise URL (it carries tokens), `serve.store_secret` (a PostgreSQL URL
with its password) likewise; those stay with serve. A heartbeat's `token_secret` names
one of the environment's `secrets:` (the app's cron job needs the token to push).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from shipyard.config.dashboard import DashboardAuth

CHECK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
DEFAULT_CHECK = "health"

Seconds = Annotated[float, Field(gt=0, le=86400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Check(_Strict):
    """What every check has: how often it runs and when it opens or resolves an incident."""

    name: str
    interval: Seconds = 60.0
    timeout: Seconds = 10.0
    fail_after: int = Field(default=3, ge=1, le=1000)  # consecutive failures open an incident
    resolve_after: int = Field(default=2, ge=1, le=1000)  # consecutive successes resolve it
    remind_every: Seconds | None = None  # seconds; None: alerts.remind_every

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not CHECK_NAME.match(value):
            raise ValueError("use up to 40 lowercase letters, digits, '-' or '_'")
        return value


class HttpProbe(_Check):
    """GET a URL (or a path through the environment's nginx on every host).

    Passes when the status is `status`, the body contains `contains`, the JSON value at
    `json_path` (dotted: `status`, `data.items.0.id`) equals `equals`, and the response
    came within `max_ms` milliseconds.
    """

    kind: Literal["http"] = "http"
    url: str | None = None
    path: str | None = None
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None
    json_path: str | None = None
    equals: str | int | float | bool | None = None
    max_ms: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _target(self) -> HttpProbe:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of url (absolute) or path (through nginx)")
        if self.url is not None and not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError("url must start with http:// or https://")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("path must start with '/'")
        if self.equals is not None and self.json_path is None:
            raise ValueError("equals needs json_path (which field to compare)")
        return self


def _host_port(value: str, default_port: int | None = None) -> str:
    host, sep, port = value.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError("write host:port, e.g. 127.0.0.1:5432")
        host, port = value, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("write host:port with a port in 1-65535")
    return f"{host}:{port}"


class TcpProbe(_Check):
    """Open a TCP connection to `address` (host:port)."""

    kind: Literal["tcp"]
    address: str

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _host_port(value)


class TlsProbe(_Check):
    """Connect with TLS to `address` (host[:443]); pass while the certificate verifies and
    has at least `days_left` days to run."""

    kind: Literal["tls"]
    address: str
    days_left: int = Field(default=14, ge=0, le=3650)
    server_name: str | None = None  # SNI and the name verified; default: the address's host
    ca_file: str | None = None  # trust this CA bundle instead of the system's

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _host_port(value, 443)


class HeartbeatProbe(_Check):
    """A push check: something (a cron job, the backups) must POST or GET
    `/api/heartbeat/<env>/<name>?token=...` at least every `every_minutes`."""

    kind: Literal["heartbeat"]
    every_minutes: float = Field(gt=0, le=31 * 24 * 60)
    token_secret: str  # names one of the environment's secrets: the token the pusher sends


def _kind(value: object) -> str:
    """A check's kind: `kind:` as written (default http), or the model's own."""
    if isinstance(value, dict):
        return str(value.get("kind", "http"))
    return str(getattr(value, "kind", "http"))


Check = Annotated[
    Annotated[HttpProbe, Tag("http")]
    | Annotated[TcpProbe, Tag("tcp")]
    | Annotated[TlsProbe, Tag("tls")]
    | Annotated[HeartbeatProbe, Tag("heartbeat")],
    Discriminator(
        _kind,
        custom_error_type="check_kind",
        custom_error_message="kind must be one of http (the default), tcp, tls, heartbeat",
    ),
]


class MaintenanceWindow(_Strict):
    """A time with no alerts, shown as maintenance and left out of the SLO.

    Either a repeating window, `cron` (minute hour day-of-month month day-of-week, UTC)
    that opens it and `minutes` it lasts, or one `start`/`end` (ISO 8601, with a zone).
    `checks` limits it to those checks (default: all of the environment's).
    """

    cron: str | None = None
    minutes: float | None = Field(default=None, gt=0, le=7 * 24 * 60)
    start: datetime | None = None
    end: datetime | None = None
    checks: list[str] = Field(default_factory=list)
    reason: str = ""

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
            raise ValueError("write five fields: minute hour day month weekday, e.g. '0 3 * * 0'")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        repeating = self.cron is not None
        once = self.start is not None or self.end is not None
        if repeating == once:
            raise ValueError("give either cron and minutes, or start and end")
        if repeating and self.minutes is None:
            raise ValueError("cron needs minutes (how long each window lasts)")
        if once:
            if self.start is None or self.end is None:
                raise ValueError("give both start and end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("write start and end with a zone, e.g. 2026-12-02T03:00:00Z")
            if self.end <= self.start:
                raise ValueError("end must be after start")
        return self


class Slo(_Strict):
    """The availability target, in percent, over each window the dashboard shows."""

    target: float = Field(default=99.9, gt=0, lt=100)


class Alerts(_Strict):
    """Where alerts go (top level of shipyard.yml).

    channels: names of `serve.secrets` whose values are apprise URLs (slack://...,
    mailto://..., json://...). remind_every: seconds between reminders while an incident
    stays open (0: never). from_commands: whether deploy commands send their own deploy
    alerts: `auto` only when `serve` is not answering at `serve.url`; `never` also stops
    the failure alerts commands send themselves (TLS renewal failed, backup failed).
    """

    channels: list[str] = Field(default_factory=list)
    remind_every: float = Field(default=3600.0, ge=0, le=30 * 86400)
    from_commands: Literal["auto", "always", "never"] = "auto"
    timeout: Seconds = 10.0  # per delivery


class ServeSecret(_Strict):
    """Where one of serve's secrets comes from (like `secrets:`, but never given to an
    app or a host: alert channels' URLs and the store's URL stay with serve)."""

    from_env: str | None = None
    from_file: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ServeSecret:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("give exactly one of from_env or from_file")
        return self


class Serve(_Strict):
    """The `shipyard serve` process (top level of shipyard.yml).

    secrets: serve's own secrets (alert channels' apprise URLs, the store's URL), kept
    apart from the environments' `secrets:` so they never reach an app or a host.
    store: a SQLite file (default ~/.local/state/shipyard/serve.db); store_secret instead
    names one of serve's secrets holding a postgresql:// URL. url: the external base URL
    used for links in alerts (default http://<listen>).
    """

    listen: str = "127.0.0.1:8400"
    secrets: dict[str, ServeSecret] = Field(default_factory=dict)
    store: str | None = None
    store_secret: str | None = None
    url: str | None = None
    poll_interval: Seconds = 30.0  # how often deploy records are read from the hosts
    # who may see the dashboard (config/dashboard.py)
    auth: DashboardAuth = DashboardAuth.model_construct()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("url must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _one_store(self) -> Serve:
        if self.store is not None and self.store_secret is not None:
            raise ValueError("give store (a SQLite path) or store_secret, not both")
        if self.store is not None and "://" in self.store:
            raise ValueError(
                "store is a SQLite path; put a postgresql:// URL in a secret and name it "
                "in store_secret"
            )
        return self

    @property
    def base_url(self) -> str:
        if self.url:
            return self.url
        host, _, port = self.listen.rpartition(":")
        if host in ("0.0.0.0", "*", ""):  # noqa: S104
            host = "127.0.0.1"
        return f"http://{host}:{port}"


def checks_consistent(checks: list[Check] | None, secrets: object) -> list[Check] | None:
    """Check names are unique; every heartbeat's token names one of the secrets."""
    if checks is None:
        return checks
    names = [check.name for check in checks]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two checks are named {name!r}")
    known = set(secrets) if isinstance(secrets, dict) else set()
    for check in checks:
        if isinstance(check, HeartbeatProbe) and check.token_secret not in known:
            raise ValueError(
                f"heartbeat {check.name} names secret {check.token_secret}, which is not in "
                f"secrets: add `secrets: {{{check.token_secret}: {{from_env: ...}}}}`"
            )
    return checks


def default_checks(health_path: str) -> list[Check]:
    """Without `checks:` an environment gets one: its health path through nginx."""
    return [HttpProbe(name=DEFAULT_CHECK, path=health_path)]
