"""HTTPS for an environment: obtain, install on every host, renew when due; status.

The ACME client runs here, on the operator's side, because only here is every host
reachable: it puts each HTTP-01 answer on every host (the ACME server may ask any of
them, behind round-robin DNS or a load balancer), tells the server, waits, and installs
the certificate on every host. The same install serves `files` and `self-signed`.
A failure is an error (exit 1, naming the name, the hosts and the ACME error) and leaves
what nginx serves as it was; `renewal_failed` tells the listeners (the CLI registers
one that sends the TLS RENEWAL FAILED alert: cli/failure_alerts.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.model import Environment
from shipyard.config.tls import certificate_names
from shipyard.errors import ShipyardError
from shipyard.execute import locking
from shipyard.execute.hostclient import Host, HostError, HostFactory, connect_host
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import PhaseFailed, Session
from shipyard.execute.tls_material import Material
from shipyard.plan import requests
from shipyard.plan.tls import Wanted, renewal_reason
from shipyard.plan.tls_key import KeyChoice, key_choice
from shipyard.protocol.op import Empty
from shipyard.protocol.tls import (
    TLS_CHALLENGE,
    TLS_CSR,
    TLS_INSPECT,
    TLS_INSTALL,
    CertificateInfo,
    ChallengeRequest,
    CsrRequest,
    InspectReply,
    InstallRequest,
)

ACME_TIMEOUT = 90.0  # seconds for the ACME server to validate and issue

# Called with (environment, error) when a renewal fails; `shipyard serve`'s alerts will
# append to it. Nothing else changes: the error is raised to the caller as well.
RENEWAL_FAILURE_LISTENERS: list[Callable[[Environment, ShipyardError], None]] = []


def renewal_failed(env: Environment, error: ShipyardError) -> None:
    """The hook point for alerts: tell every listener that a renewal failed."""
    for listener in list(RENEWAL_FAILURE_LISTENERS):
        listener(env, error)


@dataclass(frozen=True)
class HostCertificate:
    host: str
    certificate: CertificateInfo | None
    due: str | None  # why it needs renewing now (None: it does not)
    problem: str | None = None


@dataclass(frozen=True)
class TlsStatus:
    environment: str
    mode: str
    names: list[str]
    renew_before_days: int
    hosts: list[HostCertificate]


@dataclass(frozen=True)
class RenewResult:
    renewed: bool
    reason: str  # why it renewed, or why it did not need to
    hosts: list[HostCertificate]  # after
    key: str = ""  # whether the private key was kept, and why (when renewed)
    reloaded: list[str] = field(default_factory=list)  # the hosts whose nginx reloaded


def wanted(env: Environment, serial: str | None = None) -> Wanted:
    tls = env.tls
    return Wanted(
        names=names_of(env),
        source=tls.mode,
        renew_before_days=tls.acme.renew_before_days,
        serial=serial,
    )


def names_of(env: Environment) -> list[str]:
    names = certificate_names(env.tls, list(env.nginx.server_names))
    return names or ["localhost"]  # self-signed or files without names: a placeholder


def _require_tls(env: Environment) -> None:
    if not env.tls.enabled:
        raise ShipyardError(
            f"tls is off for environment {env.name}",
            hint="set `tls: {mode: acme}` (or files, self-signed) in shipyard.yml; see docs/tls.md",
        )


async def inspect(session: Session) -> dict[str, InspectReply]:
    return await session.each("tls-inspect", lambda h: h.call(TLS_INSPECT, Empty()), quiet=True)


PENDING = "pending: placeholder self-signed, no certificate obtained yet"


def _views(replies: dict[str, InspectReply], want: Wanted, now: float) -> list[HostCertificate]:
    return [
        HostCertificate(
            host,
            reply.certificate,
            renewal_reason(reply.certificate, want, now),
            reply.problem or (PENDING if reply.placeholder else None),
        )
        for host, reply in replies.items()
    ]


async def certificates(session: Session) -> list[HostCertificate]:
    """Each host's certificate and whether it is due (for `shipyard status`; [] if off)."""
    if not session.env.tls.enabled:
        return []
    return _views(await inspect(session), wanted(session.env), time.time())


async def status(
    env: Environment, reporter: Reporter, hosts: HostFactory = connect_host
) -> TlsStatus:
    _require_tls(env)
    session = Session(env, reporter, hosts=hosts)
    try:
        await session.open()
        replies = await inspect(session)
    finally:
        await session.close()
    return TlsStatus(
        env.name,
        env.tls.mode,
        names_of(env),
        env.tls.acme.renew_before_days,
        _views(replies, wanted(env), time.time()),
    )


async def renew(
    env: Environment,
    secrets: dict[str, str],
    base_dir: Path,
    reporter: Reporter,
    *,
    force: bool = False,
    new_key: bool = False,
    lock_wait: float = 0.0,
    hosts: HostFactory = connect_host,
) -> RenewResult:
    """`shipyard tls renew`: renew what is due (or everything, `force`), under the
    environment's lock so that it never races a deploy's nginx configuration. An acme
    renewal keeps the hosts' private key (no nginx reload), unless `new_key` (which
    renews now, due or not)."""
    from shipyard.execute.identity import new_deployment_id

    _require_tls(env)
    session = Session(env, reporter, secrets=list(secrets.values()), hosts=hosts)
    try:
        async with locking.locked_session(
            session,
            command="tls renew",
            reason="renewing TLS certificates",
            deployment_id=new_deployment_id(),
            lock_wait=lock_wait,
        ):
            return await _renew_in(
                session, secrets, base_dir, force=force or new_key, new_key=new_key
            )
    except ShipyardError as exc:
        renewal_failed(env, exc)
        raise


