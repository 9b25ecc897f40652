"""The phases of a deploy on every host, shared by deploy, rollback and converge.

Each function runs one phase on all hosts at once (a barrier, through `Session.each`)
and keeps what is needed to undo it: `slots` records the slot each host booted,
`switched` each host's switch reply.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from shipyard.execute.hostclient import Host
from shipyard.execute.session import PhaseFailed, Session
from shipyard.plan import requests
from shipyard.plan.layout import other_slot
from shipyard.protocol.boot import BOOT, CHECK
from shipyard.protocol.common import ReleaseManifest
from shipyard.protocol.maintenance import (
    CLEANUP,
    RETIRE,
    STOP_SLOT,
    CleanupReply,
    CleanupRequest,
    RetireRequest,
    StopSlotRequest,
)
from shipyard.protocol.switch import SWITCH, VERIFY, SwitchReply

if TYPE_CHECKING:  # a deploy's alone: a rollback imports this module without them
    from shipyard.protocol.prepare import PrepareReply, ProxyReply
    from shipyard.release.artifact import Artifact

Slots = dict[str, str]  # host label -> the slot booted there
Switched = dict[str, SwitchReply]  # host label -> its switch reply

PREPARE_MARGIN = 120.0  # on top of the build timeout: upload check, unpack, nginx -t
RELEASE_COMMAND_MARGIN = 60.0


async def prepare(
    session: Session,
    artifact: Artifact,
    manifest: ReleaseManifest,
    env_values: dict[str, str],
    runtime: dict[str, Any] | None = None,
) -> None:
    """PREPARE: upload, verify, unpack, build; then supervisord and nginx configured.
    `runtime` (the spec it runs with) is recorded with the release on every host."""
    from shipyard.protocol.prepare import PREPARE, PROXY

    env = session.env

    async def one(host: Host) -> tuple[PrepareReply, ProxyReply]:
        request = requests.prepare(
            env,
            host.entry,
            manifest=manifest,
            digest=artifact.digest,
            env_values=env_values,
            runtime=runtime,
        )
        await host.upload(artifact.path, request.artifact)
        prepared = await host.call(PREPARE, request, timeout=env.build_timeout + PREPARE_MARGIN)
        return prepared, await host.call(PROXY, requests.proxy(env, host.entry))

    await session.each("prepare", one, detail=lambda r: _prepare_detail(r[0]))


def _prepare_detail(reply: PrepareReply) -> str:
    """`reused`, or the build cache's outcome: `build cache hit: .venv`."""
    if reply.reused:
        return "reused"
    if not reply.build_cache:
        return ""
    paths = ", ".join(outcome.path for outcome in reply.build_cache)
    hit = all(outcome.hit for outcome in reply.build_cache)
    return f"build cache {'hit' if hit else 'miss'}: {paths}"


def _cleanup_detail(reply: CleanupReply) -> str:
    parts = [f"removed {len(reply.removed)}"] if reply.removed else []
    if reply.cache_removed:
        parts.append(f"{len(reply.cache_removed)} cached build products")
    return ", ".join(parts)


async def release_command(session: Session, release_id: str, env_values: dict[str, str]) -> None:
    """The release command (migrations), once, on the primary."""
    from shipyard.protocol.prepare import RELEASE_COMMAND

    env = session.env
    await session.each(
        "release-command",
        lambda h: h.call(
            RELEASE_COMMAND,
            requests.release_command(env, release_id, env_values),
            timeout=env.release_command_timeout + RELEASE_COMMAND_MARGIN,
        ),
        hosts=[session.primary],
    )


async def boot_and_check(
    session: Session,
    release_id: str,
    env_values: dict[str, str],
    slots: Slots,
    *,
    hosts: list[Host] | None = None,
) -> None:
    """BOOT the release in every host's (or `hosts`') idle slot, then CHECK it (health,
    workers, pre-switch checks). `slots` is filled as hosts boot, so a caller can undo
    exactly what was started."""
    env = session.env
    try:
        booted = await session.each(
            "boot",
            lambda h: h.call(BOOT, requests.boot(env, release_id, env_values)),
            hosts=hosts,
            detail=lambda r: f"slot {r.slot}",
        )
    except PhaseFailed as failed:
        slots.update({host: reply.slot for host, reply in failed.results.items()})
        raise
    slots.update({host: reply.slot for host, reply in booted.items()})
    await session.each(
        "check",
        lambda h: h.call(
            CHECK,
            requests.check(env, slots[h.label], release_id),
            timeout=requests.check_timeout(env),
        ),
        hosts=hosts,
    )


