"""The admin listener's sampler in process, on a fake clock: how often it counts the sessions.

A count that walks a big shared store is slow; the sampler paces itself by what the last count
cost, so a small store's gauge is never more than a second or so old (the dashboard in
examples/cluster shows a new session at once) while a count over millions of keys does not
run back to back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sessionserver.server.http.listener import (
    COUNT_GAP_MAX,
    COUNT_SHARE,
    INTERVAL,
    WATCHED,
    Sampler,
)
from sessionserver.storage import StorageOptions
from sessionserver.storage.memory import MemoryStorage
from sessionserver.storage.redis.storage import RedisStorage

from ..sessions.conftest import FakeClock

pytestmark = pytest.mark.anyio


class Strategy:
    """What the sampler asks of a strategy (answers known at once, as the inline strategy
    gives them); a count costs ``cost`` seconds of the clock."""

    def __init__(self, store: Any, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self.cost = 0.0
        self.live = 0
        self.counts = 0

    def get_ttl(self, sid: bytes, now: float) -> Any:
        return -2

    def count(self, now: float) -> Any:
        self.counts += 1
        self.clock.advance(self.cost)
        return self.live


def sampler(store: Any) -> tuple[Sampler, Strategy, FakeClock]:
    clock = FakeClock(start=100.0)
    strategy = Strategy(store, clock)
    return Sampler(SimpleNamespace(strategy=strategy), clock), strategy, clock  # type: ignore[arg-type]


def memory() -> MemoryStorage:
    return MemoryStorage("memory://", StorageOptions(ttl=1440))


def redis() -> RedisStorage:
    return RedisStorage("redis://127.0.0.1:6379", StorageOptions(ttl=1440))  # never opened


async def test_a_cheap_count_runs_every_second() -> None:
    s, strategy, clock = sampler(redis())
    strategy.live = 1
    await s.sample()
    assert (strategy.counts, s.sessions) == (1, 1)
    strategy.live = 2
    clock.advance(INTERVAL / 2)
    await s.sample()
    assert (strategy.counts, s.sessions) == (1, 1)  # not twice within a second
    clock.advance(INTERVAL / 2)
    await s.sample()
    assert (strategy.counts, s.sessions) == (2, 2)


async def test_a_costly_count_waits_in_proportion_to_its_cost() -> None:
    s, strategy, clock = sampler(redis())
    strategy.cost = 0.5
    await s.sample()
    gap = strategy.cost / COUNT_SHARE
    assert gap > 10 * INTERVAL
    clock.advance(gap - strategy.cost - 0.1)
    await s.sample()
    assert strategy.counts == 1
    clock.advance(0.1)
    await s.sample()
    assert strategy.counts == 2


async def test_one_slow_count_does_not_stop_the_gauge() -> None:
    s, strategy, clock = sampler(memory())
    strategy.cost = 10.0  # a count that ran into its timeout, say
    await s.sample()
    strategy.cost = 0.0
    clock.advance(COUNT_GAP_MAX - 10.0 - 0.1)  # its cost alone would wait 500 s
    await s.sample()
    assert strategy.counts == 1
    clock.advance(0.1)
    await s.sample()
    assert strategy.counts == 2
    clock.advance(INTERVAL)
    await s.sample()
    assert strategy.counts == 3  # and cheap counts are back to every second


async def test_a_shared_store_is_counted_only_while_someone_reads_the_figures() -> None:
    s, strategy, clock = sampler(redis())
    await s.sample()
    clock.advance(WATCHED)
    await s.sample()
    assert strategy.counts == 1  # a minute unread: no walk over the keys
    s.read()
    await s.sample()
    assert strategy.counts == 2


async def test_a_local_store_is_counted_unread_too() -> None:
    s, strategy, clock = sampler(memory())
    await s.sample()
    clock.advance(WATCHED)
    await s.sample()
    assert strategy.counts == 2
