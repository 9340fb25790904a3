"""A durable inbox on a Redis stream, shared by receivers and workers on several hosts.

Each event is a hash (``<stream>:item:<id>``). ``put`` adds it and, while it is due,
an entry with its id to the stream. Workers read entries through a consumer group
(``XREADGROUP``), acknowledge them when the event is done, failed or given back
(``XACK``, then ``XDEL``), and take over the entries of a worker that died once they
have waited longer than the lease (``XAUTOCLAIM``). A failed event waits in a sorted
set of due times; a dead one is listed in the ``<stream>:dead`` stream.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import redis

from ..errors import ConfigurationError, StoreError
from ..inbox.sqlite import DEFAULT_RETRY_DELAYS, InboxItem, Status
from ._client import connect, describe, translated

if TYPE_CHECKING:
    from ..events import Event
    from ..signature import Delivery

__all__ = ["RedisInbox"]

_WORKER_DIED = "the worker handling it stopped before finishing, on every attempt"
_BATCH = 500
"""Items deleted or retried per script call, so that no call blocks Redis for long."""
_IDLE_CONSUMER_MS = 3_600_000
"""A consumer with nothing pending that has not read for this long is forgotten."""
_LIST_INDEXES = {
    None: "items",
    "pending": "pending",
    "failed": "failed",
    "done": "done",
    "dead": "dead",
}

# Every script starts with this. KEYS[1] is the stream; ARGV[1] the group; ARGV[2]
# "1" or "0" for an inbox that puts or claims (the stream remembers its first
# answer and refuses another), "" for the operators' commands (use the stream's).
#
# Keys next to the stream S: S:seq (last id), S:key:<sha256> (deduplication),
# S:item:<id> (one event: its fields, "c:<handler>" per completed handler and
# "e:<handler>" per last error), sorted sets of ids S:items, S:pending, S:failed,
# S:done (by finish time), S:retry (by due time) and S:leases (by lease end), the
# dead-letter stream S:dead, and with ordering S:resource:<id> per resource.
_PRELUDE = """
local S, GROUP = KEYS[1], ARGV[1]
local mode = redis.call('GET', S .. ':ordered')
if ARGV[2] ~= '' then
  if not mode then
    mode = ARGV[2]
    redis.call('SET', S .. ':ordered', mode)
  elseif mode ~= ARGV[2] then
    return redis.error_reply('inbox stream ' .. S .. ' has ordered=' .. tostring(mode == '1') ..
      ': give every RedisInbox on it the same ordered')
  end
end
local ORDERED = mode == '1'

local function item(id) return S .. ':item:' .. id end

-- Due now: the next XREADGROUP of any worker gets it.
local function enqueue(id)
  redis.call('HSET', item(id), 'entry', redis.call('XADD', S, '*', 'id', id))
end

-- Let workers see a pending item; with ordering, only the oldest of its resource.
local function activate(id)
  if ORDERED then
    local resource = S .. ':resource:' .. redis.call('HGET', item(id), 'resource_id')
    if redis.call('ZRANGE', resource, 0, 0)[1] ~= id then return end
  end
  redis.call('HSET', item(id), 'active', '1')
  enqueue(id)
end

-- End the current delivery: acknowledged, off the stream, not leased.
local function settle(id)
  local entry = redis.call('HGET', item(id), 'entry')
  if entry and entry ~= '' then
    redis.call('XACK', S, GROUP, entry)
    redis.call('XDEL', S, entry)
  end
  redis.call('HSET', item(id), 'entry', '', 'lease_until', '0')
  redis.call('ZREM', S .. ':leases', id)
end

-- Done or dead: out of the pending indexes, and the next event of its resource may go.
local function close(id, status, now)
  settle(id)
  local dead = redis.call('HGET', item(id), 'dead_entry')
  if dead and dead ~= '' then redis.call('XDEL', S .. ':dead', dead) end
  redis.call('HSET', item(id), 'status', status, 'finished_at', now, 'active', '0',
    'dead_entry', '')
  for _, index in ipairs({':pending', ':failed', ':retry'}) do
    redis.call('ZREM', S .. index, id)
  end
  if status == 'dead' then
    redis.call('HSET', item(id), 'dead_entry', redis.call('XADD', S .. ':dead', '*', 'id', id))
  end
  if ORDERED then
    local resource = S .. ':resource:' .. redis.call('HGET', item(id), 'resource_id')
    redis.call('ZREM', resource, id)
    local head = redis.call('ZRANGE', resource, 0, 0)[1]
    if head and redis.call('HGET', item(head), 'active') ~= '1' then activate(head) end
  end
