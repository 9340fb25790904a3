"""SQLiteInbox: durable put, leases, per-handler completion, retries, ordering, operations."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.inbox import T0, body_for, put
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import InboxItem, SQLiteInbox
from wrenn_webhooks.stores import SQLiteIdempotencyStore

LEASE = 30.0


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[SQLiteInbox]:
    box = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10, 60), lease=LEASE, retention=100)
    yield box
    box.close()


@pytest.fixture
def ordered(tmp_path: Path) -> Iterator[SQLiteInbox]:
    box = SQLiteInbox(tmp_path / "ordered.db", retry_delays=(10,), lease=LEASE, ordered=True)
    yield box
    box.close()


def claim_one(inbox: SQLiteInbox, now: float, worker: str = "w1") -> InboxItem:
    (item,) = inbox.claim(worker, now=now)
    return item


def resources(items: list[InboxItem]) -> list[str]:
    return [item.resource_id for item in items]


class TestPut:
    def test_stores_every_field(self, inbox: SQLiteInbox) -> None:
        body = body_for("sb-7")
        assert put(inbox, body, delivery_id="d-42") is True
        (item,) = inbox.list()
        assert item == inbox.get(item.id)
        assert (item.key, item.body) == (hashlib.sha256(body).hexdigest(), body)
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

    def test_redelivery_stores_nothing_new(self, inbox: SQLiteInbox) -> None:
        body = body_for()
        assert put(inbox, body, delivery_id="d-1") is True
        assert put(inbox, body, now=T0 + 10, delivery_id="d-2") is False
        (item,) = inbox.list()
        assert (item.delivery_id, item.received_at) == ("d-1", T0)

    def test_is_committed_before_it_returns(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        with closing(sqlite3.connect(inbox.path)) as other:
            assert other.execute("SELECT count(*) FROM inbox").fetchone() == (1,)


class TestClaim:
    def test_lease_keeps_other_workers_out_until_it_expires(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0, "w1")
        assert (item.lease_owner, item.lease_until, item.attempts) == ("w1", T0 + LEASE, 0)
        assert inbox.claim("w2", now=T0 + LEASE - 1) == []
        # w1 died: its lease expires and the abandoned attempt counts.
        again = claim_one(inbox, T0 + LEASE, "w2")
        assert (again.id, again.lease_owner, again.attempts) == (item.id, "w2", 1)
        assert again.failed

    def test_a_worker_dying_on_every_attempt_dead_letters_it(self, inbox: SQLiteInbox) -> None:
        # retry_delays=(10, 60): three attempts in all, each ending with a dead worker.
        put(inbox, body_for())
        now = T0
        for attempt in range(3):
            item = claim_one(inbox, now, f"w{attempt}")
            assert item.attempts == attempt
            now += LEASE  # the worker died: its lease runs out unreleased
        assert inbox.claim("w9", now=now) == []
        (dead,) = inbox.list(status="dead")
        assert dead.attempts == 3
        assert "stopped before finishing" in dead.last_errors["(worker)"]

    def test_oldest_first_up_to_limit(self, inbox: SQLiteInbox) -> None:
        for n in range(5):
            put(inbox, body_for(f"sb-{n}"))
        assert resources(inbox.claim("w1", now=T0, limit=2)) == ["sb-0", "sb-1"]
        assert resources(inbox.claim("w2", now=T0, limit=10)) == ["sb-2", "sb-3", "sb-4"]
        assert inbox.claim("w3", now=T0, limit=10) == []

    def test_limit_must_be_positive(self, inbox: SQLiteInbox) -> None:
        with pytest.raises(ConfigurationError):
            inbox.claim("w1", now=T0, limit=0)

    def test_threads_racing_each_item_claimed_once(self, inbox: SQLiteInbox) -> None:
        for n in range(200):
            put(inbox, body_for(f"sb-{n}"))
        claimed: list[int] = []
        lock = threading.Lock()

        def drain(worker: str) -> None:
            while items := inbox.claim(worker, now=T0, limit=3):
                with lock:
                    claimed.extend(item.id for item in items)

        threads = [threading.Thread(target=drain, args=(f"w{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(claimed) == [item.id for item in inbox.list(limit=1000)]

    def test_release_makes_it_due_at_once_without_an_attempt(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.release(item.id)
        again = claim_one(inbox, T0 + 1, "w2")
        assert (again.id, again.attempts) == (item.id, 0)


class TestCompletion:
    def test_completed_handlers_survive_a_rerun(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.complete_handler(item.id, "app.audit", now=T0 + 1)
        inbox.complete_handler(item.id, "app.audit", now=T0 + 1)
        # The worker dies here; the next one sees what completed.
        again = claim_one(inbox, T0 + 1 + LEASE, "w2")
        assert again.completed == frozenset({"app.audit"})

    def test_each_completion_renews_the_lease(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.complete_handler(item.id, "app.audit", now=T0 + 20)
        assert inbox.claim("w2", now=T0 + LEASE) == []
        assert claim_one(inbox, T0 + 20 + LEASE, "w2").id == item.id

    def test_finish_marks_done_and_nothing_is_claimable(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.finish(item.id, now=T0 + 2)
        done = inbox.get(item.id)
        assert done is not None
        assert (done.status, done.finished_at, done.lease_until) == ("done", T0 + 2, None)
        assert done.next_attempt_at is None
        assert inbox.claim("w1", now=T0 + 1000) == []


class TestRetries:
    def test_backoff_then_dead_letter_with_last_errors(self, inbox: SQLiteInbox) -> None:
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

    def test_last_errors_keep_only_handlers_still_failing(self, inbox: SQLiteInbox) -> None:
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

    def test_final_failure_dead_letters_at_once(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"parse_event": "no longer parses"}, now=T0, final=True)
        dead = inbox.get(item.id)
        assert dead is not None
        assert (dead.status, dead.attempts) == ("dead", 1)

    def test_retry_gives_a_dead_item_one_more_attempt(self, inbox: SQLiteInbox) -> None:
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
        inbox.fail(again.id, {"app.b": "still broken"}, now=T0 + 72)
        dead = inbox.get(item.id)
        assert dead is not None
        assert (dead.status, dead.last_errors) == ("dead", {"app.b": "still broken"})

    def test_retry_makes_a_waiting_item_due_now(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.fail(item.id, {"app.b": "boom"}, now=T0)
        assert inbox.retry(item.id) is True
        assert claim_one(inbox, T0 + 1).id == item.id

    def test_retry_refuses_done_and_missing_items(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        item = claim_one(inbox, T0)
        inbox.finish(item.id, now=T0)
        assert inbox.retry(item.id) is False
        assert inbox.retry(999) is False
        done = inbox.get(item.id)
        assert done is not None
        assert done.status == "done"

    def test_retry_dead_in_batches(self, inbox: SQLiteInbox) -> None:
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
    def test_failing_event_holds_back_its_resource_only(self, ordered: SQLiteInbox) -> None:
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

    def test_dead_letter_releases_its_resource(self, ordered: SQLiteInbox) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        first = claim_one(ordered, T0)
        ordered.fail(first.id, {"app.a": "boom"}, now=T0)
        first = claim_one(ordered, T0 + 10)
        ordered.fail(first.id, {"app.a": "boom"}, now=T0 + 10)  # no retry left: dead
        assert claim_one(ordered, T0 + 10).id == first.id + 1

    def test_in_flight_event_holds_back_its_resource(self, ordered: SQLiteInbox) -> None:
        put(ordered, body_for("sb-1", 1))
        put(ordered, body_for("sb-1", 2))
        put(ordered, body_for("sb-2", 1))
        assert resources(ordered.claim("w1", now=T0, limit=1)) == ["sb-1"]
        assert resources(ordered.claim("w2", now=T0, limit=10)) == ["sb-2"]

    def test_unordered_inbox_takes_every_resource_at_once(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for("sb-1", 1))
        put(inbox, body_for("sb-1", 2))
        first = claim_one(inbox, T0)
        inbox.fail(first.id, {"app.a": "boom"}, now=T0)
        assert claim_one(inbox, T0).id == first.id + 1


class TestRetention:
    def test_workers_purge_old_done_items_put_never_does(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for("sb-1"))
        done = claim_one(inbox, T0)
        inbox.finish(done.id, now=T0)
        put(inbox, body_for("sb-2"), now=T0 + 500)  # a request: no purge
        assert inbox.get(done.id) is not None
        waiting = claim_one(inbox, T0 + 500)  # a worker: retention (100 s) is over
        assert inbox.get(done.id) is None
        assert inbox.get(waiting.id) is not None

    def test_purge_runs_at_most_every_tenth_of_retention(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for("sb-1"), now=T0)
        item = claim_one(inbox, T0)  # purges (nothing yet)
        inbox.finish(item.id, now=T0)
        inbox.claim("w1", now=T0 + 95)  # purges what finished before T0 - 5
        inbox.claim("w1", now=T0 + 101)  # retention is over, but the last purge is recent
        assert inbox.get(item.id) is not None
        inbox.claim("w1", now=T0 + 105)
        assert inbox.get(item.id) is None

    def test_purge_deletes_old_done_items_and_keeps_dead_ones(self, inbox: SQLiteInbox) -> None:
        for n in range(3):
            put(inbox, body_for(f"sb-{n}"))
        old, recent, dead = inbox.claim("w1", now=T0, limit=3)
        inbox.finish(old.id, now=T0)
        inbox.finish(recent.id, now=T0 + 100)
        inbox.fail(dead.id, {"app.a": "boom"}, now=T0, final=True)
        assert inbox.purge(50, now=T0 + 120) == 1
        assert [item.id for item in inbox.list()] == [recent.id, dead.id]
        assert inbox.purge(0, now=T0 + 120) == 1
        assert [item.id for item in inbox.list()] == [dead.id]


class TestOperations:
    def test_stats_of_an_empty_inbox(self, inbox: SQLiteInbox) -> None:
        assert inbox.stats(now=T0) == {
            "pending": 0,
            "done": 0,
            "dead": 0,
            "failed": 0,
            "in_flight": 0,
            "oldest_pending_age": None,
        }

    def test_stats_list_and_get(self, inbox: SQLiteInbox) -> None:
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

        def ids(status: str | None) -> list[int]:
            return [item.id for item in inbox.list(status, limit=10)]  # type: ignore[arg-type]

        assert ids(None) == [done.id, failed.id, dead.id, in_flight.id, in_flight.id + 1]
        assert ids("pending") == [failed.id, in_flight.id, in_flight.id + 1]
        assert ids("failed") == [failed.id]
        assert ids("dead") == [dead.id]
        assert ids("done") == [done.id]
        assert len(inbox.list(limit=2)) == 2
        assert inbox.get(999) is None
        with pytest.raises(ConfigurationError, match="no such status"):
            inbox.list("stuck")  # type: ignore[arg-type]


class TestFile:
    def test_schema_version_and_wal(self, inbox: SQLiteInbox) -> None:
        with closing(sqlite3.connect(inbox.path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (1,)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    def test_newer_schema_version_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "inbox.db"
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA user_version = 2")
        with pytest.raises(ConfigurationError, match="schema version 2"):
            SQLiteInbox(path)

    def test_an_idempotency_store_file_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "shared.db"
        SQLiteIdempotencyStore(path).close()
        with pytest.raises(ConfigurationError, match="holds no inbox"):
            SQLiteInbox(path)

    def test_data_persists_across_instances(self, tmp_path: Path) -> None:
        first = SQLiteInbox(tmp_path / "inbox.db")
        put(first, body_for())
        first.close()
        second = SQLiteInbox(tmp_path / "inbox.db")
        try:
            assert len(second.list()) == 1
            assert not put(second, body_for())
        finally:
            second.close()

    def test_works_again_after_close_and_shows_its_path(self, inbox: SQLiteInbox) -> None:
        inbox.close()
        put(inbox, body_for())
        assert inbox.stats(now=T0)["pending"] == 1
        assert repr(inbox) == f"SQLiteInbox({str(inbox.path)!r})"

    @pytest.mark.parametrize(("setting", "code"), [("NORMAL", 1), ("full", 2)])
    def test_synchronous_setting_is_applied(self, tmp_path: Path, setting: str, code: int) -> None:
        box = SQLiteInbox(tmp_path / "inbox.db", synchronous=setting)
        try:
            assert box._connection().execute("PRAGMA synchronous").fetchone() == (code,)
        finally:
            box.close()


class TestErrors:
    def test_not_a_database_is_a_store_error(self, tmp_path: Path) -> None:
        path = tmp_path / "inbox.db"
        path.write_bytes(b"this is not a SQLite database\n" * 100)
        with pytest.raises(StoreError, match="unavailable") as info:
            SQLiteInbox(path)
        assert str(path) in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.Error)

    def test_sqlite_errors_become_store_errors(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        with closing(sqlite3.connect(inbox.path)) as other, other:
            other.execute("ALTER TABLE inbox RENAME TO elsewhere")
        with pytest.raises(StoreError, match="no such table") as info:
            put(inbox, body_for(n=2))
        assert isinstance(info.value.__cause__, sqlite3.Error)
        with closing(sqlite3.connect(inbox.path)) as other, other:
            other.execute("ALTER TABLE elsewhere RENAME TO inbox")
        assert put(inbox, body_for(n=2))  # nothing left locked

    def test_a_corrupt_row_is_a_store_error(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        with closing(sqlite3.connect(inbox.path)) as other, other:
            other.execute("UPDATE inbox SET completed = 'not json'")
        with pytest.raises(StoreError, match="unavailable"):
            inbox.list()

    @pytest.mark.parametrize(
        "options",
        [
            {"retry_delays": (10, -1)},
            {"retry_delays": (float("inf"),)},
            {"lease": 0},
            {"retention": -1},
            {"synchronous": "OFF"},
        ],
    )
    def test_bad_settings_are_refused(self, tmp_path: Path, options: dict[str, object]) -> None:
        with pytest.raises(ConfigurationError):
            SQLiteInbox(tmp_path / "inbox.db", **options)  # type: ignore[arg-type]

    @pytest.mark.parametrize("path", ["", ":memory:"])
    def test_no_file_is_refused(self, path: str) -> None:
        with pytest.raises(ConfigurationError):
            SQLiteInbox(path)

    def test_missing_directory_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="does not exist"):
            SQLiteInbox(tmp_path / "missing" / "inbox.db")


def test_counter_of_claims_is_exact_under_contention(tmp_path: Path) -> None:
    """Two inbox objects on one file (as two processes would have) never share an item."""
    first = SQLiteInbox(tmp_path / "inbox.db")
    second = SQLiteInbox(tmp_path / "inbox.db")
    try:
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
    finally:
        first.close()
        second.close()
