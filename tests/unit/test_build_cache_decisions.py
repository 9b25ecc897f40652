"""The build cache's pure parts: the key, which cached products a cleanup removes, the
configuration's shape, and rewriting a copied venv's absolute paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shipyard.config.build_cache import BuildCache
from shipyard.host.build_cache import relocate
from shipyard.plan.build_cache import CacheEntry, cache_key, entries_to_remove, product_name

BUILD = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
REQS = [("requirements.txt", b"httpx==0.28.1\n")]


def key(**changes: object) -> str:
    parts: dict[str, object] = {
        "build": BUILD,
        "path": ".venv",
        "inputs": REQS,
        "key_output": b"Python 3.11.7\n",
    }
    return cache_key(**(parts | changes))  # type: ignore[arg-type]


def test_the_same_inputs_give_the_same_key_whatever_their_order() -> None:
    two = [("a.txt", b"1"), ("b.txt", b"2")]
    assert key(inputs=two) == key(inputs=list(reversed(two)))
    assert key() == key()


@pytest.mark.parametrize(
    "change",
    [
        {"inputs": [("requirements.txt", b"httpx==0.28.2\n")]},
        {"inputs": [("requirements.txt", None)]},
        {"inputs": [("requirements.txt", b"")]},
        {"inputs": [("other.txt", b"httpx==0.28.1\n")]},
        {"key_output": b"Python 3.12.1\n"},
        {"build": BUILD + " --no-deps"},
        {"path": "venv"},
    ],
)
def test_a_change_to_any_input_the_key_output_or_the_build_text_changes_the_key(
    change: dict[str, object],
) -> None:
    assert key(**change) != key()


def test_a_missing_input_file_and_an_empty_one_have_different_keys() -> None:
    assert key(inputs=[("r.txt", None)]) != key(inputs=[("r.txt", b"")])


def test_parts_cannot_run_into_each_other_to_give_the_same_key() -> None:
    assert key(inputs=[("ab", b"c")]) != key(inputs=[("a", b"bc")])
    assert key(build="a", path="bc") != key(build="ab", path="c")


def test_a_product_path_becomes_one_directory_name() -> None:
    assert product_name(".venv") == ".venv"
    assert product_name("web/dist/") == "web%2Fdist"
    assert product_name("a%2Fb") != product_name("a/b")


def test_cleanup_keeps_cached_products_a_release_uses_and_the_newest_others() -> None:
    entries = [
        CacheEntry(".venv", "k1", 1.0),
        CacheEntry(".venv", "k2", 2.0),
        CacheEntry(".venv", "k3", 3.0),
        CacheEntry(".venv", "k4", 4.0),
        CacheEntry("node_modules", "n1", 1.0),
    ]
    removed = entries_to_remove(entries, used={(".venv", "k1")}, keep=1)
    assert [(e.product, e.key) for e in removed] == [(".venv", "k2"), (".venv", "k3")]
    assert entries_to_remove(entries, used=set(), keep=0)[-1].key == "n1"


def test_build_cache_is_a_list_of_products_or_a_mapping_with_keep() -> None:
    short = BuildCache.model_validate([{"path": ".venv", "inputs": ["requirements.txt"]}])
    assert short.keep == 3 and short.products[0].spec().key_command is None
    long = BuildCache.model_validate(
        {"products": [{"path": ".venv/", "inputs": ["r.txt"], "key": "python3 -V"}], "keep": 0}
    )
    assert long.keep == 0 and long.products[0].spec().path == ".venv"
    assert long.products[0].spec().key_command == "python3 -V"


@pytest.mark.parametrize(
    "products",
    [
        [{"path": "/srv/venv", "inputs": ["r.txt"]}],
        [{"path": "../venv", "inputs": ["r.txt"]}],
        [{"path": ".venv", "inputs": []}],
        [{"path": ".venv", "inputs": ["/etc/passwd"]}],
        [{"path": "a", "inputs": ["r"]}, {"path": "a/b", "inputs": ["r"]}],
        [{"path": ".venv", "inputs": ["r"], "command": "x"}],
    ],
)
def test_a_product_outside_the_release_or_overlapping_another_is_refused(
    products: list[dict[str, object]],
) -> None:
    with pytest.raises(ValidationError):
        BuildCache.model_validate(products)


def test_a_copied_venv_has_its_scripts_and_config_point_at_the_new_place(
    tmp_path: Path,
) -> None:
    old, new = "/srv/app/releases/aaa/.venv", str(tmp_path / ".venv")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    pip = tmp_path / ".venv" / "bin" / "pip"
    pip.write_text(f"#!{old}/bin/python3\nimport pip\n")
    pip.chmod(0o755)
    (tmp_path / ".venv" / "bin" / "python3").symlink_to("/usr/bin/python3")
    (tmp_path / ".venv" / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = x -m venv {old}\n")
    site = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "app.pth").write_text(f"{old}/../src\n")
    (site / "idna.py").write_text(f"# {old}\n")
    relocate(tmp_path / ".venv", old=old, new=new)
    assert (site / "app.pth").read_text() == f"{new}/../src\n"
    assert (site / "idna.py").read_text() == f"# {old}\n"  # module files are left as built
    assert pip.read_text() == f"#!{new}/bin/python3\nimport pip\n"
    assert pip.stat().st_mode & 0o777 == 0o755
    assert (tmp_path / ".venv" / "bin" / "python3").readlink() == Path("/usr/bin/python3")
    assert old not in (tmp_path / ".venv" / "pyvenv.cfg").read_text()


def test_the_prepare_progress_line_says_whether_the_build_cache_hit() -> None:
    from shipyard.execute.phases import _prepare_detail
    from shipyard.protocol.prepare import CacheOutcome, PrepareReply

    def reply(*hits: bool) -> PrepareReply:
        paths = [".venv", "node_modules"]
        outcomes = [CacheOutcome(path=paths[i], key="k", hit=h) for i, h in enumerate(hits)]
        return PrepareReply(reused=False, build_cache=outcomes)

    assert _prepare_detail(reply(True)) == "build cache hit: .venv"
    assert _prepare_detail(reply(True, False)) == "build cache miss: .venv, node_modules"
    assert _prepare_detail(PrepareReply(reused=True)) == "reused"
    assert _prepare_detail(PrepareReply(reused=False)) == ""
