"""The inbox benchmark's hand-written views: verify, then enqueue with Celery or RQ, or insert.

What a team would write instead of the SDK's inbox mode, with the standard
library's verification, as ``benchmarks.bare_app`` does it (HMAC-SHA256
hexdigest of ``timestamp + "." + body``, ``hmac.compare_digest``), plus the
timestamp tolerance check (300 s either way, as the SDK's default), then the
raw body handed to a queue and a 202:

- ``create_app("celery")``: ``accept_task.delay(body_text)``, a Celery task on a
  Redis broker (no worker needs to run for the accept figure);
- ``create_app("rq")``: ``Queue(connection=Redis.from_url(url)).enqueue(accept, body_text)``;
- ``create_app("sqlite")``: one ``INSERT`` of the raw body (its bytes) into the
  ``events`` table of a SQLite file, committed (WAL, ``synchronous=NORMAL``, as
  the SDK's ``SQLiteInbox`` by default): the least a durable SQLite queue does.

Served by ``benchmarks.bench_inbox`` as ``gunicorn
"benchmarks.peer_apps:create_app('celery')"`` (or ``'rq'``, ``'sqlite'``), 2 sync
workers, each opening its own connections. Settings from the environment:
``WRENN_WEBHOOK_SECRET`` (the first one, if several) and ``BENCH_PEER_TARGET``,
where the queue lives: the ``redis://`` URL of the benchmark's ``redis-server``
for Celery and RQ, the SQLite file's path for ``'sqlite'``. Celery and RQ are only
as durable as that server's ``appendfsync``, as the SDK's ``RedisInbox`` is; the
insert as ``synchronous=NORMAL``, as the SDK's ``SQLiteInbox`` is. Celery and RQ
are benchmark-only extras (``.[bench]``); the insert needs only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime

from flask import Flask, request
from flask.typing import ResponseReturnValue

TOLERANCE = 300.0
"""Seconds a signed timestamp may lie in the past or the future, as the SDK's default."""
PATH = "/webhooks/wrenn"
JSON = {"Content-Type": "application/json"}
CELERY_QUEUE = "celery"
"""The Redis list Celery's default queue lives in."""


def accept(body: str) -> None:
    """The trivial job both queues are given: the benchmark measures enqueueing only."""


def signed_time(stamp: str) -> float | None:
    """``X-Wrenn-Timestamp`` (RFC 3339 with an offset) as a Unix time; ``None`` if unreadable."""
    try:
        # Python 3.10's fromisoformat wants "+00:00" for "Z".
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.timestamp()


def verified_view(key: bytes, enqueue: Callable[[bytes], object]) -> Flask:
    """A Flask app whose ``POST /webhooks/wrenn`` verifies, calls ``enqueue(body)``, answers 202.

    ``body`` is the raw request body, as bytes; a request that fails verification
    answers 401 and enqueues nothing. ``app.extensions["enqueue"]`` is ``enqueue``.
    """
    app = Flask(__name__)
    app.extensions["enqueue"] = enqueue

    @app.post(PATH)
    def receive() -> ResponseReturnValue:
        body = request.get_data(cache=False)
        stamp = request.headers.get("X-Wrenn-Timestamp", "")
        when = signed_time(stamp)
        if when is None or abs(time.time() - when) > TOLERANCE:
            return json.dumps({"ok": False}), 401, JSON
        digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Wrenn-Signature", "")
        if not hmac.compare_digest("sha256=" + digest, signature):
            return json.dumps({"ok": False}), 401, JSON
        enqueue(body)
        return json.dumps({"ok": True, "queued": True}), 202, JSON

    return app


def celery_enqueue(url: str) -> Callable[[bytes], object]:
    """``task.delay(body_text)``, a Celery task on the Redis broker at ``url``, no results."""
    from celery import Celery

    celery = Celery("wrenn_bench_peers", broker=url)
    celery.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
    task = celery.task(name="benchmarks.peer_apps.accept", ignore_result=True)(accept)
    return lambda body: task.delay(body.decode())


def rq_enqueue(url: str) -> Callable[[bytes], object]:
    """``Queue.enqueue(accept, body_text)`` on RQ's default queue at ``url``."""
    from redis import Redis
    from rq import Queue

    queue = Queue(connection=Redis.from_url(url))
    return lambda body: queue.enqueue(accept, body.decode())


SQLITE_TIMEOUT = 5.0
"""Seconds to wait for the other worker's write lock: the SDK's ``SQLiteInbox``'s busy timeout."""
EVENTS_TABLE = "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"


def open_events(path: str) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` in WAL mode, ``synchronous=NORMAL``, autocommit.

    Its ``events`` table (a row id and the body) created if missing. Processes
    switching a new file to WAL at the same moment are failed at once with
    "database is locked", without the busy timeout: tried again until the switch
    is done, for ``SQLITE_TIMEOUT`` seconds at most; any other error is raised.
    """
    connection = sqlite3.connect(path, timeout=SQLITE_TIMEOUT, isolation_level=None)
    try:
        deadline = time.monotonic() + SQLITE_TIMEOUT
        while True:
            try:
                (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
                break
            except sqlite3.OperationalError as exc:
                if "database is locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":  # SQLite keeps the old mode where WAL cannot be used
            raise RuntimeError(f"{path}: journal_mode is {mode}, not wal")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(EVENTS_TABLE)
    except BaseException:
        connection.close()
        raise
    return connection


class SQLiteInsert:
    """One ``INSERT`` of the body into the ``events`` table of the SQLite file ``path``, committed.

    The least a durable SQLite queue does: WAL with ``synchronous=NORMAL``, as the
    SDK's ``SQLiteInbox`` by default, its 5 s busy timeout, one transaction per
    event (``open_events``). The connection is in autocommit mode: the ``INSERT`` is
    a transaction of its own, committed before the call returns. One connection
    per process, used on the thread that opened it (a sync worker's), open for the
    worker's life; ``close()`` closes it.
    """

    def __init__(self, path: str) -> None:
        self.connection = open_events(path)

    def __call__(self, body: bytes) -> None:
        self.connection.execute("INSERT INTO events (body) VALUES (?)", (body,))

    def close(self) -> None:
        self.connection.close()


ENQUEUERS: dict[str, Callable[[str], Callable[[bytes], object]]] = {
    "celery": celery_enqueue,
    "rq": rq_enqueue,
    "sqlite": SQLiteInsert,
}
"""Each view's enqueuer, by ``create_app``'s name for it, given where the queue lives."""


def create_app(peer: str, target: str | None = None, secret: str | None = None) -> Flask:
    """The view's app: ``peer`` is ``"celery"``, ``"rq"`` or ``"sqlite"`` (``ENQUEUERS``).

    ``target``: the Redis URL, or the SQLite file's path (``BENCH_PEER_TARGET`` by
    default); ``secret``: ``WRENN_WEBHOOK_SECRET``'s first one by default. gunicorn
    calls it in each worker (``"benchmarks.peer_apps:create_app('rq')"``), so every
    worker opens its own connections.
    """
    target = target or os.environ["BENCH_PEER_TARGET"]
    secret = secret or os.environ["WRENN_WEBHOOK_SECRET"].split(",")[0]
    return verified_view(secret.encode(), ENQUEUERS[peer](target))
