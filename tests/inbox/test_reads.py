"""What the console reads, on every backend: filtered and paged lists, activity per minute.

And, for SQLite, that the reads take no write lock: a dashboard never waits for (or holds
up) the receivers and workers writing the file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.inbox import T0, body_for, put
from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401  (fixtures)
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import SQLiteInbox

MINUTE_0 = T0 - T0 % 60 - 59 * 60
"""The start of the first of the 60 minutes ``activity(now=T0)`` counts."""


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        box: Any = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10,))
    else:
        from wrenn_webhooks.redis import RedisInbox

        url = request.getfixturevalue(
            "redis_url" if request.param == "redis" else "redis_cluster_url"
        )
        box = RedisInbox(url, retry_delays=(10,))
    yield box
    box.close()


def mixed(inbox: Any) -> None:
    """Ten events: types alternate pause/destroy, resources sb-0..sb-2; 3 done, 3 dead."""
    for n in range(10):
        kind = "capsule.pause" if n % 2 == 0 else "capsule.destroy"
        put(inbox, body_for(f"sb-{n % 3}", n, kind=kind), now=T0 + n)
    items = inbox.claim("w1", now=T0 + 20, limit=10)
    for item in items[:3]:
        inbox.finish(item.id, now=T0 + 20)
    for item in items[3:6]:
        inbox.fail(item.id, {"app.a": "boom"}, now=T0 + 20, final=True)
    for item in items[6:]:
        inbox.release(item.id)


def ids(items: list[Any]) -> list[int]:
    return [item.id for item in items]


class TestList:
    def test_filters_by_event_type_and_resource(self, inbox: Any) -> None:
        mixed(inbox)
        assert ids(inbox.list(event_type="capsule.destroy")) == [2, 4, 6, 8, 10]
        assert ids(inbox.list(resource_id="sb-1")) == [2, 5, 8]
        assert ids(inbox.list(event_type="capsule.destroy", resource_id="sb-1")) == [2, 8]
        assert ids(inbox.list("pending", resource_id="sb-0")) == [7, 10]
        assert ids(inbox.list("dead", event_type="capsule.pause")) == [5]
        assert ids(inbox.list("done", resource_id="sb-2")) == [3]
        assert inbox.list(event_type="capsule.nothing") == []
        assert inbox.list(resource_id="") == []

    def test_pages_with_offset_and_limit(self, inbox: Any) -> None:
        mixed(inbox)
        assert ids(inbox.list(limit=4)) == [1, 2, 3, 4]
        assert ids(inbox.list(limit=4, offset=4)) == [5, 6, 7, 8]
        assert ids(inbox.list(limit=4, offset=8)) == [9, 10]
        assert inbox.list(limit=4, offset=10) == []
        assert ids(inbox.list("dead", limit=2, offset=1)) == [5, 6]
        assert ids(inbox.list("pending", limit=2, offset=2)) == [9, 10]
        assert ids(inbox.list(event_type="capsule.pause", limit=2, offset=2)) == [5, 7]

    def test_the_callers_of_before_still_work(self, inbox: Any) -> None:
        mixed(inbox)
        assert ids(inbox.list("dead", limit=100)) == [4, 5, 6]
        assert len(inbox.list()) == 10
        assert inbox.list(limit=0) == []
        with pytest.raises(ConfigurationError, match="no such status"):
            inbox.list("stuck", event_type="capsule.pause")


def test_redis_reads_a_long_index_in_short_batches(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter that matches late in the index: several bounded script calls, in order."""
    from wrenn_webhooks.redis import RedisInbox
    from wrenn_webhooks.redis import inbox as module

    monkeypatch.setattr(module, "_BATCH", 3)
    box = RedisInbox(request.getfixturevalue("redis_url"), retry_delays=())
    calls: list[str] = []
    run = box._run
    box._run = lambda name, *args, **kw: calls.append(name) or run(name, *args, **kw)  # type: ignore[method-assign]
    try:
        for n in range(20):
            put(box, body_for(f"sb-{n}"), now=T0 + n)
        for item in box.claim("w1", now=T0 + 30, limit=20):
            box.fail(item.id, {"app.a": "boom"}, now=T0 + 30, final=True)
        calls.clear()
        assert ids(box.list("dead", resource_id="sb-17")) == [18]
        assert calls.count("list") == 7  # 20 entries, 3 at a time
        assert ids(box.list("pending")) == []
        assert ids(box.list(None, resource_id="sb-1", offset=0)) == [2]
        assert ids(box.list(None, offset=15, limit=3)) == [16, 17, 18]
        assert ids(box.list("dead", offset=15, limit=10)) == [16, 17, 18, 19, 20]
    finally:
        box.close()


