"""`parity`: what differs between two environments."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, JsonOption
from shipyard.errors import ExitCode

if TYPE_CHECKING:
    from shipyard.plan.parity import ParityReport


def register(app: typer.Typer) -> None:
    app.command()(parity)


def parity(
    first: str = typer.Argument(metavar="ENV_A", help="An environment, e.g. staging."),
    second: str = typer.Argument(metavar="ENV_B", help="The other, e.g. production."),
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Compare two environments side by side: the merged configuration (secrets by
    name, never their values), each host's facts (OS release, kernel, Python, nginx,
    the packages a Shipyard host needs, Shipyard's version) and the active release.
    Every difference is listed; keys that name where an environment is (hosts, root,
    url, ssh, nginx.listen, server names, promotion, metrics) are shown but not counted.

    Exit codes: 0 the two match; 1 they differ; 2 bad configuration; 4 a host could not
    be reached."""
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import describe
    from shipyard.execute.reporter import PlainReporter
    from shipyard.plan.parity import parity as compare

    loaded = failures.guard(lambda: ConfigFile.load(config))
    envs = failures.guard(lambda: [loaded.environment(first), loaded.environment(second)])
    reporter = PlainReporter(stream=sys.stderr)

    async def gather() -> list[Any]:
        import asyncio

        return list(await asyncio.gather(*(describe.facts(env, reporter) for env in envs)))

    facts = failures.run(gather())
    report = compare(
        first,
        second,
        {env.name: env.model_dump(mode="json") for env in envs},
        {env.name: found for env, found in zip(envs, facts, strict=True)},
    )
    if json_output:
        output.print_json({**_encodable(report), "differ": report.differ})
    else:
        print_parity(report)
    if report.differ:
        raise typer.Exit(ExitCode.FAILED)


def _encodable(report: ParityReport) -> dict[str, Any]:
    from shipyard.protocol.codec import encode

    data: dict[str, Any] = encode(report)
    return data


def _cell(value: Any) -> str:
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value)


def print_parity(report: ParityReport) -> None:
    a, b = report.first, report.second
    host_rows = []
    for env, hosts in report.facts.items():
        for host, f in hosts.items():
            host_rows.append(
                [
                    env,
                    host,
                    f.os_name or f"{f.os_id} {f.os_version}",
                    f.python,
                    f.nginx or "(none)",
                    f.shipyard,
                    f.active_release or "-",
                ]
            )
    output.table(
        "hosts",
        ["env", "host", "os", "python", "nginx", "shipyard", "active release"],
        host_rows,
    )
    counted = [d for d in report.differences if not d.expected]
    expected = [d for d in report.differences if d.expected]
    for d in counted:
        values = "; ".join(f"{where} {_cell(value)}" for where, value in d.values.items())
        output.console.print(f"differs: {d.area} {d.key}: {values}", markup=False)
    if expected:
        output.console.print(
            "differ as expected (where each environment is): "
            + ", ".join(sorted({d.key.split(".")[0] for d in expected})),
            markup=False,
        )
    verdict = f"{a} and {b} differ" if counted else f"{a} and {b} match"
    output.console.print(verdict, markup=False)
