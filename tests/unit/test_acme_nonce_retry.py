"""An ACME server may reject any nonce (RFC 8555 6.5); the client retries with a new one.

The `acme` library retries a badNonce once; Pebble rejects 5% of nonces on purpose, so
two rejections in a row failed a CI run's renewal. These tests fail on the library's
own `ClientNetwork.post`.
"""

from __future__ import annotations

from typing import Any

import pytest
from acme import messages
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwk import JWKRSA

from shipyard.execute.acme_client import NONCE_ATTEMPTS, patient_network

BAD_NONCE = messages.Error(typ="urn:ietf:params:acme:error:badNonce", detail="stale")
MALFORMED = messages.Error(typ="urn:ietf:params:acme:error:malformed", detail="bad body")


def network_answering(answers: list[Any]) -> tuple[Any, list[str]]:
    key = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    net = patient_network(key)
    calls: list[str] = []

    def post_once(url: str, obj: Any, **kwargs: Any) -> Any:
        calls.append(url)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    net._post_once = post_once
    return net, calls


def test_two_bad_nonces_in_a_row_are_retried_until_the_post_succeeds() -> None:
    net, calls = network_answering([BAD_NONCE, BAD_NONCE, "created"])
    assert net.post("https://acme.test/new-acct", object()) == "created"
    assert calls == ["https://acme.test/new-acct"] * 3


def test_a_server_rejecting_every_nonce_fails_after_a_bounded_number_of_attempts() -> None:
    net, calls = network_answering([BAD_NONCE] * (NONCE_ATTEMPTS + 5))
    with pytest.raises(messages.Error) as raised:
        net.post("https://acme.test/new-order", object())
    assert raised.value.code == "badNonce"
    assert len(calls) == NONCE_ATTEMPTS


def test_an_error_other_than_a_bad_nonce_is_raised_without_a_retry() -> None:
    net, calls = network_answering([MALFORMED, "never reached"])
    with pytest.raises(messages.Error) as raised:
        net.post("https://acme.test/new-order", object())
    assert raised.value.code == "malformed"
    assert len(calls) == 1
