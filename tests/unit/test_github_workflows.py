"""`shipyard init --github`: the generated workflows, parsed and checked for structure."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard import __version__
from shipyard.config.errors import ConfigError
from shipyard.github import (
    GitHubSetupError,
    SecretFile,
    Target,
    WorkflowSettings,
    github_secrets,
    render_workflows,
    write_workflows,
)
from shipyard.github.workflows import PLACEHOLDER

CONFIG = """\
app: reconcile
start: .venv/bin/gunicorn --bind unix:$SHIPYARD_SOCKET app:app
secrets:
  SECRET_KEY: {from_env: RECONCILE_SECRET_KEY}
  BANK_TOKEN: {from_file: secrets/bank-token}
environments:
  local:
    hosts: [local]
    root: .shipyard/hosts
    secrets:
      LOCAL_ONLY: {from_file: ~/.config/reconcile/local}
  staging:
    hosts: [deploy@staging.example.com]
  production:
    hosts: [deploy@app1.example.com, deploy@app2.example.com]
    secrets:
      DATABASE_URL: {from_env: RECONCILE_DATABASE_URL}
    ssh:
      identity_file: ~/.ssh/prod_deploy
"""

WORKFLOWS = ("ci", "deploy", "promote", "hotfix")
SETUP_STEPS = ("Install Shipyard", "SSH key and known hosts from secrets (never printed)")
CHECK_STEP = "The app's secrets are set (never printed)"
DEPLOYING_STEPS = ("Deploy to staging", "Promote to production", "Hotfix production")
FILE_STEPS = (
    "Secret files from secrets (shipyard.yml's from_file)",
    "Placeholder secret files (shipyard.yml's from_file)",
)


def settings(**changes: Any) -> WorkflowSettings:
    values: dict[str, Any] = {
        "app": "reconcile",
        "staging": Target("staging", env_secrets=("RECONCILE_SECRET_KEY",)),
        "production": Target(
            "production",
            env_secrets=("RECONCILE_SECRET_KEY", "RECONCILE_DATABASE_URL"),
            secret_files=(SecretFile("BANK_TOKEN", "~/.config/reconcile/bank"),),
        ),
    }
    return WorkflowSettings(**(values | changes))


def parsed(s: WorkflowSettings | None = None) -> dict[str, dict[str, Any]]:
    files = render_workflows(s or settings())
    assert sorted(files) == sorted(f".github/workflows/{name}.yml" for name in WORKFLOWS)
    return {Path(path).stem: yaml.safe_load(text) for path, text in files.items()}


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the key `on` as True; GitHub reads it as "on"
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict)
    return value


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def run_lines(step: dict[str, Any]) -> list[str]:
    lines = [line.strip() for line in step["run"].splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def shipyard_commands(workflows: dict[str, dict[str, Any]]) -> list[str]:
    return [
        line.split("#")[0].strip()
        for workflow in workflows.values()
        for step in steps(workflow)
        if "run" in step
        for line in run_lines(step)
        if line.startswith("shipyard ")
    ]


# -- structure ------------------------------------------------------------------------------


def test_ci_runs_on_every_push_and_pull_request_and_can_be_called() -> None:
    ci = parsed()["ci"]
    on = triggers(ci)
    assert set(on) == {"push", "pull_request", "workflow_call"}
    # main is checked by deploy.yml (which calls ci.yml) rather than twice
    assert on["push"] == {"branches-ignore": ["main"]}
    assert on["pull_request"] is None
    commands = shipyard_commands({"ci": ci})
    assert commands == [
        "shipyard config check staging",
        "shipyard config check production",
        "shipyard gates staging",
    ]
    assert ci["permissions"] == {"contents": "read"}


def test_ci_uses_no_secret_and_gives_config_check_placeholders() -> None:
    text = render_workflows(settings())[".github/workflows/ci.yml"]
    assert "secrets." not in text
    job = yaml.safe_load(text)["jobs"]["gates"]
    assert job["env"] == {
        "RECONCILE_SECRET_KEY": PLACEHOLDER,
        "RECONCILE_DATABASE_URL": PLACEHOLDER,
    }
    files = [s for s in job["steps"] if s["name"] in FILE_STEPS]
    assert len(files) == 1 and PLACEHOLDER in files[0]["run"]


def test_deploy_runs_the_checks_then_staging_then_production_behind_reviewers() -> None:
    deploy = parsed()["deploy"]
    assert triggers(deploy) == {"push": {"branches": ["main"]}}
    jobs = deploy["jobs"]
    assert list(jobs) == ["ci", "staging", "production"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    staging, production = jobs["staging"], jobs["production"]
    assert staging["needs"] == "ci" and production["needs"] == "staging"
    assert staging["environment"] == "staging"
    # the GitHub environment whose required reviewers gate production
    assert production["environment"] == "production"
    for job, env in ((staging, "staging"), (production, "production")):
        assert job["concurrency"] == {
            "group": f"shipyard-reconcile-{env}",
            "cancel-in-progress": False,
        }
    assert shipyard_commands({"deploy": deploy}) == [
        'shipyard deploy staging --ref "$GITHUB_SHA" --lock-wait 300 --message '
        '"push to main: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"',
        "shipyard status staging",
        'shipyard promote staging production "${GITHUB_SHA::12}" --lock-wait 300',
        "shipyard status production",
    ]


def test_promotion_names_the_release_this_run_put_on_staging() -> None:
    # a release id is the commit's first 12 hex digits (docs/lifecycle.md): promoting
    # "staging's active release" instead could promote a later push's release
    production = parsed()["deploy"]["jobs"]["production"]
    promote = next(s for s in production["steps"] if s["name"] == "Promote to production")
    assert '"${GITHUB_SHA::12}"' in promote["run"]


def test_every_deploy_to_one_environment_shares_one_concurrency_group() -> None:
    workflows = parsed()
    groups = {
        (name, job_name): job["concurrency"]
        for name, workflow in workflows.items()
        for job_name, job in workflow["jobs"].items()
        if "concurrency" in job
    }
    assert groups == {
        ("deploy", "staging"): {"group": "shipyard-reconcile-staging", "cancel-in-progress": False},
        ("deploy", "production"): {
            "group": "shipyard-reconcile-production",
            "cancel-in-progress": False,
        },
        ("promote", "production"): {
            "group": "shipyard-reconcile-production",
            "cancel-in-progress": False,
        },
        ("hotfix", "hotfix"): {
            "group": "shipyard-reconcile-production",
            "cancel-in-progress": False,
        },
    }
    for (name, _), _group in groups.items():
        assert "concurrency" not in workflows[name]  # job level: the ci job never waits


def test_hotfix_is_dispatched_with_a_required_ref_and_reason_passed_through_env() -> None:
    hotfix = parsed()["hotfix"]
    inputs = triggers(hotfix)["workflow_dispatch"]["inputs"]
    assert set(triggers(hotfix)) == {"workflow_dispatch"}
    assert inputs["ref"]["required"] is True and inputs["reason"]["required"] is True
    job = hotfix["jobs"]["hotfix"]
    assert job["environment"] == "production"
    checkout = job["steps"][0]
    assert checkout["with"]["ref"] == "${{ inputs.ref }}"
    assert checkout["with"]["fetch-depth"] == 0
    step = next(s for s in job["steps"] if s["name"] == "Hotfix production")
    assert step["env"]["REF"] == "${{ inputs.ref }}"
    assert step["env"]["REASON"] == "${{ inputs.reason }}"
    assert run_lines(step) == [
        'shipyard hotfix production --ref "$REF" --reason "$REASON" --lock-wait 300'
    ]


def test_promote_by_hand_takes_an_optional_release_through_env() -> None:
    promote = parsed()["promote"]
    inputs = triggers(promote)["workflow_dispatch"]["inputs"]
    assert inputs["release"]["required"] is False
    job = promote["jobs"]["production"]
    assert job["environment"] == "production"
    step = next(s for s in job["steps"] if s["name"] == "Promote to production")
    assert step["env"]["RELEASE"] == "${{ inputs.release }}"
    assert shipyard_commands({"promote": promote})[:2] == [
        'shipyard promote staging production "$RELEASE" --lock-wait 300',
        "shipyard promote staging production --lock-wait 300",
    ]


def test_no_expression_is_ever_inlined_in_a_script() -> None:
    # secrets and inputs reach the shell only as environment variables
    for name, workflow in parsed().items():
        for step in steps(workflow):
            if "run" in step:
                assert "${{" not in step["run"], (name, step["name"])


def test_secrets_are_given_only_to_the_steps_that_need_them() -> None:
    for name, workflow in parsed().items():
        assert "env" not in workflow or "secrets." not in str(workflow["env"])
        for job_name, job in workflow["jobs"].items():
            assert "secrets." not in str(job.get("env", {})), (name, job_name)
            for step in job.get("steps", []):
                for key, value in step.get("env", {}).items():
                    if "secrets." not in value:
                        continue
                    assert value == "${{ secrets." + key + " }}"
                    if key.startswith("SSH_"):
                        assert step["name"] == SETUP_STEPS[1]
                    elif key == "BANK_TOKEN":
                        assert step["name"] == FILE_STEPS[0]
                    else:  # app secrets: the step that deploys, and the check before it
                        assert step["name"] in (*DEPLOYING_STEPS, CHECK_STEP), (name, step["name"])


def test_app_secrets_follow_the_environment_deployed_to() -> None:
    workflows = parsed()

    def env_of(workflow: str, job: str, step: str) -> dict[str, str]:
        found = next(s for s in workflows[workflow]["jobs"][job]["steps"] if s["name"] == step)
        return dict(found.get("env", {}))

    assert env_of("deploy", "staging", "Deploy to staging") == {
        "RECONCILE_SECRET_KEY": "${{ secrets.RECONCILE_SECRET_KEY }}"
    }
    assert env_of("deploy", "production", "Promote to production") == {
        "RECONCILE_SECRET_KEY": "${{ secrets.RECONCILE_SECRET_KEY }}",
        "RECONCILE_DATABASE_URL": "${{ secrets.RECONCILE_DATABASE_URL }}",
    }
    assert github_secrets(settings()) == {
        "SSH_PRIVATE_KEY": ["staging", "production"],
        "SSH_KNOWN_HOSTS": ["staging", "production"],
        "RECONCILE_SECRET_KEY": ["staging", "production"],
        "RECONCILE_DATABASE_URL": ["production"],
        "BANK_TOKEN": ["production"],
    }


def test_a_missing_secret_fails_the_job_before_anything_deploys() -> None:
    # GitHub hands a secret that does not exist to a step as "": Shipyard would deploy it
    jobs = parsed()["deploy"]["jobs"]
    names = [s["name"] for s in jobs["production"]["steps"]]
    assert names.index(CHECK_STEP) == names.index("Promote to production") - 1
    check = jobs["production"]["steps"][names.index(CHECK_STEP)]
    assert set(check["env"]) == {"RECONCILE_SECRET_KEY", "RECONCILE_DATABASE_URL"}
    assert run_lines(check)[:3] == [
        'missing=""',
        '[ -n "$RECONCILE_SECRET_KEY" ] || missing="$missing RECONCILE_SECRET_KEY"',
        '[ -n "$RECONCILE_DATABASE_URL" ] || missing="$missing RECONCILE_DATABASE_URL"',
    ]
    assert "exit 1" in run_lines(check)


def test_ssh_key_and_known_hosts_go_to_owner_only_files_and_are_never_printed() -> None:
    for name, workflow in parsed().items():
        for step in steps(workflow):
            if step.get("name") != SETUP_STEPS[1]:
                continue
            lines = run_lines(step)
            assert "umask 077  # every file and directory below: owner only" in lines
            assert (
                'printf \'%s\\n\' "$SSH_PRIVATE_KEY" > "$HOME"/.ssh/id_ed25519' in lines
                or 'printf \'%s\\n\' "$SSH_PRIVATE_KEY" > "$HOME"/.ssh/prod_deploy' in lines
            )
            assert any(line.startswith("chmod 600 ") for line in lines)
            for line in lines:
                if "$SSH_PRIVATE_KEY" in line or "$SSH_KNOWN_HOSTS" in line:
                    # only tested for emptiness or written to a file, never echoed
                    assert line.startswith(("[ -n ", "printf '%s\\n' ")), (name, line)
                    assert line.startswith("[") or " > " in line


def test_every_script_is_a_shipyard_command_or_setup() -> None:
    control = re.compile(r'^(if \[ -n "\$RELEASE" \]; then|else|fi)$')
    setup = re.compile(
        r'^(umask 077|mkdir -p |printf \'%s\\n\' |chmod 600 |missing=""$|'
        r'\[ -n "\$(\w+)" \] \|\| missing="\$missing \2"$|if \[ -n "\$missing" \]; then$|'
        r'echo "::error::create the secrets:\$missing |exit 1$|fi$)'
    )
    for name, workflow in parsed().items():
        for step in steps(workflow):
            if "run" not in step:
                continue
            lines = run_lines(step)
            if step["name"] == "Install Shipyard":
                assert lines == [f"python -m pip install bluegreen-shipyard=={__version__}"]
            elif step["name"] in (SETUP_STEPS[1], CHECK_STEP, *FILE_STEPS):
                assert all(setup.match(line) for line in lines), (name, lines)
                assert not any(line.startswith("shipyard") for line in lines)
            else:
                for line in lines:
                    assert line.startswith("shipyard ") or control.match(line), (name, line)


def test_actions_are_pinned_by_major_version_and_history_is_fetched_where_needed() -> None:
    for name, workflow in parsed().items():
        for job_name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"actions/(checkout|setup-python)@v\d+", step["uses"])
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
                    if name != "ci":  # building a release needs the commits
                        assert step["with"]["fetch-depth"] == 0, (name, job_name)
                if step.get("uses", "").startswith("actions/setup-python@"):
                    assert step["with"]["python-version"] == "3.11"


def test_settings_change_what_is_rendered() -> None:
    workflows = parsed(
        settings(
            python_version="3.12",
            install_command="pip install 'shipyard @ git+https://example.com/shipyard@v1'",
            branch="trunk",
            config_file="app/shipyard.yml",
            staging=Target("stage"),
            production=Target("live", known_hosts=None),
        )
    )
    assert triggers(workflows["deploy"]) == {"push": {"branches": ["trunk"]}}
    assert triggers(workflows["ci"])["push"] == {"branches-ignore": ["trunk"]}
    for workflow in workflows.values():
        assert workflow["env"] == {"SHIPYARD_CONFIG": "app/shipyard.yml"}
    assert "shipyard promote stage live" in " ".join(shipyard_commands(workflows))
    hotfix = workflows["hotfix"]["jobs"]["hotfix"]
    ssh = next(s for s in hotfix["steps"] if s["name"] == SETUP_STEPS[1])
    # a known_hosts file committed in the repository needs no secret
    assert set(ssh["env"]) == {"SSH_PRIVATE_KEY"}
    install = next(s for s in hotfix["steps"] if s["name"] == "Install Shipyard")
    assert run_lines(install) == ["pip install 'shipyard @ git+https://example.com/shipyard@v1'"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"staging": Target("staging", env_secrets=("GITHUB_TOKEN",))}, "GitHub secret name"),
        ({"staging": Target("staging", env_secrets=("MY-VAR",))}, "GitHub secret name"),
        ({"staging": Target("staging", env_secrets=("PATH",))}, "would replace a variable"),
        ({"production": Target("staging")}, "both 'staging'"),
        ({"python_version": "3.11; rm"}, "python version"),
        ({"branch": "main: x"}, "branch"),
        ({"install_command": "  "}, "install command is empty"),
        ({"config_file": "../shipyard.yml"}, "inside the repository"),
        ({"app": "Reconcile"}, "app name"),
        (
            {"staging": Target("staging", identity_file="keys/deploy")},
            "inside the repository",
        ),
        (
            {
                "staging": Target(
                    "staging",
                    env_secrets=("TOKEN",),
                    secret_files=(SecretFile("TOKEN", "~/t"),),
                )
            },
            "two purposes",
        ),
    ],
)
def test_settings_that_cannot_work_in_a_workflow_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(GitHubSetupError, match=re.escape(message)):
        settings(**changes)


# -- write_workflows -----------------------------------------------------------------------


def repo_with(tmp_path: Path, text: str = CONFIG, subdir: str = "") -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("secrets/\n")
    app_dir = tmp_path / subdir if subdir else tmp_path
    app_dir.mkdir(parents=True, exist_ok=True)
    config = app_dir / "shipyard.yml"
    config.write_text(text)
    return config


def test_write_workflows_reads_shipyard_yml_and_writes_four_files(tmp_path: Path) -> None:
    config = repo_with(tmp_path)
    written = write_workflows(tmp_path, config)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        f".github/workflows/{name}.yml" for name in WORKFLOWS
    ]
    deploy = yaml.safe_load((tmp_path / ".github/workflows/deploy.yml").read_text())
    staging_steps = {s["name"]: s for s in deploy["jobs"]["staging"]["steps"]}
    assert staging_steps["Deploy to staging"]["env"] == {
        "RECONCILE_SECRET_KEY": "${{ secrets.RECONCILE_SECRET_KEY }}"
    }
    files = staging_steps[FILE_STEPS[0]]
    assert files["env"] == {"BANK_TOKEN": "${{ secrets.BANK_TOKEN }}"}
    # from_file relative to shipyard.yml: the same file in the checkout
    assert 'printf \'%s\\n\' "$BANK_TOKEN" > "$GITHUB_WORKSPACE"/secrets/bank-token' in (
        run_lines(files)
    )
    production_steps = {s["name"]: s for s in deploy["jobs"]["production"]["steps"]}
    ssh = run_lines(production_steps[SETUP_STEPS[1]])
    # promotion reaches staging (its history) and production, each with its own key path
    assert 'printf \'%s\\n\' "$SSH_PRIVATE_KEY" > "$HOME"/.ssh/prod_deploy' in ssh
    assert 'printf \'%s\\n\' "$SSH_PRIVATE_KEY" > "$HOME"/.ssh/id_ed25519' in ssh
    assert production_steps["Promote to production"]["env"] == {
        "RECONCILE_SECRET_KEY": "${{ secrets.RECONCILE_SECRET_KEY }}",
        "RECONCILE_DATABASE_URL": "${{ secrets.RECONCILE_DATABASE_URL }}",
    }
    # the `local` environment's secrets are nobody's business in CI
    assert "LOCAL_ONLY" not in "".join(p.read_text() for p in written)


def test_no_secret_value_ever_reaches_a_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_SECRET_KEY", "s3cret-key-value")
    monkeypatch.setenv("RECONCILE_DATABASE_URL", "postgres://u:hunter2@db/x")
    config = repo_with(tmp_path)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/bank-token").write_text("bank-token-value\n")
    text = "".join(p.read_text() for p in write_workflows(tmp_path, config))
    for value in ("s3cret-key-value", "hunter2", "bank-token-value"):
        assert value not in text


def test_existing_workflows_are_not_overwritten_without_force(tmp_path: Path) -> None:
    config = repo_with(tmp_path)
    write_workflows(tmp_path, config)
    # the same content again: nothing to refuse
    write_workflows(tmp_path, config)
    deploy = tmp_path / ".github/workflows/deploy.yml"
    deploy.write_text(deploy.read_text() + "# my edit\n")
    (tmp_path / ".github/workflows/ci.yml").unlink()
    with pytest.raises(GitHubSetupError, match=r"not overwriting \.github/workflows/deploy\.yml"):
        write_workflows(tmp_path, config)
    assert deploy.read_text().endswith("# my edit\n")
    assert not (tmp_path / ".github/workflows/ci.yml").exists()  # nothing was written
    write_workflows(tmp_path, config, force=True)
    assert not deploy.read_text().endswith("# my edit\n")
    assert (tmp_path / ".github/workflows/ci.yml").exists()


def test_a_config_in_a_subdirectory_is_named_by_shipyard_config(tmp_path: Path) -> None:
    config = repo_with(tmp_path, subdir="services/reconcile")
    written = write_workflows(None, config)  # None: the git repository holding the config
    assert written[0] == tmp_path.resolve() / ".github/workflows/ci.yml"
    for path in written:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["env"] == {"SHIPYARD_CONFIG": "services/reconcile/shipyard.yml"}
    deploy = (tmp_path / ".github/workflows/deploy.yml").read_text()
    assert '"$GITHUB_WORKSPACE"/services/reconcile/secrets/bank-token' in deploy


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("deploy@staging.example.com", "local"), "runs on `local`"),
        (
            ("      identity_file: ~/.ssh/prod_deploy", "      trust_unknown_hosts: true"),
            "trust_unknown_hosts is on",
        ),
        (("~/.ssh/prod_deploy", "keys/prod_deploy"), "inside the repository"),
        (
            ("~/.ssh/prod_deploy\n", "~/.ssh/prod_deploy\n      config_file: ~/.ssh/config\n"),
            "does not exist on a CI runner",
        ),
    ],
)
def test_environments_that_cannot_deploy_from_github_are_refused(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    config = repo_with(tmp_path, CONFIG.replace(*edit))
    with pytest.raises(GitHubSetupError, match=re.escape(message)):
        write_workflows(tmp_path, config)
    assert not (tmp_path / ".github").exists()


def test_a_secret_file_in_the_checkout_must_be_ignored_by_git(tmp_path: Path) -> None:
    # CI writes it there; an untracked, unignored file would make the tree dirty
    config = repo_with(tmp_path)
    (tmp_path / ".gitignore").write_text("")
    with pytest.raises(GitHubSetupError, match="secrets/bank-token, which git does not ignore"):
        write_workflows(tmp_path, config)


def test_missing_environments_and_configs_are_config_errors(tmp_path: Path) -> None:
    config = repo_with(tmp_path)
    with pytest.raises(ConfigError, match="no environment named 'prod'"):
        write_workflows(tmp_path, config, production="prod")
    with pytest.raises(ConfigError, match="file not found"):
        write_workflows(tmp_path, tmp_path / "nope.yml")


def test_a_config_outside_the_repository_is_refused(tmp_path: Path) -> None:
    config = repo_with(tmp_path / "elsewhere")
    (tmp_path / "repo").mkdir()
    with pytest.raises(GitHubSetupError, match="is not inside the repository"):
        write_workflows(tmp_path / "repo", config)


# -- the contract: every command the workflows run is one the CLI accepts -----------------


def _cli_commands() -> list[str]:
    workflows = parsed()
    return list(dict.fromkeys(shipyard_commands(workflows)))


@pytest.mark.parametrize("line", _cli_commands())
def test_every_shipyard_command_in_the_workflows_parses(line: str) -> None:
    import typer.main

    from shipyard.cli.main import app

    command: Any = typer.main.get_command(app)
    args = shlex.split(line)[1:]
    path = ["shipyard"]
    while hasattr(command, "commands"):  # a group (typer vendors click)
        name, args = args[0], args[1:]
        sub = command.commands.get(name)
        assert sub is not None, f"the CLI has no `{' '.join([*path[1:], name])}` command"
        command, path = sub, [*path, name]
    # raises a UsageError for an unknown option or a missing argument
    command.make_context(" ".join(path), list(args))
