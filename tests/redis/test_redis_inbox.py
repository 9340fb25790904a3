"""RedisInbox: what only Redis has: keys, streams, ``XAUTOCLAIM``, stream settings, URLs.

The behaviour it shares with the SQLite inbox is in ``tests/inbox/test_contract.py``.
Each ``RedisInbox`` made from a URL has its own connections, as a receiver or a
worker on another host would. Leases are measured by Redis' clock (``XAUTOCLAIM``),
so the takeover tests use short real leases; everything else uses injected times.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import Clock, signed
from tests.inbox import T0, body_for, put
from tests.servers import free_port
from tests.vectors import SECRET
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import InboxItem
from wrenn_webhooks.redis import RedisInbox

LEASE = 30.0
SHORT = 0.3
"""A real lease, in seconds, for the takeover tests."""


@pytest.fixture
def inbox(redis_url: str) -> Iterator[RedisInbox]:
    box = RedisInbox(redis_url, retry_delays=(10, 60), lease=LEASE, retention=100)
    yield box
    box.close()


@pytest.fixture
def short(redis_url: str) -> Iterator[RedisInbox]:
    box = RedisInbox(redis_url, retry_delays=(10, 60), lease=SHORT)
    yield box
    box.close()


@pytest.fixture
def ordered(redis_url: str) -> Iterator[RedisInbox]:
    box = RedisInbox(redis_url, stream="ordered", retry_delays=(10,), lease=LEASE, ordered=True)
    yield box
    box.close()


def claim_one(inbox: RedisInbox, now: float, worker: str = "w1") -> InboxItem:
    (item,) = inbox.claim(worker, now=now)
    return item


def expire_lease() -> None:
    time.sleep(SHORT + 0.1)


class TestKeys:
    def test_is_committed_before_it_returns_and_deduplicated_for_the_retention(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        body = body_for()
        put(inbox, body)
        assert redis_client.hget("wrenn:inbox:item:1", "body") == body
        assert redis_client.xlen("wrenn:inbox") == 1
        ttl = redis_client.pttl(f"wrenn:inbox:key:{hashlib.sha256(body).hexdigest()}")
        assert 99_000 < ttl <= 100_000
        assert put(inbox, body, now=T0 + 10, delivery_id="d-2") is False
        assert redis_client.xlen("wrenn:inbox") == 1  # a redelivery adds no entry


class TestStream:
    def test_xautoclaim_hands_an_expired_entry_to_the_next_worker(
        self, short: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(short, body_for())
        claim_one(short, T0, "w1")
        expire_lease()  # w1 died
        claim_one(short, T0 + 1, "w2")
        (pending,) = redis_client.xpending_range("wrenn:inbox", "wrenn-workers", "-", "+", 10)
        assert (pending["consumer"], pending["times_delivered"]) == (b"w2", 2)

    def test_an_entry_whose_workers_all_die_moves_to_the_dead_stream(
        self, redis_url: str, redis_client: redis.Redis
    ) -> None:
        once = RedisInbox(redis_url, retry_delays=(), lease=SHORT)  # one attempt in all
        put(once, body_for())
        claim_one(once, T0, "w0")
        expire_lease()
        assert once.claim("w9", now=T0) == []
        once.close()
        assert redis_client.xlen("wrenn:inbox:dead") == 1
        assert redis_client.xpending("wrenn:inbox", "wrenn-workers")["pending"] == 0

    def test_finished_entries_leave_the_stream(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for("sb-1"))
        put(inbox, body_for("sb-2"))
        done, failed = inbox.claim("w1", now=T0, limit=2)
        assert redis_client.xpending("wrenn:inbox", "wrenn-workers")["pending"] == 2
        inbox.finish(done.id, now=T0)
        inbox.fail(failed.id, {"app.a": "boom"}, now=T0)
        assert redis_client.xpending("wrenn:inbox", "wrenn-workers")["pending"] == 0
        assert redis_client.xlen("wrenn:inbox") == 0
        assert redis_client.zrange("wrenn:inbox:retry", 0, -1, withscores=True) == [(b"2", T0 + 10)]

    def test_a_final_failure_names_the_item_in_the_dead_stream(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"parse_event": "no longer parses"}, now=T0, final=True)
        ((_, fields),) = redis_client.xrange("wrenn:inbox:dead")
        assert fields == {b"id": str(item.id).encode()}

    def test_every_inbox_of_a_stream_must_agree(self, ordered: RedisInbox, redis_url: str) -> None:
        put(ordered, body_for())
        unordered = RedisInbox(redis_url, stream="ordered")
        try:
            with pytest.raises(StoreError, match="same ordered"):
                put(unordered, body_for("sb-2"))
            with pytest.raises(StoreError, match="same ordered"):
                unordered.claim("w1", now=T0)
            assert unordered.stats(now=T0)["pending"] == 1  # operators need not know
        finally:
            unordered.close()

    def test_workers_long_gone_are_forgotten(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for("sb-1"))
        put(inbox, body_for("sb-2"))
        claim_one(inbox, T0, "gone")  # and never finished
        inbox.finish(claim_one(inbox, T0, "idle").id, now=T0)
        consumers = redis_client.xinfo_consumers("wrenn:inbox", "wrenn-workers")
        assert sorted(c["name"] for c in consumers) == [b"gone", b"idle"]
        inbox._run("purge", T0, 10, 0)  # forget consumers idle for 0 ms or more
        (left,) = redis_client.xinfo_consumers("wrenn:inbox", "wrenn-workers")
        assert (left["name"], left["pending"]) == (b"gone", 1)  # it holds an entry: kept


class TestErrors:
    def test_shows_where_it_is_and_never_a_password(self, redis_server: str) -> None:
        url = redis_server.replace("redis://", "redis://user:s3cret@")
        box = RedisInbox(url, stream="events")
        assert repr(box) == f"RedisInbox({redis_server!r}, stream='events')"
        with pytest.raises(StoreError) as info:
            box.stats(now=T0)  # no such user on the test server
        assert "s3cret" not in str(info.value)
        box.close()

    def test_an_unreachable_server_is_a_store_error(self) -> None:
        box = RedisInbox(f"redis://127.0.0.1:{free_port()}/0")
        with pytest.raises(StoreError, match="unavailable") as info:
            put(box, body_for())
        assert isinstance(info.value.__cause__, redis.ConnectionError)

    def test_a_receiver_answers_503_when_redis_is_down(self, clock: Clock) -> None:
        box = RedisInbox(f"redis://127.0.0.1:{free_port()}/0")
        receiver = WebhookReceiver(SECRET, inbox=box, clock=clock)
        receiver.add(lambda event: None, "capsule.pause")
        response = receiver.handle(*signed(body_for(), clock))
        assert (response.status_code, response.headers["Retry-After"]) == (503, "10")

    def test_a_damaged_item_is_a_store_error(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for())
        redis_client.hset("wrenn:inbox:item:1", "attempts", "many")
        with pytest.raises(StoreError, match="damaged"):
            inbox.get(1)

    def test_an_empty_stream_name_is_refused(self, redis_url: str) -> None:
        with pytest.raises(ConfigurationError):
            RedisInbox(redis_url, stream="")

    def test_bad_urls_and_clients_are_refused(self, redis_url: str) -> None:
        with pytest.raises(ConfigurationError, match="not a Redis URL"):
            RedisInbox("http://127.0.0.1:6379/0")
        with pytest.raises(ConfigurationError, match="decode_responses=False"):
            RedisInbox(redis.Redis.from_url(redis_url, decode_responses=True))
