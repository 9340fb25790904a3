"""What the Redis store and inbox share: the client, where it connects, the error boundary, Lua."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from ..errors import ConfigurationError, StoreError

TIMEOUT = 5.0
"""Seconds to wait for Redis before giving up; well inside Wrenn's 10 s request timeout."""

Client: TypeAlias = "redis.Redis | RedisCluster"
"""A client of one server (or a primary with replicas), or of a Redis Cluster."""

_CLUSTER_OPTION = "cluster"
"""The query parameter of a URL naming one node of a Redis Cluster: ``?cluster=yes``."""
_YES, _NO = {"1", "yes", "true", "y", "on"}, {"0", "no", "false", "n", "off"}


def connect(url_or_client: str | Client) -> tuple[Client, bool]:
    """Return a client, and whether it was made here (and so is ours to close).

    Nothing is sent to a single server yet: the first command connects. A cluster
    client (``?cluster=yes``) reads the cluster's layout from the node at once.

    Raises:
        ConfigurationError: Not a Redis URL, or a client that decodes responses.
        StoreError: No node of a cluster answered.
    """
    if isinstance(url_or_client, redis.Redis | RedisCluster):
        client, owned = url_or_client, False
    else:
        url, cluster = _without_cluster_option(url_or_client)
        options = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
        if cluster and not url.startswith(("redis://", "rediss://")):
            raise ConfigurationError("a Redis Cluster URL starts with redis:// or rediss://")
        if cluster and urlsplit(url).path.strip("/") not in ("", "0"):
            raise ConfigurationError("a Redis Cluster has database 0 only")
        try:
            if cluster:
                where = _strip_credentials(url)
                with translated(f"Redis Cluster {where}"):
                    client = RedisCluster.from_url(url, **options)
            else:
                client = redis.Redis.from_url(url, **options)
        except ValueError as exc:  # the message names the scheme, never the password
            raise ConfigurationError(f"not a Redis URL: {exc}") from None
        owned = True
    if client.get_encoder().decode_responses:
        if owned:
            client.close()
        raise ConfigurationError(
            "give a Redis client with decode_responses=False: bodies are bytes"
        )
    return client, owned


def _without_cluster_option(url: str) -> tuple[str, bool]:
    """``url`` without its ``cluster`` query parameter, and whether that said yes."""
    parts = urlsplit(url)
    kept, cluster = [], False
    for pair in parts.query.split("&") if parts.query else []:
        name, _, value = pair.partition("=")
        if name != _CLUSTER_OPTION:
            kept.append(pair)
        elif value.lower() in _YES | _NO:
            cluster = value.lower() in _YES
        else:
            raise ConfigurationError(f"not a Redis URL: cluster={value!r} is not yes or no")
    return urlunsplit(parts._replace(query="&".join(kept))), cluster


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=""))


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)


def hash_tag(key: str) -> str | None:
    """The hash tag of ``key`` (between its first ``{`` and the next ``}``), if it has one.

    Redis Cluster puts keys with the same tag in the same slot, so that one script
    may use them all.
    """
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    return key[start + 1 : end] if end > start + 1 else None


def redis_location(client: Client) -> str:
    """Where ``client`` connects, as a URL without credentials (``?cluster=yes`` for a cluster)."""
    if isinstance(client, RedisCluster):
        node = client.get_default_node()  # type: ignore[no-untyped-call]
        if node is None or node.redis_connection is None:
            return f"redis://{node.name if node else 'localhost:6379'}/0?cluster=yes"
        return f"{redis_location(node.redis_connection)}?cluster=yes"
    pool = client.connection_pool
    options = pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']}?db={options.get('db', 0)}"
    scheme = "rediss" if issubclass(pool.connection_class, redis.SSLConnection) else "redis"
    host, port = options.get("host", "localhost"), options.get("port", 6379)
    return f"{scheme}://{host}:{port}/{options.get('db', 0)}"


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn every error of redis-py raised in the block into a ``StoreError`` about ``what``."""
    try:
        yield
    except (redis.RedisError, RedisClusterException) as exc:
        reason = str(exc) or type(exc).__name__
        raise StoreError(f"{what} unavailable: {reason}") from exc


def read_lua(name: str) -> str:
    """The text of the Lua script ``lua/<name>.lua`` beside this module, such as ``"inbox/claim"``.

    The scripts ship in the wheel as package data; ``importlib.resources`` finds them
    in a zip or an unpacked install alike.
    """
    script = files("wrenn_webhooks.redis") / "lua"
    for part in f"{name}.lua".split("/"):
        script = script / part
    return script.read_text(encoding="utf-8")