end

-- Make a pending item due now, or a dead one pending again; false for anything else.
local function revive(id)
  local status, attempts = unpack(redis.call('HMGET', item(id), 'status', 'attempts'))
  if status == 'pending' then
    redis.call('HSET', item(id), 'next_attempt_at', '0')
    if redis.call('ZREM', S .. ':retry', id) == 1 then enqueue(id) end
    return true
  elseif status ~= 'dead' then
    return false
  end
  redis.call('XDEL', S .. ':dead', redis.call('HGET', item(id), 'dead_entry'))
  redis.call('HSET', item(id), 'status', 'pending', 'finished_at', '', 'dead_entry', '',
    'next_attempt_at', '0')
  redis.call('ZADD', S .. ':pending', id, id)
  if tonumber(attempts) > 0 then redis.call('ZADD', S .. ':failed', id, id) end
  if ORDERED then
    redis.call('ZADD', S .. ':resource:' .. redis.call('HGET', item(id), 'resource_id'), id, id)
  end
  activate(id)
  return true
end
"""

# ARGV: 3 key, 4 retention (ms), 5 body, 6 event type, 7 resource id, 8 delivery id,
# 9 signed at, 10 now. The script runs alone: the check and the store are one step.
_PUT = """
if not redis.call('SET', S .. ':key:' .. ARGV[3], '0', 'NX', 'PX', ARGV[4]) then return 0 end
local id = tostring(redis.call('INCR', S .. ':seq'))
redis.call('SET', S .. ':key:' .. ARGV[3], id, 'KEEPTTL')
redis.call('HSET', item(id), 'id', id, 'key', ARGV[3], 'body', ARGV[5], 'event_type', ARGV[6],
  'resource_id', ARGV[7], 'delivery_id', ARGV[8], 'signed_at', ARGV[9], 'received_at', ARGV[10],
  'status', 'pending', 'attempts', '0', 'next_attempt_at', ARGV[10], 'lease_owner', '',
  'lease_until', '0', 'finished_at', '', 'entry', '', 'dead_entry', '', 'active', '0')
redis.call('ZADD', S .. ':items', id, id)
redis.call('ZADD', S .. ':pending', id, id)
if ORDERED then redis.call('ZADD', S .. ':resource:' .. ARGV[7], id, id) end
activate(id)
return 1
"""

# ARGV: 3 worker, 4 now, 5 lease until, 6 lease (ms), 7 limit, 8 retries, 9 message,
# 10 batch of due retries to put back on the stream.
_CLAIM = """
local worker, limit, retries = ARGV[3], tonumber(ARGV[7]), tonumber(ARGV[8])
redis.pcall('XGROUP', 'CREATE', S, GROUP, '0', 'MKSTREAM')  -- after the first time: BUSYGROUP
local due = redis.call('ZRANGEBYSCORE', S .. ':retry', '-inf', ARGV[4], 'LIMIT', 0, ARGV[10])
for _, id in ipairs(due) do
  redis.call('ZREM', S .. ':retry', id)
  enqueue(id)
end
local claimed = {}
local function take(entries, expired)
  for _, entry in ipairs(entries) do
    local id = type(entry[2]) == 'table' and entry[2][2]
    local status, current, attempts
    if id then
      status, current, attempts =
        unpack(redis.call('HMGET', item(id), 'status', 'entry', 'attempts'))
    end
    if status ~= 'pending' or current ~= entry[1] then  -- a leftover of an event since moved on
      redis.call('XACK', S, GROUP, entry[1])
      redis.call('XDEL', S, entry[1])
    elseif expired and tonumber(attempts) >= retries then  -- its worker died on every attempt
      redis.call('HINCRBY', item(id), 'attempts', 1)
      redis.call('HSET', item(id), 'e:(worker)', ARGV[9])
      close(id, 'dead', ARGV[4])
    else
      if expired then  -- the attempt of a worker that died counts
        redis.call('HINCRBY', item(id), 'attempts', 1)
        redis.call('ZADD', S .. ':failed', id, id)
      end
      redis.call('HSET', item(id), 'lease_owner', worker, 'lease_until', ARGV[5])
      redis.call('ZADD', S .. ':leases', ARGV[5], id)
      table.insert(claimed, id)
    end
  end
