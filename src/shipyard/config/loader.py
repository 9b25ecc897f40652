"""Read shipyard.yml, keep every key's line, resolve one environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shipyard.config import validated_cache
from shipyard.config.errors import ConfigError
from shipyard.config.model import Document, Environment, SecretRef
from shipyard.config.safe_values import PATH_CHARACTERS, check_path
from shipyard.config.source import (
    MAX_CONFIG_BYTES,
    SourceError,
    check_printable,
    read_config_text,
    read_secret_text,
)

if TYPE_CHECKING:
    from shipyard.config.yaml_reader import KeyPath

_TYPE_TAG = re.compile(r"[a-z][a-z0-9_-]*\[.*\]\Z", re.S)
# keys the loader sets itself: written in an environment (or at the top) they would be lost
# keys of the whole file, not settings an environment inherits
TOP_LEVEL_ONLY = ("app", "environments", "alerts", "serve")
_NOT_SETTINGS = {
    "name": "an environment is named by its key under `environments:`",
    "alerts": "`alerts:` is set once, at the top level of the file",
    "serve": "`serve:` is set once, at the top level of the file",
}


class ConfigFile:
    """A parsed shipyard.yml: the document plus where each key was written."""

    def __init__(
        self,
        path: Path,
        data: dict[str, Any],
        lines: dict[KeyPath, int],
        name: str | None = None,
    ) -> None:
        self.path = path
        self.data = data
        self.lines = lines
        self.name = name or str(path)  # how errors name the file
        self._document: Document | None = None  # validated once, on first use
        self._environments: dict[str, Environment] = {}
        self._cache_key: str | None = None  # set by `load`: results are stored under it

    @classmethod
    def load(cls, path: Path) -> ConfigFile:
        """Read and validate the file, or take what it validated to last time from the
        validated-configuration cache when none of its inputs changed (validated_cache)."""
        name = str(path)
        try:
            text = read_config_text(path, check=False)  # `parse` checks it
        except FileNotFoundError:
            raise ConfigError(
                name, "file not found", hint="run `shipyard init` or pass --config PATH"
            ) from None
        except SourceError as exc:
            raise ConfigError(name, exc.problem, line=exc.line, hint=exc.hint) from None
        digest = validated_cache.key(text, path)
        entry = validated_cache.read(digest)
        if isinstance(entry, validated_cache.Entry):
            config = cls(path, entry.data, entry.lines, name)
            config._document = entry.document
            config._environments = dict(entry.environments)
            config._cache_key = digest
        else:
            config = cls.parse(text, path)
            config._cache_key = digest
            config._store()
        return config

    def _store(self) -> None:
        if self._cache_key is None or self._document is None:
            return
        entry = validated_cache.Entry(self.data, self.lines, self._document, self._environments)
        validated_cache.write(self._cache_key, entry)

    @classmethod
    def parse(cls, text: str, path: Path, name: str | None = None) -> ConfigFile:
        """Parse `text` as the file at `path` (relative roots are anchored there); errors
        call it `name` (e.g. `shipyard.yml at 3f2a9c1b7d0e` for a release's own file).
        Text not read by `load` (a release's own file) gets the same bounds and checks."""
        import yaml

        from shipyard.config.yaml_reader import BoundedLoader

        name = name or str(path)
        try:
            if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
                raise SourceError(
                    f"larger than {MAX_CONFIG_BYTES // 1024} KiB",
                    hint="a shipyard.yml is a few KiB; is this the right file?",
                )
            check_printable(text)
        except SourceError as exc:
            raise ConfigError(name, exc.problem, line=exc.line, hint=exc.hint) from None
        loader = BoundedLoader(text)
        try:
            data = loader.load_document()
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            key_path = ".".join(str(part) for part in getattr(exc, "key_path", ()))
            problem = exc.problem or "unreadable"
            raise ConfigError(
                name, f"not valid YAML: {problem}", key_path=key_path, line=line
            ) from None
        except yaml.YAMLError as exc:  # the reader's own errors carry no mark
            raise ConfigError(name, f"not valid YAML: {exc}") from None
        finally:
            loader.dispose()
        if not isinstance(data, dict):
            raise ConfigError(name, "must be a mapping with `app:` and `environments:`", line=1)
        config = cls(path, data, loader.lines, name)
        config.document()  # validates the outline early
        return config

    def document(self) -> Document:
        if self._document is None:
            try:
                self._document = Document.model_validate(self.data)
            except ValidationError as exc:
                raise self._error(exc, lambda loc: loc) from None
        return self._document

    @property
    def environment_names(self) -> list[str]:
        return list(self.document().environments)

    def environment(self, name: str) -> Environment:
        if name in self._environments:
            return self._environments[name]
        document = self.document()
        if name not in document.environments:
            known = ", ".join(document.environments) or "none"
            raise ConfigError(
                self.name,
                f"no environment named {name!r} (defined: {known})",
                key_path="environments",
                line=self.lines.get(("environments",)),
            )
        base = {k: v for k, v in self.data.items() if k not in TOP_LEVEL_ONLY}
        override = document.environments[name] or {}
        if not isinstance(override, Mapping):
            raise ConfigError(
                self.name,
                "an environment must be a mapping of settings",
                key_path=f"environments.{name}",
                line=self.lines.get(("environments", name)),
            )
        self._refuse_loader_keys(name, base, override)
        merged = deep_merge(base, dict(override))
        merged.update(name=name, app=document.app)
        try:
            env = Environment.model_validate(merged)
        except ValidationError as exc:
            raise self._error(exc, lambda loc: self._locate(name, loc)) from None
        self._check_promotion(env, list(document.environments))
        env = self._anchor_paths(env)
        self._environments[name] = env
        self._store()
        return env

    def _refuse_loader_keys(
        self, env: str, base: Mapping[str, Any], override: Mapping[str, Any]
    ) -> None:
        """`name:` (or `app:`) in an environment, or `name:` at the top, would be ignored."""
        reasons = {**_NOT_SETTINGS, "app": "the app is named once, by the top-level `app:`"}
        for key, reason in reasons.items():
            if key in override:
                where: KeyPath = ("environments", env, key)
            elif key in base:
                where = (key,)
            else:
                continue
            raise ConfigError(
                self.name,
                f"`{key}` is not a setting: {reason}",
                key_path=".".join(str(part) for part in where),
                line=self.lines.get(where),
                hint="remove it",
            )

    def _check_promotion(self, env: Environment, names: list[str]) -> None:
        required = env.promotion.requires
        if required is None or (required in names and required != env.name):
            return
        where = self._locate(env.name, ("promotion", "requires"))
        problem = (
            "an environment cannot require itself"
            if required == env.name
            else f"{required!r} is not an environment (defined: {', '.join(names)})"
        )
        raise ConfigError(
            str(self.path),
            problem,
            key_path=".".join(str(part) for part in where),
            line=self._line_of(where),
            hint="name the environment a release must pass first, e.g. staging",
        )

    def _anchor_paths(self, env: Environment) -> Environment:
        """Relative roots are relative to the directory holding shipyard.yml."""
        here = self.path.resolve().parent

        def anchor(root: str, where: KeyPath) -> str:
            path = Path(root).expanduser()
            absolute = str(path if path.is_absolute() else here / path)
            try:
                return check_path(absolute)
            except ValueError:
                located = self._locate(env.name, where)
                raise ConfigError(
                    str(self.path),
                    f"root {absolute!r} has characters supervisord.conf and nginx.conf "
                    f"would misread (use only {PATH_CHARACTERS})",
                    key_path=".".join(str(part) for part in located),
                    line=self._line_of(located),
                    hint="set `root:` to an absolute path such as /srv/shipyard",
                ) from None

        hosts = [
            h.model_copy(update={"root": anchor(h.root, ("hosts", i, "root"))}) if h.root else h
            for i, h in enumerate(env.hosts)
        ]
        return env.model_copy(update={"root": anchor(env.root, ("root",)), "hosts": hosts})

    def _line_of(self, where: KeyPath) -> int | None:
        for length in range(len(where), -1, -1):
            if where[:length] in self.lines:
                return self.lines[where[:length]]
        return None

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
        # pydantic tags union/wrapped locations with type names (`list[str]`,
        # `function-after[...]`); keep real keys only, even those with brackets in them
        loc = tuple(part for part in loc if not (isinstance(part, str) and _TYPE_TAG.match(part)))
        where = self._without_tags(locate(loc))
        line = self._line_of(where)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "required key is missing"
        elif first["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/configuration.md)"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return ConfigError(
            self.name,
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
        values[key] = read_secret(key, ref, env.name, config_path)
    return values


def read_secret(key: str, ref: SecretRef, env_name: str, config_path: Path) -> str:
    """One secret's value; `env_name` empty for one of `serve.secrets`."""
    where = f"serve.secrets.{key}"
    if env_name:
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
        return read_secret_text(path)
    except FileNotFoundError:
        problem, hint = "no such file", "create the file (mode 0600, outside git) or fix from_file"
    except SourceError as exc:
        problem = exc.problem
        hint = "a secret file holds one value as UTF-8 text (mode 0600, outside git)"
    raise ConfigError(
        str(config_path), f"secret {key}: {path}: {problem}", key_path=where, hint=hint
    )
