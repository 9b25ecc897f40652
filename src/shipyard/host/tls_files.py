"""The environment's certificate on a host: its files, what nginx is given, what it is.

Under the environment's `tls/`: one directory per private key, `key-<id>/` (id:
host/tls_keys.py) with `privkey.pem` (0600, owned by nginx's worker user:
host/tls_key_owner.py) and `fullchain.pem`, the certificate issued for that key; and
`installed.json` (which key is served, where the certificate came from, when it was
obtained). nginx loads both files at each handshake, so a renewal that keeps the key
only renames a new `fullchain.pem` over the old one. Hosts installed before key
directories have `tls/fullchain.pem` and `tls/privkey.pem`, which nginx loads at start,
until their next install. The key is read only to check that it fits the certificate and
to sign a renewal's request; nothing here prints or logs it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write, read_text_or_none
from shipyard.host.errors import HostOpError
from shipyard.host.tls_keys import id_of_certificate, id_of_key, is_key_id
from shipyard.plan.layout import Layout
from shipyard.plan.tls_conf import HttpsServer, is_token
from shipyard.protocol.common import ProxySpec
from shipyard.protocol.tls import CertificateInfo

CERT_NAME = "fullchain.pem"
KEY_NAME = "privkey.pem"
KEY_MODE = 0o600


@dataclass(frozen=True)
class Served:
    """The certificate and key nginx is given; `per_handshake`: from a key directory."""

    cert: Path
    key: Path
    key_id: str | None
    per_handshake: bool


def served(layout: Layout) -> Served | None:
    """What nginx serves (None: no certificate installed)."""
    key_id = installed_key_id(layout)
    if key_id is not None:
        directory = layout.tls_key_dir(key_id)
        return Served(directory / CERT_NAME, directory / KEY_NAME, key_id, per_handshake=True)
    if layout.tls_cert.exists() and layout.tls_key.exists():
        return Served(layout.tls_cert, layout.tls_key, None, per_handshake=False)
    return None


def installed_key_id(layout: Layout) -> str | None:
    """The key `installed.json` names, if its directory holds both files."""
    meta = _meta(read_text_or_none(layout.tls_meta))
    key_id = meta.get("key_id")
    if not isinstance(key_id, str) or not is_key_id(key_id):
        return None
    directory = layout.tls_key_dir(key_id)
    if (directory / CERT_NAME).exists() and (directory / KEY_NAME).exists():
        return key_id
    return None


def _meta(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def https_parts(layout: Layout, spec: ProxySpec) -> dict[str, Any]:
    """ServerBlock's HTTPS fields: the ACME path always (when TLS is configured), the
    HTTPS server once a certificate and its key are installed."""
    if spec.tls is None:
        return {}
    https = None
    now = served(layout)
    if now is not None:
        zone = f"shipyard_{layout.app}_{layout.env}_tls".replace("-", "_")
        https = HttpsServer(
            listen=spec.tls.listen,
            cert=now.cert,
            key=now.key,
            hsts=spec.tls.hsts,
            zone=zone,
            per_handshake=now.per_handshake,
        )
    return {
        "https": https,
        "challenges": layout.acme_challenges,
        "plain_paths": tuple(spec.tls.plain_paths),
    }


def ensure_dirs(layout: Layout) -> None:
    # searchable by nginx's workers (the challenge files); the key itself is 0600
    for path in (layout.tls_dir, layout.acme_challenges):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)


def put_challenges(layout: Layout, answers: dict[str, str]) -> None:
    ensure_dirs(layout)
    for token, authorization in answers.items():
        if not is_token(token) or not is_token(authorization.replace(".", "")):
            raise HostOpError(
                "an ACME challenge token or answer has characters outside base64url",
                hint="the ACME server sent something unexpected; nothing was written",
            )
        atomic_write(layout.acme_challenges / token, authorization, mode=0o644)


def clear_challenges(layout: Layout, tokens: list[str]) -> None:
    if not layout.acme_challenges.is_dir():
        return
    names = tokens or [p.name for p in layout.acme_challenges.iterdir()]
    for name in names:
        if is_token(name):
            (layout.acme_challenges / name).unlink(missing_ok=True)


def check_pair(cert_pem: str, key_pem: str) -> None:
    """The certificate parses and the key is its key; else refuse before anything changes."""
    if id_of_key(key_pem) != id_of_certificate(cert_pem):
        raise HostOpError(
            "the private key does not belong to the certificate",
            hint="give the key the certificate was issued for; nothing was changed",
        )


@dataclass(frozen=True)
class Saved:
    """What an install changes, to put back if nginx refuses it."""

    meta: str | None
    key_dir: Path
    key_dir_existed: bool
    cert: str | None  # the certificate in `key_dir` before


def save(layout: Layout, key_id: str) -> Saved:
    directory = layout.tls_key_dir(key_id)
    return Saved(
        meta=read_text_or_none(layout.tls_meta),
        key_dir=directory,
        key_dir_existed=directory.is_dir(),
        cert=read_text_or_none(directory / CERT_NAME),
    )


def holds_key(layout: Layout, key_id: str) -> bool:
    return (layout.tls_key_dir(key_id) / KEY_NAME).exists()


def read_key(layout: Layout, key_id: str) -> str:
    path = layout.tls_key_dir(key_id) / KEY_NAME
    text = read_text_or_none(path)
    if text is None:
        raise HostOpError(
            f"this host does not hold the private key {key_id}",
            hint="renew with a new key: `shipyard tls renew ENV --new-key`",
        )
    return text


def write_certificate(
    layout: Layout, key_id: str, cert_pem: str, key_pem: str | None, meta: dict[str, object]
) -> Path:
    """Into `key-<key_id>/`: the key (when new; 0600) before the certificate, each by a
    rename, then installed.json naming it. Returns the key's path."""
    ensure_dirs(layout)
    directory = layout.tls_key_dir(key_id)
    directory.mkdir(exist_ok=True)
    directory.chmod(0o755)  # searchable by nginx's workers; the key itself is 0600
    key = directory / KEY_NAME
    if key_pem is not None and read_text_or_none(key) != key_pem:
        atomic_write(key, key_pem, mode=KEY_MODE)
    atomic_write(directory / CERT_NAME, cert_pem, mode=0o644)
    text = json.dumps({**meta, "key_id": key_id}, sort_keys=True) + "\n"
    atomic_write(layout.tls_meta, text, mode=0o644)
    return key


