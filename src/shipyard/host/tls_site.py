"""What nginx's site is given for HTTPS on this host (ServerBlock's HTTPS fields).

With `tls:` on, the site always has the ACME path and the HTTPS server: it names only
`tls/live-a` and `tls/live-b` (symlinks to the served key's directory, read by turns:
plan/tls_links.py) and the `tls/redirect` flag, so
installing a certificate, with a kept key or a new one, never changes it. Before the
first certificate the placeholder serves (host/tls_placeholder.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.host import tls_files
from shipyard.host.tls_key_owner import give_to_workers
from shipyard.host.tls_placeholder import ensure_placeholder
from shipyard.plan.layout import Layout
from shipyard.plan.tls_conf import HttpsServer
from shipyard.protocol.specs import ProxySpec


def https_parts(layout: Layout, spec: ProxySpec) -> dict[str, Any]:
    """ServerBlock's HTTPS fields ({} when TLS is off). Makes what the site names: the
    placeholder when nothing is served yet, the links on hosts installed before them,
    and the redirect flag whenever a real certificate serves."""
    if spec.tls is None:
        return {}
    tls_files.ensure_dirs(layout)
    pid_file = layout.nginx_pid if spec.mode == "managed" else Path(spec.pid_file)
    ensure_placeholder(
        layout,
        list(spec.server_names),
        lambda key: give_to_workers(key, pid_file, spec.worker_user),
    )
    tls_files.settle_links(layout)
    tls_files.ensure_redirect(layout)
    now = tls_files.served(layout)
    assert now is not None  # the placeholder at least
    zone = f"shipyard_{layout.app}_{layout.env}_tls".replace("-", "_")
    https = HttpsServer(
        listen=spec.tls.listen,
        cert=now.cert,
        key=now.key,
        hsts=spec.tls.hsts,
        zone=zone,
        per_handshake=now.per_handshake,
        redirect_flag=layout.tls_redirect,
        links=layout.tls_links if now.per_handshake else None,
    )
    return {
        "https": https,
        "challenges": layout.acme_challenges,
        "plain_paths": tuple(spec.tls.plain_paths),
    }
