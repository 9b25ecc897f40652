"""What setup asks of systemd for a unit on a host where systemd runs (pyinfra's
`systemd.service` arguments): enable, start only what is to be started, stop nothing."""

from __future__ import annotations

from shipyard.provision.services import systemd_service_arguments


def op(name: str, *, start: bool) -> dict[str, object]:
    return {"op": "service", "name": name, "systemd": True, "start": start,
            "unit_path": f"/etc/systemd/system/{name}",
            "wants_link": f"/etc/systemd/system/multi-user.target.wants/{name}"}  # fmt: skip


def test_a_unit_that_is_only_enabled_is_left_running_not_stopped() -> None:
    args = systemd_service_arguments(op("shipyard-shop-production.service", start=False))
    assert args["enabled"] is True
    assert args["running"] is None  # pyinfra stops a running unit on running=False


def test_a_unit_to_start_is_enabled_and_started() -> None:
    args = systemd_service_arguments(op("nginx.service", start=True))
    assert args == {"name": "nginx.service", "service": "nginx.service", "enabled": True,
                    "running": True}  # fmt: skip


def test_the_service_call_never_reloads_systemd_on_its_own() -> None:
    for start in (True, False):
        args = systemd_service_arguments(op("nginx.service", start=start))
        assert not args.get("daemon_reload")  # pyinfra would reload on every run