class TestActivity:
    def test_counts_received_and_done_per_minute_of_the_last_hour(self, inbox: Any) -> None:
        received = [MINUTE_0 - 1, MINUTE_0, MINUTE_0 + 59, MINUTE_0 + 60, T0 - 5, T0, T0 + 60]
        for n, at in enumerate(received):
            put(inbox, body_for(f"sb-{n}"), now=at)
        items = inbox.claim("w1", now=T0 + 120, limit=10)
        for item, finished in zip(items, [MINUTE_0 - 1, MINUTE_0 + 30, T0 - 1, T0], strict=False):
            inbox.finish(item.id, now=finished)
        inbox.fail(items[4].id, {"app.a": "boom"}, now=T0, final=True)  # dead is not done
        counts = inbox.activity(now=T0)
        assert len(counts["received"]) == len(counts["done"]) == 60
        assert counts["received"][:2] == [2, 1]
        assert counts["received"][-1] == 2  # T0 - 5 and T0; T0 + 60 is after now
        assert sum(counts["received"]) == 5
        assert counts["done"][0] == 1
        assert counts["done"][-1] == 2
        assert sum(counts["done"]) == 3

    def test_an_empty_inbox_and_a_short_window(self, inbox: Any) -> None:
        assert inbox.activity(now=T0) == {"received": [0] * 60, "done": [0] * 60}
        put(inbox, body_for(), now=T0)
        assert inbox.activity(now=T0, minutes=1) == {"received": [1], "done": [0]}
        with pytest.raises(ConfigurationError, match="minutes"):
            inbox.activity(now=T0, minutes=0)

    def test_arrivals_out_of_order_within_the_skew_count(self, inbox: Any) -> None:
        """Receivers' clocks disagree a little: a later id may carry an earlier time."""
        put(inbox, body_for("sb-0"), now=T0 - 30)  # in the window
        put(inbox, body_for("sb-1"), now=MINUTE_0 - 200)  # an hour ago: not counted
        put(inbox, body_for("sb-2"), now=T0 - 20)  # a host with a slow clock, later
        put(inbox, body_for("sb-3"), now=T0 - 10)
        assert sum(inbox.activity(now=T0)["received"]) == 3

    def test_events_long_before_the_window_are_not_counted(self, inbox: Any) -> None:
        put(inbox, body_for("sb-0"), now=T0 - 86400)
        put(inbox, body_for("sb-1"), now=T0 - 86400 + 1)
        put(inbox, body_for("sb-2"), now=T0 - 10)
        assert sum(inbox.activity(now=T0)["received"]) == 1


# --- SQLite: reads take no write lock --------------------------------------------------


@pytest.fixture
def written(tmp_path: Path) -> Iterator[SQLiteInbox]:
    """An inbox of three events; its write lock held by another connection meanwhile."""
    box = SQLiteInbox(tmp_path / "inbox.db")
    for n in range(3):
        put(box, body_for(f"sb-{n}"), now=T0 + n)
    with closing(sqlite3.connect(box.path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE inbox SET status = 'done', finished_at = ? WHERE id = 1", (T0,))
        try:
            yield box
        finally:
            writer.execute("ROLLBACK")
            box.close()


def in_a_thread(call: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``call`` in a new thread (a new connection, as a web server's thread has).

    Returns what it returned and how long it took; raises what it raised.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # raised again in the test's thread
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert outcome, "the call never returned"
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0], time.monotonic() - started


@pytest.mark.parametrize(
    "read",
    [
        lambda box: box.stats(now=T0)["pending"],
        lambda box: [item.status for item in box.list()],
        lambda box: box.get(1).status,
        lambda box: sum(box.activity(now=T0)["received"]),
    ],
    ids=["stats", "list", "get", "activity"],
)
def test_sqlite_reads_go_on_while_a_writer_holds_the_lock(
    written: SQLiteInbox, read: Callable[[SQLiteInbox], Any]
) -> None:
    written._timeout = 3.0  # a read that waited for the lock would take this long, then fail
    started = time.monotonic()
    value = read(written)  # the connection that stored the events
    assert time.monotonic() - started < 1.0
    assert value in (3, ["pending"] * 3, "pending")  # the writer's change is not seen
    value, seconds = in_a_thread(lambda: read(written))  # a new connection
    assert seconds < 1.0
    assert value in (3, ["pending"] * 3, "pending")


def test_sqlite_writes_still_wait_for_the_lock(written: SQLiteInbox) -> None:
    """The lock the reads above ignore is real: a write waits for it, then gives up."""
    written._timeout = 0.2
    with pytest.raises(StoreError, match="locked"):
        in_a_thread(lambda: written.retry(2))
