"""A durable inbox on a Redis stream, shared by receivers and workers on several hosts.

Each event is a hash (``<stream>:item:<id>``). ``put`` adds it and, while it is due,
an entry with its id to the stream. Workers read entries through a consumer group
(``XREADGROUP``), acknowledge them when the event is done, failed or given back
(``XACK``, then ``XDEL``), and take over the entries of a worker that died once they
have waited longer than the lease (``XAUTOCLAIM``). A failed event waits in a sorted
set of due times; a dead one is listed in the ``<stream>:dead`` stream. Every key
starts with the stream's name, whose hash tag (``{wrenn:inbox}``) puts them all in one
slot of a Redis Cluster.
"""

from __future__ import annotations

import builtins
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from ..errors import ConfigurationError, StoreError
from ..inbox.base import DEFAULT_RETRY_DELAYS, WORKER_DIED, Inbox, InboxItem, Status
from ._client import Client, connect, hash_tag, is_cluster, read_lua, redis_location, translated

if TYPE_CHECKING:
    from ..events import Event
    from ..signature import Delivery

__all__ = ["RedisInbox"]

_BATCH = 500
"""Items deleted or retried per script call, so that no call blocks Redis for long."""
_ACTIVITY_SKEW = 300.0
"""Seconds the receivers' clocks may disagree by, for ``activity`` (as for SQLite)."""
_IDLE_CONSUMER_MS = 3_600_000
"""A consumer with nothing pending that has not read for this long is forgotten."""
_LIST_INDEXES = {
    None: "items",
    "pending": "pending",
    "failed": "failed",
    "done": "done",
    "dead": "dead",
}

_SCRIPT_NAMES = (
    "put",
    "claim",
    "complete_handler",
    "finish",
    "fail",
    "release",
    "retry",
    "retry_dead",
    "stats",
    "list",
    "activity",
    "purge",
)
_PRELUDE = read_lua("inbox/prelude")
_SCRIPTS = {name: _PRELUDE + read_lua(f"inbox/{name}") for name in _SCRIPT_NAMES}
"""Each script of ``lua/inbox/``, after ``lua/inbox/prelude.lua``: the prelude describes
the keys and the first arguments, each script the rest of its arguments and its answer."""


def _decoded(value: bytes) -> str:
    """Text the inbox stored; bytes that are not UTF-8 (damage, but harmless) show as U+FFFD."""
    return value.decode(errors="replace")


