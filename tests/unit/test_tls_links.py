"""The two live links: which one nginx reads when, and when each may be renamed (pure),
and the renames themselves in a temporary tree (nginx: tests/integration/test_tls_acme.py,
bench/tls_live_swap.py)."""

from __future__ import annotations

import time
from pathlib import Path

from shipyard.host.tls_links import point_links, targets
from shipyard.plan.layout import Layout
from shipyard.plan.tls_links import MARGIN, read_at, wait_before_changing

STEPS = [n / 1000 for n in range(1000)]


def test_nginx_reads_live_a_in_the_first_half_of_each_second_and_live_b_in_the_second() -> None:
    assert read_at(0.0) == 0 and read_at(0.499) == 0
    assert read_at(0.5) == 1 and read_at(0.999) == 1 and read_at(1234.2) == 0


def test_a_link_is_renamed_only_while_the_other_is_read_with_a_margin_either_side() -> None:
    for link in (0, 1):
        for now in STEPS:
            when = now + wait_before_changing(link, now)
            for near in (when - MARGIN + 0.001, when, when + MARGIN - 0.001):
                assert read_at(near) != link, (link, now, near)


def test_each_link_may_change_within_a_second_and_at_once_inside_its_window() -> None:
    for link in (0, 1):
        assert max(wait_before_changing(link, now) for now in STEPS) < 1.0
    assert wait_before_changing(0, 0.75) == 0.0 and wait_before_changing(1, 0.25) == 0.0
    assert abs(wait_before_changing(0, 0.25) - (0.5 + MARGIN - 0.25)) < 1e-9


def test_both_links_end_at_the_new_directory_each_renamed_inside_its_window(
    tmp_path: Path,
) -> None:
    where = Layout(tmp_path, "shop", "production")
    where.tls_dir.mkdir(parents=True)
    point_links(where, Path("key-0000000000000000"))  # new links: made at once
    assert targets(where) == ("key-0000000000000000", "key-0000000000000000")
    renamed: dict[int, float] = {}
    started = time.monotonic()
    point_links(where, Path("key-1111111111111111"))
    for i, link in enumerate(where.tls_links):
        renamed[i] = link.lstat().st_mtime % 1.0
    assert time.monotonic() - started < 1.5
    assert targets(where) == ("key-1111111111111111", "key-1111111111111111")
    for i, fraction in renamed.items():
        assert read_at(fraction) != i  # renamed while nginx read the other one
    point_links(where, None)
    assert targets(where) == (None, None)


def test_an_install_stopped_between_its_two_renames_is_settled_on_the_recorded_key(
    tmp_path: Path,
) -> None:
    from shipyard.execute.tls_material import self_signed
    from shipyard.host import tls_files
    from shipyard.host.tls_keys import id_of_certificate

    where = Layout(tmp_path, "shop", "production")
    old, new = self_signed(["shop.example.com"]), self_signed(["shop.example.com"])
    old_id, new_id = id_of_certificate(old.cert_pem), id_of_certificate(new.cert_pem)
    meta: dict[str, object] = {"source": "acme", "renewed_at": 1.0}
    tls_files.write_certificate(where, old_id, old.cert_pem, old.key_pem, meta)
    # as if an install had stopped after its new directory and one rename, before
    # installed.json: the links disagree, installed.json names the old key
    new_dir = where.tls_key_dir(new_id)
    new_dir.mkdir()
    (new_dir / tls_files.CERT_NAME).write_text(new.cert_pem)
    (new_dir / tls_files.KEY_NAME).write_text(new.key_pem or "")
    where.tls_links[0].unlink()
    where.tls_links[0].symlink_to(new_dir.name)
    assert tls_files.served_key_id(where) == old_id
    tls_files.settle_links(where)
    assert targets(where) == (f"key-{old_id}", f"key-{old_id}")
