# PYTHONDONTWRITEBYTECODE=1 is set on the project's machines, so Python never writes the
# .pyc files of src/ (an editable install) and compiles every module at every start of
# the CLI. Compile them once here, as a wheel install does (docs/benchmarks-speed.md);
# an edited module is compiled again in memory until the next setup. The example app is
# left out: tests copy it into app repositories.
python3 -m compileall -q -x '/examples/' src/shipyard >/dev/null
