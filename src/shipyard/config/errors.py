"""Configuration errors that point at the file, the line and the key."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.errors import ExitCode, ShipyardError


@dataclass
class ConfigError(ShipyardError):
    """A problem in shipyard.yml (or a secret it references): exit code 2.

    Its message (`str()`) names the file, the line and the key path; the hint is apart,
    printed after it by whoever reports the error.
    """

    exit_code = ExitCode.CONFIG

    file: str
    message: str
    key_path: str = ""
    line: int | None = None
    hint: str = ""

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        key = f" {self.key_path}:" if self.key_path else ""
        return f"{where}:{key} {self.message}"
