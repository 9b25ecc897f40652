"""Shared fixtures. Each group lives in tests/support; import it here to share it."""

from support.sshd import ssh_hosts

__all__ = ["ssh_hosts"]
