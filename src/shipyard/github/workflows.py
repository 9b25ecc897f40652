"""Pure: the GitHub Actions workflows that take an app from a push to production.

`render_workflows(settings)` returns {path relative to the repository: YAML text} for

- `ci.yml`: on every push (main is covered by deploy.yml) and pull request: check
  shipyard.yml and run the quality gates (the app's tests are among them);
- `deploy.yml`: on a push to main: the checks (ci.yml, called), deploy to staging, then
  promote that very release to production once a reviewer approves the GitHub
  environment `production`;
- `promote.yml`: the same promotion by hand (Run workflow), e.g. for an older release;
- `hotfix.yml`: the emergency lane, by hand, with a ref and a reason.

Each `run:` step is a `shipyard` command, or installs Shipyard, or puts a secret into a
file: what runs in CI is what runs from a laptop. Secrets and workflow inputs reach the
shell only through `env:`, never inside a `run:` script (no script injection, no secret
in a command line), and only the steps that need a secret get it.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shipyard import __version__
from shipyard.dist.install import index_command

CHECKOUT = "actions/checkout@v5"
SETUP_PYTHON = "actions/setup-python@v6"
DEFAULT_IDENTITY_FILE = "~/.ssh/id_ed25519"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_INSTALL = index_command(__version__)
PLACEHOLDER = "placeholder-not-a-secret"
WORKFLOW_DIR = ".github/workflows"

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_SECRET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")
_PYTHON = re.compile(r"^[0-9][0-9A-Za-z.+-]*$")
_RUNNER = re.compile(r"^[A-Za-z0-9._-]+$")
# set by the runner or needed by the job: a secret must not replace them
_RESERVED_ENV = {"PATH", "HOME", "CI", "SHELL", "SHIPYARD_CONFIG", "SHIPYARD_ACTOR"}


class GitHubSetupError(Exception):
    """The workflows cannot be generated as asked; says why and what to change."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class SecretFile:
    """A `from_file` secret: CI writes the GitHub secret `secret` to `path` (mode 0600).

    `path` is `~/...`, absolute, or relative to the repository root.
    """

    secret: str
    path: str


@dataclass(frozen=True)
class Target:
    """What a job needs on the runner to reach one environment.

    env_secrets: `from_env` names; each is a GitHub secret exported under the same name.
    identity_file: where the SSH private key goes (`~/...` or absolute).
    known_hosts: where the known_hosts secret goes; None when shipyard.yml points at a
        known_hosts file committed in the repository (then no secret is needed).
    """

    name: str
    env_secrets: tuple[str, ...] = ()
    secret_files: tuple[SecretFile, ...] = ()
    identity_file: str = DEFAULT_IDENTITY_FILE
    known_hosts: str | None = DEFAULT_KNOWN_HOSTS


