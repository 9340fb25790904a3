from __future__ import annotations

from tests.redis_server import redis_client, redis_server, redis_url

__all__ = ["redis_client", "redis_server", "redis_url"]
