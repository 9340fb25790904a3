"""A receiver in durable mode: answer Wrenn at once, run the handlers in workers.

Serve it with ``flask --app examples.inbox.app run``, and run its handlers with
``wrenn-webhooks worker examples.inbox.app:receiver`` (one or more processes).
Set ``WRENN_WEBHOOK_SECRET``, and ``WRENN_INBOX_DB`` to choose the inbox file.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from wrenn_webhooks import CapsuleDestroy, CapsulePause, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.inbox import SQLiteInbox

log = logging.getLogger("examples.inbox")

inbox = SQLiteInbox(
    os.environ.get("WRENN_INBOX_DB", "wrenn-inbox.db"),
    ordered=True,  # events of one capsule are handled in the order they came
)
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"], inbox=inbox)


@receiver.on("capsule.pause", outcome="error")
def page_on_call(event: CapsulePause) -> None:
    # If the pager is down this raises: the worker retries the event later,
    # with backoff, long after Wrenn itself would have given up.
    log.error("PAGE capsule %s failed to pause: %s", event.capsule_id, event.error)


@receiver.on("capsule.destroy")
def close_billing(event: CapsuleDestroy) -> None:
    log.info("billing closed for capsule %s", event.capsule_id)


app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