end
take(redis.call('XAUTOCLAIM', S, GROUP, worker, ARGV[6], '0-0', 'COUNT', limit)[2], true)
if #claimed < limit then
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', limit - #claimed,
    'STREAMS', S, '>')
  if read then take(read[1][2], false) end
end
local items = {}
for _, id in ipairs(claimed) do table.insert(items, redis.call('HGETALL', item(id))) end
return items
"""

# ARGV: 3 id, 4 handler, 5 lease until.
_COMPLETE = """
local id = ARGV[3]
if redis.call('EXISTS', item(id)) == 0 then return end
redis.call('HSET', item(id), 'c:' .. ARGV[4], '1')
redis.call('HDEL', item(id), 'e:' .. ARGV[4])
local entry, lease_until, owner =
  unpack(redis.call('HMGET', item(id), 'entry', 'lease_until', 'lease_owner'))
if tonumber(lease_until) > 0 then
  if tonumber(ARGV[5]) > tonumber(lease_until) then
    redis.call('HSET', item(id), 'lease_until', ARGV[5])
    redis.call('ZADD', S .. ':leases', ARGV[5], id)
  end
  -- Claiming its own entry again resets its idle time: the lease starts over.
  if entry ~= '' then redis.call('XCLAIM', S, GROUP, owner, 0, entry, 'JUSTID') end
end
"""

# ARGV: 3 id, 4 now.
_FINISH = """
local id = ARGV[3]
local status = redis.call('HGET', item(id), 'status')
if status ~= 'pending' and status ~= 'dead' then return end
close(id, 'done', ARGV[4])
for _, field in ipairs(redis.call('HKEYS', item(id))) do
  if string.sub(field, 1, 2) == 'e:' then redis.call('HDEL', item(id), field) end
end
redis.call('ZADD', S .. ':done', ARGV[4], id)
"""

# ARGV: 3 id, 4 now, 5 final, 6 number of errors n, then n (handler, error) pairs,
# then the retry delays.
_FAIL = """
local id, n = ARGV[3], tonumber(ARGV[6])
if redis.call('HGET', item(id), 'status') ~= 'pending' then return end
settle(id)
local attempts = redis.call('HINCRBY', item(id), 'attempts', 1)
for i = 7, 5 + 2 * n, 2 do
  if redis.call('HEXISTS', item(id), 'c:' .. ARGV[i]) == 0 then
    redis.call('HSET', item(id), 'e:' .. ARGV[i], ARGV[i + 1])
  end
end
local delay = ARGV[6 + 2 * n + attempts]
if ARGV[5] == '1' or not delay then
  close(id, 'dead', ARGV[4])
else
  local due = tonumber(ARGV[4]) + tonumber(delay)
  redis.call('HSET', item(id), 'next_attempt_at', due)
  redis.call('ZADD', S .. ':retry', due, id)
  redis.call('ZADD', S .. ':failed', id, id)
end
"""

# ARGV: 3 id.
_RELEASE = """
local id = ARGV[3]
local status, entry = unpack(redis.call('HMGET', item(id), 'status', 'entry'))
if status ~= 'pending' or not entry or entry == '' then return end
settle(id)
enqueue(id)
"""

# ARGV: 3 id.
_RETRY = """
return revive(ARGV[3]) and 1 or 0
"""

# ARGV: 3 limit. Returns {retried, entries read}.
_RETRY_DEAD = """
local retried, entries = 0, redis.call('XRANGE', S .. ':dead', '-', '+', 'COUNT', ARGV[3])
for _, entry in ipairs(entries) do
  local id = entry[2][2]
  if redis.call('HGET', item(id), 'status') == 'dead' then
    revive(id)
    retried = retried + 1
  else
    redis.call('XDEL', S .. ':dead', entry[1])
  end
