"""How the workflows install Shipyard, and what a package index says: pure decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.dist.index import IndexAnswer, normalize, project_url, version_of, versions_from_page
from shipyard.dist.install import InstallPlan, choose_install, index_command, wheel_command
from shipyard.dist.running import Checkout
from shipyard.dist.wheel import wheel_filename

WHEEL = "bluegreen_shipyard-1.2.0-py3-none-any.whl"
URL = "https://pypi.org/simple/bluegreen-shipyard/"
HAS_IT = IndexAnswer(URL, frozenset({"1.1.0", "1.2.0"}))
LACKS_IT = IndexAnswer(URL, frozenset({"1.1.0"}))
UNKNOWN_NAME = IndexAnswer(URL, frozenset())
UNREACHABLE = IndexAnswer(URL, None, "ConnectError: [Errno 111] Connection refused")
RELEASE_TREE = Checkout(Path("/src/shipyard"), "abc", tagged=True, clean=True)
EDITED_TREE = Checkout(Path("/src/shipyard"), "abc", tagged=True, clean=False)
BETWEEN_TAGS = Checkout(Path("/src/shipyard"), "abc", tagged=False, clean=True)

CASES = {
    "installed, published": (dict(answer=HAS_IT), "pypi", "1.2.0 is published on " + URL),
    "installed, not yet published": (
        dict(answer=LACKS_IT),
        "wheel",
        "1.2.0 is not published on " + URL,
    ),
    "installed, name unknown to the index": (dict(answer=UNKNOWN_NAME), "wheel", "not published"),
    "installed, index unreachable": (dict(answer=UNREACHABLE), "wheel", "Connection refused"),
    "checkout at its release tag, published": (
        dict(answer=HAS_IT, checkout=RELEASE_TREE),
        "pypi",
        "is published",
    ),
    "checkout with changes": (
        dict(answer=HAS_IT, checkout=EDITED_TREE),
        "wheel",
        "has uncommitted changes",
    ),
    "checkout between tags": (
        dict(answer=None, checkout=BETWEEN_TAGS),
        "wheel",
        "not the tag v1.2.0",
    ),
    "asked for pypi": (dict(requested="pypi", answer=None), "pypi", "--install-from pypi"),
    "asked for the wheel": (
        dict(requested="wheel", answer=HAS_IT),
        "wheel",
        "--install-from wheel",
    ),
    "own command wins": (
        dict(requested="wheel", custom_command=" pip install 'x @ git+https://h/x@v1' "),
        "command",
        "the install command you gave",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_install_source_follows_what_is_published_and_what_runs(case: str) -> None:
    options, source, why = CASES[case]
    plan = choose_install("1.2.0", WHEEL, **options)  # type: ignore[arg-type]
    assert plan.source == source
    assert why in plan.reason
    if source == "pypi":
        assert plan == InstallPlan("pypi", index_command("1.2.0"), plan.reason)
        assert plan.command == "python -m pip install bluegreen-shipyard==1.2.0"
    if source == "wheel":
        assert plan.wheel == f".github/shipyard/{WHEEL}"
        assert plan.command == wheel_command(f".github/shipyard/{WHEEL}")
    if source == "command":
        assert plan.command == "pip install 'x @ git+https://h/x@v1'"


def test_the_wheel_is_installed_from_the_workflows_own_commit() -> None:
    assert wheel_command(f".github/shipyard/{WHEEL}").splitlines()[1:] == [
        f'git show "$GITHUB_SHA:.github/shipyard/{WHEEL}" > "$RUNNER_TEMP/{WHEEL}"',
        f'python -m pip install "$RUNNER_TEMP/{WHEEL}"',
    ]


def test_the_wheel_file_name_is_the_normalized_distribution_name() -> None:
    assert wheel_filename("1.2.0") == WHEEL
    assert wheel_filename("1.3.0.dev0") == "bluegreen_shipyard-1.3.0.dev0-py3-none-any.whl"


FILES = [
    "bluegreen_shipyard-1.1.0-py3-none-any.whl",
    "bluegreen_shipyard-1.1.0.tar.gz",
    "bluegreen_shipyard-1.2.0rc1-1-py3-none-any.whl",  # with a build tag
    "bluegreen-shipyard-0.9.tar.gz",
    "bluegreen_shipyard_extra-2.0-py3-none-any.whl",  # another project
    "shipyard-5.0.tar.gz",
]


def test_versions_are_read_from_a_json_project_page() -> None:
    page = json.dumps({"name": "bluegreen-shipyard", "files": [{"filename": f} for f in FILES]})
    found = versions_from_page(page, "application/vnd.pypi.simple.v1+json")
    assert found == {"1.1.0", "1.2.0rc1", "0.9"}


def test_versions_are_read_from_an_html_project_page() -> None:
    links = "".join(f'<a href="../../files/{f}#sha256=00">{f}</a><br/>' for f in FILES)
    page = f"<!DOCTYPE html><html><body>{links}</body></html>"
    assert versions_from_page(page, "text/html") == {"1.1.0", "1.2.0rc1", "0.9"}


def test_an_unreadable_json_page_is_an_error_not_an_empty_answer() -> None:
    with pytest.raises(ValueError):
        versions_from_page("{not json", "application/vnd.pypi.simple.v1+json")


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("bluegreen_shipyard-1.0.0-py3-none-any.whl", "1.0.0"),
        ("BlueGreen.Shipyard-1.0.0.tar.gz", "1.0.0"),
        ("bluegreen_shipyard-1.0.0.zip", "1.0.0"),
        ("bluegreen_shipyard-1.0.0-py3-none.whl", None),
        ("bluegreen_shipyard-1.0.0.exe", None),
    ],
)
def test_a_file_name_gives_its_version(filename: str, version: str | None) -> None:
    assert version_of(filename) == version


def test_names_are_normalized_as_indexes_do() -> None:
    assert normalize("BlueGreen__Shipyard.x") == "bluegreen-shipyard-x"
    assert project_url("http://127.0.0.1:8000/simple") == (
        "http://127.0.0.1:8000/simple/bluegreen-shipyard/"
    )


def test_every_generated_workflow_installs_the_wheel_from_its_own_commit() -> None:
    import yaml

    from shipyard.github.workflows import WorkflowSettings, render_workflows

    command = wheel_command(f".github/shipyard/{WHEEL}")
    rendered = render_workflows(WorkflowSettings(app="reconcile", install_command=command))
    assert len(rendered) == 4
    for name, text in rendered.items():
        for job in yaml.safe_load(text)["jobs"].values():
            steps = job.get("steps", [])
            installs = [s for s in steps if s.get("name") == "Install Shipyard"]
            assert len(installs) == (1 if steps else 0), name
            for step in installs:
                assert step["run"].strip() == command
                # after the checkout (hotfix checks out another ref: git show still works)
                assert steps.index(step) > [s.get("uses", "") for s in steps].index(
                    "actions/checkout@v5"
                )


def test_a_source_tree_is_recognised_by_its_pyproject(tmp_path: Path) -> None:
    from shipyard.dist.running import source_tree

    package = tmp_path / "src" / "shipyard"
    package.mkdir(parents=True)
    assert source_tree(package) is None  # no pyproject.toml: an installed copy
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert source_tree(package) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "bluegreen-shipyard"\n')
    assert source_tree(package) == tmp_path
    site = tmp_path / "lib" / "site-packages" / "shipyard"
    site.mkdir(parents=True)
    assert source_tree(site) is None


def test_only_a_tagged_clean_checkout_is_the_release() -> None:
    assert RELEASE_TREE.is_release
    assert not EDITED_TREE.is_release and not BETWEEN_TAGS.is_release
