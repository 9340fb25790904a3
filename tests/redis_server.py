"""A real ``redis-server`` for the Redis tests, on a free 127.0.0.1 port, one per session.

Tests that use ``redis_url`` skip, saying why, when the binary or redis-py is missing;
``.ci/run`` installs Debian's ``redis-server`` so that CI always runs them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.servers import free_port, stop, wait_for_port

if TYPE_CHECKING:
    import redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``redis-server`` without persistence for the session; yield its URL."""
    pytest.importorskip("redis", reason='redis-py is missing: pip install -e ".[dev]"')
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    args += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
    with (directory / "redis.log").open("w") as log:
        process = subprocess.Popen(
            args, cwd=directory, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    """A client of the session's server, emptied first."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def redis_url(redis_client: redis.Redis, redis_server: str) -> str:
    """The URL of the session's server, emptied for this test."""
    return redis_server
