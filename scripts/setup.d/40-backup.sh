# Backups (docs/backups.md): restic stores every backup; the tests start their own
# PostgreSQL server (initdb in a temporary directory) and use its client tools.
backup_packages=()
command -v restic >/dev/null || backup_packages+=(restic)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || backup_packages+=(postgresql-15)
command -v pg_dump >/dev/null || backup_packages+=(postgresql-client-15)
if ((${#backup_packages[@]})); then
  echo "setup: installing ${backup_packages[*]}" >&2
  apt_install "${backup_packages[@]}"
fi