@dataclass(frozen=True)
class WorkflowSettings:
    """Everything the workflows depend on. Validated on creation (GitHubSetupError)."""

    app: str
    staging: Target = field(default_factory=lambda: Target("staging"))
    production: Target = field(default_factory=lambda: Target("production"))
    python_version: str = "3.11"
    install_command: str = DEFAULT_INSTALL
    branch: str = "main"
    config_file: str = "shipyard.yml"  # relative to the repository root
    ssh_private_key_secret: str = "SSH_PRIVATE_KEY"  # noqa: S105 - a name, not a value
    ssh_known_hosts_secret: str = "SSH_KNOWN_HOSTS"  # noqa: S105 - a name, not a value
    lock_wait: int = 300
    runner: str = "ubuntu-latest"

    def __post_init__(self) -> None:
        _check(_NAME.match(self.app), f"app name {self.app!r}", "lowercase letters, digits, -")
        for target in (self.staging, self.production):
            _check(_NAME.match(target.name), f"environment name {target.name!r}", "a-z 0-9 -")
        if self.staging.name == self.production.name:
            raise GitHubSetupError(
                f"staging and production are both {self.staging.name!r}",
                "name two different environments of shipyard.yml",
            )
        _check(_PYTHON.match(self.python_version), "python version", "e.g. 3.11")
        _check(_BRANCH.match(self.branch), f"branch {self.branch!r}", "e.g. main")
        _check(_RUNNER.match(self.runner), f"runner {self.runner!r}", "e.g. ubuntu-latest")
        if not self.install_command.strip():
            raise GitHubSetupError(
                "the install command is empty", f"e.g. {index_command(__version__)}"
            )
        if not 0 <= self.lock_wait <= 86400:
            raise GitHubSetupError("lock_wait must be 0-86400 seconds")
        config = self.config_file
        if not config or config.startswith(("/", "~")) or ".." in config.split("/"):
            raise GitHubSetupError(
                f"config file {config!r} must be a path inside the repository",
                "e.g. shipyard.yml or app/shipyard.yml",
            )
        self._check_secret_names()

    def _check_secret_names(self) -> None:
        uses: dict[str, str] = {}

        def claim(name: str, purpose: str) -> None:
            if not _SECRET.match(name) or name.upper().startswith("GITHUB_"):
                raise GitHubSetupError(
                    f"{name!r} ({purpose}) cannot be a GitHub secret name",
                    "GitHub secret names are letters, digits and _, not starting with a digit "
                    "or GITHUB_; rename the variable in shipyard.yml (from_env)",
                )
            if name in _RESERVED_ENV or name.upper().startswith("RUNNER_"):
                raise GitHubSetupError(
                    f"{name!r} ({purpose}) would replace a variable the CI job needs",
                    "rename the variable in shipyard.yml (from_env)",
                )
            # GitHub secret names are case-insensitive
            known = uses.setdefault(name.upper(), purpose)
            if known != purpose:
                raise GitHubSetupError(
                    f"the GitHub secret {name.upper()} would serve two purposes: "
                    f"{known} and {purpose}",
                    "give them different names in shipyard.yml",
                )

        claim(self.ssh_private_key_secret, "the SSH private key")
        claim(self.ssh_known_hosts_secret, "the SSH known_hosts lines")
        for target in (self.staging, self.production):
            for name in target.env_secrets:
                claim(name, f"the environment variable {name}")
            for item in target.secret_files:
                claim(item.secret, f"the secret file {item.secret} (from_file)")
                _shell_path(item.path)  # a path CI can write
            _shell_path(target.identity_file, in_repo=False)
            if target.known_hosts is not None:
                _shell_path(target.known_hosts, in_repo=False)

    @property
    def needs_config_env(self) -> bool:
        return self.config_file != "shipyard.yml"

    def concurrency_group(self, target: Target) -> str:
        return f"shipyard-{self.app}-{target.name}"


def _check(ok: object, what: str, example: str) -> None:
    if not ok:
        raise GitHubSetupError(f"{what} cannot be used in a workflow", f"use {example}")


def render_workflows(settings: WorkflowSettings) -> dict[str, str]:
    """{".github/workflows/NAME.yml": text} for ci, deploy, promote and hotfix."""
    return {
        f"{WORKFLOW_DIR}/ci.yml": _ci(settings),
        f"{WORKFLOW_DIR}/deploy.yml": _deploy(settings),
        f"{WORKFLOW_DIR}/promote.yml": _promote(settings),
        f"{WORKFLOW_DIR}/hotfix.yml": _hotfix(settings),
    }


def github_secrets(settings: WorkflowSettings) -> dict[str, list[str]]:
    """The GitHub secrets the workflows read: {secret name: environments that use it}."""
    found: dict[str, list[str]] = {}

    def add(name: str, env: str) -> None:
        envs = found.setdefault(name, [])
        if env not in envs:
            envs.append(env)

    for target in (settings.staging, settings.production):
        add(settings.ssh_private_key_secret, target.name)
        if target.known_hosts is not None:
            add(settings.ssh_known_hosts_secret, target.name)
        for name in target.env_secrets:
            add(name, target.name)
        for item in target.secret_files:
            add(item.secret, target.name)
    return found


# -- the workflows -------------------------------------------------------------------------


def _ci(s: WorkflowSettings) -> str:
    staging, production = s.staging, s.production
    names = _unique(n for t in (staging, production) for n in t.env_secrets)
    files = _unique_files([*staging.secret_files, *production.secret_files])
    lines = [
        *_header(
            s,
            "ci",
            [
                "On every push and pull request: check shipyard.yml and run the quality",
                f"gates (the app's tests are among them). Pushes to {s.branch} get the same",
                "checks from deploy.yml, which calls this workflow before it deploys.",
                "No secret is used here: shipyard.yml's secrets get placeholder values so",
                "that `shipyard config check` can resolve them.",
            ],
        ),
        "name: ci",
        "",
        "on:",
        "  push:",
        f"    branches-ignore: [{_q(s.branch)}]  # {s.branch}: deploy.yml runs these checks",
        "  pull_request:",
        "  workflow_call:",
        "",
        *_common(s),
        "jobs:",
        "  gates:",
        "    name: config check and quality gates",
        f"    runs-on: {s.runner}",
        "    timeout-minutes: 60",
    ]
    if names:
        lines += ["    env:", "      # not the real values: CI never needs them"]
        lines += [f"      {name}: {_q(PLACEHOLDER)}" for name in names]
    lines += [
        "    steps:",
        *_checkout(fetch_all=False),
        *_install(s),
    ]
    if files:
        lines += _secret_files_step(files, placeholder=True)
    lines += [
        *_step(
            "Check shipyard.yml",
            [
                f"shipyard config check {staging.name}",
                f"shipyard config check {production.name}",
            ],
        ),
        *_step("Quality gates", [f"shipyard gates {staging.name}"]),
    ]
    return _text(lines)


