"""TLS-CHALLENGE, TLS-INSTALL, TLS-INSPECT. Requests and replies: `shipyard.protocol.tls`.

An install is one host operation: the new certificate and key are written atomically,
nginx tests the configuration and reloads gracefully (old workers finish what they
serve); if nginx refuses, the previous files and configuration are put back and nothing
served changes.
"""

from __future__ import annotations

from typing import Any

from shipyard.host import tls_files
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.guard import slot_guard
from shipyard.host.operations.handler import Handler
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
    if request.proxy.tls is None:
        raise HostOpError(
            "refusing to install a certificate: tls is off for this environment",
            hint="set `tls.mode` in shipyard.yml",
        )
    tls_files.check_pair(request.cert_pem, request.key_pem)
    layout.run.mkdir(parents=True, exist_ok=True)
    with slot_guard(layout):
        saved = tls_files.current_files(layout)
        meta: dict[str, object] = {"source": request.source, "renewed_at": request.renewed_at}
        tls_files.write_pair(layout, request.cert_pem, request.key_pem, meta)
        nginx = ctx.nginx(request.proxy)
        try:
            # the config gains its HTTPS server on the first install; a renewal changes
            # only the files, so nginx is tested and reloaded to read them
            if not nginx.apply(request.ports):
                nginx.test_config()
                nginx.reload()
        except HostOpError as exc:
            tls_files.restore_files(layout, saved)
            raise HostOpError(
                f"nginx refused the new certificate: {exc.message}",
                hint="the previous certificate and configuration were put back; "
                "nothing served changed",
                log_tail=exc.log_tail,
            ) from None
    info = tls_files.certificate_info(layout)
    assert info is not None
    from shipyard.host.tls_checks import wait_for_certificate

    wait_for_certificate(request.proxy.tls.listen, int(info.serial, 16))
    return proto.InstallReply(certificate=info, reloaded=True)


def tls_inspect(ctx: Context, _request: Empty) -> proto.InspectReply:
    try:
        info = tls_files.certificate_info(ctx.layout)
    except ValueError as exc:
        return proto.InspectReply(certificate=None, problem=f"unreadable certificate: {exc}")
    return proto.InspectReply(
        certificate=info, challenge_files=tls_files.challenge_files(ctx.layout)
    )


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.TLS_CHALLENGE, tls_challenge),
    Handler(proto.TLS_INSTALL, tls_install),
    Handler(proto.TLS_INSPECT, tls_inspect),
]
