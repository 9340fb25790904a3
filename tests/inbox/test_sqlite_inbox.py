"""SQLiteInbox: what only the SQLite file has: schema, WAL, settings and file errors.

The behaviour both backends share is in ``tests/inbox/test_contract.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import Clock
from tests.inbox import T0, body_for, put
from tests.vectors import SECRET
from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.cli import cli
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import SQLiteInbox, Worker
from wrenn_webhooks.inbox.base import INBOX_ERROR, WORKER_DIED
from wrenn_webhooks.stores import SQLiteIdempotencyStore


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[SQLiteInbox]:
    box = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10, 60), lease=30, retention=100)
    yield box
    box.close()


class TestPut:
    def test_is_committed_before_it_returns(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        with closing(sqlite3.connect(inbox.path)) as other:
            assert other.execute("SELECT count(*) FROM inbox").fetchone() == (1,)


class TestFile:
    def test_schema_version_and_wal(self, inbox: SQLiteInbox) -> None:
        with closing(sqlite3.connect(inbox.path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (2,)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    def test_newer_schema_version_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "inbox.db"
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA user_version = 3")
        with pytest.raises(ConfigurationError, match="schema version 3"):
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

    def test_read_only_reads_and_never_writes(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        reader = SQLiteInbox(inbox.path, read_only=True)
        try:
            assert reader.read_only
            assert [item.resource_id for item in reader.list()] == ["sb-1"]
            assert reader.get(1) == inbox.get(1)
            assert reader.stats(now=T0)["pending"] == 1
            with pytest.raises(StoreError, match="readonly"):
                put(reader, body_for(n=2))
        finally:
            reader.close()

    def test_read_only_creates_no_file(self, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="unable to open"):
            SQLiteInbox(tmp_path / "inbox.db", read_only=True)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("content", [b"", b"not SQLite at all\n" * 100])
    def test_read_only_refuses_what_holds_no_inbox(self, tmp_path: Path, content: bytes) -> None:
        path = tmp_path / "inbox.db"
        path.write_bytes(content)
        with pytest.raises(
            (ConfigurationError, StoreError), match=r"holds no inbox|not a database"
        ):
            SQLiteInbox(path, read_only=True)
        assert path.read_bytes() == content
        assert [p.name for p in tmp_path.iterdir()] == ["inbox.db"]

    def test_read_only_refuses_a_newer_schema(self, tmp_path: Path) -> None:
        path = tmp_path / "inbox.db"
        SQLiteInbox(path).close()
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("PRAGMA user_version = 3")
        with pytest.raises(ConfigurationError, match="schema version 3"):
            SQLiteInbox(path, read_only=True)

    def test_shows_its_path_even_when_closed(self, inbox: SQLiteInbox) -> None:
        inbox.close()
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

    def test_synchronous_off_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError):
            SQLiteInbox(tmp_path / "inbox.db", synchronous="OFF")

    @pytest.mark.parametrize("path", ["", ":memory:"])
    def test_no_file_is_refused(self, path: str) -> None:
        with pytest.raises(ConfigurationError):
            SQLiteInbox(path)

    def test_missing_directory_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="does not exist"):
            SQLiteInbox(tmp_path / "missing" / "inbox.db")


# --- damaged rows -------------------------------------------------------------------


def damage(path: Path, item_id: int, assignment: str) -> None:
    """Overwrite columns of one stored event behind the inbox's back, as a bad disk would."""
    with closing(sqlite3.connect(path)) as other, other:
        other.execute(f"UPDATE inbox SET {assignment} WHERE id = ?", (item_id,))


NOT_UTF8 = "CAST(X'7B22FF22' AS TEXT)"
"""Text that is not UTF-8: sqlite3 cannot decode it into a ``str``."""

