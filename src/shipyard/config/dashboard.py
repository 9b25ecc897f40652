"""`serve.auth`: who may see the dashboard of `shipyard serve`.

Only hashes are written here, never a password or token: `shipyard serve
--hash-password` reads one from the terminal and prints the scrypt hash to paste.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

# scrypt$N$r$p$salt$key (serve/web/auth.py checks the parameters when it verifies)
SCRYPT_HASH = re.compile(r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")


class DashboardAuth(BaseModel):
    """password_hash: signs people in through the login form; token_hash: an API token
    (`Authorization: Bearer ...`) for scripts. Without either, every page answers 503.
    secure_cookies: the session cookie is only sent over HTTPS (default: when `serve.url`
    starts with https://). allow_ratings: signed-in people may record a 1-10 deploy
    confidence rating from the delivery page (the dashboard's only write; false keeps it
    strictly read-only)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    password_hash: str | None = None
    token_hash: str | None = None
    secure_cookies: bool | None = None
    session_hours: float = Field(default=12.0, gt=0, le=30 * 24)
    allow_ratings: bool = True

    @field_validator("password_hash", "token_hash")
    @classmethod
    def _is_a_hash(cls, value: str | None) -> str | None:
        if value is not None and not SCRYPT_HASH.match(value.strip()):
            raise ValueError(
                "expected scrypt$N$r$p$salt$key: run `shipyard serve --hash-password` and "
                "paste what it prints (never the password itself)"
            )
        return value.strip() if value else value
