"""`shipyard setup`: make every host of an environment (or some) a Shipyard host.

The pipeline-level entry is `setup_hosts` (the CLI and `recover` call it):

1. the environment must say what a set-up host needs (`plan.setup_plan.required_settings`)
   and name the team's public keys; otherwise refuse before any connection;
2. a facts probe on every host over Shipyard's own SSH transport (strict host keys) as
   `setup.user`; a host that is not Debian-like or lacks Python 3.11 is refused before
   anything on any host changes;
3. the wheelhouse of the operator's exact Shipyard and dependencies for each host's
   Python and machine (`dist/wheelhouse.py`);
4. the plan, as JSON on the stdin of a pyinfra subprocess (`provision/runner.py`), whose
   JSON lines become the reporter's per-host per-step progress; a failure names the
   host, the step, the command's output and what to do;
5. with `backup.schedule` (and the operator's shipyard.yml, for the secrets), the
   backup timers on the primary (step `backup-schedule`, `execute/setup_schedule.py`).

With `setup.serve`, the `serve` step's files are read from the operator's shipyard.yml
(`config_file`) before any connection (`execute/serve_install.py`); the public line of
serve's key, made on the host, comes back in the report (`HostReport.public_keys`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.model import Environment, HostEntry
from shipyard.config.setup import is_key_line
from shipyard.dist.wheelhouse import Wheelhouse
from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute import setup_schedule
from shipyard.execute.reporter import Reporter
from shipyard.plan.setup_facts import PROBE, HostFacts, parse_facts, refusal
from shipyard.plan.setup_plan import HostPlan, build_host_plan, plan_json, required_settings
from shipyard.transport.target import SshTarget

RUNNER = "shipyard.provision.runner"
_OUTPUT_LINES = 15


class SetupRefused(ShipyardError):
    """Setup will not start: the configuration or a host does not fit (nothing changed)."""

    exit_code = ExitCode.REFUSED


class SetupFailed(ShipyardError):
    """A step failed on a host; what the others did is kept (setup can run again)."""

    def __init__(self, message: str, hint: str, evidence: list[str]) -> None:
        super().__init__(message, hint)
        self.evidence = evidence

    def details(self) -> list[str]:
        return self.evidence


@dataclass
class HostReport:
    label: str
    facts: HostFacts
    steps: dict[str, str] = field(default_factory=dict)  # step -> changed/unchanged/...
    changes: dict[str, list[str]] = field(default_factory=dict)  # --check: what would
    public_keys: list[str] = field(default_factory=list)  # serve's key, made on the host

    @property
    def changed(self) -> bool:
        return any(s in ("changed", "would-change") for s in self.steps.values())


@dataclass
class SetupReport:
    check: bool
    hosts: list[HostReport]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # facts, wheelhouse, pyinfra

    @property
    def changed(self) -> bool:
        return any(host.changed for host in self.hosts)


def select_hosts(env: Environment, only: str | None) -> list[HostEntry]:
    if only is None:
        return list(env.hosts)
    for host in env.hosts:
        if only in (host.address, SshTarget.parse(host.address).host):
            return [host]
    raise SetupRefused(
        f"{only} is not a host of {env.name}",
        hint=f"hosts of {env.name}: {', '.join(h.address for h in env.hosts)}",
    )


def public_keys(env: Environment, base: Path | None = None) -> list[str]:
    """The team's keys: lines as written, `.pub` paths read (relative to the config)."""
    keys = []
    for item in env.setup.authorized_keys:
        if is_key_line(item):
            keys.append(item.strip())
            continue
        path = Path(item).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SetupRefused(
                f"setup.authorized_keys: cannot read {path}: {exc.strerror}",
                hint="give a public key line (ssh-ed25519 AAAA... name) or a .pub file",
            ) from None
        found = [line.strip() for line in lines if is_key_line(line)]
        if not found:
            raise SetupRefused(f"setup.authorized_keys: {path} holds no public key")
        keys.extend(found)
    if not keys:
        raise SetupRefused(
            f"setup.authorized_keys of {env.name} is empty: the deploy user could not log in",
            hint="list the team's public keys (lines or .pub paths) under setup.authorized_keys",
        )
    return keys


