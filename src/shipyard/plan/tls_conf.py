"""nginx text for HTTPS: Mozilla's "intermediate" profile, the redirect, the ACME path.

Pure text from typed inputs; `plan/nginx_conf.py` puts the pieces into server.conf.
Why each choice: docs/tls.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shipyard.plan.tls_links import msec_map_entries

# https://ssl-config.mozilla.org/ "intermediate" (guideline 5.7): TLS 1.2 and 1.3, forward
# secret AEAD suites only; the server does not impose its order (every suite is strong).
MOZILLA_INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    )
)
ACME_PATH = "/.well-known/acme-challenge/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # base64url, as RFC 8555 8.3 requires


@dataclass(frozen=True)
class HttpsServer:
    listen: str  # host:port
    cert: Path
    key: Path
    hsts: str | None  # Strict-Transport-Security value
    zone: str  # the session cache's shared memory zone (one per environment)
    # nginx loads `cert` and `key` (in one directory) at each handshake, through a
    # variable, so a certificate renamed over the old one is served with no reload;
    # False: nginx reads them when it starts or reloads (hosts installed before that)
    per_handshake: bool = False
    # plain HTTP redirects only while this file exists (a real certificate serves; not
    # the placeholder); None: always
    redirect_flag: Path | None = None
    # per handshake through two links to the key's directory, picked by nginx's clock
    # (plan/tls_links.py), so that a new key never meets a handshake mid-way; None: the
    # directory of `cert` itself
    links: tuple[Path, Path] | None = None

    @property
    def files_variable(self) -> str:
        return f"${self.zone}_files"


def is_token(token: str) -> bool:
    """Is `token` a valid HTTP-01 token (and so a safe file name)?"""
    return bool(_TOKEN.match(token))


def https_port(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def redirect_target(listen: str) -> str:
    """Where plain HTTP sends a visitor: the same host and path on the HTTPS port."""
    port = https_port(listen)
    where = "$host" if port == 443 else f"$host:{port}"
    return f"https://{where}$request_uri"


def challenge_location(challenges: Path) -> str:
    """HTTP-01 answers, as plain files; never redirected (the ACME server asks over HTTP)."""
    return f"""    location ^~ {ACME_PATH} {{
        alias {challenges}/;
        default_type text/plain;
    }}
"""


def redirect_location(server: HttpsServer, proxy: str) -> str:
    """Everything else on plain HTTP: redirected to HTTPS, or, with `redirect_flag`, only
    once that file exists and proxied to the app before (a placeholder certificate would
    greet the visitor with a warning). nginx tests the file per request, so installing
    the first certificate needs no reload; an `if` holding only `return` is safe."""
    if server.redirect_flag is None:
        return f"""    location / {{
        return 301 {redirect_target(server.listen)};
    }}
"""
    return f"""    location / {{
        if (-f {server.redirect_flag}) {{
            return 301 {redirect_target(server.listen)};
        }}
{proxy}    }}
"""


def certificate_map(server: HttpsServer) -> str:
    """http level: the variable naming the key's directory (a map, as nginx evaluates it
    in the handshake, where a `set` would not run): with `links`, one of the two `live`
    links by nginx's clock, no key id, so a new key changes no configuration; "" when
    loaded at start."""
    if not server.per_handshake:
        return ""
    if server.cert.parent != server.key.parent:
        raise ValueError("a certificate loaded per handshake must be next to its key")
    if server.links is not None:
        first, second = (str(link) for link in server.links)
        return f"\nmap $msec {server.files_variable} {{\n{msec_map_entries((first, second))}}}\n"
    return (
        f"\nmap $ssl_server_name {server.files_variable} {{\n"
        f"    default {server.cert.parent};\n}}\n"
    )


def tls_directives(server: HttpsServer) -> str:
    """The server block's TLS settings (Mozilla intermediate) and the optional HSTS."""
    hsts = (
        f'    add_header Strict-Transport-Security "{server.hsts}" always;\n' if server.hsts else ""
    )
    if server.per_handshake:
        cert = f"{server.files_variable}/{server.cert.name}"
        key = f"{server.files_variable}/{server.key.name}"
    else:
        cert, key = str(server.cert), str(server.key)
    return f"""    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:{server.zone}:10m;
    ssl_session_tickets off;
{hsts}"""
