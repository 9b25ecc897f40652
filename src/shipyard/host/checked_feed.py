"""Feed a file into a pipe while hashing it, and hold its last block back until the
digest is the expected one.

This is how a restore reads the host's local copy of a dump without hashing it first:
pg_restore (in one transaction) reads the bytes as they are hashed, but it cannot finish
the archive, and so cannot commit, before it has the last block, which it gets only once
the whole file's sha256 is the one recorded at backup time. On a mismatch the caller
kills it and its transaction rolls back: nothing it read was ever committed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BLOCK = 1 << 20


def feed(path: Path, sink: int, expected: str) -> bool:
    """Write `path` into the file descriptor `sink`, all of it when its sha256 is
    `expected` (True), all but its last block otherwise (False). A closed reader
    (BrokenPipeError) is the caller's to handle."""
    digest = hashlib.sha256()
    held = b""
    with path.open("rb", buffering=0) as source:
        while block := source.read(BLOCK):
            digest.update(block)
            if held:
                _write_all(sink, held)
            held = block
    if digest.hexdigest() != expected.lower():
        return False
    _write_all(sink, held)
    return True


def _write_all(sink: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(sink, view) :]
