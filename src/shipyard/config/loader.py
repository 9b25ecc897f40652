"""Read shipyard.yml, keep every key's line, resolve one environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shipyard.config.errors import ConfigError
from shipyard.config.model import Document, Environment, SecretRef

DEFAULT_FILE = "shipyard.yml"
KeyPath = tuple[str | int, ...]


class _LineLoader(yaml.SafeLoader):
    """A safe loader that also records the line of every mapping key and item."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[KeyPath, int] = {}

    def record(self, node: yaml.Node, path: KeyPath) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.record(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                self.record(item, (*path, index))


class ConfigFile:
    """A parsed shipyard.yml: the document plus where each key was written."""

    def __init__(self, path: Path, data: dict[str, Any], lines: dict[KeyPath, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    @classmethod
    def load(cls, path: Path) -> ConfigFile:
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                name, "file not found", hint="run `shipyard init` or pass --config PATH"
            ) from None
        except OSError as exc:
            raise ConfigError(name, f"cannot read: {exc.strerror}") from None
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            raise ConfigError(name, f"not valid YAML: {exc.problem}", line=line) from None
        finally:
            loader.dispose()
        if not isinstance(data, dict):
            raise ConfigError(name, "must be a mapping with `app:` and `environments:`", line=1)
        if node is not None:
            loader.record(node, ())
        config = cls(path, data, loader.lines)
        config.document()  # validates the outline early
        return config

    def document(self) -> Document:
        try:
            return Document.model_validate(self.data)
        except ValidationError as exc:
            raise self._error(exc, lambda loc: loc) from None

    @property
    def environment_names(self) -> list[str]:
        return list(self.document().environments)

    def environment(self, name: str) -> Environment:
        document = self.document()
        if name not in document.environments:
            known = ", ".join(document.environments) or "none"
            raise ConfigError(
                str(self.path),
                f"no environment named {name!r} (defined: {known})",
                key_path="environments",
                line=self.lines.get(("environments",)),
            )
        base = {k: v for k, v in self.data.items() if k not in ("app", "environments")}
        override = document.environments[name] or {}
        if not isinstance(override, Mapping):
            raise ConfigError(
                str(self.path),
                "an environment must be a mapping of settings",
                key_path=f"environments.{name}",
                line=self.lines.get(("environments", name)),
            )
        merged = deep_merge(base, dict(override))
        merged.update(name=name, app=document.app)
        try:
            env = Environment.model_validate(merged)
        except ValidationError as exc:
            raise self._error(exc, lambda loc: self._locate(name, loc)) from None
        return self._anchor_paths(env)

    def _anchor_paths(self, env: Environment) -> Environment:
        """Relative roots are relative to the directory holding shipyard.yml."""
        here = self.path.resolve().parent

        def anchor(root: str) -> str:
            path = Path(root).expanduser()
            return str(path if path.is_absolute() else here / path)

        hosts = [h.model_copy(update={"root": anchor(h.root)}) if h.root else h for h in env.hosts]
        return env.model_copy(update={"root": anchor(env.root), "hosts": hosts})

    def _locate(self, env: str, loc: KeyPath) -> KeyPath:
        """Find where a merged key came from: the environment's override, else the base."""
        if not loc:
            # a rule about the environment as a whole: point at its hosts, or the environment
            hosts = ("environments", env, "hosts")
            return hosts if hosts in self.lines else ("environments", env)
        for length in range(len(loc), 0, -1):
            override = ("environments", env, *loc[:length])
            if override in self.lines:
                return ("environments", env, *loc)
        return loc

    def _without_tags(self, where: KeyPath) -> KeyPath:
        """pydantic names the member of a tagged union (`sources.0.sqlite.path`); the file
        has `sources.0.path` with `type: sqlite` in it: drop the tag."""
        kept: list[str | int] = []
        for part in where:
            item = tuple(kept)
            if (
                isinstance(part, str)
                and kept
                and isinstance(kept[-1], int)
                and (*item, "type") in self.lines
                and (*item, part) not in self.lines
            ):
                continue
            kept.append(part)
        return tuple(kept)

    def _error(self, exc: ValidationError, locate: Any) -> ConfigError:
        first = exc.errors()[0]
        loc: KeyPath = tuple(part for part in first["loc"] if part != "__root__")
        # pydantic tags union/wrapped locations with type names; keep real keys only
        loc = tuple(part for part in loc if not (isinstance(part, str) and "[" in part))
        where = self._without_tags(locate(loc))
        line = None
        for length in range(len(where), -1, -1):
            if where[:length] in self.lines:
                line = self.lines[where[:length]]
                break
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "required key is missing"
        elif first["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/configuration.md)"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return ConfigError(
            str(self.path),
            message,
            key_path=".".join(str(part) for part in where),
            line=line,
        )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in `override` replaces the base."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_secrets(env: Environment, config_path: Path) -> dict[str, str]:
    """Read each secret from the operator's environment or a file outside the repo."""
    values: dict[str, str] = {}
    for key, ref in env.secrets.items():
        values[key] = _read_secret(key, ref, env.name, config_path)
    return values


def _read_secret(key: str, ref: SecretRef, env_name: str, config_path: Path) -> str:
    where = f"environments.{env_name}.secrets.{key} (or secrets.{key})"
    if ref.from_env is not None:
        value = os.environ.get(ref.from_env)
        if not value:
            # an empty value is what CI passes for a secret nobody created
            state = "is empty" if value == "" else "is not set"
            raise ConfigError(
                str(config_path),
                f"secret {key} comes from ${ref.from_env}, which {state}",
                key_path=where,
                hint=f"export {ref.from_env}=... in the shell (or CI secret) that runs shipyard",
            )
        return value
    assert ref.from_file is not None
    path = Path(ref.from_file).expanduser()
    if not path.is_absolute():
        path = config_path.parent / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        raise ConfigError(
            str(config_path),
            f"secret {key}: cannot read {path}: {exc.strerror}",
            key_path=where,
            hint="create the file (mode 0600, outside git) or fix from_file",
        ) from None
