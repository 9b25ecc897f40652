"""`shipyard recover ENV --to HOST` onto a fresh root (issue 11): the server is gone, the
new one has only sshd and root's key, and one command makes it a Shipyard host, deploys
the release that served (the same sha256), restores the newest verified backup of every
source and checks health.

The lost server and its off-site backups are tests/support/lostserver.py's: an SSH test
host on 127.0.0.143 with rows in a real PostgreSQL and files in its uploads directory,
backed up to S3 (moto's server), then stopped. The new server is a debootstrap copy
(tests/support/fresh_root.py) on 127.0.0.43. The tests share them and run in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from support.backupenv import needs_restic
from support.lostserver import ENV, NEW_ADDRESS, UPLOADS, LostServer, lost_server

pytestmark = pytest.mark.integration

STEPS = ["setup", "release", "verify", "restore", "deploy"]


@pytest.fixture(scope="module")
def lost() -> Iterator[LostServer]:
    needs_restic()
    with lost_server() as server:
        server.point_at_new_server()  # the runbook's step 3
        yield server


def test_recover_makes_a_fresh_root_serve_the_same_release_with_the_data_intact(
    lost: LostServer,
) -> None:
    assert lost.fresh.run("id", "-u", "deploy").returncode != 0  # nothing set up yet
    recovered = lost.shipyard("recover", ENV, "--to", lost.new_host)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    out = recovered.stdout

    assert lost.fresh.run("id", "-u", "deploy").returncode == 0  # setup ran
    response = httpx.get(f"{lost.url}/healthz", timeout=5)
    assert (response.status_code, response.headers.get("X-App-Version")) == (200, "1.0.0")
    assert lost.serving() == (lost.release, lost.digest)  # the same artifact
    assert f"release {lost.release} (from the tags of snapshot" in out

    assert lost.pg.psql(lost.database, "SELECT count(*) FROM t") == "100"
    assert lost.pg.psql(lost.database, "SELECT v FROM t WHERE id = 42") == "row 42"
    uploads = lost.shared() / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == list(UPLOADS)
    assert (uploads / "file1.txt").read_text() == "uploaded file1.txt\n"

    each = ", ".join(rf"{step} [\d.]+s \(\d+%\)" for step in STEPS)
    one_line = " ".join(out.split())  # the console wraps long lines
    assert re.search(rf"in [\d.]+s: {each} ", one_line), out  # the recovery time, per step
    assert out.strip().splitlines()[-1] == (
        f"one step left: point DNS or the load balancer for {ENV} at {NEW_ADDRESS} "
        f"(nginx listens on {NEW_ADDRESS}:{lost.nginx_port})"
    )
    status = json.loads(lost.shipyard("status", ENV, "--json").stdout)
    (recovery,) = status["drills"]
    assert (recovery["kind"], recovery["drill"], recovery["ok"]) == ("recover", False, True)
    assert list(recovery["steps"]) == STEPS
    assert recovery["seconds"] == pytest.approx(sum(recovery["steps"].values()), abs=0.01)


def test_the_recovered_server_takes_its_first_backup_to_the_same_repository(
    lost: LostServer,
) -> None:
    taken = lost.shipyard("backup", "run", ENV, "--json")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert sorted(r["source"] for r in json.loads(taken.stdout)) == ["db", "uploads"]
    listing = json.loads(lost.shipyard("backup", "list", ENV, "--json").stdout)
    assert len([r for r in listing if r["source"] == "db"]) == 2  # the lost server's and this


def test_a_second_recover_onto_the_server_now_serving_is_refused_before_setup_touches_it(
    lost: LostServer,
) -> None:
    rotate = lost.fresh.root / "etc/logrotate.d/shipyard-reconcile-production"
    rotate.unlink()  # setup would write it again
    refused = lost.shipyard("recover", ENV, "--to", lost.new_host)
    assert refused.returncode == 7, refused.stdout + refused.stderr
    assert "already serves production" in refused.stderr
    assert "packages" not in refused.stdout  # no setup step ran
    assert not rotate.exists()  # nothing changed
    response = httpx.get(f"{lost.url}/healthz", timeout=5)
    assert response.status_code == 200


def test_the_recovered_server_gets_its_backup_and_verify_timers(lost: LostServer) -> None:
    assert httpx.get(f"{lost.url}/healthz", timeout=5).status_code == 200  # recovered
    installed = lost.shipyard("backup", "schedule", "install", ENV)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    units = lost.fresh.root / "home/deploy/.config/systemd/user"  # the deploy user's own
    timers = sorted(path.name for path in units.glob("*.timer"))
    assert any("backup" in name for name in timers), timers
    assert any("verify" in name for name in timers), timers
