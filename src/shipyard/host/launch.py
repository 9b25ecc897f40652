"""Start one slot's app process: the command supervisord runs for web-blue/web-green.

Reads the slot spec and the slot's env file (0600), both written at BOOT, so that
neither the start command nor any secret ever appears in supervisord's config or in a
process argument list, then replaces itself with `sh -c "exec <start>"`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shipyard.host.envfile import read_env_file
from shipyard.host.slots import read_spec
from shipyard.plan.layout import Layout


def main(argv: list[str]) -> int:
    base, slot = Path(argv[0]), argv[1]
    process = argv[2] if len(argv) > 2 else "web"
    layout = Layout.of_base(base)
    spec = read_spec(layout, slot)
    if spec is None:
        sys.stderr.write(f"shipyard: slot {slot} has no spec ({layout.slot_spec(slot)})\n")
        return 1
    env = dict(os.environ)
    env.update(read_env_file(layout.slot_env(slot)))
    env.update(
        SHIPYARD_RELEASE=spec.release_id,
        SHIPYARD_SLOT=slot,
        SHIPYARD_ENV=layout.env,
    )
    command = spec.start if process == "web" else spec.workers[process]
    if process != "web":
        env.pop("PORT", None)
        env.pop("SHIPYARD_SOCKET", None)
        env["SHIPYARD_PROCESS"] = process
    elif spec.listen_mode == "socket":
        socket_path = layout.slot_socket(slot)
        socket_path.unlink(missing_ok=True)
        env["SHIPYARD_SOCKET"] = str(socket_path)
        env.pop("PORT", None)
    else:
        env["PORT"] = str(spec.port)
        env.pop("SHIPYARD_SOCKET", None)
    os.chdir(layout.release_dir(spec.release_id))
    sys.stdout.write(f"shipyard: starting {process} of release {spec.release_id} in {slot}\n")
    sys.stdout.flush()
    os.execvpe("sh", ["sh", "-c", "exec " + command], env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
