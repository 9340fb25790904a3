"""An idempotency store in Redis, shared by every receiver host and process using it."""

from __future__ import annotations

import math

import redis

from ..errors import ConfigurationError
from ..stores.base import DEFAULT_TTL, Claim, ClaimState
from ._client import connect, describe, translated

__all__ = ["RedisIdempotencyStore"]

# One hash per body: done, lease_until, expires (the callers' clock), and a field
# "c:<handler>" per completed handler. Each script runs alone on the server, so a
# claim reads and takes the lease atomically. The key expires ttl after its last
# change; ``expires`` gives the same answer to callers with an injected clock.
_CLAIM = """
local now = tonumber(ARGV[1])
local done, lease_until, expires =
  unpack(redis.call('HMGET', KEYS[1], 'done', 'lease_until', 'expires'))
local state = 'retry'
if not expires or tonumber(expires) <= now then
  redis.call('DEL', KEYS[1])
  state = 'new'
elseif done == '1' then
  state = 'done'
elseif tonumber(lease_until) > now then
  state = 'busy'
end
if state == 'new' or state == 'retry' then
  redis.call('HSET', KEYS[1], 'done', '0', 'lease_until', ARGV[2], 'expires', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local answer = {state}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'c:' then table.insert(answer, string.sub(field, 3)) end
end
return answer
"""
_COMPLETE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], '1', 'expires', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
"""
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'lease_until', '0', 'done', ARGV[1], 'expires', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
"""


class RedisIdempotencyStore:
    """Keep records in Redis, so that receivers on several hosts share them.

    Each record is one hash, ``prefix`` + the body's SHA-256, that expires ``ttl``
    seconds after its last change. Claims are one Lua script, atomic across every
    client of the server. Nothing is sent to Redis until the first claim.

    Args:
        url_or_client: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://``
            for a socket), or a ``redis.Redis`` client made with ``decode_responses=False``.
        prefix: Prepended to every key, to share one database with other data.
        ttl: Seconds a record lives after its last change.

    Raises:
        ConfigurationError: A bad URL, client or ``ttl``.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
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
        self._what = f"idempotency store {describe(self.client)}"
        self._claim = self.client.register_script(_CLAIM)
        self._complete = self.client.register_script(_COMPLETE)
        self._release = self.client.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({describe(self.client)!r}, prefix={self.prefix!r})"

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        with translated(self._what):
            state, *completed = self._claim(
                [self.prefix + key], [now, now + lease, now + self.ttl, self._ttl_ms]
            )
        return Claim(ClaimState(state.decode()), frozenset(name.decode() for name in completed))

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with translated(self._what):
            self._complete([self.prefix + key], [handler, now + self.ttl, self._ttl_ms])

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        with translated(self._what):
            self._release([self.prefix + key], [int(done), now + self.ttl, self._ttl_ms])

    def close(self) -> None:
        """Close the connections of a client this store made from a URL; later calls reconnect."""
        if self._owned:
            self.client.close()
