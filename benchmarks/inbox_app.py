"""The inbox benchmark's receiver: inbox mode, one no-op handler, behind Flask.

Served by ``benchmarks.bench_inbox`` as ``gunicorn benchmarks.inbox_app:app``
and drained with ``wrenn-webhooks worker benchmarks.inbox_app:receiver``.
Settings come from the environment: ``WRENN_WEBHOOK_SECRET``, ``WRENN_INBOX_DB``
(the inbox file) and ``BENCH_INBOX_SYNCHRONOUS`` (``NORMAL`` by default).
"""

from __future__ import annotations

import os

from flask import Flask

from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.inbox import SQLiteInbox

inbox = SQLiteInbox(
    os.environ.get("WRENN_INBOX_DB", "wrenn-inbox-bench.db"),
    synchronous=os.environ.get("BENCH_INBOX_SYNCHRONOUS", "NORMAL"),
)
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"], inbox=inbox)


@receiver.on("capsule.pause")
def noop(event: CapsulePause) -> None:
    """Do nothing: the benchmark measures storing and draining, not handlers."""


app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
