"""``wrenn-webhooks inbox --redis URL ...``: choosing the inbox, and Redis being down.

The commands themselves run on every backend in ``tests/inbox/test_contract.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from tests.servers import free_port
from wrenn_webhooks.cli import cli


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no inbox given: pass --db PATH or --redis URL"),
        (
            ["--db", "inbox.db", "--redis", "redis://127.0.0.1:6379/0"],
            "both --db and --redis given: pass only one",
        ),
    ],
)
def test_one_inbox_is_needed(
    args: list[str], message: str, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox.db").touch()
    result = run("inbox", *args, "stats", env={"WRENN_INBOX_DB": "", "WRENN_INBOX_REDIS": ""})
    assert result.exit_code == 2
    assert message in result.output


def test_unreachable_redis_is_one_line_on_stderr() -> None:
    result = run("inbox", "--redis", f"redis://127.0.0.1:{free_port()}/0", "stats")
    assert result.exit_code == 1
    assert result.output.startswith("Error: inbox redis://127.0.0.1:")
    assert "unavailable" in result.output
    assert len(result.output.splitlines()) == 1
