"""Recovery onto a new server, decided: the new host's entry, the release to deploy (the
repository's tags when the old server is gone), which snapshots to try, each step's share."""

from __future__ import annotations

from typing import Any

from support.records import backup_record as record

from shipyard.config.model import Environment
from shipyard.plan import recover as plan


def env(**overrides: Any) -> Environment:
    values: dict[str, Any] = {
        "name": "production",
        "app": "reconcile",
        "start": "python3 app.py",
        "hosts": [{"address": "deploy@10.0.0.6", "root": "/srv/a", "listen": "10.0.0.6:80"}],
    }
    return Environment.model_validate(values | overrides)


def test_a_new_address_takes_the_primarys_root_and_listen_address_unless_given() -> None:
    derived = plan.target_environment(env(), "deploy@10.0.0.9")
    (host,) = derived.hosts
    assert (host.address, host.root, host.listen) == ("deploy@10.0.0.9", "/srv/a", "10.0.0.6:80")
    given = plan.target_environment(env(), "deploy@10.0.0.9", "/srv/b", "10.0.0.9:80")
    assert (given.hosts[0].root, given.hosts[0].listen) == ("/srv/b", "10.0.0.9:80")


def test_a_host_already_listed_in_the_environment_is_recovered_onto_as_it_is_listed() -> None:
    two = env(
        hosts=[
            {"address": "deploy@10.0.0.6", "root": "/srv/a"},
            {"address": "deploy@10.0.0.7", "root": "/srv/c", "listen": "10.0.0.7:81"},
        ]
    )
    (host,) = plan.target_environment(two, "deploy@10.0.0.7").hosts
    assert (host.root, host.listen) == ("/srv/c", "10.0.0.7:81")
    assert [h.address for h in plan.old_hosts(two, "deploy@10.0.0.7")] == ["deploy@10.0.0.6"]


def test_the_release_comes_from_the_newest_backup_that_names_one() -> None:
    records = [
        record("db", 100, "old1", release_id="aaaaaaaaaaaa", release_digest="d1"),
        record("db", 300, "untagged"),
        record("notes", 200, "new1", release_id="bbbbbbbbbbbb", release_digest="d2"),
    ]
    choice = plan.release_from_backups(records)
    assert choice is not None
    assert (choice.release_id, choice.digest) == ("bbbbbbbbbbbb", "d2")
    assert "new1" in choice.source
    assert plan.release_from_backups([record("db", 1, "x")]) is None
    assert plan.digest_for(records, "aaaaaaaaaaaa") == "d1"
    assert plan.digest_for(records, "cccccccccccc") is None


def test_each_source_tries_its_snapshots_newest_first() -> None:
    records = [record("db", 1, "a"), record("db", 3, "c"), record("notes", 2, "b")]
    assert plan.candidates(records, ["db", "notes", "uploads"]) == {
        "db": ["c", "a"],
        "notes": ["b"],
        "uploads": [],
    }


def test_each_step_gets_its_share_of_the_recovery_time() -> None:
    steps = {"setup": 1.0, "restore": 3.0, "deploy": 6.0}
    assert plan.shares(steps) == {"setup": 10.0, "restore": 30.0, "deploy": 60.0}
    assert plan.describe_steps(steps) == "setup 1.0s (10%), restore 3.0s (30%), deploy 6.0s (60%)"
    assert plan.shares({"setup": 0.0}) == {"setup": 0.0}


def test_the_step_left_points_dns_at_the_new_hosts_name_not_its_ssh_address() -> None:
    working = env()
    recovered = plan.target_environment(working, "deploy@10.0.0.9:2222", listen="10.0.0.9:80")
    text = plan.one_step_left(working, recovered)
    assert "point DNS or the load balancer for production at 10.0.0.9 " in text
    assert "deploy@10.0.0.9:2222 " not in text.split(";")[0]
    assert "(nginx listens on 10.0.0.9:80)" in text


def test_the_step_left_asks_to_name_the_new_host_in_shipyard_yml_instead_of_the_lost_one() -> None:
    working = env()
    recovered = plan.target_environment(working, "deploy@10.0.0.9")
    text = plan.one_step_left(working, recovered)
    assert "make shipyard.yml's hosts: name deploy@10.0.0.9 instead of deploy@10.0.0.6" in text


def test_the_step_left_asks_nothing_of_shipyard_yml_when_it_already_names_the_new_host() -> None:
    working = env(hosts=[{"address": "deploy@10.0.0.9", "listen": "10.0.0.9:80"}])
    recovered = plan.target_environment(working, "deploy@10.0.0.9")
    text = plan.one_step_left(working, recovered)
    assert text == (
        "one step left: point DNS or the load balancer for production at 10.0.0.9 "
        "(nginx listens on 10.0.0.9:80)"
    )
