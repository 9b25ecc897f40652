"""Chart slices: complete ones are read from the store once, the rest on every view,
and together they are what reading everything again would give."""

from __future__ import annotations

from support.dashboard import MemoryStore, Result

from shipyard.serve.reads import CheckBucket
from shipyard.serve.web.buckets import BucketCache, grid


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[float, float]] = []

    def check_buckets(self, env, since, until, count):  # type: ignore[no-untyped-def,override]
        self.asked.append((since, until))
        return super().check_buckets(env, since, until, count)


def key(bucket: CheckBucket) -> tuple[str, str, int]:
    return (bucket.check, bucket.host, bucket.index)


def add(store: MemoryStore, start: int, end: int) -> None:
    store.checks += [
        Result("prod", "health", "h", float(t), t % 7 != 0, t % 50) for t in range(start, end, 10)
    ]


def test_a_slice_is_read_once_it_is_complete_and_the_views_match_a_full_read() -> None:
    store = CountingStore()
    cache = BucketCache(store, settle=20)
    add(store, 0, 1000)
    for now in (1000.0, 1100.0, 1105.0, 1400.0):
        add(store, int(now) - 100 if now > 1000 else 1000, int(now))
        start, end = grid(now, 600, 6)
        first, seen = cache.buckets("prod", start, end, 6, now)
        assert first == start / 100
        fresh = BucketCache(MemoryStore(checks=list(store.checks)), settle=20)
        assert sorted(seen, key=key) == sorted(
            fresh.buckets("prod", start, end, 6, now)[1], key=key
        )
    # the first view read [400, 900) to keep and [900, 1000) fresh; later views never
    # read a kept slice again
    assert store.asked[:2] == [(400.0, 900.0), (900.0, 1000.0)]
    assert all(since >= 900 for since, _ in store.asked[2:])


def test_the_grid_ends_at_the_first_line_at_or_after_now() -> None:
    assert grid(1050.0, 600, 6) == (500.0, 1100.0)
    assert grid(1100.0, 600, 6) == (500.0, 1100.0)
