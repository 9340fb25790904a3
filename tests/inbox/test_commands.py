"""``wrenn-webhooks inbox --db ...`` and ``wrenn-webhooks worker``: file errors, exit codes.

What the inbox commands show and do on every backend is in ``tests/inbox/test_contract.py``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.inbox import one_in_each_state
from tests.servers import BIN, ROOT
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
