"""The environment's certificate on a host: its files, what nginx is given, what it is.

Under the environment's `tls/`: one directory per private key, `key-<id>/` (id:
host/tls_keys.py) with `privkey.pem` (0600, owned by nginx's worker user:
host/tls_key_owner.py) and `fullchain.pem`, the certificate issued for that key;
`live-a` and `live-b`, symlinks to the served key's directory, the only paths nginx's
site names (it loads `fullchain.pem` and `privkey.pem` through one of them at each
handshake, by turns: plan/tls_links.py); `installed.json` (which key is served, where
its certificate came from, when it was obtained; `placeholder`: a self-signed
certificate made on the host until a real one is obtained, host/tls_placeholder.py); and
`redirect`, present once a real certificate serves, which turns on plain HTTP's redirect
to HTTPS. A renewal that keeps the key renames a new `fullchain.pem` over the old one; a
new key is a new directory and each link renamed over while nginx does not read it:
neither changes nginx's configuration. Hosts installed before key directories have
`tls/fullchain.pem` and `tls/privkey.pem`, which nginx loads at start, until their next
install. The key is read only to check that it fits the certificate and to sign a
renewal's request; nothing here prints or logs it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write, read_text_or_none
from shipyard.host import tls_links
from shipyard.host.errors import HostOpError
from shipyard.host.tls_keys import id_of_certificate, id_of_key, is_key_id
from shipyard.plan.layout import Layout
from shipyard.plan.tls_conf import is_token
from shipyard.protocol.tls import CertificateInfo

CERT_NAME = "fullchain.pem"
KEY_NAME = "privkey.pem"
KEY_MODE = 0o600


PLACEHOLDER = "placeholder"  # installed.json's source for the placeholder certificate


@dataclass(frozen=True)
class Served:
    """The certificate and key nginx is given; `per_handshake`: through the links."""

    cert: Path
    key: Path
    key_id: str | None
    per_handshake: bool
    placeholder: bool = False  # the host's own self-signed stand-in, no certificate yet


def served(layout: Layout) -> Served | None:
    """What nginx serves (None: no certificate installed, not even the placeholder)."""
    key_id = served_key_id(layout)
    if key_id is not None:
        live = layout.tls_links[0]
        meta = _meta(read_text_or_none(layout.tls_meta))
        placeholder = meta.get("source") == PLACEHOLDER and meta.get("key_id") == key_id
        return Served(live / CERT_NAME, live / KEY_NAME, key_id, True, placeholder)
    if layout.tls_cert.exists() and layout.tls_key.exists():
        return Served(layout.tls_cert, layout.tls_key, None, per_handshake=False)
    return None


def served_key_id(layout: Layout) -> str | None:
    """The key whose directory the links point at (when they differ, an install between
    its two renames: the one installed.json names; hosts installed before the links: the
    one installed.json names), if that directory holds both files."""
    meta_id = _meta(read_text_or_none(layout.tls_meta)).get("key_id")
    ids = [_key_id_of(target) for target in tls_links.targets(layout) if target is not None]
    if not ids:
        key_id = meta_id
    elif len(set(ids)) == 1 or meta_id not in ids:
        key_id = ids[0]
    else:
        key_id = meta_id
    if not isinstance(key_id, str) or not is_key_id(key_id):
        return None
    directory = layout.tls_key_dir(key_id)
    if (directory / CERT_NAME).exists() and (directory / KEY_NAME).exists():
        return key_id
    return None


def _key_id_of(target: str) -> str | None:
    name = Path(target).name
    return name.removeprefix("key-") if name.startswith("key-") else None


def installed_key_id(layout: Layout) -> str | None:
    """The key of the real certificate served (None: none, or only the placeholder)."""
    now = served(layout)
    return now.key_id if now is not None and not now.placeholder else None


def _meta(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def settle_links(layout: Layout) -> None:
    """Both links at the served key: made on hosts installed before them (installed.json
    names the key; the site named its directory until now), and finished when an
    install stopped between its two renames."""
    key_id = served_key_id(layout)
    if key_id is not None:
        tls_links.point_links(layout, Path(f"key-{key_id}"))


def ensure_redirect(layout: Layout) -> None:
    """The redirect flag, whenever a real certificate serves (and only then)."""
    now = served(layout)
    if now is not None and not now.placeholder and not layout.tls_redirect.exists():
        atomic_write(layout.tls_redirect, "", mode=0o644)


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
    links: tuple[str | None, str | None]  # where the links pointed (None: no link)
    redirect: bool  # the redirect flag was there


def save(layout: Layout, key_id: str) -> Saved:
    directory = layout.tls_key_dir(key_id)
    return Saved(
        meta=read_text_or_none(layout.tls_meta),
        key_dir=directory,
        key_dir_existed=directory.is_dir(),
        cert=read_text_or_none(directory / CERT_NAME),
        links=tls_links.targets(layout),
        redirect=layout.tls_redirect.exists(),
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
    layout: Layout,
    key_id: str,
    cert_pem: str,
    key_pem: str | None,
    meta: dict[str, object],
    prepare_key: Callable[[Path], None] | None = None,
) -> Path:
    """Into `key-<key_id>/`: the key (when new; 0600) before the certificate, each by a
    rename; `prepare_key` (give the key to nginx's workers) before the links are renamed
    to point at the directory; then installed.json naming it, and the redirect flag unless
    it is the placeholder. nginx reads the new files at the next handshake; its
    configuration does not change. Returns the key's path."""
    ensure_dirs(layout)
    directory = layout.tls_key_dir(key_id)
    directory.mkdir(exist_ok=True)
    directory.chmod(0o755)  # searchable by nginx's workers; the key itself is 0600
    key = directory / KEY_NAME
    if key_pem is not None and read_text_or_none(key) != key_pem:
        atomic_write(key, key_pem, mode=KEY_MODE)
    atomic_write(directory / CERT_NAME, cert_pem, mode=0o644)
    if prepare_key is not None:
        prepare_key(key)
    # relative: the tree may be moved or mounted elsewhere; each link renamed while
    # nginx does not read it (host/tls_links.py): unchanged for a kept key
    tls_links.point_links(layout, Path(directory.name))
    text = json.dumps({**meta, "key_id": key_id}, sort_keys=True) + "\n"
    atomic_write(layout.tls_meta, text, mode=0o644)
    if meta.get("source") != PLACEHOLDER and not layout.tls_redirect.exists():
        atomic_write(layout.tls_redirect, "", mode=0o644)
    return key


def restore(layout: Layout, saved: Saved) -> None:
    """Put back what `save` recorded: the links first (so nginx's next handshakes read the
    previous key's directory), then the files, the metadata and the redirect flag."""
    previous = saved.links[0] or saved.links[1]
    tls_links.point_links(layout, Path(previous) if previous else None)
    if not saved.key_dir_existed:
        shutil.rmtree(saved.key_dir, ignore_errors=True)
    elif saved.cert is not None:
        atomic_write(saved.key_dir / CERT_NAME, saved.cert, mode=0o644)
    if saved.meta is None:
        layout.tls_meta.unlink(missing_ok=True)
    else:
        atomic_write(layout.tls_meta, saved.meta, mode=0o644)
    if not saved.redirect:
        layout.tls_redirect.unlink(missing_ok=True)


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
    if now is None or text is None or now.placeholder:
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


def serves_placeholder(layout: Layout) -> bool:
    now = served(layout)
    return now is not None and now.placeholder
