"""An order may hold authorizations the account already proved (RFC 8555 7.1.4; Let's
Encrypt reuses them for 30 days, Pebble at random): only those still pending are
answered. Answering a valid one is refused ("Cannot update challenge with status
valid"), which failed a renewal within the reuse window."""

from __future__ import annotations

from acme import challenges, messages
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwk import JWKRSA

from shipyard.execute.acme_client import pending_challenges

KEY = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


def authorization(name: str, status: messages.Status) -> messages.AuthorizationResource:
    http01 = messages.ChallengeBody(
        chall=challenges.HTTP01(token=name.encode().ljust(16, b"x")),
        status=status,
        uri=f"https://acme.test/chall/{name}",
    )
    body = messages.Authorization(
        identifier=messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name),
        challenges=[http01],
        status=status,
    )
    return messages.AuthorizationResource(body=body, uri=f"https://acme.test/authz/{name}")


def test_an_authorization_already_valid_is_not_answered_again() -> None:
    found = pending_challenges(
        [
            authorization("shop.example.com", messages.STATUS_VALID),
            authorization("www.shop.example.com", messages.STATUS_PENDING),
        ],
        KEY,
        "https://acme.test/dir",
    )
    assert [c.name for c in found] == ["www.shop.example.com"]
    assert found[0].answer.startswith(found[0].token + ".")


def test_an_order_whose_names_are_all_proven_needs_no_answer() -> None:
    valid = [authorization("shop.example.com", messages.STATUS_VALID)]
    assert pending_challenges(valid, KEY, "https://acme.test/dir") == []
