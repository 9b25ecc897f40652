"""Quality gates: checks that must pass before a release is built and shipped."""
