"""What `gates:` in shipyard.yml may say."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GateCommand(BaseModel):
    """A configured check (tests, lint, type check) run in the app directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    run: str
    timeout: float = Field(default=900.0, gt=0)
    optional: bool = False


class GatesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    commands: list[GateCommand] = Field(default_factory=list)
