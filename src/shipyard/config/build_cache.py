"""`build_cache`: what a build product depends on, so an unchanged one is reused.

    build: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    build_cache:
      - path: .venv
        inputs: [requirements.txt]
        key: python3 --version

or, to set how many unused cached products a cleanup keeps (default 3):

    build_cache: {products: [{path: .venv, inputs: [requirements.txt]}], keep: 5}

A product's cache key is the digest of its input files' contents, the key command's
output (run on the host, in the release) and the build command's text. See
docs/configuration.md ("Build cache") for what a hit does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:  # the deploy's protocol types load when a deploy asks for a spec
    from shipyard.protocol.prepare import CachedProduct as CachedProductSpec


def _inside(value: str) -> str:
    parts = Path(value).parts
    if not parts or Path(value).is_absolute() or ".." in parts or value in (".", "./"):
        raise ValueError(f"{value!r} must be a relative path inside the release")
    return value


class CachedProduct(BaseModel):
    """One product of `build` (a directory or file in the release) and its inputs."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str
    inputs: list[str] = Field(min_length=1)
    key: str | None = None  # a command whose output is part of the key (`python3 --version`)
    key_timeout: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("path")
    @classmethod
    def _path_inside(cls, value: str) -> str:
        return _inside(value)

    @field_validator("inputs")
    @classmethod
    def _inputs_inside(cls, values: list[str]) -> list[str]:
        return [_inside(value) for value in values]

    def spec(self) -> CachedProductSpec:
        from shipyard.protocol.prepare import CachedProduct as CachedProductSpec

        return CachedProductSpec(
            path=self.path.rstrip("/"),
            inputs=list(self.inputs),
            key_command=self.key,
            key_timeout=self.key_timeout,
        )


class BuildCache(BaseModel):
    """The declared products, and how many unused cached products a cleanup keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    products: list[CachedProduct] = Field(default_factory=list)
    keep: int = Field(default=3, ge=0, le=100)  # unused cached products kept, per product

    @model_validator(mode="before")
    @classmethod
    def _a_list_is_the_products(cls, data: Any) -> Any:
        return {"products": data} if isinstance(data, list) else data

    @field_validator("products")
    @classmethod
    def _distinct(cls, values: list[CachedProduct]) -> list[CachedProduct]:
        paths = [Path(v.path) for v in values]
        for i, a in enumerate(paths):
            for b in paths[i + 1 :]:
                if a == b or a in b.parents or b in a.parents:
                    raise ValueError(f"products {str(a)!r} and {str(b)!r} overlap")
        return values
