"""Idempotency stores: remember which handlers finished for which body.

A store keys records by the SHA-256 of the raw body, because Wrenn signs every
attempt afresh with a new delivery id but re-sends byte-identical bodies.
"""

from __future__ import annotations

from .base import Claim, ClaimState, IdempotencyStore
from .memory import MemoryIdempotencyStore
from .sqlite import SQLiteIdempotencyStore

__all__ = [
    "Claim",
    "ClaimState",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "SQLiteIdempotencyStore",
]
