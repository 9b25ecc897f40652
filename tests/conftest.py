"""Shared fixtures. Each group lives in tests/support; import it here to share it."""

from support.localenv import env_dir, repo
from support.sshd import ssh_hosts

__all__ = ["env_dir", "repo", "ssh_hosts"]
