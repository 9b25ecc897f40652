"""Paths of a release that persist across releases: links into shared/."""

from __future__ import annotations

import shutil
from pathlib import Path

from shipyard.plan.layout import Layout


def link_shared(layout: Layout, release_dir: Path, dirs: list[str], files: list[str]) -> None:
    """Replace each shared path in the release by a link into shared/. A shared file that
    does not exist yet is seeded from the release's own copy (or created empty)."""
    for name in dirs:
        target = layout.shared / name
        target.mkdir(parents=True, exist_ok=True)
        _replace_with_link(release_dir / name, target)
    for name in files:
        target = layout.shared / name
        target.parent.mkdir(parents=True, exist_ok=True)
        seed = release_dir / name
        if not target.exists():
            if seed.is_file() and not seed.is_symlink():
                shutil.copy2(seed, target)
            else:
                target.touch()
        _replace_with_link(seed, target)


def _replace_with_link(path: Path, target: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
