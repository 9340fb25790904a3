"""What only the in-memory store does: its bound, and dropping expired records."""

from __future__ import annotations

import gc
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

from wrenn_webhooks.stores import Claim, ClaimState, MemoryIdempotencyStore

LEASE = 30.0


def _handled(store: MemoryIdempotencyStore, key: str, now: float) -> ClaimState:
    state = store.claim(key, now=now, lease=LEASE).state
    if state is ClaimState.NEW:
        store.finish(key, now=now)
    return state


def test_the_oldest_records_go_past_the_bound() -> None:
    store = MemoryIdempotencyStore(max_entries=3)
    for number in range(5):
        assert _handled(store, f"k{number}", now=1000.0 + number) is ClaimState.NEW
    assert len(store) == 3
    for number in (2, 3, 4):
        assert store.claim(f"k{number}", now=1010.0, lease=LEASE).state is ClaimState.DONE
    assert store.claim("k0", now=1010.0, lease=LEASE).state is ClaimState.NEW  # forgotten


def test_a_full_store_drops_its_oldest_64th_at_once() -> None:
    store = MemoryIdempotencyStore(max_entries=128)
    for number in range(129):
        _handled(store, f"k{number}", now=1000.0)
    assert len(store) == 126  # 129 past 128: down to 128 - 128 // 64
    assert store.claim("k3", now=1000.0, lease=LEASE).state is ClaimState.DONE
    assert store.claim("k2", now=1000.0, lease=LEASE).state is ClaimState.NEW


def test_expired_records_are_dropped_when_a_new_key_comes() -> None:
    store = MemoryIdempotencyStore(ttl=10.0)
    _handled(store, "a", now=1000.0)
    _handled(store, "b", now=1001.0)
    _handled(store, "c", now=1005.0)
    assert len(store) == 3
    _handled(store, "d", now=1011.5)  # a and b expired; c has not
    assert len(store) == 2
    assert store.claim("c", now=1011.5, lease=LEASE).state is ClaimState.DONE


def test_a_key_made_again_after_expiry_outlives_its_old_record() -> None:
    store = MemoryIdempotencyStore(ttl=10.0)
    _handled(store, "a", now=1000.0)
    assert _handled(store, "a", now=1012.0) is ClaimState.NEW  # expired: a new record
    _handled(store, "b", now=1013.0)  # drops the old record's entry, not the new one
    assert store.claim("a", now=1014.0, lease=LEASE).state is ClaimState.DONE
    assert len(store) == 2


def test_a_key_made_again_keeps_its_new_record_when_the_store_is_full() -> None:
    store = MemoryIdempotencyStore(ttl=10.0, max_entries=3)
    _handled(store, "a", now=1000.0)
    _handled(store, "b", now=1009.0)
    assert _handled(store, "a", now=1011.0) is ClaimState.NEW  # expired: made again
    _handled(store, "c", now=1011.0)
    _handled(store, "d", now=1011.0)  # past the bound: drops the oldest, b
    assert store.claim("a", now=1012.0, lease=LEASE).state is ClaimState.DONE
    assert store.claim("b", now=1012.0, lease=LEASE).state is ClaimState.NEW


def test_records_add_nothing_for_the_garbage_collector_to_walk() -> None:
    store = MemoryIdempotencyStore()
    with warnings.catch_warnings():
        # The collection may finalise what an earlier test left to the collector (a
        # client's socket, say): not this test's subject.
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    before = len(gc.get_objects())
    for number in range(10_000):
        if number % 2:
            _handled(store, f"{number:064x}", now=1000.0)
        else:  # leased, not released yet
            store.claim(f"{number:064x}", now=1000.0, lease=LEASE)
    assert len(store) == 10_000
    assert len(gc.get_objects()) - before < 100
    # Not even the dict: a full collection never walks a store's records.
    assert not gc.is_tracked(store._records)


def test_completed_handlers_are_kept_until_the_record_expires() -> None:
    store = MemoryIdempotencyStore()
    assert store.claim("k", now=1000.0, lease=LEASE).state is ClaimState.NEW
    store.complete_handler("k", "audit", now=1000.0)
    store.release("k", now=1000.0)
    retry = store.claim("k", now=1001.0, lease=LEASE)
    assert (retry.state, retry.completed) == (ClaimState.RETRY, frozenset({"audit"}))
    store.complete_handler("k", "billing", now=1001.0)
    store.finish("k", now=1001.0)
    done = store.claim("k", now=1002.0, lease=LEASE)
    assert (done.state, done.completed) == (ClaimState.DONE, frozenset({"audit", "billing"}))
    assert store.claim("k", now=1002.0 + store.ttl, lease=LEASE).state is ClaimState.NEW


