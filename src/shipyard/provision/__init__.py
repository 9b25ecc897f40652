"""Provisioning a server through pyinfra, in a subprocess of its own (docs/setup.md).

`runner` is that subprocess (`python -m shipyard.provision.runner`): it reads the plan
that `plan/setup_plan.py` built as JSON on stdin and writes one JSON line per host and
step on stdout. Nothing else in Shipyard imports pyinfra (its gevent monkey-patches the
whole process).
"""
