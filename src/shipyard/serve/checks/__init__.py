"""The check runners: HTTP (httpx), TCP, TLS days left (ssl), heartbeats (the store).

Each returns an `Outcome`; `run.run_check` turns a check's outcomes on its targets into
stored `CheckResult`s. A runner never raises for a failing target: the failure is the
outcome.
"""
