# `shipyard setup` (docs/setup.md): its tests set up fresh Debian 12 and Ubuntu 24.04 roots made with
# debootstrap, built once and cached outside the repository (/var/cache/shipyard-tests,
# tests/support/fresh_root.py): minbase + openssh-server + python3 for the chroot tests
# (about a minute), and the same + systemd, systemd-sysv, dbus for the booted test
# (tests/support/booted_root.py: systemd-nspawn from systemd-container, `ip netns` from
# iproute2; about three minutes); and an Ubuntu 24.04 root (minbase + openssh-server +
# python3 from archive.ubuntu.com, about a minute) for tests/integration/test_setup_ubuntu.py.
fresh_root_packages=()
command -v debootstrap >/dev/null || fresh_root_packages+=(debootstrap)
command -v zstd >/dev/null || fresh_root_packages+=(zstd)
command -v systemd-nspawn >/dev/null || fresh_root_packages+=(systemd-container)
command -v ip >/dev/null || fresh_root_packages+=(iproute2)
if ((${#fresh_root_packages[@]})); then
  echo "setup: installing ${fresh_root_packages[*]}" >&2
  apt_install "${fresh_root_packages[@]}"
fi
as_root python3 tests/support/fresh_root.py
