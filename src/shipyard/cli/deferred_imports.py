"""Stand-ins for modules that load at start-up only to go unused.

Two rich modules that typer's help renderer imports and never uses here, and pydantic's
plugin loader (a command runs without pydantic plugins).

`typer.rich_utils` imports `rich.markdown` (markdown-it with it) for the `markdown` help
markup mode, and `rich.traceback` (pygments with it) for pretty exceptions, at import
time. Shipyard uses neither (rich markup; `pretty_exceptions_enable=False`), yet together
they were a large part of `shipyard --help`'s start-up (docs/benchmarks-speed.md). Each
stand-in is a class of the same name that imports the real module the first time it is
called or an attribute of it is read, so nothing changes if typer ever does use one.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


class _Deferred(type):
    """A class that stands for a real one: reading an attribute loads the real class."""

    def __getattr__(cls, name: str) -> Any:
        return getattr(_load(cls.__module__, cls.__name__), name)


def _load(module: str, name: str) -> Any:
    if getattr(sys.modules.get(module), "__shipyard_deferred__", False):
        del sys.modules[module]
    return getattr(importlib.import_module(module), name)


def _stand_in(module: str, name: str) -> types.ModuleType:
    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return _load(module, name)(*args, **kwargs)

    stub = types.ModuleType(module, f"stand-in for {module} (shipyard.cli.deferred_imports)")
    stub.__shipyard_deferred__ = True  # type: ignore[attr-defined]
    cls = _Deferred(name, (), {"__module__": module, "__new__": new})
    setattr(stub, name, cls)
    return stub


def defer_unused_rich_modules() -> None:
    """Install the stand-ins, unless a real module is already loaded."""
    for module, name in DEFERRED.items():
        if module not in sys.modules:
            sys.modules[module] = _stand_in(module, name)


PLUGIN_LOADER = "pydantic.plugin._loader"


def defer_pydantic_plugin_loader() -> None:
    """Shipyard's commands run without pydantic plugins: a stand-in for pydantic's plugin
    loader answers "none", unless the real loader is already loaded.

    pydantic asks its loader for plugins each time it builds a validator: typer's, for
    each parameter of the command that runs (with `PYDANTIC_DISABLE_PLUGINS=1` set around
    it, so none are loaded), and the configuration models' and the runtime spec's. The
    real loader imports `importlib.metadata` when it loads and, unless plugins are off,
    reads the entry points of every installed distribution once; together that was a
    large part of a warm rollback's CPU (docs/benchmarks-speed.md). A plugin only
    observes validation (Shipyard documents none, and its models are its own), so the
    configuration, its errors and every output are the same without.
    """
    if PLUGIN_LOADER in sys.modules:
        return
    stub = types.ModuleType(PLUGIN_LOADER, f"stand-in for {PLUGIN_LOADER} ({__name__})")
    stub.__shipyard_deferred__ = True  # type: ignore[attr-defined]

    def get_plugins() -> tuple[()]:
        return ()

    stub.get_plugins = get_plugins  # type: ignore[attr-defined]
    sys.modules[PLUGIN_LOADER] = stub