async def ensure(session: Session, secrets: dict[str, str], base_dir: Path) -> None:
    """The deploy step: when TLS is on and a host has no valid certificate, obtain one
    and install it everywhere (a renewal already due is left to `tls renew`'s timer,
    unless the certificate has expired)."""
    if not session.env.tls.enabled:
        return
    await _renew_in(session, secrets, base_dir, force=False, only_missing=True)


async def _renew_in(
    session: Session,
    secrets: dict[str, str],
    base_dir: Path,
    *,
    force: bool,
    new_key: bool = False,
    only_missing: bool = False,
) -> RenewResult:
    env = session.env
    serial = None
    material: Material | None = None
    if env.tls.mode == "files":
        from shipyard.execute.tls_material import from_files, serial_of

        assert env.tls.files is not None
        material = from_files(env.tls.files, secrets, base_dir)
        serial = serial_of(material.cert_pem)
    want = wanted(env, serial)
    replies = await inspect(session)
    before = _views(replies, want, time.time())
    due = [h for h in before if h.due]
    if only_missing:
        due = [h for h in due if h.certificate is None or h.due == "the certificate has expired"]
    if not due and not force:
        return RenewResult(False, "every host's certificate is valid and not due", before)
    reason = "forced" if force and not due else f"{due[0].host}: {due[0].due}"
    if material is None:
        key_ids = {
            host: reply.certificate.key_id if reply.certificate else None
            for host, reply in replies.items()
        }
        choice = key_choice(env.tls.mode, key_ids, new_key)
        material = await obtain(session, choice)
        key = choice.why
    else:
        key = "from the files (kept when it is the installed key)"
    reloaded = await install(session, material, env.tls.mode)
    after = _views(await inspect(session), want, time.time())
    return RenewResult(True, reason, after, key=key, reloaded=reloaded)


async def obtain(session: Session, choice: KeyChoice | None = None) -> Material:
    """A new certificate: made here (self-signed) or ordered from the ACME server, for
    the key the hosts keep (`choice.keep`: the primary host signs the request) or a new
    key made here."""
    from shipyard.execute import tls_material

    env = session.env
    names = names_of(env)
    if env.tls.mode == "self-signed":
        return tls_material.self_signed(names)
    from shipyard.execute import acme_client

    key_pem: str | None = None
    if choice is not None and choice.keep is not None:
        request = CsrRequest(names=names, key_id=choice.keep)
        signed = await session.each(
            "tls-csr", lambda h: h.call(TLS_CSR, request), hosts=[session.primary], quiet=True
        )
        csr = signed[session.primary.label].csr_pem.encode()
    else:
        key_pem = tls_material.new_key_pem()
        csr = tls_material.csr_pem(key_pem, names)
    acme = env.tls.acme
    order = await asyncio.to_thread(
        acme_client.start_order, acme.directory, acme.email, names, csr, acme.ca_bundle
    )
    answers = {c.token: c.answer for c in order.challenges}
    try:
        await session.each(
            "tls-challenge",
            lambda h: h.call(
                TLS_CHALLENGE,
                ChallengeRequest(
                    answers=answers, proxy=requests.proxy_spec(env, h.entry), ports=env.ports
                ),
            ),
        )
        try:
            chain = await asyncio.to_thread(
                acme_client.answer_and_finish, order, acme.directory, ACME_TIMEOUT
            )
        except acme_client.AcmeFailed as exc:
            where = ", ".join(h.label for h in session.hosts)
            raise acme_client.AcmeFailed(
                f"{exc.message} (answers were served by nginx on {where})", hint=exc.hint
            ) from None
    finally:
        clear = ChallengeRequest(answers=answers, clear=True)
        try:
            await session.each("tls-clear", lambda h: h.call(TLS_CHALLENGE, clear), quiet=True)
        except PhaseFailed as exc:
            session.reporter.info(f"could not remove the ACME answers: {exc}")
    return tls_material.Material(chain, key_pem)


async def install(session: Session, material: Material, source: str) -> list[str]:
    """Install on every host; returns the hosts whose nginx reloaded to serve it."""
    env = session.env
    obtained = time.time()

    def request(host: Host) -> InstallRequest:
        return InstallRequest(
            proxy=requests.proxy_spec(env, host.entry),
            cert_pem=material.cert_pem,
            key_pem=material.key_pem,
            source=source,  # type: ignore[arg-type]
            renewed_at=obtained,
            ports=env.ports,
        )

    replies = await session.each(
        "tls-install",
        lambda h: h.call(TLS_INSTALL, request(h)),
        detail=lambda reply: (
            f"serial {reply.certificate.serial}"
            + (", nginx reloaded" if reply.reloaded else ", no reload")
        ),
    )
    return [host for host, reply in replies.items() if reply.reloaded]


async def deploy_step(session: Session, secrets: dict[str, str], base_dir: Path) -> None:
    """TLS in a deploy (after PREPARE, before any slot boots): `ensure`, with a failure
    reported as a deploy reports failures, the phase `tls` on every host."""
    try:
        await ensure(session, secrets, base_dir)
    except PhaseFailed as exc:
        renewal_failed(session.env, exc)
        raise
    except ShipyardError as exc:
        renewal_failed(session.env, exc)
        errors = [HostError(h.label, "tls", exc.message, hint=exc.hint) for h in session.hosts]
        raise PhaseFailed("tls", errors, {}) from None
