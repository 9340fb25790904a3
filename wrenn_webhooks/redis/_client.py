"""What the Redis store and inbox share: the client, where it connects, the error boundary, Lua."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

import redis

from ..errors import ConfigurationError, StoreError

TIMEOUT = 5.0
"""Seconds to wait for Redis before giving up; well inside Wrenn's 10 s request timeout."""


def connect(url_or_client: str | redis.Redis) -> tuple[redis.Redis, bool]:
    """Return a client, and whether it was made here (and so is ours to close).

    Nothing is sent to Redis yet: the first command connects.

    Raises:
        ConfigurationError: Not a Redis URL, or a client that decodes responses.
    """
    if isinstance(url_or_client, redis.Redis):
        client, owned = url_or_client, False
    else:
        try:
            client = redis.Redis.from_url(
                url_or_client, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
            )
        except ValueError as exc:  # the message names the scheme, never the password
            raise ConfigurationError(f"not a Redis URL: {exc}") from None
        owned = True
    if client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ConfigurationError(
            "give a Redis client with decode_responses=False: bodies are bytes"
        )
    return client, owned


def redis_location(client: redis.Redis) -> str:
    """Where ``client`` connects, as a URL without credentials."""
    pool = client.connection_pool
    options = pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']}?db={options.get('db', 0)}"
    scheme = "rediss" if issubclass(pool.connection_class, redis.SSLConnection) else "redis"
    host, port = options.get("host", "localhost"), options.get("port", 6379)
    return f"{scheme}://{host}:{port}/{options.get('db', 0)}"


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn every ``redis.RedisError`` raised in the block into a ``StoreError`` about ``what``."""
    try:
        yield
    except redis.RedisError as exc:
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
