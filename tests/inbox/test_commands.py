"""``wrenn-webhooks inbox --db ...`` and ``wrenn-webhooks worker``: file errors, exit codes.

What the inbox commands show and do on every backend is in ``tests/inbox/test_contract.py``.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.inbox import body_for, one_in_each_state, put
from tests.servers import BIN, ROOT
from tests.vectors import SECRET
from wrenn_webhooks.cli import cli
from wrenn_webhooks.cli.inbox import inbox
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.stores import SQLiteIdempotencyStore


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An inbox with one event in each state: 1 done (8 days ago), 2 failed, 3 dead, 4 new."""
    path = tmp_path / "inbox.db"
    box = SQLiteInbox(path)
    one_in_each_state(box)
    box.close()
    return path


def test_missing_db(tmp_path: Path) -> None:
    result = run("inbox", "--db", str(tmp_path / "nope.db"), "stats")
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "nope.db").exists()
    assert run("inbox", "stats", env={"WRENN_INBOX_DB": ""}).exit_code == 2


def test_a_file_that_is_not_an_inbox(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    SQLiteIdempotencyStore(path).close()
    result = run("inbox", "--db", str(path), "stats")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "holds no inbox" in result.output
    assert len(result.output.splitlines()) == 1


def other_apps_database(path: Path) -> None:
    """An application's own SQLite file, in the default rollback-journal mode."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
        conn.execute("PRAGMA user_version = 7")


NOT_INBOXES = {
    "another app's database": (other_apps_database, "holds no inbox"),
    "an empty file": (lambda path: path.write_bytes(b""), "holds no inbox"),
    "not SQLite": (
        lambda path: path.write_bytes(b"name,email\nada,ada@example.com\n" * 100),
        "file is not a database",
    ),
}


def files_in(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.mark.parametrize("command", [["stats"], ["list"], ["show", "1"]])
@pytest.mark.parametrize(("make", "message"), NOT_INBOXES.values(), ids=NOT_INBOXES)
def test_reading_commands_leave_a_file_that_is_no_inbox_untouched(
    tmp_path: Path, make: Any, message: str, command: list[str]
) -> None:
    path = tmp_path / "app.db"
    make(path)
    before = files_in(tmp_path)
    result = run("inbox", "--db", str(path), *command)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert len(result.output.splitlines()) == 1
    assert files_in(tmp_path) == before  # same bytes, no -wal, -shm or -journal beside it


def test_reading_commands_on_an_idempotency_store_change_nothing_in_it(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    SQLiteIdempotencyStore(path).close()
    before = path.read_bytes()
    for command in (["stats"], ["list"], ["show", "1"]):
        result = run("inbox", "--db", str(path), *command)
        assert (result.exit_code, result.output.count("\n")) == (1, 1)
        assert "holds no inbox" in result.output
    assert path.read_bytes() == before
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'inbox'").fetchall() == []


def test_reading_commands_work_on_an_inbox_being_written(db: Path) -> None:
    """Readers see what is committed, wait for no writer, and never write the file.

    The inbox is in WAL mode: its ``-wal`` and ``-shm`` files are the writers' (and,
    for the index, every reader's); the database file itself stays byte-identical.
    """
    box = SQLiteInbox(db)  # open, as the web processes and workers keep it
    try:
        put(box, body_for("sb-9"))  # committed to the WAL, not yet to the file
        with closing(sqlite3.connect(db, isolation_level=None)) as writer:
            writer.execute("BEGIN IMMEDIATE")  # a worker mid-transaction
            writer.execute("UPDATE inbox SET status = 'done'")
            before = db.read_bytes()
            stats = run("inbox", "--db", str(db), "stats")
            assert stats.exit_code == 0, stats.output
            assert "pending              3" in stats.output
            listed = run("inbox", "--db", str(db), "list")
            assert listed.exit_code == 0
            assert "sb-9" in listed.output
            shown = run("inbox", "--db", str(db), "show", "5")
            assert shown.exit_code == 0
            assert "resource      sb-9" in shown.output
            assert db.read_bytes() == before
            writer.execute("ROLLBACK")
    finally:
        box.close()


def test_reading_an_idle_inbox_leaves_its_file_byte_identical(db: Path) -> None:
    """With no connection open, a WAL reader creates the (empty) ``-wal`` and ``-shm``
    files every WAL reader needs; they hold no data, and the next writer removes them."""
    before = db.read_bytes()
    for command in (["stats"], ["list"], ["show", "3"]):
        assert run("inbox", "--db", str(db), *command).exit_code == 0
    assert db.read_bytes() == before
    assert (
        not (db.parent / f"{db.name}-wal").exists() or files_in(db.parent)[f"{db.name}-wal"] == b""
    )
    SQLiteInbox(db).close()
    # The writers' lock file stays, empty: removing it could let two writers lock two files.
    assert files_in(db.parent) == {db.name: files_in(db.parent)[db.name], f"{db.name}-lock": b""}


def test_reading_commands_neither_create_nor_migrate(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    SQLiteInbox(path).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # as if copied off a backup
    before = files_in(tmp_path)
    assert run("inbox", "--db", str(path), "stats").exit_code == 0
    assert files_in(tmp_path) == before


@pytest.mark.parametrize(
    ("import_path", "message"),
    [
        ("tests.inbox.no_such_module:receiver", "cannot import 'tests.inbox.no_such_module'"),
        ("examples.receiver:app", "examples.receiver:app is not a WebhookReceiver"),
        ("examples.receiver:receiver", "examples.receiver:receiver: the receiver has no inbox"),
        ("examples.receiver", "examples.receiver: the receiver has no inbox"),
    ],
)
def test_worker_refuses_what_it_cannot_run(
    import_path: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)  # examples.receiver refuses to load without
    result = run("worker", import_path)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.splitlines()) == 1


def test_worker_flask_app_must_be_an_app(tmp_path: Path) -> None:
    env = {"WRENN_WEBHOOK_SECRET": SECRET, "WRENN_INBOX_DB": str(tmp_path / "inbox.db")}
    args = ["worker", "examples.inbox.app:receiver", "--flask-app", "examples.receiver:hosts"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert "examples.receiver:hosts is not a Flask app" in result.output


def wrenn_webhooks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "wrenn-webhooks"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_real_process_stats_and_errors(db: Path, tmp_path: Path) -> None:
    done = wrenn_webhooks("inbox", "--db", str(db), "stats")
    assert (done.returncode, done.stderr) == (0, "")
    assert "dead                 1" in done.stdout
    SQLiteIdempotencyStore(tmp_path / "idem.db").close()
    for args in (
        ["inbox", "--db", str(tmp_path / "idem.db"), "stats"],
        ["worker", "tests.inbox.no_such_module:receiver"],
    ):
        failed = wrenn_webhooks(*args)
        assert failed.returncode == 1
        assert failed.stderr.startswith("Error: ")
        assert len(failed.stderr.splitlines()) == 1
        assert "Traceback" not in failed.stderr


def test_the_docs_page_includes_real_files_and_real_commands() -> None:
    page = (ROOT / "docs" / "inbox.md").read_text()
    included = re.findall(r'--8<-- "([^"]+)"', page)
    assert included == ["examples/inbox/app.py", "examples/inbox/in_process.py"]
    assert all((ROOT / path).is_file() for path in included)
    mentioned = set(re.findall(r"`inbox (\w+)", page))
    assert mentioned == set(inbox.commands) == {"stats", "list", "show", "retry", "purge"}
