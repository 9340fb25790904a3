"""Real ``redis-server`` processes for the Redis tests, on free 127.0.0.1 ports, once per session.

``redis_server`` is one server; ``redis_cluster`` is a Redis Cluster of three masters.
Tests that use them skip, saying why, when the binary or redis-py is missing;
``.ci/run`` installs Debian's ``redis-server`` (with ``redis-cli``) so that CI always
runs them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import free_port, stop, wait_for_port

if TYPE_CHECKING:
    import redis
    from redis.cluster import RedisCluster

CLUSTER_MASTERS = 3


def _binary(name: str) -> str:
    pytest.importorskip("redis", reason='redis-py is missing: pip install -e ".[dev]"')
    binary = shutil.which(name)
    if binary is None:
        pytest.skip(f"{name} is not installed (apt-get install redis-server)")
    return binary


def _cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def _start(
    binary: str, directory: Path, *options: str, port: int | None = None
) -> tuple[int, subprocess.Popen[str]]:
    """Start ``redis-server`` without persistence in ``directory``; return its port and process."""
    port = free_port() if port is None else port
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    args += ["--save", "", "--appendonly", "no", "--loglevel", "warning", *options]
    with (directory / f"redis-{port}.log").open("w") as log:
        process = subprocess.Popen(
            args, cwd=directory, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    try:
        wait_for_port(port, process)
    except BaseException:
        stop(process)
        raise
    return port, process


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``redis-server`` without persistence for the session; yield its URL."""
    binary = _binary("redis-server")
    port, process = _start(binary, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a Redis Cluster of three masters for the session; yield the URL of one node.

    The URL ends in ``?cluster=yes``, which makes the SDK open a ``RedisCluster``.
    """
    server, cli = _binary("redis-server"), _binary("redis-cli")
    directory = tmp_path_factory.mktemp("redis-cluster")
    with ExitStack() as stack:
        ports = []
        for n in range(CLUSTER_MASTERS):
            options = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{n}.conf"]
            port, process = _start(server, directory, *options, port=_cluster_port())
            stack.callback(stop, process)
            ports.append(port)
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while not all(_cluster_ok(cli, port) for port in ports):
            if time.monotonic() > deadline:
                raise TimeoutError("the test cluster did not reach cluster_state:ok in 30 s")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{ports[0]}/0?cluster=yes"


def _cluster_ok(cli: str, port: int) -> bool:
    info = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), "cluster", "info"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    return "cluster_state:ok" in info


@pytest.fixture
def redis_cluster_client(redis_cluster: str) -> Iterator[RedisCluster]:
    """A client of the session's cluster, every master emptied first."""
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(redis_cluster.removesuffix("?cluster=yes"))
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.close()


@pytest.fixture
def redis_cluster_url(redis_cluster_client: RedisCluster, redis_cluster: str) -> str:
    """The URL (``?cluster=yes``) of the session's cluster, emptied for this test."""
    return redis_cluster


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
