# Dashboard (docs/observability.md#dashboard): the browser tests drive Debian's chromium
# through Playwright from PyPI (`executable_path=/usr/bin/chromium`); Playwright's own
# browser download cannot work here and is never run.
command -v chromium >/dev/null || apt_install chromium fonts-dejavu-core
