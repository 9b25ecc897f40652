"""Exit codes, documented in docs/operations.md and `shipyard --help`."""

OK = 0
FAILED = 1  # the deploy/rollback did not go live; the previous release is still serving
CONFIG = 2  # bad configuration or usage
LOCKED = 3  # another deploy holds the environment's lock
UNREACHABLE = 4  # a host could not be reached or a host operation could not run
BUILD = 5  # the release artifact could not be built (git, dirty tree, hooks)
GATES = 6  # a quality gate failed (or could not run and fails closed); nothing was deployed
REFUSED = 7  # the environment refuses the release (not passed staging, no approval)
