"""A configuration section's default is built without validating (so without building
its validator at import), and is the same value a validated, empty section has."""

from __future__ import annotations

import importlib
import pkgutil

from pydantic import BaseModel

import shipyard.config


def section_defaults() -> list[tuple[str, BaseModel]]:
    found = []
    for info in pkgutil.iter_modules(shipyard.config.__path__):
        module = importlib.import_module(f"shipyard.config.{info.name}")
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, BaseModel)):
                continue
            if value.__module__ != module.__name__:
                continue
            for name, spec in value.model_fields.items():
                if isinstance(spec.default, BaseModel):
                    found.append((f"{value.__name__}.{name}", spec.default))
    return found


def test_every_section_default_equals_the_section_validated_from_nothing() -> None:
    defaults = section_defaults()
    assert len(defaults) >= 20  # health, nginx, gates, tls, ...
    for where, default in defaults:
        validated = type(default).model_validate({})
        assert default == validated, where
        assert default.model_fields_set == validated.model_fields_set == set(), where


def test_importing_the_config_model_builds_no_validator() -> None:
    import subprocess
    import sys

    code = (
        "import shipyard.config.model as m\n"
        "from pydantic._internal._mock_val_ser import MockValSer\n"
        "built = [c.__name__ for c in (m.Environment, m.HealthCheck, m.Document, m.Nginx)\n"
        "         if not isinstance(c.__pydantic_validator__, MockValSer)]\n"
        "assert not built, built\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
