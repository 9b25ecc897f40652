"""What `gates:` in shipyard.yml may say.

Every gate is on by default where it can run: with no `gates:` key, pip-audit audits
`requirements.txt` if the app has one and bandit scans the app's Python files if it has
any; a gate with nothing to look at reports "skipped", never "pass".
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OnUnknown = Literal["fail", "warn"]
Level = Literal["low", "medium", "high"]

BANDIT_TEST_ID = re.compile(r"^B\d{3}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _relative(values: list[str]) -> list[str]:
    for value in values:
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{value!r} must be a relative path inside the app directory")
    return values


class GateCommand(_Strict):
    """A configured check (tests, lint, type check) run in the app directory."""

    name: str
    run: str
    timeout: float = Field(default=900.0, gt=0)
    optional: bool = False
    on_unknown: OnUnknown = "fail"

    @field_validator("name")
    @classmethod
    def _name_is_short(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", value):
            raise ValueError("use up to 40 letters, digits, '-', '_' or '.'")
        if value in ("pip-audit", "bandit"):
            raise ValueError(f"{value!r} is a built-in gate; choose another name")
        return value


class PipAuditGate(_Strict):
    """Known vulnerabilities in the app's locked requirements, found by pip-audit.

    There is no severity threshold: pip-audit's output carries no severity (only id,
    aliases, fix versions and description), so every known vulnerability fails the gate
    unless its id or one of its aliases is listed in `ignore`.
    """

    enabled: bool = True
    requirements: list[str] = Field(default_factory=lambda: ["requirements.txt"])
    ignore: list[str] = Field(default_factory=list)
    service: Literal["pypi", "osv"] = "pypi"
    osv_url: str | None = None
    resolve: bool = False
    timeout: float = Field(default=300.0, gt=0, le=86400)
    # one request to the service before pip-audit runs: no answer within this -> unknown
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    # seconds a report for the same lock-file digest is reused; 0: audit every run
    cache_for: float = Field(default=0.0, ge=0, le=30 * 86400)
    optional: bool = False
    on_unknown: OnUnknown = "fail"
    # not a setting: here only so that writing it gets the reason, at its line
    severity: object = Field(default=None, exclude=True, repr=False)

    @field_validator("severity")
    @classmethod
    def _no_severity(cls, value: object) -> None:
        raise ValueError(
            "pip_audit has no severity threshold: pip-audit reports no severities, so "
            "every known vulnerability fails; accept one by listing its id in "
            "pip_audit.ignore (see docs/gates.md)"
        )

    @field_validator("requirements")
    @classmethod
    def _requirements_relative(cls, values: list[str]) -> list[str]:
        return _relative(values)

    @field_validator("ignore")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", value):
                raise ValueError(f"{value!r} is not a vulnerability id (e.g. PYSEC-2018-28)")
        return values

    @model_validator(mode="after")
    def _osv_url_needs_osv(self) -> PipAuditGate:
        if self.osv_url is not None:
            if self.service != "osv":
                raise ValueError("osv_url applies only with service: osv")
            if not re.match(r"^https?://", self.osv_url):
                raise ValueError("osv_url must be an http(s) URL")
        return self

    def requirements_given(self) -> bool:
        """Whether `requirements` was written in the file (not the default)."""
        return "requirements" in self.model_fields_set


class BanditGate(_Strict):
    """Insecure code patterns in the app's Python source, found by bandit.

    A finding fails the gate when its severity is at least `severity` and its confidence
    at least `confidence`; findings below either threshold are counted, not failed.
    """

    enabled: bool = True
    paths: list[str] = Field(default_factory=lambda: ["."])
    exclude: list[str] = Field(default_factory=list)
    skip: list[str] = Field(default_factory=list)
    severity: Level = "medium"
    confidence: Level = "medium"
    timeout: float = Field(default=600.0, gt=0, le=86400)
    optional: bool = False
    on_unknown: OnUnknown = "fail"

    @field_validator("paths")
    @classmethod
    def _paths_relative(cls, values: list[str]) -> list[str]:
        return _relative(values)

    @field_validator("exclude")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value.strip("/") or value.startswith("/"):
                raise ValueError(f"{value!r}: write a name or a path relative to the app")
        return values

    @field_validator("skip")
    @classmethod
    def _test_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not BANDIT_TEST_ID.match(value):
                raise ValueError(f"{value!r} is not a bandit test id (e.g. B101)")
        return values

    def paths_given(self) -> bool:
        return "paths" in self.model_fields_set


class GatesConfig(_Strict):
    commands: list[GateCommand] = Field(default_factory=list)
    pip_audit: PipAuditGate = PipAuditGate.model_construct()
    bandit: BanditGate = BanditGate.model_construct()

    @field_validator("commands")
    @classmethod
    def _unique_names(cls, values: list[GateCommand]) -> list[GateCommand]:
        names = [command.name for command in values]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two commands are named {name!r}")
        return values
