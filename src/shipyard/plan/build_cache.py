"""Pure decisions of the build cache: a product's key, its directory name, and which
cached products a cleanup removes."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

KEY_VERSION = b"shipyard-build-cache-1"


def cache_key(
    *,
    build: str,
    path: str,
    inputs: Sequence[tuple[str, bytes | None]],
    key_output: bytes,
) -> str:
    """sha256 over the build command's text, the product's path, each input's name and
    contents (None: the file does not exist, which differs from an empty file) and the
    key command's output. Every part is length-prefixed, so no two different sets of
    parts give the same bytes; the order of `inputs` does not matter."""
    digest = hashlib.sha256()

    def part(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    part(KEY_VERSION)
    part(build.encode())
    part(path.encode())
    for name, contents in sorted(inputs, key=lambda item: item[0]):
        part(name.encode())
        part(b"missing" if contents is None else b"file")
        part(contents or b"")
    part(key_output)
    return digest.hexdigest()


def product_name(path: str) -> str:
    """The cache directory of a product path: `.venv` -> `.venv`, `web/dist` -> `web%2Fdist`."""
    return path.strip("/").replace("%", "%25").replace("/", "%2F")


@dataclass(frozen=True)
class CacheEntry:
    product: str  # product_name
    key: str
    last_used: float  # stored, or last copied into a release


def entries_to_remove(
    entries: Sequence[CacheEntry], *, used: Collection[tuple[str, str]], keep: int
) -> list[CacheEntry]:
    """Keep every entry a kept release uses ((product, key) in `used`) and, per product,
    the `keep` most recently used of the others; return the rest, oldest first."""
    removed: list[CacheEntry] = []
    for product in sorted({e.product for e in entries}):
        unused = [e for e in entries if e.product == product and (e.product, e.key) not in used]
        unused.sort(key=lambda e: e.last_used, reverse=True)
        removed += reversed(unused[keep:])
    return removed
