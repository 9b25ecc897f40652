"""`shipyard init`: a commented shipyard.yml, and with --github the GitHub workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from shipyard import DISTRIBUTION, __version__
from shipyard.cli import output
from shipyard.config.errors import ConfigError
from shipyard.config.location import DEFAULT_FILE
from shipyard.errors import ExitCode

InstallFrom = Literal["auto", "pypi", "wheel"]


def register(app: typer.Typer) -> None:
    """Add `shipyard init` to the CLI."""
    app.command(name="init")(init_command)


def init_command(
    path: Annotated[Path, typer.Option(help="Where to write shipyard.yml.")] = Path(DEFAULT_FILE),
    app_name: Annotated[
        str | None, typer.Option("--app", help="App name (default: from the directory).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Overwrite existing files: shipyard.yml, or with --github the workflows "
            "(shipyard.yml is then left as it is)."
        ),
    ] = False,
    github: Annotated[
        bool,
        typer.Option(
            "--github",
            help="Write .github/workflows/ (CI, deploy to staging, promote, hotfix) from "
            "shipyard.yml; without a shipyard.yml, write that first.",
        ),
    ] = False,
    install_from: Annotated[
        str,
        typer.Option(
            metavar="auto|pypi|wheel",
            help=f"How the workflows install this Shipyard ({__version__}): pypi: "
            f"`pip install {DISTRIBUTION}=={__version__}`; wheel: the exact wheel of this "
            "copy, written to .github/shipyard/ (commit it); auto: pypi if this version is "
            "published there and this copy is that release, else wheel.",
        ),
    ] = "auto",
    install_command: Annotated[
        str | None,
        typer.Option(
            help="Your own install command for the workflows instead (e.g. a pinned git URL)."
        ),
    ] = None,
    staging: Annotated[str, typer.Option(help="The staging environment's name.")] = "staging",
    production: Annotated[
        str, typer.Option(help="The production environment's name.")
    ] = "production",
    python: Annotated[str, typer.Option(help="Python version in the workflows.")] = "3.11",
) -> None:
    """Write a commented shipyard.yml for the current repository (with --github, the GitHub Actions workflows too)."""  # noqa: E501
    if install_from not in ("auto", "pypi", "wheel"):
        output.fail(f"--install-from must be auto, pypi or wheel, not {install_from!r}")
        raise typer.Exit(ExitCode.CONFIG)
    if not github:
        if path.exists() and not force:
            output.fail(f"{path} already exists", "pass --force to overwrite it")
            raise typer.Exit(ExitCode.CONFIG)
        _write_config(path, app_name)
        output.console.print(
            f"wrote {path}: edit hosts and start, then `shipyard config check`", markup=False
        )
        return
    wrote_config = not path.exists()
    if wrote_config:
        _write_config(path, app_name)
        output.console.print(f"wrote {path}", markup=False, soft_wrap=True)
    _write_github(
        path,
        force,
        install_from,  # type: ignore[arg-type]  # checked above
        install_command,
        staging=staging,
        production=production,
        python=python,
    )
    if wrote_config:
        output.console.print(
            f"next: edit {path} (start, hosts: replace the example.com hosts), then "
            f"`shipyard config check` and `shipyard init --github --force` to bring the "
            "workflows up to date; secrets and environments: docs/push-to-production.md",
            markup=False,
            soft_wrap=True,
        )
    else:
        output.console.print(
            "next: create the secrets and environments in docs/push-to-production.md",
            markup=False,
            soft_wrap=True,
        )


def _write_github(
    path: Path,
    force: bool,
    install_from: InstallFrom,
    install_command: str | None,
    *,
    staging: str,
    production: str,
    python: str,
) -> None:
    from shipyard.dist.errors import DistError
    from shipyard.github import GitHubSetupError
    from shipyard.github.install import init_github

    try:
        done = init_github(
            path,
            force,
            requested=install_from,
            custom_command=install_command,
            staging=staging,
            production=production,
            python_version=python,
        )
    except ConfigError as exc:
        output.fail(str(exc), exc.hint)
        raise typer.Exit(ExitCode.CONFIG) from None
    except GitHubSetupError as exc:
        output.fail(exc.message, exc.hint)
        raise typer.Exit(ExitCode.CONFIG) from None
    except DistError as exc:
        output.fail(exc.message, exc.hint)
        raise typer.Exit(ExitCode.FAILED) from None
    for file in done.written:
        output.console.print(f"wrote {file}", markup=False, soft_wrap=True)
    for file in done.removed:
        output.console.print(
            f"removed {file} (another version's wheel)", markup=False, soft_wrap=True
        )
    plan = done.plan
    if plan.source == "pypi":
        how = f"from the package index: {DISTRIBUTION}=={__version__}"
    elif plan.source == "wheel":
        how = f"from the wheel {plan.wheel} (commit it with the workflows)"
    else:
        how = "with your command"
    output.console.print(
        f"the workflows install Shipyard {how}: {plan.reason}", markup=False, soft_wrap=True
    )


def _write_config(path: Path, app_name: str | None) -> None:
    from shipyard.cli.init_template import render_template

    name = app_name or app_name_from(Path.cwd())
    path.write_text(render_template(name))
    ignore = path.parent / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if ".shipyard/" not in lines:
        # the `local` environment keeps its hosts' files there: never part of a release
        with ignore.open("a") as handle:
            handle.write(("\n" if lines and lines[-1] else "") + ".shipyard/\n")


def app_name_from(directory: Path) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in directory.name.lower()).strip("-")
    return (cleaned or "app")[:40] if cleaned[:1].isalpha() else f"app-{cleaned}"[:40]
