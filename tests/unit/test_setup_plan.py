"""`shipyard setup`: the facts decision, the settings a set-up host needs, the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment
from shipyard.execute.setup import SetupRefused, public_keys, select_hosts
from shipyard.plan.setup_facts import parse_facts, refusal
from shipyard.plan.setup_plan import (
    PACKAGES,
    STEPS,
    build_host_plan,
    plan_json,
    repair_config,
    required_settings,
    sudoers,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5 team"
SET_UP = f"""
app: shop
start: gunicorn app:app
nginx: {{mode: system, include_dir: /etc/nginx/shipyard.d, binary: shipyard-nginx}}
setup: {{authorized_keys: ["{KEY}"]}}
workers: {{queue: {{command: python worker.py}}}}
environments:
  production:
    hosts: [deploy@app1.example.com, "deploy@app2.example.com:2222"]
  plain:
    hosts: [root@app3.example.com]
    nginx: {{mode: managed}}
"""

DEBIAN = "id=debian\nlike=\nversion=12\npretty=Debian GNU/Linux 12 (bookworm)\n" \
    "machine=x86_64\npython=3.11\nsystemd=1\nuid=0\nsudo=0\n"  # fmt: skip


def env(tmp_path: Path, name: str = "production") -> Environment:
    path = tmp_path / "shipyard.yml"
    path.write_text(SET_UP)
    return ConfigFile.load(path).environment(name)


def test_a_debian_host_with_python_3_11_is_accepted() -> None:
    facts = parse_facts(DEBIAN)
    assert facts.python == (3, 11) and facts.systemd and facts.is_root
    assert refusal(facts) is None


def test_ubuntu_and_debian_derivatives_count_as_debian_like() -> None:
    assert refusal(parse_facts(DEBIAN.replace("id=debian", "id=ubuntu"))) is None
    mint = DEBIAN.replace("id=debian\nlike=", "id=linuxmint\nlike=ubuntu debian")
    assert refusal(parse_facts(mint)) is None


def test_a_host_that_is_not_debian_like_is_refused_with_its_name() -> None:
    facts = parse_facts(
        DEBIAN.replace("id=debian", "id=fedora").replace(
            "Debian GNU/Linux 12 (bookworm)", "Fedora Linux 40"
        )
    )
    why = refusal(facts)
    assert why is not None and "Fedora Linux 40 is not Debian-like" in why[0]


def test_a_host_without_python_or_with_an_old_one_is_refused() -> None:
    none = refusal(parse_facts(DEBIAN.replace("python=3.11", "python=")))
    old = refusal(parse_facts(DEBIAN.replace("python=3.11", "python=3.9")))
    assert none is not None and "python3 is not installed" in none[0]
    assert old is not None and "3.9" in old[0] and "3.11" in old[0]


def test_a_user_without_root_or_sudo_is_refused() -> None:
    why = refusal(parse_facts(DEBIAN.replace("uid=0", "uid=1000")))
    assert why is not None and "sudo" in why[0]


def test_a_set_up_environment_needs_nothing_more(tmp_path: Path) -> None:
    assert required_settings(env(tmp_path)) == []


def test_an_environment_that_does_not_fit_is_told_which_keys_to_set(tmp_path: Path) -> None:
    problems = required_settings(env(tmp_path, "plain"))
    assert any(p.startswith("nginx.mode: system") for p in problems)
    assert any("root@app3.example.com as deploy@" in p for p in problems)


def test_steps_are_one_ordered_list_and_the_plan_follows_it(tmp_path: Path) -> None:
    plan = build_host_plan(env(tmp_path), "deploy@app1.example.com", "app1.example.com", 22,
                           parse_facts(DEBIAN), [KEY], ("/w/wheels.tar", "ab" * 32), "bluegreen-shipyard==1.0")  # fmt: skip
    names = [step.name for step in plan.steps]
    # facts come first, apart; linger and the backup timers are for backups only; serve: setup.serve
    assert names == [s for s in STEPS if s not in ("facts", "linger", "backup-schedule", "serve")]
    packages = plan.steps[0].ops[0]["packages"]
    assert packages == list(PACKAGES) and "nginx" in packages and "restic" in packages
    assert plan.user == "root" and not plan.sudo


def test_without_systemd_running_units_are_enabled_but_nothing_is_started(tmp_path: Path) -> None:
    facts = parse_facts(DEBIAN.replace("systemd=1", "systemd=0"))
    plan = build_host_plan(env(tmp_path), "deploy@app1.example.com", "app1.example.com", 22,
                           facts, [KEY], ("/w/wheels.tar", "ab" * 32), "bluegreen-shipyard==1.0")  # fmt: skip
    ops = [op for step in plan.steps for op in step.ops]
    assert not any(op["op"] == "command" and "systemctl" in " ".join(op["argv"]) for op in ops)
    services = [op for op in ops if op["op"] == "service"]
    assert services and not any(op["start"] for op in services)
    assert {op["wants_link"].rsplit("/", 1)[1] for op in services} >= {
        "nginx.service", "nftables.service", "shipyard-shop-production.service"}  # fmt: skip


def test_with_systemd_running_it_reloads_only_after_a_unit_file_it_wrote_changed(
    tmp_path: Path,
) -> None:
    plan = build_host_plan(env(tmp_path), "deploy@app1.example.com", "app1.example.com", 22,
                           parse_facts(DEBIAN), [KEY], ("/w/wheels.tar", "ab" * 32), "bluegreen-shipyard==1.0")  # fmt: skip
    units = 0
    for step in plan.steps:
        reloads = [i for i, op in enumerate(step.ops)
                   if op["op"] == "command" and "daemon-reload" in op["argv"]]  # fmt: skip
        assert all(step.ops[i].get("when_changed") for i in reloads), step  # never every run
        for i, op in enumerate(step.ops):
            if op["op"] == "file" and op["path"].startswith("/etc/systemd/system/"):
                units += 1  # a unit file: a reload after it changed, before its service op
                reload = next(r for r in reloads if i in step.ops[r]["when_changed"])
                service = next(j for j, o in enumerate(step.ops) if o["op"] == "service")
                assert i < reload < service
    assert units >= 1  # the boot unit
    boot = next(step for step in plan.steps if step.name == "boot-units")
    assert not next(op for op in boot.ops if op["op"] == "service")["start"]


def test_the_firewall_opens_the_hosts_ssh_port_80_and_443_only(tmp_path: Path) -> None:
    plan = build_host_plan(env(tmp_path), "deploy@app2.example.com:2222", "app2.example.com",
                           2222, parse_facts(DEBIAN), [KEY], ("/w/wheels.tar", "ab" * 32), "bluegreen-shipyard==1.0")  # fmt: skip
    firewall = next(step for step in plan.steps if step.name == "firewall")
    text = firewall.ops[0]["content"]
    assert "policy drop" in text and "tcp dport { 22, 80, 443, 2222 } accept" in text


def test_the_deploy_user_may_only_start_test_and_reload_nginx() -> None:
    text = sudoers("deploy")
    assert 'NOPASSWD: /usr/sbin/nginx "", /usr/sbin/nginx -t -q, /usr/sbin/nginx -s reload' in text


def test_the_repair_config_at_boot_has_no_secrets_and_names_the_workers(tmp_path: Path) -> None:
    text = repair_config(env(tmp_path))
    assert "hosts:\n    - local" in text or "- local" in text
    assert "queue" in text and "python worker.py" not in text and "\nsecrets:" not in text


def test_the_plan_is_json_without_argv_secrets(tmp_path: Path) -> None:
    plan = build_host_plan(env(tmp_path), "deploy@app1.example.com", "app1.example.com", 22,
                           parse_facts(DEBIAN), [KEY], ("/w/wheels.tar", "ab" * 32), "bluegreen-shipyard==1.0")  # fmt: skip
    document = json.loads(plan_json([plan], check=True))
    assert document["check"] is True and document["hosts"][0]["hostname"] == "app1.example.com"


def test_public_keys_come_from_lines_and_pub_files(tmp_path: Path) -> None:
    (tmp_path / "alice.pub").write_text(KEY.replace("team", "alice") + "\n")
    path = tmp_path / "shipyard.yml"
    path.write_text(SET_UP.replace(f'["{KEY}"]', f'["{KEY}", alice.pub]'))
    keys = public_keys(ConfigFile.load(path).environment("production"), tmp_path)
    assert keys == [KEY, KEY.replace("team", "alice")]


def test_no_public_keys_is_refused_before_any_connection(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yml"
    path.write_text(SET_UP.replace(f'["{KEY}"]', "[]"))
    with pytest.raises(SetupRefused, match="empty"):
        public_keys(ConfigFile.load(path).environment("production"))


def test_one_host_is_chosen_by_address_or_name(tmp_path: Path) -> None:
    production = env(tmp_path)
    assert [h.address for h in select_hosts(production, "app2.example.com")] == [
        "deploy@app2.example.com:2222"]  # fmt: skip
    with pytest.raises(SetupRefused, match="not a host"):
        select_hosts(production, "elsewhere")


BACKUP = """    secrets: {RESTIC_PASSWORD: {from_env: RESTIC_PASSWORD}}
    backup:
      password_secret: RESTIC_PASSWORD
      sources: [{name: uploads, type: directory, path: uploads}]
