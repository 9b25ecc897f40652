"""`tls:` per environment: HTTPS in front of the app (docs/tls.md).

mode `off` (the default) serves plain HTTP as before. `acme` obtains and renews a
certificate from an ACME server (Let's Encrypt by default) with the HTTP-01 challenge,
answered by nginx on every host; `files` installs a certificate and key the team has (a
path on the operator's machine, or one of the environment's `secrets:`); `self-signed`
makes one (staging, tests).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shipyard.config.safe_values import SafePath, check_server_name

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Acme(_Strict):
    """Where certificates come from in `acme` mode."""

    directory: str = LETS_ENCRYPT
    email: str | None = None  # the ACME account's contact; Let's Encrypt mails expiry notices
    names: list[str] | None = None  # default: the environment's nginx.server_names
    renew_before_days: int = Field(default=30, ge=1, le=89)
    # a PEM bundle to trust for the ACME server's own HTTPS (a test CA such as Pebble's)
    ca_bundle: SafePath | None = None

    @field_validator("directory")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("the ACME directory is an https:// URL")
        return value

    @field_validator("names")
    @classmethod
    def _dns_names(cls, values: list[str] | None) -> list[str] | None:
        for name in values or []:
            _check_dns_name(name)
        return values


class TlsFiles(_Strict):
    """A certificate (full chain) and its key: each a path or the name of a secret."""

    cert: SafePath | None = None
    key: SafePath | None = None
    cert_secret: str | None = None
    key_secret: str | None = None

    @model_validator(mode="after")
    def _one_source_each(self) -> TlsFiles:
        if (self.cert is None) == (self.cert_secret is None):
            raise ValueError("give exactly one of cert (a path) or cert_secret")
        if (self.key is None) == (self.key_secret is None):
            raise ValueError("give exactly one of key (a path) or key_secret")
        return self

    def secret_names(self) -> list[str]:
        return [name for name in (self.cert_secret, self.key_secret) if name]


class Hsts(_Strict):
    """The Strict-Transport-Security header, sent on HTTPS responses when asked for."""

    max_age: int = Field(default=63072000, ge=0, le=10 * 365 * 86400)  # two years
    include_subdomains: bool = False
    preload: bool = False

    def header(self) -> str:
        value = f"max-age={self.max_age}"
        if self.include_subdomains:
            value += "; includeSubDomains"
        if self.preload:
            value += "; preload"
        return value


class Tls(_Strict):
    mode: Literal["acme", "files", "self-signed", "off"] = "off"
    # HTTPS listens on the address HTTP does (a host's `listen`, else nginx.listen), here
    port: int = Field(default=443, ge=1, le=65535)
    acme: Acme = Acme.model_construct()
    files: TlsFiles | None = None
    hsts: Hsts | None = None  # `true` for the defaults; `false` or absent: no header

    @field_validator("hsts", mode="before")
    @classmethod
    def _booleans(cls, value: object) -> object:
        if value is True:
            return {}
        return None if value is False else value

    @model_validator(mode="after")
    def _mode_has_what_it_needs(self) -> Tls:
        if self.mode == "files" and self.files is None:
            raise ValueError("mode files needs `files:` with cert and key (paths or secrets)")
        return self

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def certificate_names(tls: Tls, server_names: list[str]) -> list[str]:
    """The names a certificate covers: `acme.names`, else the server names nginx answers."""
    names = tls.acme.names if tls.acme.names is not None else server_names
    return [name for name in names if name != "_"]


def _check_dns_name(name: str) -> str:
    check_server_name(name)
    if name == "_" or name.startswith(".") or "*" in name[1:]:
        raise ValueError(f"{name!r} is not a DNS name a certificate can cover")
    return name


def tls_secrets_known(tls: Tls, secrets: object) -> Tls:
    """Every secret `tls.files` names is one of the environment's `secrets:`."""
    known = set(secrets) if isinstance(secrets, dict) else set()
    for name in tls.files.secret_names() if tls.files else []:
        if name not in known:
            raise ValueError(
                f"names secret {name}, which is not in secrets: "
                f"add `secrets: {{{name}: {{from_file: ...}}}}`"
            )
    return tls


def tls_port_free(tls: Tls, http_listen: str | None) -> Tls:
    """HTTPS and HTTP listen on one address: they need two ports."""
    if tls.enabled and http_listen and http_listen.rsplit(":", 1)[1] == str(tls.port):
        raise ValueError(f"port {tls.port} is nginx.listen's (plain HTTP); give HTTPS another")
    return tls


def tls_names_known(tls: Tls, server_names: list[str]) -> Tls:
    """acme mode needs at least one real name to ask a certificate for."""
    if tls.mode == "acme" and not certificate_names(tls, server_names):
        raise ValueError("mode acme needs a DNS name: set nginx.server_names (or tls.acme.names)")
    return tls
