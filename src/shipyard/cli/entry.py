"""Console entry point.

`shipyard host <op>` is what Shipyard runs on every host for every step, so it skips
loading the CLI framework: each host call costs one lean Python start-up.
"""

from __future__ import annotations

import sys


def run() -> None:
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "host" and not args[1].startswith("-"):
        from shipyard.host.agent import main as host_main

        request = None
        if "--request" in args:
            request = args[args.index("--request") + 1]
        sys.exit(host_main(args[1], request))
    if args == ["--version"]:  # asked by scripts and the setup of hosts: no CLI to load
        from shipyard import __version__

        print(__version__)
        sys.exit(0)
    from shipyard.core import startup_gc, timing

    startup_gc.pause()  # until the command begins its work: see the module
    if timing.enabled:
        import atexit

        timing.mark("entry point")
        atexit.register(timing.mark, "exit")

    from shipyard.cli import fastpath

    if fastpath.run(args):  # `status ENV`, `rollback ENV`: without typer
        return
    from shipyard.cli.deferred_imports import defer_unused_rich_modules

    defer_unused_rich_modules()  # before typer: see the module
    from shipyard.cli.main import run as cli_run

    cli_run()
