"""TLS-CHALLENGE, TLS-INSTALL, TLS-INSPECT, TLS-CSR. Requests and replies:
`shipyard.protocol.tls`.

An install is one host operation, with no reload: nginx's site names only the links
`tls/live-a` and `tls/live-b` (to the served key's directory; plan/tls_links.py) and
loads the certificate and key through one of them at each handshake. A renewal that
keeps the key renames the new certificate over the old one; a new key (the first
certificate too: a placeholder served until then) is written into its own directory,
given to nginx's workers, and each link renamed over while nginx does not read it. If
nginx does not present the new certificate, the previous links, files and flag are put
back and nothing served changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.host import tls_files
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.guard import slot_guard
from shipyard.host.operations.handler import Handler
from shipyard.host.tls_checks import wait_for_certificate
from shipyard.host.tls_key_owner import give_to_workers
from shipyard.host.tls_keys import csr_pem, id_of_certificate, is_key_id
from shipyard.protocol import tls as proto
from shipyard.protocol.op import Empty


def tls_challenge(ctx: Context, request: proto.ChallengeRequest) -> Empty:
    layout = ctx.layout
    if request.clear:
        tls_files.clear_challenges(layout, sorted(request.answers))
        return Empty()
    if request.proxy is not None:
        if request.ports is None:
            raise HostOpError("a challenge request with a proxy must give the slots' ports")
        if not layout.server_conf.exists():
            raise HostOpError(
                "nothing is deployed here yet, so nginx has no site to answer the ACME "
                "challenge on",
                hint="run `shipyard deploy` for this environment: it obtains the "
                "certificate after PREPARE",
            )
        tls_files.ensure_dirs(layout)
        with slot_guard(layout):
            ctx.nginx(request.proxy).apply(request.ports)  # adds the ACME path if TLS is new here
    tls_files.put_challenges(layout, request.answers)
    if request.proxy is not None:
        from shipyard.host.tls_checks import wait_for_answers

        wait_for_answers(request.proxy.listen, request.proxy.server_names, request.answers)
    return Empty()


def tls_install(ctx: Context, request: proto.InstallRequest) -> proto.InstallReply:
    layout = ctx.layout
    spec = request.proxy
    if spec.tls is None:
        raise HostOpError(
            "refusing to install a certificate: tls is off for this environment",
            hint="set `tls.mode` in shipyard.yml",
        )
    key_id = id_of_certificate(request.cert_pem)
    if request.key_pem is not None:
        tls_files.check_pair(request.cert_pem, request.key_pem)
    elif not tls_files.holds_key(layout, key_id):
        raise HostOpError(
            f"this host does not hold the private key {key_id} the certificate is for",
            hint="renew with a new key: `shipyard tls renew ENV --new-key`; nothing was changed",
        )
    layout.run.mkdir(parents=True, exist_ok=True)
    with slot_guard(layout):
        # the key served until now, the placeholder's too: kept until the next install
        previous = tls_files.served_key_id(layout)
        saved = tls_files.save(layout, key_id)
        meta: dict[str, object] = {"source": request.source, "renewed_at": request.renewed_at}
        nginx = ctx.nginx(spec)
        pid_file = layout.nginx_pid if spec.mode == "managed" else Path(spec.pid_file)
        tls_files.write_certificate(
            layout,
            key_id,
            request.cert_pem,
            request.key_pem,
            meta,
            lambda key: give_to_workers(key, pid_file, nginx.settings.worker_user),
        )
        try:
            # nginx reads the new files at the next handshake; the site changes only if
            # it was not brought up to date before (TLS new here and no PREPARE or
            # challenge step since, a host from before the links, new HSTS): then it is
            # tested and reloaded
            reloaded = nginx.apply(request.ports)
            info = tls_files.certificate_info(layout)
            assert info is not None
            wait_for_certificate(spec.tls.listen, int(info.serial, 16))
        except HostOpError as exc:
            tls_files.restore(layout, saved)
            nginx.apply(request.ports)
            raise HostOpError(
                f"nginx refused the new certificate: {exc.message}",
                hint="the previous certificate and configuration were put back; "
                "nothing served changed",
                log_tail=exc.log_tail,
            ) from None
        tls_files.prune_keys(layout, {key_id} | ({previous} if previous else set()))
    return proto.InstallReply(certificate=info, reloaded=reloaded)


def tls_csr(ctx: Context, request: proto.CsrRequest) -> proto.CsrReply:
    if not is_key_id(request.key_id) or tls_files.installed_key_id(ctx.layout) != request.key_id:
        # (never the placeholder's key: a real certificate is ordered for a new key)
        raise HostOpError(
            f"this host does not serve the private key {request.key_id}",
            hint="renew with a new key: `shipyard tls renew ENV --new-key`",
        )
    key_pem = tls_files.read_key(ctx.layout, request.key_id)
    return proto.CsrReply(csr_pem=csr_pem(key_pem, request.names))


def tls_inspect(ctx: Context, _request: Empty) -> proto.InspectReply:
    try:
        info = tls_files.certificate_info(ctx.layout)
    except ValueError as exc:
        return proto.InspectReply(certificate=None, problem=f"unreadable certificate: {exc}")
    return proto.InspectReply(
        certificate=info,
        challenge_files=tls_files.challenge_files(ctx.layout),
        placeholder=info is None and tls_files.serves_placeholder(ctx.layout),
    )


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.TLS_CHALLENGE, tls_challenge),
    Handler(proto.TLS_INSTALL, tls_install),
    Handler(proto.TLS_INSPECT, tls_inspect),
    Handler(proto.TLS_CSR, tls_csr),
]
