"""Are we running in CI?"""

from __future__ import annotations

import os


def in_ci() -> bool:
    """CI=true (GitHub Actions and most CI systems), also 1 or yes."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
