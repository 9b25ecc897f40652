"""What runs versus where: the split of shipyard.yml, the release's own spec, the diff,
and the spec recorded with a release on a host (also in a state.db older than specs)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from support.fakehost import FakeFleet
from support.records import deployment
from support.records import release as record

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.config.model import HealthCheck, Settings
from shipyard.config.runtime import (
    RULE_KEYS,
    RUNTIME_KEYS,
    WHERE_KEYS,
    RuntimeSpec,
    resolve,
    spec_from_json,
    spec_of,
)
from shipyard.execute import pipeline
from shipyard.execute.promotion import PromotionRefused
from shipyard.execute.release_runtime import choose_runtime, release_spec
from shipyard.plan.runtime_diff import differences
from shipyard.protocol.common import ReleaseManifest, SlotRow
from shipyard.release.artifact import build_artifact

RELEASE = """\
app: shop
start: python3 app.py
workers:
  mailer: {command: python3 mailer.py}
env: {LOG_LEVEL: info}
secrets:
  API_KEY: {from_env: SHOP_API_KEY}
health: {path: /healthz}
environments:
  staging:
    hosts: [deploy@10.0.0.5]
    root: /srv/old
  production:
    hosts: [deploy@10.0.0.6]
    env: {LOG_LEVEL: warning}
