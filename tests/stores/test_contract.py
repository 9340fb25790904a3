"""One behavioural contract, run against every idempotency store backend."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401  (fixtures)
from wrenn_webhooks.stores import (
    Claim,
    ClaimState,
    IdempotencyStore,
    MemoryIdempotencyStore,
    SQLiteIdempotencyStore,
)

TTL = 900.0
LEASE = 30.0
T0 = 1_780_000_000.0


def key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


KEY = key(b'{"event":"capsule.pause"}')


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore(ttl=TTL)
        return
    if request.param.startswith("redis"):  # skipped, saying why, without redis-server
        from wrenn_webhooks.redis import RedisIdempotencyStore

        fixture = "redis_cluster_client" if request.param == "redis-cluster" else "redis_url"
        redis_store = RedisIdempotencyStore(request.getfixturevalue(fixture), ttl=TTL)
        yield redis_store
        redis_store.close()
        return
    sqlite_store = SQLiteIdempotencyStore(tmp_path / "idem.db", ttl=TTL)
    yield sqlite_store
    sqlite_store.close()


def test_implements_the_protocol(store: IdempotencyStore) -> None:
    assert isinstance(store, IdempotencyStore)


def test_first_claim_is_new_then_busy_while_leased(store: IdempotencyStore) -> None:
    assert store.claim(KEY, now=T0, lease=LEASE) == Claim(ClaimState.NEW)
    assert store.claim(KEY, now=T0, lease=LEASE) == Claim(ClaimState.BUSY)
    assert store.claim(KEY, now=T0 + LEASE - 0.001, lease=LEASE) == Claim(ClaimState.BUSY)


def test_expired_lease_gives_retry_with_completed_kept(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    assert store.claim(KEY, now=T0 + 10, lease=LEASE) == Claim(
        ClaimState.BUSY, frozenset({"audit"})
    )
    retry = store.claim(KEY, now=T0 + LEASE, lease=LEASE)
    assert retry == Claim(ClaimState.RETRY, frozenset({"audit"}))
    # The retry took a fresh lease.
    assert store.claim(KEY, now=T0 + LEASE + 1, lease=LEASE).state is ClaimState.BUSY


def test_release_allows_retry_with_completed_handlers(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    store.complete_handler(KEY, "notify", now=T0 + 1)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    store.release(KEY, now=T0 + 2)
    retry = store.claim(KEY, now=T0 + 3, lease=LEASE)
    assert retry == Claim(ClaimState.RETRY, frozenset({"audit", "notify"}))


def test_finish_answers_done(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    store.finish(KEY, now=T0 + 2)
    assert store.claim(KEY, now=T0 + 3, lease=LEASE) == Claim(ClaimState.DONE, frozenset({"audit"}))
    assert store.claim(KEY, now=T0 + 2 + TTL - 1, lease=LEASE).state is ClaimState.DONE


def test_finished_record_expires_after_ttl(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    store.finish(KEY, now=T0 + 2)
    assert store.claim(KEY, now=T0 + 2 + TTL, lease=LEASE) == Claim(ClaimState.NEW)


def test_unfinished_record_expires_after_ttl(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    assert store.claim(KEY, now=T0 + 1 + TTL, lease=LEASE) == Claim(ClaimState.NEW)


def test_complete_handler_finish_and_release_of_unknown_key_do_nothing(
    store: IdempotencyStore,
) -> None:
    store.complete_handler(KEY, "audit", now=T0)
    store.finish(KEY, now=T0)
    store.release(KEY, now=T0)
    assert store.claim(KEY, now=T0, lease=LEASE) == Claim(ClaimState.NEW)


def test_release_without_completed_handlers_gives_a_bare_retry(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.release(KEY, now=T0 + 1)
    assert store.claim(KEY, now=T0 + 2, lease=LEASE) == Claim(ClaimState.RETRY)
    assert store.claim(KEY, now=T0 + 3, lease=LEASE) == Claim(ClaimState.BUSY)  # leased again


def test_finish_after_a_retry_answers_done_with_every_completed_handler(
    store: IdempotencyStore,
) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.complete_handler(KEY, "audit", now=T0 + 1)
    store.release(KEY, now=T0 + 2)
    store.claim(KEY, now=T0 + 3, lease=LEASE)
    store.complete_handler(KEY, "notify", now=T0 + 4)
    store.finish(KEY, now=T0 + 5)
    assert store.claim(KEY, now=T0 + 6, lease=LEASE) == Claim(
        ClaimState.DONE, frozenset({"audit", "notify"})
    )


def test_finish_without_completed_handlers_answers_done(store: IdempotencyStore) -> None:
    store.claim(KEY, now=T0, lease=LEASE)
    store.finish(KEY, now=T0 + 1)
    assert store.claim(KEY, now=T0 + 2, lease=LEASE) == Claim(ClaimState.DONE)


def test_concurrent_claims_on_one_key_give_exactly_one_new(store: IdempotencyStore) -> None:
    workers = 8
    barrier = threading.Barrier(workers)

    def claim() -> ClaimState:
        barrier.wait(timeout=10)
        return store.claim(KEY, now=T0, lease=LEASE).state

    with ThreadPoolExecutor(max_workers=workers) as pool:
        states = [f.result() for f in [pool.submit(claim) for _ in range(workers)]]
    assert states.count(ClaimState.NEW) == 1
    assert states.count(ClaimState.BUSY) == workers - 1


def test_many_distinct_keys_are_independent(store: IdempotencyStore) -> None:
    keys = [key(f'{{"n":{n}}}'.encode()) for n in range(500)]
    assert all(store.claim(k, now=T0, lease=LEASE).state is ClaimState.NEW for k in keys)
    for k in keys[::2]:
        store.finish(k, now=T0 + 1)
    states = [store.claim(k, now=T0 + 2, lease=LEASE).state for k in keys]
    assert states[::2] == [ClaimState.DONE] * 250
    assert states[1::2] == [ClaimState.BUSY] * 250
