"""Pure planning: nginx and supervisord config, host requests, rollback targets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.records import deployment, host_status, slot_status

from shipyard.config.model import Environment
from shipyard.plan import requests
from shipyard.plan.layout import Layout
from shipyard.plan.nginx_conf import ServerBlock, render_server
from shipyard.plan.rollback import NoRollbackTarget, previous_good_release, warm_slot
from shipyard.plan.routes import ROUTES, parse_route, route_name
from shipyard.plan.supervisor_conf import SupervisorConfig, render
from shipyard.protocol.common import Deployment
from shipyard.protocol.inspect import StatusReply


def block(**changes: object) -> ServerBlock:
    values: dict[str, object] = {
        "app": "reconcile",
        "env": "production",
        "listen": "0.0.0.0:80",
        "server_names": ("example.com",),
        "client_max_body_size": "10m",
        "access_log": Path("/srv/x/logs/access.log"),
        "listen_mode": "socket",
        "current_socket": Path("/srv/x/run/current.sock"),
        "previous_socket": Path("/srv/x/run/previous.sock"),
        "route_link": Path("/srv/x/run/route"),
        "ports": (9001, 9002),
    }
    values.update(changes)
    return ServerBlock(**values)  # type: ignore[arg-type]


def test_socket_mode_points_nginx_at_the_fixed_symlink_with_the_old_slot_as_backup() -> None:
    text = render_server(block())
    assert "server unix:/srv/x/run/current.sock max_fails=0;" in text
    assert "server unix:/srv/x/run/previous.sock backup max_fails=0;" in text
    assert "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;" in text
    assert "listen 0.0.0.0:80;" in text and "server_name example.com;" in text


def test_no_upstream_keepalive_so_each_new_request_follows_the_switch() -> None:
    upstream = render_server(block()).split("upstream ", 1)[1].split("}", 1)[0]
    assert "keepalive" not in upstream


def test_tcp_mode_picks_the_upstream_of_the_route_link_per_request() -> None:
    text = render_server(block(listen_mode="tcp"))
    assert "root /srv/x/run/route;" in text
    assert "map $realpath_root $shipyard_reconcile_production_route {" in text
    assert "proxy_pass http://$shipyard_reconcile_production_route;" in text
    assert '"~/routes/green-blue$" shipyard_reconcile_production_green_blue;' in text
    assert (
        "upstream shipyard_reconcile_production_green_blue {\n"
        "    server 127.0.0.1:9002 max_fails=0;\n"
        "    server 127.0.0.1:9001 backup max_fails=0;\n}"
    ) in text


def test_tcp_mode_has_an_upstream_for_every_pair_of_primary_and_backup_slot() -> None:
    text = render_server(block(listen_mode="tcp"))
    assert len(ROUTES) == 4
    for primary, backup in ROUTES:
        assert f"upstream shipyard_reconcile_production_{primary}_{backup} {{" in text
        assert parse_route(route_name(primary, backup)) == (primary, backup)
    assert parse_route("blue") is None and parse_route("red-blue") is None


@pytest.mark.parametrize("name", ["bad;name", "a b", "x{y}"])
def test_server_names_that_nginx_would_misread_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="server name"):
        render_server(block(server_names=(name,)))


def test_supervisord_runs_both_slots_through_the_launcher_and_never_embeds_the_start_command() -> (
    None
):
    layout = Layout(Path("/srv/shipyard"), "reconcile", "production")
    text = render(SupervisorConfig(layout, "/usr/bin/python3", "nginx", drain_timeout=7))
    assert "[program:web-blue]" in text and "[program:web-green]" in text
    assert "-m shipyard.host.launch /srv/shipyard/reconcile/production blue" in text
    assert "stopwaitsecs=7" in text
    assert "[program:nginx]" in text and "[program:reaper]" in text
    system = render(SupervisorConfig(layout, "/usr/bin/python3", None, drain_timeout=7))
    assert "[program:nginx]" not in system


def env(**changes: object) -> Environment:
    values: dict[str, object] = {
        "name": "production",
        "app": "reconcile",
        "start": "gunicorn app:app",
        "hosts": ["local"],
    }
    values.update(changes)
    return Environment.model_validate(values)


def test_local_hosts_run_this_very_installation_and_ssh_hosts_the_configured_command() -> None:
    local = env()
    assert requests.host_argv(local, local.hosts[0], "boot") == [
        sys.executable,
        "-m",
        "shipyard.host",
        "boot",
    ]
    remote = env(hosts=["deploy@h"], shipyard_command="/opt/shipyard/bin/shipyard")
    assert requests.host_argv(remote, remote.hosts[0], "switch") == [
        "/opt/shipyard/bin/shipyard",
        "host",
        "switch",
    ]


# That secrets never reach a command line is tested where it can fail: on the argv of
# every real process during a deploy (tests/integration/test_secrets_argv.py).


def deployments(*rows: tuple[str, str]) -> list[Deployment]:
    return [deployment(r, o) for r, o in rows]


def test_rollback_picks_the_newest_good_release_that_is_not_active() -> None:
    history = deployments(("c", "succeeded"), ("b", "failed"), ("a", "succeeded"))
    assert previous_good_release(history, "c", set(), {"a", "b", "c"}) == "a"


def test_rollback_never_picks_a_bad_or_removed_release() -> None:
    history = deployments(("c", "succeeded"), ("b", "succeeded"), ("a", "succeeded"))
    assert previous_good_release(history, "c", {"b"}, {"a", "b", "c"}) == "a"
    with pytest.raises(NoRollbackTarget):
        previous_good_release(history, "c", {"b"}, {"b", "c"})


def test_a_slot_is_warm_only_if_idle_running_and_holding_the_release() -> None:
    def status(green_process: str) -> StatusReply:
        return host_status(
            slot_status("blue", True, "b", "active", "RUNNING"),
            slot_status("green", False, "a", "warm", green_process),
        )

    assert warm_slot(status("RUNNING"), "a") == "green"
    assert warm_slot(status("RUNNING"), "b") is None
    assert warm_slot(status("STOPPED"), "a") is None


def test_tcp_mode_retries_a_5xx_on_the_backup_slot_as_socket_mode_does() -> None:
    text = render_server(block(listen_mode="tcp"))
    assert "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;" in text