"""


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        pass

    def info(self, message: str) -> None:
        self.lines.append(message)

    def close(self) -> None:
        pass


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@x", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def parse(text: str, tmp_path: Path) -> ConfigFile:
    return ConfigFile.parse(text, tmp_path / "shipyard.yml")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "repo"
    path.mkdir()
    (path / "shipyard.yml").write_text(RELEASE)
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "one")
    return path


def commit_config(repo: Path, text: str) -> str:
    (repo / "shipyard.yml").write_text(text)
    git(repo, "commit", "-qam", "config")
    return git(repo, "rev-parse", "HEAD")


def test_every_key_of_the_file_is_either_what_runs_where_or_a_rule_and_only_one() -> None:
    keys = set(Settings.model_fields)
    assert keys == RUNTIME_KEYS | WHERE_KEYS | RULE_KEYS
    assert not RUNTIME_KEYS & WHERE_KEYS and not RUNTIME_KEYS & RULE_KEYS
    assert not WHERE_KEYS & RULE_KEYS
    assert set(RuntimeSpec.model_fields) == RUNTIME_KEYS


def test_what_runs_comes_from_the_release_and_where_and_the_rules_from_the_working_file(
    tmp_path: Path,
) -> None:
    release = spec_of(parse(RELEASE, tmp_path).environment("staging"))
    working_text = RELEASE.replace("python3 app.py", "gunicorn app:app").replace(
        "root: /srv/old", "root: /srv/new\n    promotion: {soak: 60}"
    )
    working = parse(working_text, tmp_path).environment("staging")
    chosen = resolve(working, release, use_working_tree=False)
    assert chosen.env.start == "python3 app.py" and chosen.source == "release"
    assert chosen.env.workers["mailer"].command == "python3 mailer.py"
    assert chosen.env.root == "/srv/new"  # where: the operator's current file
    assert chosen.env.promotion.soak == 60  # the rules too: a release cannot relax them
    assert [h.address for h in chosen.env.hosts] == ["deploy@10.0.0.5"]
    deliberate = resolve(working, release, use_working_tree=True)
    assert deliberate.env.start == "gunicorn app:app" and deliberate.source == "working-tree"


def test_an_environment_override_is_part_of_what_runs_there(tmp_path: Path) -> None:
    config = parse(RELEASE, tmp_path)
    assert spec_of(config.environment("production")).env == {"LOG_LEVEL": "warning"}
    assert spec_of(config.environment("staging")).env == {"LOG_LEVEL": "info"}


def test_the_spec_names_secret_sources_never_values_and_round_trips_through_json(
    tmp_path: Path,
) -> None:
    spec = spec_of(parse(RELEASE, tmp_path).environment("staging"))
    recorded = json.loads(json.dumps(spec.to_json()))
    assert recorded["secrets"] == {"API_KEY": {"from_env": "SHOP_API_KEY", "from_file": None}}
    again = spec_from_json(recorded)
    assert again == spec and again is not None and again.digest == spec.digest
    assert spec_from_json(None) is None and spec_from_json({"start": 1}) is None


def test_the_diff_names_each_key_that_differs_with_both_values(tmp_path: Path) -> None:
    release = spec_of(parse(RELEASE, tmp_path).environment("staging"))
    changed = RELEASE.replace("python3 app.py", "python3 server.py").replace(
        "mailer: {command: python3 mailer.py}",
        "mailer: {command: python3 mailer.py}\n  cron: {command: python3 cron.py}",
    )
    working = spec_of(parse(changed, tmp_path).environment("staging"))
    found = differences(working, release)
    assert [d.key for d in found] == ["start", "workers.cron"]
    assert (
        found[0].describe() == "start: working tree 'python3 server.py', release 'python3 app.py'"
    )
    assert found[1].release is None and "(not set)" in found[1].describe()
    assert differences(release, release) == []


def test_where_keys_that_differ_are_not_a_difference_in_what_runs(tmp_path: Path) -> None:
    release = spec_of(parse(RELEASE, tmp_path).environment("staging"))
    moved = RELEASE.replace("deploy@10.0.0.5", "deploy@10.0.0.9")
    assert differences(spec_of(parse(moved, tmp_path).environment("staging")), release) == []


def test_the_release_spec_is_read_from_the_artifact_of_its_commit(
    repo: Path, tmp_path: Path
) -> None:
    old = git(repo, "rev-parse", "HEAD")
    commit_config(repo, RELEASE.replace("python3 app.py", "python3 server.py"))
    config = ConfigFile.load(repo / "shipyard.yml")
    artifact = build_artifact(repo, old, allow_dirty=False, cache_dir=tmp_path / "cache")
    assert release_spec(config, artifact, "staging").start == "python3 app.py"
    lines = Lines()
    chosen = choose_runtime(config, config.environment("staging"), artifact, lines)
    assert chosen.env.start == "python3 app.py" and chosen.differs == ["start"]
    assert any("'python3 server.py', release 'python3 app.py'" in line for line in lines.lines)
    assert chosen.record == {"source": "release", "digest": chosen.resolved.spec.digest,
                             "differs": ["start"]}  # fmt: skip


def test_a_release_whose_committed_file_is_invalid_is_refused_naming_file_line_and_key(
    repo: Path, tmp_path: Path
) -> None:
    broken = commit_config(repo, RELEASE.replace("health: {path: /healthz}", "health: {pth: /x}"))
    commit_config(repo, RELEASE)
    config = ConfigFile.load(repo / "shipyard.yml")
    artifact = build_artifact(repo, broken, allow_dirty=False, cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError) as caught:
        release_spec(config, artifact, "staging")
    error = caught.value
    assert error.file == f"shipyard.yml at {broken[:12]}"
    assert (error.line, error.key_path) == (8, "health.pth")
    assert str(error).startswith(f"shipyard.yml at {broken[:12]}:8: health.pth:")


def test_a_release_whose_committed_file_lacks_the_environment_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    commit_config(repo, RELEASE + "  qa:\n    hosts: [deploy@10.0.0.8]\n")
    config = ConfigFile.load(repo / "shipyard.yml")
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    artifact = build_artifact(repo, first, allow_dirty=False, cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError) as caught:
        release_spec(config, artifact, "qa")
    assert caught.value.file == f"shipyard.yml at {first[:12]}"
    assert "no environment named 'qa'" in caught.value.message
    assert caught.value.line == 9  # `environments:`


def test_the_working_tree_runtime_is_refused_where_the_rules_require_the_release_own(
    repo: Path, tmp_path: Path
) -> None:
    commit_config(repo, RELEASE.replace("env: {LOG_LEVEL: warning}", "env: {LOG_LEVEL: warning}\n"
                  "    promotion: {require_release_runtime: true}"))  # fmt: skip
    config = ConfigFile.load(repo / "shipyard.yml")
    artifact = build_artifact(repo, "HEAD", allow_dirty=False, cache_dir=tmp_path / "cache")
    with pytest.raises(PromotionRefused, match="require_release_runtime"):
        choose_runtime(
            config, config.environment("production"), artifact, Lines(), use_working_tree=True
        )
    staging = choose_runtime(
        config, config.environment("staging"), artifact, Lines(), use_working_tree=True
    )
    assert staging.resolved.source == "working-tree"


def test_a_state_db_from_before_runtime_specs_gains_the_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    from shipyard.host.state import State

    path = tmp_path / "state.db"
    manifest = ReleaseManifest("abc", "c" * 40, "2026-01-01", "HEAD", "now", "me", False, None)
    with sqlite3.connect(path) as db:  # the tables as an older Shipyard made them
        db.execute(
            "CREATE TABLE releases (release_id TEXT PRIMARY KEY, digest TEXT NOT NULL, "
            "manifest TEXT NOT NULL, prepared_at REAL NOT NULL, "
            "status TEXT NOT NULL DEFAULT 'prepared')"
        )
        db.execute(
            "INSERT INTO releases VALUES ('abc', 'd1', ?, 1.0, 'good')",
            (json.dumps({k: v for k, v in vars(manifest).items() if k != "gates"}),),
        )
    state = State.create(path)
    (old,) = state.releases()
    assert (old.release_id, old.status, old.runtime) == ("abc", "good", None)
    state.record_release("abc", "d1", manifest, {"start": "python3 app.py"})
    state.record_release("abc", "d1", manifest, None)  # a later request without one keeps it
    assert state.releases()[0].runtime == {"start": "python3 app.py"}


# --- against fake hosts: which spec each host operation is given ---------------------

H1, H2 = "deploy@h1.test", "deploy@h2.test"


def fleet_config(repo: Path, start: str, health_path: str) -> ConfigFile:
    text = (
        RELEASE.replace("python3 app.py", start)
        .replace("/healthz", health_path)
        .replace("hosts: [deploy@10.0.0.5]", f"hosts: [{H1}, {H2}]")
    )
    commit_config(repo, text)
    return ConfigFile.load(repo / "shipyard.yml")


def serving_old(fleet: FakeFleet, config: ConfigFile, *, warm: bool = False) -> None:
    """Both hosts serve release `old` from blue, recorded with its own start and health;
    with `warm`, `new` is warm in green."""
    old_spec = spec_of(config.environment("staging")).model_copy(
        update={"start": "python3 old.py", "health": HealthCheck(path="/old-health")}
    )
    for host in (H1, H2):
        model = fleet.model("staging", host)
        model.active_slot, model.active_release = "green", "new"
        model.slots["green"] = SlotRow("green", "new", "active", 1.0, None)
        if warm:
            model.slots["blue"] = SlotRow("blue", "old", "warm", 1.0, None)
        model.releases = [record("new"), record("old", runtime=old_spec.to_json())]
        model.history = [deployment("new", id="d2"), deployment("old", id="d1")]


def test_a_cold_rollback_boots_and_checks_the_spec_recorded_with_the_release(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_API_KEY", "s3cret-value")
    config = fleet_config(repo, "python3 new.py", "/healthz")
    fleet = FakeFleet()
    serving_old(fleet, config)
    lines = Lines()
    runtime = pipeline.Runtime(reporter=lines, hosts=fleet.factory)
    result = asyncio.run(pipeline.rollback(config, "staging", runtime, release="old"))
    assert result.release_id == "old" and not result.warm
    assert len(fleet.calls("boot")) == 2
    for boot in fleet.calls("boot"):
        assert boot.request.start == "python3 old.py"
        assert boot.request.env_values == {"LOG_LEVEL": "info", "API_KEY": "s3cret-value"}
    assert {c.request.health.path for c in fleet.calls("check")} == {"/old-health"}
    started = fleet.calls("record-start")[0].request.deployment
    assert started.runtime["source"] == "recorded"
    assert "start" in started.runtime["differs"] and "s3cret" not in json.dumps(started.runtime)
    assert any("start: working tree 'python3 new.py', release 'python3 old.py'" in line
               for line in lines.lines)  # fmt: skip


def test_converging_judges_the_active_release_by_its_own_recorded_health(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_API_KEY", "s3cret-value")
    config = fleet_config(repo, "python3 new.py", "/new-health")
    fleet = FakeFleet()
    serving_old(fleet, config)
    for host in (H1, H2):  # the active one is `old` now, recorded with /old-health
        model = fleet.model("staging", host)
        model.active_slot, model.active_release = "blue", "old"
        model.slots = {"blue": SlotRow("blue", "old", "active", 1.0, None)}
    runtime = pipeline.Runtime(reporter=Lines(), hosts=fleet.factory)
    asyncio.run(pipeline.deploy(config, "staging", runtime))
    assert {c.request.health.path for c in fleet.calls("repair")} == {"/old-health"}
    # the new release boots and is checked with its own
    assert {c.request.health.path for c in fleet.calls("check")} == {"/new-health"}
    prepared = fleet.calls("prepare")[0].request
    assert prepared.runtime["health"]["path"] == "/new-health"
    assert "s3cret" not in json.dumps(prepared.runtime)


def test_the_working_tree_runtime_can_ship_a_release_whose_own_file_is_unusable_on_the_record(
    repo: Path, tmp_path: Path
) -> None:
    broken = commit_config(repo, RELEASE.replace("health: {path: /healthz}", "health: {pth: /x}"))
    commit_config(repo, RELEASE)
    config = ConfigFile.load(repo / "shipyard.yml")
    artifact = build_artifact(repo, broken, allow_dirty=False, cache_dir=tmp_path / "cache")
    lines = Lines()
    chosen = choose_runtime(
        config, config.environment("staging"), artifact, lines, use_working_tree=True
    )
    assert chosen.resolved.source == "working-tree" and chosen.env.health.path == "/healthz"
    assert chosen.record["release_file_unusable"].startswith(f"shipyard.yml at {broken[:12]}:8")
    assert any("cannot be used" in line for line in lines.lines)


def test_status_probes_each_host_active_release_on_its_own_recorded_health_path(
    repo: Path,
) -> None:
    from shipyard.execute import queries

    config = fleet_config(repo, "python3 new.py", "/new-health")
    fleet = FakeFleet()
    serving_old(fleet, config)
    fleet.model("staging", H2).slots = {"blue": SlotRow("blue", "old", "active", 1.0, None)}
    fleet.model("staging", H2).active_slot = "blue"
    env = config.environment("staging")
    asyncio.run(queries.status(env, Lines(), hosts=fleet.factory))
    paths = {call.host: call.request.health_path for call in fleet.calls("status")}
    assert paths == {H1: "/new-health", H2: "/old-health"}
