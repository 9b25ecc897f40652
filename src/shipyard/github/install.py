"""`shipyard init --github`: how the workflows install Shipyard, and writing it all.

The workflows must run the operator's exact version. `init_github` asks the package
index whether that version is published (only when it has to choose), builds the wheel
of the running copy when the runners need it, writes the workflows and the wheel, and
removes wheels of other versions that an earlier run committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard import DISTRIBUTION
from shipyard.dist.index import published_versions
from shipyard.dist.install import WHEEL_DIR, InstallPlan, Requested, choose_install
from shipyard.dist.running import running_copy
from shipyard.dist.wheel import build_own_wheel, wheel_filename
from shipyard.github.init import find_repo_root, write_workflows


@dataclass(frozen=True)
class GitHubInit:
    """What `init_github` did: files written, old wheels removed, and how CI installs."""

    written: list[Path]
    removed: list[Path]
    plan: InstallPlan


def plan_install(requested: Requested, custom_command: str | None = None) -> InstallPlan:
    """Choose how the workflows install this Shipyard (asks the index only for "auto")."""
    copy = running_copy()
    ask = (
        requested == "auto"
        and not custom_command
        and (copy.checkout is None or copy.checkout.is_release)
    )
    return choose_install(
        copy.version,
        wheel_filename(copy.version),
        requested,
        answer=published_versions() if ask else None,
        checkout=copy.checkout,
        custom_command=custom_command,
    )


def init_github(
    config_path: Path,
    force: bool = False,
    *,
    requested: Requested = "auto",
    custom_command: str | None = None,
    staging: str = "staging",
    production: str = "production",
    python_version: str = "3.11",
) -> GitHubInit:
    """Write the workflows for `config_path` (and the wheel, when CI installs from it).

    Raises ConfigError (shipyard.yml), GitHubSetupError (the workflows cannot be made as
    asked; nothing written) and DistError (the wheel could not be built; nothing written).
    """
    plan = plan_install(requested, custom_command)
    written = write_workflows(
        None,
        config_path,
        force,
        staging=staging,
        production=production,
        python_version=python_version,
        install_command=plan.command,
        wheel=build_own_wheel if plan.source == "wheel" else None,
    )
    removed = []
    if plan.source != "command":  # a command of the operator's may use a wheel there
        removed = _remove_other_wheels(find_repo_root(config_path), keep=plan.wheel)
    return GitHubInit(written, removed, plan)


def _remove_other_wheels(repo: Path, keep: str | None) -> list[Path]:
    """Shipyard wheels an earlier `init --github` committed, other than `keep`."""
    directory = repo / WHEEL_DIR
    prefix = DISTRIBUTION.replace("-", "_") + "-"
    removed = []
    for path in sorted(directory.glob(f"{prefix}*.whl")) if directory.is_dir() else []:
        if keep is None or path.name != Path(keep).name:
            path.unlink()
            removed.append(path)
    return removed
