"""The build cache on a host: cached products under `<env>/cache/<product>/<key>/`.

A cached entry holds `product/` (a copy of what the build made) and `origin` (the
absolute path it was built at). A release never uses an entry in place: on a hit the
product is copied into the release, and absolute paths of the old location are rewritten
in the copy (a Python venv's `bin/` scripts and `pyvenv.cfg`), so no two releases share
a file that either may change. Keys and pruning are decided in `plan/build_cache.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from shipyard.core.files import atomic_write
from shipyard.host.errors import HostOpError
from shipyard.host.steps import command_output, run_step
from shipyard.plan.build_cache import CacheEntry, cache_key, entries_to_remove, product_name
from shipyard.plan.layout import Layout
from shipyard.protocol.prepare import CachedProduct, CacheOutcome, PrepareRequest

RECORD = ".shipyard-build-cache.json"  # in a release: {product path: key} it was built with
PRODUCT = "product"
ORIGIN = "origin"
RELOCATED = ("bin", "pyvenv.cfg")  # where a venv keeps the absolute path it was made at
# path entries and editable-install finders, which may name the release that built it
RELOCATED_GLOBS = ("lib/python*/site-packages/*.pth", "lib/python*/site-packages/__editable__*")
MAX_RELOCATED_FILE = 4 * 1024 * 1024


def build(layout: Layout, request: PrepareRequest, release_dir: Path) -> list[CacheOutcome]:
    """Run the build, or, when every declared product has a cached copy for its key, put
    the copies into the release instead. Products built are stored for the next deploy."""
    assert request.build is not None
    keyed = [(spec, _key(layout, request, release_dir, spec)) for spec in request.build_cache]
    entries = [entry_dir(layout, spec.path, key) for spec, key in keyed]
    hit = bool(keyed) and all(entry.is_dir() for entry in entries)
    if hit:
        for (spec, _), entry in zip(keyed, entries, strict=True):
            restore(entry, release_dir / spec.path)
    else:
        run_step(
            layout,
            "build",
            request.build,
            release_dir,
            request.release_id,
            request.build_timeout,
            request.env_values,
        )
        for (spec, _), entry in zip(keyed, entries, strict=True):
            if not entry.is_dir():
                store(release_dir / spec.path, entry, spec.path)
    if keyed:
        record = {spec.path: key for spec, key in keyed}
        atomic_write(release_dir / RECORD, json.dumps(record, indent=2) + "\n")
    return [CacheOutcome(path=spec.path, key=key, hit=hit) for spec, key in keyed]


def entry_dir(layout: Layout, path: str, key: str) -> Path:
    return layout.cache / product_name(path) / key


def _key(layout: Layout, request: PrepareRequest, release_dir: Path, spec: CachedProduct) -> str:
    assert request.build is not None
    output = b""
    if spec.key_command:
        output = command_output(
            layout,
            f"build_cache key for {spec.path}",
            spec.key_command,
            release_dir,
            request.release_id,
            spec.key_timeout,
            request.env_values,
        )
    inputs: list[tuple[str, bytes | None]] = []
    for name in spec.inputs:
        inputs += _read_input(release_dir, name)
    return cache_key(build=request.build, path=spec.path, inputs=inputs, key_output=output)


def _read_input(release_dir: Path, name: str) -> list[tuple[str, bytes | None]]:
    """An input file's contents; a directory's files, each by its relative path."""
    path = release_dir / name
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return [(str(p.relative_to(release_dir)), p.read_bytes()) for p in files]
    return [(name, path.read_bytes() if path.is_file() else None)]


def _copy(source: Path, target: Path) -> None:
    """A full copy (symlinks kept as symlinks, modes and times kept); never hard links.
    Where the filesystem can (btrfs, XFS), blocks are shared copy-on-write (reflink):
    instant, and still two files, so a write to one never shows in the other."""
    result = subprocess.run(
        ["cp", "-a", "--reflink=auto", "--", str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HostOpError(
            f"could not copy {source} to {target}: {result.stderr.strip()}",
            hint="check free disk space and permissions under the environment's root",
        )


def store(product: Path, entry: Path, path: str) -> None:
    """Copy a freshly built product into its cache entry (complete or not at all)."""
    if not product.exists():
        raise HostOpError(
            f"build_cache declares {path}, but the build did not make it",
            hint="make `build` create it, or correct the path in build_cache",
        )
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".{entry.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _copy(product, tmp / PRODUCT)
        (tmp / ORIGIN).write_text(str(product))
        tmp.rename(entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def restore(entry: Path, product: Path) -> None:
    """Put a copy of the cached product at `product`, its absolute paths rewritten."""
    if product.is_symlink() or product.is_file():
        product.unlink()
    elif product.exists():
        shutil.rmtree(product)
    product.parent.mkdir(parents=True, exist_ok=True)
    _copy(entry / PRODUCT, product)
    relocate(product, old=(entry / ORIGIN).read_text(), new=str(product))
    os.utime(entry)  # most recently used: kept longest by cleanup


def relocate(product: Path, *, old: str, new: str) -> None:
    """Rewrite `old` to `new` in the product's venv scripts, `pyvenv.cfg` and
    site-packages' `.pth` and editable-install files."""
    if old == new or not product.is_dir():
        return
    candidates: list[Path] = []
    for name in RELOCATED:
        path = product / name
        if path.is_dir() and not path.is_symlink():
            candidates += [p for p in path.iterdir() if p.is_file() and not p.is_symlink()]
        elif path.is_file() and not path.is_symlink():
            candidates.append(path)
    for pattern in RELOCATED_GLOBS:
        candidates += [p for p in product.glob(pattern) if p.is_file() and not p.is_symlink()]
    before, after = old.encode(), new.encode()
    for path in candidates:
        if path.stat().st_size > MAX_RELOCATED_FILE:
            continue
        data = path.read_bytes()
        if before in data:
            path.write_bytes(data.replace(before, after))


def prune(layout: Layout, keep: int) -> list[str]:
    """Remove cached products no release directory uses, past the newest `keep` per
    product (and leftovers of stores cut short). Returns `<product>/<key>` removed."""
    if not layout.cache.is_dir():
        return []
    used: set[tuple[str, str]] = set()
    for release in layout.releases.iterdir() if layout.releases.is_dir() else []:
        try:
            record = json.loads((release / RECORD).read_text())
        except (OSError, ValueError):
            continue
        used |= {(product_name(path), str(key)) for path, key in record.items()}
    entries: list[CacheEntry] = []
    for product in layout.cache.iterdir():
        for entry in product.iterdir() if product.is_dir() else []:
            if entry.name.endswith(".tmp"):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_dir():
                entries.append(CacheEntry(product.name, entry.name, entry.stat().st_mtime))
    removed = entries_to_remove(entries, used=used, keep=keep)
    for gone in removed:
        shutil.rmtree(layout.cache / gone.product / gone.key, ignore_errors=True)
    return [f"{gone.product}/{gone.key}" for gone in removed]
