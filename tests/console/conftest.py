from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401  (fixtures)
from wrenn_webhooks.inbox import SQLiteInbox


@pytest.fixture(params=["sqlite", "redis"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty inbox of each backend (Redis skips, saying why, without redis-server)."""
    if request.param == "sqlite":
        box: Any = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10, 60))
    else:
        from wrenn_webhooks.redis import RedisInbox

        box = RedisInbox(request.getfixturevalue("redis_url"), retry_delays=(10, 60))
    yield box
    box.close()
