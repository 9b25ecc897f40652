"""The two `live` links and when each may change (pure, no I/O).

nginx opens the certificate and then the key at each full handshake; had its site one
link to the key's directory, a handshake whose two opens straddled the link's rename
would read the new certificate with the old key and fail (bench/tls_live_swap.py
measured it: about one rename in ten met a handshake under a stress of back-to-back
handshakes). So the site names two links, and a `map` on `$msec` (nginx's clock, read
once per handshake, before either file is opened) picks `live-a` in the first half of
every second and `live-b` in the second half. A link is renamed only in the middle of
the half-second the other one is read in (MARGIN from either edge), so no handshake
that is reading a link's files can see that link change: only a handshake stalled for
MARGIN between its two opens could, where one link would have failed for a rename
that lands anywhere in its sub-millisecond window. Installing a new key waits at most
about a second for the two windows.
"""

from __future__ import annotations

LINKS = ("live-a", "live-b")
MARGIN = 0.15  # seconds from either edge of the half-second a link is not read in


def read_at(fraction: float) -> int:
    """The link nginx reads at `fraction` of a second (0: live-a, 1: live-b)."""
    return 0 if fraction % 1.0 < 0.5 else 1


def wait_before_changing(link: int, fraction: float) -> float:
    """Seconds from `fraction` of a second until `link` may be renamed (0: now)."""
    start = (0.5 if link == 0 else 0.0) + MARGIN
    end = start + 0.5 - 2 * MARGIN
    here = fraction % 1.0
    if start <= here <= end:
        return 0.0
    return (start - here) % 1.0


def msec_map_entries(directories: tuple[str, str]) -> str:
    """The map's body: `$msec` is "<seconds>.<milliseconds>"; its first decimal picks."""
    first, second = directories
    return f"    ~[.][0-4] {first};\n    default {second};\n"
