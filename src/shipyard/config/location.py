"""Where the configuration is found by default (no pydantic: the CLI's options need it)."""

from __future__ import annotations

DEFAULT_FILE = "shipyard.yml"