def _deploy(s: WorkflowSettings) -> str:
    staging, production = s.staging, s.production
    run_url = "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
    lines = [
        *_header(
            s,
            "deploy",
            [
                f"On a push to {s.branch}: the checks (ci.yml), then `shipyard deploy "
                f"{staging.name}`,",
                f"then `shipyard promote {staging.name} {production.name}` of that very "
                "release once a",
                f"reviewer approves the GitHub environment `{production.name}` (Settings >",
                "Environments > required reviewers). One deploy per environment at a time.",
            ],
        ),
        "name: deploy",
        "",
        "on:",
        "  push:",
        f"    branches: [{_q(s.branch)}]",
        "",
        *_common(s),
        "jobs:",
        "  ci:",
        "    name: checks and gates",
        f"    uses: ./{WORKFLOW_DIR}/ci.yml",
        "",
        "  staging:",
        f"    name: deploy to {staging.name}",
        "    needs: ci",
        *_job_head(s, staging),
        "    steps:",
        *_checkout(fetch_all=True),
        *_install(s),
        *_access_steps(s, [staging]),
        *_step(
            f"Deploy to {staging.name}",
            [
                f'shipyard deploy {staging.name} --ref "$GITHUB_SHA" --lock-wait {s.lock_wait} '
                f'--message "push to {s.branch}: {run_url}"'
            ],
            env=_secret_env(staging),
        ),
        *_status_on_failure(staging),
        "",
        "  production:",
        f"    name: promote to {production.name}",
        "    needs: staging",
        *_job_head(s, production),
        "    steps:",
        *_checkout(fetch_all=True),
        *_install(s),
        *_access_steps(s, [production, staging]),
        *_step(
            f"Promote to {production.name}",
            [
                f"# the release this run put on {staging.name}: a release id is the "
                "commit's first 12 hex digits",
                f'shipyard promote {staging.name} {production.name} "${{GITHUB_SHA::12}}" '
                f"--lock-wait {s.lock_wait}",
            ],
            env=_secret_env(production),
        ),
        *_status_on_failure(production),
    ]
    return _text(lines)


def _promote(s: WorkflowSettings) -> str:
    staging, production = s.staging, s.production
    promote = f"shipyard promote {staging.name} {production.name}"
    lines = [
        *_header(
            s,
            "promote",
            [
                f"By hand (Actions > promote > Run workflow): promote a release that passed "
                f"{staging.name}",
                f"to {production.name}, e.g. one whose automatic promotion was not approved in "
                "time.",
                f"A reviewer of the GitHub environment `{production.name}` approves it too.",
            ],
        ),
        "name: promote",
        "",
        "on:",
        "  workflow_dispatch:",
        "    inputs:",
        "      release:",
        "        description: >-",
        f"          Release id to promote (see `shipyard releases {staging.name}`);",
        f"          empty: the release active on {staging.name}",
        "        required: false",
        "        type: string",
        '        default: ""',
        "",
        *_common(s),
        "jobs:",
        "  production:",
        f"    name: promote to {production.name}",
        *_job_head(s, production),
        "    steps:",
        *_checkout(fetch_all=True),
        *_install(s),
        *_access_steps(s, [production, staging]),
        *_step(
            f"Promote to {production.name}",
            [
                'if [ -n "$RELEASE" ]; then',
                f'  {promote} "$RELEASE" --lock-wait {s.lock_wait}',
                "else",
                f"  {promote} --lock-wait {s.lock_wait}",
                "fi",
            ],
            env={"RELEASE": _expr("inputs.release")} | _secret_env(production),
        ),
        *_status_on_failure(production),
    ]
    return _text(lines)