async def check_warm(session: Session, release_id: str, slots: Slots) -> None:
    """CHECK slots that still run `release_id` warm (a rollback inside the window)."""
    env = session.env
    await session.each(
        "check",
        lambda h: h.call(CHECK, requests.check(env, slots[h.label], release_id, warm=True)),
    )


async def switch_all(
    session: Session,
    slots: Slots,
    release_id: str,
    switched: Switched,
    *,
    observe_window: float | None = None,
    retreat: bool = False,
    hosts: list[Host] | None = None,
) -> None:
    """SWITCH every host (or `hosts`: one batch of a rolling deploy) to its slot. If any
    host fails, every host that switched (in `switched`, earlier batches too) goes back,
    and a host whose reply never came is asked to go back too (a no-op if it never
    switched; best effort if its link is down: `shipyard repair` converges it later)."""
    env = session.env

    async def one(host: Host) -> SwitchReply:
        reply = await host.call(
            SWITCH,
            requests.switch(
                env, host.entry, slots[host.label], release_id, observe_window, retreat=retreat
            ),
        )
        switched[host.label] = reply
        return reply

    try:
        await session.each("switch", one, hosts=hosts)
    except PhaseFailed:
        unsure = [h for h in session.hosts if h.label in slots and h.label not in switched]
        await switch_back(session, switched)
        if not retreat:
            with contextlib.suppress(PhaseFailed):
                await session.each(
                    "switch-back",
                    lambda h: h.call(
                        SWITCH,
                        requests.switch(
                            env, h.entry, other_slot(slots[h.label]), None, retreat=True
                        ),
                    ),
                    hosts=unsure,
                )
        raise


async def switch_back(session: Session, switched: Switched) -> None:
    """Put every host that switched back on the slot it served from before."""
    env = session.env
    back = [
        h
        for h in session.hosts
        if h.label in switched
        and not switched[h.label].noop
        and switched[h.label].previous_slot is not None
    ]
    if back:
        with contextlib.suppress(PhaseFailed):
            await session.each(
                "switch-back",
                lambda h: h.call(
                    SWITCH,
                    requests.switch(
                        env,
                        h.entry,
                        str(switched[h.label].previous_slot),
                        switched[h.label].previous_release,
                        retreat=True,
                    ),
                ),
                hosts=back,
            )
    switched.clear()


async def undo(session: Session, slots: Slots, switched: Switched) -> None:
    """After a failure: traffic back to the old slots, then stop the new ones."""
    if switched:
        await switch_back(session, switched)
    targets = [h for h in session.hosts if h.label in slots]
    with contextlib.suppress(PhaseFailed):
        await session.each(
            "stop-new",
            lambda h: h.call(STOP_SLOT, StopSlotRequest(slot=slots[h.label])),
            hosts=targets,
            quiet=True,
        )


async def verify(session: Session, release_id: str, *, hosts: list[Host] | None = None) -> None:
    """VERIFY: through nginx on every host (or `hosts`), responses come from `release_id`."""
    env = session.env
    await session.each(
        "verify",
        lambda h: h.call(VERIFY, requests.verify(env, h.entry, release_id)),
        hosts=hosts,
    )


async def housekeeping(session: Session, protect: list[str], observe_window: float) -> list[str]:
    """RETIRE and CLEANUP. The release is live: a failure here is a warning, not a failure."""
    env = session.env
    effective = requests.retire_window(env, observe_window)
    try:
        if env.rollback_window < effective or env.rollback_window == 0:
            # the old slot was kept warm only for the analysis window: retire it now
            await session.each(
                "retire", lambda h: h.call(RETIRE, RetireRequest(ahead=effective + 1))
            )
        await session.each(
            "cleanup",
            lambda h: h.call(
                CLEANUP,
                CleanupRequest(
                    keep=env.keep_releases,
                    protect=protect,
                    build_cache_keep=env.build_cache.keep,
                ),
            ),
            detail=_cleanup_detail,
        )
    except PhaseFailed as failed:
        text = f"{failed.phase} failed (the release is live): {failed.error_text()}"
        session.reporter.info("warning: " + text)
        return [text]
    return []
