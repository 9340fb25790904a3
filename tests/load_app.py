"""The example receiver's setup, with handlers that count their runs, for the load tests.

Served by gunicorn with ``examples/gunicorn.conf.py`` (``tests.load_app:app``) and,
in inbox mode, drained by ``wrenn-webhooks worker tests.load_app:receiver``. Two
handlers run for every ``capsule.destroy``; each successful run is one row in the
``runs`` table of a SQLite file shared by every process, so the test can count
how often each handler completed for each event.

Configuration, from the environment:

- ``WRENN_WEBHOOK_SECRET``: the secret, or ``new,old`` during a rotation (this load
  app's own format, as its secrets hold no comma; the example receiver takes
  ``WRENN_WEBHOOK_PREVIOUS_SECRET``). ``WRENN_LOAD_SECRETS_FILE`` instead names a
  file holding that list; it is read when a worker starts, so ``kill -HUP`` on
  gunicorn's master rotates secrets without closing the listening socket.
- ``WRENN_WEBHOOK_STORE``: the idempotency store URL (``sqlite:///...``).
- ``WRENN_LOAD_RECORDS``: the SQLite file of handler runs (required).
- ``WRENN_LOAD_INBOX``: an inbox file: durable mode, 202 and a worker process.
- ``WRENN_LOAD_LEASE``: seconds of the receiver's (or the inbox's) lease.
- ``WRENN_LOAD_FAIL_SUFFIX``: ``notify`` fails the first attempt of every event
  whose resource id ends with it (once per event, remembered in the runs file).
- ``WRENN_LOAD_HANDLER_MS``: milliseconds ``audit`` works before it records.
- ``WRENN_LOAD_AFTER_MS``: milliseconds each request spends after the receiver
  answered and before the answer is sent (where a crash loses only the answer).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from flask import Flask, Response

from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.stores import store_from_url

SECRETS_FILE = os.environ.get("WRENN_LOAD_SECRETS_FILE")
SECRETS = (
    Path(SECRETS_FILE).read_text().strip() if SECRETS_FILE else os.environ["WRENN_WEBHOOK_SECRET"]
).split(",")
STORE = os.environ.get("WRENN_WEBHOOK_STORE")
RECORDS = Path(os.environ["WRENN_LOAD_RECORDS"])
INBOX = os.environ.get("WRENN_LOAD_INBOX")
LEASE = float(os.environ.get("WRENN_LOAD_LEASE", "30"))
FAIL_SUFFIX = os.environ.get("WRENN_LOAD_FAIL_SUFFIX", "")
HANDLER_SECONDS = float(os.environ.get("WRENN_LOAD_HANDLER_MS", "0")) / 1000
AFTER_SECONDS = float(os.environ.get("WRENN_LOAD_AFTER_MS", "0")) / 1000

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs (handler TEXT NOT NULL, resource TEXT NOT NULL,"
    " pid INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS failures (handler TEXT NOT NULL, resource TEXT NOT NULL,"
    " PRIMARY KEY (handler, resource))",
)


def connect(path: Path = RECORDS) -> sqlite3.Connection:
    """Open the runs file (WAL, autocommit); create its tables if needed."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for statement in SCHEMA:
        conn.execute(statement)
    return conn


_local = threading.local()


def records() -> sqlite3.Connection:
    """This thread's connection (gthread workers: several threads per process)."""
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None or getattr(_local, "pid", None) != os.getpid():
        conn = _local.conn = connect()
        _local.pid = os.getpid()
    return conn


def record(handler: str, event: Event) -> None:
    records().execute(
        "INSERT INTO runs VALUES (?, ?, ?)", (handler, event.resource.id, os.getpid())
    )


if INBOX:
    receiver = WebhookReceiver(
        SECRETS, inbox=SQLiteInbox(INBOX, lease=LEASE, retry_delays=(0.5, 1.0, 2.0))
    )
else:
    receiver = WebhookReceiver(
        SECRETS, idempotency=store_from_url(STORE) if STORE else None, lease=LEASE
    )


@receiver.on("capsule.destroy")
def audit(event: Event) -> None:
    if HANDLER_SECONDS:
        time.sleep(HANDLER_SECONDS)
    record("audit", event)


@receiver.on("capsule.destroy")
def notify(event: Event) -> None:
    if FAIL_SUFFIX and event.resource.id.endswith(FAIL_SUFFIX):
        inserted = records().execute(
            "INSERT OR IGNORE INTO failures VALUES ('notify', ?)", (event.resource.id,)
        )
        if inserted.rowcount == 1:
            raise ConnectionError(f"notify: first attempt for {event.resource.id} fails")
    record("notify", event)


def create_app() -> Flask:
    """The example's app: the webhook route plus a health check."""
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")

    if AFTER_SECONDS:

        @app.after_request
        def linger(response: Response) -> Response:
            time.sleep(AFTER_SECONDS)
            return response

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"ok": True, "pid": os.getpid(), "secrets": receiver.secret_count}

    return app


app = create_app()
