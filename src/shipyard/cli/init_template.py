"""The commented shipyard.yml that `shipyard init` writes."""

from __future__ import annotations

TEMPLATE = """\
# shipyard.yml: how Shipyard deploys this app. Reference: docs/configuration.md
# Commit it with the code: what runs (build, start, workers, health, checks, env) is read
# from the release's own committed copy; where (hosts, ssh, root, nginx) from this file.
app: {app}

# Run on each host in the new release directory, before it boots (optional).
build: python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt
# Reuse the venv an earlier deploy built while requirements.txt and the Python version
# stay the same (copied into the release, never shared with it): `build` is skipped.
build_cache:
  - path: .venv
    inputs: [requirements.txt]
    key: python3 -V

# Run once per deploy on the primary host, before traffic moves (optional).
# release_command: .venv/bin/python manage.py migrate --noinput

# How a slot starts. Shipyard sets SHIPYARD_SOCKET (a unix socket path) in socket mode,
# or PORT in tcp mode; SHIPYARD_RELEASE names the release.
start: .venv/bin/gunicorn --bind unix:$SHIPYARD_SOCKET app:app
listen_mode: socket          # socket (zero-drop switch, default) or tcp (switch by reload)

health:
  path: /healthz             # probed on the new slot before any traffic moves
  status: 200
  interval: 0.5              # seconds between probes
  timeout: 2                 # seconds per probe
  deadline: 30               # give up (and keep the old release) after this long
  healthy_threshold: 2       # consecutive successes needed

nginx:
  listen: 127.0.0.1:8080     # where this environment's nginx listens
  server_names: [_]

shared:
  dirs: [uploads]            # kept across releases in shared/
  files: []

env:
  LOG_LEVEL: info
secrets:                      # values never go in this file
  SECRET_KEY: {{from_env: SECRET_KEY}}

observe:                      # after the switch: watch errors and latency, roll back if bad
  window: 10
  max_error_ratio: 0.05

keep_releases: 5
rollback_window: 600          # seconds the old slot stays warm for a one-switch rollback
drain_timeout: 10             # seconds a stopping slot may finish in-flight requests

hooks:
  pre_deploy: []              # run here, in the repo; a failure stops the deploy
  post_deploy: []

environments:
  local:
    hosts: [local]
    root: .shipyard/hosts
  staging:
    hosts: [deploy@staging.example.com]
  production:
    hosts: [deploy@app1.example.com, deploy@app2.example.com]
    nginx:
      listen: 0.0.0.0:80
    promotion:
      requires: staging        # production only takes releases that passed staging
      soak: 0                  # seconds they must have run there first
      require_release_runtime: true  # only a release's own committed runtime runs here
"""


def render_template(app: str) -> str:
    return TEMPLATE.format(app=app)