def test_an_expired_record_not_dropped_yet_counts_as_gone() -> None:
    store = MemoryIdempotencyStore(ttl=64.0)  # drops expired records at most every second
    _handled(store, "a", now=1000.0)
    _handled(store, "b", now=1000.5)
    _handled(store, "x", now=1064.2)  # drops a; b expires at 1064.5, after this drop
    assert len(store) == 2
    assert store.claim("b", now=1064.7, lease=LEASE).state is ClaimState.NEW
    assert len(store) == 2
    assert store.claim("b", now=1064.8, lease=LEASE).state is ClaimState.BUSY


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Let threads switch every 10 µs instead of every 5 ms, so races happen often."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def _race(store: MemoryIdempotencyStore, keys: int, threads: int, now: float = 1000.0) -> list[str]:
    """Every thread claims the same keys, in its own order; return the NEW answers."""
    news: list[str] = []
    start = threading.Barrier(threads)

    def work(offset: int) -> None:
        start.wait()
        for number in range(keys):
            key = f"k{(number + offset) % keys}"
            if store.claim(key, now=now, lease=LEASE).state is ClaimState.NEW:
                news.append(key)  # list.append is atomic

    workers = [threading.Thread(target=work, args=(n * 7,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return news


def test_racing_threads_get_each_key_new_exactly_once(switch_often: None) -> None:
    news = _race(MemoryIdempotencyStore(), keys=2_000, threads=8)
    assert sorted(news) == sorted(f"k{n}" for n in range(2_000))


def test_racing_threads_past_the_bound_keep_it(switch_often: None) -> None:
    store = MemoryIdempotencyStore(max_entries=50)
    news = _race(store, keys=100, threads=8)
    assert len(store) <= 50
    assert set(news) == {f"k{n}" for n in range(100)}  # each new at least once


def test_racing_threads_get_each_expired_key_new_exactly_once(switch_often: None) -> None:
    store = MemoryIdempotencyStore(ttl=10.0)
    for number in range(2_000):
        _handled(store, f"k{number}", now=1000.0)
    news = _race(store, keys=2_000, threads=8, now=1020.0)  # every record expired
    assert sorted(news) == sorted(f"k{n}" for n in range(2_000))
    assert len(store) == 2_000


def _claim_at_once(store: MemoryIdempotencyStore, key: str, threads: int) -> list[ClaimState]:
    """``threads`` threads claim ``key`` at the same moment; return their answers."""
    answers: list[ClaimState] = []
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        answers.append(store.claim(key, now=1000.0, lease=LEASE).state)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers


def test_many_threads_claiming_one_fresh_key_get_exactly_one_new(switch_often: None) -> None:
    # claim()'s lock-free setdefault, over and over on keys never seen.
    store = MemoryIdempotencyStore()
    for number in range(200):
        answers = _claim_at_once(store, f"{number:064x}", threads=16)
        assert answers.count(ClaimState.NEW) == 1
        assert answers.count(ClaimState.BUSY) == 15


def test_concurrent_claims_finishes_and_sweeps_lose_no_record(switch_often: None) -> None:
    # Lock-free claims and finishes while sweeps delete expired records under the lock.
    store = MemoryIdempotencyStore(ttl=10.0)  # sweeps at most every 10 / 64 s
    for number in range(20_000):  # expiring from 1010 to 1021.9: swept during the race
        _handled(store, f"old{number}", now=1000.0 + number * 0.0006)
    threads, own, shared = 8, 1_000, [f"shared{n}" for n in range(300)]
    news: list[str] = []
    start = threading.Barrier(threads)

    def work(thread: int) -> None:
        start.wait()
        for number in range(own):
            now = 1020.0 + number / own  # 1020 to 1021: several sweeps
            for key in (f"t{thread}-{number}", shared[(number + thread * 37) % len(shared)]):
                if store.claim(key, now=now, lease=LEASE).state is ClaimState.NEW:
                    news.append(key)  # list.append is atomic
                    store.finish(key, now=now)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    made = [f"t{t}-{n}" for t in range(threads) for n in range(own)] + shared
    assert sorted(news) == sorted(made)  # each new exactly once, each thread's own key new
    assert all(store.claim(k, now=1021.5, lease=LEASE) == Claim(ClaimState.DONE) for k in made)
    assert len(store) < 20_000 + len(made)  # the sweeps dropped expired records meanwhile
