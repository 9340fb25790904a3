"""One behavioural contract, run against every durable inbox backend (SQLite and Redis).

What differs between the backends stays in the ``backend`` fixture: where an inbox
lives, how the commands name it, and how a lease runs out. SQLite leases run on the
injected times, so time passes for free; Redis measures leases on its own clock
(``XAUTOCLAIM``), so its backend sleeps through short real leases instead.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import Clock, signed
from tests.inbox import T0, body_for, name_of, one_in_each_state, put
from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401  (fixtures)
from tests.vectors import SECRET
from wrenn_webhooks import Delivery, Event, WebhookReceiver
from wrenn_webhooks.cli import cli
from wrenn_webhooks.errors import ConfigurationError
from wrenn_webhooks.inbox import Inbox, InboxItem, SQLiteInbox, Worker

LEASE = 30.0


class Backend:
    """Makes inboxes of one kind, all sharing one store, as hosts or processes would."""

    name: str
    lease: float
    """A lease the takeover tests can outlive."""

    def __init__(self) -> None:
        self._opened: list[Any] = []

    def inbox(self, **options: Any) -> Any:
        """A new inbox object, with its own connections, on this test's store."""
        box = self._open(**options)
        self._opened.append(box)
        return box

    def elapse(self, now: float, seconds: float) -> float:
        """Let ``seconds`` pass for the leases; return ``now`` that much later."""
        return now + seconds

    def expire(self, now: float) -> float:
        """Let a lease of ``self.lease`` taken at ``now`` run out; return the time after."""
        return self.elapse(now, self.lease)

    def within_lease(self, now: float) -> float:
        """A time a lease of ``self.lease`` taken at ``now`` still holds."""
        return now + self.lease - 1

    def cli(self) -> list[str]:
        """The options naming this store to ``wrenn-webhooks inbox``."""
        raise NotImplementedError

    def cli_env(self) -> dict[str, str]:
        """The environment naming this store to ``wrenn-webhooks inbox``."""
        raise NotImplementedError

    def close(self) -> None:
        for box in self._opened:
            box.close()

    def _open(self, **options: Any) -> Any:
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"
    lease = LEASE

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def cli(self) -> list[str]:
        return ["--db", str(self.path)]

    def cli_env(self) -> dict[str, str]:
        return {"WRENN_INBOX_DB": str(self.path)}

    def _open(self, **options: Any) -> SQLiteInbox:
        return SQLiteInbox(self.path, **options)


