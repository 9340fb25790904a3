"""Redis backends: one idempotency store and one inbox shared by several receiver hosts.

Install the extra first: ``pip install "wrenn-webhooks[redis]"``.
"""

from __future__ import annotations

try:
    import redis as _redis  # noqa: F401  (checked here, used by the modules below)
except ImportError as exc:
    raise ImportError(
        'wrenn_webhooks.redis needs redis-py: pip install "wrenn-webhooks[redis]"'
    ) from exc

from .inbox import RedisInbox
from .store import RedisIdempotencyStore

__all__ = ["RedisIdempotencyStore", "RedisInbox"]