async def setup_hosts(
    env: Environment,
    hosts: Sequence[HostEntry],
    *,
    check: bool,
    reporter: Reporter,
    config_dir: Path | None = None,
    config_file: Path | None = None,
) -> SetupReport:
    """Make `hosts` of `env` Shipyard hosts (or, with check, say what would change).
    config_file: the operator's shipyard.yml: the backup timers' secrets (without it they
    are not installed) and what `setup.serve` installs from."""
    started = time.monotonic()
    problems = required_settings(env)
    if problems:
        raise SetupRefused(
            f"{env.name} is not set up for hosts that `shipyard setup` makes",
            hint="set in shipyard.yml: " + "; ".join(problems),
        )
    keys = public_keys(env, config_dir)
    schedule = setup_schedule.backup_plan(env, hosts, config_file)  # secrets, before changes
    serve = None
    if env.setup.serve:
        from shipyard.execute.serve_install import serve_install

        serve = serve_install(config_file, env.name, env.setup.serve_user)
    timings: dict[str, float] = {}
    facts = await _probe_all(env, hosts, reporter)
    timings["facts"] = time.monotonic() - started
    from shipyard.dist.errors import DistError
    from shipyard.dist.wheelhouse import ensure_wheelhouse

    mark = time.monotonic()
    plans: list[HostPlan] = []
    for host in hosts:
        fact = facts[host.address]
        assert fact.python is not None  # refused otherwise
        try:
            house = await asyncio.to_thread(ensure_wheelhouse, fact.python, fact.machine)
        except DistError as exc:
            raise SetupFailed(
                f"{host.address}: shipyard: {exc.message}", exc.hint, evidence=[]
            ) from None
        target = SshTarget.parse(host.address)
        plans.append(
            build_host_plan(
                env,
                host.address,
                target.host,
                target.port or 22,
                fact,
                keys,
                await asyncio.to_thread(_archive, house),
                house.pins[0],
                serve,
            )
        )
    timings["wheelhouse"] = time.monotonic() - mark
    mark = time.monotonic()
    reports = {host.address: HostReport(host.address, facts[host.address]) for host in hosts}
    failures = await _run_pyinfra(env, plans, check, reporter, reports)
    timings["pyinfra"] = time.monotonic() - mark
    if failures:
        label, step, output = failures[0]
        others = [f"{h}: {s}" for h, s, _ in failures[1:]]
        raise SetupFailed(
            f"setup failed on {label} at step {step}"
            + (f" (also: {', '.join(others)})" if others else ""),
            hint="fix what the output says, then run `shipyard setup` again: steps that "
            "are done are not repeated",
            evidence=[f"{label} {step}: {line}" for line in output[-_OUTPUT_LINES:]],
        )
    if schedule is not None:
        mark = time.monotonic()
        primary = reports[env.primary.address]
        timers = await setup_schedule.install(
            schedule, check, reporter, primary.label, primary.steps
        )
        primary.steps[setup_schedule.STEP] = timers.status
        if timers.changes:
            primary.changes[setup_schedule.STEP] = timers.changes
        timings[setup_schedule.STEP] = time.monotonic() - mark
    return SetupReport(check, list(reports.values()), time.monotonic() - started, timings)


async def _probe_all(
    env: Environment, hosts: Sequence[HostEntry], reporter: Reporter
) -> dict[str, HostFacts]:
    results = await asyncio.gather(*(_probe(env, host, reporter) for host in hosts))
    facts = dict(zip((host.address for host in hosts), results, strict=True))
    refused = [(label, refusal(fact)) for label, fact in facts.items()]
    refused_hosts = [(label, why) for label, why in refused if why is not None]
    for label, why in refused_hosts:
        reporter.phase(label, "facts", "failed", why[0])
    if refused_hosts:
        label, (what, hint) = refused_hosts[0]
        more = f" (and {len(refused_hosts) - 1} more hosts)" if len(refused_hosts) > 1 else ""
        raise SetupRefused(f"{label}: {what}; nothing was changed on any host{more}", hint)
    return facts


