"""What setup's `serve` step needs from the operator's machine (`setup.serve: true`):
the operator's shipyard.yml, the values of the secrets serve reads, and the watched
hosts' lines of the operator's known_hosts. The decisions are in `plan/serve_install.py`.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.config.loader import read_secret
from shipyard.config.observe import HeartbeatProbe
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.errors import ExitCode, ShipyardError
from shipyard.plan import serve_install as plan
from shipyard.transport.target import SshTarget


class ServeInstallRefused(ShipyardError):
    """serve cannot be installed from this configuration (nothing was changed)."""

    exit_code = ExitCode.REFUSED


def serve_install(config_file: Path | None, env_name: str, user: str) -> plan.ServeInstall:
    """Read what the serve step writes; refuse before any host changes if a secret is
    unset or a watched host has no known key."""
    if config_file is None:
        raise ServeInstallRefused(
            f"setup.serve of {env_name} needs the operator's shipyard.yml, and none was given",
            hint="run `shipyard setup ENV --config PATH` (recover does not install serve: "
            "run `shipyard setup` for the new host afterwards)",
        )
    config = ShipyardConfig.load(config_file)
    paths = plan.ServePaths(user)
    tokens = {
        name: [c.token_secret for c in config.checks(name) if isinstance(c, HeartbeatProbe)]
        for name in config.environments
    }
    try:
        needs = plan.secret_needs(config.alerts.channels, config.serve.store_secret, tokens)
    except ValueError as exc:
        raise ServeInstallRefused(str(exc), hint="rename the secret") from None
    values: dict[str, str] = {}
    for need in needs:
        if not need.env:
            values[need.file] = config.secret(need.name, "serve.secrets")
        else:
            env = config.environments[need.env]
            values[need.file] = read_secret(need.name, env.secrets[need.name], env.name,
                                            config.path)  # fmt: skip
    directory = config.path.resolve().parent
    data = plan.host_config(config.file.data, paths, needs, directory)
    return plan.ServeInstall(
        paths,
        plan.config_text(data, config.path.name),
        values,
        _known_hosts(config),
    )


def _known_hosts(config: ShipyardConfig) -> str:
    """The watched hosts' lines, from the known_hosts file each environment uses."""
    by_file: dict[Path, list[tuple[str, int]]] = {}
    for env in config.environments.values():
        known = env.ssh.options().known_hosts or Path("~/.ssh/known_hosts")
        hosts = by_file.setdefault(known.expanduser(), [])
        for host in env.hosts:
            if not host.is_local:
                target = SshTarget.parse(host.address)
                hosts.append((target.host, target.port or 22))
    text = ""
    for path, hosts in by_file.items():
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            source = ""
        except OSError as exc:
            raise ServeInstallRefused(
                f"cannot read {path}: {exc.strerror}", hint="check ssh.known_hosts"
            ) from None
        lines, missing = plan.known_hosts_lines(source, hosts)
        if missing:
            raise ServeInstallRefused(
                f"{path} has no host key for {', '.join(missing)}: serve checks host keys "
                "as strictly as every command",
                hint="connect to it once from here (a deploy, or `ssh` with "
                "StrictHostKeyChecking=ask after checking the key), then run setup again",
            )
        text += lines
    return text
