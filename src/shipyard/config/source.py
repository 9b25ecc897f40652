"""Read shipyard.yml or a secret file: bounded, regular files only, UTF-8 or a clear error.

A config or secret path may name anything: a FIFO (opening it would wait for a writer),
`/dev/zero` (reading it never ends), a 20 MB file. Each is refused before it is read.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from pathlib import Path

MAX_CONFIG_BYTES = 64 * 1024  # pure-Python YAML reads about 100-500 KiB a second
MAX_SECRET_BYTES = 64 * 1024

# what YAML itself accepts (its "printable" set): anything else is refused with its line
_NOT_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")


class SourceError(Exception):
    """Why a file cannot be used; `line` when the problem has one."""

    def __init__(self, problem: str, line: int | None = None, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.hint = hint


def read_bytes(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file; never blocks on a pipe or a device.

    FileNotFoundError is left to the caller (it has its own hint); other OS errors and
    anything that is not a regular file become a SourceError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except ValueError:  # a NUL in the path
        raise SourceError("the path contains a NUL character") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise SourceError(f"not a regular file (it is {kind})")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise SourceError(f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise SourceError(
            f"larger than {limit // 1024} KiB, the limit for this file",
            hint="a shipyard.yml is a few KiB; check that this is the file you meant",
        )
    return data


def decode(data: bytes) -> str:
    """UTF-8 (a leading byte-order mark is allowed), or a SourceError naming the line."""
    if data.startswith(_WIDE_BOMS) or (len(data) > 1 and data[0] != 0 and data[1] == 0):
        raise SourceError(
            "is UTF-16 (or another wide encoding), not UTF-8",
            line=1,
            hint="save the file as UTF-8",
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} on line {line} is not valid UTF-8",
            line=line,
            hint="save the file as UTF-8",
        ) from None


def check_printable(text: str) -> str:
    """Refuse NUL and other control characters (tab, newline and CR are fine)."""
    found = _not_printable().search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        raise SourceError(
            f"control character U+{ord(found.group()):04X} on line {line}, column {column}",
            line=line,
            hint='remove it; write it as an escape ("\\t") inside double quotes if you mean it',
        )
    return text


@functools.cache
def _not_printable() -> re.Pattern[str]:
    """Compiled when first needed: a few milliseconds, which a command whose configuration
    comes from the validated cache (its text checked when it was stored) never spends."""
    return re.compile(_NOT_PRINTABLE)


def read_config_text(path: Path, *, check: bool = True) -> str:
    """shipyard.yml's text; `check=False` leaves `check_printable` to the caller (the
    loader checks text it parses, and none it takes from the validated cache)."""
    text = decode(read_bytes(path, MAX_CONFIG_BYTES))
    return check_printable(text) if check else text


def read_secret_text(path: Path) -> str:
    """A secret's value: the file's UTF-8 text without its trailing newlines."""
    text = decode(read_bytes(path, MAX_SECRET_BYTES))
    if "\x00" in text:
        raise SourceError("contains a NUL character, which no environment variable can hold")
    return text.rstrip("\n")
