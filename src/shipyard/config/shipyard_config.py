"""The whole shipyard.yml as `shipyard serve` sees it: every environment resolved, the
top-level `alerts:` and `serve:` sections, and the top-level secrets they name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile, read_secret
from shipyard.config.model import Environment, SecretRef
from shipyard.config.observe import Alerts, Check, Serve, default_checks


@dataclass(frozen=True)
class ShipyardConfig:
    """A loaded shipyard.yml: app, environments by name, alerts, serve."""

    file: ConfigFile
    app: str
    environments: dict[str, Environment]
    alerts: Alerts
    serve: Serve

    @classmethod
    def load(cls, path: Path) -> ShipyardConfig:
        return cls.from_file(ConfigFile.load(path))

    @classmethod
    def from_file(cls, file: ConfigFile) -> ShipyardConfig:
        document = file.document()
        config = cls(
            file=file,
            app=document.app,
            environments={name: file.environment(name) for name in file.environment_names},
            alerts=document.alerts,
            serve=document.serve,
        )
        for name in document.alerts.channels:
            config._secret_ref(name, "alerts.channels")
        if document.serve.store_secret is not None:
            config._secret_ref(document.serve.store_secret, "serve.store_secret")
        return config

    @property
    def path(self) -> Path:
        return self.file.path

    def checks(self, env: str) -> list[Check]:
        """The environment's checks; without `checks:`, its health path through nginx."""
        environment = self.environments[env]
        if environment.checks is not None:
            return list(environment.checks)
        return default_checks(environment.health.path)

    def secret(self, name: str, where: str) -> str:
        """The value of one of serve's secrets (an apprise URL, the store's URL). Never
        log it."""
        ref = self._secret_ref(name, where)
        value = read_secret(name, ref, "", self.file.path)
        return value

    def _secret_ref(self, name: str, where: str) -> SecretRef:
        entry = self.serve.secrets.get(name)
        if entry is None:
            raise ConfigError(
                self.file.name,
                f"{where} names secret {name}, which is not in serve.secrets",
                key_path=where,
                line=self.file.lines.get(tuple(where.split("."))),
                hint=f"add `serve: {{secrets: {{{name}: {{from_env: ...}}}}}}` at the top level",
            )
        return SecretRef(from_env=entry.from_env, from_file=entry.from_file)