def _hotfix(s: WorkflowSettings) -> str:
    production = s.production
    lines = [
        *_header(
            s,
            "hotfix",
            [
                "The emergency lane, by hand (Actions > hotfix > Run workflow): "
                f"`shipyard hotfix {production.name}`",
                f"deploys REF now, without passing {s.staging.name} first. It keeps the "
                "health check, the",
                "lock, the artifact digest and the automatic rollback, and records the reason.",
                f"A reviewer of the GitHub environment `{production.name}` approves the run.",
            ],
        ),
        "name: hotfix",
        f"run-name: {_q(f'hotfix {production.name}: ' + _expr('inputs.ref'))}",
        "",
        "on:",
        "  workflow_dispatch:",
        "    inputs:",
        "      ref:",
        "        description: Branch, tag or commit with the fix",
        "        required: true",
        "        type: string",
        "      reason:",
        "        description: Why this cannot wait (recorded in the deployment history)",
        "        required: true",
        "        type: string",
        "",
        *_common(s),
        "jobs:",
        "  hotfix:",
        f"    name: hotfix {production.name}",
        *_job_head(s, production),
        "    steps:",
        *_checkout(fetch_all=True, ref=_expr("inputs.ref")),
        *_install(s),
        *_access_steps(s, [production]),
        *_step(
            f"Hotfix {production.name}",
            [
                f'shipyard hotfix {production.name} --ref "$REF" --reason "$REASON" '
                f"--lock-wait {s.lock_wait}"
            ],
            # inputs reach the shell as variables, never as script text
            env={"REF": _expr("inputs.ref"), "REASON": _expr("inputs.reason")}
            | _secret_env(production),
        ),
        *_status_on_failure(production),
    ]
    return _text(lines)


# -- pieces ------------------------------------------------------------------------------


def _header(s: WorkflowSettings, name: str, about: list[str]) -> list[str]:
    return [
        f"# {name}.yml for {s.app}: written by `shipyard init --github` (Shipyard {__version__}).",
        *[f"# {line}" for line in about],
        "# Guide: docs/push-to-production.md in Shipyard. Edit freely; "
        "`shipyard init --github --force`",
        "# writes it again from shipyard.yml.",
    ]


def _common(s: WorkflowSettings) -> list[str]:
    lines = ["permissions:", "  contents: read", "", "defaults:", "  run:", "    shell: bash", ""]
    if s.needs_config_env:
        lines += ["env:", f"  SHIPYARD_CONFIG: {_q(s.config_file)}", ""]
    return lines


def _job_head(s: WorkflowSettings, target: Target) -> list[str]:
    return [
        f"    runs-on: {s.runner}",
        "    timeout-minutes: 60",
        f"    environment: {_q(target.name)}",
        "    concurrency:  # one deploy per environment at a time; none is cancelled",
        f"      group: {_q(s.concurrency_group(target))}",
        "      cancel-in-progress: false",
    ]


def _checkout(*, fetch_all: bool, ref: str | None = None) -> list[str]:
    name = "Check out, all history (Shipyard builds the release from git)"
    lines = [f"      - name: {name if fetch_all else 'Check out'}", f"        uses: {CHECKOUT}"]
    lines += ["        with:"]
    if ref is not None:
        lines += [f"          ref: {ref}"]
    if fetch_all:
        lines += ["          fetch-depth: 0"]
    lines += ["          persist-credentials: false"]
    return lines


def _install(s: WorkflowSettings) -> list[str]:
    return [
        "      - name: Set up Python",
        f"        uses: {SETUP_PYTHON}",
        "        with:",
        f"          python-version: {_q(s.python_version)}",
        *_step("Install Shipyard", s.install_command.strip().splitlines()),
    ]


def _access_steps(s: WorkflowSettings, targets: Sequence[Target]) -> list[str]:
    """SSH key and known_hosts for every target's paths; the first one's secret files.

    The first target is the one deployed to; the others are only read (promotion reads
    the source environment's history over SSH, not its secrets).
    """
    keys = _unique(t.identity_file for t in targets)
    known = _unique(t.known_hosts for t in targets if t.known_hosts is not None)
    env = {s.ssh_private_key_secret: _expr(f"secrets.{s.ssh_private_key_secret}")}
    needed = [s.ssh_private_key_secret]
    if known:
        env[s.ssh_known_hosts_secret] = _expr(f"secrets.{s.ssh_known_hosts_secret}")
        needed.append(s.ssh_known_hosts_secret)
    script = [*_require(needed), "umask 077  # every file and directory below: owner only"]
    for directory in _unique(_parent(path) for path in [*keys, *known]):
        script.append(f"mkdir -p {directory}")
    for path in keys:
        script.append(f"printf '%s\\n' \"${s.ssh_private_key_secret}\" > {_shell_path(path)}")
    for path in known:
        script.append(f"printf '%s\\n' \"${s.ssh_known_hosts_secret}\" > {_shell_path(path)}")
    script.append("chmod 600 " + " ".join(_shell_path(p) for p in [*keys, *known]))
    lines = _step("SSH key and known hosts from secrets (never printed)", script, env=env)
    if targets[0].secret_files:
        lines += _secret_files_step(targets[0].secret_files, placeholder=False)
    if targets[0].env_secrets:
        # GitHub gives a secret that does not exist as "": never deploy that
        lines += _step(
            "The app's secrets are set (never printed)",
            _require(targets[0].env_secrets),
            env=_secret_env(targets[0]),
        )
    return lines


