"""Who may see the dashboard: scrypt hashes of the password or token, CSRF tokens.

Pure functions of their inputs (and of `os.urandom` for new salts), so the web layer
only wires them to cookies and forms. A hash is stored as
`scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`: what `shipyard serve --hash-password`
prints and `serve.auth.password_hash` / `serve.auth.token_hash` hold. The password itself
is never stored, logged or compared except through `hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

SCRYPT_N = 2**14  # 16 MiB of memory and ~50 ms per try: dear for a guesser, cheap for a login
SCRYPT_R = 8
SCRYPT_P = 1
KEY_BYTES = 32
MAX_SECRET_BYTES = 1024  # longer input is refused before scrypt sees it


@dataclass(frozen=True)
class ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def text(self) -> str:
        return "$".join(
            ["scrypt", str(self.n), str(self.r), str(self.p), _b64(self.salt), _b64(self.key)]
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=KEY_BYTES
    )


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """A new hash of `secret` (a random 16-byte salt unless given)."""
    if not secret:
        raise ValueError("an empty password cannot protect anything")
    if len(secret.encode("utf-8")) > MAX_SECRET_BYTES:
        raise ValueError(f"longer than {MAX_SECRET_BYTES} bytes")
    salt = salt if salt is not None else os.urandom(16)
    key = _derive(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return ScryptHash(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, key).text()


def parse_hash(text: str) -> ScryptHash:
    """The parts of a stored hash; ValueError naming what is wrong."""
    parts = text.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "expected scrypt$N$r$p$salt$key, as `shipyard serve --hash-password` prints"
        )
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = (
            base64.b64decode(parts[4], validate=True),
            base64.b64decode(parts[5], validate=True),
        )
    except ValueError:
        raise ValueError("the scrypt parameters or base64 parts do not parse") from None
    if n < 2**10 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 or len(key) < 16:
        raise ValueError("scrypt parameters out of range (N a power of two >= 1024)")
    return ScryptHash(n, r, p, salt, key)


def verify_secret(secret: str, stored: str) -> bool:
    """Whether `secret` is the one `stored` was made from (never raises on bad input)."""
    if not secret or len(secret.encode("utf-8")) > MAX_SECRET_BYTES:
        return False
    try:
        parsed = parse_hash(stored)
    except ValueError:
        return False
    candidate = _derive(secret, parsed.salt, parsed.n, parsed.r, parsed.p)
    return hmac.compare_digest(candidate, parsed.key)


def new_session_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")


def csrf_token(key: bytes, session_id: str) -> str:
    """The token every form of this session carries: an HMAC of the session's id."""
    return hmac.new(key, b"csrf:" + session_id.encode("ascii"), hashlib.sha256).hexdigest()


def csrf_valid(key: bytes, session_id: str | None, submitted: str | None) -> bool:
    if not session_id or not submitted:
        return False
    return hmac.compare_digest(csrf_token(key, session_id), submitted)


class TokenChecker:
    """`verify_secret` against one stored hash, remembering the tokens that matched (by
    their SHA-256, never the token), so an API client pays scrypt once, not per request;
    a wrong token pays it every time."""

    def __init__(self, stored: str | None, remember: int = 64) -> None:
        self.stored = stored
        self.remember = remember
        self._good: dict[bytes, None] = {}

    def __call__(self, token: str) -> bool:
        if self.stored is None or not token:
            return False
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if digest in self._good:
            return True
        if not verify_secret(token, self.stored):
            return False
        if len(self._good) >= self.remember:
            self._good.pop(next(iter(self._good)))
        self._good[digest] = None
        return True
