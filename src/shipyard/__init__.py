"""Shipyard: zero-downtime blue-green deploys behind nginx.

`__version__` is the one place the version is written: the build reads it into the
package metadata (pyproject.toml, `[tool.setuptools.dynamic]`), `shipyard --version`
prints it, and the operator and its hosts compare it. See docs/installing.md#versions.
"""

__version__ = "0.1.0.dev0"

# The name on the package index (`pipx install bluegreen-shipyard`); the command is `shipyard`.
DISTRIBUTION = "bluegreen-shipyard"
