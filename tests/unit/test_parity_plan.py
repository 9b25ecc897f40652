"""What parity counts as a difference, from known configurations and facts."""

from __future__ import annotations

from dataclasses import replace

from shipyard.plan.parity import parity
from shipyard.protocol.resources import FactsReply

FACTS = FactsReply(
    hostname="web1",
    os_id="debian",
    os_version="12",
    os_name="Debian GNU/Linux 12 (bookworm)",
    kernel="6.1.0",
    architecture="x86_64",
    python="3.11.2",
    shipyard="0.9.0",
    nginx="1.22.1",
    packages={"nginx": "1.22.1-9", "restic": "0.14.0-1"},
    active_release="r1",
    active_slot="blue",
)


def config(**settings: object) -> dict[str, object]:
    base: dict[str, object] = {"name": "x", "hosts": [{"address": "a"}], "keep_releases": 5}
    base["secrets"] = {"DB_URL": {"from_env": "DB_URL"}}
    return base | settings


def test_where_an_environment_is_differs_without_counting() -> None:
    report = parity(
        "staging",
        "production",
        {"staging": config(name="staging"), "production": config(name="production")},
        {"staging": {"s1": FACTS}, "production": {"p1": replace(FACTS, hostname="web9")}},
    )
    assert [d.key for d in report.differences] == ["name"]
    assert report.differences[0].expected and not report.differ


def test_a_setting_a_package_and_the_release_each_count_as_a_difference() -> None:
    newer = replace(
        FACTS, packages={"nginx": "1.24.0-2", "restic": "0.14.0-1"}, active_release="r2"
    )
    report = parity(
        "staging",
        "production",
        {"staging": config(), "production": config(keep_releases=7, secrets={})},
        {"staging": {"s1": FACTS}, "production": {"p1": newer}},
    )
    found = {(d.area, d.key): d.values for d in report.differences}
    assert found[("config", "keep_releases")] == {"staging": 5, "production": 7}
    assert found[("config", "secrets")] == {"staging": ["DB_URL"], "production": []}
    assert found[("facts", "packages.nginx")] == {
        "staging/s1": "1.22.1-9",
        "production/p1": "1.24.0-2",
    }
    assert found[("release", "active_release")] == {"staging": ["r1"], "production": ["r2"]}
    assert report.differ
