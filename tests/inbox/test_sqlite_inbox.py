"""SQLiteInbox: what only the SQLite file has: schema, WAL, settings and file errors.

The behaviour both backends share is in ``tests/inbox/test_contract.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.inbox import body_for, put
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import SQLiteInbox
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

    def test_a_corrupt_row_is_a_store_error(self, inbox: SQLiteInbox) -> None:
        put(inbox, body_for())
        with closing(sqlite3.connect(inbox.path)) as other, other:
            other.execute("UPDATE inbox SET completed = 'not json'")
        with pytest.raises(StoreError, match="unavailable"):
            inbox.list()

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
