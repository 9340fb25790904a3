"""RedisInbox: what only Redis has: keys, streams, ``XAUTOCLAIM``, stream settings, URLs.

The behaviour it shares with the SQLite inbox is in ``tests/inbox/test_contract.py``.
Each ``RedisInbox`` made from a URL has its own connections, as a receiver or a
worker on another host would. Leases are measured by Redis' clock (``XAUTOCLAIM``),
so the takeover tests use short real leases; everything else uses injected times.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.conftest import Clock, signed
from tests.inbox import T0, body_for, put
from tests.servers import free_port
from tests.vectors import SECRET
from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.cli import cli
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import InboxItem, Worker
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
        assert redis_client.hget("{wrenn:inbox}:item:1", "body") == body
        assert redis_client.xlen("{wrenn:inbox}") == 1
        ttl = redis_client.pttl(f"{{wrenn:inbox}}:key:{hashlib.sha256(body).hexdigest()}")
        assert 99_000 < ttl <= 100_000
        assert put(inbox, body, now=T0 + 10, delivery_id="d-2") is False
        assert redis_client.xlen("{wrenn:inbox}") == 1  # a redelivery adds no entry


class TestStream:
    def test_xautoclaim_hands_an_expired_entry_to_the_next_worker(
        self, short: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(short, body_for())
        claim_one(short, T0, "w1")
        expire_lease()  # w1 died
        claim_one(short, T0 + 1, "w2")
        (pending,) = redis_client.xpending_range("{wrenn:inbox}", "wrenn-workers", "-", "+", 10)
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
        assert redis_client.xlen("{wrenn:inbox}:dead") == 1
        assert redis_client.xpending("{wrenn:inbox}", "wrenn-workers")["pending"] == 0

    def test_finished_entries_leave_the_stream(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for("sb-1"))
        put(inbox, body_for("sb-2"))
        done, failed = inbox.claim("w1", now=T0, limit=2)
        assert redis_client.xpending("{wrenn:inbox}", "wrenn-workers")["pending"] == 2
        inbox.finish(done.id, now=T0)
        inbox.fail(failed.id, {"app.a": "boom"}, now=T0)
        assert redis_client.xpending("{wrenn:inbox}", "wrenn-workers")["pending"] == 0
        assert redis_client.xlen("{wrenn:inbox}") == 0
        assert redis_client.zrange("{wrenn:inbox}:retry", 0, -1, withscores=True) == [
            (b"2", T0 + 10)
        ]

    def test_a_final_failure_names_the_item_in_the_dead_stream(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"parse_event": "no longer parses"}, now=T0, final=True)
        ((_, fields),) = redis_client.xrange("{wrenn:inbox}:dead")
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
        consumers = redis_client.xinfo_consumers("{wrenn:inbox}", "wrenn-workers")
        assert sorted(c["name"] for c in consumers) == [b"gone", b"idle"]
        inbox._run("purge", T0, 10, 0)  # forget consumers idle for 0 ms or more
        (left,) = redis_client.xinfo_consumers("{wrenn:inbox}", "wrenn-workers")
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
        redis_client.hset("{wrenn:inbox}:item:1", "attempts", "many")
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


# --- one damaged event among many -------------------------------------------------

DAMAGE: dict[str, tuple[Callable[[Any, str], object], str]] = {
    # what is done to the event's hash, and what its dead letter's reason says
    "body missing": (lambda r, k: r.hdel(k, "body"), "body is missing"),
    "attempts missing": (lambda r, k: r.hdel(k, "attempts"), "attempts is missing"),
    "attempts not a number": (lambda r, k: r.hset(k, "attempts", "many"), "attempts is 'many'"),
    "attempts a fraction": (lambda r, k: r.hset(k, "attempts", "1.5"), "attempts is '1.5'"),
    "attempts too many": (lambda r, k: r.hset(k, "attempts", "9" * 20), "attempts is '999"),
    "status garbled": (lambda r, k: r.hset(k, "status", "weird"), "status is 'weird'"),
    "status missing": (lambda r, k: r.hdel(k, "status"), "status is missing"),
    "id garbled": (lambda r, k: r.hset(k, "id", "x"), "id is 'x'"),
    "key missing": (lambda r, k: r.hdel(k, "key"), "key is missing"),
    "event type missing": (lambda r, k: r.hdel(k, "event_type"), "event_type is missing"),
    "resource id missing": (lambda r, k: r.hdel(k, "resource_id"), "resource_id is missing"),
    "delivery id missing": (lambda r, k: r.hdel(k, "delivery_id"), "delivery_id is missing"),
    "signed at garbled": (lambda r, k: r.hset(k, "signed_at", "0x10"), "signed_at is '0x10'"),
    "received at missing": (lambda r, k: r.hdel(k, "received_at"), "received_at is missing"),
    "next attempt garbled": (
        lambda r, k: r.hset(k, "next_attempt_at", "soon"),
        "next_attempt_at is 'soon'",
    ),
    "lease owner missing": (lambda r, k: r.hdel(k, "lease_owner"), "lease_owner is missing"),
    "lease until garbled": (lambda r, k: r.hset(k, "lease_until", "nan"), "lease_until is 'nan'"),
    "finished at garbled": (lambda r, k: r.hset(k, "finished_at", "-"), "finished_at is '-'"),
    "entry missing": (lambda r, k: r.hdel(k, "entry"), "entry is missing"),
    "entry garbled": (lambda r, k: r.hset(k, "entry", "nowhere"), "entry is 'nowhere'"),
    "dead entry garbled": (lambda r, k: r.hset(k, "dead_entry", "x-y"), "dead_entry is 'x-y'"),
    "active garbled": (lambda r, k: r.hset(k, "active", "maybe"), "active is 'maybe'"),
    "not a hash": (lambda r, k: (r.delete(k), r.set(k, "x")), "its key holds a string"),
    "body not JSON": (lambda r, k: r.hset(k, "body", b"{not json"), "no longer parses"),
    "hash deleted": (lambda r, k: r.delete(k), "is gone from Redis"),
}


def handled_by_a_worker(
    box: RedisInbox, events: int, damage: Callable[[Any, str], object], victim: int
) -> Counter[str]:
    """Store ``events`` events, damage event ``victim``, run a worker until it has no more."""
    handled: Counter[str] = Counter()
    receiver = WebhookReceiver(SECRET, inbox=box)

    @receiver.on("capsule.pause")
    def record(event: Event) -> None:
        handled[event.resource.id] += 1

    now = time.time()
    for n in range(events):
        put(box, body_for(f"sb-{n + 1}"), now=now)
    damage(box.client, f"{box.stream}:item:{victim}")
    worker = Worker(receiver, batch=10)
    for _ in range(events // worker.batch + 3):  # at full speed: no lease runs out
        if not worker.run_once():
            break
    else:
        raise AssertionError("the worker still had events to handle")
    return handled


def show(url: str, item_id: int) -> str:
    result = CliRunner().invoke(cli, ["inbox", "--redis", url, "show", str(item_id)])
    assert result.exit_code == 0, result.output
    return result.output


class TestDamage:
    @pytest.mark.parametrize("kind", DAMAGE)
    def test_a_damaged_event_is_dead_lettered_alone_and_the_rest_handled(
        self, redis_url: str, kind: str
    ) -> None:
        damage, reason = DAMAGE[kind]
        box = RedisInbox(redis_url, lease=LEASE)  # batch-mates left leased would wait 30 s
        handled = handled_by_a_worker(box, 100, damage, victim=37)
        assert handled == {f"sb-{n}": 1 for n in range(1, 101) if n != 37}
        stats = box.stats(now=time.time())
        assert (stats["pending"], stats["done"], stats["dead"], stats["in_flight"]) == (0, 99, 1, 0)
        (dead,) = box.list(status="dead")
        assert dead.id == 37
        (name, error), *_ = dead.last_errors.items()
        assert reason in error
        assert f"{name}: {error}" in show(redis_url, 37)
        box.close()

    def test_ordered_events_after_a_damaged_one_go_on(self, redis_url: str) -> None:
        box = RedisInbox(redis_url, lease=LEASE, ordered=True, stream="{ordered}")
        handled = handled_by_a_worker(box, 30, lambda r, k: r.hdel(k, "body"), victim=1)
        assert handled == {f"sb-{n}": 1 for n in range(2, 31)}
        box.close()

    @pytest.mark.parametrize("kind", ["attempts missing", "attempts not a number", "hash deleted"])
    def test_an_entry_taken_over_from_a_dead_worker(
        self, short: RedisInbox, redis_client: redis.Redis, kind: str
    ) -> None:
        damage, reason = DAMAGE[kind]
        for n in range(3):
            put(short, body_for(f"sb-{n}"))
        assert len(short.claim("w1", now=T0, limit=3)) == 3
        damage(redis_client, f"{short.stream}:item:2")
        expire_lease()  # w1 died holding all three
        taken = short.claim("w2", now=T0, limit=3)
        assert [item.id for item in taken] == [1, 3]
        (dead,) = short.list(status="dead")
        assert dead.id == 2
        assert reason in dead.last_errors["(inbox)"]
        assert redis_client.xpending(short.stream, short.group)["pending"] == 2

    def test_garbage_in_the_stream_is_dropped(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for("sb-1"))
        redis_client.xadd(inbox.stream, {"id": "999"})  # no such event
        redis_client.xadd(inbox.stream, {"other": "field"})
        put(inbox, body_for("sb-2"))
        assert [item.id for item in inbox.claim("w1", now=T0, limit=10)] == [1, 2]
        assert inbox.stats(now=T0)["dead"] == 0
        assert redis_client.xpending(inbox.stream, inbox.group)["pending"] == 2

    def test_purge_passes_over_a_done_event_without_its_key(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for("sb-1"))
        inbox.finish(claim_one(inbox, T0).id, now=T0)
        redis_client.hdel(f"{inbox.stream}:item:1", "key")
        assert inbox.purge(0, now=T0 + 1) == 1
        assert inbox.get(1) is None

    def test_text_that_is_not_utf8_is_no_damage(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for())
        redis_client.hset(f"{inbox.stream}:item:1", "event_type", b"capsule.\xff")
        (item,) = inbox.claim("w1", now=T0)
        assert item.event_type == "capsule.\ufffd"

    def test_damage_only_python_sees_dead_letters_that_event_alone(
        self, inbox: RedisInbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import wrenn_webhooks.redis.inbox as module

        def damaged_second(fields: Mapping[bytes, bytes]) -> InboxItem:
            if fields[b"id"] == b"2":
                raise StoreError("inbox item is damaged: ValueError: no")
            return parse(fields)

        parse = module._item_from_hash
        for n in range(3):
            put(inbox, body_for(f"sb-{n}"))
        monkeypatch.setattr(module, "_item_from_hash", damaged_second)
        assert [item.id for item in inbox.claim("w1", now=T0, limit=3)] == [1, 3]
        monkeypatch.undo()
        (dead,) = inbox.list(status="dead")
        assert dead.id == 2
        assert dead.last_errors["(inbox)"] == "inbox item is damaged: ValueError: no"
