"""After a change, wait until nginx serves it: the ACME answers, the new certificate.

`nginx -s reload` returns before the new workers run, so the ACME server (or a client)
could still meet the old configuration; each check polls this host's nginx until it
answers as asked, or fails naming what it saw.
"""

from __future__ import annotations

import socket
import ssl
import time

from shipyard.core.addresses import reachable, split_listen
from shipyard.host.errors import HostOpError
from shipyard.plan.tls_conf import ACME_PATH

DEADLINE = 10.0
INTERVAL = 0.05


def wait_for_answers(listen: str, server_names: list[str], answers: dict[str, str]) -> None:
    """Until nginx at `listen` serves every answer at /.well-known/acme-challenge/."""
    import httpx

    address = reachable(listen)
    names = [n for n in server_names if n != "_" and "*" not in n]
    headers = {"Host": names[0]} if names else {}
    seen = "no answer"
    end = time.monotonic() + DEADLINE
    with httpx.Client(timeout=2.0) as client:
        for token, answer in answers.items():
            url = f"http://{address}{ACME_PATH}{token}"
            while True:
                try:
                    response = client.get(url, headers=headers)
                    if response.status_code == 200 and response.text.strip() == answer:
                        break
                    seen = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    seen = str(exc) or type(exc).__name__
                if time.monotonic() > end:
                    raise HostOpError(
                        f"nginx does not serve the ACME answer at {url}: {seen}",
                        hint="see the environment's nginx error log; the ACME server "
                        "was not asked to validate",
                    )
                time.sleep(INTERVAL)


def wait_for_certificate(listen: str, serial: int) -> None:
    """Until nginx's HTTPS listener at `listen` presents the certificate `serial`."""
    from cryptography import x509

    host, port = split_listen(reachable(listen))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we only read which certificate it presents
    seen = "no answer"
    end = time.monotonic() + DEADLINE
    while True:
        try:
            with (
                socket.create_connection((host, port), timeout=2) as raw,
                context.wrap_socket(raw) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
            if der and x509.load_der_x509_certificate(der).serial_number == serial:
                return
            seen = "the previous certificate"
        except OSError as exc:
            seen = str(exc) or type(exc).__name__
        if time.monotonic() > end:
            raise HostOpError(
                f"nginx at {listen} does not present the new certificate: {seen}",
                hint="see the environment's nginx error log",
            )
        time.sleep(INTERVAL)
