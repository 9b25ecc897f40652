"""GitHub Actions: the workflows `shipyard init --github` writes (push to production)."""

from shipyard.github.init import find_repo_root, settings_from_config, write_workflows
from shipyard.github.workflows import (
    GitHubSetupError,
    SecretFile,
    Target,
    WorkflowSettings,
    github_secrets,
    render_workflows,
)

__all__ = [
    "GitHubSetupError",
    "SecretFile",
    "Target",
    "WorkflowSettings",
    "find_repo_root",
    "github_secrets",
    "render_workflows",
    "settings_from_config",
    "write_workflows",
]