end
return {retried, #entries}
"""

# ARGV: 3 now. Returns pending, done, dead, failed, in flight, oldest pending arrival.
_STATS = """
local oldest = redis.call('ZRANGE', S .. ':pending', 0, 0)[1]
return {
  redis.call('ZCARD', S .. ':pending'), redis.call('ZCARD', S .. ':done'),
  redis.call('XLEN', S .. ':dead'), redis.call('ZCARD', S .. ':failed'),
  redis.call('ZCOUNT', S .. ':leases', '(' .. ARGV[3], '+inf'),
  oldest and redis.call('HGET', item(oldest), 'received_at') or false,
}
"""

# ARGV: 3 status ("" for all), 4 limit.
_LIST = """
local ids, limit = {}, tonumber(ARGV[4])
if ARGV[3] == 'dead' then
  for _, entry in ipairs(redis.call('XRANGE', S .. ':dead', '-', '+', 'COUNT', limit)) do
    table.insert(ids, entry[2][2])
  end
else
  ids = redis.call('ZRANGE', S .. ':' .. ARGV[3], 0, limit - 1)
end
local items = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', item(id))
  if #fields > 0 then table.insert(items, fields) end
end
return items
"""

# ARGV: 3 finished before, 4 batch, 5 idle consumer (ms) or "". Returns how many went.
_PURGE = """
local ids = redis.call('ZRANGEBYSCORE', S .. ':done', '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(ids) do
  local dedup = S .. ':key:' .. redis.call('HGET', item(id), 'key')
  if redis.call('GET', dedup) == id then redis.call('DEL', dedup) end
  redis.call('DEL', item(id))
  redis.call('ZREM', S .. ':done', id)
  redis.call('ZREM', S .. ':items', id)
end
-- Forget workers long gone (each process has its own name), never one with entries.
if ARGV[5] ~= '' and redis.call('EXISTS', S) == 1 then
  local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', S, GROUP)
  for _, consumer in ipairs(ok and consumers or {}) do
    local info = {}
    for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
    if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[5]) then
      redis.call('XGROUP', 'DELCONSUMER', S, GROUP, info['name'])
    end
  end
end
return #ids
"""


def _text(value: bytes) -> str:
    return value.decode()


def _fields(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """A hash from the flat list ``HGETALL`` answers inside a script."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _item(fields: Mapping[bytes, bytes]) -> InboxItem:
    """An ``InboxItem`` from the hash of one event."""
    try:
        status = cast(Status, _text(fields[b"status"]))
        lease_until = float(fields[b"lease_until"])
        return InboxItem(
            id=int(fields[b"id"]),
            key=_text(fields[b"key"]),
            body=bytes(fields[b"body"]),
            event_type=_text(fields[b"event_type"]),
            resource_id=_text(fields[b"resource_id"]),
            delivery_id=_text(fields[b"delivery_id"]) or None,
            signed_at=float(fields[b"signed_at"]),
            received_at=float(fields[b"received_at"]),
            status=status,
            attempts=int(fields[b"attempts"]),
            completed=frozenset(_text(k[2:]) for k in fields if k.startswith(b"c:")),
            last_errors={_text(k[2:]): _text(v) for k, v in fields.items() if k.startswith(b"e:")},
            next_attempt_at=float(fields[b"next_attempt_at"]) if status == "pending" else None,
            lease_owner=_text(fields[b"lease_owner"]) or None,
            lease_until=lease_until or None,
            finished_at=float(fields[b"finished_at"]) if fields[b"finished_at"] else None,
        )
    except (KeyError, ValueError) as exc:  # a damaged hash is the inbox's fault
        raise StoreError(f"inbox item is damaged: {type(exc).__name__}: {exc}") from exc


class RedisInbox:
    """Store events in Redis; workers on any host claim, handle and finish them.

    The same operations and guarantees as ``SQLiteInbox``, for receivers and workers
    spread over several hosts: ``put`` is one atomic script that stores nothing new
    for a body already stored, and each event is leased to one worker at a time.

    Leases are measured by Redis' own clock: an entry a worker has held for longer
    than ``lease`` without finishing it (or completing a handler, which renews the
    lease) is taken over by the next worker that claims. Retry times use the
    callers' clocks. Nothing is sent to Redis until the first call.

    Args:
        url_or_client: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://``
            for a socket), or a ``redis.Redis`` client made with ``decode_responses=False``.
        stream: The stream's key; the inbox's other keys start with it.
        group: The consumer group the workers read through.
        retry_delays: Seconds before each retry, one per retry.
        lease: Seconds a claim lasts; it must outlast a normal run of one event's handlers.
        retention: Seconds done events are kept. A body is deduplicated for this
            long after it arrives (Wrenn redelivers within about a minute).
        ordered: Handle the events of each ``resource.id`` one at a time, in the
            order received. Every ``RedisInbox`` of one stream must agree.

    Raises:
        ConfigurationError: A bad URL, client or setting.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        stream: str = "wrenn:inbox",
        group: str = "wrenn-workers",
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        lease: float = 60.0,
        retention: float = 7 * 86400.0,
        ordered: bool = False,
    ) -> None:
        self.retry_delays = tuple(float(delay) for delay in retry_delays)
        if not all(0 <= delay < math.inf for delay in self.retry_delays):
            raise ConfigurationError("retry_delays must be finite seconds, none negative")
        if not 0.001 <= lease < math.inf or not 0 < retention < math.inf:
            raise ConfigurationError("lease (at least 1 ms) and retention must be positive")
        if not stream or not group:
            raise ConfigurationError("stream and group must not be empty")
        self.client, self._owned = connect(url_or_client)
        self.stream = stream
        self.group = group
        self.lease = lease
        self.retention = retention
        self.ordered = ordered
        self._purged_at = -math.inf
        self._what = f"inbox {describe(self.client)} {stream}"
        self._scripts = {
            name: self.client.register_script(_PRELUDE + body)
            for name, body in (
                ("put", _PUT),
                ("claim", _CLAIM),
                ("complete", _COMPLETE),
                ("finish", _FINISH),
                ("fail", _FAIL),
                ("release", _RELEASE),
                ("retry", _RETRY),
                ("retry_dead", _RETRY_DEAD),
                ("stats", _STATS),
                ("list", _LIST),
                ("purge", _PURGE),
            )
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({describe(self.client)!r}, stream={self.stream!r})"

    def _run(self, name: str, *args: Any, mode: bool = False) -> Any:
        """Run script ``name``; ``mode``: check (or set) the stream's ordering mode."""
        ordered = str(int(self.ordered)) if mode else ""
        with translated(self._what):
            return self._scripts[name]([self.stream], [self.group, ordered, *args])

    # --- the receiver's side -----------------------------------------------------

    def put(self, key: str, body: bytes, event: Event, delivery: Delivery, *, now: float) -> bool:
        """Store a verified event before returning; ``False`` if ``key`` is stored already."""
        stored = self._run(
            "put",
            key,
            math.ceil(self.retention * 1000),
            body,
            event.event,
            event.resource.id,
            delivery.delivery_id or "",
            delivery.timestamp.timestamp(),
            now,
            mode=True,
        )
        return bool(stored)

    # --- the workers' side -------------------------------------------------------

    def claim(self, worker_id: str, *, now: float, limit: int = 1) -> builtins.list[InboxItem]:
        """Lease up to ``limit`` due events to ``worker_id``.

        First the entries other workers held for longer than the lease (their
        abandoned attempt counts; past the last retry the event is dead-lettered),
        then new ones, oldest first. Also purges done events now and then. The caller
        must ``finish``, ``fail`` or ``release`` each item before ``item.lease_until``.
        """
        if limit < 1:
            raise ConfigurationError("claim limit must be at least 1")
        if abs(now - self._purged_at) >= self.retention / 10:  # abs: a clock set back
            self._purge(now - self.retention, forget_workers=True)
            self._purged_at = now
        rows = self._run(
            "claim",
            worker_id,
            now,
            now + self.lease,
            max(1, round(self.lease * 1000)),
            limit,
            len(self.retry_delays),
            _WORKER_DIED,
            _BATCH,
            mode=True,
        )
        return [_item(_fields(row)) for row in rows]

    def complete_handler(self, item_id: int, name: str, *, now: float) -> None:
        """Record at once that handler ``name`` completed, and renew the lease."""
        self._run("complete", item_id, name, now + self.lease)

    def finish(self, item_id: int, *, now: float) -> None:
        """Mark an item done: every handler completed."""
        self._run("finish", item_id, now)

    def fail(
        self, item_id: int, errors: Mapping[str, str], *, now: float, final: bool = False
    ) -> None:
        """End an attempt that failed: schedule the next retry, or dead-letter the item.

        Args:
            item_id: The item.
            errors: Handler name to a short description of its error.
            now: The worker's clock, POSIX seconds.
            final: Dead-letter at once, as for a body that no longer parses.
        """
        pairs = [part for pair in errors.items() for part in pair]
        self._run("fail", item_id, now, int(final), len(errors), *pairs, *self.retry_delays)

    def release(self, item_id: int) -> None:
        """Give a claimed item back untouched, due at once (a worker shutting down)."""
        self._run("release", item_id)

    # --- operations --------------------------------------------------------------

    def stats(self, *, now: float) -> dict[str, int | float | None]:
        """Counts for metrics and dashboards, as ``SQLiteInbox.stats`` gives them."""
        pending, done, dead, failed, in_flight, oldest = self._run("stats", now)
        return {
            "pending": pending,
            "done": done,
            "dead": dead,
            "failed": failed,
            "in_flight": in_flight,
            "oldest_pending_age": None if oldest is None else max(0.0, now - float(oldest)),
        }

    def list(
        self,
        status: Literal["pending", "failed", "dead", "done"] | None = None,
        *,
        limit: int = 100,
    ) -> builtins.list[InboxItem]:
        """The first ``limit`` items, oldest first; ``"failed"`` means pending after a failure.

        Done items come in the order they finished, dead ones in the order they died.
        """
        if status not in _LIST_INDEXES:
            raise ConfigurationError(f"no such status {status!r}")
        if limit < 1:
            return []
        return [_item(_fields(row)) for row in self._run("list", _LIST_INDEXES[status], limit)]

    def get(self, item_id: int) -> InboxItem | None:
        """One item, or ``None`` if there is no such item (or it was purged)."""
        with translated(self._what):
            fields = cast(
                "dict[bytes, bytes]", self.client.hgetall(f"{self.stream}:item:{item_id}")
            )
        return _item(fields) if fields else None

    def retry(self, item_id: int) -> bool:
        """Make a pending or dead item due at once, as ``SQLiteInbox.retry`` does.

        Returns ``False`` if there is no such item or it is done.
        """
        return bool(self._run("retry", item_id))

    def retry_dead(self, *, limit: int | None = None) -> int:
        """Make dead items due now (the oldest ``limit`` of them, or all), as ``retry`` does.

        Returns how many were dead; call again with ``limit`` to work in batches.
        """
        if limit is not None:
            retried: int = self._run("retry_dead", limit)[0]
            return retried
        total = 0
        while True:
            retried, read = self._run("retry_dead", _BATCH)
            total += retried
            if read < _BATCH:
                return total

    def purge(self, older_than: float, *, now: float) -> int:
        """Delete done items finished more than ``older_than`` seconds ago; return how many.

        Dead items are never purged: retry them, or look at them first.
        """
        return self._purge(now - older_than, forget_workers=False)

    def close(self) -> None:
        """Close the connections of a client this inbox made from a URL; later calls reconnect."""
        if self._owned:
            self.client.close()

    def _purge(self, before: float, *, forget_workers: bool) -> int:
        idle = _IDLE_CONSUMER_MS if forget_workers else ""
        total = 0
        while True:
            deleted: int = self._run("purge", before, _BATCH, idle)
            total += deleted
            idle = ""
            if deleted < _BATCH:
                return total
