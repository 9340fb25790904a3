"""An idempotency store in Redis, shared by every receiver host and process using it."""

from __future__ import annotations

import math

from ..errors import ConfigurationError
from ..stores.base import DEFAULT_TTL, Claim, ClaimState
from ._client import Client, connect, read_lua, redis_location, translated

__all__ = ["RedisIdempotencyStore"]

# One hash per body: done, lease_until, expires (the callers' clock), and a field
# "c:<handler>" per completed handler. Each script (lua/store/<name>.lua) runs alone
# on the server, so a claim reads and takes the lease atomically. The key expires
# ttl after its last change; ``expires`` gives the same answer to callers with an
# injected clock.
_SCRIPTS = {
    name: read_lua(f"store/{name}") for name in ("claim", "complete_handler", "finish", "release")
}


class RedisIdempotencyStore:
    """Keep records in Redis, so that receivers on several hosts share them.

    Each record is one hash, ``prefix`` + the body's SHA-256, that expires ``ttl``
    seconds after its last change. Claims are one Lua script, atomic across every
    client of the server. Nothing is sent to Redis until the first claim.

    Args:
        url_or_client: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://``
            for a socket, ``?cluster=yes`` for a node of a Redis Cluster), or a
            ``redis.Redis`` or ``redis.cluster.RedisCluster`` client made with
            ``decode_responses=False``.
        prefix: Prepended to every key, to share one database with other data. Each
            call touches one key, so a Redis Cluster spreads the records over its nodes.
        ttl: Seconds a record lives after its last change.

    Raises:
        ConfigurationError: A bad URL, client or ``ttl``.
        StoreError: No node of a ``?cluster=yes`` URL answered (a cluster client
            reads the layout of the cluster at once).
    """

    def __init__(
        self,
        url_or_client: str | Client,
        *,
        prefix: str = "wrenn:idem:",
        ttl: float = DEFAULT_TTL,
    ) -> None:
        if not ttl > 0 or math.isinf(ttl):
            raise ConfigurationError("ttl must be positive seconds")
        self.client, self._owned = connect(url_or_client)
        self.prefix = prefix
        self.ttl = ttl
        self._ttl_ms = max(1, math.ceil(ttl * 1000))
        self._what = f"idempotency store {redis_location(self.client)}"
        self._scripts = {name: self.client.register_script(text) for name, text in _SCRIPTS.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redis_location(self.client)!r}, prefix={self.prefix!r})"

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        with translated(self._what):
            state, *completed = self._scripts["claim"](
                [self.prefix + key], [now, now + lease, now + self.ttl, self._ttl_ms]
            )
        return Claim(ClaimState(state.decode()), frozenset(name.decode() for name in completed))

    def complete_handler(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with translated(self._what):
            self._scripts["complete_handler"](
                [self.prefix + key], [handler, now + self.ttl, self._ttl_ms]
            )

    def finish(self, key: str, *, now: float) -> None:
        """End the lease on ``key`` and mark it done: every handler completed."""
        with translated(self._what):
            self._scripts["finish"]([self.prefix + key], [now + self.ttl, self._ttl_ms])

    def release(self, key: str, *, now: float) -> None:
        """End the lease on ``key`` without finishing it: the next claim retries it."""
        with translated(self._what):
            self._scripts["release"]([self.prefix + key], [now + self.ttl, self._ttl_ms])

    def close(self) -> None:
        """Close the connections of a client this store made from a URL; later calls reconnect."""
        if self._owned:
            self.client.close()
