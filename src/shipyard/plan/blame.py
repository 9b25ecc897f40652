"""Pure: when a deploy fails, was it the release's fault?"""

from __future__ import annotations

# Phases that fail because of the hosts around a release, not the release itself:
# converging the environment, reading its state, unpacking and building, and the
# backup taken before the release command, obtaining its certificate (tls). A release that
# failed there may be fine; one that failed to boot, check, switch, verify or observe is
# marked bad, so it is never an automatic rollback target and never promoted.
NOT_THE_RELEASE = frozenset({"connect", "repair", "inspect", "prepare", "backup", "tls"})


def marks_release_bad(phase: str) -> bool:
    return phase not in NOT_THE_RELEASE