def restore(layout: Layout, saved: Saved) -> None:
    if saved.meta is None:
        layout.tls_meta.unlink(missing_ok=True)
    else:
        atomic_write(layout.tls_meta, saved.meta, mode=0o644)
    if not saved.key_dir_existed:
        shutil.rmtree(saved.key_dir, ignore_errors=True)
    elif saved.cert is not None:
        atomic_write(saved.key_dir / CERT_NAME, saved.cert, mode=0o644)


def prune_keys(layout: Layout, keep: set[str]) -> None:
    """Remove key directories (and the files from before them) other than `keep`: the
    key served and the one before it, which a worker of the previous generation may
    still be reading as it finishes."""
    for path in layout.tls_dir.glob("key-*"):
        if path.name.removeprefix("key-") not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for legacy in (layout.tls_cert, layout.tls_key):
        legacy.unlink(missing_ok=True)


def certificate_info(layout: Layout) -> CertificateInfo | None:
    """What the installed certificate is (None: none installed)."""
    from cryptography import x509

    now = served(layout)
    text = read_text_or_none(now.cert) if now is not None else None
    if now is None or text is None:
        return None
    cert = x509.load_pem_x509_certificates(text.encode())[0]
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = [str(n) for n in names.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        dns = []
    meta = _meta(read_text_or_none(layout.tls_meta))
    try:
        key_mode = f"{os.stat(now.key).st_mode & 0o777:04o}"
    except FileNotFoundError:
        key_mode = "missing"
    return CertificateInfo(
        names=dns,
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        serial=f"{cert.serial_number:x}",
        source=str(meta.get("source", "unknown")),
        renewed_at=float(meta["renewed_at"]) if "renewed_at" in meta else None,
        key_mode=key_mode,
        key_id=now.key_id,
    )


def challenge_files(layout: Layout) -> list[str]:
    directory: Path = layout.acme_challenges
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
