"""Idempotency stores: remember which handlers finished for which body.

A store keys records by the SHA-256 of the raw body, because Wrenn signs every
attempt afresh with a new delivery id but re-sends byte-identical bodies.
"""

from __future__ import annotations

from ..errors import ConfigurationError
from .base import Claim, ClaimState, IdempotencyStore
from .memory import MemoryIdempotencyStore
from .sqlite import SQLiteIdempotencyStore

__all__ = [
    "Claim",
    "ClaimState",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "SQLiteIdempotencyStore",
    "store_from_url",
]


def store_from_url(url: str) -> IdempotencyStore:
    """Build a store from a URL.

    ``memory://``, ``sqlite:///relative/or//absolute.db``, or ``redis://host:port/db``
    (also ``rediss://`` for TLS; needs ``pip install "wrenn-webhooks[redis]"``).

    Raises:
        ConfigurationError: A scheme this SDK does not know.
    """
    if url == "memory://":
        return MemoryIdempotencyStore()
    if url.startswith("sqlite:///"):
        return SQLiteIdempotencyStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://")):
        from ..redis import RedisIdempotencyStore  # only now: redis-py is an optional extra

        return RedisIdempotencyStore(url)
    raise ConfigurationError(
        f"unknown idempotency store URL scheme in {url.partition(':')[0]!r}; "
        "use 'memory://', 'sqlite:///path' or 'redis://host:port/db'"
    )