class RedisBackend(Backend):
    name = "redis"
    lease = 0.5
    margin = 0.1
    """How far past a lease ``expire`` sleeps, for Redis' clock and ours to disagree."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def elapse(self, now: float, seconds: float) -> float:
        time.sleep(seconds)
        return now + seconds

    def expire(self, now: float) -> float:
        return self.elapse(now, self.lease + self.margin)

    def within_lease(self, now: float) -> float:
        return now  # at once: Redis' clock has moved on by milliseconds only

    def cli(self) -> list[str]:
        return ["--redis", self.url]

    def cli_env(self) -> dict[str, str]:
        return {"WRENN_INBOX_REDIS": self.url, "WRENN_INBOX_DB": ""}

    def _open(self, **options: Any) -> Any:
        from wrenn_webhooks.redis import RedisInbox

        return RedisInbox(self.url, **options)


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "redis":  # skipped, saying why, without redis-server
        chosen: Backend = RedisBackend(request.getfixturevalue("redis_url"))
    elif request.param == "redis-cluster":  # three masters; the URL ends in ?cluster=yes
        chosen = RedisBackend(request.getfixturevalue("redis_cluster_url"))
    else:
        chosen = SQLiteBackend(tmp_path / "inbox.db")
    yield chosen
    chosen.close()


@pytest.fixture
def inbox(backend: Backend) -> Any:
    return backend.inbox(retry_delays=(10, 60), lease=LEASE, retention=100)


@pytest.fixture
def short(backend: Backend) -> Any:
    """An inbox whose lease the takeover tests outlive."""
    return backend.inbox(retry_delays=(10, 60), lease=backend.lease)


@pytest.fixture
def ordered(backend: Backend) -> Any:
    return backend.inbox(retry_delays=(10,), lease=LEASE, ordered=True)


def claim_one(inbox: Any, now: float, worker: str = "w1") -> InboxItem:
    (item,) = inbox.claim(worker, now=now)
    return item


def resources(items: list[InboxItem]) -> list[str]:
    return [item.resource_id for item in items]


def test_every_backend_is_an_inbox(inbox: Any) -> None:
    assert isinstance(inbox, Inbox)  # every method a receiver and a worker call


class TestPut:
    def test_stores_every_field(self, inbox: Any) -> None:
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
        assert not item.failed

    def test_redelivery_to_the_same_or_another_host_stores_nothing_new(
        self, backend: Backend, inbox: Any
    ) -> None:
        other_host = backend.inbox()
        body = body_for()
        assert put(inbox, body, delivery_id="d-1") is True
        assert put(inbox, body, now=T0 + 10, delivery_id="d-2") is False
        assert put(other_host, body, now=T0 + 20, delivery_id="d-3") is False
        (item,) = inbox.list()
        assert (item.delivery_id, item.received_at) == ("d-1", T0)

    def test_hosts_racing_to_store_one_body_store_it_once(self, backend: Backend) -> None:
        hosts = [backend.inbox() for _ in range(8)]
        barrier = threading.Barrier(len(hosts))
        stored: list[bool] = []

        def deliver(host: Any, n: int) -> None:
            barrier.wait(10)
            stored.append(put(host, body_for(), delivery_id=f"d-{n}"))

        threads = [threading.Thread(target=deliver, args=(h, n)) for n, h in enumerate(hosts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(stored) == [False] * 7 + [True]


class TestClaim:
    def test_lease_keeps_other_workers_out_until_it_expires(
        self, backend: Backend, short: Any
    ) -> None:
        put(short, body_for())
        item = claim_one(short, T0, "w1")
        assert (item.lease_owner, item.lease_until, item.attempts) == ("w1", T0 + backend.lease, 0)
        assert short.claim("w2", now=backend.within_lease(T0)) == []
        # w1 died: its lease expires and the abandoned attempt counts.
        again = claim_one(short, backend.expire(T0), "w2")
        assert (again.id, again.lease_owner, again.attempts) == (item.id, "w2", 1)
        assert again.failed

    def test_a_worker_dying_on_every_attempt_dead_letters_it(
        self, backend: Backend, short: Any
    ) -> None:
        # retry_delays=(10, 60): three attempts in all, each ending with a dead worker.
        put(short, body_for())
        now = T0
        for attempt in range(3):
            item = claim_one(short, now, f"w{attempt}")
            assert item.attempts == attempt
            now = backend.expire(now)  # the worker died: its lease runs out unreleased
        assert short.claim("w9", now=now) == []
        (dead,) = short.list(status="dead")
        assert dead.attempts == 3
        assert "stopped before finishing" in dead.last_errors["(worker)"]

    def test_oldest_first_up_to_limit(self, inbox: Any) -> None:
        for n in range(5):
            put(inbox, body_for(f"sb-{n}"))
        assert resources(inbox.claim("w1", now=T0, limit=2)) == ["sb-0", "sb-1"]
        assert resources(inbox.claim("w2", now=T0, limit=10)) == ["sb-2", "sb-3", "sb-4"]
        assert inbox.claim("w3", now=T0, limit=10) == []

    def test_limit_must_be_positive(self, inbox: Any) -> None:
        with pytest.raises(ConfigurationError):
            inbox.claim("w1", now=T0, limit=0)

    @pytest.mark.parametrize("hosts", ["one inbox", "an inbox each"])
    def test_threads_racing_each_item_claimed_once(
        self, backend: Backend, inbox: Any, hosts: str
    ) -> None:
        for n in range(200):
            put(inbox, body_for(f"sb-{n}"))
        claimed: list[int] = []
        lock = threading.Lock()

        def drain(worker: str) -> None:
            host = inbox if hosts == "one inbox" else backend.inbox(lease=LEASE)
            while items := host.claim(worker, now=T0, limit=3):
                with lock:
                    claimed.extend(item.id for item in items)

        threads = [threading.Thread(target=drain, args=(f"w{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(claimed) == [item.id for item in inbox.list(limit=1000)]
        assert sorted(claimed) == list(range(1, 201))

    def test_two_hosts_taking_turns_never_share_an_item(self, backend: Backend) -> None:
        first, second = backend.inbox(), backend.inbox()
        for n in range(50):
            put(first, body_for(f"sb-{n}"))
        seen: Counter[int] = Counter()
        while True:
            a = first.claim("a", now=T0, limit=4)
            b = second.claim("b", now=T0, limit=4)
            if not a and not b:
                break
            seen.update(item.id for item in a + b)
        assert len(seen) == 50
        assert set(seen.values()) == {1}

    def test_release_makes_it_due_at_once_without_an_attempt(self, inbox: Any) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.release(item.id)
        again = claim_one(inbox, T0 + 1, "w2")
        assert (again.id, again.attempts, again.lease_owner) == (item.id, 0, "w2")


class TestCompletion:
    def test_completed_handlers_survive_a_takeover(self, backend: Backend, short: Any) -> None:
        put(short, body_for())
        item = claim_one(short, T0)
        short.complete_handler(item.id, "app.audit", now=T0 + 1)
        short.complete_handler(item.id, "app.audit", now=T0 + 1)
        # The worker dies here; the next one sees what completed.
        again = claim_one(short, backend.expire(T0 + 1), "w2")
        assert again.completed == frozenset({"app.audit"})

    def test_each_completion_renews_the_lease(self, backend: Backend, short: Any) -> None:
        lease = backend.lease
        put(short, body_for())
        item = claim_one(short, T0)
        now = backend.elapse(T0, lease / 2)
        short.complete_handler(item.id, "app.audit", now=now)
        assert short.get(item.id).lease_until == now + lease
        now = backend.elapse(now, lease * 3 / 4)  # past the claim's lease, not the renewal's
        assert short.claim("w2", now=now) == []
        now = backend.elapse(now, lease / 2)
        assert claim_one(short, now, "w2").id == item.id

    def test_finish_marks_done_and_nothing_is_claimable(self, inbox: Any) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.finish(item.id, now=T0 + 2)
        done = inbox.get(item.id)
        assert done is not None
        assert (done.status, done.finished_at, done.lease_until) == ("done", T0 + 2, None)
        assert done.next_attempt_at is None
        assert inbox.claim("w1", now=T0 + 1000) == []


class TestRetries:
    def test_backoff_then_dead_letter_with_last_errors(self, inbox: Any) -> None:
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

    def test_last_errors_keep_only_handlers_still_failing(self, inbox: Any) -> None:
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

    def test_final_failure_dead_letters_at_once(self, inbox: Any) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"parse_event": "no longer parses"}, now=T0, final=True)
        dead = inbox.get(item.id)
        assert dead is not None
        assert (dead.status, dead.attempts) == ("dead", 1)

    def test_retry_gives_a_dead_item_one_more_attempt(self, inbox: Any) -> None:
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

    def test_retry_makes_a_waiting_item_due_now(self, inbox: Any) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"app.b": "boom"}, now=T0)
        assert inbox.retry(item.id) is True
        assert claim_one(inbox, T0 + 1).id == item.id

    def test_retry_refuses_done_and_missing_items(self, inbox: Any) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.finish(item.id, now=T0)
        assert inbox.retry(item.id) is False
        assert inbox.retry(999) is False
        done = inbox.get(item.id)
        assert done is not None
        assert done.status == "done"

    def test_retry_dead_in_batches(self, inbox: Any) -> None:
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
    def test_failing_event_holds_back_its_resource_only(self, ordered: Any) -> None:
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

    def test_dead_letter_releases_its_resource(self, ordered: Any) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        first = claim_one(ordered, T0)
        ordered.fail(first.id, {"app.a": "boom"}, now=T0)
        first = claim_one(ordered, T0 + 10)
        ordered.fail(first.id, {"app.a": "boom"}, now=T0 + 10)  # no retry left: dead
        assert claim_one(ordered, T0 + 10).id == first.id + 1

    def test_in_flight_event_holds_back_its_resource(self, ordered: Any) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        put(ordered, body_for("sb-2", 1))
        assert resources(ordered.claim("w1", now=T0, limit=1)) == ["sb-1"]
        assert resources(ordered.claim("w2", now=T0, limit=10)) == ["sb-2"]

    def test_unordered_inbox_takes_every_resource_at_once(self, inbox: Any) -> None:
        put(inbox, body_for("sb-1", 1))
        put(inbox, body_for("sb-1", 2))
        first = claim_one(inbox, T0)
        inbox.fail(first.id, {"app.a": "boom"}, now=T0)
        assert claim_one(inbox, T0).id == first.id + 1


class TestRetention:
    def test_workers_purge_old_done_items_put_never_does(self, inbox: Any) -> None:
        put(inbox, body_for("sb-1"))
        done = claim_one(inbox, T0)
        inbox.finish(done.id, now=T0)
        put(inbox, body_for("sb-2"), now=T0 + 500)  # a request: no purge
        assert inbox.get(done.id) is not None
        waiting = claim_one(inbox, T0 + 500)  # a worker: retention (100 s) is over
        assert inbox.get(done.id) is None
        assert inbox.get(waiting.id) is not None

    def test_purge_runs_at_most_every_tenth_of_retention(self, inbox: Any) -> None:
        put(inbox, body_for("sb-1"), now=T0)
        item = claim_one(inbox, T0)  # purges (nothing yet)
        inbox.finish(item.id, now=T0)
        inbox.claim("w1", now=T0 + 95)  # purges what finished before T0 - 5
        inbox.claim("w1", now=T0 + 101)  # retention is over, but the last purge is recent
        assert inbox.get(item.id) is not None
        inbox.claim("w1", now=T0 + 105)
        assert inbox.get(item.id) is None

    def test_purge_deletes_old_done_items_and_keeps_dead_ones(self, inbox: Any) -> None:
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


class TestOperations:
    def test_stats_and_purge_default_to_the_current_time(self, inbox: Any) -> None:
        wall = time.time()
        put(inbox, body_for("sb-old"), now=wall - 100)
        put(inbox, body_for("sb-new"), now=wall - 30)
        item = inbox.claim("w1", now=wall - 100)[0]
        inbox.finish(item.id, now=wall - 100)
        age = inbox.stats()["oldest_pending_age"]
        assert 30 <= age < 90, age
        assert inbox.purge(200) == 0
        assert inbox.purge(50) == 1

    def test_stats_of_an_empty_inbox(self, inbox: Any) -> None:
        assert inbox.stats(now=T0) == {
            "pending": 0,
            "done": 0,
            "dead": 0,
            "failed": 0,
            "in_flight": 0,
            "oldest_pending_age": None,
        }

    def test_stats_list_and_get(self, inbox: Any) -> None:
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
            inbox.list("stuck")

    def test_works_again_after_close(self, inbox: Any) -> None:
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
        ],
    )
    def test_bad_settings_are_refused(self, backend: Backend, options: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError):
            backend.inbox(**options)


# --- with a Worker and a receiver -----------------------------------------------


@pytest.fixture
def receiver(inbox: Any, clock: Clock) -> WebhookReceiver:
    return WebhookReceiver(SECRET, inbox=inbox, clock=clock)


class TestWorker:
    def test_partial_failure_then_retry_runs_only_the_failed_handler(
        self, receiver: WebhookReceiver, inbox: Any, clock: Clock
    ) -> None:
        runs: Counter[str] = Counter()
        deliveries: list[Delivery] = []

        def audit(event: Event) -> None:
            runs["audit"] += 1

        def notify(event: Event, delivery: Delivery) -> None:
            runs["notify"] += 1
            deliveries.append(delivery)
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
        assert [d.redelivery for d in deliveries] == [False, True]
        assert inbox.stats(now=clock.now)["done"] == 1

    def test_a_handler_failing_every_time_is_dead_lettered_then_retried(
        self, receiver: WebhookReceiver, inbox: Any, clock: Clock
    ) -> None:
        attempts: list[float] = []

        def broken(event: Event) -> None:
            attempts.append(clock.now)
            if len(attempts) < 4:
                raise ValueError(f"bad value {len(attempts)}" + "!" * 600)

        receiver.add(broken, "capsule.pause")
        receiver.handle(*signed(body_for(), clock))
        start, worker = clock.now, Worker(receiver)
        for _ in range(100):
            worker.run_once()
            clock.advance(1)
        assert [at - start for at in attempts] == [0, 10, 70]
        (item,) = inbox.list("dead")
        ((handler, error),) = item.last_errors.items()
        assert handler == name_of(broken)
        assert error.startswith("ValueError: bad value 3!")
        assert len(error) == 500  # cut short
        assert inbox.retry_dead() == 1
        assert worker.run_once() == 1
        assert inbox.stats(now=clock.now)["done"] == 1

    def test_stop_between_handlers_gives_the_rest_back(
        self, receiver: WebhookReceiver, inbox: Any, clock: Clock
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


# --- wrenn-webhooks inbox ... -----------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def store(backend: Backend) -> list[str]:
    """An inbox with one event in each state: 1 done (8 days ago), 2 failed, 3 dead, 4 new.

    Returns the ``inbox`` options that name it.
    """
    box = backend.inbox()
    one_in_each_state(box)
    box.close()
    return backend.cli()


def stats(backend: Backend) -> dict[str, int | float | None]:
    box = backend.inbox()
    try:
        counts: dict[str, int | float | None] = box.stats(now=time.time())
        return counts
    finally:
        box.close()


class TestCommands:
    def test_stats(self, store: list[str]) -> None:
        result = run("inbox", *store, "stats")
        assert result.exit_code == 0
        lines = dict(line.split(None, 1) for line in result.output.splitlines())
        assert {k: v for k, v in lines.items() if k != "oldest_pending_age"} == {
            "pending": "2",
            "done": "1",
            "dead": "1",
            "failed": "1",
            "in_flight": "0",
        }
        assert lines["oldest_pending_age"].startswith("60.")

    def test_the_inbox_can_come_from_the_environment(
        self, backend: Backend, store: list[str]
    ) -> None:
        result = run("inbox", "stats", env=backend.cli_env())
        assert result.exit_code == 0
        assert "pending" in result.output
        result = run("inbox", "list", env=backend.cli_env())
        assert result.exit_code == 0
        states = [line.split()[1] for line in result.output.splitlines()[1:] if line[:6].strip()]
        assert states == ["done", "failed", "dead", "pending"]
        assert "app.notify: ConnectionError: pager unreachable" in result.output

    def test_list(self, store: list[str]) -> None:
        result = run("inbox", *store, "list")
        assert result.exit_code == 0
        lines = result.output.splitlines()
        assert lines[0].split()[:3] == ["ID", "STATE", "TRIES"]
        states = [line.split()[1] for line in lines[1:] if line.split()[0].isdigit()]
        assert states == ["done", "failed", "dead", "pending"]
        assert "app.notify: ConnectionError: pager unreachable" in result.output

    @pytest.mark.parametrize(
        ("status", "resources"),
        [
            ("pending", ["sb-1", "sb-3"]),
            ("failed", ["sb-1"]),
            ("dead", ["sb-2"]),
            ("done", ["sb-0"]),
        ],
    )
    def test_list_by_status(self, store: list[str], status: str, resources: list[str]) -> None:
        result = run("inbox", *store, "list", "--status", status)
        assert result.exit_code == 0
        shown = [line.split()[-1] for line in result.output.splitlines()[1:] if line[:6].strip()]
        assert shown == resources

    def test_list_limit(self, store: list[str]) -> None:
        result = run("inbox", *store, "list", "--limit", "1")
        assert len(result.output.splitlines()) == 2

    def test_nothing_to_list(self, backend: Backend) -> None:
        backend.inbox().close()
        assert run("inbox", *backend.cli(), "list").output == "no events\n"

    def test_show(self, store: list[str]) -> None:
        result = run("inbox", *store, "show", "3")
        assert result.exit_code == 0
        assert "state         dead" in result.output
        assert "resource      sb-2" in result.output
        assert "error         app.bill: ValueError: no such account" in result.output
        assert '"resource": {\n    "id": "sb-2"' in result.output

    def test_show_a_missing_event(self, store: list[str]) -> None:
        result = run("inbox", *store, "show", "99")
        assert result.exit_code == 1
        assert result.output == "Error: no event 99 in the inbox\n"

    def test_retry_one_event(self, backend: Backend, store: list[str]) -> None:
        result = run("inbox", *store, "retry", "3")
        assert (result.exit_code, result.output) == (0, "event 3 is due now\n")
        assert stats(backend)["dead"] == 0

    @pytest.mark.parametrize(
        ("item", "message"), [("1", "event 1 is done"), ("99", "event 99 is not in the inbox")]
    )
    def test_retry_refuses_what_cannot_be_retried(
        self, store: list[str], item: str, message: str
    ) -> None:
        result = run("inbox", *store, "retry", item)
        assert result.exit_code == 1
        assert result.output == f"Error: {message}: nothing to retry\n"

    @pytest.mark.parametrize("args", [[], ["3", "--dead"]])
    def test_retry_needs_one_event_or_dead(self, store: list[str], args: list[str]) -> None:
        result = run("inbox", *store, "retry", *args)
        assert result.exit_code == 2
        assert "give an event ID or --dead" in result.output

    def test_retry_dead(self, backend: Backend, store: list[str]) -> None:
        result = run("inbox", *store, "retry", "--dead")
        assert (result.exit_code, result.output) == (0, "1 dead events are due now\n")
        assert stats(backend)["dead"] == 0

    def test_retry_many_dead_events_shows_progress(self, backend: Backend) -> None:
        box = backend.inbox()
        now = time.time()
        for n in range(1200):
            put(box, body_for(f"sb-{n}"), now=now)
        for item in box.claim("w1", now=now, limit=1200):
            box.fail(item.id, {"app.bill": "boom"}, now=now, final=True)
        box.close()
        result = run("inbox", *backend.cli(), "retry", "--dead")
        assert result.exit_code == 0
        assert "retrying dead events" in result.output
        assert result.output.endswith("1200 dead events are due now\n")
        assert stats(backend)["dead"] == 0

    @pytest.mark.parametrize(
        ("older_than", "purged"), [("7d", 1), ("9d", 0), ("12h", 1), ("30s", 1)]
    )
    def test_purge(self, backend: Backend, store: list[str], older_than: str, purged: int) -> None:
        result = run("inbox", *store, "purge", "--older-than", older_than)
        assert (result.exit_code, result.output) == (0, f"purged {purged} done events\n")
        assert stats(backend)["dead"] == 1  # dead letters stay
        assert stats(backend)["done"] == 1 - purged

    def test_purge_accepts_minutes(self, store: list[str]) -> None:
        assert run("inbox", *store, "purge", "--older-than", "15m").exit_code == 0

    @pytest.mark.parametrize("duration", ["7", "7 days", "d", "-1d"])
    def test_purge_refuses_what_is_not_a_duration(
        self, backend: Backend, store: list[str], duration: str
    ) -> None:
        result = run("inbox", *store, "purge", "--older-than", duration)
        assert result.exit_code == 2
        assert "is not a duration such as 30s, 15m, 12h or 7d" in result.output
        assert stats(backend)["done"] == 1
