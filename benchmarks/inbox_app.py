"""The inbox benchmark's receiver: inbox mode, one no-op handler, behind Flask.

Served by ``benchmarks.bench_inbox`` as ``gunicorn benchmarks.inbox_app:app``
and drained with ``wrenn-webhooks worker benchmarks.inbox_app:receiver``.
Settings come from the environment: ``WRENN_WEBHOOK_SECRET``, and the inbox as
``bench_inbox.open_inbox`` reads it: ``WRENN_INBOX_REDIS`` (a ``redis://`` URL)
for a ``RedisInbox``, otherwise a ``SQLiteInbox`` on ``WRENN_INBOX_DB`` (the
inbox file) with ``BENCH_INBOX_SYNCHRONOUS`` (``NORMAL`` by default).
"""

from __future__ import annotations

import os

from flask import Flask

from benchmarks.bench_inbox import open_inbox
from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.flask import blueprint

inbox = open_inbox(os.environ)
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"], inbox=inbox)


@receiver.on("capsule.pause")
def noop(event: CapsulePause) -> None:
    """Do nothing: the benchmark measures storing and draining, not handlers."""


app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