# Each kind of damage, and what the dead letter's reason says.
DAMAGE = {
    "body text not UTF-8": (f"body = {NOT_UTF8}", "parse_event", "no longer parses"),
    "body not JSON": ("body = X'00FF00'", "parse_event", "no longer parses"),
    "body a number": ("body = 42", INBOX_ERROR, "body is an integer"),
    "completed not JSON": ("completed = 'not json'", INBOX_ERROR, "completed is not JSON"),
    "completed not a list": ("completed = '{}'", INBOX_ERROR, "completed is not a JSON list"),
    "completed not texts": ("completed = '[1]'", INBOX_ERROR, "completed is not a JSON list"),
    "completed not UTF-8": (f"completed = {NOT_UTF8}", INBOX_ERROR, "completed is not UTF-8"),
    "last_errors not JSON": ("last_errors = '{'", INBOX_ERROR, "last_errors is not JSON"),
    "last_errors not an object": (
        "last_errors = '[]'",
        INBOX_ERROR,
        "last_errors is not a JSON object",
    ),
    "last_errors not UTF-8": (f"last_errors = {NOT_UTF8}", INBOX_ERROR, "last_errors is not"),
    "key not UTF-8": (f"key = {NOT_UTF8}", INBOX_ERROR, "key is not UTF-8"),
    "event_type not UTF-8": (f"event_type = {NOT_UTF8}", INBOX_ERROR, "event_type is not"),
    "resource_id a blob": ("resource_id = X'00'", INBOX_ERROR, "resource_id is"),
    "delivery_id a blob": ("delivery_id = X'01'", INBOX_ERROR, "delivery_id is a blob"),
    "signed_at text": ("signed_at = 'yesterday'", INBOX_ERROR, "signed_at is text"),
    "received_at not UTF-8": (f"received_at = {NOT_UTF8}", INBOX_ERROR, "received_at is"),
    "signed_at out of range": ("signed_at = 1e300", INBOX_ERROR, "signed_at is out of range"),
    "attempts text": ("attempts = 'many'", INBOX_ERROR, "attempts is text"),
    "attempts a real": ("attempts = 1.5", INBOX_ERROR, "attempts is a real"),
    "next_attempt_at text": ("next_attempt_at = 'soon'", INBOX_ERROR, "next_attempt_at is"),
    "lease_until text": ("lease_until = 'never'", INBOX_ERROR, "lease_until is text"),
    "lease_owner a blob": ("lease_owner = X'01'", INBOX_ERROR, "lease_owner is a blob"),
    "finished_at text": ("finished_at = 'never'", INBOX_ERROR, "finished_at is text"),
    "status not UTF-8": (f"status = {NOT_UTF8}", INBOX_ERROR, "status is"),
    "status unknown": ("status = 'stuck'", INBOX_ERROR, "status is 'stuck'"),
}


def run_worker_until_idle(worker: Worker, rounds: int) -> int:
    """Call ``run_once`` until it starts nothing, at most ``rounds`` times; return the calls."""
    for calls in range(1, rounds + 1):
        if not worker.run_once():
            return calls
    raise AssertionError(f"the worker still had events after {rounds} batches")


def check_one_damaged_among_100(
    inbox: Any, corrupt: Any, clock: Clock, reason: tuple[str, str], cli_options: list[str]
) -> None:
    """Store 100 events, ``corrupt(item_id)`` one, and let one worker run.

    Shared by every backend: the other 99 are handled at full speed (10 batches of
    10, no lease left to run out) and the damaged one is dead-lettered on its own,
    with a reason ``inbox show ID`` prints.
    """
    handled: list[str] = []

    def record(event: Event) -> None:
        handled.append(event.resource.id)

    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add(record, "capsule.pause")
    for n in range(100):
        put(inbox, body_for(f"sb-{n}"), now=clock.now)
    damaged = inbox.list(limit=100)[41]
    corrupt(damaged.id)
    assert run_worker_until_idle(Worker(receiver, batch=10), rounds=30) <= 11
    assert sorted(handled) == sorted(f"sb-{n}" for n in range(100) if n != 41)
    counts = inbox.stats(now=clock.now)
    assert (counts["done"], counts["dead"], counts["pending"]) == (99, 1, 0)
    (dead,) = inbox.list("dead")
    assert dead.id == damaged.id
    name, words = reason
    assert words in dead.last_errors[name]
    assert dead.finished_at is not None
    shown = CliRunner().invoke(cli, ["inbox", *cli_options, "show", str(dead.id)])
    assert shown.exit_code == 0, shown.output
    assert "state         dead" in shown.output
    assert f"error         {name}: " in shown.output
    assert words in shown.output


