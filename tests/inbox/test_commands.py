"""``wrenn-webhooks inbox ...`` and ``wrenn-webhooks worker``: output, errors, exit codes."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.inbox import body_for, put
from tests.servers import BIN, ROOT
from wrenn_webhooks.cli import cli
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.inbox.commands import inbox
from wrenn_webhooks.stores import SQLiteIdempotencyStore

DAY = 86400.0


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An inbox with one event in each state: 1 done (8 days ago), 2 failed, 3 dead, 4 new."""
    path = tmp_path / "inbox.db"
    box = SQLiteInbox(path)
    now = time.time()
    for n in range(4):
        put(box, body_for(f"sb-{n}"), now=now - 60)
    done, failed, dead = box.claim("w1", now=now, limit=3)
    box.finish(done.id, now=now - 8 * DAY)
    box.fail(failed.id, {"app.notify": "ConnectionError: pager unreachable"}, now=now)
    box.fail(dead.id, {"app.bill": "ValueError: no such account"}, now=now, final=True)
    box.close()
    return path


def stats(path: Path) -> dict[str, int | float | None]:
    box = SQLiteInbox(path)
    try:
        return box.stats(now=time.time())
    finally:
        box.close()


def test_stats(db: Path) -> None:
    result = run("inbox", "--db", str(db), "stats")
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


def test_the_db_can_come_from_the_environment(db: Path) -> None:
    result = run("inbox", "stats", env={"WRENN_INBOX_DB": str(db)})
    assert result.exit_code == 0
    assert "pending" in result.output


def test_list(db: Path) -> None:
    result = run("inbox", "--db", str(db), "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "TRIES"]
    states = [line.split()[1] for line in lines[1:] if line.split()[0].isdigit()]
    assert states == ["done", "failed", "dead", "pending"]
    assert "app.notify: ConnectionError: pager unreachable" in result.output


@pytest.mark.parametrize(
    ("status", "resources"),
    [("pending", ["sb-1", "sb-3"]), ("failed", ["sb-1"]), ("dead", ["sb-2"]), ("done", ["sb-0"])],
)
def test_list_by_status(db: Path, status: str, resources: list[str]) -> None:
    result = run("inbox", "--db", str(db), "list", "--status", status)
    assert result.exit_code == 0
    shown = [line.split()[-1] for line in result.output.splitlines()[1:] if line[:6].strip()]
    assert shown == resources


def test_list_limit_and_nothing_to_list(db: Path, tmp_path: Path) -> None:
    result = run("inbox", "--db", str(db), "list", "--limit", "1")
    assert len(result.output.splitlines()) == 2
    SQLiteInbox(tmp_path / "empty.db").close()
    assert run("inbox", "--db", str(tmp_path / "empty.db"), "list").output == "no events\n"


def test_show(db: Path) -> None:
    result = run("inbox", "--db", str(db), "show", "3")
    assert result.exit_code == 0
    assert "state         dead" in result.output
    assert "resource      sb-2" in result.output
    assert "error         app.bill: ValueError: no such account" in result.output
    assert '"resource": {\n    "id": "sb-2"' in result.output


def test_show_a_missing_event(db: Path) -> None:
    result = run("inbox", "--db", str(db), "show", "99")
    assert result.exit_code == 1
    assert result.output == "Error: no event 99 in the inbox\n"


def test_retry_one_event(db: Path) -> None:
    result = run("inbox", "--db", str(db), "retry", "3")
    assert (result.exit_code, result.output) == (0, "event 3 is due now\n")
    assert stats(db)["dead"] == 0


@pytest.mark.parametrize(
    ("item", "message"), [("1", "event 1 is done"), ("99", "event 99 is not in the inbox")]
)
def test_retry_refuses_what_cannot_be_retried(db: Path, item: str, message: str) -> None:
    result = run("inbox", "--db", str(db), "retry", item)
    assert result.exit_code == 1
    assert result.output == f"Error: {message}: nothing to retry\n"


@pytest.mark.parametrize("args", [[], ["3", "--dead"]])
def test_retry_needs_one_event_or_dead(db: Path, args: list[str]) -> None:
    result = run("inbox", "--db", str(db), "retry", *args)
    assert result.exit_code == 2
    assert "give an event ID or --dead" in result.output


def test_retry_dead(db: Path) -> None:
    result = run("inbox", "--db", str(db), "retry", "--dead")
    assert (result.exit_code, result.output) == (0, "1 dead events are due now\n")
    assert stats(db)["dead"] == 0


def test_retry_many_dead_events_shows_progress(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    box = SQLiteInbox(path)
    now = time.time()
    for n in range(1200):
        put(box, body_for(f"sb-{n}"), now=now)
    for item in box.claim("w1", now=now, limit=1200):
        box.fail(item.id, {"app.bill": "boom"}, now=now, final=True)
    box.close()
    result = run("inbox", "--db", str(path), "retry", "--dead")
    assert result.exit_code == 0
    assert "retrying dead events" in result.output
    assert result.output.endswith("1200 dead events are due now\n")
    assert stats(path)["dead"] == 0


@pytest.mark.parametrize(("older_than", "purged"), [("7d", 1), ("9d", 0), ("12h", 1), ("30s", 1)])
def test_purge(db: Path, older_than: str, purged: int) -> None:
    result = run("inbox", "--db", str(db), "purge", "--older-than", older_than)
    assert (result.exit_code, result.output) == (0, f"purged {purged} done events\n")
    assert stats(db)["dead"] == 1  # dead letters stay


def test_purge_accepts_minutes(db: Path) -> None:
    assert run("inbox", "--db", str(db), "purge", "--older-than", "15m").exit_code == 0


@pytest.mark.parametrize("duration", ["7", "7 days", "d", "-1d"])
def test_purge_refuses_what_is_not_a_duration(db: Path, duration: str) -> None:
    result = run("inbox", "--db", str(db), "purge", "--older-than", duration)
    assert result.exit_code == 2
    assert "is not a duration such as 30s, 15m, 12h or 7d" in result.output
    assert stats(db)["done"] == 1


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


@pytest.mark.parametrize(
    ("import_path", "message"),
    [
        ("tests.inbox.no_such_module:receiver", "cannot import 'tests.inbox.no_such_module'"),
        ("examples.receiver:app", "examples.receiver:app is not a WebhookReceiver"),
        ("examples.receiver:receiver", "examples.receiver:receiver: the receiver has no inbox"),
        ("examples.receiver", "examples.receiver: the receiver has no inbox"),
    ],
)
def test_worker_refuses_what_it_cannot_run(import_path: str, message: str) -> None:
    result = run("worker", import_path)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.splitlines()) == 1


def test_worker_flask_app_must_be_an_app(tmp_path: Path) -> None:
    env = {"WRENN_WEBHOOK_SECRET": "s", "WRENN_INBOX_DB": str(tmp_path / "inbox.db")}
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
