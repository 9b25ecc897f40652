"""An ACME order through certbot's `acme` library (RFC 8555; never hand-written here).

Synchronous (the library uses requests); `execute/tls.py` runs each step in a thread
while it puts the HTTP-01 answers on every host. The account key lives in the
operator's state directory, 0600 (docs/tls.md#the-acme-account).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write
from shipyard.errors import ExitCode, ShipyardError

USER_AGENT = "shipyard-acme"
NONCE_ATTEMPTS = 8  # RFC 8555 6.5: retry a badNonce with the fresh nonce it carries


class AcmeFailed(ShipyardError):
    """The ACME server refused, or could not validate a name (exit 1)."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Challenge:
    name: str  # the DNS name it proves
    token: str
    answer: str  # the key authorization nginx serves at /.well-known/acme-challenge/<token>
    body: Any  # acme.messages.ChallengeBody
    response: Any  # acme.challenges.HTTP01Response


@dataclass
class Order:
    client: Any  # acme.client.ClientV2
    order: Any  # acme.messages.OrderResource
    challenges: list[Challenge]


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "shipyard" / "acme"


def account_path(directory: str, email: str | None) -> Path:
    """One account key per ACME directory and contact."""
    digest = hashlib.sha256(f"{directory}\n{email or ''}".encode()).hexdigest()[:16]
    return state_dir() / digest / "account.json"


def _account_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from josepy.jwk import JWKRSA

    if path.exists():
        return JWKRSA.json_loads(path.read_text())
    key = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, json.dumps(key.to_json()), mode=0o600)
    return key


def patient_network(key: Any) -> Any:
    """The library's ClientNetwork, retrying a badNonce up to NONCE_ATTEMPTS times.

    The library retries once. A server may reject any nonce (Let's Encrypt's Pebble
    rejects 5% on purpose), so two in a row failed a renewal about once in 400 POSTs.
    """
    from acme import client, messages

    class PatientNetwork(client.ClientNetwork):
        def post(self, *args: Any, **kwargs: Any) -> Any:
            for _ in range(NONCE_ATTEMPTS - 1):
                try:
                    return self._post_once(*args, **kwargs)
                except messages.Error as error:
                    if error.code != "badNonce":
                        raise
            return self._post_once(*args, **kwargs)

    return PatientNetwork(key, user_agent=USER_AGENT)


def start_order(
    directory: str, email: str | None, names: list[str], csr_pem: bytes, ca_bundle: str | None
) -> Order:
    """Account (created once, then reused), new order, each name's HTTP-01 challenge."""
    from acme import client, errors, messages

    key = _account_key(account_path(directory, email))
    net = patient_network(key)
    if ca_bundle:
        # requests takes a CA bundle path where `verify` is; the library passes it through
        setattr(net, "verify_ssl", ca_bundle)  # noqa: B010
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(directory, net), net=net)
        registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        try:
            acme.new_account(registration)
        except errors.ConflictError as known:
            existing = messages.RegistrationResource(uri=known.location, body=registration)
            net.account = acme.query_registration(existing)
        order = acme.new_order(csr_pem)
    except Exception as exc:  # the library raises requests', josepy's and its own errors
        raise _failure(directory, names, exc) from None
    return Order(acme, order, pending_challenges(order.authorizations, key, directory))


def pending_challenges(authorizations: list[Any], key: Any, directory: str) -> list[Challenge]:
    """The HTTP-01 challenge of each authorization still to be proven. An ACME server
    may put an authorization the account proved recently into a new order, already
    valid (RFC 8555 7.1.4; Let's Encrypt does, for 30 days): there is nothing to answer
    for it, and answering would be refused."""
    from acme import challenges, messages

    found = []
    for authz in authorizations:
        if authz.body.status == messages.STATUS_VALID:
            continue
        name = authz.body.identifier.value
        http01 = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
        if not http01:
            raise AcmeFailed(
                f"ACME server {directory} offers no HTTP-01 challenge for {name}",
                hint="Shipyard answers HTTP-01 only; use tls.mode files for this name",
            )
        response, validation = http01[0].response_and_validation(key)
        token = http01[0].chall.encode("token")
        found.append(Challenge(name, token, validation, http01[0], response))
    return found


def answer_and_finish(order: Order, directory: str, timeout: float) -> str:
    """Tell the server every answer is in place; wait for validation; the full chain."""
    from acme import errors

    names = [c.name for c in order.challenges]
    try:
        for challenge in order.challenges:
            order.client.answer_challenge(challenge.body, challenge.response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        finished = order.client.poll_and_finalize(order.order, deadline)
    except errors.ValidationError as exc:
        raise AcmeFailed(
            "ACME validation failed: " + _validation_text(exc),
            hint="the ACME server could not fetch /.well-known/acme-challenge/ from the "
            "name's address over HTTP port 80: check DNS points at the hosts and port 80 "
            "reaches nginx; nothing served changed",
        ) from None
    except Exception as exc:
        raise _failure(directory, names, exc) from None
    return str(finished.fullchain_pem)


def _validation_text(exc: Any) -> str:
    parts = []
    for authz in exc.failed_authzrs:
        name = authz.body.identifier.value
        for chall in authz.body.challenges:
            if chall.error is not None:
                detail = chall.error.detail or chall.error.typ
                parts.append(f"{name}: {detail}")
    return "; ".join(parts) or str(exc)


def _failure(directory: str, names: list[str], exc: BaseException) -> AcmeFailed:
    text = str(exc) or type(exc).__name__
    return AcmeFailed(
        f"ACME request to {directory} for {', '.join(names)} failed: {text[:500]}",
        hint="check tls.acme.directory (and ca_bundle), the network, and the ACME "
        "server's rate limits; nothing served changed",
    )
