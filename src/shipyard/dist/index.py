"""Which versions of Shipyard a package index has (the simple repository API).

Asked once by `shipyard init --github`, to decide whether GitHub runners can install
the operator's version from the index. The index is PyPI, where a runner's pip looks,
unless $SHIPYARD_INDEX_URL names another (a mirror the runners use, or a test's).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote

from shipyard import DISTRIBUTION

PYPI = "https://pypi.org/simple/"
INDEX_ENV = "SHIPYARD_INDEX_URL"
_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class IndexAnswer:
    """What the index said about the distribution.

    versions: the versions it has files for; None when it could not be asked
    (then `error` says why). An index that does not know the name has no versions.
    """

    url: str  # the project's page that was asked
    versions: frozenset[str] | None
    error: str | None = None


def index_url() -> str:
    return os.environ.get(INDEX_ENV) or PYPI


def project_url(index: str, name: str = DISTRIBUTION) -> str:
    return f"{index.rstrip('/')}/{normalize(name)}/"


def normalize(name: str) -> str:
    """PEP 503: runs of -, _ and . are one -, lowercase."""
    return re.sub(r"[-_.]+", "-", name).lower()


def published_versions(index: str | None = None, timeout: float = 10.0) -> IndexAnswer:
    """Ask the index (one GET of the project's page) which versions it has."""
    import httpx

    url = project_url(index or index_url())
    try:
        response = httpx.get(
            url,
            headers={"Accept": f"{_JSON}, text/html;q=0.1"},
            timeout=timeout,
            follow_redirects=True,
        )
    except httpx.HTTPError as exc:
        return IndexAnswer(url, None, f"{type(exc).__name__}: {exc}".rstrip(": "))
    if response.status_code == 404:
        return IndexAnswer(url, frozenset())
    if response.status_code != 200:
        return IndexAnswer(url, None, f"HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "")
    try:
        versions = versions_from_page(response.text, content_type)
    except ValueError as exc:
        return IndexAnswer(url, None, f"unreadable answer: {exc}")
    return IndexAnswer(url, versions)


def versions_from_page(text: str, content_type: str, name: str = DISTRIBUTION) -> frozenset[str]:
    """The versions of `name` in a project page: PEP 691 JSON or PEP 503 HTML."""
    if _JSON in content_type or content_type.startswith("application/json"):
        try:
            files = [str(item["filename"]) for item in json.loads(text).get("files", [])]
        except (AttributeError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(str(exc)) from None
    else:
        parser = _Links()
        parser.feed(text)
        files = parser.names
    found = (version_of(filename, name) for filename in files)
    return frozenset(version for version in found if version is not None)


def version_of(filename: str, name: str = DISTRIBUTION) -> str | None:
    """The version in a wheel's or sdist's file name, if it is `name`'s."""
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        if len(parts) in (5, 6) and normalize(parts[0]) == normalize(name):
            return parts[1]
        return None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            project, _, version = stem.rpartition("-")
            if project and normalize(project) == normalize(name):
                return version
    return None


class _Links(HTMLParser):
    """The file names the anchors of a PEP 503 page link to."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        href = dict(attrs).get("href") or ""
        tail = unquote(href.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        if tail:
            self.names.append(tail)
