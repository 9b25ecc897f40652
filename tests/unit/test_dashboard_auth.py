"""The dashboard's password and token hashes, and its CSRF tokens."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shipyard.serve.web import auth


def test_a_hash_verifies_its_own_password_and_no_other() -> None:
    stored = auth.hash_secret("correct horse")
    assert auth.verify_secret("correct horse", stored)
    assert not auth.verify_secret("correct horsE", stored)
    assert not auth.verify_secret("", stored)


def test_a_hash_never_contains_the_password_and_is_salted() -> None:
    one, two = auth.hash_secret("hunter2-hunter2"), auth.hash_secret("hunter2-hunter2")
    assert "hunter2" not in one
    assert one != two  # a random salt each time
    assert one.startswith(f"scrypt${auth.SCRYPT_N}${auth.SCRYPT_R}${auth.SCRYPT_P}$")


def test_the_same_salt_gives_the_same_hash() -> None:
    salt = b"0123456789abcdef"
    assert auth.hash_secret("pw", salt=salt) == auth.hash_secret("pw", salt=salt)


@pytest.mark.parametrize(
    "stored",
    ["", "plain-text", "scrypt$16384$8$1$!!$!!", "bcrypt$1$2$3$4$5", "scrypt$1000$8$1$AAAA$AAAA"],
)
def test_a_malformed_hash_refuses_every_password_without_raising(stored: str) -> None:
    assert not auth.verify_secret("anything", stored)


def test_a_malformed_hash_is_explained_when_parsed() -> None:
    with pytest.raises(ValueError, match="--hash-password"):
        auth.parse_hash("not-a-hash")


def test_empty_and_oversized_passwords_are_refused_when_hashing() -> None:
    with pytest.raises(ValueError):
        auth.hash_secret("")
    with pytest.raises(ValueError):
        auth.hash_secret("x" * (auth.MAX_SECRET_BYTES + 1))


def test_a_csrf_token_is_valid_only_for_its_own_session_and_key() -> None:
    key, other_key = b"k" * 32, b"o" * 32
    token = auth.csrf_token(key, "session-a")
    assert auth.csrf_valid(key, "session-a", token)
    assert not auth.csrf_valid(key, "session-b", token)
    assert not auth.csrf_valid(other_key, "session-a", token)
    assert not auth.csrf_valid(key, "session-a", None)
    assert not auth.csrf_valid(key, None, token)
    assert not auth.csrf_valid(key, "session-a", "")


def test_the_config_accepts_a_printed_hash_and_refuses_a_plain_password() -> None:
    from pydantic import ValidationError

    from shipyard.config.dashboard import DashboardAuth

    printed = auth.hash_secret("pw")
    assert DashboardAuth(password_hash=printed).password_hash == printed
    with pytest.raises(ValidationError, match="--hash-password"):
        DashboardAuth(password_hash="hunter2")


def test_the_token_checker_accepts_the_token_and_refuses_others_every_time() -> None:
    check = auth.TokenChecker(auth.hash_secret("tok"))
    assert check("tok") and check("tok")
    assert not check("tok2") and not check("")
    assert not auth.TokenChecker(None)("tok")


def test_serve_hash_password_prints_a_hash_of_the_line_on_stdin_and_never_the_password() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "serve", "--hash-password"],
        input="s3cret-dashboard\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert "s3cret" not in result.stdout + result.stderr
    assert auth.verify_secret("s3cret-dashboard", printed)


def test_serve_hash_password_refuses_an_empty_password() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "serve", "--hash-password"],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "empty" in result.stdout + result.stderr


def test_ratings_from_the_dashboard_are_allowed_unless_the_config_turns_them_off() -> None:
    from shipyard.config.dashboard import DashboardAuth
    from shipyard.serve.web.app import AuthSettings

    assert AuthSettings.from_config(DashboardAuth(), "http://127.0.0.1").allow_ratings
    off = DashboardAuth.model_validate({"allow_ratings": False})
    assert not AuthSettings.from_config(off, "http://127.0.0.1").allow_ratings
