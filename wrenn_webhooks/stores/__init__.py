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
    """Build a store from a URL: ``memory://`` or ``sqlite:///relative/or//absolute.db``.

    Raises:
        ConfigurationError: A scheme this SDK does not know.
    """
    if url == "memory://":
        return MemoryIdempotencyStore()
    if url.startswith("sqlite:///"):
        return SQLiteIdempotencyStore(url.removeprefix("sqlite:///"))
    raise ConfigurationError(
        f"unknown idempotency store URL scheme in {url.partition(':')[0]!r}; "
        "use 'memory://' or 'sqlite:///path'"
    )
