"""Is the vulnerability service there? One request with one short timeout, per run.

pip-audit asks the service once per package, each with its own socket timeout, and
retries: an unreachable service costs seconds per package. So before pip-audit runs,
the gate sends one request to the service and waits at most `connect_timeout`; any
HTTP answer (even an error status) means the service is reachable. Proxies from the
environment (HTTPS_PROXY...) are used as pip-audit would use them.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

from shipyard.config.gates import PipAuditGate

PYPI_PROBE = "https://pypi.org/pypi/pip/json"
OSV_QUERY = "https://api.osv.dev/v1/query"


def service_url(config: PipAuditGate) -> str:
    """The URL pip-audit would ask first."""
    if config.service == "osv":
        return config.osv_url or OSV_QUERY
    return PYPI_PROBE


def unreachable(url: str, timeout: float) -> str | None:
    """None if `url` answers within `timeout` seconds, else why not (one attempt)."""
    if not url.startswith(("http://", "https://")):
        return f"not an http(s) URL: {url}"
    request = urllib.request.Request(url, headers={"User-Agent": "shipyard"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(1)
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        text = str(reason) or type(reason).__name__
        if isinstance(reason, TimeoutError) or "timed out" in text:
            return f"no answer within {timeout:g}s"
        return text
    return None
