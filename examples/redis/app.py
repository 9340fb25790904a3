"""Durable mode on several hosts: every receiver and every worker shares one Redis.

Serve ``app`` on each host behind the load balancer (``gunicorn examples.redis.app:app``)
and run workers on any host: ``wrenn-webhooks worker examples.redis.app:receiver``.
Set ``WRENN_WEBHOOK_SECRET``, and ``WRENN_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from wrenn_webhooks import CapsuleDestroy, CapsulePause, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.redis import RedisInbox

log = logging.getLogger("examples.redis")

inbox = RedisInbox(
    os.environ.get("WRENN_REDIS_URL", "redis://127.0.0.1:6379/0"),
    ordered=True,  # events of one capsule are handled in the order they came
)
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"], inbox=inbox)


@receiver.on("capsule.pause", outcome="error")
def page_on_call(event: CapsulePause) -> None:
    # If the pager is down this raises: a worker on some host retries the event later.
    log.error("PAGE capsule %s failed to pause: %s", event.capsule_id, event.error)


@receiver.on("capsule.destroy")
def close_billing(event: CapsuleDestroy) -> None:
    log.info("billing closed for capsule %s", event.capsule_id)


app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
