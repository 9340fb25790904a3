"""RedisInbox: the SQLite inbox's behaviour, on a Redis stream shared by several hosts.

Each ``RedisInbox`` made from a URL has its own connections, as a receiver or a
worker on another host would. Leases are measured by Redis' clock (``XAUTOCLAIM``),
so the takeover tests use short real leases; everything else uses injected times.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.conftest import Clock, signed
from tests.inbox import T0, body_for, put
from tests.servers import free_port
from tests.vectors import SECRET
from wrenn_webhooks import Event, WebhookReceiver
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


def resources(items: list[InboxItem]) -> list[str]:
    return [item.resource_id for item in items]


def expire_lease() -> None:
    time.sleep(SHORT + 0.1)


class TestPut:
    def test_stores_every_field(self, inbox: RedisInbox) -> None:
        body = body_for("sb-7")
        assert put(inbox, body, delivery_id="d-42") is True
        (item,) = inbox.list()
        assert item == inbox.get(item.id)
        assert (item.id, item.key, item.body) == (1, hashlib.sha256(body).hexdigest(), body)
        assert (item.event_type, item.resource_id, item.delivery_id) == (
            "capsule.pause",
            "sb-7",
            "d-42",
        )
        assert (item.signed_at, item.received_at, item.next_attempt_at) == (T0 - 1, T0, T0)
        assert (item.status, item.attempts, item.completed, item.last_errors) == (
            "pending",
            0,
            frozenset(),
            {},
        )
        assert (item.lease_owner, item.lease_until, item.finished_at) == (None, None, None)

    def test_redelivery_to_another_host_stores_nothing_new(
        self, inbox: RedisInbox, redis_url: str, redis_client: redis.Redis
    ) -> None:
        other_host = RedisInbox(redis_url)
        body = body_for()
        try:
            assert put(inbox, body, delivery_id="d-1") is True
            assert put(other_host, body, now=T0 + 10, delivery_id="d-2") is False
        finally:
            other_host.close()
        (item,) = inbox.list()
        assert (item.delivery_id, item.received_at) == ("d-1", T0)
        assert redis_client.xlen("wrenn:inbox") == 1

    def test_hosts_racing_to_store_one_body_store_it_once(self, redis_url: str) -> None:
        hosts = [RedisInbox(redis_url) for _ in range(8)]
        barrier = threading.Barrier(len(hosts))
        stored: list[bool] = []

        def deliver(host: RedisInbox, n: int) -> None:
            barrier.wait(10)
            stored.append(put(host, body_for(), delivery_id=f"d-{n}"))

        threads = [threading.Thread(target=deliver, args=(h, n)) for n, h in enumerate(hosts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        for host in hosts:
            host.close()
        assert sorted(stored) == [False] * 7 + [True]

    def test_is_committed_before_it_returns_and_deduplicated_for_the_retention(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        body = body_for()
        put(inbox, body)
        assert redis_client.hget("wrenn:inbox:item:1", "body") == body
        assert redis_client.xlen("wrenn:inbox") == 1
        ttl = redis_client.pttl(f"wrenn:inbox:key:{hashlib.sha256(body).hexdigest()}")
        assert 99_000 < ttl <= 100_000


class TestClaim:
    def test_lease_keeps_other_workers_out_until_it_expires(
        self, short: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(short, body_for())
        item = claim_one(short, T0, "w1")
        assert (item.lease_owner, item.lease_until, item.attempts) == ("w1", T0 + SHORT, 0)
        assert short.claim("w2", now=T0) == []
        expire_lease()  # w1 died: XAUTOCLAIM hands its entry over; the attempt counts
        again = claim_one(short, T0 + 1, "w2")
        assert (again.id, again.lease_owner, again.attempts) == (item.id, "w2", 1)
        assert again.failed
        (pending,) = redis_client.xpending_range("wrenn:inbox", "wrenn-workers", "-", "+", 10)
        assert (pending["consumer"], pending["times_delivered"]) == (b"w2", 2)

    def test_a_worker_dying_on_every_attempt_dead_letters_it(
        self, short: RedisInbox, redis_client: redis.Redis
    ) -> None:
        # retry_delays=(10, 60): three attempts in all, each ending with a dead worker.
        put(short, body_for())
        for attempt in range(3):
            item = claim_one(short, T0, f"w{attempt}")
            assert item.attempts == attempt
            expire_lease()
        assert short.claim("w9", now=T0) == []
        (dead,) = short.list(status="dead")
        assert dead.attempts == 3
        assert "stopped before finishing" in dead.last_errors["(worker)"]
        assert redis_client.xlen("wrenn:inbox:dead") == 1
        assert redis_client.xpending("wrenn:inbox", "wrenn-workers")["pending"] == 0

    def test_oldest_first_up_to_limit(self, inbox: RedisInbox) -> None:
        for n in range(5):
            put(inbox, body_for(f"sb-{n}"))
        assert resources(inbox.claim("w1", now=T0, limit=2)) == ["sb-0", "sb-1"]
        assert resources(inbox.claim("w2", now=T0, limit=10)) == ["sb-2", "sb-3", "sb-4"]
        assert inbox.claim("w3", now=T0, limit=10) == []

    def test_limit_must_be_positive(self, inbox: RedisInbox) -> None:
        with pytest.raises(ConfigurationError):
            inbox.claim("w1", now=T0, limit=0)

    def test_workers_on_several_hosts_claim_each_item_once(
        self, inbox: RedisInbox, redis_url: str
    ) -> None:
        for n in range(200):
            put(inbox, body_for(f"sb-{n}"))
        claimed: list[int] = []
        lock = threading.Lock()

        def drain(worker: str) -> None:
            host = RedisInbox(redis_url, lease=LEASE)
            while items := host.claim(worker, now=T0, limit=3):
                with lock:
                    claimed.extend(item.id for item in items)
            host.close()

        threads = [threading.Thread(target=drain, args=(f"w{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(claimed) == list(range(1, 201))

    def test_release_makes_it_due_at_once_without_an_attempt(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.release(item.id)
        again = claim_one(inbox, T0 + 1, "w2")
        assert (again.id, again.attempts, again.lease_owner) == (item.id, 0, "w2")

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


class TestCompletion:
    def test_completed_handlers_survive_a_takeover(self, short: RedisInbox) -> None:
        put(short, body_for())
        item = claim_one(short, T0)
        short.complete_handler(item.id, "app.audit", now=T0)
        short.complete_handler(item.id, "app.audit", now=T0)
        expire_lease()  # the worker dies here; the next one sees what completed
        again = claim_one(short, T0 + 1, "w2")
        assert again.completed == frozenset({"app.audit"})

    def test_each_completion_renews_the_lease(self, redis_url: str) -> None:
        box = RedisInbox(redis_url, lease=1.0)
        try:
            put(box, body_for())
            item = claim_one(box, T0)
            time.sleep(0.6)
            box.complete_handler(item.id, "app.audit", now=T0 + 20)
            assert box.get(item.id).lease_until == T0 + 21  # type: ignore[union-attr]
            time.sleep(0.6)  # 1.2 s since the claim, 0.6 s since the renewal
            assert box.claim("w2", now=T0) == []
            time.sleep(0.6)
            assert claim_one(box, T0, "w2").id == item.id
        finally:
            box.close()

    def test_finish_marks_done_and_nothing_is_claimable(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.finish(item.id, now=T0 + 2)
        done = inbox.get(item.id)
        assert done is not None
        assert (done.status, done.finished_at, done.lease_until) == ("done", T0 + 2, None)
        assert done.next_attempt_at is None
        assert inbox.claim("w1", now=T0 + 1000) == []


class TestRetries:
    def test_backoff_then_dead_letter_with_last_errors(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"app.notify": "ConnectionError: down (1)"}, now=T0 + 1)
        failed = inbox.get(item.id)
        assert failed is not None
        assert (failed.status, failed.attempts, failed.next_attempt_at) == ("pending", 1, T0 + 11)
        assert failed.failed
        assert failed.lease_until is None
        assert inbox.claim("w1", now=T0 + 10.9) == []
        item = claim_one(inbox, T0 + 11)
        assert item.attempts == 1
        inbox.fail(item.id, {"app.notify": "ConnectionError: down (2)"}, now=T0 + 12)
        assert inbox.claim("w1", now=T0 + 71) == []
        item = claim_one(inbox, T0 + 72)
        inbox.fail(item.id, {"app.notify": "ConnectionError: down (3)"}, now=T0 + 73)
        dead = inbox.get(item.id)
        assert dead is not None
        assert (dead.status, dead.attempts, dead.finished_at) == ("dead", 3, T0 + 73)
        assert dead.last_errors == {"app.notify": "ConnectionError: down (3)"}
        assert dead.next_attempt_at is None
        assert inbox.claim("w1", now=T0 + 10_000) == []

    def test_last_errors_keep_only_handlers_still_failing(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"app.a": "A failed", "app.b": "B failed"}, now=T0)
        item = claim_one(inbox, T0 + 10)
        inbox.complete_handler(item.id, "app.a", now=T0 + 10)
        inbox.fail(item.id, {"app.b": "B failed again"}, now=T0 + 10)
        again = inbox.get(item.id)
        assert again is not None
        assert again.last_errors == {"app.b": "B failed again"}
        assert again.completed == frozenset({"app.a"})

    def test_final_failure_dead_letters_at_once(
        self, inbox: RedisInbox, redis_client: redis.Redis
    ) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"parse_event": "no longer parses"}, now=T0, final=True)
        dead = inbox.get(item.id)
        assert dead is not None
        assert (dead.status, dead.attempts) == ("dead", 1)
        ((_, fields),) = redis_client.xrange("wrenn:inbox:dead")
        assert fields == {b"id": str(item.id).encode()}

    def test_retry_gives_a_dead_item_one_more_attempt(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.complete_handler(item.id, "app.a", now=T0)
        inbox.fail(item.id, {"app.b": "boom"}, now=T0)
        for now in (T0 + 10, T0 + 70):  # both retries fail too
            inbox.fail(claim_one(inbox, now).id, {"app.b": "boom"}, now=now)
        assert inbox.stats(now=T0 + 70)["dead"] == 1
        assert inbox.retry(item.id) is True
        again = claim_one(inbox, T0 + 71)
        assert (again.status, again.attempts, again.completed) == (
            "pending",
            3,
            frozenset({"app.a"}),
        )
        assert again.finished_at is None
        assert inbox.stats(now=T0 + 71)["dead"] == 0
        inbox.fail(again.id, {"app.b": "still broken"}, now=T0 + 72)
        dead = inbox.get(item.id)
        assert dead is not None
        assert (dead.status, dead.last_errors) == ("dead", {"app.b": "still broken"})

    def test_retry_makes_a_waiting_item_due_now(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"app.b": "boom"}, now=T0)
        assert inbox.retry(item.id) is True
        assert claim_one(inbox, T0 + 1).id == item.id

    def test_retry_refuses_done_and_missing_items(self, inbox: RedisInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.finish(item.id, now=T0)
        assert inbox.retry(item.id) is False
        assert inbox.retry(999) is False
        done = inbox.get(item.id)
        assert done is not None
        assert done.status == "done"

    def test_retry_dead_in_batches(self, inbox: RedisInbox) -> None:
        for n in range(5):
            put(inbox, body_for(f"sb-{n}"))
        for item in inbox.claim("w1", now=T0, limit=10):
            inbox.fail(item.id, {"app.b": "boom"}, now=T0, final=True)
        assert inbox.retry_dead(limit=2) == 2
        assert inbox.stats(now=T0)["dead"] == 3
        assert inbox.retry_dead() == 3
        assert inbox.retry_dead() == 0
        assert len(inbox.claim("w1", now=T0, limit=10)) == 5


class TestOrdering:
    def test_failing_event_holds_back_its_resource_only(self, ordered: RedisInbox) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        put(ordered, body_for("sb-2", 1))
        first, other = ordered.claim("w1", now=T0, limit=10)
        assert resources([first, other]) == ["sb-1", "sb-2"]
        ordered.fail(first.id, {"app.a": "boom"}, now=T0)
        ordered.finish(other.id, now=T0)
        assert ordered.claim("w1", now=T0 + 5, limit=10) == []  # sb-1 #2 waits for #1
        again = claim_one(ordered, T0 + 10)
        assert again.id == first.id
        ordered.finish(again.id, now=T0 + 10)
        later = claim_one(ordered, T0 + 10)
        assert (later.resource_id, later.id) == ("sb-1", first.id + 1)

    def test_dead_letter_releases_its_resource(self, ordered: RedisInbox) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        first = claim_one(ordered, T0)
        ordered.fail(first.id, {"app.a": "boom"}, now=T0)
        first = claim_one(ordered, T0 + 10)
        ordered.fail(first.id, {"app.a": "boom"}, now=T0 + 10)  # no retry left: dead
        assert claim_one(ordered, T0 + 10).id == first.id + 1

    def test_in_flight_event_holds_back_its_resource(self, ordered: RedisInbox) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        put(ordered, body_for("sb-2", 1))
        assert resources(ordered.claim("w1", now=T0, limit=1)) == ["sb-1"]
        assert resources(ordered.claim("w2", now=T0, limit=10)) == ["sb-2"]

    def test_unordered_inbox_takes_every_resource_at_once(self, inbox: RedisInbox) -> None:
        put(inbox, body_for("sb-1", 1))
        put(inbox, body_for("sb-1", 2))
        first = claim_one(inbox, T0)
        inbox.fail(first.id, {"app.a": "boom"}, now=T0)
        assert claim_one(inbox, T0).id == first.id + 1

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


class TestRetention:
    def test_workers_purge_old_done_items_put_never_does(self, inbox: RedisInbox) -> None:
        put(inbox, body_for("sb-1"))
        done = claim_one(inbox, T0)
        inbox.finish(done.id, now=T0)
        put(inbox, body_for("sb-2"), now=T0 + 500)  # a request: no purge
        assert inbox.get(done.id) is not None
        waiting = claim_one(inbox, T0 + 500)  # a worker: retention (100 s) is over
        assert inbox.get(done.id) is None
        assert inbox.get(waiting.id) is not None

    def test_purge_runs_at_most_every_tenth_of_retention(self, inbox: RedisInbox) -> None:
        put(inbox, body_for("sb-1"), now=T0)
        item = claim_one(inbox, T0)  # purges (nothing yet)
        inbox.finish(item.id, now=T0)
        inbox.claim("w1", now=T0 + 95)  # purges what finished before T0 - 5
        inbox.claim("w1", now=T0 + 101)  # retention is over, but the last purge is recent
        assert inbox.get(item.id) is not None
        inbox.claim("w1", now=T0 + 105)
        assert inbox.get(item.id) is None

    def test_purge_deletes_old_done_items_and_keeps_dead_ones(self, inbox: RedisInbox) -> None:
        bodies = [body_for(f"sb-{n}") for n in range(3)]
        for body in bodies:
            put(inbox, body)
        old, recent, dead = inbox.claim("w1", now=T0, limit=3)
        inbox.finish(old.id, now=T0)
        inbox.finish(recent.id, now=T0 + 100)
        inbox.fail(dead.id, {"app.a": "boom"}, now=T0, final=True)
        assert inbox.purge(50, now=T0 + 120) == 1
        assert [item.id for item in inbox.list()] == [recent.id, dead.id]
        assert inbox.purge(0, now=T0 + 120) == 1
        assert [item.id for item in inbox.list()] == [dead.id]
        assert put(inbox, bodies[0]) is True  # purged: the same body is new again
        assert put(inbox, bodies[2]) is False  # dead letters still deduplicate

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


class TestOperations:
    def test_stats_of_an_empty_inbox(self, inbox: RedisInbox) -> None:
        assert inbox.stats(now=T0) == {
            "pending": 0,
            "done": 0,
            "dead": 0,
            "failed": 0,
            "in_flight": 0,
            "oldest_pending_age": None,
        }

    def test_stats_list_and_get(self, inbox: RedisInbox) -> None:
        for n in range(5):
            put(inbox, body_for(f"sb-{n}"), now=T0 + n)
        done, failed, dead, in_flight = inbox.claim("w1", now=T0 + 10, limit=4)
        inbox.finish(done.id, now=T0 + 10)
        inbox.fail(failed.id, {"app.a": "boom"}, now=T0 + 10)
        inbox.fail(dead.id, {"app.a": "boom"}, now=T0 + 10, final=True)
        assert inbox.stats(now=T0 + 20) == {
            "pending": 3,
            "done": 1,
            "dead": 1,
            "failed": 1,
            "in_flight": 1,
            "oldest_pending_age": 19.0,
        }

        def ids(status: Any) -> list[int]:
            return [item.id for item in inbox.list(status, limit=10)]

        assert ids(None) == [done.id, failed.id, dead.id, in_flight.id, in_flight.id + 1]
        assert ids("pending") == [failed.id, in_flight.id, in_flight.id + 1]
        assert ids("failed") == [failed.id]
        assert ids("dead") == [dead.id]
        assert ids("done") == [done.id]
        assert len(inbox.list(limit=2)) == 2
        assert inbox.get(999) is None
        with pytest.raises(ConfigurationError, match="no such status"):
            inbox.list("stuck")  # type: ignore[arg-type]

    def test_shows_where_it_is_and_never_a_password(self, redis_server: str) -> None:
        url = redis_server.replace("redis://", "redis://user:s3cret@")
        box = RedisInbox(url, stream="events")
        assert repr(box) == f"RedisInbox({redis_server!r}, stream='events')"
        with pytest.raises(StoreError) as info:
            box.stats(now=T0)  # no such user on the test server
        assert "s3cret" not in str(info.value)
        box.close()


class TestErrors:
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

    def test_works_again_after_close(self, inbox: RedisInbox) -> None:
        inbox.close()
        put(inbox, body_for())
        assert inbox.stats(now=T0)["pending"] == 1

    @pytest.mark.parametrize(
        "options",
        [
            {"retry_delays": (10, -1)},
            {"retry_delays": (float("inf"),)},
            {"lease": 0},
            {"retention": -1},
            {"stream": ""},
        ],
    )
    def test_bad_settings_are_refused(self, redis_url: str, options: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError):
            RedisInbox(redis_url, **options)

    def test_bad_urls_and_clients_are_refused(self, redis_url: str) -> None:
        with pytest.raises(ConfigurationError, match="not a Redis URL"):
            RedisInbox("http://127.0.0.1:6379/0")
        with pytest.raises(ConfigurationError, match="decode_responses=False"):
            RedisInbox(redis.Redis.from_url(redis_url, decode_responses=True))


# --- with a Worker and a receiver -----------------------------------------------


@pytest.fixture
def receiver(inbox: RedisInbox, clock: Clock) -> WebhookReceiver:
    return WebhookReceiver(SECRET, inbox=inbox, clock=clock)


def name_of(handler: Any) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


class TestWorker:
    def test_partial_failure_then_retry_runs_only_the_failed_handler(
        self, receiver: WebhookReceiver, inbox: RedisInbox, clock: Clock
    ) -> None:
        runs: Counter[str] = Counter()

        def audit(event: Event) -> None:
            runs["audit"] += 1

        def notify(event: Event) -> None:
            runs["notify"] += 1
            if runs["notify"] == 1:
                raise ConnectionError("pager unreachable")

        receiver.add(audit, "capsule.pause")
        receiver.add(notify, "capsule.pause")
        body = body_for()
        assert receiver.handle(*signed(body, clock)).status_code == 202
        clock.advance(10)  # Wrenn's retry, to another host: a duplicate
        assert receiver.handle(*signed(body, clock)).body["duplicate"] is True
        worker = Worker(receiver)
        assert worker.run_once() == 1
        (item,) = inbox.list("failed")
        assert item.last_errors == {name_of(notify): "ConnectionError: pager unreachable"}
        assert item.completed == {name_of(audit)}
        assert worker.run_once() == 0  # not due yet
        clock.advance(10)
        assert worker.run_once() == 1
        assert runs == {"audit": 1, "notify": 2}
        assert inbox.stats(now=clock.now)["done"] == 1

    def test_a_handler_failing_every_time_is_dead_lettered_then_retried(
        self, receiver: WebhookReceiver, inbox: RedisInbox, clock: Clock
    ) -> None:
        attempts: list[float] = []

        def broken(event: Event) -> None:
            attempts.append(clock.now)
            if len(attempts) < 4:
                raise ValueError(f"bad value {len(attempts)}")

        receiver.add(broken, "capsule.pause")
        receiver.handle(*signed(body_for(), clock))
        start, worker = clock.now, Worker(receiver)
        for _ in range(100):
            worker.run_once()
            clock.advance(1)
        assert [at - start for at in attempts] == [0, 10, 70]
        (item,) = inbox.list("dead")
        assert item.last_errors == {name_of(broken): "ValueError: bad value 3"}
        assert inbox.retry_dead() == 1
        assert worker.run_once() == 1
        assert inbox.stats(now=clock.now)["done"] == 1

    def test_stop_between_handlers_gives_the_rest_back(
        self, receiver: WebhookReceiver, inbox: RedisInbox, clock: Clock
    ) -> None:
        ran: list[tuple[str, str]] = []
        stopping: list[Worker] = []

        def first(event: Event) -> None:
            ran.append(("first", event.resource.id))
            if stopping:
                stopping.pop().stop()

        def second(event: Event) -> None:
            ran.append(("second", event.resource.id))

        receiver.add(first, "capsule.pause")
        receiver.add(second, "capsule.pause")
        receiver.handle(*signed(body_for("sb-1"), clock))
        receiver.handle(*signed(body_for("sb-2"), clock))
        worker = Worker(receiver)
        stopping.append(worker)
        assert worker.run_once() == 1
        assert ran == [("first", "sb-1")]
        one, two = inbox.list()
        assert (one.completed, one.lease_until, one.attempts) == (
            frozenset({name_of(first)}),
            None,
            0,
        )
        assert (two.lease_until, two.attempts) == (None, 0)
        assert Worker(receiver).run_once() == 2
        assert ran[1:] == [("second", "sb-1"), ("first", "sb-2"), ("second", "sb-2")]
