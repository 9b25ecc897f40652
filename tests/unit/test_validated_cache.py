"""The validated-configuration cache: a hit is what validating would give, any change
to an input is a miss, errors are always found by validating, and an entry is only read
from an owner-only place and never holds a secret's value."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import yaml

from shipyard.config import loader, validated_cache
from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile, resolve_secrets

SECRET_VALUE = "s3cr3t-value-never-cached"


def write_config(path: Path, **overrides: object) -> Path:
    config: dict[str, object] = {
        "app": "demo",
        "start": "python3 app.py",
        "nginx": {"listen": "127.0.0.1:18999"},
        "secrets": {"API_TOKEN": {"from_env": "DEMO_API_TOKEN"}},
        "environments": {"local": {"hosts": ["local"], "root": "hosts"}},
    }
    config.update(overrides)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SHIPYARD_CONFIG_CACHE", str(folder))
    return folder


class Validations:
    """Counts the validations of environments (a hit does none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = loader.Environment.model_validate

        def counted(data: object) -> object:
            self.count += 1
            return real(data)

        monkeypatch.setattr(loader.Environment, "model_validate", counted)


def test_a_second_load_of_an_unchanged_file_takes_the_validated_environment_from_the_cache(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    first = ConfigFile.load(path).environment("local")
    validations = Validations(monkeypatch)
    again = ConfigFile.load(path)
    assert again.environment("local") == first
    assert validations.count == 0
    assert first.root == str(tmp_path / "hosts")  # anchored at the file, as validated
    assert again.data["app"] == "demo" and again.lines[("app",)] >= 1
    assert stat_mode(cache_dir) == 0o700
    assert all(stat_mode(entry) == 0o600 for entry in cache_dir.iterdir())


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_any_change_to_the_file_is_validated_again(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    ConfigFile.load(path).environment("local")
    write_config(path, keep_releases=7)
    validations = Validations(monkeypatch)
    assert ConfigFile.load(path).environment("local").keep_releases == 7
    assert validations.count == 1


def test_the_same_text_in_another_directory_is_another_entry(
    tmp_path: Path, cache_dir: Path
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = write_config(tmp_path / "one" / "shipyard.yml")
    two = tmp_path / "two" / "shipyard.yml"
    two.write_text(one.read_text())
    assert ConfigFile.load(one).environment("local").root == str(tmp_path / "one" / "hosts")
    assert ConfigFile.load(two).environment("local").root == str(tmp_path / "two" / "hosts")


def test_an_invalid_file_after_a_valid_one_reports_the_same_error_as_without_a_cache(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    ConfigFile.load(path).environment("local")
    write_config(path, keep_releases=1)
    with pytest.raises(ConfigError) as cached:
        ConfigFile.load(path).environment("local")
    monkeypatch.setenv("SHIPYARD_CONFIG_CACHE", "off")
    with pytest.raises(ConfigError) as uncached:
        ConfigFile.load(path).environment("local")
    assert str(cached.value) == str(uncached.value)
    assert "keep_releases" in str(cached.value)
    with pytest.raises(ConfigError, match="no environment named 'prod'"):
        ConfigFile.load(path).environment("prod")


def test_no_secret_value_is_ever_written_to_the_cache(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_API_TOKEN", SECRET_VALUE)
    path = write_config(tmp_path / "shipyard.yml")
    for _ in range(2):
        env = ConfigFile.load(path).environment("local")
        assert resolve_secrets(env, path) == {"API_TOKEN": SECRET_VALUE}
    entries = list(cache_dir.iterdir())
    assert entries
    for entry in entries:
        assert SECRET_VALUE.encode() not in entry.read_bytes()


def test_an_entry_in_a_directory_others_may_write_is_never_loaded(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    ConfigFile.load(path).environment("local")
    cache_dir.chmod(0o777)
    planted = tmp_path / "planted"
    for entry in cache_dir.glob("*.pickle"):
        entry.write_bytes(pickle.dumps(Planted(str(planted))))
    validations = Validations(monkeypatch)
    assert ConfigFile.load(path).environment("local").app == "demo"
    assert validations.count == 1  # validated: the entry was not read
    assert not planted.exists()


def test_an_entry_others_may_read_or_write_is_never_loaded(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    ConfigFile.load(path).environment("local")
    for entry in cache_dir.glob("*.pickle"):
        entry.chmod(0o644)
    validations = Validations(monkeypatch)
    ConfigFile.load(path).environment("local")
    assert validations.count == 1


def test_an_unreadable_entry_is_a_miss_and_is_replaced(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    ConfigFile.load(path).environment("local")
    for entry in cache_dir.glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    validations = Validations(monkeypatch)
    assert ConfigFile.load(path).environment("local").app == "demo"
    assert validations.count == 1
    ConfigFile.load(path).environment("local")
    assert validations.count == 1  # stored again


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_CONFIG_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = write_config(tmp_path / "shipyard.yml")
    ConfigFile.load(path).environment("local")
    assert validated_cache.directory() is None
    assert not (tmp_path / "xdg").exists()


def test_old_entries_are_pruned(tmp_path: Path, cache_dir: Path) -> None:
    path = write_config(tmp_path / "shipyard.yml")
    for keep in range(validated_cache.KEEP_ENTRIES + 5):
        write_config(path, keep_releases=2 + keep)
        ConfigFile.load(path).environment("local")
    assert len(list(cache_dir.glob("*.pickle"))) == validated_cache.KEEP_ENTRIES


def test_an_edit_to_shipyards_own_code_is_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "shipyard"
    (package / "config").mkdir(parents=True)
    source = package / "config" / "model.py"
    source.write_text("x = 1\n")
    monkeypatch.setattr(validated_cache, "PACKAGE", package)
    path = write_config(tmp_path / "shipyard.yml")
    validated_cache._code_fingerprint.cache_clear()
    before = validated_cache.key(path.read_text(), path)
    source.write_text("x = 22\n")
    validated_cache._code_fingerprint.cache_clear()
    try:
        assert validated_cache.key(path.read_text(), path) != before
    finally:
        monkeypatch.undo()
        validated_cache._code_fingerprint.cache_clear()


class Planted:
    """Unpickling this writes a file: it must never be unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_recorded_runtime_spec_is_validated_once_and_then_taken_from_the_cache(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.config import runtime

    env = ConfigFile.load(write_config(tmp_path / "shipyard.yml")).environment("local")
    recorded = runtime.spec_of(env).to_json()
    first = runtime.spec_from_json(recorded)
    assert first is not None
    real = runtime.RuntimeSpec.model_validate
    calls: list[object] = []

    def counted(data: object) -> object:
        calls.append(data)
        return real(data)

    monkeypatch.setattr(runtime.RuntimeSpec, "model_validate", counted)
    assert runtime.spec_from_json(recorded) == first
    assert calls == []
    assert runtime.spec_from_json({**recorded, "start": "python3 other.py"}) is not None
    assert len(calls) == 1  # other data: validated
    assert runtime.spec_from_json({**recorded, "keep": 1}) is None  # unknown key
    assert runtime.spec_from_json({**recorded, "keep": 1}) is None  # errors are not stored
    assert len(calls) == 3


def test_an_entry_in_use_outlives_newer_ones_when_old_entries_are_pruned(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = write_config(tmp_path / "kept.yml")
    ConfigFile.load(kept).environment("local")
    other = tmp_path / "other.yml"
    for keep in range(validated_cache.KEEP_ENTRIES + 5):
        write_config(other, keep_releases=2 + keep)
        ConfigFile.load(other).environment("local")
        ConfigFile.load(kept)  # used all along
    validations = Validations(monkeypatch)
    ConfigFile.load(kept).environment("local")
    assert validations.count == 0
