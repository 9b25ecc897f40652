"""`shipyard serve`: checks, incidents, alerts, the store, the dashboard and /metrics.

Layer: above `execute` (it reads the hosts through it), below `cli`. Nothing below
imports it; deploy commands reach its alerts through a hook the CLI injects.
"""
