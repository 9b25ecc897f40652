"""Which nginx workers still accept connections after a reload (pure; the /proc reading
and the reload itself: tests/integration/test_tls_acme.py)."""

from __future__ import annotations

from shipyard.host.nginx_workers import accepting, generation_replaced

OLD = {101: "nginx: worker process", 102: "nginx: cache manager process"}


def test_a_reload_is_not_over_while_an_old_worker_still_accepts_next_to_the_new_one() -> None:
    both = {101: "nginx: worker process", 201: "nginx: worker process"}
    assert not generation_replaced(accepting(OLD), both)


def test_a_reload_is_over_once_the_old_worker_is_shutting_down_or_gone() -> None:
    before = accepting(OLD)
    assert before == {101}  # the cache manager accepts nothing
    draining = {101: "nginx: worker process is shutting down", 201: "nginx: worker process"}
    assert generation_replaced(before, draining)
    assert generation_replaced(before, {201: "nginx: worker process"})


def test_a_reload_with_no_new_worker_yet_is_not_over() -> None:
    assert not generation_replaced({101}, {101: "nginx: worker process is shutting down"})
