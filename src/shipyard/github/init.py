"""`shipyard init --github`: read shipyard.yml, write .github/workflows/."""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment
from shipyard.dist.install import WHEEL_DIR
from shipyard.github.workflows import (
    DEFAULT_IDENTITY_FILE,
    DEFAULT_INSTALL,
    DEFAULT_KNOWN_HOSTS,
    GitHubSetupError,
    SecretFile,
    Target,
    WorkflowSettings,
    render_workflows,
)


def settings_from_config(
    config: ConfigFile,
    repo_dir: Path,
    *,
    staging: str = "staging",
    production: str = "production",
    python_version: str = "3.11",
    install_command: str = DEFAULT_INSTALL,
    branch: str = "main",
) -> WorkflowSettings:
    """What the workflows need from a loaded shipyard.yml in the repository `repo_dir`.

    Raises ConfigError when an environment does not resolve, and GitHubSetupError when
    an environment cannot be deployed from a GitHub runner as configured.
    """
    config_dir = _inside(config.path.resolve().parent, repo_dir.resolve(), config.path)
    config_file = posixpath.join(config_dir, config.path.name) if config_dir else config.path.name
    document = config.document()
    return WorkflowSettings(
        app=document.app,
        staging=_target(config.environment(staging), config_dir),
        production=_target(config.environment(production), config_dir),
        python_version=python_version,
        install_command=install_command,
        branch=branch,
        config_file=config_file,
    )


def write_workflows(
    repo_dir: Path | None,
    config_path: Path,
    force: bool = False,
    *,
    staging: str = "staging",
    production: str = "production",
    python_version: str = "3.11",
    install_command: str = DEFAULT_INSTALL,
    branch: str = "main",
    wheel: Callable[[Path], Path] | None = None,
) -> list[Path]:
    """Write the workflows for `config_path` into `repo_dir`/.github/workflows/.

    `repo_dir` None: the git repository holding `config_path`. Refuses (GitHubSetupError,
    nothing written) when a workflow file exists with other content, unless `force`.
    `wheel`: builds a wheel of Shipyard into the directory it is given, once nothing
    refuses; it is written to .github/shipyard/ (the workflows' install command uses
    it). Returns the paths written. ConfigError when shipyard.yml is
    missing or invalid.
    """
    config = ConfigFile.load(config_path)
    repo = (repo_dir or find_repo_root(config_path)).resolve()
    settings = settings_from_config(
        config,
        repo,
        staging=staging,
        production=production,
        python_version=python_version,
        install_command=install_command,
        branch=branch,
    )
    _check_secret_files_ignored(settings, repo)
    files = {repo / relative: text for relative, text in render_workflows(settings).items()}
    clashes = [
        path for path, text in files.items() if path.exists() and _read(path) != text and not force
    ]
    if clashes:
        listed = ", ".join(str(path.relative_to(repo)) for path in clashes)
        raise GitHubSetupError(
            f"not overwriting {listed} (already there, with other content); nothing was written",
            "pass --force to overwrite (commit your edits first to keep them in git)",
        )
    written = []
    if wheel is not None:
        with tempfile.TemporaryDirectory(prefix="shipyard-wheel-") as scratch:
            built = wheel(Path(scratch))
            target = repo / WHEEL_DIR / built.name
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(built, temporary)
            os.replace(temporary, target)
        written.append(target)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
        written.append(path)
    return written


def _check_secret_files_ignored(settings: WorkflowSettings, repo: Path) -> None:
    """CI writes a relative `from_file` secret into the checkout: git must ignore it.

    An untracked file that git does not ignore makes the tree dirty, and a dirty tree is
    not deployed.
    """
    for target in (settings.staging, settings.production):
        for item in target.secret_files:
            if item.path.startswith(("/", "~")):
                continue
            try:
                result = subprocess.run(
                    ["git", "-C", str(repo), "check-ignore", "-q", "--no-index", item.path],
                    capture_output=True,
                    check=False,
                )
            except OSError:
                return
            if result.returncode == 1:  # not ignored (128: not a git repository)
                raise GitHubSetupError(
                    f"secret {item.secret} comes from {item.path}, which git does not ignore; "
                    "CI writes it there, and an untracked file makes the deploy refuse a "
                    "dirty tree",
                    f"add {item.path} to .gitignore (and keep it out of git)",
                )


def find_repo_root(config_path: Path) -> Path:
    """The top of the git repository holding `config_path` (else its directory)."""
    directory = config_path.resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return directory
    top = result.stdout.strip()
    return Path(top) if result.returncode == 0 and top else directory


def _target(env: Environment, config_dir: str) -> Target:
    where = f"environments.{env.name}"
    if any(host.is_local for host in env.hosts):
        raise GitHubSetupError(
            f"{where}: runs on `local`; from GitHub that would be the CI runner itself",
            "deploy from GitHub to environments whose hosts are servers (user@host)",
        )
    if env.ssh.trust_unknown_hosts:
        raise GitHubSetupError(
            f"{where}: ssh.trust_unknown_hosts is on, and Shipyard refuses it in CI",
            "turn it off; the workflows write verified host keys from the SSH_KNOWN_HOSTS "
            "secret into known_hosts",
        )
    if env.ssh.config_file and env.ssh.config_file.startswith(("/", "~")):
        raise GitHubSetupError(
            f"{where}: ssh.config_file {env.ssh.config_file} does not exist on a CI runner",
            "remove it for this environment, or commit the ssh config in the repository "
            "and give its path relative to the repository root",
        )
    if env.ssh.identity_file and not env.ssh.identity_file.startswith(("/", "~/")):
        raise GitHubSetupError(
            f"{where}: ssh.identity_file {env.ssh.identity_file} is inside the repository",
            "a private key never goes in the repository: use ~/.ssh/NAME or an absolute path",
        )
    known_hosts: str | None = env.ssh.known_hosts or DEFAULT_KNOWN_HOSTS
    if known_hosts and not known_hosts.startswith(("/", "~")):
        known_hosts = None  # committed in the repository: used as it is, no secret
    env_secrets: list[str] = []
    files: list[SecretFile] = []
    for key, ref in env.secrets.items():
        if ref.from_env is not None:
            env_secrets.append(ref.from_env)
        else:
            assert ref.from_file is not None
            path = ref.from_file
            if not path.startswith(("/", "~")):
                path = posixpath.normpath(posixpath.join(config_dir, path))
            files.append(SecretFile(secret=key, path=path))
    return Target(
        name=env.name,
        env_secrets=tuple(dict.fromkeys(env_secrets)),
        secret_files=tuple(files),
        identity_file=env.ssh.identity_file or DEFAULT_IDENTITY_FILE,
        known_hosts=known_hosts,
    )


def _inside(directory: Path, repo: Path, config_path: Path) -> str:
    """`directory` relative to `repo` ("" for the top), in / form."""
    try:
        relative = directory.relative_to(repo)
    except ValueError:
        raise GitHubSetupError(
            f"{config_path} is not inside the repository {repo}",
            "run `shipyard init --github` in the app's git repository",
        ) from None
    return relative.as_posix() if relative.parts else ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