async def _probe(env: Environment, host: HostEntry, reporter: Reporter) -> HostFacts:
    from shipyard.transport.ssh import SshTransport

    target = SshTarget.parse(host.address)
    transport = SshTransport(SshTarget(target.host, env.setup.user, target.port), env.ssh.options())
    reporter.phase(host.address, "facts", "start")
    try:
        result = await transport.run(["sh", "-c", PROBE], timeout=60)
    finally:
        await transport.close()
    if not result.ok:
        raise SetupFailed(
            f"{host.address}: the facts probe failed (exit {result.exit_status})",
            hint="check that the host runs a POSIX shell and that setup.user can log in",
            evidence=result.stderr.strip().splitlines()[-_OUTPUT_LINES:],
        )
    facts = parse_facts(result.stdout)
    if refusal(facts) is None:
        python = ".".join(map(str, facts.python or ()))
        reporter.phase(host.address, "facts", "ok", f"{facts.os_name}, Python {python}")
    return facts


def _archive(house: Wheelhouse) -> tuple[str, str]:
    import hashlib

    path = house.archive()
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def _runner_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    return env


async def _run_pyinfra(
    env: Environment,
    plans: list[HostPlan],
    check: bool,
    reporter: Reporter,
    reports: dict[str, HostReport],
) -> list[tuple[str, str, list[str]]]:
    """Run the plan in the pyinfra subprocess; report each event; return the failures."""
    options = env.ssh.options()
    document = json.loads(plan_json(plans, check=check))
    document["ssh"] = {
        "known_hosts": str((options.known_hosts or Path("~/.ssh/known_hosts")).expanduser()),
        "identity_file": str(options.identity_file) if options.identity_file else None,
        "config_file": str(options.config_file) if options.config_file else None,
        "connect_timeout": options.connect_timeout,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        RUNNER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_runner_env(),
    )
    assert process.stdin and process.stdout and process.stderr
    process.stdin.write(json.dumps(document).encode())
    await process.stdin.drain()
    process.stdin.close()
    stderr_task = asyncio.create_task(process.stderr.read())
    failures: list[tuple[str, str, list[str]]] = []
    done = False
    async for raw in process.stdout:
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if event.get("done"):
            done = True
            continue
        if "public_key" in event:
            if (key_of := reports.get(str(event["host"]))) is not None:
                key_of.public_keys.append(str(event["public_key"]))
            continue
        label, step, status = str(event["host"]), str(event["step"]), str(event["status"])
        report = reports.get(label)
        if report is not None:
            report.steps[step] = status
            if event.get("changes"):
                report.changes[step] = [str(c) for c in event["changes"]]
        if status == "failed":
            output = [str(line) for line in event.get("output") or []]
            failures.append((label, step, output))
            reporter.phase(label, step, "failed", output[-1] if output else "")
        elif status == "running":
            reporter.phase(label, step, "start")
        else:
            reporter.phase(label, step, "ok", status)
    stderr = (await stderr_task).decode(errors="replace")
    code = await process.wait()
    if not done or code != 0:
        lines = stderr.strip().splitlines()
        raise SetupFailed(
            f"the pyinfra subprocess stopped (exit {code}) before it finished",
            hint="its output is below; run `shipyard setup` again once it is fixed",
            evidence=lines[-_OUTPUT_LINES:],
        )
    planned = {plan.label: [step.name for step in plan.steps] for plan in plans}
    failed = {label for label, _, _ in failures}
    for label, report in reports.items():
        unfinished = [s for s in planned.get(label, []) if report.steps.get(s) in (None, "running")]
        if unfinished and label not in failed:  # pyinfra stopped without saying why here
            lines = stderr.strip().splitlines()[-_OUTPUT_LINES:]
            failures.append((label, unfinished[0], lines))
    return failures