"""


def backed_up(tmp_path: Path, schedule: str = "") -> Environment:
    path = tmp_path / "shipyard.yml"
    text = BACKUP + (f"      schedule: {schedule}\n" if schedule else "")
    path.write_text(SET_UP.replace("  plain:\n", text + "  plain:\n"))
    return ConfigFile.load(path).environment("production")


def steps_of(environment: Environment, label: str, facts: str = DEBIAN) -> dict[str, Any]:
    host = label.partition("@")[2].partition(":")[0]
    plan = build_host_plan(environment, label, host, 22, parse_facts(facts), [KEY],
                           ("/w/wheels.tar", "ab" * 32), "bluegreen-shipyard==1.0")  # fmt: skip
    return {step.name: step.ops for step in plan.steps}


def test_with_a_backup_schedule_the_primary_lingers_so_the_deploy_users_timers_run(
    tmp_path: Path,
) -> None:
    production = backed_up(tmp_path)
    steps = steps_of(production, "deploy@app1.example.com")
    names = list(steps)
    assert names.index("boot-units") < names.index("linger") < names.index("firewall")
    linger = steps["linger"]
    assert linger[0]["path"] == "/var/lib/systemd/linger/deploy" and linger[0]["content"] == ""
    assert linger[1]["argv"] == ["loginctl", "enable-linger", "deploy"]
    assert linger[1]["when_changed"] == [0]  # once: only when the file was new
    assert [s for s in STEPS if s in names or s in ("facts", "backup-schedule")] == [
        "facts", *names, "backup-schedule"]  # fmt: skip


def test_without_systemd_running_lingering_is_only_the_file_logind_reads_at_boot(
    tmp_path: Path,
) -> None:
    facts = DEBIAN.replace("systemd=1", "systemd=0")
    linger = steps_of(backed_up(tmp_path), "deploy@app1.example.com", facts)["linger"]
    assert [op["op"] for op in linger] == ["file"]


def test_only_the_primary_of_a_scheduled_environment_lingers(tmp_path: Path) -> None:
    assert "linger" not in steps_of(backed_up(tmp_path), "deploy@app2.example.com:2222")
    unscheduled = backed_up(tmp_path, "{enabled: false}")
    assert "linger" not in steps_of(unscheduled, "deploy@app1.example.com")