def _hash_from_flat(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """A hash from the flat list ``HGETALL`` answers inside a script."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _context(value: bytes | None) -> dict[str, str] | None:
    """What the observers carried (``context``, absent from events stored before it)."""
    try:
        carried = json.loads(value) if value else None
    except (ValueError, RecursionError):  # telemetry, not the event: dropped, never fatal
        return None
    if not isinstance(carried, dict):
        return None
    return {k: v for k, v in carried.items() if isinstance(v, str)} or None


def _item_from_hash(fields: Mapping[bytes, bytes]) -> InboxItem:
    """An ``InboxItem`` from the hash of one event.

    Raises:
        StoreError: A field is missing or garbled. The claim script dead-letters such
            an event instead of claiming it (``damage`` in ``lua/inbox/prelude.lua``).
    """
    try:
        status = cast(Status, _decoded(fields[b"status"]))
        lease_until = float(fields[b"lease_until"])
        return InboxItem(
            id=int(fields[b"id"]),
            key=_decoded(fields[b"key"]),
            body=bytes(fields[b"body"]),
            event_type=_decoded(fields[b"event_type"]),
            resource_id=_decoded(fields[b"resource_id"]),
            delivery_id=_decoded(fields[b"delivery_id"]) or None,
            signed_at=float(fields[b"signed_at"]),
            received_at=float(fields[b"received_at"]),
            status=status,
            attempts=int(fields[b"attempts"]),
            completed=frozenset(_decoded(k[2:]) for k in fields if k.startswith(b"c:")),
            last_errors={
                _decoded(k[2:]): _decoded(v) for k, v in fields.items() if k.startswith(b"e:")
            },
            next_attempt_at=float(fields[b"next_attempt_at"]) if status == "pending" else None,
            lease_owner=_decoded(fields[b"lease_owner"]) or None,
            lease_until=lease_until or None,
            finished_at=float(fields[b"finished_at"]) if fields[b"finished_at"] else None,
            context=_context(fields.get(b"context")),
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
            for a socket, ``?cluster=yes`` for a node of a Redis Cluster), or a
            ``redis.Redis`` or ``redis.cluster.RedisCluster`` client made with
            ``decode_responses=False``.
        stream: The stream's key; the inbox's other keys start with it. On a Redis
            Cluster it needs a hash tag, such as ``{orders}``: every key of the
            inbox must be in one slot.
        group: The consumer group the workers read through.
        retry_delays: Seconds before each retry, one per retry.
        lease: Seconds a claim lasts; it must outlast a normal run of one event's handlers.
        retention: Seconds done events are kept. A body is deduplicated for this
            long after it arrives (Wrenn redelivers within about a minute).
        ordered: Handle the events of each ``resource.id`` one at a time, in the
            order received. Every ``RedisInbox`` of one stream must agree.

    Raises:
        ConfigurationError: A bad URL, client or setting.
        StoreError: No node of a ``?cluster=yes`` URL answered (a cluster client
            reads the layout of the cluster at once).
    """

    def __init__(
        self,
        url_or_client: str | Client,
        *,
        stream: str = "{wrenn:inbox}",
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
        if is_cluster(self.client) and hash_tag(stream) is None:
            if self._owned:
                self.client.close()
            raise ConfigurationError(
                f"on Redis Cluster the stream needs a hash tag, such as '{{{stream}}}',"
                f" not {stream!r}: every key of the inbox must be in one slot"
            )
        self.stream = stream
        self.group = group
        self.lease = lease
        self.retention = retention
        self.ordered = ordered
        self._purged_at = -math.inf
        self._what = f"inbox {redis_location(self.client)} {stream}"
        self._scripts = {name: self.client.register_script(text) for name, text in _SCRIPTS.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redis_location(self.client)!r}, stream={self.stream!r})"

    def _run(self, name: str, *args: Any, mode: bool = False) -> Any:
        """Run script ``name``; ``mode``: check (or set) the stream's ordering mode."""
        ordered = str(int(self.ordered)) if mode else ""
        with translated(self._what):
            return self._scripts[name]([self.stream], [self.group, ordered, *args])

    # --- the receiver's side -----------------------------------------------------

    def put(
        self,
        key: str,
        body: bytes,
        event: Event,
        delivery: Delivery,
        *,
        now: float,
        context: Mapping[str, str] | None = None,
    ) -> bool:
        """Store a verified event before returning; ``False`` if ``key`` is stored already.

        ``context`` goes in the event's hash as JSON (field ``context``, left out when
        there is none, as in events stored by older versions).
        """
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
            json.dumps(dict(context)) if context else "",
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
            WORKER_DIED,
            _BATCH,
            mode=True,
        )
        items = []
        for row in rows:
            fields = _hash_from_flat(row)
            try:
                items.append(_item_from_hash(fields))
            except StoreError as exc:  # damage the script missed: this item only, never the batch
                self.fail(int(fields[b"id"]), {"(inbox)": str(exc)}, now=now, final=True)
        return items

    def complete_handler(self, item_id: int, name: str, *, now: float) -> None:
        """Record at once that handler ``name`` completed, and renew the lease."""
        self._run("complete_handler", item_id, name, now + self.lease)

    def finish(self, item_id: int, *, now: float) -> None:
        """Mark an item done: every handler completed."""
        self._run("finish", item_id, now)

    def fail(
        self, item_id: int, errors: Mapping[str, str], *, now: float, final: bool = False
    ) -> None:
        """End an attempt that failed: schedule the next retry, or dead-letter (``Inbox.fail``)."""
        pairs = [part for pair in errors.items() for part in pair]
        self._run("fail", item_id, now, int(final), len(errors), *pairs, *self.retry_delays)

    def release(self, item_id: int) -> None:
        """Give a claimed item back untouched, due at once (a worker shutting down)."""
        self._run("release", item_id)

    # --- operations --------------------------------------------------------------

    def stats(self, *, now: float | None = None) -> dict[str, int | float | None]:
        """Counts for metrics and dashboards, as ``SQLiteInbox.stats`` gives them."""
        now = time.time() if now is None else now
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
        offset: int = 0,
        event_type: str | None = None,
        resource_id: str | None = None,
    ) -> builtins.list[InboxItem]:
        """The first ``limit`` items, oldest first; ``"failed"`` means pending after a failure.

        Done items come in the order they finished, dead ones in the order they died.
        ``offset``, ``event_type`` and ``resource_id`` as for ``SQLiteInbox.list``. With
        a filter, the index is read in batches of a few hundred entries per script call.
        """
        if status not in _LIST_INDEXES:
            raise ConfigurationError(f"no such status {status!r}")
        if limit < 1:
            return []
        index, offset = _LIST_INDEXES[status], max(0, offset)
        pairs = [("event_type", event_type), ("resource_id", resource_id)]
        filters = [part for name, value in pairs if value is not None for part in (name, value)]
        # A sorted set without filters starts at the offset; anything else skips matches.
        skip = offset if filters or index == "dead" else 0
        start: bytes | int | str = "-" if index == "dead" else max(0, offset - skip)
        rows: builtins.list[Sequence[bytes]] = []
        while start != b"" and len(rows) < skip + limit:
            wanted = skip + limit - len(rows)
            batch = _BATCH if filters else max(wanted, _BATCH)  # a filter may match little
            start, *found = self._run("list", index, start, batch, wanted, *filters)
            rows += found
        return [_item_from_hash(_hash_from_flat(row)) for row in rows[skip:]]

    def activity(
        self, *, now: float | None = None, minutes: int = 60
    ) -> dict[str, builtins.list[int]]:
        """Events received and events done in each of the last ``minutes`` minutes.

        As ``SQLiteInbox.activity`` counts them, walking back from the newest event in
        batches, one script call each.
        """
        if minutes < 1:
            raise ConfigurationError("minutes must be at least 1")
        now = time.time() if now is None else now
        start = (math.floor(now / 60) - minutes + 1) * 60.0
        received, done = [0] * minutes, builtins.list[int]()
        after: bytes | str = "+inf"
        while after != b"":
            buckets = 0 if done else minutes  # counted once, by the first call
            after, times, counted = self._run("activity", after, _BATCH, start, 60, buckets)
            done = done or [int(count) for count in counted]
            arrivals = [float(at) for at in times if at]
            for at in arrivals:
                if start <= at < start + minutes * 60:
                    received[int((at - start) // 60)] += 1
            if arrivals and min(arrivals) < start - _ACTIVITY_SKEW:
                break
        return {"received": received, "done": done}

    def get(self, item_id: int) -> InboxItem | None:
        """One item, or ``None`` if there is no such item (or it was purged)."""
        with translated(self._what):
            fields = cast(
                "dict[bytes, bytes]", self.client.hgetall(f"{self.stream}:item:{item_id}")
            )
        return _item_from_hash(fields) if fields else None

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

    def purge(self, older_than: float, *, now: float | None = None) -> int:
        """Delete done items finished more than ``older_than`` seconds ago; return how many.

        Dead items are never purged: retry them, or look at them first. ``now``
        defaults to the current time.
        """
        now = time.time() if now is None else now
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


if TYPE_CHECKING:  # mypy checks that RedisInbox has every method of the protocol
    _IS_AN_INBOX: type[Inbox] = RedisInbox
