"""The inbox benchmark's peers: a Flask view that verifies, then enqueues with Celery or RQ.

What a team would write instead of the SDK's inbox mode, with the standard
library's verification, as ``benchmarks.bare_app`` does it (HMAC-SHA256
hexdigest of ``timestamp + "." + body``, ``hmac.compare_digest``), plus the
timestamp tolerance check (300 s either way, as the SDK's default), then the
raw body handed to a queue on Redis and a 202:

- ``create_app("celery")``: ``accept_task.delay(body_text)``, a Celery task on a
  Redis broker (no worker needs to run for the accept figure);
- ``create_app("rq")``: ``Queue(connection=Redis.from_url(url)).enqueue(accept, body_text)``.

Served by ``benchmarks.bench_inbox`` as ``gunicorn
"benchmarks.peer_apps:create_app('celery')"`` (or ``'rq'``). Settings from the
environment: ``WRENN_WEBHOOK_SECRET`` (the first one, if several) and
``BENCH_PEER_REDIS``, the ``redis://`` URL of the benchmark's ``redis-server``.
Both queues are only as durable as that server's ``appendfsync``, as the SDK's
``RedisInbox`` is. Celery and RQ are benchmark-only extras (``.[bench]``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
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


def verified_view(key: bytes, enqueue: Callable[[str], object]) -> Flask:
    """A Flask app whose ``POST /webhooks/wrenn`` verifies, calls ``enqueue(body)``, answers 202."""
    app = Flask(__name__)

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
        enqueue(body.decode())
        return json.dumps({"ok": True, "queued": True}), 202, JSON

    return app


def celery_enqueue(url: str) -> Callable[[str], object]:
    """``task.delay`` of a Celery task on the Redis broker at ``url``, no result backend."""
    from celery import Celery

    celery = Celery("wrenn_bench_peers", broker=url)
    celery.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
    task = celery.task(name="benchmarks.peer_apps.accept", ignore_result=True)(accept)
    return task.delay  # type: ignore[no-any-return]


def rq_enqueue(url: str) -> Callable[[str], object]:
    """``Queue.enqueue(accept, body)`` on RQ's default queue at ``url``."""
    from redis import Redis
    from rq import Queue

    queue = Queue(connection=Redis.from_url(url))
    return lambda body: queue.enqueue(accept, body)


ENQUEUERS = {"celery": celery_enqueue, "rq": rq_enqueue}


def create_app(peer: str, url: str | None = None, secret: str | None = None) -> Flask:
    """The peer's app: ``peer`` is ``"celery"`` or ``"rq"``; URL and secret from the environment.

    gunicorn calls it in each worker (``"benchmarks.peer_apps:create_app('rq')"``),
    so every worker opens its own connections.
    """
    url = url or os.environ["BENCH_PEER_REDIS"]
    secret = secret or os.environ["WRENN_WEBHOOK_SECRET"].split(",")[0]
    return verified_view(secret.encode(), ENQUEUERS[peer](url))
