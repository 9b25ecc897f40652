"""Pure: how a GitHub runner installs the operator's exact Shipyard, and why that way.

`choose_install` decides between the package index (the version is published there, and
the running copy is that release) and the wheel of the running copy committed in the
repository (`.github/shipyard/`), which works on a runner the day it is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shipyard import DISTRIBUTION
from shipyard.dist.index import IndexAnswer
from shipyard.dist.running import Checkout

Requested = Literal["auto", "pypi", "wheel"]
Source = Literal["pypi", "wheel", "command"]
WHEEL_DIR = ".github/shipyard"  # relative to the repository root


@dataclass(frozen=True)
class InstallPlan:
    """How the workflows install Shipyard.

    source: "pypi" (the package index), "wheel" (the committed wheel) or "command" (the
    operator's own command); command: the `Install Shipyard` step's shell lines;
    wheel: the wheel's path in the repository when source is "wheel"; reason: why, in
    words for the operator.
    """

    source: Source
    command: str
    reason: str
    wheel: str | None = None


def index_command(version: str) -> str:
    return f"python -m pip install {DISTRIBUTION}=={version}"


def wheel_command(wheel: str) -> str:
    """Install the wheel as committed in the workflow's own commit ($GITHUB_SHA).

    Read from git rather than the work tree because the hotfix workflow checks out
    another ref, which may hold an older wheel or none.
    """
    name = wheel.rsplit("/", 1)[-1]
    return "\n".join(
        [
            f"# the exact Shipyard that wrote these workflows, committed in {WHEEL_DIR}/",
            f'git show "$GITHUB_SHA:{wheel}" > "$RUNNER_TEMP/{name}"',
            f'python -m pip install "$RUNNER_TEMP/{name}"',
        ]
    )


def choose_install(
    version: str,
    wheel_name: str,
    requested: Requested = "auto",
    *,
    answer: IndexAnswer | None = None,
    checkout: Checkout | None = None,
    custom_command: str | None = None,
) -> InstallPlan:
    """Decide how the workflows install `version`.

    wheel_name: the file name the running copy's wheel has; answer: what the index said
    (None: not asked); checkout: the source checkout this copy runs from, if any.
    """
    wheel = f"{WHEEL_DIR}/{wheel_name}"
    from_index = InstallPlan("pypi", index_command(version), "", None)
    from_wheel = InstallPlan("wheel", wheel_command(wheel), "", wheel)
    if custom_command is not None and custom_command.strip():
        return InstallPlan("command", custom_command.strip(), "the install command you gave")
    if requested == "pypi":
        return _because(from_index, f"as asked (--install-from pypi); not checked: {version} "
                        "must be on the package index before the workflows run")
    if requested == "wheel":
        return _because(from_wheel, "as asked (--install-from wheel)")
    if checkout is not None and not checkout.is_release:
        what = "has uncommitted changes" if checkout.tagged else f"is not the tag v{version}"
        return _because(
            from_wheel,
            f"this Shipyard runs from a checkout ({checkout.path}) that {what}, so the "
            f"package index's {version}, if any, is other code",
        )
    if answer is None or answer.versions is None:
        error = answer.error if answer is not None else "not asked"
        where = answer.url if answer is not None else "the package index"
        return _because(
            from_wheel,
            f"could not ask {where} whether {version} is published ({error})",
        )
    if version not in answer.versions:
        return _because(from_wheel, f"{version} is not published on {answer.url} (yet)")
    return _because(from_index, f"{version} is published on {answer.url}")


def _because(plan: InstallPlan, reason: str) -> InstallPlan:
    return InstallPlan(plan.source, plan.command, reason, plan.wheel)