class TestDamagedRows:
    @pytest.mark.parametrize(("assignment", "name", "words"), DAMAGE.values(), ids=DAMAGE)
    def test_one_damaged_event_is_dead_lettered_and_the_others_handled(
        self, tmp_path: Path, clock: Clock, assignment: str, name: str, words: str
    ) -> None:
        path = tmp_path / "inbox.db"
        inbox = SQLiteInbox(path, retry_delays=(10, 60), lease=30)
        try:
            check_one_damaged_among_100(
                inbox,
                lambda item_id: damage(path, item_id, assignment),
                clock,
                (name, words),
                ["--db", str(path)],
            )
        finally:
            inbox.close()

    @pytest.mark.parametrize("assignment", ["delivery_id = NULL", "lease_owner = NULL"])
    def test_null_where_null_is_allowed_is_no_damage(
        self, tmp_path: Path, clock: Clock, assignment: str
    ) -> None:
        inbox = SQLiteInbox(tmp_path / "inbox.db")
        try:
            receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
            receiver.add(lambda event: None, "capsule.pause")
            put(inbox, body_for(), now=clock.now)
            damage(inbox.path, 1, assignment)
            assert Worker(receiver).run_once() == 1
            assert inbox.stats(now=clock.now)["done"] == 1
        finally:
            inbox.close()

    @pytest.mark.parametrize(("assignment", "name", "words"), DAMAGE.values(), ids=DAMAGE)
    def test_list_get_and_stats_show_a_damaged_event(
        self, inbox: SQLiteInbox, assignment: str, name: str, words: str
    ) -> None:
        for n in range(3):
            put(inbox, body_for(f"sb-{n}"))
        damage(inbox.path, 2, assignment)
        items = inbox.list()
        assert [item.id for item in items] == [1, 2, 3]
        assert items[1] == inbox.get(2)
        assert sum(inbox.stats(now=T0)[state] for state in ("pending", "done", "dead")) == 3  # type: ignore[misc]
        if name == INBOX_ERROR:  # the body's damage is found by the worker, when it parses
            assert words in items[1].last_errors[INBOX_ERROR]

    def test_an_ordered_inbox_goes_on_with_the_resource_of_a_damaged_event(
        self, tmp_path: Path
    ) -> None:
        inbox = SQLiteInbox(tmp_path / "inbox.db", ordered=True)
        try:
            put(inbox, body_for("sb-1", 1))
            put(inbox, body_for("sb-1", 2))
            damage(inbox.path, 1, "completed = 'not json'")
            (item,) = inbox.claim("w1", now=T0, limit=10)
            assert item.id == 2
            dead = inbox.get(1)
            assert dead is not None
            assert dead.status == "dead"
        finally:
            inbox.close()

    def test_damage_while_in_flight_fails_only_its_event(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        (item,) = inbox.claim("w1", now=T0)
        damage(inbox.path, item.id, f"completed = {NOT_UTF8}, last_errors = 'oops'")
        inbox.complete_handler(item.id, "app.audit", now=T0 + 1)
        inbox.fail(item.id, {"app.notify": "boom"}, now=T0 + 2)
        failed = inbox.get(item.id)
        assert failed is not None
        assert (failed.status, failed.attempts, failed.completed) == (
            "pending",
            1,
            frozenset({"app.audit"}),
        )
        assert failed.last_errors == {"app.notify": "boom"}

    def test_a_worker_dying_holding_a_damaged_event_dead_letters_it(self, tmp_path: Path) -> None:
        inbox = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(), lease=30)
        try:
            put(inbox, body_for())
            put(inbox, body_for(n=2))
            first, _ = inbox.claim("w1", now=T0, limit=2)
            damage(inbox.path, first.id, "last_errors = 'not json'")
            inbox.claim("w2", now=T0 + 31)  # both leases ran out: their workers died
            dead = inbox.list("dead")
            assert [item.id for item in dead] == [1, 2]
            assert dead[0].last_errors == {"(worker)": WORKER_DIED}
        finally:
            inbox.close()
