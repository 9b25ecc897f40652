# `shipyard setup` (docs/setup.md): its tests set up a fresh Debian 12 root made with
# debootstrap (minbase + openssh-server + python3), built once and cached outside the
# repository (/var/cache/shipyard-tests, tests/support/fresh_root.py; about a minute).
fresh_root_packages=()
command -v debootstrap >/dev/null || fresh_root_packages+=(debootstrap)
command -v zstd >/dev/null || fresh_root_packages+=(zstd)
if ((${#fresh_root_packages[@]})); then
  echo "setup: installing ${fresh_root_packages[*]}" >&2
  apt_install "${fresh_root_packages[@]}"
fi
as_root python3 tests/support/fresh_root.py
