# Distribution (docs/installing.md): the tests that install Shipyard's wheel into clean
# environments take its dependencies from a wheelhouse outside the repository, filled
# once per set of dependencies (tests/support/wheelhouse.py).
python3 tests/support/wheelhouse.py

# The distribution was called `shipyard` before it became `bluegreen-shipyard`. The old
# editable install left src/shipyard.egg-info, which still makes `shipyard` look
# installed (src/ is on sys.path); an old .venv may also have the old distribution.
rm -rf src/shipyard.egg-info
if [[ -x .venv/bin/python ]] && .venv/bin/python -m pip show -q shipyard >/dev/null 2>&1; then
  echo "setup: replacing the old distribution name in .venv" >&2
  .venv/bin/python -m pip uninstall -y -q shipyard >/dev/null
  rm -f .venv/.shipyard-setup  # reinstall below, as bluegreen-shipyard
fi

# actionlint runs ShellCheck on every `run:` script of the release workflow and of the
# generated workflows when it is installed (tests/integration/test_release_workflow.py).
command -v shellcheck >/dev/null || apt_install shellcheck