def _require(names: Sequence[str]) -> list[str]:
    """Shell lines that fail the step, naming them, if any of these variables is empty."""
    return [
        'missing=""',
        *[f'[ -n "${name}" ] || missing="$missing {name}"' for name in names],
        'if [ -n "$missing" ]; then',
        '  echo "::error::create the secrets:$missing (Settings > Secrets and variables > '
        "Actions, or the environment's secrets)\"",
        "  exit 1",
        "fi",
    ]


def _secret_files_step(files: Sequence[SecretFile], *, placeholder: bool) -> list[str]:
    script = [] if placeholder else _require([item.secret for item in files])
    script.append("umask 077")
    env: dict[str, str] = {}
    for item in files:
        target = _shell_path(item.path)
        script.append(f"mkdir -p {_parent(item.path)}")
        if placeholder:
            script.append(f"printf '%s\\n' {_q(PLACEHOLDER)} > {target}")
        else:
            env[item.secret] = _expr(f"secrets.{item.secret}")
            script.append(f"printf '%s\\n' \"${item.secret}\" > {target}")
    name = "Placeholder secret files (shipyard.yml's from_file)"
    if not placeholder:
        name = "Secret files from secrets (shipyard.yml's from_file)"
    return _step(name, script, env=env)


def _status_on_failure(target: Target) -> list[str]:
    return _step(
        f"What {target.name} runs now",
        [f"shipyard status {target.name}"],
        condition="failure()",
    )


def _secret_env(target: Target) -> dict[str, str]:
    return {name: _expr(f"secrets.{name}") for name in target.env_secrets}


def _step(
    name: str,
    script: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    condition: str | None = None,
) -> list[str]:
    lines = [f"      - name: {_q(name) if _needs_quotes(name) else name}"]
    if condition:
        lines.append(f"        if: {_expr(condition)}")
    if env:
        lines.append("        env:")
        lines += [f"          {key}: {value}" for key, value in env.items()]
    lines.append("        run: |")
    lines += [f"          {line}".rstrip() for line in script]
    return lines


# -- small helpers -------------------------------------------------------------------------


def _shell_path(path: str, *, in_repo: bool = True) -> str:
    """A path as one shell word: `~/x` -> "$HOME"/x, relative -> "$GITHUB_WORKSPACE"/x."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    if path.startswith("~"):
        raise GitHubSetupError(f"{path!r}: write ~/PATH or an absolute path")
    if path.startswith("/"):
        return shlex.quote(path)
    if not in_repo:
        raise GitHubSetupError(
            f"{path!r}: CI would write this file inside the repository",
            "use an absolute path or ~/PATH for SSH files (ssh.identity_file, ssh.known_hosts)",
        )
    if not path or ".." in path.split("/"):
        raise GitHubSetupError(f"{path!r} must stay inside the repository")
    return '"$GITHUB_WORKSPACE"/' + shlex.quote(path)


def _parent(path: str) -> str:
    """The directory holding `path`, as one shell word."""
    parent = posixpath.dirname(path)
    if parent == "~":
        return '"$HOME"'
    if parent in ("", "/"):
        return '"$GITHUB_WORKSPACE"' if parent == "" else "/"
    return _shell_path(parent)


def _expr(text: str) -> str:
    return "${{ " + text + " }}"


def _q(text: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def _needs_quotes(text: str) -> bool:
    return bool(re.search(r"[:#'\"{}\[\],&*!|>%@`]", text)) or text != text.strip()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _unique_files(files: Iterable[SecretFile]) -> list[SecretFile]:
    return list(dict.fromkeys(files))


def _text(lines: list[str]) -> str:
    return "\n".join(lines).rstrip() + "\n"
