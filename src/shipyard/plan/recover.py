"""Decisions of a recovery onto a new server (`shipyard recover ENV --to HOST`): which
host entry the new server gets, which release to deploy, which snapshot of each source
to restore, and how the recovery time divides between the steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shipyard.config.model import Environment, HostEntry
from shipyard.protocol.backup import BackupRecord
from shipyard.transport.target import SshTarget


def target_environment(
    env: Environment, to: str, root: str | None = None, listen: str | None = None
) -> Environment:
    """The environment as it runs on the new server alone. HOST is an entry of the
    environment's `hosts:` (shipyard.yml already names the new server: used as it is),
    or a new address that takes the primary's root and listen address unless given."""
    listed = next((h for h in env.hosts if h.address == to), None)
    if listed is not None:
        entry = listed.model_copy(
            update={k: v for k, v in (("root", root), ("listen", listen)) if v}
        )
    else:
        entry = HostEntry(
            address=to,
            root=root or env.primary.root,
            listen=listen or env.primary.listen,
        )
    return env.model_copy(update={"hosts": [entry]})


def old_hosts(env: Environment, to: str) -> list[HostEntry]:
    """The environment's other hosts: any that still answers knows the active release."""
    return [h for h in env.hosts if h.address != to]


@dataclass(frozen=True)
class ReleaseChoice:
    """The release a recovery deploys, its recorded digest (None: none recorded, the
    rebuild is not checked) and where that came from."""

    release_id: str
    digest: str | None
    source: str


def release_from_backups(records: Sequence[BackupRecord]) -> ReleaseChoice | None:
    """The release serving when the newest backup that names one was taken (its
    snapshot's `release=` and `digest=` tags, read from the repository)."""
    tagged = [r for r in records if r.release_id]
    if not tagged:
        return None
    newest = max(tagged, key=lambda r: r.started_at)
    return ReleaseChoice(
        str(newest.release_id),
        newest.release_digest,
        f"the tags of snapshot {newest.snapshot_id} ({newest.source})",
    )


def digest_for(records: Sequence[BackupRecord], release_id: str) -> str | None:
    """A digest the repository recorded for `release_id`, if any backup names it."""
    return next(
        (r.release_digest for r in records if r.release_id == release_id and r.release_digest),
        None,
    )


def candidates(records: Sequence[BackupRecord], sources: Sequence[str]) -> dict[str, list[str]]:
    """Per source, its snapshots newest first: a recovery restores the newest one that
    passes `verify`."""
    return {
        name: [
            r.snapshot_id
            for r in sorted(records, key=lambda r: r.started_at, reverse=True)
            if r.source == name
        ]
        for name in sources
    }


def shares(steps: Mapping[str, float]) -> dict[str, float]:
    """Each step's share of the total, in percent (rounded to one decimal)."""
    total = sum(steps.values())
    if total <= 0:
        return {name: 0.0 for name in steps}
    return {name: round(100 * seconds / total, 1) for name, seconds in steps.items()}


def describe_steps(steps: Mapping[str, float]) -> str:
    """`setup 0.4s (2%), restore 6.1s (30%), ...`"""
    percent = shares(steps)
    return ", ".join(
        f"{name} {seconds:.1f}s ({percent[name]:.0f}%)" for name, seconds in steps.items()
    )


def one_step_left(working: Environment, recovered: Environment) -> str:
    """What the person has to do themselves once the new server serves: point DNS at
    its name (not the SSH address recover was given) and, unless shipyard.yml already
    names it (`working`: the environment as configured), name it there instead of the
    lost server, so the next deploy goes there."""
    entry = recovered.primary
    name = "127.0.0.1" if entry.is_local else SshTarget.parse(entry.address).host
    text = (
        f"one step left: point DNS or the load balancer for {recovered.name} at {name} "
        f"(nginx listens on {recovered.listen_for(entry)})"
    )
    if any(h.address == entry.address for h in working.hosts):
        return text  # shipyard.yml names it already (the runbook's step 3)
    lost = [h.address for h in working.hosts]
    which = lost[0] if len(lost) == 1 else f"the lost one of {', '.join(lost)}"
    return text + (
        f"; make shipyard.yml's hosts: name {entry.address} instead of {which}, "
        "so the next deploy goes there"
    )
