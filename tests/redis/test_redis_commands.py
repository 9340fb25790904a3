"""``wrenn-webhooks inbox --redis URL ...``: the SQLite inbox's commands, on a Redis inbox."""

from __future__ import annotations

import time
from typing import Any

import pytest
from click.testing import CliRunner

from tests.inbox import body_for, put
from tests.servers import free_port
from wrenn_webhooks.cli import cli
from wrenn_webhooks.redis import RedisInbox

DAY = 86400.0


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def url(redis_url: str) -> str:
    """An inbox with one event in each state: 1 done (8 days ago), 2 failed, 3 dead, 4 new."""
    box = RedisInbox(redis_url)
    now = time.time()
    for n in range(4):
        put(box, body_for(f"sb-{n}"), now=now - 60)
    done, failed, dead = box.claim("w1", now=now, limit=3)
    box.finish(done.id, now=now - 8 * DAY)
    box.fail(failed.id, {"app.notify": "ConnectionError: pager unreachable"}, now=now)
    box.fail(dead.id, {"app.bill": "ValueError: no such account"}, now=now, final=True)
    box.close()
    return redis_url


def test_stats(url: str) -> None:
    result = run("inbox", "--redis", url, "stats")
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


def test_list_with_the_url_from_the_environment(url: str) -> None:
    result = run("inbox", "list", env={"WRENN_INBOX_REDIS": url, "WRENN_INBOX_DB": ""})
    assert result.exit_code == 0
    states = [line.split()[1] for line in result.output.splitlines()[1:] if line[:6].strip()]
    assert states == ["done", "failed", "dead", "pending"]
    assert "app.notify: ConnectionError: pager unreachable" in result.output


def test_show(url: str) -> None:
    result = run("inbox", "--redis", url, "show", "3")
    assert result.exit_code == 0
    assert "state         dead" in result.output
    assert "error         app.bill: ValueError: no such account" in result.output
    assert '"resource": {\n    "id": "sb-2"' in result.output


def test_retry_and_purge(url: str) -> None:
    assert run("inbox", "--redis", url, "retry", "1").output == (
        "Error: event 1 is done: nothing to retry\n"
    )
    assert run("inbox", "--redis", url, "retry", "--dead").output == "1 dead events are due now\n"
    assert run("inbox", "--redis", url, "purge", "--older-than", "7d").output == (
        "purged 1 done events\n"
    )
    box = RedisInbox(url)
    assert box.stats(now=time.time())["dead"] == box.stats(now=time.time())["done"] == 0
    box.close()


@pytest.mark.parametrize("args", [[], ["--db", "inbox.db", "--redis", "redis://127.0.0.1:6379/0"]])
def test_one_inbox_is_needed(args: list[str], tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox.db").touch()
    result = run("inbox", *args, "stats", env={"WRENN_INBOX_DB": "", "WRENN_INBOX_REDIS": ""})
    assert result.exit_code == 2
    assert "give the inbox with --db PATH or --redis URL, not both" in result.output


def test_unreachable_redis_is_one_line_on_stderr() -> None:
    result = run("inbox", "--redis", f"redis://127.0.0.1:{free_port()}/0", "stats")
    assert result.exit_code == 1
    assert result.output.startswith("Error: inbox redis://127.0.0.1:")
    assert "unavailable" in result.output
    assert len(result.output.splitlines()) == 1
