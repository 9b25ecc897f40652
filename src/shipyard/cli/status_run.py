"""What `shipyard status ENV` does, without the CLI framework: the typer command
(`inspect_cmd.status`) and the fast path (`fastpath`) both run it."""

from __future__ import annotations

import sys
from pathlib import Path

from shipyard.cli import failures, output
from shipyard.errors import ExitCode


def show_status(config: Path, env_name: str, *, json_output: bool, check: bool) -> None:
    """Print ENV's status (a table, or JSON); exit 1 with `check` when a backup is overdue."""
    from shipyard.cli import views
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import queries
    from shipyard.execute.reporter import PlainReporter

    env = failures.guard(lambda: ConfigFile.load(config).environment(env_name))
    data = failures.run(queries.status(env, PlainReporter(stream=sys.stderr)))
    if json_output:
        output.print_json(data.to_json())
    else:
        views.print_status(data)
    if check and data.stale_backups:
        raise SystemExit(ExitCode.FAILED)
