"""What a release runs with: read from its own shipyard.yml, compared with the working
tree's, chosen, and said out loud before any host is touched.

The release's file is read from the artifact itself (what the digest covers), so a
deploy of an old ref, a promotion and a hotfix all run what was committed with the code;
the operator's file still says where (hosts, SSH, paths, nginx) and by which rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment
from shipyard.config.runtime import (
    ResolvedRuntime,
    RuntimeSpec,
    resolve,
    spec_from_json,
    spec_of,
    with_spec,
)
from shipyard.execute.promotion import PromotionRefused
from shipyard.execute.reporter import Reporter
from shipyard.plan.runtime_diff import differences
from shipyard.protocol.records import ReleasesReply

if TYPE_CHECKING:  # a deploy's: `status` and `rollback` read recorded specs only
    from shipyard.release.artifact import Artifact

WORKING_TREE_FLAG = "--runtime-from-working-tree"


@dataclass(frozen=True)
class ChosenRuntime:
    resolved: ResolvedRuntime
    differs: list[str]  # keys on which the working tree's file disagrees with the release's
    unusable: str | None = None  # why the release's own file could not be read (override)

    @property
    def env(self) -> Environment:
        return self.resolved.env

    @property
    def spec_json(self) -> dict[str, Any]:
        return self.resolved.spec.to_json()

    @property
    def record(self) -> dict[str, Any]:
        record = self.resolved.record(self.differs)
        return record | {"release_file_unusable": self.unusable} if self.unusable else record


def release_label(config: ConfigFile, artifact: Artifact) -> str:
    """How errors name the release's own file: `shipyard.yml at 3f2a9c1b7d0e`."""
    manifest = artifact.manifest
    label = f"{config.path.name} at {manifest.commit[:12]}"
    return label + " (with uncommitted changes)" if manifest.dirty else label


def release_spec(config: ConfigFile, artifact: Artifact, env_name: str) -> RuntimeSpec:
    """The release's own what-runs for `env_name`; ConfigError (file, line, key) if its
    file is missing, invalid, or has no such environment."""
    label = release_label(config, artifact)
    from shipyard.release.artifact import read_member

    text = read_member(artifact, config.path.name)
    if text is None:
        raise ConfigError(
            label,
            f"the release has no {config.path.name}, so it does not say how it runs",
            hint=f"commit {config.path.name} next to the app, then deploy that commit",
        )
    try:
        committed = ConfigFile.parse(text, config.path, label)
        return spec_of(committed.environment(env_name))
    except ConfigError as error:
        if error.hint:
            raise
        raise replace(
            error,
            hint=f"this release's own {config.path.name} says how it runs, and it cannot be "
            "used: commit a fixed file and deploy that commit (no host was touched)",
        ) from None


def choose_runtime(
    config: ConfigFile,
    working: Environment,
    artifact: Artifact,
    reporter: Reporter,
    *,
    use_working_tree: bool = False,
) -> ChosenRuntime:
    """The release's own runtime (or, deliberately, the working tree's), with `working`'s
    where and rules. Prints what differs. Runs before any host is touched.

    A release whose own file cannot be used is refused (ConfigError), unless the operator
    asked for the working tree's runtime: then it is said, recorded, and goes on."""
    if use_working_tree and working.promotion.require_release_runtime:
        raise PromotionRefused(
            f"{working.name} runs only a release's own runtime "
            f"(promotion.require_release_runtime), so {WORKING_TREE_FLAG} is refused",
            hint=f"commit the change to {config.path.name}, test that commit, then deploy it",
        )
    try:
        release = release_spec(config, artifact, working.name)
    except ConfigError as error:
        if not use_working_tree:
            raise
        problem = str(error).splitlines()[0]
        reporter.info(f"warning: the release's own file cannot be used: {problem}")
        reporter.info(f"running the working tree's ({WORKING_TREE_FLAG}; recorded)")
        own = ResolvedRuntime(working, spec_of(working), "working-tree")
        return ChosenRuntime(own, [], unusable=problem)
    found = differences(spec_of(working), release)
    resolved = resolve(working, release, use_working_tree=use_working_tree)
    if found:
        label = release_label(config, artifact)
        reporter.info(
            f"what runs differs between {config.path.name} in the working tree and {label}:"
        )
        for difference in found:
            reporter.info(f"  {difference.describe()}")
        if use_working_tree:
            reporter.info(f"running the working tree's ({WORKING_TREE_FLAG}; recorded)")
        else:
            reporter.info(
                f"running the release's own (tested) one; {WORKING_TREE_FLAG} runs the "
                "working tree's instead"
            )
    elif use_working_tree:
        reporter.info(f"{WORKING_TREE_FLAG}: the working tree's runtime is the release's own")
    return ChosenRuntime(resolved, [d.key for d in found])


def recorded_env(
    where: Environment, listing: ReleasesReply, release_id: str | None = None
) -> Environment:
    """`where`, running what `release_id` (default: the host's active release) was recorded
    with on that host; `where` itself for a release recorded without a spec."""
    if release_id is None:
        row = listing.slots.get(listing.active_slot) if listing.active_slot else None
        release_id = row.release_id if row else None
    info = next((r for r in listing.releases if r.release_id == release_id), None)
    spec = spec_from_json(info.runtime) if info else None
    return with_spec(where, spec) if spec else where
